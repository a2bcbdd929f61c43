import assert from "assert";
import {
  armWatchdog,
  claimDecision,
  confirmPending,
  defaultStateDir,
  lockTarget,
  PendingApplyError,
  PendingConfirmation,
  pendingDir,
  readDecision,
  runWatchdog,
  targetFiles,
  WATCHDOG_LOG_LIMIT,
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

async function writePending(
  dir: string,
  deadline: number,
  options: { applied?: boolean; stateDir?: string } = {},
): Promise<void> {
  const config: WatchdogConfig = {
    deadline,
    cliPid: Deno.pid,
    firewall: FIREWALL,
    ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await Deno.writeTextFile(`${dir}/snapshot.json`, '{"snap":1}');
  if (options.applied ?? true) await Deno.writeTextFile(`${dir}/applied`, "1");
}

/** Resolves once a log line contains `text`. */
function logWatcher() {
  const lines: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  return {
    lines,
    log(line: string) {
      lines.push(line);
      for (const w of waiters) if (line.includes(w.text)) w.resolve();
    },
    seen(text: string): Promise<void> {
      if (lines.some((l) => l.includes(text))) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ text, resolve }));
    },
  };
}

/** A restore that only counts its calls. */
function counter(): { count: number; restore(): Promise<void> } {
  const c = {
    count: 0,
    restore() {
      c.count++;
      return Promise.resolve();
    },
  };
  return c;
}

/** A stand-in watchdog that arms (locks and writes its PID) but never acts; `die()` drops the lock. */
function standInWatchdog(dir: string): { die(): void } {
  const file = Deno.openSync(`${dir}/watchdog.lock`, { read: true, write: true, create: true });
  assert.ok(file.tryLockSync(true));
  Deno.writeTextFileSync(`${dir}/watchdog.pid`, `${Deno.pid}\n`);
  return { die: () => file.close() };
}

Deno.test("defaultStateDir, pendingDir and targetFiles", () => {
  assert.equal(defaultStateDir(() => undefined, 0), "/run/rampart");
  assert.equal(
    defaultStateDir((n) => (n === "XDG_RUNTIME_DIR" ? "/run/user/7" : undefined), 7),
    "/run/user/7/rampart",
  );
  assert.equal(defaultStateDir(() => undefined, 7), "/tmp/rampart-7");
  assert.equal(defaultStateDir((n) => (n === "RAMPART_STATE_DIR" ? "/s" : undefined), 0), "/s");
  assert.equal(pendingDir("/s", undefined), "/s/pending-host");
  assert.equal(pendingDir("/s", "lab"), "/s/pending-netns-lab");
  assert.deepEqual(targetFiles("/s", undefined), {
    name: "host",
    lock: "/s/host.lock",
    intent: "/s/host.intent.jsonl",
    log: "/s/host.watchdog.log",
    pending: "/s/pending-host",
  });
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
    assert.equal((await readDecision(dir))?.decision, "deadline");
    assert.equal(Number((await Deno.readTextFile(`${dir}/watchdog.pid`)).trim()), Deno.pid);
  });
});

Deno.test("runWatchdog: a confirmation keeps the rules", async () => {
  await withDir(async (dir) => {
    await writePending(dir, Date.now() + 3_600_000);
    const watcher = logWatcher();
    const restores = counter();
    const done = runWatchdog(dir, { log: watcher.log, restore: restores.restore });
    await watcher.seen("armed");
    assert.equal((await claimDecision(dir, "confirm")).won, true);
    const outcome = await done;
    assert.equal(outcome.outcome, "confirmed");
    assert.equal(restores.count, 0);
  });
});

Deno.test("runWatchdog: a revert request restores at once; a failing restore is reported", async () => {
  await withDir(async (dir) => {
    await writePending(dir, Date.now() + 3_600_000);
    await claimDecision(dir, "revert");
    const outcome = await runWatchdog(dir, {
      log: () => {},
      restore: () => Promise.reject(new Error("iptables-restore said no")),
    });
    assert.equal(outcome.outcome, "failed");
    assert.equal(outcome.reason, "operator");
    assert.equal(outcome.error, "iptables-restore said no");
  });
});

