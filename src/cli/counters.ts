/**
 * Packet and byte counters of Rampart's rules and of the built-in chains'
 * policies, read with `iptables-save -c` (one save per family), for
 * `rampart show --counters` and `rampart top`.
 *
 * What is ours is decided as everywhere else, on the parsed arguments of each
 * saved line (`ownership.ts`): a rule whose first comment is one of our IDs,
 * or that jumps to one of our chains; a chain with one of our prefixes that
 * holds or is reached by such a rule. Other programs' rules are not shown.
 *
 * @module
 */
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import type { Features } from "../../dsl/features.ts";
import type { Rule } from "../../dsl/rule.ts";
import { isTableName, type TableName } from "../../dsl/kernel_chains.ts";
import { chainJumpOf, jumpsToOwnedChain, ruleIdReader } from "../host/ownership.ts";
import { type IpFamily, type Policy, policyForFamily } from "../policy/policy.ts";
import { policyRecordChain } from "../engine/policy_record.ts";
import type { CommandRunner } from "../host/runner.ts";
import { sourcePositionOf } from "../yaml/load.ts";

/** One of our rules with its counters. */
export interface RuleCounters {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The chain it is in. */
  chain: string;
  /** Its position in the chain (1-based, among every rule of the chain). */
  position: number;
  /** Its rule ID (absent for a jump to one of our chains without one). */
  id?: string;
  /** The rule as iptables-save printed it, after `-A <chain> `. */
  rule: string;
  /** Packets it matched. */
  packets: number;
  /** Bytes of those packets. */
  bytes: number;
  /** Where the policy files define it (`file:line`), when files were given. */
  source?: string;
}

/** A built-in chain's policy with its counters (the packets that reached its end). */
export interface PolicyCounters {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The built-in chain. */
  chain: string;
  /** `ACCEPT` or `DROP`. */
  policy: string;
  /** Packets the policy decided. */
  packets: number;
  /** Bytes of those packets. */
  bytes: number;
}

/** The counters of one table in one family. */
export interface TableCounters {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The built-in chains' policies, in the order iptables-save prints them. */
  policies: PolicyCounters[];
  /** Our rules, chain by chain in save order. */
  rules: RuleCounters[];
}

/** Options of {@linkcode parseCounters}. */
export interface ParseCountersOptions {
  /** The family the save is of. */
  ipVersion: IpFamily;
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Prefixes of our chains. @default {["rp-"]} */
  chainPrefixes?: readonly string[];
}

const COUNTED = /^\[(\d+):(\d+)\] -A (\S+)(?: (.*))?$/;
const CHAIN = /^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?/;

/**
 * Parses `iptables-save -c` output (every table of one family) into the
 * counters of our rules and of the built-in chains' policies.
 *
 * @param text The output.
 * @param options Family and ownership markers.
 * @returns One entry per table in the output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCounters } from "@rampart/iptables/cli";
 * const [filter] = parseCounters(
 *   '*filter\n:INPUT DROP [7:420]\n[3:180] -A INPUT -s 10.0.0.1/32 -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j ACCEPT\n[9:540] -A INPUT -j LOG\nCOMMIT\n',
 *   { ipVersion: 4 },
 * );
 * assert.equal(filter!.policies[0]!.packets, 7);
 * assert.equal(filter!.rules.length, 1);
 * assert.equal(filter!.rules[0]!.bytes, 180);
 * ```
 */
export function parseCounters(text: string, options: ParseCountersOptions): TableCounters[] {
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const prefixes = options.chainPrefixes ?? ["rp-"];
  const idOf = ruleIdReader(hashPrefix);
  const record = policyRecordChain(prefixes);
  const prefixed = (name: string) => prefixes.some((p) => name.startsWith(p));
  const out: TableCounters[] = [];
  let table: TableName | undefined;
  let policies: PolicyCounters[] = [];
  let lines: { chain: string; rule: string; packets: number; bytes: number }[] = [];
  const finish = () => {
    if (table === undefined) return;
    // Our chains: prefixed, and holding or reached by a rule with our ID.
    const ids = lines.map((l) => idOf(`-A ${l.chain} ${l.rule}`));
    const owned = new Set<string>();
    lines.forEach((l, i) => {
      if (ids[i] === undefined) return;
      if (prefixed(l.chain)) owned.add(l.chain);
      const target = chainJumpOf(`-A ${l.chain} ${l.rule}`);
      if (target !== undefined && prefixed(target)) owned.add(target);
    });
    const positions = new Map<string, number>();
    const rules: RuleCounters[] = [];
    lines.forEach((l, i) => {
      const position = (positions.get(l.chain) ?? 0) + 1;
      positions.set(l.chain, position);
      if (l.chain === record) return;
      const id = ids[i];
      const ours = id !== undefined || owned.has(l.chain) ||
        jumpsToOwnedChain(`-A ${l.chain} ${l.rule}`, (c) => owned.has(c));
      if (!ours) return;
      rules.push({
        table: table!,
        ipVersion: options.ipVersion,
        chain: l.chain,
        position,
        ...(id === undefined ? {} : { id }),
        rule: l.rule,
        packets: l.packets,
        bytes: l.bytes,
      });
    });
    out.push({ table: table!, ipVersion: options.ipVersion, policies, rules });
    table = undefined;
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      finish();
      const name = line.slice(1).trim();
      table = isTableName(name) ? name : undefined;
      policies = [];
      lines = [];
    } else if (table === undefined) continue;
    else if (line.startsWith("[")) {
      const m = COUNTED.exec(line);
      if (m !== null) {
        lines.push({ chain: m[3]!, rule: m[4] ?? "", packets: Number(m[1]), bytes: Number(m[2]) });
      }
    } else if (line.startsWith(":")) {
      const m = CHAIN.exec(line);
      if (m !== null && m[2] !== "-") {
        policies.push({
          table,
          ipVersion: options.ipVersion,
          chain: m[1]!,
          policy: m[2]!,
          packets: Number(m[3] ?? 0),
          bytes: Number(m[4] ?? 0),
        });
      }
    } else if (line === "COMMIT") finish();
  }
  finish();
  return out;
}

