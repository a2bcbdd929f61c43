/**
 * The checks of the flags every command shares (`--netns`, `--table`,
 * `--backend`), in one place: each returns what is wrong with a value (the
 * message of the usage error) or `undefined`, and the caller throws its own
 * usage error with it.
 *
 * @module
 */
import { isTableName } from "../../dsl/kernel_chains.ts";

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * What is wrong with a `--netns` value, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { netnsProblem } from "./flag_checks.ts";
 * assert.equal(netnsProblem("lab"), undefined);
 * assert.match(netnsProblem("a b")!, /^Invalid --netns "a b": expected a namespace name/);
 * ```
 */
export function netnsProblem(name: string): string | undefined {
  if (NETNS_NAME.test(name)) return undefined;
  return `Invalid --netns ${JSON.stringify(name)}: expected a namespace name of 1 to 64 ` +
    "letters, digits, '_', '.' or '-'";
}

/**
 * What is wrong with a `--table` value, or `undefined` when it names a table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableProblem } from "./flag_checks.ts";
 * assert.equal(tableProblem("nat"), undefined);
 * assert.equal(tableProblem("security"), 'Invalid --table "security": expected filter, nat, mangle or raw');
 * ```
 */
export function tableProblem(name: string): string | undefined {
  if (isTableName(name)) return undefined;
  return `Invalid --table ${JSON.stringify(name)}: expected filter, nat, mangle or raw`;
}

/**
 * What is wrong with a `--backend` value, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backendProblem } from "./flag_checks.ts";
 * assert.equal(backendProblem("auto"), undefined);
 * assert.equal(backendProblem("iptables"), 'Invalid --backend "iptables": expected nft, legacy or auto');
 * ```
 */
export function backendProblem(name: string): string | undefined {
  if (name === "nft" || name === "legacy" || name === "auto") return undefined;
  return `Invalid --backend ${JSON.stringify(name)}: expected nft, legacy or auto`;
}
