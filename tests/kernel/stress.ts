/**
 * Stress run (not part of `deno task test`): programs 100k rules through a
 * real iptables backend in a private network namespace, then changes one
 * rule, re-applies with nothing to do, and cleans up. Prints the time of each
 * step and the process's peak memory. Runs on both backends by default.
 *
 * ```sh
 * deno task stress                      # 100000 rules, nft and legacy, IPv4
 * deno task stress --rules 20000 --backend legacy --ip-version 6
 * ```
 *
 * Needs root (it creates `rp-stress-*` namespaces and always deletes them).
 *
 * @module
 */
import { parseArgs } from "parse-args";
import { Accept, Drop, Jump, Match, type Rule, Table } from "../../mod.ts";
import { binary, nsExec, withNetns } from "./netns.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rules: { type: "string", default: "100000" },
    "rules-per-chain": { type: "string", default: "100" },
    backend: { type: "string", default: "both" },
    "ip-version": { type: "string", default: "4" },
  },
});
const TOTAL = Number(values.rules);
const PER_CHAIN = Number(values["rules-per-chain"]);
const IP_VERSION = Number(values["ip-version"]) === 6 ? 6 : 4;
const BACKENDS: ("nft" | "legacy")[] = values.backend === "both"
  ? ["nft", "legacy"]
  : [values.backend as "nft" | "legacy"];

let peakRss = 0;
function sample(): void {
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
}
const sampler = setInterval(sample, 20);

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function chainRules(c: number, variant: number): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < PER_CHAIN; i++) {
    const n = c * PER_CHAIN + i;
    const net = IP_VERSION === 4
      ? `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
      : `2001:db8::${n.toString(16)}`;
    rules.push({
      match: Match().protocol(i % 2 === 0 ? "tcp" : "udp").sourceNet(net).destPorts(
        1 + ((n + variant) % 65535),
      ),
      action: i % 7 === 0 ? Drop() : Accept(),
    });
  }
  return rules;
}

async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  sample();
  console.log(`  ${label.padEnd(34)} ${(performance.now() - t0).toFixed(0).padStart(7)} ms`);
  return result;
}

async function stress(backend: "nft" | "legacy"): Promise<void> {
  const chains = Math.ceil(TOTAL / PER_CHAIN);
  console.log(`${backend}, IPv${IP_VERSION}: ${chains * PER_CHAIN} rules in ${chains} chains`);
  await withNetns(async (netns) => {
    const table = new Table("filter", {
      netns,
      backend,
      ipVersion: IP_VERSION,
      chainPrefixes: ["rp-"],
      hashPrefix: "rampart:",
      commandTimeoutMs: 600_000,
    });
    const names: string[] = [];
    await step("build desired state", () => {
      for (let c = 0; c < chains; c++) {
        const name = `rp-s${c}`;
        names.push(name);
        table.updateChain({ name, rules: chainRules(c, 0) });
      }
      table.updateChain({ name: "rp-root", rules: names.map((n) => ({ action: Jump(n) })) });
      table.setRuleInsertions("INPUT", [{ action: Jump("rp-root") }]);
      return Promise.resolve();
    });
    await step("first apply (write everything)", () => table.apply());
    const save = await step(
      "iptables-save (for comparison)",
      () => nsExec(netns, binary({ backend, ipVersion: IP_VERSION }, "save"), ["-t", "filter"]),
    );
    const written = save.split("\n").filter((l) => l.startsWith("-A ")).length;
    if (written !== chains * PER_CHAIN + chains + 1) {
      throw new Error(`Expected ${chains * PER_CHAIN + chains + 1} rules, found ${written}`);
    }
    await step("apply with nothing to do", () => table.apply());
    table.invalidateDataplaneCache("stress");
    await step("re-read and check (plan)", async () => {
      const script = await table.plan();
      if (script !== "") {
        throw new Error(`Not in sync after the first apply:\n${script.slice(0, 500)}`);
      }
    });
    const middle = Math.floor(chains / 2);
    table.updateChain({ name: names[middle]!, rules: chainRules(middle, 1) });
    await step("change one chain (100 -R)", () => table.apply());
    const last = chainRules(chains - 1, 0);
    last[PER_CHAIN - 1] = { action: Drop() };
    table.updateChain({ name: names[chains - 1]!, rules: last });
    await step("change one rule", () => table.apply());
    await step("clean up", () => table.cleanUp());
    const after = await nsExec(netns, binary({ backend, ipVersion: IP_VERSION }, "save"), [
      "-t",
      "filter",
    ]);
    if (after.includes("rampart:")) throw new Error("cleanUp() left rules behind");
    const m = table.metrics();
    console.log(
      `  restores ${m.restoreCalls}, saves ${m.saveCalls}, lines written ${m.linesExecuted}, ` +
        `restore errors ${m.restoreErrors}`,
    );
  });
}

try {
  const t0 = performance.now();
  for (const backend of BACKENDS) await stress(backend);
  sample();
  console.log(
    `total ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${mib(peakRss)} ` +
      `(heap now ${mib(Deno.memoryUsage().heapUsed)})`,
  );
} finally {
  clearInterval(sampler);
}
