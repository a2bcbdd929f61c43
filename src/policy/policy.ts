/**
 * The policy model: the desired state of several tables and both IP families,
 * as a {@linkcode Firewall} applies it and as YAML rule files describe it.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import type { RuleIds } from "../../dsl/hash.ts";
import type { Chain, Rule } from "../../dsl/rule.ts";
import { MAX_CHAIN_NAME_LENGTH } from "../../dsl/rule.ts";
import { checkUserChainName } from "../../dsl/validate.ts";
import {
  isKernelChain,
  isTableName,
  KERNEL_CHAINS,
  type TableName,
} from "../../dsl/kernel_chains.ts";
import { policyRecordChain } from "../engine/policy_record.ts";

/** An IP family, named by its version as `Table`'s `ipVersion` is. */
export type IpFamily = 4 | 6;

/** The policy of a built-in chain: what happens to a packet no rule decided on. */
export type ChainPolicy = "ACCEPT" | "DROP";

/**
 * A rule of a policy: a DSL {@linkcode Rule}, optionally restricted to one IP
 * family (YAML `family: ipv4|ipv6`). Absent means both families.
 *
 * @example
 * ```ts
 * import { Accept, Match, type PolicyRule } from "@rampart/iptables";
 * const rule: PolicyRule = { match: Match().sourceNet("10.0.0.0/8"), action: Accept(), ipVersion: 4 };
 * ```
 */
export interface PolicyRule extends Rule {
  /** Only for this family; absent for both. */
  ipVersion?: IpFamily;
}

/**
 * An owned chain of a policy, optionally restricted to one IP family.
 *
 * @example
 * ```ts
 * import { Drop, type PolicyChain } from "@rampart/iptables";
 * const chain: PolicyChain = { name: "rp-v6-only", ipVersion: 6, rules: [{ action: Drop() }] };
 * ```
 */
export interface PolicyChain extends Chain {
  /** Only for this family; absent for both. */
  ipVersion?: IpFamily;
  /** The chain's rules, in order. */
  rules: readonly PolicyRule[];
}

/**
 * The desired state of one table (in every family the policy and
 * `ipVersion` allow).
 *
 * @example
 * ```ts
 * import { Accept, Jump, Match, type TablePolicy } from "@rampart/iptables";
 * const filter: TablePolicy = {
 *   table: "filter",
 *   chains: [{ name: "rp-input", rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] }],
 *   insertions: { INPUT: [{ action: Jump("rp-input") }] },
 *   appends: {},
 *   policies: { INPUT: "DROP" },
 * };
 * ```
 */
export interface TablePolicy {
  /** The table. */
  table: TableName;
  /** Only for this family; absent for every family of the policy. */
  ipVersion?: IpFamily;
  /** Owned chains (their names start with one of the firewall's chain prefixes). */
  chains: PolicyChain[];
  /** Rules inserted at the top of kernel chains, by kernel chain name. */
  insertions: Record<string, PolicyRule[]>;
  /** Rules appended at the end of kernel chains, by kernel chain name. */
  appends: Record<string, PolicyRule[]>;
  /** Built-in chain policies we set, by kernel chain name. */
  policies: Record<string, ChainPolicy>;
}

/**
 * The desired state of a whole firewall: every table, for the given families.
 * A table absent from `tables` has no rules of ours; a family absent from
 * `ipVersions` has no rules of ours in any table.
 *
 * @example
 * ```ts
 * import { Accept, type Policy } from "@rampart/iptables";
 * const policy: Policy = {
 *   ipVersions: [4, 6],
 *   tables: [{ table: "filter", chains: [], insertions: { INPUT: [{ action: Accept() }] }, appends: {}, policies: {} }],
 * };
 * ```
 */
export interface Policy {
  /** The families the policy is for. */
  ipVersions: IpFamily[];
  /** One entry per table (each table at most once). */
  tables: TablePolicy[];
  /**
   * How rule IDs are computed when this policy is applied (YAML top-level
   * `ruleIds`); absent: the firewall's choice (`"stable"` by default). A
   * {@linkcode Firewall} refuses a policy that asks for another scheme than
   * its own.
   */
  ruleIds?: RuleIds;
}

