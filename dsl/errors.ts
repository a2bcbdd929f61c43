/**
 * The error thrown for every invalid DSL input.
 *
 * @module
 */

/** Options of a {@linkcode RuleError}. */
export interface RuleErrorOptions {
  /** The parameter or field that was rejected, e.g. `"destPorts"` or `"Log.prefix"`. */
  field: string;
  /** The rejected value, as given. */
  value: unknown;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * A rule, match or action was given input that cannot be rendered safely.
 *
 * Thrown at the builder call, so that no invalid or injected line can ever
 * reach `iptables-restore`. `field` names the parameter and `value` holds what
 * was given.
 *
 * @example Catching a bad port
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, RuleError } from "@rampart/iptables";
 * assert.throws(
 *   () => Match().destPorts(70000),
 *   (e) => e instanceof RuleError && e.field === "destPorts" && e.value === 70000,
 * );
 * ```
 */
export class RuleError extends TypeError {
  /** The parameter or field that was rejected. */
  readonly field: string;
  /** The rejected value, as given. */
  readonly value: unknown;

  /**
   * Creates a rule error.
   *
   * @param message What is wrong and what is expected.
   * @param options The field and value at fault.
   */
  constructor(message: string, options: RuleErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RuleError";
    this.field = options.field;
    this.value = options.value;
  }
}

/** Quotes a rejected value for an error message. */
export function quoteValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Builds a {@linkcode RuleError} with the house message form:
 * `Invalid <field> "<value>": expected <expected>`.
 */
export function invalid(field: string, value: unknown, expected: string): RuleError {
  return new RuleError(`Invalid ${field} ${quoteValue(value)}: expected ${expected}`, {
    field,
    value,
  });
}
