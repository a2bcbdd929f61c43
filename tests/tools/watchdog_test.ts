import assert from "assert";
import {
  armWatchdog,
  confirmPending,
  defaultStateDir,
  PendingApplyError,
  pendingDir,
  runWatchdog,
  type WatchdogConfig,
} from "../../cli.ts";
import { Accept, Firewall, Jump, Match, snapshotToJson, tablePolicy } from "../../mod.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";

const FIREWALL: WatchdogConfig["firewall"] = {
  backend: "nft",
  hashPrefix: "rampart:",
  chainPrefixes: ["rp-"],
  insertMode: "insert",
  ipVersions: [4],
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rp-watchdog-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writePending(dir: string, deadline: number): Promise<void> {
  const config: WatchdogConfig = { deadline, cliPid: Deno.pid, firewall: FIREWALL };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await Deno.writeTextFile(`${dir}/snapshot.json`, '{"snap":1}');
}

Deno.test("defaultStateDir and pendingDir", () => {
  assert.equal(defaultStateDir(() => undefined, 0), "/run/rampart");
  assert.equal(
    defaultStateDir((n) => (n === "XDG_RUNTIME_DIR" ? "/run/user/7" : undefined), 7),
    "/run/user/7/rampart",
  );
  assert.equal(defaultStateDir(() => undefined, 7), "/tmp/rampart-7");
  assert.equal(defaultStateDir((n) => (n === "RAMPART_STATE_DIR" ? "/s" : undefined), 0), "/s");
  assert.equal(pendingDir("/s", undefined), "/s/pending-host");
  assert.equal(pendingDir("/s", "lab"), "/s/pending-netns-lab");
});

Deno.test("runWatchdog: the deadline passes without confirmation → restores", async () => {
  await withDir(async (dir) => {
    let now = 1000;
    await writePending(dir, 5000);
    const restored: string[] = [];
    const done = runWatchdog(dir, {
      now: () => now,
      log: () => {},
      restore: (json) => {
        restored.push(json);
        return Promise.resolve();
      },
    });
    now = 6000;
    const outcome = await done;
    assert.equal(outcome.outcome, "reverted");
    assert.equal(outcome.reason, "deadline");
    assert.deepEqual(restored, ['{"snap":1}']);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/outcome.json`));
    assert.equal(written.outcome, "reverted");
    assert.equal(Number((await Deno.readTextFile(`${dir}/watchdog.pid`)).trim()), Deno.pid);
  });
});

Deno.test("runWatchdog: a confirmation keeps the rules", async () => {
  await withDir(async (dir) => {
    await writePending(dir, Date.now() + 3_600_000);
    let restores = 0;
    const done = runWatchdog(dir, {
      log: () => {},
      restore: () => {
        restores++;
        return Promise.resolve();
      },
    });
    await Deno.writeTextFile(`${dir}/confirmed`, "1");
    const outcome = await done;
    assert.equal(outcome.outcome, "confirmed");
    assert.equal(restores, 0);
  });
});

Deno.test("runWatchdog: a revert request restores at once; a failing restore is reported", async () => {
  await withDir(async (dir) => {
    await writePending(dir, Date.now() + 3_600_000);
    await Deno.writeTextFile(`${dir}/revert`, "1");
    const outcome = await runWatchdog(dir, {
      log: () => {},
      restore: () => Promise.reject(new Error("iptables-restore said no")),
    });
    assert.equal(outcome.outcome, "failed");
    assert.equal(outcome.reason, "operator");
    assert.equal(outcome.error, "iptables-restore said no");
  });
});

Deno.test("armWatchdog: waits until armed; confirm; a second apply on the same target is refused", async () => {
  await withDir(async (stateDir) => {
    let watchdog: Promise<unknown> | undefined;
    const pending = await armWatchdog({
      stateDir,
      snapshotJson: "{}",
      timeoutMs: 3_600_000,
      firewall: { ...FIREWALL, netns: "lab" },
      spawn(dir) {
        // In-process stand-in for the detached process.
        watchdog = runWatchdog(dir, { log: () => {}, restore: () => Promise.resolve() });
        return { pid: Deno.pid, status: new Promise(() => {}) };
      },
    });
    assert.equal(pending.dir, `${stateDir}/pending-netns-lab`);
    assert.equal(pending.pid, Deno.pid);
    await assert.rejects(
      () =>
        armWatchdog({
          stateDir,
          snapshotJson: "{}",
          timeoutMs: 1000,
          firewall: { ...FIREWALL, netns: "lab" },
          spawn: () => ({ pid: 1, status: new Promise(() => {}) }),
        }),
      PendingApplyError,
    );
    const { pending: was, outcome } = await confirmPending(stateDir, "lab");
    assert.equal(was, true);
    assert.equal(outcome?.outcome, "confirmed");
    await watchdog;
    assert.equal((await pending.outcome())?.outcome, "confirmed");
    await pending.remove();
  });
});

Deno.test("armWatchdog: a watchdog that dies before arming fails the apply", async () => {
  await withDir(async (stateDir) => {
    await assert.rejects(
      () =>
        armWatchdog({
          stateDir,
          snapshotJson: "{}",
          timeoutMs: 1000,
          firewall: FIREWALL,
          spawn: () => ({
            pid: 999999,
            status: Promise.resolve({ success: false, code: 1, signal: null }),
          }),
        }),
      /watchdog did not start/,
    );
    assert.deepEqual(await confirmPending(stateDir, undefined), {
      pending: false,
      outcome: undefined,
    });
  });
});

function sessionOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[3]); // state ppid pgrp session
}

kernelTest(
  "the real detached watchdog restores our rules at the deadline, in its own session",
  async (netns) => {
    await withDir(async (stateDir) => {
      // A rule of another program, and an initial rule of ours.
      await nsExec(netns, "iptables-nft", ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
      const firewall = new Firewall({ netns, backend: "nft", ipVersions: [4] });
      const chain = (port: number) => ({
        name: "rp-in",
        rules: [{ match: Match().protocol("tcp").destPorts(port), action: Accept() }],
      });
      firewall.setPolicy({
        ipVersions: [4],
        tables: [
          tablePolicy("filter", {
            chains: [chain(22)],
            insertions: { INPUT: [{ action: Jump("rp-in") }] },
          }),
        ],
      });
      await firewall.apply();
      const before = await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
      firewall.setPolicy({
        ipVersions: [4],
        tables: [
          tablePolicy("filter", {
            chains: [chain(2222)],
            insertions: { INPUT: [{ action: Jump("rp-in") }] },
          }),
        ],
      });
      const snapshot = await firewall.snapshot();
      const pending = await armWatchdog({
        stateDir,
        snapshotJson: snapshotToJson(snapshot),
        timeoutMs: 1500,
        firewall: { ...FIREWALL, netns },
      });
      assert.notEqual(sessionOf(pending.pid), sessionOf(Deno.pid));
      assert.equal(sessionOf(pending.pid), pending.pid, "the watchdog leads its own session");
      await firewall.apply();
      assert.match(await nsExec(netns, "iptables-nft-save", ["-t", "filter"]), /--dports 2222/);
      const outcome = await pending.outcome();
      assert.equal(outcome?.outcome, "reverted", JSON.stringify(outcome));
      assert.equal(outcome?.reason, "deadline");
      const after = await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
      const rules = (t: string) =>
        t.split("\n").filter((l) => l.startsWith("-A") || l.startsWith(":"))
          .map((l) => l.replace(/\[\d+:\d+\]/, ""));
      assert.deepEqual(rules(after), rules(before));
      await pending.remove();
    });
  },
);