/** The desired state of one table in one family: what a `Table` is given. */
export interface FamilyTablePolicy {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** Owned chains, with the rules of other families left out. */
  chains: Chain[];
  /** Kernel-chain insertions, with the rules of other families left out. */
  insertions: Record<string, Rule[]>;
  /** Kernel-chain appends, with the rules of other families left out. */
  appends: Record<string, Rule[]>;
  /** Built-in chain policies. */
  policies: Record<string, ChainPolicy>;
}

/** Options of {@linkcode tablePolicy}. */
export interface TablePolicyOptions {
  /** Only for this family. */
  ipVersion?: IpFamily;
  /** Owned chains. */
  chains?: PolicyChain[];
  /** Kernel-chain insertions. */
  insertions?: Record<string, PolicyRule[]>;
  /** Kernel-chain appends. */
  appends?: Record<string, PolicyRule[]>;
  /** Built-in chain policies. */
  policies?: Record<string, ChainPolicy>;
}

/**
 * Builds a {@linkcode TablePolicy}, filling absent parts with empty values.
 *
 * @param table The table.
 * @param options Its chains, insertions, appends and policies.
 * @returns The table policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Masq, Match, tablePolicy } from "@rampart/iptables";
 * const nat = tablePolicy("nat", {
 *   ipVersion: 4,
 *   appends: { POSTROUTING: [{ match: Match().outInterface("eth0"), action: Masq() }] },
 * });
 * assert.equal(nat.chains.length, 0);
 * ```
 */
export function tablePolicy(table: TableName, options: TablePolicyOptions = {}): TablePolicy {
  const t: TablePolicy = {
    table,
    chains: options.chains ?? [],
    insertions: options.insertions ?? {},
    appends: options.appends ?? {},
    policies: options.policies ?? {},
  };
  if (options.ipVersion !== undefined) t.ipVersion = options.ipVersion;
  return t;
}

/**
 * Builds an empty {@linkcode Policy} (no rules of ours anywhere).
 *
 * @param ipVersions The families. @default {[4, 6]}
 * @returns The policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyPolicy } from "@rampart/iptables";
 * assert.deepEqual(emptyPolicy(), { ipVersions: [4, 6], tables: [] });
 * ```
 */
export function emptyPolicy(ipVersions: IpFamily[] = [4, 6]): Policy {
  return { ipVersions: [...ipVersions], tables: [] };
}

/**
 * A policy is inconsistent: a duplicate table or chain, an unknown table,
 * kernel chain or family, an invalid chain name or chain policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PolicyError, validatePolicy } from "@rampart/iptables";
 * assert.throws(
 *   () =>
 *     validatePolicy({
 *       ipVersions: [4],
 *       tables: [{ table: "filter", chains: [], insertions: { PREROUTING: [] }, appends: {}, policies: {} }],
 *     }),
 *   (e) => e instanceof PolicyError && e.path === "tables[0].insertions.PREROUTING",
 * );
 * ```
 */
export class PolicyError extends TypeError {
  /** Where in the policy, e.g. `tables[0].chains[2].name`. */
  readonly path: string;
  /** The value at fault. */
  readonly value: unknown;

  /**
   * Creates the error.
   *
   * @param message What is wrong and what is expected.
   * @param options Where, and the value.
   */
  constructor(message: string, options: { path: string; value: unknown }) {
    super(message);
    this.name = "PolicyError";
    this.path = options.path;
    this.value = options.value;
  }
}

/** Options of {@linkcode validatePolicy}. */
export interface ValidatePolicyOptions {
  /** When given, every owned chain's name must start with one of these. */
  chainPrefixes?: readonly string[];
}

