/**
 * Crash safety: `kill -9` of a whole `rampart apply` process at random points
 * of a large (40 000-rule) apply across four tables and both families, on both
 * backends. After each kill, every table holds either all of its old rules or
 * all of its new ones (the tables the intent record lists as done: new; the
 * ones after the table being written: old); the next command reports the
 * interruption in words and in `--json`; `apply` converges and `recover` rolls
 * back, and both clear the record. Other programs' rules in every table (the
 * hostile imitations of `foreign_rules.ts`) keep their text and counters byte
 * for byte throughout.
 */
import assert from "assert";
import { comparable, isOurLine, saveAll, seedHostile } from "./foreign_rules.ts";
import {
  kernelTest,
  rampart,
  RunningCli,
  saveTable,
  type Variant,
  waitNamespaceIdle,
} from "./netns.ts";

const TABLES = ["raw", "mangle", "nat", "filter"] as const;
type TableName = typeof TABLES[number];
const HOOK: Record<TableName, string> = {
  raw: "PREROUTING",
  mangle: "PREROUTING",
  nat: "PREROUTING",
  filter: "INPUT",
};
/** Rules per table and family of the large policy: 20 000 per family, 40 000 in all. */
const LARGE: Record<TableName, number> = { raw: 2000, mangle: 5000, nat: 3000, filter: 10000 };
const SMALL: Record<TableName, number> = { raw: 2, mangle: 2, nat: 2, filter: 3 };

/** One file per table (a single file of 40 000 rules is over the YAML loader's node limit). */
async function writePolicy(
  dir: string,
  name: string,
  sizes: Record<TableName, number>,
): Promise<string[]> {
  const files: string[] = [];
  for (const t of TABLES) {
    const lines = [
      "family: both",
      "tables:",
      `  ${t}:`,
      "    kernelChains:",
      `      ${HOOK[t]}:`,
      "        insert:",
      `          - jump: rp-${t}`,
      "    chains:",
      `      rp-${t}:`,
    ];
    for (let i = 0; i < sizes[t]; i++) {
      lines.push(`        - {protocol: tcp, destPorts: [${1 + i}], action: accept}`);
    }
    const file = `${dir}/${name}-${t}.yaml`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    files.push(file);
  }
  return files;
}

function variants(backend: "nft" | "legacy"): Variant[] {
  return [{ backend, ipVersion: 4 }, { backend, ipVersion: 6 }];
}

/** Our chains in every version of the policy, and the record of chain policies. */
const OUR_CHAINS: ReadonlySet<string> = new Set([...TABLES.map((t) => `rp-${t}`), "rp-policy"]);

/**
 * Every other program's line of every table (`foreign_rules.ts`: hostile
 * imitations of our markers, with counters), byte for byte.
 */
async function foreignLines(netns: string, backend: "nft" | "legacy"): Promise<string[]> {
  return comparable(await saveAll(netns, backend), { backend }).filter((l) =>
    !isOurLine(l, OUR_CHAINS)
  );
}

/** Our rules of each table and family: chains sorted, rules in order, no counters. */
async function ourState(netns: string, backend: "nft" | "legacy"): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of variants(backend)) {
    for (const t of TABLES) {
      const lines = (await saveTable(netns, v, t)).split("\n").filter((l) =>
        isOurLine(l, OUR_CHAINS)
      );
      const chains = lines.filter((l) => l.startsWith(":")).map((l) => l.split(" ")[0]).sort();
      const rules = lines.filter((l) => l.startsWith("-A"));
      out.set(`${t}/${v.ipVersion}`, [...chains, ...rules].join("\n"));
    }
  }
  return out;
}

interface IntentFile {
  done: string[];
  header: { pid: number; intent: { tables: { table: string; ipVersion: number }[] } };
}

async function readRecord(path: string): Promise<IntentFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  const [first, ...rest] = text.split("\n").filter((l) => l !== "");
  const done: string[] = [];
  for (const l of rest) {
    try {
      const e = JSON.parse(l);
      if (e.done !== undefined) done.push(`${e.done.table}/${e.done.ipVersion}`);
    } catch { /* torn */ }
  }
  return { header: JSON.parse(first!), done };
}

const ORDER = [4, 6].flatMap((v) => TABLES.map((t) => `${t}/${v}`));

/** Runs an apply to its end; returns how long it wrote after its first table started. */
async function timedApply(args: string[]): Promise<number> {
  const child = new RunningCli(args);
  assert.ok(await child.waitFor("[1/8] raw IPv4: applying"), child.err);
  const start = performance.now();
  const status = await child.finish();
  assert.equal(status.code, 0, status.err);
  return performance.now() - start;
}

