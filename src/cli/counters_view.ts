/**
 * `rampart show --counters`: our rules and the built-in chains' policies with
 * their packet and byte counters, table by table, chain by chain.
 *
 * @module
 */
import {
  type PolicyCounters,
  type RuleCounters,
  ruleWithoutId,
  type TableCounters,
} from "./counters.ts";

/** Options of {@linkcode renderCounters}. */
export interface RenderCountersOptions {
  /** The backend of each family (shown in the table headings). */
  backends?: Partial<Record<4 | 6, string>>;
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Rule sources were looked up (policy files given): a rule without one is marked. */
  withSources?: boolean;
  /** ANSI colours. @default {false} */
  color?: boolean;
}

type Row = { packets: string; bytes: string; chain: string; text: string; zero: boolean };

/** Rows in save order: each built-in chain's policy, then our rules in it; then our chains. */
function rows(t: TableCounters, options: RenderCountersOptions): Row[] {
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const byChain = new Map<string, RuleCounters[]>();
  for (const r of t.rules) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r]);
  const out: Row[] = [];
  const ruleRow = (r: RuleCounters): Row => {
    const where = r.source ?? (options.withSources === true ? "(not in the files)" : undefined);
    const text = [
      `#${r.position}`,
      r.id ?? "(no ID)",
      ...(where === undefined ? [] : [where]),
      ruleWithoutId(r.rule, r.id, hashPrefix),
    ].join(" ");
    return {
      packets: String(r.packets),
      bytes: String(r.bytes),
      chain: r.chain,
      text,
      zero: r.packets === 0,
    };
  };
  // iptables-nft keeps no counters for a chain's policy (it saves [0:0]):
  // shown as "-", not as a count of 0.
  const uncounted = options.backends?.[t.ipVersion] === "nft";
  const policyRow = (p: PolicyCounters): Row => {
    const none = uncounted && p.packets === 0 && p.bytes === 0;
    return {
      packets: none ? "-" : String(p.packets),
      bytes: none ? "-" : String(p.bytes),
      chain: p.chain,
      text: `policy ${p.policy}`,
      zero: p.packets === 0,
    };
  };
  for (const p of t.policies) {
    out.push(policyRow(p));
    for (const r of byChain.get(p.chain) ?? []) out.push(ruleRow(r));
    byChain.delete(p.chain);
  }
  for (const rules of byChain.values()) for (const r of rules) out.push(ruleRow(r));
  return out;
}

/**
 * Renders counters as `rampart show --counters` prints them: per table and
 * family a heading, then one line per built-in chain policy and per rule of
 * ours, with packets, bytes, chain, position, rule ID, `file:line` (with
 * files) and the rule as the kernel holds it.
 *
 * @param tables The counters (tables without rules of ours are left out).
 * @param options Backends, ID prefix, sources and colours.
 * @returns The text (`""` when no table has rules of ours).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCounters, renderCounters } from "@rampart/iptables/cli";
 * const tables = parseCounters(
 *   '*filter\n:INPUT ACCEPT [7:420]\n[3:180] -A INPUT -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j DROP\nCOMMIT\n',
 *   { ipVersion: 4 },
 * );
 * assert.equal(
 *   renderCounters(tables, { backends: { 4: "legacy" } }),
 *   [
 *     "filter (IPv4, legacy)",
 *     "  packets  bytes  chain  rule",
 *     "        7    420  INPUT  policy ACCEPT",
 *     "        3    180  INPUT  #1 Cz_u1IQiXIMmKD4c -j DROP",
 *   ].join("\n"),
 * );
 * ```
 */
export function renderCounters(
  tables: readonly TableCounters[],
  options: RenderCountersOptions = {},
): string {
  const color = options.color === true;
  const paint = (code: string, text: string) => color ? `\x1b[${code}m${text}\x1b[0m` : text;
  const parts: string[] = [];
  for (const t of tables) {
    if (t.rules.length === 0) continue;
    const backend = options.backends?.[t.ipVersion];
    const heading = `${t.table} (IPv${t.ipVersion}${backend === undefined ? "" : `, ${backend}`})`;
    const lines = rows(t, options);
    const pw = Math.max("packets".length, ...lines.map((l) => l.packets.length));
    const bw = Math.max("bytes".length, ...lines.map((l) => l.bytes.length));
    const cw = Math.max("chain".length, ...lines.map((l) => l.chain.length));
    const out = [paint("1", heading)];
    out.push(`  ${"packets".padStart(pw)}  ${"bytes".padStart(bw)}  ${"chain".padEnd(cw)}  rule`);
    for (const l of lines) {
      const line = `  ${l.packets.padStart(pw)}  ${l.bytes.padStart(bw)}  ${
        l.chain.padEnd(cw)
      }  ${l.text}`;
      out.push(l.zero ? paint("2", line) : line);
    }
    parts.push(out.join("\n"));
  }
  return parts.join("\n\n");
}
