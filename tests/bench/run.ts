/**
 * Issue 7's benchmarks: the engine against the raw iptables binaries (and
 * ferm), side by side in one run, on the real kernel in private network
 * namespaces, for both backends. Prints a markdown table (medians of several
 * runs, ratios against the raw binaries measured in the same run).
 *
 * ```sh
 * deno task bench                       # deno bench files, then this script
 * deno run -A tests/bench/run.ts        # this script only
 * deno run -A tests/bench/run.ts --backend legacy --only m1,m7 --out /tmp/b.md
 * ```
 *
 * Flags: `--backend nft|legacy|both`, `--only m1,…,m9`, `--quick` (fewer runs,
 * for smoke-testing the harness; the numbers are not meaningful), `--out FILE`
 * (also write the markdown there).
 *
 * Each group of measurements (10k first applies, the 100k table, per-rule,
 * pure JS, ferm) runs in its own Deno process (this script with the internal
 * `--group` flag), so that none pays for the garbage an earlier one left.
 *
 * Needs root, `ip`, `ipset`, both iptables backends and `ferm`. Nothing runs
 * in the host's own namespace.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import {
  calculateRuleHashes,
  calculateRuleIds,
  type Chain,
  Jump,
  parseSave,
  renderAppend,
  renderReplace,
  Table,
  type TableOptions,
} from "../../mod.ts";
import { kernelAvailability } from "../kernel/netns.ts";
import { operatorLegacy, operatorNft } from "./operator_path.ts";
import { CountingRunner, exec, median, ms, pair, ratio, time, withBenchNetns } from "./harness.ts";
import {
  BIG_CHAIN,
  bigChain,
  buildChains,
  chainName,
  dslRule,
  fermConfig,
  rootJump,
  ruleSpec,
} from "./workload.ts";

type Backend = "nft" | "legacy";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "both" },
    only: { type: "string", default: "m1,m2,m3,m4,m5,m6,m7,m8,m9" },
    quick: { type: "boolean", default: false },
    out: { type: "string" },
    // Internal: run one group of measurements and write its rows as JSON.
    group: { type: "string" },
    "rows-out": { type: "string" },
  },
});
const ONLY = new Set(flags.only.split(","));
const BACKENDS: Backend[] = flags.backend === "both"
  ? ["nft", "legacy"]
  : [flags.backend as Backend];
const QUICK = flags.quick;
/**
 * Rounds per measurement: small tables, large (100k) ones, changes to the
 * large table (a legacy restore of it takes 530 to 830 ms, in two clusters,
 * from one run to the next), ferm, each share of measurement 9 (a 20k first
 * apply and a change per round), many (cheap, in-process) and the per-rule
 * baseline.
 */
const RUNS = {
  small: QUICK ? 1 : 15,
  change: QUICK ? 1 : 15,
  large: QUICK ? 1 : 5,
  ferm: QUICK ? 1 : 11,
  largeChange: QUICK ? 1 : 5,
  many: QUICK ? 3 : 50,
  perRule: { nft: QUICK ? 1 : 3, legacy: 1 },
  /** Measurement 8 (whole processes), at 20k and at 100k rules. */
  operator: { 200: QUICK ? 1 : 7, 1000: QUICK ? 1 : 5 } as Record<number, number>,
};
const RULES_PER_CHAIN = 100;
const HASH_PREFIX = "rampart:";

/** One row of the results table. */
interface Row {
  measure: string;
  backend: string;
  rules: string;
  ours: string;
  raw: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
}
const rows: Row[] = [];
const notes: string[] = [];

function row(r: Row): void {
  rows.push(r);
  const met = r.met === undefined ? "" : r.met ? " ok" : " MISSED";
  console.error(
    `  ${r.measure} [${r.backend}, ${r.rules}]: ${r.ours} vs ${r.raw} = ${r.ratio} (${r.target})${met}`,
  );
}

function k(rules: number): string {
  return rules >= 1000 ? `${Math.round(rules / 1000)}k` : `${rules}`;
}

/** A table in the namespace; the cache is trusted (no timers) so in-sync applies stay in sync. */
function benchTable(runner: CountingRunner, backend: Backend, extra: TableOptions = {}): Table {
  return new Table("filter", {
    runner,
    backend,
    hashPrefix: HASH_PREFIX,
    chainPrefixes: ["rp-"],
    refreshIntervalMs: 0,
    postWriteIntervalMs: 3_600_000,
    ...extra,
  });
}