/** Options of {@linkcode readCounters}. */
export interface ReadCountersOptions extends ParseCountersOptions {
  /** The backend whose `-save` to run. */
  backend: "nft" | "legacy";
  /** Only these tables (empty or absent: all). */
  tables?: readonly TableName[];
  /** Kill iptables-save after this long. @default {60000} */
  timeoutMs?: number;
}

/**
 * Runs `ip[6]tables-<backend>-save -c` (falling back to `ip[6]tables-save`)
 * and returns the counters of our rules and of the policies.
 *
 * @param runner Runs the binary (in the target's namespace).
 * @param options Family, backend, tables and ownership markers.
 * @returns One entry per table.
 * @throws {Error} When iptables-save fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCounters } from "@rampart/iptables/cli";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * await fake.load('*filter\n-A INPUT -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j ACCEPT\nCOMMIT\n');
 * fake.setCounters("filter", "INPUT", { position: 1, packets: 3n, bytes: 180n });
 * const tables = await readCounters(fake.runner, { ipVersion: 4, backend: "nft", tables: ["filter"] });
 * assert.equal(tables[0]!.rules[0]!.packets, 3);
 * ```
 */
export async function readCounters(
  runner: CommandRunner,
  options: ReadCountersOptions,
): Promise<TableCounters[]> {
  const family = options.ipVersion === 6 ? "ip6tables" : "iptables";
  let last = { cmd: "", code: 127, stderr: "" };
  for (const cmd of [`${family}-${options.backend}-save`, `${family}-save`]) {
    const r = await runner.run(cmd, ["-c"], { timeoutMs: options.timeoutMs ?? 60_000 });
    if (r.code === 0) {
      const wanted = options.tables ?? [];
      return parseCounters(r.stdout, options).filter((t) =>
        wanted.length === 0 || wanted.includes(t.table)
      );
    }
    last = { cmd, code: r.code, stderr: r.stderr };
    if (r.code !== 127) break;
  }
  throw new Error(
    `Cannot read the counters (IPv${options.ipVersion}): ${last.cmd} -c exited with ` +
      `${last.code}${last.stderr.trim() === "" ? "" : `: ${last.stderr.trim()}`}`,
  );
}

/** Options of {@linkcode ruleSources}. */
export interface RuleSourcesOptions {
  /** How rule IDs are computed. @default {the policy's, else "stable"} */
  ruleIds?: RuleIds;
  /** Host features (some rule IDs depend on them). @default {{}} */
  features?: Features;
}

/**
 * Where each rule of a policy loaded from files is defined: `file:line` by
 * table, family and rule ID (`"filter/4/<id>"`).
 *
 * @param policy The policy (loaded from YAML files).
 * @param options Rule-ID scheme and host features.
 * @returns The map (rules not loaded from a file are left out).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy } from "@rampart/iptables/yaml";
 * import { ruleSources } from "@rampart/iptables/cli";
 * const policy = parsePolicy("tables:\n  filter:\n    chains:\n      rp-in:\n        - action: drop\n", { file: "a.yaml" });
 * assert.deepEqual([...ruleSources(policy).values()], ["a.yaml:5", "a.yaml:5"]);
 * ```
 */
export function ruleSources(policy: Policy, options: RuleSourcesOptions = {}): Map<string, string> {
  const ruleIds = options.ruleIds ?? policy.ruleIds;
  const features = options.features ?? {};
  const out = new Map<string, string>();
  const add = (table: string, v: IpFamily, hashChain: string, rules: readonly Rule[]) => {
    if (rules.length === 0) return;
    const ids = calculateRuleIds(hashChain, rules, { ruleIds, features });
    rules.forEach((rule, i) => {
      const at = sourcePositionOf(rule);
      if (at !== undefined) out.set(`${table}/${v}/${ids[i]}`, `${at.file}:${at.line}`);
    });
  };
  for (const v of policy.ipVersions) {
    for (const t of policyForFamily(policy, v)) {
      for (const c of t.chains) add(t.table, v, c.name, c.rules);
      for (const [chain, rules] of Object.entries(t.insertions)) add(t.table, v, chain, rules);
      for (const [chain, rules] of Object.entries(t.appends)) {
        add(t.table, v, `${chain}*appends*`, rules);
      }
    }
  }
  return out;
}

/**
 * A rule's text without our ID comment (its ID is shown beside it).
 *
 * @param rule The rule after `-A <chain> `.
 * @param id Its ID.
 * @param hashPrefix The prefix of our ID comments.
 * @returns The text.
 */
export function ruleWithoutId(rule: string, id: string | undefined, hashPrefix: string): string {
  if (id === undefined) return rule;
  for (const form of [`"${hashPrefix}${id}"`, `${hashPrefix}${id}`]) {
    const comment = `-m comment --comment ${form}`;
    const at = rule.indexOf(comment);
    if (at >= 0) {
      return (rule.slice(0, at) + rule.slice(at + comment.length)).replace(/ {2,}/g, " ").trim();
    }
  }
  return rule;
}
