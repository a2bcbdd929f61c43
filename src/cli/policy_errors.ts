/**
 * Errors of policy files that only the whole policy, or the kernel, shows:
 * jumps to owned chains no file defines (with the closest name for a typo),
 * and engine errors about a rule (a missing IP set, a jump to a chain the
 * kernel lacks, a rule that cannot be placed, a loop of jumps) located at the
 * rule in its file, so the CLI reports them as `file:line:column` errors.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import { ChainLoopError, DanglingReferenceError, PlacementError } from "../engine/errors.ts";
import { MissingIpSetError } from "../host/ipset_check.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { IpFamily, Policy, PolicyRule, TablePolicy } from "../policy/policy.ts";
import { PolicyFileError } from "../yaml/errors.ts";
import { sourcePositionOf } from "../yaml/load.ts";
import { closest } from "../../dsl/rule_schema.ts";

function applies(item: { ipVersion?: IpFamily }, v: IpFamily): boolean {
  return item.ipVersion === undefined || item.ipVersion === v;
}

function familiesOf(policy: Policy, t: TablePolicy): IpFamily[] {
  return policy.ipVersions.filter((v) => applies(t, v));
}

function located(
  item: object,
  reason: string,
  options: { field?: (field: string) => string; cause?: unknown } = {},
): PolicyFileError | undefined {
  const at = sourcePositionOf(item);
  if (at === undefined) return undefined;
  return new PolicyFileError(reason, {
    file: at.file,
    line: at.line,
    column: at.column,
    field: options.field === undefined ? at.field : options.field(at.field),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

/**
 * Checks that every jump or goto to an owned chain (a name with one of the
 * chain prefixes) names a chain the policy defines in the same table, for
 * every family the rule is for. A typo gets the closest defined name.
 *
 * @param policy The merged policy of the files.
 * @param chainPrefixes The prefixes of owned chains.
 * @throws {PolicyFileError} at the jump's value (or a `DanglingReferenceError`
 * for a policy not loaded from files).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy, PolicyFileError } from "@rampart/iptables/yaml";
 * import { checkJumpTargets } from "@rampart/iptables/cli";
 * const text = "tables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n          - jump: rp-dorp\n    chains:\n      rp-drop: []\n";
 * assert.throws(
 *   () => checkJumpTargets(parsePolicy(text, { file: "a.yaml" }), ["rp-"]),
 *   (e) =>
 *     e instanceof PolicyFileError && e.line === 6 && e.column === 19 &&
 *     e.field === "tables.filter.kernelChains.INPUT.insert[0].jump" &&
 *     e.message.includes('did you mean "rp-drop"?'),
 * );
 * ```
 */
export function checkJumpTargets(policy: Policy, chainPrefixes: readonly string[]): void {
  const owned = (name: string) => chainPrefixes.some((p) => name.startsWith(p));
  for (const t of policy.tables) {
    const families = familiesOf(policy, t);
    const defined = t.chains.map((c) => c.name);
    const check = (rule: PolicyRule, from: { ipVersion?: IpFamily }) => {
      const action = rule.action;
      if (!isReferrer(action) || !owned(action.target)) return;
      const key = action.kind === "Goto" ? "goto" : "jump";
      for (const v of families) {
        if (!applies(from, v) || !applies(rule, v)) continue;
        const target = t.chains.find((c) => c.name === action.target);
        if (target !== undefined && applies(target, v)) continue;
        const hint = target === undefined ? closest(action.target, defined) : undefined;
        const reason = target === undefined
          ? `Invalid ${key} "${action.target}": no chain of table ${t.table} has that name` +
            (hint === undefined
              ? ` (the chains starting with ${
                chainPrefixes.map((p) => JSON.stringify(p)).join(" or ")
              } are the policy's own: define it under tables.${t.table}.chains)`
              : ` (did you mean "${hint}"?)`)
          : `Invalid ${key} "${action.target}": chain ${action.target} of table ${t.table} is ` +
            `for IPv${target.ipVersion} only, but this rule is also for IPv${v}: set "family: ` +
            `ipv${target.ipVersion}" on the rule, or define the chain for both families`;
        throw located(action, reason) ??
          new DanglingReferenceError(reason, {
            fromChain: "(policy)",
            toChain: action.target,
            ruleIndex: 0,
          });
      }
    };
    for (const c of t.chains) for (const r of c.rules) check(r, c);
    for (const lists of [t.insertions, t.appends]) {
      for (const rules of Object.values(lists)) for (const r of rules) check(r, {});
    }
  }
}