const CHAIN_NAME_EXPECTED = `1 to ${MAX_CHAIN_NAME_LENGTH} printable ASCII characters without ` +
  "whitespace, quotes or backslashes, not starting with '-', '!' or '#', and not a built-in chain " +
  "or target name";

/**
 * Tells why a name cannot be an owned chain's, or returns `undefined` when it can:
 * exactly the names the DSL's `Jump` and `Goto` accept, so that a policy
 * that loads can always be jumped into.
 *
 * @param name The chain name.
 * @returns The expectation it breaks, if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chainNameProblem } from "@rampart/iptables";
 * assert.equal(chainNameProblem("rp-input"), undefined);
 * assert.match(chainNameProblem("bad name")!, /^1 to 28 printable ASCII characters without whitespace, /);
 * assert.notEqual(chainNameProblem("rp-a\\b"), undefined); // the DSL refuses a backslash too
 * assert.notEqual(chainNameProblem("DROP"), undefined);
 * ```
 */
export function chainNameProblem(name: string): string | undefined {
  try {
    checkUserChainName("chain", name);
  } catch {
    return CHAIN_NAME_EXPECTED;
  }
  return undefined;
}

function fail(path: string, value: unknown, message: string): never {
  throw new PolicyError(message, { path, value });
}

/**
 * Checks a policy's structure (not its rules, which the DSL validated when
 * they were built, nor their placement, which `Table` checks before writing).
 *
 * @param policy The policy.
 * @param options Chain prefixes to enforce.
 * @throws {PolicyError} on the first problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyPolicy, PolicyError, validatePolicy } from "@rampart/iptables";
 * validatePolicy(emptyPolicy()); // fine
 * assert.throws(() => validatePolicy({ ipVersions: [5 as 4], tables: [] }), PolicyError);
 * ```
 */
export function validatePolicy(policy: Policy, options: ValidatePolicyOptions = {}): void {
  const versions = policy.ipVersions;
  if (!Array.isArray(versions)) {
    fail("ipVersions", versions, "Invalid ipVersions: expected an array");
  }
  versions.forEach((v, i) => {
    if (v !== 4 && v !== 6) {
      fail(`ipVersions[${i}]`, v, `Invalid IP version ${String(v)}: expected 4 or 6`);
    }
    if (versions.indexOf(v) !== i) fail(`ipVersions[${i}]`, v, `Duplicate IP version ${v}`);
  });
  if (
    policy.ruleIds !== undefined && policy.ruleIds !== "stable" && policy.ruleIds !== "chained"
  ) {
    fail(
      "ruleIds",
      policy.ruleIds,
      `Invalid ruleIds ${JSON.stringify(policy.ruleIds)}: expected "stable" or "chained"`,
    );
  }
  const seen = new Set<string>();
  policy.tables.forEach((t, ti) => {
    const at = `tables[${ti}]`;
    if (!isTableName(t.table)) {
      fail(
        `${at}.table`,
        t.table,
        `Invalid table ${JSON.stringify(t.table)}: expected one of filter, nat, mangle, raw`,
      );
    }
    if (seen.has(t.table)) {
      fail(`${at}.table`, t.table, `Duplicate table "${t.table}": each table may appear once`);
    }
    seen.add(t.table);
    if (t.ipVersion !== undefined && t.ipVersion !== 4 && t.ipVersion !== 6) {
      fail(
        `${at}.ipVersion`,
        t.ipVersion,
        `Invalid IP version ${String(t.ipVersion)}: expected 4 or 6`,
      );
    }
    const names = new Set<string>();
    t.chains.forEach((c, ci) => {
      const cat = `${at}.chains[${ci}]`;
      const problem = chainNameProblem(c.name);
      if (problem !== undefined) {
        fail(
          `${cat}.name`,
          c.name,
          `Invalid chain name ${JSON.stringify(c.name)}: expected ${problem}`,
        );
      }
      const prefixes = options.chainPrefixes;
      if (prefixes !== undefined && !prefixes.some((p) => c.name.startsWith(p))) {
        fail(
          `${cat}.name`,
          c.name,
          `Invalid chain name ${JSON.stringify(c.name)}: expected a name starting with ` +
            prefixes.map((p) => JSON.stringify(p)).join(" or ") + " (the chains Rampart owns)",
        );
      }
      if (prefixes !== undefined && c.name === policyRecordChain(prefixes)) {
        fail(
          `${cat}.name`,
          c.name,
          `Invalid chain name ${JSON.stringify(c.name)}: it is reserved for Rampart's record of ` +
            "the chain policies it changed; choose another name",
        );
      }
      if (names.has(c.name)) {
        fail(`${cat}.name`, c.name, `Duplicate chain "${c.name}" in table ${t.table}`);
      }
      names.add(c.name);
      if (c.ipVersion !== undefined && c.ipVersion !== 4 && c.ipVersion !== 6) {
        fail(
          `${cat}.ipVersion`,
          c.ipVersion,
          `Invalid IP version ${String(c.ipVersion)}: expected 4 or 6`,
        );
      }
    });
    const kernel = KERNEL_CHAINS[t.table].join(", ");
    for (const list of ["insertions", "appends", "policies"] as const) {
      for (const k of Object.keys(t[list])) {
        if (!isKernelChain(t.table, k)) {
          fail(
            `${at}.${list}.${k}`,
            k,
            `Invalid kernel chain "${k}" for table ${t.table}: expected one of ${kernel}`,
          );
        }
      }
    }
    for (const [k, p] of Object.entries(t.policies)) {
      if (p !== "ACCEPT" && p !== "DROP") {
        fail(
          `${at}.policies.${k}`,
          p,
          `Invalid chain policy ${JSON.stringify(p)}: expected ACCEPT or DROP`,
        );
      }
      if (t.table === "nat" && p !== "ACCEPT") {
        fail(`${at}.policies.${k}`, p, `Invalid chain policy "${p}" in table nat: expected ACCEPT`);
      }
    }
  });
}

