/**
 * Parsing a YAML rule file's text (format: `README.md#yaml-rule-files`).
 *
 * @module
 */
import type { Policy } from "../policy/policy.ts";
import { type ParsePolicyOptions, policyFromText } from "./load.ts";
import { describeSyntaxError } from "./syntax_errors.ts";

/**
 * Parses a YAML rule file's text into a {@linkcode Policy}.
 *
 * @param text The YAML text.
 * @param options The file name for messages, and chain prefixes to enforce.
 * @returns The policy.
 * @throws {PolicyFileError} with `file:line:column`, the field and what is
 * allowed, for YAML syntax errors, unknown keys, wrong types and every DSL
 * `RuleError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy } from "@rampart/iptables/yaml";
 * const policy = parsePolicy(`
 * tables:
 *   filter:
 *     kernelChains:
 *       INPUT:
 *         insert:
 *           - jump: rp-input
 *     chains:
 *       rp-input:
 *         - protocol: tcp
 *           destPorts: [22, 443]
 *           action: accept
 * `);
 * assert.equal(
 *   policy.tables[0]!.chains[0]!.rules[0]!.match!.render(),
 *   "-p tcp -m multiport --destination-ports 22,443",
 * );
 * ```
 */
export function parsePolicy(text: string, options: ParsePolicyOptions = {}): Policy {
  return policyFromText(text, options, describeSyntaxError);
}
