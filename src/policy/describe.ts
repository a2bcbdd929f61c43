/**
 * How the REPL prints values: DSL values as the iptables text they render to.
 *
 * @module
 */
import type { Action } from "../../dsl/action.ts";
import type { Features } from "../../dsl/features.ts";
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import { MatchCriteria } from "../../dsl/match.ts";
import { type Chain, renderAppend, renderInsert, type Rule } from "../../dsl/rule.ts";
import { KERNEL_CHAINS } from "../../dsl/kernel_chains.ts";
import { type Policy, policyForFamily } from "./policy.ts";
import { Table } from "../engine/table.ts";

/** Options of {@linkcode describeValue}. */
export interface DescribeOptions {
  /** The prefix of rule-ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Host features (part of rule IDs). @default {{}} */
  features?: Features;
  /**
   * How rule IDs are computed. @default {a table's own `ruleIds`, a policy's
   * `ruleIds`, else "stable"}
   */
  ruleIds?: RuleIds;
  /** ANSI colours. @default {false} */
  color?: boolean;
}

const RULE_KEYS = new Set(["match", "action", "comment", "ipVersion"]);

/** Tells whether a value is an action. */
export function isAction(value: unknown): value is Action {
  return typeof value === "object" && value !== null &&
    typeof (value as Action).toFragment === "function" &&
    typeof (value as Action).kind === "string";
}

