/**
 * The error a malformed YAML rule file raises.
 *
 * @module
 */

/** Options of a {@linkcode PolicyFileError}. */
export interface PolicyFileErrorOptions {
  /** The file name (or `<string>` when parsed from text without one). */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The path of the field at fault, e.g. `tables.filter.chains.rp-input[0].destPorts`. */
  field: string;
  /** The values or keys allowed there, when they form a short list. */
  allowed?: readonly string[];
  /** The underlying error (a DSL `RuleError`, a YAML syntax error, a `PolicyError`). */
  cause?: unknown;
}

/**
 * A YAML rule file is malformed or holds a rule the DSL rejects. The message
 * starts with `file:line:column: ` and says what was expected; the fields
 * give the same information to programs.
 *
 * @example Reporting a bad port
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy, PolicyFileError } from "@rampart/iptables/yaml";
 * const text = "tables:\n  filter:\n    chains:\n      rp-in:\n        - protocol: tcp\n          destPorts: [70000]\n          action: accept\n";
 * assert.throws(
 *   () => parsePolicy(text, { file: "rules.yaml" }),
 *   (e) =>
 *     e instanceof PolicyFileError && e.line === 6 && e.column === 23 &&
 *     e.field === "tables.filter.chains.rp-in[0].destPorts[0]",
 * );
 * ```
 */
export class PolicyFileError extends SyntaxError {
  /** The file name. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The path of the field at fault. */
  readonly field: string;
  /** The values or keys allowed there, if they form a short list. */
  readonly allowed: readonly string[] | undefined;
  /** The message without the `file:line:column: ` prefix. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param reason What is wrong and what is expected (no location).
   * @param options Where, and which field.
   */
  constructor(reason: string, options: PolicyFileErrorOptions) {
    super(
      `${options.file}:${options.line}:${options.column}: ${reason}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PolicyFileError";
    this.file = options.file;
    this.line = options.line;
    this.column = options.column;
    this.field = options.field;
    this.allowed = options.allowed;
    this.reason = reason;
  }
}
