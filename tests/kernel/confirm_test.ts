/**
 * `apply --confirm-timeout` as operators and adversaries break it, with the
 * whole `rampart` process and its detached watchdog, in a namespace: the
 * watchdog killed during the wait (the CLI reverts itself), the CLI killed in
 * the middle of a large apply (the watchdog waits for it, then reverts and
 * settles the intent record), two CLIs at once (never both fail), confirm run
 * twice at once (exactly one counts), and a revert without a terminal
 * (stderr, `--json` and exit code 3). Other programs' rules (the hostile
 * imitations of `foreign_rules.ts`) keep their text and counters throughout.
 */
import assert from "assert";
import { isTargetLocked } from "../../cli.ts";
import { comparable, isOurLine, saveAll, seedHostile } from "./foreign_rules.ts";
import { kernelTest, rampart, RunningCli, waitNamespaceIdle } from "./netns.ts";

const RULES = (port: number) =>
  `family: both
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-input
    chains:
      rp-input:
        - protocol: tcp
          destPorts: [${port}]
          action: accept
`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-confirm-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const OUR_CHAINS: ReadonlySet<string> = new Set(["rp-input", "rp-policy"]);

/**
 * Other programs' rules, counters included, byte for byte: the hostile
 * imitations of `foreign_rules.ts` in every table of both families (nft).
 */
async function foreign(netns: string): Promise<string[]> {
  return comparable(await saveAll(netns, "nft"), { backend: "nft" }).filter((l) =>
    !isOurLine(l, OUR_CHAINS)
  );
}

/** Our rules in both families (no counters). */
async function ours(netns: string): Promise<string[]> {
  return withoutCounters((await saveAll(netns, "nft")).split("\n")).filter((l) =>
    isOurLine(l, OUR_CHAINS)
  );
}

function withoutCounters(lines: string[]): string[] {
  return lines.map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, ""));
}

interface Setup {
  netns: string;
  dir: string;
  common: string[];
  rules: (port: number) => Promise<string>;
  /** Applies port 22; returns our rules and the foreign ones after it. */
  applyFirst(): Promise<{ before: string[]; seeded: string[] }>;
  /** Starts `apply --confirm-timeout` of a port and waits until it asks for confirmation. */
  pendingApply(port: number, extra?: string[]): Promise<RunningCli>;
}

async function setup(netns: string, dir: string): Promise<Setup> {
  await seedHostile(netns, "nft");
  const common = ["--netns", netns, "--backend", "nft", "--state-dir", `${dir}/state`];
  const rules = async (port: number) => {
    const file = `${dir}/rules-${port}.yaml`;
    await Deno.writeTextFile(file, RULES(port));
    return file;
  };
  return {
    netns,
    dir,
    common,
    rules,
    async applyFirst() {
      const first = await rampart(["apply", await rules(22), ...common, "--yes"]);
      assert.equal(first.code, 0, first.err);
      return { before: await ours(netns), seeded: await foreign(netns) };
    },
    async pendingApply(port, extra = []) {
      const args = ["apply", await rules(port), ...common, "--yes", "--confirm-timeout", "10m"];
      const child = new RunningCli([...args, ...extra]);
      assert.ok(await child.waitFor("Applied. Confirm within"), child.err);
      return child;
    },
  };
}

async function watchdogPid(s: Setup): Promise<number> {
  return Number(
    (await Deno.readTextFile(`${s.dir}/state/pending-netns-${s.netns}/watchdog.pid`)).trim(),
  );
}