function load(table: Table, chains: readonly Chain[], extraRoots: Chain["rules"] = []): void {
  table.updateChains(chains);
  table.setRuleInsertions("INPUT", [rootJump(), ...extraRoots]);
}

function bin(backend: Backend, op: "save" | "restore" | ""): string {
  return op === "" ? `iptables-${backend}` : `iptables-${backend}-${op}`;
}

/**
 * The restore arguments the engine uses (on legacy it waits for the xtables
 * lock, shared by every namespace), so the raw runs do the same work.
 */
function restoreArgs(backend: Backend): string[] {
  return backend === "legacy" ? ["--noflush", "--wait", "10"] : ["--noflush"];
}

/** The exact script a first apply of `chains` writes (from `table.plan()` on an empty kernel). */
async function firstScript(backend: Backend, chains: readonly Chain[]): Promise<string> {
  return await withBenchNetns(async (_ns, inner) => {
    const table = benchTable(new CountingRunner(inner), backend);
    load(table, chains);
    return await table.plan();
  });
}

// ---- 1. First full apply vs save + restore ---------------------------------

async function firstApply(
  backend: Backend,
  numChains: number,
  runs: number,
  after?: (table: Table, runner: CountingRunner, chains: Chain[]) => Promise<void>,
): Promise<void> {
  const rules = numChains * RULES_PER_CHAIN + 1;
  const chains = buildChains(numChains, RULES_PER_CHAIN);
  const script = await firstScript(backend, chains);
  const ours: number[] = [];
  const raw: number[] = [];
  let processes = 0;
  // Untimed: the first apply writes exactly the script the raw runs restore.
  await withBenchNetns(async (_ns, inner) => {
    const runner = new CountingRunner(inner);
    runner.record = true;
    const table = benchTable(runner, backend);
    load(table, chains);
    await table.apply();
    if (runner.lastRestoreInput !== script) {
      throw new Error("The first apply did not write the script plan() returned");
    }
  });
  for (let r = 0; r < runs; r++) {
    await pair(
      r,
      async () =>
        raw.push(
          await withBenchNetns(async (_ns, runner) =>
            await time(async () => {
              await exec(runner, bin(backend, "save"), ["-t", "filter"]);
              await exec(runner, bin(backend, "restore"), restoreArgs(backend), script);
            })
          ),
        ),
      () =>
        withBenchNetns(async (_ns, inner) => {
          const runner = new CountingRunner(inner);
          const table = benchTable(runner, backend);
          load(table, chains);
          ours.push(await time(() => table.apply()));
          processes = runner.count;
        }),
    );
  }
  if (after !== undefined) {
    // The incremental measurements start from a table this apply loaded.
    await withBenchNetns(async (_ns, inner) => {
      const runner = new CountingRunner(inner);
      const table = benchTable(runner, backend);
      load(table, chains);
      await table.apply();
      await after(table, runner, chains);
    });
  }
  const x = median(ours) / median(raw);
  // Issue 14: on legacy at 10k, ≤ 1.25× (the binaries' own run-to-run spread
  // on a shared 2-core machine is of that order; see the README).
  const target = backend === "nft" ? 1.1 : numChains <= 100 ? 1.25 : 1.15;
  row({
    measure: "1. First full apply vs save + restore of the same script",
    backend,
    rules: k(rules),
    ours: `${ms(median(ours))} (${processes} processes)`,
    raw: ms(median(raw)),
    ratio: ratio(x),
    target: `≤ ${target.toFixed(2)}×`,
    met: x <= target,
  });
}

// ---- 2–4. Incremental changes, no-op apply and resync on the 100k table ----