function crashScenario(backend: "nft" | "legacy"): void {
  kernelTest(
    `kill -9 at random points of a 40 000-rule, four-table, two-family apply (${backend}): ` +
      "each table old or new, the interruption reported, apply converges, recover rolls back",
    async (netns) => {
      const dir = await Deno.makeTempDir({ prefix: "rp-crash-test-" });
      try {
        const stateDir = `${dir}/state`;
        const common = ["--netns", netns, "--backend", backend, "--state-dir", stateDir];
        const recordPath = `${stateDir}/netns-${netns}.intent.jsonl`;
        const small = await writePolicy(dir, "small", SMALL);
        const large = await writePolicy(dir, "large", LARGE);
        await seedHostile(netns, backend);
        const foreign = await foreignLines(netns, backend);
        const counted = foreign.filter((l) => /^\[[1-9]\d*:\d+\] -A/.test(l));
        assert.ok(counted.length >= 70, `foreign rules with counters: ${counted.join("\n")}`);

        // The two states every table must be in after a crash, and how long
        // each way takes to write (to spread the kill points over it).
        const grow = await timedApply(["apply", ...large, ...common, "--yes"]);
        const largeState = await ourState(netns, backend);
        assert.equal(
          [...largeState.values()].join("\n").split("\n").filter((l) => l.startsWith("-A rp-"))
            .length,
          40_000,
        );
        const shrink = await timedApply(["apply", ...small, ...common, "--yes"]);
        const smallState = await ourState(netns, backend);
        assert.deepEqual(await foreignLines(netns, backend), foreign);

        // Small to large, killed, then apply converges; large to small, killed, then recover.
        const rounds = [
          { files: large, window: grow, from: smallState, to: largeState, ending: "apply" },
          { files: small, window: shrink, from: largeState, to: smallState, ending: "recover" },
        ] as const;
        for (const { files, window, from, to, ending } of rounds) {
          const delay = Math.floor(Math.random() * window);
          const why = `${backend}, killed ${delay} ms into a ${
            Math.round(window)
          } ms write, then ${ending}`;
          const child = new RunningCli(["apply", ...files, ...common, "--yes"]);
          assert.ok(await child.waitFor("[1/8] raw IPv4: applying"), child.err);
          await new Promise((resolve) => setTimeout(resolve, delay));
          try {
            child.child.kill("SIGKILL");
          } catch { /* it had already finished */ }
          const status = await child.finish();
          // An iptables-restore already started finishes (or aborts) on its own.
          await waitNamespaceIdle(netns);
          if (status.signal !== "SIGKILL") assert.equal(status.code, 0, `${why}: ${status.err}`);

          const record = await readRecord(recordPath);
          const now = await ourState(netns, backend);
          if (record === undefined) {
            // Killed after the apply cleared its record (or not killed at all).
            for (const k of ORDER) assert.equal(now.get(k), to.get(k), `${why}: ${k}`);
          } else {
            assert.equal(record.header.pid, child.child.pid, "the record names the process");
            const current = ORDER.findIndex((k) => !record.done.includes(k));
            ORDER.forEach((k, i) => {
              const state = now.get(k);
              if (record.done.includes(k)) {
                assert.equal(state, to.get(k), `${why}: ${k} is done, so new`);
              } else if (i > current) {
                assert.equal(state, from.get(k), `${why}: ${k} not reached, so old`);
              } else {
                assert.ok(
                  state === from.get(k) || state === to.get(k),
                  `${why}: ${k} (being written) must be all old or all new`,
                );
              }
            });
          }
          assert.deepEqual(await foreignLines(netns, backend), foreign, `${why}: foreign rules`);

          // Any command on the target says so, in words and in --json.
          const plan = await rampart(["plan", ...files, ...common, "--json"]);
          assert.equal(plan.code, 0, plan.err);
          const doc = JSON.parse(plan.out);
          if (record === undefined) {
            assert.doesNotMatch(plan.err, /INTERRUPTED/);
            assert.equal(doc.interrupted, undefined);
          } else {
            assert.match(
              plan.err,
              /INTERRUPTED: An earlier 'rampart apply .*' on network namespace ".*" \(pid \d+, started .*\) did not finish/,
              why,
            );
            assert.match(plan.err, /'rampart recover' puts back/);
            assert.equal(doc.interrupted.record, recordPath);
            assert.equal(doc.interrupted.canRollBack, true);
            assert.deepEqual(
              doc.interrupted.tablesDone.map((t: { table: string; ipVersion: number }) =>
                `${t.table}/${t.ipVersion}`
              ),
              record.done,
            );
          }

          let expected = to;
          if (ending === "apply") {
            const apply = await rampart(["apply", ...files, ...common, "--yes"]);
            assert.equal(apply.code, 0, apply.err);
            if (record !== undefined) {
              assert.match(apply.err, /INTERRUPTED: .*This apply brings every table to the policy/);
            }
          } else {
            const recover = await rampart(["recover", ...common, "--yes"]);
            assert.equal(recover.code, 0, recover.err);
            if (record === undefined) assert.match(recover.out, /Nothing to recover/);
            else {
              assert.match(
                recover.out,
                /Recovered network namespace .*: the interrupted apply was rolled back/,
              );
              expected = from;
            }
          }
          const after = await ourState(netns, backend);
          for (const k of ORDER) {
            assert.equal(after.get(k), expected.get(k), `${why}: ${k} at the end`);
          }
          assert.equal(await readRecord(recordPath), undefined, `${why}: record cleared`);
          const again = await rampart(["show", ...common]);
          assert.equal(again.code, 0, again.err);
          assert.doesNotMatch(again.err, /INTERRUPTED/);
          assert.deepEqual(await foreignLines(netns, backend), foreign, `${why}: foreign rules`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

crashScenario("nft");
crashScenario("legacy");

/** Rules per table and family of the policy whose remove is killed: 9 000 in all. */
const MEDIUM: Record<TableName, number> = { raw: 300, mangle: 600, nat: 600, filter: 3000 };

function removeCrashScenario(backend: "nft" | "legacy"): void {
  kernelTest(
    `kill -9 at a random point of a 9 000-rule remove (${backend}): each table with all or none ` +
      "of our rules as the record says, recover puts them all back",
    async (netns) => {
      const dir = await Deno.makeTempDir({ prefix: "rp-crash-test-" });
      try {
        const stateDir = `${dir}/state`;
        const common = ["--netns", netns, "--backend", backend, "--state-dir", stateDir];
        const recordPath = `${stateDir}/netns-${netns}.intent.jsonl`;
        const files = await writePolicy(dir, "medium", MEDIUM);
        await seedHostile(netns, backend);
        const foreign = await foreignLines(netns, backend);
        const apply = await rampart(["apply", ...files, ...common, "--yes"]);
        assert.equal(apply.code, 0, apply.err);
        const full = await ourState(netns, backend);
        const remove = async () => {
          const child = new RunningCli(["remove", ...common, "--yes"]);
          assert.ok(await child.waitFor("Removing our rules from raw IPv4"), child.err);
          return { child, start: performance.now() };
        };
        // How long the removal takes, to spread the kill point over it.
        const timed = await remove();
        assert.equal((await timed.child.finish()).code, 0);
        const window = performance.now() - timed.start;
        const empty = await ourState(netns, backend);
        for (const k of ORDER) assert.equal(empty.get(k), "", k);
        assert.equal((await rampart(["apply", ...files, ...common, "--yes"])).code, 0);

        const delay = Math.floor(Math.random() * window);
        const why = `${backend}, killed ${delay} ms into a ${Math.round(window)} ms remove`;
        const { child } = await remove();
        await new Promise((resolve) => setTimeout(resolve, delay));
        try {
          child.child.kill("SIGKILL");
        } catch { /* it had already finished */ }
        await child.finish();
        await waitNamespaceIdle(netns);
        const record = await readRecord(recordPath);
        const now = await ourState(netns, backend);
        if (record === undefined) {
          for (const k of ORDER) assert.equal(now.get(k), "", `${why}: ${k}`);
        } else {
          const current = ORDER.findIndex((k) => !record.done.includes(k));
          ORDER.forEach((k, i) => {
            const state = now.get(k);
            if (record.done.includes(k)) assert.equal(state, "", `${why}: ${k} is done`);
            else if (i > current) assert.equal(state, full.get(k), `${why}: ${k} not reached`);
            else assert.ok(state === "" || state === full.get(k), `${why}: ${k} all or none`);
          });
        }
        assert.deepEqual(await foreignLines(netns, backend), foreign, `${why}: foreign rules`);
        const recover = await rampart(["recover", ...common, "--yes"]);
        assert.equal(recover.code, 0, recover.err);
        const after = await ourState(netns, backend);
        for (const k of ORDER) {
          assert.equal(after.get(k), record === undefined ? "" : full.get(k), `${why}: ${k}`);
        }
        assert.equal(await readRecord(recordPath), undefined, `${why}: record cleared`);
        assert.deepEqual(await foreignLines(netns, backend), foreign, `${why}: foreign rules`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

removeCrashScenario("nft");
removeCrashScenario("legacy");