/** Tells whether a value looks like a rule (`{ match?, action?, comment? }`). */
export function isRule(value: unknown): value is Rule {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  if (value instanceof MatchCriteria || isAction(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => RULE_KEYS.has(k)) &&
    ("match" in value || "action" in value);
}

/** Tells whether a value looks like a chain (`{ name, rules }`). */
export function isChain(value: unknown): value is Chain {
  return typeof value === "object" && value !== null &&
    typeof (value as Chain).name === "string" && Array.isArray((value as Chain).rules);
}

/** Tells whether a value looks like a policy (`{ ipVersions, tables }`). */
export function isPolicy(value: unknown): value is Policy {
  return typeof value === "object" && value !== null &&
    Array.isArray((value as Policy).ipVersions) && Array.isArray((value as Policy).tables);
}

function dim(text: string, color: boolean): string {
  return color ? `\x1b[2m${text}\x1b[0m` : text;
}

function bold(text: string, color: boolean): string {
  return color ? `\x1b[1m${text}\x1b[0m` : text;
}

/**
 * Renders a chain's rules with their IDs, one per line:
 * `<id>  -A <chain> …`.
 *
 * @param chain The chain.
 * @param options Hash prefix, features, colours.
 * @returns The text (no trailing newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Drop } from "@rampart/iptables";
 * import { describeChain } from "@rampart/iptables/repl";
 * assert.equal(
 *   describeChain({ name: "rp-in", rules: [{ action: Drop() }] }).split("\n")[0],
 *   "chain rp-in (1 rule)",
 * );
 * ```
 */
export function describeChain(chain: Chain, options: DescribeOptions = {}): string {
  return describeRules(chain.name, chain.rules, { ...options, title: `chain ${chain.name}` });
}

function describeRules(
  chainName: string,
  rules: readonly Rule[],
  options: DescribeOptions & { title: string; hashChain?: string; insert?: boolean },
): string {
  const color = options.color === true;
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const features = options.features ?? {};
  const n = rules.length;
  const lines = [bold(`${options.title} (${n} rule${n === 1 ? "" : "s"})`, color)];
  const ids = n === 0 ? [] : calculateRuleIds(options.hashChain ?? chainName, rules, {
    ruleIds: options.ruleIds,
    features,
  });
  rules.forEach((rule, i) => {
    const id = ids[i]!;
    const render = options.insert === true ? renderInsert : renderAppend;
    lines.push(
      `  ${dim(id, color)}  ${render(rule, chainName, { hash: id, hashPrefix, features })}`,
    );
  });
  return lines.join("\n");
}

/**
 * Renders a rule as the arguments it puts after `-A <chain>`.
 *
 * @param rule The rule.
 * @param options Features.
 * @returns The rule's fragment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match } from "@rampart/iptables";
 * import { describeRule } from "@rampart/iptables/repl";
 * assert.equal(
 *   describeRule({ match: Match().protocol("tcp"), action: Accept() }),
 *   "-p tcp --jump ACCEPT",
 * );
 * ```
 */
export function describeRule(rule: Rule, options: DescribeOptions = {}): string {
  return renderAppend(rule, "X", { features: options.features ?? {} }).slice("-A X".length).trim();
}

/**
 * Renders a policy per table and family: built-in chain policies, kernel-chain
 * insertions and appends, and owned chains, each rule with its ID.
 *
 * @param policy The policy.
 * @param options Hash prefix, features, colours.
 * @returns The text (no trailing newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, emptyPolicy } from "@rampart/iptables";
 * import { describePolicy } from "@rampart/iptables/repl";
 * assert.equal(describePolicy(emptyPolicy()), "(no rules)");
 * ```
 */
export function describePolicy(policy: Policy, options: DescribeOptions = {}): string {
  const ruleIds = options.ruleIds ?? policy.ruleIds;
  if (ruleIds !== undefined) options = { ...options, ruleIds };
  const color = options.color === true;
  const out: string[] = [];
  for (const ipVersion of [4, 6] as const) {
    for (const t of policyForFamily(policy, ipVersion)) {
      const parts: string[] = [];
      for (const [chain, p] of Object.entries(t.policies)) parts.push(`  policy ${chain} ${p}`);
      for (const chain of KERNEL_CHAINS[t.table]) {
        parts.push(
          ...describeKernelChainRules(
            chain,
            t.insertions[chain] ?? [],
            t.appends[chain] ?? [],
            options,
          ),
        );
      }
      for (const c of t.chains) parts.push(indent(describeChain(c, options)));
      if (parts.length > 0) out.push(bold(`${t.table} (IPv${ipVersion})`, color), ...parts);
    }
  }
  return out.length === 0 ? "(no rules)" : out.join("\n");
}

/** Our insertions and appends of one kernel chain, indented (nothing when both are empty). */
function describeKernelChainRules(
  chain: string,
  insertions: readonly Rule[],
  appends: readonly Rule[],
  options: DescribeOptions,
): string[] {
  const parts: string[] = [];
  if (insertions.length > 0) {
    parts.push(indent(describeRules(chain, insertions, {
      ...options,
      title: `${chain} insertions`,
      insert: true,
    })));
  }
  if (appends.length > 0) {
    parts.push(indent(describeRules(chain, appends, {
      ...options,
      title: `${chain} appends`,
      hashChain: `${chain}*appends*`,
    })));
  }
  return parts;
}

/**
 * Renders a table's desired state (chains, insertions, appends, policies).
 *
 * @param table The table.
 * @param options Hash prefix, features, colours.
 * @returns The text.
 */
export function describeTable(table: Table, options: DescribeOptions = {}): string {
  options = { ...options, ruleIds: options.ruleIds ?? table.ruleIds };
  const color = options.color === true;
  const parts: string[] = [bold(`table ${table.name} (IPv${table.ipVersion})`, color)];
  for (const [chain, p] of table.policies()) parts.push(`  policy ${chain} ${p}`);
  for (const chain of KERNEL_CHAINS[table.name]) {
    parts.push(
      ...describeKernelChainRules(chain, table.insertions(chain), table.appends(chain), options),
    );
  }
  for (const c of table.chains()) parts.push(indent(describeChain(c, options)));
  if (parts.length === 1) parts.push("  (no rules)");
  return parts.join("\n");
}

function indent(text: string): string {
  return text.split("\n").map((l) => `  ${l}`).join("\n");
}

/**
 * Describes any value the REPL evaluated: a match as its fragment, an action
 * as its `--jump …` fragment, a rule as its rule line, a chain as its rules
 * with IDs, a table or policy as its desired state; anything else through
 * `Deno.inspect`. `undefined` prints nothing.
 *
 * @param value The value.
 * @param options Hash prefix, features, colours.
 * @returns The text (`""` for `undefined`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match } from "@rampart/iptables";
 * import { describeValue } from "@rampart/iptables/repl";
 * assert.equal(describeValue(Match().protocol("udp")), "-p udp");
 * ```
 */
export function describeValue(value: unknown, options: DescribeOptions = {}): string {
  if (value === undefined) return "";
  if (value instanceof MatchCriteria) {
    const r = value.render();
    return r === "" ? "(empty match: every packet)" : r;
  }
  if (isAction(value)) return value.toFragment(options.features ?? {});
  if (value instanceof Table) return describeTable(value, options);
  if (isPolicy(value)) return describePolicy(value, options);
  if (isChain(value)) return describeChain(value, options);
  if (isRule(value)) return describeRule(value, options);
  if (Array.isArray(value) && value.length > 0) {
    if (value.every(isChain)) return value.map((c) => describeChain(c, options)).join("\n");
    if (value.every(isRule)) return value.map((r) => describeRule(r, options)).join("\n");
  }
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return Deno.inspect(value, { colors: options.color === true, depth: 4 });
}
