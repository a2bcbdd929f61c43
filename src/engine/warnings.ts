/**
 * Warnings: problems the engine finds that do not stop it. The kernel accepts
 * the rule (so refusing it would make Rampart stricter than iptables), but it
 * cannot do what it says where it is placed. Each warning is a plain, typed
 * object: `Table.warnings()` and `Firewall.plan()`/`apply()` return them, the
 * engine's logger reports each once (level `warn`) when it first appears, and
 * the CLI prints them on stderr and in `--json`.
 *
 * {@linkcode EngineWarning} is a union discriminated by `kind`; new kinds of
 * warning are added to it, so code that reads warnings should switch on
 * `kind` and show `message` for kinds it does not know.
 *
 * @module
 */
import type { Hook, TableName } from "../../dsl/kernel_chains.ts";
import type { LogFields } from "../host/logger.ts";

/**
 * What a placement warning says about a rule:
 * - `never-matches`: the rule matches no packet where it is placed (e.g.
 *   `inInterface()` in a chain reached only from OUTPUT, where packets have
 *   no incoming interface).
 * - `no-effect`: one of its clauses restricts nothing there (e.g.
 *   `notInInterface()` reached only from OUTPUT matches every packet), so the
 *   rule matches more than it says.
 *
 * @example
 * ```ts
 * import type { PlacementWarningCode } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const code: PlacementWarningCode = "never-matches";
 * assert.equal(code, "never-matches");
 * ```
 */
export type PlacementWarningCode = "never-matches" | "no-effect";

/**
 * A rule the kernel accepts but that cannot do what it says where it is
 * placed (see {@linkcode PlacementWarningCode}).
 *
 * @example
 * ```ts
 * import { checkPlacement, Match, type PlacementWarning } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const warnings: readonly PlacementWarning[] = checkPlacement(
 *   { match: Match().inInterface("docker0") },
 *   { table: "nat", ipVersion: 4, chain: "rp-x", list: "chain", ruleIndex: 0, hooks: new Set(["OUTPUT"]) },
 * );
 * assert.equal(warnings[0]?.code, "never-matches");
 * assert.equal(warnings[0]?.method, "inInterface");
 * ```
 */
export interface PlacementWarning {
  /** The kind of warning. */
  readonly kind: "placement";
  /** What is wrong. */
  readonly code: PlacementWarningCode;
  /** A sentence naming the rule, where it is and what to do. */
  readonly message: string;
  /** The table. */
  readonly table: TableName;
  /** The table's IP family. */
  readonly ipVersion: 4 | 6;
  /** The chain holding the rule. */
  readonly chain: string;
  /** The list within the chain. */
  readonly list: "chain" | "insert" | "append";
  /** The rule's 0-based index in the list. */
  readonly ruleIndex: number;
  /** The DSL method of the clause concerned, e.g. `"inInterface"`. */
  readonly method: string;
  /** The hooks the chain is reached from. */
  readonly hooks: readonly Hook[];
}

/**
 * Every warning the engine reports: a union discriminated by `kind`, which
 * grows as the engine learns to warn about more.
 *
 * @example
 * ```ts
 * import type { EngineWarning } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * function describe(w: EngineWarning): string {
 *   switch (w.kind) {
 *     case "placement":
 *       return `${w.table} IPv${w.ipVersion} ${w.chain}: ${w.message}`;
 *   }
 * }
 * assert.equal(typeof describe, "function");
 * ```
 */
export type EngineWarning = PlacementWarning;

/**
 * The structured fields of a warning for a {@linkcode Logger} record (its
 * message is the record's message).
 *
 * @param warning The warning.
 * @returns Every field but `message`.
 *
 * @example
 * ```ts
 * import { checkPlacement, Match, warningFields } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const [w] = checkPlacement(
 *   { match: Match().outInterface("eth0") },
 *   { table: "filter", ipVersion: 6, chain: "rp-in", list: "chain", ruleIndex: 2, hooks: new Set(["INPUT"]) },
 * );
 * assert.deepEqual(warningFields(w!), {
 *   kind: "placement", code: "never-matches", table: "filter", ipVersion: 6, chain: "rp-in",
 *   list: "chain", ruleIndex: 2, method: "outInterface", hooks: "INPUT",
 * });
 * ```
 */
export function warningFields(warning: EngineWarning): LogFields {
  const { message: _, hooks, ...fields } = warning;
  return { ...fields, hooks: hooks.join(",") };
}

/**
 * A key that tells warnings apart (same kind, code, place and message), for
 * reporting each only once.
 *
 * @param warning The warning.
 * @returns The key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPlacement, type Hook, Match, type Placement, warningKey } from "@rampart/iptables";
 * const where: Placement = {
 *   table: "nat", ipVersion: 4, chain: "rp-x", list: "chain", ruleIndex: 0, hooks: new Set<Hook>(["OUTPUT"]),
 * };
 * const [a] = checkPlacement({ match: Match().inInterface("eth0") }, where);
 * const [b] = checkPlacement({ match: Match().inInterface("eth1") }, where);
 * assert.notEqual(warningKey(a!), warningKey(b!)); // the messages name the interfaces
 * ```
 */
export function warningKey(warning: EngineWarning): string {
  return JSON.stringify([
    warning.kind,
    warning.code,
    warning.table,
    warning.ipVersion,
    warning.chain,
    warning.list,
    warning.ruleIndex,
    warning.message,
  ]);
}
