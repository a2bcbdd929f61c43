/**
 * Errors of policy files that only the whole policy, or the kernel, shows:
 * jumps to owned chains no file defines (with the closest name for a typo;
 * `src/yaml/jump_targets.ts`, re-exported), and engine errors about a rule
 * (a missing IP set, a jump to a chain the kernel lacks, a rule that cannot
 * be placed, a loop of jumps) located at the rule in its file, so the CLI
 * reports them as `file:line:column` errors.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import { ChainLoopError, DanglingReferenceError, PlacementError } from "../engine/errors.ts";
import { MissingIpSetError } from "../host/ipset_check.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import { type IpFamily, type Policy, policyRuleAt } from "../policy/policy.ts";
import { locatedError } from "../yaml/source_positions.ts";

export { checkJumpTargets } from "../yaml/jump_targets.ts";

/** A table of the policy in one family. */
export interface TableInFamily {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
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
    const rule = policyRuleAt(policy, {
      ...where,
      chain: e.chain,
      list: e.list,
      ruleIndex: e.ruleIndex,
    });
    return (rule && locatedError(rule, e.message, { cause: e })) ?? e;
  }
  if (e instanceof MissingIpSetError) {
    const owned = policy.tables.some((t) =>
      t.table === where.table && t.chains.some((c) => c.name === e.chain)
    );
    const rule = policyRuleAt(policy, {
      ...where,
      chain: e.chain,
      list: owned ? "chain" : "foreign",
      ruleIndex: e.ruleIndex,
    });
    return (rule && locatedError(rule, e.message, { cause: e })) ?? e;
  }
  if (e instanceof DanglingReferenceError) {
    const lists = e.list === undefined ? ["chain", "insert", "append"] as const : [e.list];
    for (const list of lists) {
      const rule = policyRuleAt(policy, {
        ...where,
        chain: e.fromChain,
        list,
        ruleIndex: e.ruleIndex,
      });
      const action = rule?.action;
      if (!isReferrer(action) || action.target !== e.toChain) continue;
      const key = action.kind === "Goto" ? "goto" : "jump";
      const reason =
        `Invalid ${key} "${e.toChain}": the ${where.table} table (IPv${where.ipVersion}) ` +
        `has no chain of that name, and it is not one of the policy's own chains: create it ` +
        `first (iptables -N ${e.toChain}), or name a chain that exists`;
      return locatedError(action, reason, { cause: e }) ?? e;
    }
    return e;
  }
  if (e instanceof ChainLoopError) {
    const [from, to] = e.chains;
    const t = policy.tables.find((t) => t.table === where.table);
    const rule = t?.chains.find((c) => c.name === from)?.rules.find((r) =>
      isReferrer(r.action) && r.action.target === to
    );
    return (rule?.action && locatedError(rule.action, e.message, { cause: e })) ?? e;
  }
  return e;
}
