/**
 * Exporting a {@linkcode Policy} as TypeScript source that rebuilds it with
 * the DSL (the REPL's and CLI's `export`).
 *
 * @module
 */
import type { Action, DslArg } from "../../dsl/action.ts";
import type { MatchCriteria } from "../../dsl/match.ts";
import type { Policy, PolicyChain, PolicyRule, TablePolicy } from "./policy.ts";
import { ACTION_SPECS_BY_KIND, MATCH_SPECS, type ParamSpec } from "../../dsl/rule_schema.ts";

/** Options of {@linkcode policyToTypeScript}. */
export interface PolicyToTypeScriptOptions {
  /** Where the DSL is imported from. @default {"@rampart/iptables"} */
  moduleSpecifier?: string;
  /** The name of the exported constant. @default {"policy"} */
  exportName?: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function identifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new TypeError(
      `Invalid ${what} ${JSON.stringify(name)}: expected a JavaScript identifier`,
    );
  }
  return name;
}

function key(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

function literal(arg: DslArg, param?: ParamSpec): string {
  if (arg === undefined) return "undefined";
  if (typeof arg === "number") {
    if (param?.type === "mark" && Number.isInteger(arg) && arg >= 0) return `0x${arg.toString(16)}`;
    return Object.is(arg, -0) ? "-0" : String(arg);
  }
  if (typeof arg === "string" || typeof arg === "boolean") return JSON.stringify(arg);
  if (Array.isArray(arg)) return `[${arg.map((a) => literal(a)).join(", ")}]`;
  const entries = Object.entries(arg as Record<string, DslArg>);
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([k, v]) => `${key(k)}: ${literal(v)}`).join(", ")} }`;
}

class Exporter {
  readonly used = new Set<string>();

  args(
    args: readonly DslArg[],
    params: readonly ParamSpec[] | undefined,
    variadic: boolean,
  ): string {
    return args.map((a, i) => literal(a, variadic ? params?.[0] : params?.[i])).join(", ");
  }

  match(m: MatchCriteria): string {
    this.used.add("Match");
    return "Match()" + m.clauses.map((c) => {
      const spec = MATCH_SPECS.get(c.method);
      return `.${identifier(c.method, "match method")}(${
        this.args(c.args, spec?.params, spec?.variadic === true)
      })`;
    }).join("");
  }

  action(a: Action): string {
    const kind = identifier(a.kind, "action kind");
    this.used.add(kind);
    return `${kind}(${this.args(a.args, ACTION_SPECS_BY_KIND.get(a.kind)?.params, false)})`;
  }

  rule(r: PolicyRule): string {
    const parts: string[] = [];
    if (r.match !== undefined) parts.push(`match: ${this.match(r.match)}`);
    if (r.action !== undefined) parts.push(`action: ${this.action(r.action)}`);
    if (r.comment !== undefined) {
      parts.push(
        `comment: ${
          typeof r.comment === "string" ? JSON.stringify(r.comment) : literal([...r.comment])
        }`,
      );
    }
    if (r.ipVersion !== undefined) parts.push(`ipVersion: ${r.ipVersion}`);
    return parts.length === 0 ? "{}" : `{ ${parts.join(", ")} }`;
  }

  rules(rules: readonly PolicyRule[], indent: string): string {
    if (rules.length === 0) return "[]";
    return `[\n${rules.map((r) => `${indent}  ${this.rule(r)},\n`).join("")}${indent}]`;
  }

  lists(rec: Record<string, readonly PolicyRule[]>, indent: string): string {
    const entries = Object.entries(rec);
    if (entries.length === 0) return "{}";
    return `{\n${
      entries.map(([k, v]) => `${indent}  ${key(k)}: ${this.rules(v, `${indent}  `)},\n`).join("")
    }${indent}}`;
  }

  chain(c: PolicyChain, indent: string): string {
    const version = c.ipVersion === undefined ? "" : `, ipVersion: ${c.ipVersion}`;
    return `{ name: ${JSON.stringify(c.name)}${version}, rules: ${this.rules(c.rules, indent)} }`;
  }

  table(t: TablePolicy): string {
    const i = "      ";
    const lines = [`      table: ${JSON.stringify(t.table)},`];
    if (t.ipVersion !== undefined) lines.push(`      ipVersion: ${t.ipVersion},`);
    lines.push(
      t.chains.length === 0
        ? "      chains: [],"
        : `      chains: [\n${
          t.chains.map((c) => `${i}  ${this.chain(c, `${i}  `)},\n`).join("")
        }${i}],`,
    );
    lines.push(`      insertions: ${this.lists(t.insertions, i)},`);
    lines.push(`      appends: ${this.lists(t.appends, i)},`);
    lines.push(`      policies: ${literal(t.policies as Record<string, string>)},`);
    return `    {\n${lines.join("\n")}\n    },\n`;
  }
}

/**
 * Writes TypeScript source that rebuilds the policy with the DSL: it imports
 * the constructors it needs and exports the policy as a constant. Importing
 * the module gives a policy equal to the one exported.
 *
 * @param policy The policy.
 * @param options Import specifier and constant name.
 * @returns The module's source text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match, policyToTypeScript, tablePolicy } from "@rampart/iptables";
 * const source = policyToTypeScript({
 *   ipVersions: [4],
 *   tables: [tablePolicy("filter", { insertions: { INPUT: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] } })],
 * });
 * assert.ok(source.includes('Match().protocol("tcp").destPorts(22)'));
 * ```
 */
export function policyToTypeScript(
  policy: Policy,
  options: PolicyToTypeScriptOptions = {},
): string {
  const name = identifier(options.exportName ?? "policy", "exportName");
  const e = new Exporter();
  const tables = policy.tables.map((t) => e.table(t)).join("");
  const imports = [...e.used].sort();
  const spec = JSON.stringify(options.moduleSpecifier ?? "@rampart/iptables");
  const importList = [...imports, "type Policy"].join(", ");
  return [
    `// Generated by Rampart (policyToTypeScript).`,
    `import { ${importList} } from ${spec};`,
    "",
    `export const ${name}: Policy = {`,
    `  ipVersions: ${literal([...policy.ipVersions])},`,
    policy.tables.length === 0 ? "  tables: []," : `  tables: [\n${tables}  ],`,
    ...(policy.ruleIds === undefined ? [] : [`  ruleIds: ${JSON.stringify(policy.ruleIds)},`]),
    "};",
    "",
  ].join("\n");
}
