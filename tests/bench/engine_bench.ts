/**
 * Pure-JS parts of the engine at 100k rules (1000 chains × 100, the workload
 * of `run.ts`), without the kernel: render + hash, parsing iptables-save
 * output, planning a one-rule change, and `apply()` against a stub runner.
 * Run with `deno bench -A tests/bench/engine_bench.ts` (or `deno task bench`,
 * which also runs the kernel benchmarks of `run.ts`).
 *
 * @module
 */
import {
  calculateRuleIds,
  type Chain,
  type CommandRunner,
  parseSave,
  renderAppend,
  Table,
} from "../../mod.ts";
import { buildChains, dslRule, IP_SETS, rootJump, ruleSpec, setName } from "./workload.ts";

const CHAINS = 1000;
const RULES = 100;
const PREFIX = "rampart:";
const chains: Chain[] = buildChains(CHAINS, RULES);

/** What iptables-save prints for the workload (the engine reads only names and IDs). */
function savedText(): string {
  const out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"];
  for (const chain of chains) out.push(`:${chain.name} - [0:0]`);
  for (const chain of chains) {
    const ids = calculateRuleIds(chain.name, chain.rules);
    chain.rules.forEach((rule, i) =>
      out.push(renderAppend(rule, chain.name, { hash: ids[i]!, hashPrefix: PREFIX }))
    );
  }
  out.push("COMMIT");
  return out.join("\n") + "\n";
}
const SAVED = savedText();

/** An empty kernel that accepts every restore, and knows the workload's IP sets. */
function stubRunner(): CommandRunner {
  const sets = Array.from({ length: IP_SETS }, (_, i) => setName(i)).join("\n") + "\n";
  return {
    run(cmd, args) {
      let stdout = "";
      if (args.includes("--version")) stdout = "iptables v1.8.9 (legacy)\n";
      else if (cmd.endsWith("-save")) {
        stdout =
          "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
      } else if (cmd === "ipset") stdout = sets;
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
  };
}

function newTable(): Table {
  const table = new Table("filter", {
    runner: stubRunner(),
    backend: "legacy",
    refreshIntervalMs: 0,
    postWriteIntervalMs: 3_600_000,
  });
  table.updateChains(chains);
  table.setRuleInsertions("INPUT", [rootJump()]);
  return table;
}

Deno.bench({
  name: "render + hash 100k rules (IDs, then script lines)",
  group: "pure",
  n: 10,
  warmup: 2,
  fn() {
    for (const chain of chains) {
      const ids = calculateRuleIds(chain.name, chain.rules);
      for (let i = 0; i < chain.rules.length; i++) {
        renderAppend(chain.rules[i]!, chain.name, { hash: ids[i]!, hashPrefix: PREFIX });
      }
    }
  },
});

Deno.bench({
  name: "parse a 100k-rule iptables-save (names and IDs only)",
  group: "pure",
  n: 10,
  warmup: 2,
  fn() {
    parseSave(SAVED, { hashPrefix: PREFIX, isOwnedChain: (c) => c.startsWith("rp-") });
  },
});

Deno.bench({
  name: "first apply() of 100k rules, stub runner (plan + script)",
  group: "apply",
  n: 5,
  warmup: 1,
  async fn() {
    await newTable().apply();
  },
});

const inSync = newTable();
await inSync.apply();
let variant = 0;

Deno.bench({
  name: "apply() after one rule changed in a 100k-rule table, stub runner",
  group: "apply",
  n: 50,
  warmup: 5,
  async fn(b) {
    const c = 500;
    const edited = dslRule(ruleSpec(c, RULES - 1, CHAINS, ++variant));
    const chain = chains[c]!;
    inSync.updateChain({
      name: chain.name,
      rules: chain.rules.map((r, i) => i === RULES - 1 ? edited : r),
    });
    b.start();
    await inSync.apply();
    b.end();
  },
});

Deno.bench({
  name: "no-op apply() of a 100k-rule table (cache in sync)",
  group: "apply",
  n: 1000,
  warmup: 10,
  async fn() {
    await inSync.apply();
  },
});