async function onLargeTable(
  backend: Backend,
  table: Table,
  runner: CountingRunner,
  chains: Chain[],
): Promise<void> {
  const rules = table.metrics().rules;
  const inner = { run: runner.run.bind(runner) };
  if (ONLY.has("m2")) {
    // Last rule of one chain changed vs a raw one-line --noflush restore.
    const ours: number[] = [];
    const raw: number[] = [];
    let lines = 0;
    for (let r = 0; r < RUNS.change; r++) {
      const c = 500 + r;
      const last = chains[c]!.rules.length - 1;
      // Raw: rewrite the last rule of another chain with itself (the kernel stays in sync).
      const other = chains[700 + r]!;
      const ids = calculateRuleIds(other.name, other.rules);
      const line = renderReplace(other.rules[last]!, other.name, {
        position: last + 1,
        hash: ids[last]!,
        hashPrefix: HASH_PREFIX,
      });
      const script = `*filter\n${line}\nCOMMIT\n`;
      await pair(
        r,
        async () => {
          table.updateChain(rebuildChain(chains, c, last, r + 1));
          const before = table.metrics().linesExecuted;
          ours.push(await time(() => table.apply()));
          lines = table.metrics().linesExecuted - before;
        },
        async () =>
          raw.push(
            await time(() => exec(inner, bin(backend, "restore"), restoreArgs(backend), script)),
          ),
      );
    }
    const x = median(ours) / median(raw);
    const limit = backend === "nft" ? 2 : 1.2;
    row({
      measure: "2. Last rule of one chain changed vs raw one-line `--noflush` restore",
      backend,
      rules: k(rules),
      ours: `${ms(median(ours))}, ${lines} lines`,
      raw: `${ms(median(raw))}, 3 lines`,
      ratio: ratio(x),
      target: `≤ 3 lines, ≤ ${limit}×`,
      met: lines <= 3 && x <= limit,
    });

    // First rule of a 1000-rule chain changed (with chained IDs, every later ID
    // changed too, so this wrote 1002 lines).
    runner.record = true;
    table.updateChain(bigChain(1000));
    table.setRuleInsertions("INPUT", [rootJump(), { action: Jump(BIG_CHAIN) }]);
    await table.apply();
    const firstOurs: number[] = [];
    const sameScript: number[] = [];
    let firstLines = 0;
    for (let r = 0; r < RUNS.small; r++) {
      table.updateChain(bigChain(1000, r + 1));
      const before = table.metrics().linesExecuted;
      firstOurs.push(await time(() => table.apply()));
      firstLines = table.metrics().linesExecuted - before;
      const script = runner.lastRestoreInput;
      // The identical script again (idempotent: every -R writes what is there).
      sameScript.push(
        await time(() => exec(inner, bin(backend, "restore"), restoreArgs(backend), script)),
      );
    }
    const y = median(firstOurs) / median(raw);
    row({
      measure: "2b. First rule of a 1000-rule chain changed vs raw one-line restore",
      backend,
      rules: k(table.metrics().rules),
      ours: `${ms(median(firstOurs))}, ${firstLines} lines`,
      raw: `${ms(median(raw))} (same script raw: ${ms(median(sameScript))})`,
      ratio: ratio(y),
      target: "report",
      met: undefined,
    });
  }

  if (ONLY.has("m3")) {
    const count0 = runner.count;
    const times: number[] = [];
    for (let r = 0; r < RUNS.many; r++) times.push(await time(() => table.apply()));
    const spawned = runner.count - count0;
    const t = median(times);
    row({
      measure: "3. No-op apply (nothing changed, cache in sync)",
      backend,
      rules: k(table.metrics().rules),
      ours: `${ms(t)}, ${spawned} processes in ${RUNS.many} applies`,
      raw: "–",
      ratio: "–",
      target: "0 processes, ≤ 5 ms",
      met: spawned === 0 && t <= 5,
    });
  }

  if (ONLY.has("m4")) {
    const ours: number[] = [];
    const raw: number[] = [];
    let saved = "";
    let spawned = 0;
    let wrote = 0;
    for (let r = 0; r < RUNS.small; r++) {
      raw.push(
        await time(async () => {
          saved = await exec(inner, bin(backend, "save"), ["-t", "filter"]);
        }),
      );
      table.invalidateDataplaneCache("benchmark");
      const count0 = runner.count;
      const restores0 = table.metrics().restoreCalls;
      ours.push(await time(() => table.apply()));
      spawned = runner.count - count0;
      wrote += table.metrics().restoreCalls - restores0;
    }
    const parse: number[] = [];
    for (let r = 0; r < RUNS.small; r++) {
      parse.push(
        await time(() =>
          parseSave(saved, { hashPrefix: HASH_PREFIX, isOwnedChain: (c) => c.startsWith("rp-") })
        ),
      );
    }
    if (wrote !== 0) notes.push(`Resync on ${backend} unexpectedly wrote ${wrote} times.`);
    const x = median(ours) / median(raw);
    row({
      measure: "4. Resync (re-read and compare) vs raw `iptables-save`",
      backend,
      rules: k(table.metrics().rules),
      ours: `${ms(median(ours))} (${spawned} processes; parse alone ${ms(median(parse))})`,
      raw: ms(median(raw)),
      ratio: ratio(x),
      target: "≤ 1.15×",
      met: x <= 1.15,
    });
  }
}