Deno.test("runWatchdog: never restores while the CLI is still writing; restores once it has", async () => {
  await withDir(async (dir) => {
    // The deadline has passed, the CLI (this process) is alive and has not written `applied`.
    await writePending(dir, 0, { applied: false });
    const watcher = logWatcher();
    const restores = counter();
    const done = runWatchdog(dir, { log: watcher.log, restore: restores.restore });
    await watcher.seen("waiting for the CLI");
    assert.equal(restores.count, 0);
    assert.equal((await claimDecision(dir, "confirm")).won, false, "too late to confirm");
    await new PendingConfirmation(dir, { pid: Deno.pid, deadline: 0 }).applied();
    assert.equal((await done).outcome, "reverted");
    assert.equal(restores.count, 1);
  });
});

Deno.test("runWatchdog: the CLI died in the middle → takes the target, restores, puts back the earlier record", async () => {
  await withDir(async (stateDir) => {
    const files = targetFiles(stateDir, undefined);
    await Deno.mkdir(files.pending);
    // The dead CLI's record, and the earlier interrupted one its apply replaced.
    await Deno.writeTextFile(files.intent, "the dead CLI's record\n");
    await Deno.writeTextFile(`${files.pending}/interrupted.jsonl`, "an earlier record\n");
    await writePending(files.pending, 0, { applied: false, stateDir });
    let lockedDuringRestore = false;
    const outcome = await runWatchdog(files.pending, {
      log: () => {},
      describeInterrupted: () => Promise.resolve("it was writing filter IPv4"),
      restore: async () => {
        try {
          (await lockTarget(files.lock, { command: "x", target: "t", graceMs: 0 })).release();
        } catch {
          lockedDuringRestore = true;
        }
      },
    });
    assert.equal(outcome.outcome, "reverted");
    assert.equal(outcome.interrupted, "it was writing filter IPv4");
    assert.ok(lockedDuringRestore, "the watchdog holds the target while it restores");
    assert.equal(await Deno.readTextFile(files.intent), "an earlier record\n");
    // Free again afterwards.
    (await lockTarget(files.lock, { command: "x", target: "t", graceMs: 0 })).release();
  });
});

Deno.test("runWatchdog: refuses a directory of another apply, or with a watchdog already armed", async () => {
  await withDir(async (dir) => {
    await writePending(dir, Date.now() + 3_600_000);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, applyId: "a" }));
    await assert.rejects(
      () => runWatchdog(dir, { applyId: "b", log: () => {}, restore: () => Promise.resolve() }),
      /belongs to another apply/,
    );
    const other = standInWatchdog(dir);
    await assert.rejects(
      () => runWatchdog(dir, { applyId: "a", log: () => {}, restore: () => Promise.resolve() }),
      /Another watchdog is armed/,
    );
    other.die();
  });
});

Deno.test("claimDecision: of many racing claims exactly one wins, and all see the same decision", async () => {
  await withDir(async (root) => {
    for (let round = 0; round < 20; round++) {
      const dir = `${root}/${round}`;
      await Deno.mkdir(dir);
      const kinds = ["confirm", "revert", "deadline", "takeover", "confirm", "confirm"] as const;
      const results = await Promise.all(kinds.map((k) => claimDecision(dir, k)));
      assert.equal(results.filter((r) => r.won).length, 1);
      const standing = JSON.stringify(results[0]!.decision);
      assert.ok(results.every((r) => JSON.stringify(r.decision) === standing));
    }
  });
});