/**
 * Whether a table, chain or rule of a policy is for a family: it names that
 * family, or none (both).
 *
 * @param item The table, chain or rule.
 * @param ipVersion The family.
 * @returns Whether it is in that family's tables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { appliesToFamily } from "@rampart/iptables";
 * assert.equal(appliesToFamily({}, 6), true);
 * assert.equal(appliesToFamily({ ipVersion: 4 }, 6), false);
 * ```
 */
export function appliesToFamily(item: { ipVersion?: IpFamily }, ipVersion: IpFamily): boolean {
  return item.ipVersion === undefined || item.ipVersion === ipVersion;
}

/** Where a rule of a policy is, as the engine names it (see {@linkcode policyRuleAt}). */
export interface PolicyRuleAt {
  /** The table. */
  table: TableName;
  /** The family whose rules the index counts. */
  ipVersion: IpFamily;
  /** The chain (owned, or the kernel chain of an insert or append list). */
  chain: string;
  /** The list: an owned chain's rules, a kernel chain's inserts or appends, or both in that order. */
  list: "chain" | "insert" | "append" | "foreign";
  /** The rule's 0-based index among the list's rules for that family. */
  ruleIndex: number;
}

/**
 * The rule an engine error or warning names: the `ruleIndex`-th rule, among
 * those for the family, of a list of a table, as the engine was given them.
 *
 * @param policy The policy the engine was given.
 * @param at Where the rule is.
 * @returns The rule, or `undefined` when the policy has none there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Drop, emptyPolicy, policyRuleAt, tablePolicy } from "@rampart/iptables";
 * const v6 = { action: Drop(), ipVersion: 6 as const };
 * const all = { action: Accept() };
 * const policy = { ...emptyPolicy(), tables: [tablePolicy("filter", { insertions: { INPUT: [v6, all] } })] };
 * const at = { table: "filter", chain: "INPUT", list: "insert", ruleIndex: 0 } as const;
 * assert.equal(policyRuleAt(policy, { ...at, ipVersion: 4 }), all);
 * assert.equal(policyRuleAt(policy, { ...at, ipVersion: 6 }), v6);
 * ```
 */