/** Chain `c` with rule `rule` in variant `variant` (the other rule objects are reused). */
function rebuildChain(chains: Chain[], c: number, rule: number, variant: number): Chain {
  const edited = dslRule(ruleSpec(c, rule, chains.length, variant));
  return { name: chainName(c), rules: chains[c]!.rules.map((r, i) => i === rule ? edited : r) };
}

// ---- 5. Per-rule processes at 5k rules --------------------------------------

async function perRule(backend: Backend): Promise<void> {
  const numChains = 50;
  const chains = buildChains(numChains, RULES_PER_CHAIN);
  const rules = numChains * RULES_PER_CHAIN + 1;
  const ours: number[] = [];
  const script = await firstScript(backend, chains);
  const raw: number[] = [];
  for (let r = 0; r < RUNS.small; r++) {
    await pair(
      r,
      () =>
        withBenchNetns(async (_ns, inner) => {
          const table = benchTable(new CountingRunner(inner), backend);
          load(table, chains);
          ours.push(await time(() => table.apply()));
        }),
      async () =>
        raw.push(
          await withBenchNetns(async (_ns, runner) =>
            await time(async () => {
              await exec(runner, bin(backend, "save"), ["-t", "filter"]);
              await exec(runner, bin(backend, "restore"), restoreArgs(backend), script);
            })
          ),
        ),
    );
  }
  const file = await Deno.makeTempFile({ prefix: "rp-bench-", suffix: ".txt" });
  const perRuleMs: number[] = [];
  let processes = 0;
  try {
    await Deno.writeTextFile(file, script);
    for (let r = 0; r < RUNS.perRule[backend]; r++) {
      const result: { ms: number; processes: number } = await withBenchNetns(async (ns) => {
        const out = await new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            ns,
            Deno.execPath(),
            "run",
            "-A",
            new URL("./per_rule.ts", import.meta.url).pathname,
            bin(backend, ""),
            file,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
        return JSON.parse(new TextDecoder().decode(out.stdout));
      });
      perRuleMs.push(result.ms);
      processes = result.processes;
    }
  } finally {
    await Deno.remove(file);
  }
  const result = { ms: median(perRuleMs), processes };
  // Issue 14: the target is against the binaries, the raw save + restore
  // pair (at least 0.9× its speed); the per-rule figure is reported.
  const speed = median(raw) / median(ours);
  row({
    measure: "5. First apply vs raw save + restore (one `iptables -A` process per rule reported)",
    backend,
    rules: k(rules),
    ours: ms(median(ours)),
    raw: `save + restore ${ms(median(raw))}; per rule ${
      ms(result.ms)
    } (${result.processes} processes: ${ratio(result.ms / median(ours))} slower than ours, ${
      ratio(result.ms / median(raw))
    } than the pair)`,
    ratio: `${ratio(speed)} the pair's speed`,
    target: "≥ 0.90× the pair's speed",
    met: speed >= 0.9,
  });
}

// ---- 6. Pure JS: render + hash throughput, peak memory ----------------------

