/**
 * Measurement 8: the operator's path as whole processes. Every run of
 * `rampart` is a new `deno run -A --v8-flags=… src/cli/main.ts …` process (the V8
 * flags of `deno task cli` and of the installed command, from
 * `src/cli/v8_flags.ts`; Deno start-up, module loading and the YAML file
 * included), started inside the namespace with
 * `ip netns exec` as an operator (or a config-management tool) runs it on a
 * host; its peer is a whole `ferm` process on the same rules (legacy), or the
 * raw `iptables-nft-save` + `iptables-nft-restore` processes of the same
 * script (nft). Wall time is taken around the process by this script; peak
 * RSS by `/usr/bin/time` (for ferm, the largest of ferm and the
 * `iptables-restore` it runs).
 *
 * @module
 */
import { median, ms, pair, withBenchNetns } from "./harness.ts";
import { fermConfig, yamlPolicy } from "./workload.ts";
import { RAMPART_V8_FLAGS } from "../../src/cli/v8_flags.ts";

/** One row of the results table (as `run.ts` prints it). */
export interface OperatorRow {
  measure: string;
  backend: string;
  rules: string;
  ours: string;
  raw: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
}

/** Rounds and the place to put rows. */
export interface OperatorOptions {
  /** Timed rounds per comparison (an untimed warm-up round comes first). */
  runs: number;
  /** Receives each row. */
  row(r: OperatorRow): void;
}

const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const RULES_PER_CHAIN = 100;
const MIB = 1024;

/** What one process took. */
interface Run {
  ms: number;
  /** Peak resident set, KiB. */
  rssKib: number;
  stdout: string;
}

/**
 * Runs `cmd args` inside `netns` as a whole process (with `/usr/bin/time`
 * for its peak RSS), timing it from spawn to exit; throws on failure.
 */