kernelTest(
  "apply --confirm-timeout: the watchdog killed with SIGKILL during the wait → the CLI reverts and says so (exit 3, ok: false)",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const { before, seeded } = await s.applyFirst();
      const child = await s.pendingApply(2222, ["--json"]);
      assert.notDeepEqual(await ours(netns), before);
      const pid = await watchdogPid(s);
      Deno.kill(pid, "SIGKILL");
      const r = await child.finish();
      assert.equal(r.code, 3, r.err);
      assert.match(
        r.err,
        /The watchdog stopped without reporting, so this command restored the previous rules itself/,
      );
      const doc = JSON.parse(r.out);
      assert.equal(doc.ok, false);
      assert.equal(doc.exitCode, 3);
      assert.deepEqual(
        [doc.confirmation.outcome, doc.confirmation.reason, doc.confirmation.by],
        ["reverted", "watchdog-stopped", "cli"],
      );
      assert.deepEqual(await ours(netns), before, "the previous rules are back");
      assert.deepEqual(await foreign(netns), seeded);
      const log = await Deno.readTextFile(`${dir}/state/netns-${netns}.watchdog.log`);
      assert.match(log, new RegExp(`the watchdog \\(pid ${pid}\\) stopped without an outcome`));
      assert.match(log, /reverted: the previous rules are back/);
      // Nothing is left to confirm, and the next apply is not refused.
      const confirm = await rampart(["confirm", ...s.common]);
      assert.equal(confirm.code, 3, confirm.err);
      assert.match(confirm.err, /Too late to confirm .*its watchdog stopped/);
      const again = await rampart(["apply", await s.rules(22), ...s.common, "--yes"]);
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /Nothing to do/);
    });
  },
);

kernelTest(
  "apply --confirm-timeout: the CLI killed with SIGKILL in the middle of a large apply → the watchdog waits for it, reverts and settles the record",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const { before, seeded } = await s.applyFirst();
      // 15 000 rules per family: long enough to be killed in the middle.
      const lines = [
        "family: both",
        "tables:",
        "  filter:",
        "    kernelChains:",
        "      INPUT:",
        "        insert:",
        "          - jump: rp-big",
        "    chains:",
        "      rp-big:",
      ];
      for (let i = 1; i <= 15_000; i++) {
        lines.push(`        - {protocol: tcp, destPorts: [${i}], action: accept}`);
      }
      await Deno.writeTextFile(`${dir}/big.yaml`, lines.join("\n") + "\n");
      const child = new RunningCli([
        "apply",
        `${dir}/big.yaml`,
        ...s.common,
        "--yes",
        "--confirm-timeout",
        "1s",
      ]);
      // Killed as it starts writing filter IPv4 (its table 4 of 8).
      assert.ok(await child.waitFor("[4/8] filter IPv4: applying"), child.err);
      child.child.kill("SIGKILL");
      await child.finish();
      await waitNamespaceIdle(netns);
      const pending = `${dir}/state/pending-netns-${netns}`;
      for (
        let i = 0;
        i < 600 && !await Deno.stat(`${pending}/outcome.json`).catch(() => false);
        i++
      ) {
        await sleep(100);
      }
      const outcome = JSON.parse(await Deno.readTextFile(`${pending}/outcome.json`));
      assert.equal(outcome.outcome, "reverted", JSON.stringify(outcome));
      assert.equal(outcome.reason, "deadline");
      assert.match(
        outcome.interrupted,
        /did not finish: it brought raw IPv4, mangle IPv4(,| and) nat IPv4/,
      );
      assert.deepEqual(await ours(netns), before, "the previous rules are back");
      assert.deepEqual(await foreign(netns), seeded);
      const log = await Deno.readTextFile(`${dir}/state/netns-${netns}.watchdog.log`);
      assert.match(log, /the CLI died in the middle of the apply: An earlier 'rampart apply/);
      // The watchdog settled the record: nothing is reported any more.
      const plan = await rampart(["plan", await s.rules(22), ...s.common]);
      assert.equal(plan.code, 0, plan.err);
      assert.doesNotMatch(plan.err, /INTERRUPTED|UNCONFIRMED/);
      assert.match(plan.out, /Nothing to do/);
    });
  },
);

