/**
 * Facts about iptables tables and their built-in (kernel) chains.
 *
 * @module
 */

/** The iptables tables Rampart manages. */
export type TableName = "filter" | "nat" | "mangle" | "raw";

/** Every table name, in the order a multi-table apply writes them. */
export const TABLE_NAMES: readonly TableName[] = Object.freeze(["raw", "mangle", "nat", "filter"]);

/** The netfilter hooks, named as their kernel chains. */
export type Hook = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

/**
 * The hooks a chain is reached from; `null` when it is reached from a chain we
 * do not know the hooks of (another program's chain).
 *
 * @example
 * ```ts
 * import type { HookSet } from "@rampart/iptables";
 * const hooks: HookSet = new Set(["INPUT", "FORWARD"]);
 * ```
 */
export type HookSet = ReadonlySet<Hook> | null;

/** The built-in chains of each table, in the order iptables-save prints them. */
export const KERNEL_CHAINS: Readonly<Record<TableName, readonly Hook[]>> = Object.freeze({
  filter: Object.freeze(["INPUT", "FORWARD", "OUTPUT"] as Hook[]),
  nat: Object.freeze(["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"] as Hook[]),
  mangle: Object.freeze(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"] as Hook[]),
  raw: Object.freeze(["PREROUTING", "OUTPUT"] as Hook[]),
});

/**
 * Tells whether `chain` is a built-in chain of `table`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isKernelChain } from "@rampart/iptables";
 * assert.equal(isKernelChain("raw", "PREROUTING"), true);
 * assert.equal(isKernelChain("raw", "INPUT"), false);
 * ```
 */
export function isKernelChain(table: TableName, chain: string): chain is Hook {
  return (KERNEL_CHAINS[table] as readonly string[]).includes(chain);
}

/**
 * Tells whether a string names one of the four tables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isTableName } from "@rampart/iptables";
 * assert.equal(isTableName("nat"), true);
 * assert.equal(isTableName("security"), false);
 * ```
 */
export function isTableName(name: string): name is TableName {
  return name === "filter" || name === "nat" || name === "mangle" || name === "raw";
}
