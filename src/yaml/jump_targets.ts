/**
 * Jumps and gotos to owned chains (names with a chain prefix) that no file
 * of the policy defines, found before the kernel is read and reported at the
 * jump's value with the closest defined name: the CLI checks the merged
 * files, the REPL each file it loads.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import { closest } from "../../dsl/rule_schema.ts";
import { DanglingReferenceError } from "../engine/errors.ts";
import {
  appliesToFamily,
  type IpFamily,
  type Policy,
  type PolicyRule,
  type TablePolicy,
} from "../policy/policy.ts";
import { locatedError } from "./source_positions.ts";

function familiesOf(policy: Policy, t: TablePolicy): IpFamily[] {
  return policy.ipVersions.filter((v) => appliesToFamily(t, v));
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
 * import { checkJumpTargets, parsePolicy, PolicyFileError } from "@rampart/iptables/yaml";
 *
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
        if (!appliesToFamily(from, v) || !appliesToFamily(rule, v)) continue;
        const target = t.chains.find((c) => c.name === action.target);
        if (target !== undefined && appliesToFamily(target, v)) continue;
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
        throw locatedError(action, reason) ??
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
