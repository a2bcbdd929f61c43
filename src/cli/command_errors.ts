/**
 * How an error that ends a command becomes its exit code and the `error`
 * object of its `--json` document: one mapping for every command, whether
 * the shared parser reads its command line (`commands.ts`) or its own
 * (`trace_command.ts`).
 *
 * @module
 */
import { UnknownNamespaceError } from "../host/network_namespaces.ts";
import { RuleError } from "../../dsl/errors.ts";
import { PrefixError } from "../engine/errors.ts";
import { PolicyError } from "../policy/policy.ts";
import { PolicyFileError } from "../yaml/errors.ts";
import { EXIT_CODES, UsageError } from "./args.ts";
import { isRuleError } from "./policy_errors.ts";

/** Thrown inside a command to end it with an exit code, a message and, under `--json`, data. */
export class CommandExit extends Error {
  /**
   * Creates the error.
   *
   * @param code The exit code.
   * @param message What is printed.
   * @param data Fields added to the `--json` document.
   */
  constructor(
    readonly code: number,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The message of an error (or the text of a thrown value that is not one). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The `error` object of a `--json` document: name and message, and where the
 * error is (file, line, column, field, path; a refused prefix and the chain it
 * matches).
 */
export function errorData(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const data: Record<string, unknown> = { name: e.name, message: e.message };
  if (e instanceof PolicyFileError) {
    Object.assign(data, { file: e.file, line: e.line, column: e.column, field: e.field });
  }
  if (e instanceof RuleError) Object.assign(data, { field: e.field });
  if (e instanceof PolicyError) Object.assign(data, { path: e.path });
  if (e instanceof PrefixError) {
    Object.assign(data, { field: e.field, prefix: e.prefix });
    if (e.chain !== undefined) {
      Object.assign(data, { chain: e.chain, table: e.table, ipVersion: e.ipVersion });
    }
  }
  return data;
}

/**
 * The exit code of an error: a {@linkcode CommandExit}'s own, 2 for a usage
 * error (a refused prefix included), 4 for an invalid policy, else 1.
 */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CommandExit) return e.code;
  if (
    e instanceof UsageError || e instanceof PrefixError || e instanceof UnknownNamespaceError
  ) {
    return EXIT_CODES.USAGE;
  }
  if (
    e instanceof PolicyFileError || e instanceof PolicyError || e instanceof RuleError ||
    isRuleError(e)
  ) {
    return EXIT_CODES.INVALID_POLICY;
  }
  return EXIT_CODES.FAILURE;
}
