/**
 * Render + hash throughput of the DSL: 100k realistic rules in 1000 chains of
 * 100 (multiport, ipsets, marks, comments). Issue 2 targets ≥ 300k rules/s,
 * issue 7 ≥ 500k rules/s. Run with `deno bench -A tests/bench/dsl_bench.ts`;
 * rules/s = 100000 / (time per iteration in s).
 */
import {
  Accept,
  calculateRuleHashes,
  calculateRuleIds,
  type Chain,
  Drop,
  Jump,
  Log,
  Match,
  renderAppend,
  type Rule,
  SetMark,
} from "../../mod.ts";

const CHAINS = 1000;
const RULES_PER_CHAIN = 100;

function realisticRule(c: number, i: number): Rule {
  const n = c * RULES_PER_CHAIN + i;
  switch (i % 5) {
    case 0:
      return {
        match: Match().protocol("tcp").sourceIpSet(`rp40s:${n.toString(36)}abc`)
          .destPorts(80, 443, 8000 + (n % 1000)),
        action: Accept(),
        comment: `policy default.allow-web-${c} rule ${i}`,
      };
    case 1:
      return {
        match: Match().protocol("udp").destNet(`10.${c % 256}.${i}.0/24`)
          .destPortRanges([{ first: 53, last: 53 }, { first: 30000, last: 32767 }]),
        action: SetMark(0x10000),
        comment: "dns and node ports",
      };
    case 2:
      return {
        match: Match().markClear(0x10000).inInterface("cali+").conntrackState("NEW"),
        action: Jump(`rp-pi-${c}-${i}`),
      };
    case 3:
      return {
        match: Match().notDestIpSet(`rp40d:${n.toString(36)}`).markSingleBitSet(0x20000),
        action: Log(`drop ${c}`),
      };
    default:
      return { match: Match().protocol("icmp").icmpTypeAndCode(3, 4), action: Drop() };
  }
}

const chains: Chain[] = Array.from({ length: CHAINS }, (_, c) => ({
  name: `rp-chain-${c}`,
  rules: Array.from({ length: RULES_PER_CHAIN }, (_, i) => realisticRule(c, i)),
}));

/** What the engine does per chain: compute the IDs, then render every rule with its ID. */
function renderAndHash(): number {
  let bytes = 0;
  for (const chain of chains) {
    const ids = calculateRuleIds(chain.name, chain.rules);
    for (let i = 0; i < chain.rules.length; i++) {
      bytes += renderAppend(chain.rules[i]!, chain.name, { hash: ids[i]!, hashPrefix: "rampart:" })
        .length;
    }
  }
  return bytes;
}

Deno.bench({
  name: "render + hash 100k rules (1000 chains × 100)",
  n: 20,
  warmup: 3,
  fn() {
    renderAndHash();
  },
});

Deno.bench({
  name: "hash only, 100k rules (stable IDs, the default)",
  n: 20,
  warmup: 3,
  fn() {
    for (const chain of chains) calculateRuleIds(chain.name, chain.rules);
  },
});

Deno.bench({
  name: "hash only, 100k rules (chained IDs)",
  n: 20,
  warmup: 3,
  fn() {
    for (const chain of chains) calculateRuleHashes(chain.name, chain.rules);
  },
});

Deno.bench({
  name: "build 100k rules with the DSL (validation included)",
  n: 10,
  warmup: 2,
  fn() {
    for (let c = 0; c < CHAINS; c++) {
      for (let i = 0; i < RULES_PER_CHAIN; i++) realisticRule(c, i);
    }
  },
});
