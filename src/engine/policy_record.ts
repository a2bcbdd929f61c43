/**
 * Chain policies owned like rules: the record of the policy each built-in
 * chain had before Rampart first changed it, kept in the kernel.
 *
 * The record is a chain of ours, `<first chain prefix>policy` (`rp-policy`),
 * in the table whose policies it records: one rule per changed chain, with
 * no match and no target (never reached: nothing jumps to the chain), whose
 * ID comment says which chain and which policy and whose second comment says
 * it in words:
 *
 * ```text
 * :rp-policy - [0:0]
 * -A rp-policy -m comment --comment "rampart:<id>" -m comment --comment "INPUT policy before Rampart: ACCEPT"
 * ```
 *
 * It lives in the kernel rather than in a state file because that is where
 * the policy lives: it is written in the same `iptables-restore`
 * transaction as the policy it records, so the two cannot disagree after a
 * crash; every later process (another CLI run, `watch`, the watchdog, a
 * library user) and every user of a network namespace sees it; and it goes
 * when the policy goes (a reboot, `ip netns del`), where a file would outlive
 * the kernel state it describes.
 *
 * The rules: while the desired state sets a chain's policy, a chain whose
 * policy differs from it gets a record of its current policy (unless it has
 * one: the first policy found is kept); once the desired state no longer sets
 * it (the file dropped the `policy:` line, `remove`, `cleanUp()`), the
 * recorded policy is put back and the record dropped, in one transaction. A
 * record that matches the desired policy is dropped too (the chain is back
 * where it was). A chain whose record was deleted by someone else keeps the
 * policy it has.
 *
 * @module
 */
import { calculateRuleHashes } from "../../dsl/hash.ts";
import type { Rule } from "../../dsl/rule.ts";
import { KERNEL_CHAINS, type TableName } from "../../dsl/kernel_chains.ts";

/** A built-in chain policy. */
export type ChainPolicyValue = "ACCEPT" | "DROP";

const POLICIES: readonly ChainPolicyValue[] = ["ACCEPT", "DROP"];

/**
 * The name of the chain that records policies: the first chain prefix and
 * `policy` (reserved: `updateChain()` refuses it).
 *
 * @param chainPrefixes The table's chain prefixes.
 * @returns The chain name.
 */
export function policyRecordChain(chainPrefixes: readonly string[]): string {
  return `${chainPrefixes[0] ?? "rp-"}policy`;
}

function recordRule(chain: string, policy: ChainPolicyValue): Rule {
  return { comment: `${chain} policy before Rampart: ${policy}` };
}

/** The ID of a record rule: on its own, so that records do not depend on each other. */
function recordId(recordChain: string, chain: string, policy: ChainPolicyValue): string {
  return calculateRuleHashes(recordChain, [recordRule(chain, policy)])[0]!;
}

/**
 * The rules (and IDs) of a record, in the order of the table's built-in
 * chains.
 *
 * @param recordChain The record chain's name.
 * @param table The table.
 * @param record The policy each chain had, by chain.
 * @returns The rules and their IDs.
 */
export function policyRecordRules(
  recordChain: string,
  table: TableName,
  record: ReadonlyMap<string, ChainPolicyValue>,
): { rules: Rule[]; hashes: string[] } {
  const rules: Rule[] = [];
  const hashes: string[] = [];
  for (const chain of KERNEL_CHAINS[table]) {
    const policy = record.get(chain);
    if (policy === undefined) continue;
    rules.push(recordRule(chain, policy));
    hashes.push(recordId(recordChain, chain, policy));
  }
  return { rules, hashes };
}

/**
 * Reads a record from the IDs of the record chain's rules (rules with other
 * IDs are ignored: the next write replaces them).
 *
 * @param recordChain The record chain's name.
 * @param table The table.
 * @param ids The IDs of its rules, in order (`""` for rules without one).
 * @returns The recorded policy of each chain (the first record of a chain wins).
 */
export function readPolicyRecord(
  recordChain: string,
  table: TableName,
  ids: readonly (string | undefined)[],
): Map<string, ChainPolicyValue> {
  const known = new Map<string, [string, ChainPolicyValue]>();
  for (const chain of KERNEL_CHAINS[table]) {
    for (const policy of POLICIES) known.set(recordId(recordChain, chain, policy), [chain, policy]);
  }
  const record = new Map<string, ChainPolicyValue>();
  for (const id of ids) {
    const entry = id === undefined ? undefined : known.get(id);
    if (entry !== undefined && !record.has(entry[0])) record.set(entry[0], entry[1]);
  }
  return record;
}

/** Inputs of {@linkcode planPolicies}. */
export interface PlanPoliciesInput {
  /** The table. */
  table: TableName;
  /** The policies the desired state sets, by built-in chain. */
  desired: ReadonlyMap<string, ChainPolicyValue>;
  /** The kernel's policy of each built-in chain now (`ACCEPT`, `DROP`), by chain. */
  kernel: ReadonlyMap<string, string>;
  /** The record the kernel holds now. */
  recorded: ReadonlyMap<string, ChainPolicyValue>;
}

/** What {@linkcode planPolicies} decides. */
export interface PolicyPlan {
  /** The policy each chain must have after the write (desired, or put back), by chain. */
  policies: Map<string, ChainPolicyValue>;
  /** The record the kernel must hold after the write. */
  record: Map<string, ChainPolicyValue>;
  /** The chains whose recorded policy is put back by this write (not set by the desired state). */
  restored: Set<string>;
}

/**
 * Decides the policies to write and the record to keep (see the module
 * documentation for the rules).
 *
 * @param input Desired policies, the kernel's, and the current record.
 * @returns The policies, the record, and which policies are put back.
 */
export function planPolicies(input: PlanPoliciesInput): PolicyPlan {
  const plan: PolicyPlan = { policies: new Map(), record: new Map(), restored: new Set() };
  for (const chain of KERNEL_CHAINS[input.table]) {
    const want = input.desired.get(chain);
    const now = input.kernel.get(chain);
    const before = input.recorded.get(chain);
    if (want !== undefined) {
      plan.policies.set(chain, want);
      if (before !== undefined) {
        if (before !== want) plan.record.set(chain, before);
      } else if ((now === "ACCEPT" || now === "DROP") && now !== want) {
        plan.record.set(chain, now);
      }
    } else if (before !== undefined) {
      plan.policies.set(chain, before);
      if (now !== before) plan.restored.add(chain);
    }
  }
  return plan;
}
