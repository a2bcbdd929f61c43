/**
 * The engine's warnings as the CLI reports them: one line each on stderr,
 * located in the policy file the rule came from, and as JSON objects.
 *
 * @module
 */
import type { IpFamily, Policy, PolicyRule } from "../policy/policy.ts";
import { type SourcePosition, sourcePositionOf } from "../yaml/load.ts";
import type { EngineWarning } from "../engine/warnings.ts";

function appliesTo(item: { ipVersion?: IpFamily }, ipVersion: IpFamily): boolean {
  return item.ipVersion === undefined || item.ipVersion === ipVersion;
}

/**
 * Where the rule a warning is about was written: the warning names the rule
 * by its index among the rules of its family, as the engine was given them.
 *
 * @param policy The policy the firewall was given (rules loaded from YAML carry their position).
 * @param warning The warning.
 * @returns The rule's position, or `undefined` when it was not loaded from a file.
 */
export function locateWarning(policy: Policy, warning: EngineWarning): SourcePosition | undefined {
  const v = warning.ipVersion;
  const table = policy.tables.find((t) => t.table === warning.table && appliesTo(t, v));
  if (table === undefined) return undefined;
  let rules: readonly PolicyRule[] | undefined;
  if (warning.list === "chain") {
    rules = table.chains.find((c) => c.name === warning.chain && appliesTo(c, v))?.rules;
  } else {
    rules = (warning.list === "insert" ? table.insertions : table.appends)[warning.chain];
  }
  const rule = rules?.filter((r) => appliesTo(r, v))[warning.ruleIndex];
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
