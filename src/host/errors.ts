/**
 * Errors the iptables dataplane throws for what it is given or what it reads:
 * an option it cannot use, a prefix that would take what is not ours, a read
 * that failed. The engine throws them too (and re-exports them from
 * `src/engine/errors.ts`); each carries the fields an operator needs to find
 * and fix the cause.
 *
 * @module
 */

/**
 * `iptables-save` failed (after its retries) or printed output the engine must
 * not act on, such as a table that native nft rules made incompatible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SaveError } from "@rampart/iptables";
 * const e = new SaveError("iptables-save failed", { command: "iptables-nft-save", stderr: "boom", code: 1 });
 * assert.equal(e.command, "iptables-nft-save");
 * ```
 */
export class SaveError extends Error {
  /** The binary that was run. */
  readonly command: string;
  /** Its standard error. */
  readonly stderr: string;
  /** Its exit code. */
  readonly code: number;

  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The command, its stderr and exit code.
   */
  constructor(message: string, options: { command: string; stderr: string; code: number }) {
    super(message);
    this.name = "SaveError";
    this.command = options.command;
    this.stderr = options.stderr;
    this.code = options.code;
  }
}

/**
 * A desired-state call was given something the engine cannot own, e.g. a chain
 * whose name does not start with one of the table's `chainPrefixes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Table, TableConfigError } from "@rampart/iptables";
 * const table = new Table("filter", { chainPrefixes: ["rp-"] });
 * assert.throws(
 *   () => table.updateChain({ name: "mine", rules: [] }),
 *   (e) => e instanceof TableConfigError && e.field === "chain.name",
 * );
 * ```
 */
export class TableConfigError extends TypeError {
  /** The option or argument at fault. */
  readonly field: string;
  /** The value given. */
  readonly value: unknown;

  /**
   * Creates the error.
   *
   * @param message What is wrong and what is expected.
   * @param options The field and value.
   */
  constructor(message: string, options: { field: string; value: unknown }) {
    super(message);
    this.name = "TableConfigError";
    this.field = options.field;
    this.value = options.value;
  }
}

/**
 * A chain or hash prefix that would make Rampart take what is not its own:
 * the start of a built-in chain or target name (`D` claims `DROP`), a hash
 * prefix that ordinary comments could start with, or a prefix matching a
 * chain another program made (found when the kernel is read: `chain`,
 * `table` and `ipVersion` say where). Thrown by the `Table` and `Firewall`
 * constructors, and by `apply()`, `plan()` and `cleanUp()` before anything is
 * written. The CLI reports it as a usage error (exit code 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PrefixError, Table } from "@rampart/iptables";
 * assert.throws(
 *   () => new Table("filter", { chainPrefixes: ["D"] }),
 *   (e) => e instanceof PrefixError && e.prefix === "D" && /DROP/.test(e.message),
 * );
 * ```
 */
export class PrefixError extends TableConfigError {
  /** The prefix refused. */
  readonly prefix: string;
  /** The chain of another program the prefix matches, when the kernel showed one. */
  readonly chain: string | undefined;
  /** The table holding that chain. */
  readonly table: string | undefined;
  /** The IP family of that table. */
  readonly ipVersion: 4 | 6 | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong and what to choose instead.
   * @param options The option at fault, the prefix, and the foreign chain if any.
   */
  constructor(message: string, options: {
    field: "chainPrefixes" | "hashPrefix";
    prefix: string;
    chain?: string;
    table?: string;
    ipVersion?: 4 | 6;
  }) {
    super(message, { field: options.field, value: options.prefix });
    this.name = "PrefixError";
    this.prefix = options.prefix;
    this.chain = options.chain;
    this.table = options.table;
    this.ipVersion = options.ipVersion;
  }
}
