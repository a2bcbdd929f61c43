/**
 * The desired state of a firewall's tables as one {@linkcode Policy}, after
 * the REPL edited the tables directly (`filter.updateChain(…)`).
 *
 * @module
 */
import { renderAppend, type Rule } from "../../dsl/rule.ts";
import type { Firewall } from "../policy/firewall.ts";
import { KERNEL_CHAINS, TABLE_NAMES, type TableName } from "../../dsl/kernel_chains.ts";
import type {
  ChainPolicy,
  IpFamily,
  Policy,
  PolicyChain,
  PolicyRule,
  TablePolicy,
} from "../policy/policy.ts";
import type { Table } from "../engine/table.ts";

function tagged(rule: Rule, ipVersion: IpFamily): PolicyRule {
  return { ...rule, ipVersion };
}

/**
 * Merges the IPv4 and IPv6 versions of a rule list: rules both have (by
 * rendered text, in a longest common subsequence) stay untagged, the others
 * are tagged with their family.
 */
function mergeRules(chain: string, v4: readonly Rule[], v6: readonly Rule[]): PolicyRule[] {
  const a = v4.map((r) => renderAppend(r, chain));
  const b = v6.map((r) => renderAppend(r, chain));
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j]
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: PolicyRule[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(v4[i]!);
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(tagged(v4[i]!, 4));
      i++;
    } else {
      out.push(tagged(v6[j]!, 6));
      j++;
    }
  }
  return out;
}

interface FamilyState {
  chains: Map<string, readonly Rule[]>;
  insertions: Record<string, readonly Rule[]>;
  appends: Record<string, readonly Rule[]>;
  policies: Record<string, ChainPolicy>;
}

function stateOf(table: Table): FamilyState {
  const insertions: Record<string, readonly Rule[]> = {};
  const appends: Record<string, readonly Rule[]> = {};
  for (const k of KERNEL_CHAINS[table.name]) {
    const ins = table.insertions(k);
    const app = table.appends(k);
    if (ins.length > 0) insertions[k] = ins;
    if (app.length > 0) appends[k] = app;
  }
  return {
    chains: new Map(table.chains().map((c) => [c.name, c.rules])),
    insertions,
    appends,
    policies: Object.fromEntries(table.policies()),
  };
}

function isEmpty(s: FamilyState): boolean {
  return s.chains.size === 0 && Object.keys(s.insertions).length === 0 &&
    Object.keys(s.appends).length === 0 && Object.keys(s.policies).length === 0;
}

function mergeLists(
  a: Record<string, readonly Rule[]>,
  b: Record<string, readonly Rule[]>,
): Record<string, PolicyRule[]> {
  const out: Record<string, PolicyRule[]> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    out[k] = mergeRules(k, a[k] ?? [], b[k] ?? []);
  }
  return out;
}

/**
 * Reads the desired state of the given tables of a firewall back into one
 * policy for both families: what is the same in IPv4 and IPv6 is written
 * once, the rest is tagged with its family. Built-in chain policies that
 * differ between the families keep the IPv4 one (the policy format has one
 * per table), reported through `warnings`.
 *
 * @param firewall The firewall.
 * @param tables The tables and families to read (those the session used).
 * @returns The policy and any warnings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Drop, Firewall } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import { desiredPolicy } from "@rampart/iptables/repl";
 * const firewall = new Firewall({ runner: new FakeDataplane().runner, backend: "nft" });
 * firewall.table("filter", 4).updateChain({ name: "rp-in", rules: [{ action: Drop() }] });
 * const { policy } = desiredPolicy(firewall, [{ table: "filter", ipVersion: 4 }]);
 * assert.equal(policy.tables[0]?.ipVersion, 4);
 * assert.equal(policy.tables[0]?.chains[0]?.name, "rp-in");
 * ```
 */
export function desiredPolicy(
  firewall: Firewall,
  tables: readonly { table: TableName; ipVersion: IpFamily }[],
): { policy: Policy; warnings: string[] } {
  const warnings: string[] = [];
  const out: TablePolicy[] = [];
  for (const name of TABLE_NAMES) {
    const per = new Map<IpFamily, FamilyState>();
    for (const v of [4, 6] as const) {
      if (!tables.some((t) => t.table === name && t.ipVersion === v)) continue;
      const s = stateOf(firewall.table(name, v));
      if (!isEmpty(s)) per.set(v, s);
    }
    const v4 = per.get(4);
    const v6 = per.get(6);
    if (v4 === undefined && v6 === undefined) continue;
    if (v4 === undefined || v6 === undefined) {
      const [v, s] = v4 !== undefined ? [4 as const, v4] : [6 as const, v6!];
      out.push({
        table: name,
        ipVersion: v,
        chains: [...s.chains].map(([c, rules]) => ({ name: c, rules: [...rules] })),
        insertions: Object.fromEntries(Object.entries(s.insertions).map(([k, r]) => [k, [...r]])),
        appends: Object.fromEntries(Object.entries(s.appends).map(([k, r]) => [k, [...r]])),
        policies: s.policies,
      });
      continue;
    }
    const chains: PolicyChain[] = [];
    for (const c of [...new Set([...v4.chains.keys(), ...v6.chains.keys()])].sort()) {
      const a = v4.chains.get(c);
      const b = v6.chains.get(c);
      if (a !== undefined && b !== undefined) chains.push({ name: c, rules: mergeRules(c, a, b) });
      else if (a !== undefined) chains.push({ name: c, ipVersion: 4, rules: [...a] });
      else chains.push({ name: c, ipVersion: 6, rules: [...b!] });
    }
    const policies: Record<string, ChainPolicy> = { ...v6.policies, ...v4.policies };
    for (const k of Object.keys(policies)) {
      if (v4.policies[k] !== v6.policies[k]) {
        warnings.push(
          `Chain ${k} of table ${name} has policy ${v4.policies[k] ?? "(none)"} for IPv4 but ` +
            `${v6.policies[k] ?? "(none)"} for IPv6: the policy format keeps one (${policies[k]})`,
        );
      }
    }
    out.push({
      table: name,
      chains,
      insertions: mergeLists(v4.insertions, v6.insertions),
      appends: mergeLists(v4.appends, v6.appends),
      policies,
    });
  }
  return { policy: { ipVersions: [4, 6], tables: out }, warnings };
}