async function pureJs(): Promise<void> {
  const numChains = 1000;
  const rules = numChains * RULES_PER_CHAIN;
  const build: number[] = [];
  let chains: Chain[] = [];
  for (let r = 0; r < RUNS.small; r++) {
    build.push(await time(() => (chains = buildChains(numChains, RULES_PER_CHAIN))));
  }
  // Stable IDs (the default), and the reference's chained ones, alternating.
  const renderHash: number[] = [];
  const renderHashChained: number[] = [];
  const renderAndHash = (hash: typeof calculateRuleIds) => {
    for (const chain of chains) {
      const ids = hash(chain.name, chain.rules);
      for (let i = 0; i < chain.rules.length; i++) {
        renderAppend(chain.rules[i]!, chain.name, { hash: ids[i]!, hashPrefix: HASH_PREFIX });
      }
    }
  };
  for (let r = 0; r < RUNS.small + 2; r++) {
    await pair(
      r,
      async () => renderHash.push(await time(() => renderAndHash(calculateRuleIds))),
      async () =>
        renderHashChained.push(
          await time(() => renderAndHash((c, rs) => calculateRuleHashes(c, rs))),
        ),
    );
  }
  const perSec = rules / (median(renderHash) / 1000);
  const perSecChained = rules / (median(renderHashChained) / 1000);
  row({
    measure: "6. Render + hash throughput (pure JS)",
    backend: "–",
    rules: k(rules),
    ours: `${Math.round(perSec / 1000)}k rules/s (${ms(median(renderHash))})`,
    raw: `chained IDs: ${Math.round(perSecChained / 1000)}k rules/s (${
      ms(median(renderHashChained))
    })`,
    ratio: "–",
    target: "≥ 500k rules/s",
    met: perSec >= 500_000,
  });
  row({
    measure: "6b. Building the rules with the DSL (validation included)",
    backend: "–",
    rules: k(rules),
    ours: `${Math.round(rules / (median(build) / 1000) / 1000)}k rules/s (${ms(median(build))})`,
    raw: "–",
    ratio: "–",
    target: "report",
    met: undefined,
  });
  const child = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./memory.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)) as {
      rules: number;
      peakRssMb: number;
      heapUsedMb: number;
    };
  };
  const base = await child(["--baseline"]);
  const full = await child([String(numChains)]);
  row({
    measure: "6c. Peak memory of a 100k-rule table (built, planned, applied)",
    backend: "–",
    rules: k(full.rules),
    ours: `${Math.round(full.peakRssMb)} MB peak RSS, ${Math.round(full.heapUsedMb)} MB heap after`,
    raw: `${Math.round(base.peakRssMb)} MB (empty Deno process)`,
    ratio: "–",
    target: "report",
    met: undefined,
  });
}

// ---- 7. Operator reload vs ferm (legacy) ------------------------------------

/** One rule of the 20k workload replaced: a legacy restore rewrites the whole table for it. */
const ONE_LINE = "*filter\n-R rp-c199 100 -i eth1 -m conntrack --ctstate NEW -j RETURN\nCOMMIT\n";