Deno.test("armWatchdog: waits until armed; a second one is refused; confirm counts exactly once", async () => {
  await withDir(async (stateDir) => {
    let watchdog: Promise<unknown> | undefined;
    const pending = await armWatchdog({
      stateDir,
      snapshotJson: "{}",
      timeoutMs: 3_600_000,
      firewall: { ...FIREWALL, netns: "lab" },
      spawn(dir, applyId) {
        // In-process stand-in for the detached process.
        watchdog = runWatchdog(dir, { applyId, log: () => {}, restore: () => Promise.resolve() });
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
    await pending.applied();
    const [a, b] = await Promise.all([
      confirmPending(stateDir, "lab"),
      confirmPending(stateDir, "lab"),
    ]);
    assert.equal([a, b].filter((r) => r.pending).length, 1, "exactly one confirmation counts");
    const loser = a.pending ? b : a;
    assert.equal(loser.decision?.decision, "confirm");
    await watchdog;
    assert.equal((await pending.outcome())?.outcome, "confirmed");
    await pending.finish();
    const late = await confirmPending(stateDir, "lab");
    assert.equal(late.pending, false);
    assert.equal(late.decision?.decision, "confirm");
    assert.equal(late.outcome?.outcome, "confirmed");
  });
});

Deno.test("PendingConfirmation.takeOver: the watchdog died → the CLI restores; a confirmation stands", async () => {
  await withDir(async (stateDir) => {
    let standIn: { die(): void } | undefined;
    const arm = () =>
      armWatchdog({
        stateDir,
        snapshotJson: '{"snap":2}',
        timeoutMs: 3_600_000,
        firewall: FIREWALL,
        spawn(dir) {
          standIn = standInWatchdog(dir);
          return { pid: Deno.pid, status: new Promise(() => {}) };
        },
      });
    const pending = await arm();
    await pending.applied();
    standIn!.die();
    assert.equal(await pending.outcome(), undefined, "no outcome: the watchdog is gone");
    const restored: string[] = [];
    const outcome = await pending.takeOver({
      log: () => {},
      restore: (json) => {
        restored.push(json);
        return Promise.resolve();
      },
    });
    assert.deepEqual(restored, ['{"snap":2}']);
    assert.deepEqual([outcome.outcome, outcome.reason, outcome.by], [
      "reverted",
      "watchdog-stopped",
      "cli",
    ]);
    assert.equal((await readDecision(pending.dir))?.decision, "takeover");

    // Confirmed just before the watchdog died: the rules stay.
    const again = await arm();
    await again.applied();
    assert.equal((await again.confirm()).won, true);
    standIn!.die();
    const kept = await again.takeOver({
      log: () => {},
      restore: () => Promise.reject(new Error("must not restore")),
    });
    assert.equal(kept.outcome, "confirmed");
  });
});

Deno.test("confirmPending: an apply left unconfirmed with neither watchdog nor CLI is stale, not confirmable", async () => {
  await withDir(async (stateDir) => {
    const dir = pendingDir(stateDir, undefined);
    await Deno.mkdir(dir, { recursive: true });
    await writePending(dir, Date.now() + 3_600_000);
    assert.deepEqual(await confirmPending(stateDir, undefined), {
      pending: false,
      outcome: undefined,
    }, "not armed yet: nothing waits");
    standInWatchdog(dir).die();
    const r = await confirmPending(stateDir, undefined);
    assert.equal(r.pending, false);
    assert.equal(r.stale, true);
    assert.equal(await readDecision(dir), undefined, "nothing decided");
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

Deno.test("runWatchdog: the log is kept in the state directory and rotated past its limit", async () => {
  await withDir(async (stateDir) => {
    const files = targetFiles(stateDir, undefined);
    await Deno.mkdir(files.pending);
    const old = "x".repeat(WATCHDOG_LOG_LIMIT + 1);
    await Deno.writeTextFile(files.log, old);
    await writePending(files.pending, 0, { stateDir });
    await runWatchdog(files.pending, { restore: () => Promise.resolve() });
    assert.equal(await Deno.readTextFile(`${files.log}.1`), old);
    const log = await Deno.readTextFile(files.log);
    assert.match(log, /armed \(pid \d+, CLI pid \d+\)/);
    assert.match(log, /reverted: the previous rules are back/);
    assert.ok(log.length < WATCHDOG_LOG_LIMIT);
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
      await pending.applied();
      assert.match(await nsExec(netns, "iptables-nft-save", ["-t", "filter"]), /--dports 2222/);
      const outcome = await pending.outcome();
      assert.equal(outcome?.outcome, "reverted", JSON.stringify(outcome));
      assert.equal(outcome?.reason, "deadline");
      const after = await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
      const rules = (t: string) =>
        t.split("\n").filter((l) => l.startsWith("-A") || l.startsWith(":"))
          .map((l) => l.replace(/\[\d+:\d+\]/, ""));
      assert.deepEqual(rules(after), rules(before));
      const log = await Deno.readTextFile(targetFiles(stateDir, netns).log);
      assert.match(log, /reverted: the previous rules are back/);
      await pending.finish();
    });
  },
);