kernelTest(
  "two apply --confirm-timeout at once, many times: never both fail; the loser is refused in words and changes nothing",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const seeded = await foreign(netns);
      for (let round = 0; round < 8; round++) {
        const file = await s.rules(1000 + round);
        const args = ["apply", file, ...s.common, "--yes", "--confirm-timeout", "5m"];
        const a = new RunningCli(args);
        const b = new RunningCli(args);
        // The first to end is the one refused (the other waits for confirmation)…
        const first = await Promise.race([a.finish(), b.finish()]);
        assert.equal(first.code, 1, `round ${round}: ${first.err}`);
        assert.match(
          first.err,
          /Another rampart command is changing network namespace .* \(pid \d+, 'rampart apply .*', since .*\)(; it waits for confirmation \('rampart confirm .*)?: nothing was changed/,
        );
        // …and the other one applied and keeps its rules once confirmed.
        const c = await rampart(["confirm", ...s.common]);
        assert.equal(c.code, 0, `round ${round}: ${c.err}`);
        const results = await Promise.all([a.finish(), b.finish()]);
        const codes = results.map((r) => r.code).sort();
        assert.deepEqual(codes, [0, 1], results.map((r) => r.err).join("\n---\n"));
        const rules = await ours(netns);
        assert.equal(
          rules.filter((l) => l.includes(`--dports ${1000 + round}`)).length,
          2,
          `round ${round}: the rule once per family:\n${rules.join("\n")}`,
        );
        assert.equal(rules.filter((l) => /^-A INPUT/.test(l)).length, 2, "one jump per family");
      }
      assert.deepEqual(await foreign(netns), seeded);
    });
  },
);

kernelTest(
  "rampart confirm twice at once: exactly one confirms (exit 0); the other and a later one say it was already confirmed (exit 1)",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const child = await s.pendingApply(22);
      const [one, two] = await Promise.all([
        rampart(["confirm", ...s.common]),
        rampart(["confirm", ...s.common, "--json"]),
      ]);
      const codes = [one.code, two.code].sort();
      assert.deepEqual(codes, [0, 1], `${one.err}\n${two.err}`);
      const winner = one.code === 0 ? one : two;
      const loser = one.code === 0 ? two : one;
      assert.match(winner.out + winner.err, /Confirmed: the new rules stay/);
      assert.match(loser.out + loser.err, /already confirmed at .* \(by pid \d+\)/);
      const r = await child.finish();
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Confirmed: the new rules stay/);
      const later = await rampart(["confirm", ...s.common, "--json"]);
      assert.equal(later.code, 1);
      const doc = JSON.parse(later.out);
      assert.equal(doc.ok, false);
      assert.equal(doc.decision.decision, "confirm");
      assert.match(doc.error.message, /already confirmed/);
      assert.ok((await ours(netns)).some((l) => l.includes("--dports 22")));
    });
  },
);

kernelTest(
  "apply --confirm-timeout without a terminal: a revert is said on stderr, in --json (ok: false) and by exit 3; the log is kept",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const { before, seeded } = await s.applyFirst();
      const file = await s.rules(2222);
      const plain = await rampart(["apply", file, ...s.common, "--yes", "--confirm-timeout", "1s"]);
      assert.equal(plain.code, 3, plain.err);
      assert.equal(plain.out, "");
      assert.match(plain.err, /^Not confirmed in time: the previous rules were restored$/m);
      assert.deepEqual(await ours(netns), before);

      const json = await rampart([
        "apply",
        file,
        ...s.common,
        "--yes",
        "--confirm-timeout",
        "1s",
        "--json",
      ]);
      assert.equal(json.code, 3, json.err);
      assert.match(json.err, /Not confirmed in time: the previous rules were restored/);
      const doc = JSON.parse(json.out);
      assert.equal(doc.ok, false);
      assert.equal(doc.exitCode, 3);
      assert.equal(doc.confirmation.outcome, "reverted");
      assert.equal(doc.confirmation.reason, "deadline");
      assert.deepEqual(await ours(netns), before);
      assert.deepEqual(await foreign(netns), seeded);

      const late = await rampart(["confirm", ...s.common]);
      assert.equal(late.code, 3);
      assert.match(late.err, /Too late to confirm .*its confirm timeout passed/);
      // Kept across applies: both watchdogs' lines are there.
      const log = await Deno.readTextFile(`${dir}/state/netns-${netns}.watchdog.log`);
      assert.equal(log.match(/reverted: the previous rules are back/g)?.length, 2, log);
    });
  },
);