export function policyRuleAt(policy: Policy, at: PolicyRuleAt): PolicyRule | undefined {
  const v = at.ipVersion;
  const t = policy.tables.find((t) => t.table === at.table && appliesToFamily(t, v));
  if (t === undefined) return undefined;
  let rules: readonly PolicyRule[];
  if (at.list === "chain") {
    rules = t.chains.find((c) => c.name === at.chain && appliesToFamily(c, v))?.rules ?? [];
  } else if (at.list === "insert") rules = t.insertions[at.chain] ?? [];
  else if (at.list === "append") rules = t.appends[at.chain] ?? [];
  else rules = [...(t.insertions[at.chain] ?? []), ...(t.appends[at.chain] ?? [])];
  return rules.filter((r) => appliesToFamily(r, v))[at.ruleIndex];
}

function stripRule(rule: PolicyRule): Rule {
  if (rule.ipVersion === undefined) return rule;
  const out: Rule = {};
  if (rule.match !== undefined) out.match = rule.match;
  if (rule.action !== undefined) out.action = rule.action;
  if (rule.comment !== undefined) out.comment = rule.comment;
  return out;
}

function filterRules(rules: readonly PolicyRule[], ipVersion: IpFamily): Rule[] {
  return rules.filter((r) => appliesToFamily(r, ipVersion)).map(stripRule);
}

/**
 * The desired state of each table for one family: tables, chains and rules
 * restricted to other families are left out. Empty when the policy is not
 * for that family.
 *
 * @param policy The policy.
 * @param ipVersion The family.
 * @returns One entry per table of the policy that applies to the family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Drop, policyForFamily, tablePolicy } from "@rampart/iptables";
 * const policy = {
 *   ipVersions: [4, 6] as (4 | 6)[],
 *   tables: [tablePolicy("filter", { insertions: { INPUT: [{ action: Accept(), ipVersion: 6 }, { action: Drop() }] } })],
 * };
 * assert.equal(policyForFamily(policy, 4)[0]?.insertions.INPUT?.length, 1);
 * ```
 */
export function policyForFamily(policy: Policy, ipVersion: IpFamily): FamilyTablePolicy[] {
  if (!policy.ipVersions.includes(ipVersion)) return [];
  const out: FamilyTablePolicy[] = [];
  for (const t of policy.tables) {
    if (!appliesToFamily(t, ipVersion)) continue;
    const lists = (rec: Record<string, PolicyRule[]>) =>
      Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, filterRules(v, ipVersion)]));
    out.push({
      table: t.table,
      ipVersion,
      chains: t.chains.filter((c) => appliesToFamily(c, ipVersion)).map((c) => ({
        name: c.name,
        rules: filterRules(c.rules, ipVersion),
      })),
      insertions: lists(t.insertions),
      appends: lists(t.appends),
      policies: { ...t.policies },
    });
  }
  return out;
}

/**
 * The owned chains a policy's rules jump or go to, per table (handy to check
 * that every referenced chain is defined).
 *
 * @param table The table policy.
 * @returns The targets of every `Jump`/`Goto`, in first-seen order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Jump, referencedChains, tablePolicy } from "@rampart/iptables";
 * assert.deepEqual(
 *   referencedChains(tablePolicy("filter", { insertions: { INPUT: [{ action: Jump("rp-in") }] } })),
 *   ["rp-in"],
 * );
 * ```
 */
export function referencedChains(table: TablePolicy): string[] {
  const out: string[] = [];
  const visit = (rules: readonly Rule[]) => {
    for (const r of rules) {
      if (isReferrer(r.action) && !out.includes(r.action.target)) out.push(r.action.target);
    }
  };
  for (const c of table.chains) visit(c.rules);
  for (const v of Object.values(table.insertions)) visit(v);
  for (const v of Object.values(table.appends)) visit(v);
  return out;
}
