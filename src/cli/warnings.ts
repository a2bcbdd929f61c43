/**
 * The engine's warnings as the CLI reports them: one line each on stderr,
 * located in the policy file the rule came from, and as JSON objects.
 *
 * @module
 */
import { type Policy, policyRuleAt } from "../policy/policy.ts";
import { type SourcePosition, sourcePositionOf } from "../yaml/load.ts";
import type { EngineWarning } from "../engine/warnings.ts";

/**
 * Where the rule a warning is about was written: the warning names the rule
 * by its index among the rules of its family, as the engine was given them.
 *
 * @param policy The policy the firewall was given (rules loaded from YAML carry their position).
 * @param warning The warning.
 * @returns The rule's position, or `undefined` when it was not loaded from a file.
 */
export function locateWarning(policy: Policy, warning: EngineWarning): SourcePosition | undefined {
  const rule = policyRuleAt(policy, warning);
  return rule === undefined ? undefined : sourcePositionOf(rule);
}

/** The line printed for a warning: `file:line:col: warning: message`. */
export function warningLine(
  policy: Policy,
  warning: EngineWarning,
  paint: (text: string) => string = (t) => t,
): string {
  const at = locateWarning(policy, warning);
  const where = at === undefined ? "" : `${at.file}:${at.line}:${at.column}: `;
  return `${where}${paint("warning:")} ${warning.message}`;
}

/** A warning as `--json` reports it: its fields, and where its rule was written. */
export function warningJson(policy: Policy, warning: EngineWarning): Record<string, unknown> {
  const at = locateWarning(policy, warning);
  return at === undefined ? { ...warning } : { ...warning, source: { ...at } };
}