kernelTest(
  "while an apply waits for confirmation, remove and apply are refused; its watchdog and CLI both killed → reported, then recover",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      const { before } = await s.applyFirst();
      const child = await s.pendingApply(2222);
      const unconfirmed = await ours(netns);
      const remove = await rampart(["remove", ...s.common, "--yes"]);
      assert.equal(remove.code, 1);
      assert.match(remove.err, /Another rampart command is changing .*it waits for confirmation/);
      assert.deepEqual(await ours(netns), unconfirmed, "the refused remove changed nothing");

      // Both die (the watchdog first, so the CLI gets no chance to revert).
      const pid = await watchdogPid(s);
      child.child.kill("SIGSTOP");
      Deno.kill(pid, "SIGKILL");
      // Gone once its lock is free (it stays a zombie: its parent is stopped).
      const lock = `${dir}/state/pending-netns-${netns}/watchdog.lock`;
      while (await isTargetLocked(lock)) await sleep(20);
      child.child.kill("SIGKILL");
      await child.finish();
      assert.deepEqual(await ours(netns), unconfirmed);

      const show = await rampart(["show", ...s.common, "--json"]);
      assert.equal(show.code, 0, show.err);
      assert.match(show.err, /UNCONFIRMED: an apply with --confirm-timeout .* was never confirmed/);
      assert.match(show.err, /'rampart recover' restores the rules from before it/);
      assert.equal(JSON.parse(show.out).unconfirmed.dir, `${dir}/state/pending-netns-${netns}`);
      const confirm = await rampart(["confirm", ...s.common]);
      assert.equal(confirm.code, 1);
      assert.match(confirm.err, /left unconfirmed/);

      const recover = await rampart(["recover", ...s.common, "--yes"]);
      assert.equal(recover.code, 0, recover.err);
      assert.match(recover.out, /the unconfirmed apply was rolled back/);
      assert.deepEqual(await ours(netns), before);
      const after = await rampart(["show", ...s.common]);
      assert.doesNotMatch(after.err, /UNCONFIRMED|INTERRUPTED/);
      const nothing = await rampart(["recover", ...s.common, "--yes"]);
      assert.match(nothing.out, /Nothing to recover/);
    });
  },
);

kernelTest(
  "an unconfirmed apply whose namespace is then deleted: recover clears what is recorded (its rules went with it)",
  async (netns) => {
    await withDir(async (dir) => {
      const s = await setup(netns, dir);
      await s.applyFirst();
      const child = await s.pendingApply(2222);
      const pid = await watchdogPid(s);
      child.child.kill("SIGSTOP");
      Deno.kill(pid, "SIGKILL");
      const pending = `${dir}/state/pending-netns-${netns}`;
      while (await isTargetLocked(`${pending}/watchdog.lock`)) await sleep(20);
      child.child.kill("SIGKILL");
      await child.finish();
      // The namespace goes (a container stopped), with the rules in it.
      const del = await new Deno.Command("ip", { args: ["netns", "del", netns] }).output();
      assert.equal(del.code, 0);

      const asked = await rampart(["recover", ...s.common]);
      assert.equal(asked.code, 2, "asks first: no terminal here");
      const recover = await rampart(["recover", ...s.common, "--yes", "--json"]);
      assert.equal(recover.code, 0, recover.err);
      const doc = JSON.parse(recover.out);
      assert.equal(doc.namespaceGone, true);
      assert.deepEqual(doc.done, ["the unconfirmed apply"]);
      const said = await rampart(["recover", ...s.common, "--yes"]);
      assert.match(said.out, /Nothing to recover/);
      await assert.rejects(Deno.stat(pending), Deno.errors.NotFound);
      // Made again, the namespace takes a new apply (nothing recorded stands in the way).
      const add = await new Deno.Command("ip", { args: ["netns", "add", netns] }).output();
      assert.equal(add.code, 0);
      const again = await rampart(["apply", await s.rules(22), ...s.common, "--yes"]);
      assert.equal(again.code, 0, again.err);
      assert.doesNotMatch(again.err, /UNCONFIRMED|INTERRUPTED/);
    });
  },
);