async function whole(
  netns: string,
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<Run> {
  const rssFile = await Deno.makeTempFile({ prefix: "rp-bench-rss-" });
  try {
    const t0 = performance.now();
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", netns, "/usr/bin/time", "-o", rssFile, "-f", "%M", cmd, ...args],
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const out = await child.output();
    const elapsed = performance.now() - t0;
    const dec = new TextDecoder();
    if (out.code !== 0) {
      throw new Error(
        `${cmd} ${args.join(" ")} failed (${out.code}): ${dec.decode(out.stderr).slice(-800)}`,
      );
    }
    const rss = Number((await Deno.readTextFile(rssFile)).trim().split("\n").at(-1));
    return { ms: elapsed, rssKib: rss, stdout: dec.decode(out.stdout) };
  } finally {
    await Deno.remove(rssFile);
  }
}

/** `rampart <args>` as an operator runs it (inside the namespace, its own state directory). */
function rampart(netns: string, stateDir: string, args: string[]): Promise<Run> {
  return whole(netns, Deno.execPath(), [
    "run",
    "-A",
    `--v8-flags=${RAMPART_V8_FLAGS}`,
    `--config=${CONFIG}`,
    CLI,
    ...args,
    "--state-dir",
    stateDir,
  ]);
}

/** Median, with the spread of the rounds. */
function spread(xs: number[]): string {
  if (xs.length < 2) return ms(median(xs));
  return `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;
}

function mib(kib: number[]): string {
  return `${Math.round(median(kib) / MIB)} MiB`;
}

function k(rules: number): string {
  return `${Math.round(rules / 1000)}k`;
}

/** Collects the runs of one side of a comparison. */
class Side {
  readonly ms: number[] = [];
  readonly rss: number[] = [];
  add(r: Run, timed: boolean): Run {
    if (timed) {
      this.ms.push(r.ms);
      this.rss.push(r.rssKib);
    }
    return r;
  }
  get median(): number {
    return median(this.ms);
  }
  text(): string {
    return `${spread(this.ms)}, ${mib(this.rss)}`;
  }
}

/** An edit of one rule (a different port in rule 50 of chain 100, or of the middle chain). */
function edit(numChains: number, variant: number) {
  return { chain: Math.min(100, numChains >> 1), rule: 50, variant };
}

/**
 * Measurement 8 on legacy: first load, reload with one rule changed and
 * `plan` with nothing to do, `rampart` against `ferm`, each a whole process.
 */
export async function operatorLegacy(numChains: number, options: OperatorOptions): Promise<void> {
  const rules = numChains * RULES_PER_CHAIN + 1;
  const dir = await Deno.makeTempDir({ prefix: "rp-bench-op-" });
  const policy = (variant: number) =>
    yamlPolicy(numChains, RULES_PER_CHAIN, variant === 0 ? undefined : edit(numChains, variant));
  const ferm = (variant: number) =>
    fermConfig(numChains, RULES_PER_CHAIN, variant === 0 ? undefined : edit(numChains, variant));
  const apply = ["apply", `${dir}/policy.yaml`, "--yes", "--backend", "legacy"];
  try {
    await Deno.writeTextFile(`${dir}/policy.yaml`, policy(0));
    await Deno.writeTextFile(`${dir}/ferm.conf`, ferm(0));
    const oursFirst = new Side();
    const fermFirst = new Side();
    const rawRestore = new Side();
    let script = "";
    // First loads, each into a fresh namespace; round -1 is an untimed warm-up.
    for (let r = -1; r < options.runs; r++) {
      const timed = r >= 0;
      await pair(
        r + 1,
        () =>
          withBenchNetns(async (ns) => {
            fermFirst.add(await whole(ns, "ferm", [`${dir}/ferm.conf`]), timed);
          }),
        () =>
          withBenchNetns(async (ns) => {
            const state = await Deno.makeTempDir({ dir, prefix: "state-" });
            if (script === "") {
              // Untimed: the script the first load writes, for the raw restore.
              const plan = await rampart(ns, state, [
                "plan",
                apply[1]!,
                "--backend",
                "legacy",
                "--json",
              ]);
              script = JSON.parse(plan.stdout).tables.find((t: { table: string }) =>
                t.table === "filter"
              ).script;
            }
            oursFirst.add(await rampart(ns, state, apply), timed);
          }),
      );
      await withBenchNetns(async (ns) => {
        rawRestore.add(
          await whole(ns, "iptables-legacy-restore", ["--noflush", "--wait", "10"], script),
          timed,
        );
      });
    }
    const first = fermFirst.median / oursFirst.median;
    options.row({
      measure: "8. Operator first load, whole processes, vs ferm",
      backend: "legacy",
      rules: k(rules),
      ours: oursFirst.text(),
      raw: `ferm ${fermFirst.text()} (raw restore ${rawRestore.text()})`,
      ratio: `${first.toFixed(2)}× faster`,
      target: "≥ 3× faster",
      met: first >= 3,
    });

    // Reloads with one rule changed, and plans with nothing to do: one live
    // namespace each for ferm and Rampart, alternating.
    const oursReload = new Side();
    const fermReload = new Side();
    const oursPlan = new Side();
    const rawSave = new Side();
    await withBenchNetns(async (fermNs) => {
      await whole(fermNs, "ferm", [`${dir}/ferm.conf`]);
      await withBenchNetns(async (ns) => {
        const state = await Deno.makeTempDir({ dir, prefix: "state-" });
        await rampart(ns, state, apply);
        for (let r = -1; r < options.runs; r++) {
          const timed = r >= 0;
          const variant = r + 2;
          await pair(
            r + 1,
            async () => {
              await Deno.writeTextFile(`${dir}/ferm.conf`, ferm(variant));
              fermReload.add(await whole(fermNs, "ferm", [`${dir}/ferm.conf`]), timed);
            },
            async () => {
              await Deno.writeTextFile(`${dir}/policy.yaml`, policy(variant));
              const run = oursReload.add(await rampart(ns, state, apply), timed);
              if (!run.stdout.includes("Applied")) throw new Error(`No reload: ${run.stdout}`);
            },
          );
        }
        for (let r = -1; r < options.runs; r++) {
          const timed = r >= 0;
          await pair(
            r + 1,
            async () => {
              const run = oursPlan.add(
                await rampart(ns, state, ["plan", `${dir}/policy.yaml`, "--backend", "legacy"]),
                timed,
              );
              if (!run.stdout.startsWith("Nothing to do")) {
                throw new Error(`The plan is not empty: ${run.stdout.slice(0, 300)}`);
              }
            },
            async () =>
              rawSave.add(await whole(ns, "iptables-legacy-save", ["-t", "filter"]), timed),
          );
        }
      });
    });
    const reload = fermReload.median / oursReload.median;
    options.row({
      measure: "8b. Operator reload, one rule changed, whole processes, vs ferm",
      backend: "legacy",
      rules: k(rules),
      ours: oursReload.text(),
      raw: `ferm ${fermReload.text()}`,
      ratio: `${reload.toFixed(2)}× faster`,
      target: "≥ 4× faster",
      met: reload >= 4,
    });
    options.row({
      measure: "8c. Operator `plan` with nothing to do, whole process",
      backend: "legacy",
      rules: k(rules),
      ours: oursPlan.text(),
      raw: `raw \`iptables-legacy-save\` ${rawSave.text()}`,
      ratio: `${(oursPlan.median / rawSave.median).toFixed(2)}×`,
      target: "report",
      met: undefined,
    });
    if (numChains <= 200) {
      const peak = Math.max(median(oursFirst.rss), median(oursReload.rss), median(oursPlan.rss));
      options.row({
        measure: "8d. Peak RSS of the operator's commands (first load, reload, plan)",
        backend: "legacy",
        rules: k(rules),
        ours: `${mib(oursFirst.rss)}, ${mib(oursReload.rss)}, ${mib(oursPlan.rss)}`,
        raw: `ferm ${mib(fermFirst.rss)}, ${mib(fermReload.rss)}`,
        ratio: "–",
        target: "≤ 150 MiB",
        met: peak <= 150 * MIB,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Measurement 8 on nft: first load, reload with one rule changed and `plan`
 * with nothing to do, `rampart` against the raw `iptables-nft-save` and
 * `iptables-nft-restore` processes of the same script.
 */
export async function operatorNft(numChains: number, options: OperatorOptions): Promise<void> {
  const rules = numChains * RULES_PER_CHAIN + 1;
  const dir = await Deno.makeTempDir({ prefix: "rp-bench-op-" });
  const file = `${dir}/policy.yaml`;
  const policy = (variant: number) =>
    yamlPolicy(numChains, RULES_PER_CHAIN, variant === 0 ? undefined : edit(numChains, variant));
  const apply = ["apply", file, "--yes", "--backend", "nft"];
  const planJson = ["plan", file, "--backend", "nft", "--json"];
  const filterScript = (run: Run) =>
    JSON.parse(run.stdout).tables.find((t: { table: string }) => t.table === "filter").script;
  const raw = async (ns: string, script: string) => {
    const t0 = performance.now();
    const save = await whole(ns, "iptables-nft-save", ["-t", "filter"]);
    const restore = await whole(ns, "iptables-nft-restore", ["--noflush"], script);
    return {
      ms: performance.now() - t0,
      rssKib: Math.max(save.rssKib, restore.rssKib),
      stdout: "",
    };
  };
  try {
    await Deno.writeTextFile(file, policy(0));
    const oursFirst = new Side();
    const rawFirst = new Side();
    let script = "";
    for (let r = -1; r < options.runs; r++) {
      const timed = r >= 0;
      await pair(
        r + 1,
        () =>
          withBenchNetns(async (ns) => {
            const state = await Deno.makeTempDir({ dir, prefix: "state-" });
            if (script === "") script = filterScript(await rampart(ns, state, planJson));
            oursFirst.add(await rampart(ns, state, apply), timed);
          }),
        () =>
          withBenchNetns(async (ns) => {
            if (script === "") {
              const state = await Deno.makeTempDir({ dir, prefix: "state-" });
              script = filterScript(await rampart(ns, state, planJson));
            }
            rawFirst.add(await raw(ns, script), timed);
          }),
      );
    }
    const first = oursFirst.median / rawFirst.median;
    options.row({
      measure: "8. Operator first load, whole processes, vs raw save + restore processes",
      backend: "nft",
      rules: k(rules),
      ours: oursFirst.text(),
      raw: rawFirst.text(),
      ratio: `${first.toFixed(2)}×`,
      target: numChains >= 1000 ? "≤ 1.5×" : "report",
      met: numChains >= 1000 ? first <= 1.5 : undefined,
    });

    // Reloads: Rampart applies one variant, the raw pair the script of the
    // next (planned untimed just before), so each is a one-rule change.
    const oursReload = new Side();
    const rawReload = new Side();
    const oursPlan = new Side();
    const rawSave = new Side();
    await withBenchNetns(async (ns) => {
      const state = await Deno.makeTempDir({ dir, prefix: "state-" });
      await rampart(ns, state, apply);
      let variant = 1;
      for (let r = -1; r < options.runs; r++) {
        const timed = r >= 0;
        await pair(
          r + 1,
          async () => {
            await Deno.writeTextFile(file, policy(++variant));
            const run = oursReload.add(await rampart(ns, state, apply), timed);
            if (!run.stdout.includes("Applied")) throw new Error(`No reload: ${run.stdout}`);
          },
          async () => {
            await Deno.writeTextFile(file, policy(++variant));
            const script = filterScript(await rampart(ns, state, planJson));
            rawReload.add(await raw(ns, script), timed);
          },
        );
      }
      // The kernel and the file now hold the last variant either side wrote.
      for (let r = -1; r < options.runs; r++) {
        const timed = r >= 0;
        await pair(
          r + 1,
          async () => {
            const run = oursPlan.add(
              await rampart(ns, state, ["plan", file, "--backend", "nft"]),
              timed,
            );
            if (!run.stdout.startsWith("Nothing to do")) {
              throw new Error(`The plan is not empty: ${run.stdout.slice(0, 300)}`);
            }
          },
          async () => rawSave.add(await whole(ns, "iptables-nft-save", ["-t", "filter"]), timed),
        );
      }
    });
    options.row({
      measure: "8b. Operator reload, one rule changed, vs raw save + restore of its script",
      backend: "nft",
      rules: k(rules),
      ours: oursReload.text(),
      raw: rawReload.text(),
      ratio: `${(oursReload.median / rawReload.median).toFixed(2)}×`,
      target: "report",
      met: undefined,
    });
    options.row({
      measure: "8c. Operator `plan` with nothing to do, whole process",
      backend: "nft",
      rules: k(rules),
      ours: oursPlan.text(),
      raw: `raw \`iptables-nft-save\` ${rawSave.text()}`,
      ratio: `${(oursPlan.median / rawSave.median).toFixed(2)}×`,
      target: "report",
      met: undefined,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