async function operatorReload(): Promise<void> {
  const backend: Backend = "legacy";
  const numChains = 200;
  const rules = numChains * RULES_PER_CHAIN + 1;
  const dir = await Deno.makeTempDir({ prefix: "rp-bench-ferm-" });
  const edit = (r: number) => ({ chain: 100, rule: 50, variant: r + 1 });
  try {
    const conf = `${dir}/ferm.conf`;
    await Deno.writeTextFile(conf, fermConfig(numChains, RULES_PER_CHAIN));
    const fermFirst: number[] = [];
    const fermReload: number[] = [];
    const rawRestore: number[] = [];
    const ourFirst: number[] = [];
    const ourReload: number[] = [];
    const ourReloadFresh: number[] = [];
    const oneLine: number[] = [];
    const oneLineOurs: number[] = [];
    let reloadLines = 0;
    const script = await firstScript(backend, buildChains(numChains, RULES_PER_CHAIN));
    // First loads, each in a fresh namespace: ferm and Rampart alternate. Round
    // -1 is an untimed warm-up of all three (the first runs of a process and of
    // a freshly created namespace were 10-30 % slower, on every side).
    for (let r = -1; r < RUNS.ferm; r++) {
      const keep = (into: number[], ms: number) => r >= 0 && into.push(ms);
      await pair(
        r + 1,
        () =>
          withBenchNetns(async (_ns, runner) => {
            await Deno.writeTextFile(conf, fermConfig(numChains, RULES_PER_CHAIN));
            keep(fermFirst, await time(() => exec(runner, "ferm", [conf])));
          }),
        () =>
          withBenchNetns(async (_ns, inner) => {
            // Ours: from building the rules to the end of apply().
            const runner = new CountingRunner(inner);
            keep(
              ourFirst,
              await time(async () => {
                const chains = buildChains(numChains, RULES_PER_CHAIN);
                const table = benchTable(runner, backend);
                load(table, chains);
                await table.apply();
              }),
            );
          }),
      );
      keep(
        rawRestore,
        await withBenchNetns(async (_ns, runner) =>
          await time(() => exec(runner, bin(backend, "restore"), restoreArgs(backend), script))
        ),
      );
    }
    // Reloads with one rule changed: one namespace each, ferm and Rampart alternate.
    await withBenchNetns(async (_fermNs, fermRunner) => {
      await Deno.writeTextFile(conf, fermConfig(numChains, RULES_PER_CHAIN));
      await exec(fermRunner, "ferm", [conf]);
      await withBenchNetns(async (_ns, inner) => {
        const runner = new CountingRunner(inner);
        const table = benchTable(runner, backend);
        load(table, buildChains(numChains, RULES_PER_CHAIN));
        await table.apply();
        for (let q = 0; q < RUNS.ferm; q++) {
          await pair(
            q,
            async () => {
              await Deno.writeTextFile(conf, fermConfig(numChains, RULES_PER_CHAIN, edit(q)));
              fermReload.push(await time(() => exec(fermRunner, "ferm", [conf])));
            },
            async () => {
              ourReload.push(
                await time(async () => {
                  const chains = buildChains(numChains, RULES_PER_CHAIN, edit(q));
                  load(table, chains);
                  const before = table.metrics().linesExecuted;
                  await table.apply();
                  reloadLines = table.metrics().linesExecuted - before;
                }),
              );
            },
          );
        }
        // A one-shot reload: a new Table (as a new process would) reads the kernel first.
        for (let q = 0; q < RUNS.ferm; q++) {
          ourReloadFresh.push(
            await time(async () => {
              const chains = buildChains(numChains, RULES_PER_CHAIN, edit(q + 10));
              const fresh = benchTable(runner, backend);
              load(fresh, chains);
              await fresh.apply();
            }),
          );
        }
        // The floor of any reload of this table (its rules carry ID comments,
        // so it is larger than ferm's): see below. Measured last, as it
        // replaces one of our rules behind the engine's back.
        for (let q = 0; q < RUNS.ferm; q++) {
          oneLineOurs.push(
            await time(() => exec(inner, bin(backend, "restore"), restoreArgs(backend), ONE_LINE)),
          );
        }
      });
      // The floor of any reload on legacy: one rule replaced rewrites the whole table.
      for (let q = 0; q < RUNS.ferm; q++) {
        oneLine.push(
          await time(() =>
            exec(fermRunner, bin(backend, "restore"), restoreArgs(backend), ONE_LINE)
          ),
        );
      }
    });
    // Issue 14: the target is against the binaries (≤ 1.2× a raw restore of
    // the same rules); the ferm ratios are reported.
    const first = median(ourFirst) / median(rawRestore);
    row({
      measure: "7. First load from the DSL (in process) vs raw restore; ferm reported",
      backend,
      rules: k(rules),
      ours: ms(median(ourFirst)),
      raw: `raw restore ${ms(median(rawRestore))}; ferm ${ms(median(fermFirst))} (${
        ratio(median(fermFirst) / median(ourFirst))
      } slower than ours)`,
      ratio: ratio(first),
      target: "≤ 1.20× the raw restore",
      met: first <= 1.2,
    });
    const reload = median(fermReload) / median(ourReload);
    row({
      measure: "7b. Operator reload, one rule changed, vs ferm reload",
      backend,
      rules: k(rules),
      ours: `${ms(median(ourReload))}, ${reloadLines} lines`,
      raw: `ferm ${ms(median(fermReload))} (raw one-line restore: ${
        ms(median(oneLineOurs))
      } on this table, ${ms(median(oneLine))} on ferm's)`,
      ratio: `${ratio(reload)} faster`,
      target: "report",
      met: undefined,
    });
    const fresh = median(fermReload) / median(ourReloadFresh);
    row({
      measure: "7c. Same reload by a new Table (reads the kernel first, as a one-shot run)",
      backend,
      rules: k(rules),
      ours: ms(median(ourReloadFresh)),
      raw: `ferm ${ms(median(fermReload))}`,
      ratio: `${ratio(fresh)} faster`,
      target: "report",
      met: undefined,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---- 9. Large changes vs a fresh write of the result ------------------------

/** Shares of the rules changed (spread evenly over every chain); 0 stands for one rule. */
const CHANGE_SHARES = [0, 0.01, 0.1, 1];

/** The workload of `numChains` × `rulesPerChain` with a share of its rules changed. */
function withShareChanged(numChains: number, rulesPerChain: number, share: number): Chain[] {
  const step = share === 0 ? 0 : Math.max(1, Math.round(1 / share));
  const out: Chain[] = new Array(numChains);
  for (let c = 0; c < numChains; c++) {
    const rules = new Array(rulesPerChain);
    for (let i = 0; i < rulesPerChain; i++) {
      const changed = share === 0
        ? c === numChains >> 1 && i === rulesPerChain >> 1
        : i % step === step >> 1;
      rules[i] = dslRule(ruleSpec(c, i, numChains, changed ? 1 : 0));
    }
    out[c] = { name: chainName(c), rules };
  }
  return out;
}

/**
 * Issue 14's item 5: a change of any size costs at most 1.5× a fresh write of
 * the result. For each share of the rules changed, the engine's apply of the
 * change (in a warm process, as measurement 2) alternates with a first apply
 * of the same result into a fresh namespace; the change goes back and forth
 * between the two versions in one namespace, so each round is a change of the
 * same size.
 */
async function largeChanges(backend: Backend): Promise<void> {
  for (const [numChains, perChain] of [[1, 20_000], [200, 100]] as const) {
    const results: { share: number; ours: number; fresh: number; lines: number }[] = [];
    for (const share of CHANGE_SHARES) {
      const versions = [
        buildChains(numChains, perChain),
        withShareChanged(numChains, perChain, share),
      ];
      const ours: number[] = [];
      const fresh: number[] = [];
      let lines = 0;
      await withBenchNetns(async (_ns, inner) => {
        const runner = new CountingRunner(inner);
        const table = benchTable(runner, backend);
        load(table, versions[0]!);
        await table.apply();
        for (let r = 0; r < RUNS.largeChange; r++) {
          const to = versions[(r + 1) % 2]!;
          await pair(
            r,
            async () => {
              table.updateChains(to);
              const before = table.metrics().linesExecuted;
              ours.push(await time(() => table.apply()));
              lines = table.metrics().linesExecuted - before;
            },
            () =>
              withBenchNetns(async (_ns2, inner2) => {
                const first = benchTable(new CountingRunner(inner2), backend);
                load(first, to);
                fresh.push(await time(() => first.apply()));
              }),
          );
        }
      });
      results.push({ share, ours: median(ours), fresh: median(fresh), lines });
    }
    const worst = results.reduce((a, b) => b.ours / b.fresh > a.ours / a.fresh ? b : a);
    const label = (share: number) => share === 0 ? "1 rule" : `${share * 100} %`;
    const x = worst.ours / worst.fresh;
    row({
      measure: `9. A share of the rules changed (${
        numChains === 1 ? "1 chain" : `${numChains} chains`
      }) vs a fresh write of the result`,
      backend,
      rules: `${numChains} × ${perChain >= 1000 ? k(perChain) : perChain}`,
      ours: results.map((r) =>
        `${label(r.share)}: ${ms(r.ours)}, ${r.lines} lines (${ratio(r.ours / r.fresh)})`
      ).join("; "),
      raw: `fresh ${results.map((r) => ms(r.fresh)).join(", ")}`,
      ratio: `${ratio(x)} (${label(worst.share)})`,
      target: "≤ 1.5× for every share",
      met: x <= 1.5,
    });
  }
}

// ---- Machine and report -----------------------------------------------------

async function output(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "unknown";
  }
}

async function machine(): Promise<string[]> {
  const cpu = /model name\s*:\s*(.*)/.exec(await Deno.readTextFile("/proc/cpuinfo"))?.[1];
  const mem = (await output("free", ["-h"])).split("\n")[1]?.split(/\s+/)[1] ?? "unknown";
  return [
    `- CPU: ${cpu ?? "unknown"}, \`nproc\` = ${await output("nproc", [])}`,
    `- Memory (\`free -h\` total): ${mem}`,
    `- Kernel: ${await output("uname", ["-r"])}`,
    `- iptables: ${await output("iptables-nft", ["--version"])}, ${await output(
      "iptables-legacy",
      ["--version"],
    )}`,
    `- ferm: ${(await output("ferm", ["--version"])).split("\n")[0]}`,
    `- Deno: ${Deno.version.deno} (V8 ${Deno.version.v8})`,
    `- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
  ];
}

function markdown(machineLines: string[], seconds: number): string {
  const out = [
    "| Measurement | Backend | Rules | Rampart | Raw binary / peer | Ratio | Target | Met |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | :---: |",
  ];
  for (const r of rows) {
    const met = r.met === undefined ? "–" : r.met ? "yes" : "**no**";
    out.push(
      `| ${r.measure} | ${r.backend} | ${r.rules} | ${r.ours} | ${r.raw} | ${r.ratio} | ${r.target} | ${met} |`,
    );
  }
  out.push("");
  out.push(...machineLines);
  out.push(`- Total benchmark time: ${Math.round(seconds)} s${QUICK ? " (--quick)" : ""}`);
  for (const n of notes) out.push(`- Note: ${n}`);
  return out.join("\n") + "\n";
}

/** A group of measurements that runs in its own Deno process. */
type Group =
  | "small"
  | "large"
  | "perRule"
  | "pureJs"
  | "operator"
  | "changes"
  | "operatorPath20k"
  | "operatorPath100k";

/** Runs one group in this process. */
async function runGroup(group: Group, backend: Backend): Promise<void> {
  switch (group) {
    case "small":
      return await firstApply(backend, 100, RUNS.small);
    case "large":
      if (ONLY.has("m1")) {
        return await firstApply(
          backend,
          1000,
          RUNS.large,
          (table, runner, chains) => onLargeTable(backend, table, runner, chains),
        );
      }
      // Only the incremental measurements: load the 100k table once.
      return await withBenchNetns(async (_ns, inner) => {
        const runner = new CountingRunner(inner);
        const table = benchTable(runner, backend);
        const chains = buildChains(1000, RULES_PER_CHAIN);
        load(table, chains);
        await table.apply();
        await onLargeTable(backend, table, runner, chains);
      });
    case "perRule":
      return await perRule(backend);
    case "pureJs":
      return await pureJs();
    case "operator":
      return await operatorReload();
    case "changes":
      return await largeChanges(backend);
    case "operatorPath20k":
    case "operatorPath100k": {
      const numChains = group === "operatorPath20k" ? 200 : 1000;
      const options = { runs: RUNS.operator[numChains]!, row };
      if (backend === "legacy") return await operatorLegacy(numChains, options);
      return await operatorNft(numChains, options);
    }
  }
}

/**
 * Runs one group in a fresh Deno process and collects its rows: the engine
 * is timed in-process, and a group should not pay for the garbage the
 * groups before it left in the heap (a first load of 20k rules after the
 * 100k tables of measurements 1–4 spent most of its extra time in
 * collections of their garbage). An operator's reload runs in a fresh
 * process too.
 */
async function runChild(group: Group, backend: Backend): Promise<void> {
  const file = await Deno.makeTempFile({ prefix: "rp-bench-rows-", suffix: ".json" });
  try {
    const args = [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--group",
      group,
      "--backend",
      backend,
      "--only",
      [...ONLY].join(","),
      "--rows-out",
      file,
      ...(QUICK ? ["--quick"] : []),
    ];
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (out.code !== 0) throw new Error(`Benchmark group ${group} (${backend}) failed`);
    const result = JSON.parse(await Deno.readTextFile(file)) as { rows: Row[]; notes: string[] };
    rows.push(...result.rows);
    notes.push(...result.notes);
  } finally {
    await Deno.remove(file);
  }
}

async function main(): Promise<void> {
  if (flags.group !== undefined) {
    await runGroup(flags.group as Group, BACKENDS[0]!);
    await Deno.writeTextFile(flags["rows-out"]!, JSON.stringify({ rows, notes }));
    return;
  }
  const available = await kernelAvailability();
  if (!available.ok) {
    console.error(`Benchmarks need the kernel: ${available.reason}`);
    Deno.exit(1);
  }
  const t0 = performance.now();
  for (const backend of BACKENDS) {
    console.error(`# ${backend}`);
    if (ONLY.has("m1")) await runChild("small", backend);
    if (["m1", "m2", "m3", "m4"].some((m) => ONLY.has(m))) await runChild("large", backend);
    if (ONLY.has("m5")) await runChild("perRule", backend);
    if (ONLY.has("m9")) await runChild("changes", backend);
    if (ONLY.has("m8")) {
      await runChild("operatorPath20k", backend);
      await runChild("operatorPath100k", backend);
    }
  }
  if (ONLY.has("m6")) await runChild("pureJs", "nft");
  if (ONLY.has("m7") && BACKENDS.includes("legacy")) await runChild("operator", "legacy");
  const md = markdown(await machine(), (performance.now() - t0) / 1000);
  console.log(md);
  if (flags.out !== undefined) await Deno.writeTextFile(flags.out, md);
}

await main();