/** A table of the policy in one family. */
export interface TableInFamily {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
}

/** The rule an engine error names: the `index`-th rule of the list for that family. */
function ruleAt(
  policy: Policy,
  where: TableInFamily,
  chain: string,
  list: "chain" | "insert" | "append" | "foreign",
  index: number,
): PolicyRule | undefined {
  const v = where.ipVersion;
  const t = policy.tables.find((t) => t.table === where.table && applies(t, v));
  if (t === undefined) return undefined;
  let rules: readonly PolicyRule[];
  if (list === "chain") {
    const c = t.chains.find((c) => c.name === chain && applies(c, v));
    rules = c?.rules ?? [];
  } else if (list === "insert") rules = t.insertions[chain] ?? [];
  else if (list === "append") rules = t.appends[chain] ?? [];
  else rules = [...(t.insertions[chain] ?? []), ...(t.appends[chain] ?? [])];
  return rules.filter((r) => applies(r, v))[index];
}

/**
 * Whether an engine error is about the policy's rules (so, from files, an
 * invalid policy): a dangling jump, a loop of jumps, a rule that cannot be
 * placed, a missing IP set.
 */
export function isRuleError(e: unknown): boolean {
  return e instanceof DanglingReferenceError || e instanceof ChainLoopError ||
    e instanceof PlacementError || e instanceof MissingIpSetError;
}

/**
 * An engine error about a rule of a policy loaded from files, as a
 * `PolicyFileError` at that rule (its jump's value for a jump); the error
 * itself when the rule was not loaded from a file.
 *
 * @param e The engine's error.
 * @param policy The policy given to the firewall.
 * @param where The table and family that reported it.
 * @returns The located error, or `e`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Drop, emptyPolicy, PlacementError } from "@rampart/iptables";
 * import { locateRuleError } from "@rampart/iptables/cli";
 * const e = new PlacementError("Cannot place rule 1", { chain: "INPUT", list: "insert", ruleIndex: 0 });
 * assert.ok(locateRuleError(e, emptyPolicy(), { table: "filter", ipVersion: 4 }) === e);
 * ```
 */
export function locateRuleError(e: unknown, policy: Policy, where: TableInFamily): unknown {
  if (e instanceof PlacementError) {
    const rule = ruleAt(policy, where, e.chain, e.list, e.ruleIndex);
    return (rule && located(rule, e.message, { cause: e })) ?? e;
  }
  if (e instanceof MissingIpSetError) {
    const owned = policy.tables.some((t) =>
      t.table === where.table && t.chains.some((c) => c.name === e.chain)
    );
    const rule = ruleAt(policy, where, e.chain, owned ? "chain" : "foreign", e.ruleIndex);
    return (rule && located(rule, e.message, { cause: e })) ?? e;
  }
  if (e instanceof DanglingReferenceError) {
    const lists = e.list === undefined ? ["chain", "insert", "append"] as const : [e.list];
    for (const list of lists) {
      const rule = ruleAt(policy, where, e.fromChain, list, e.ruleIndex);
      const action = rule?.action;
      if (!isReferrer(action) || action.target !== e.toChain) continue;
      const key = action.kind === "Goto" ? "goto" : "jump";
      const reason =
        `Invalid ${key} "${e.toChain}": the ${where.table} table (IPv${where.ipVersion}) ` +
        `has no chain of that name, and it is not one of the policy's own chains: create it ` +
        `first (iptables -N ${e.toChain}), or name a chain that exists`;
      return located(action, reason, { cause: e }) ?? e;
    }
    return e;
  }
  if (e instanceof ChainLoopError) {
    const [from, to] = e.chains;
    const t = policy.tables.find((t) => t.table === where.table);
    const rule = t?.chains.find((c) => c.name === from)?.rules.find((r) =>
      isReferrer(r.action) && r.action.target === to
    );
    return (rule?.action && located(rule.action, e.message, { cause: e })) ?? e;
  }
  return e;
}
