/**
 * Writing a {@linkcode Policy} as a YAML rule file (format:
 * `README.md#yaml-rule-files`). `parsePolicy(stringifyPolicy(p))` equals `p`.
 *
 * @module
 */
import { Document, Scalar, type YAMLMap } from "yaml";
import type { Action, DslArg } from "../../dsl/action.ts";
import { RuleError } from "../../dsl/errors.ts";
import type { MatchClause } from "../../dsl/match.ts";
import { commentProblem, ruleComments } from "../../dsl/rule.ts";
import { KERNEL_CHAINS } from "../../dsl/kernel_chains.ts";
import type { IpFamily, Policy, PolicyRule, TablePolicy } from "../policy/policy.ts";
import {
  ACTION_SPECS_BY_KIND,
  type CallSpec,
  MATCH_SPECS,
  type ParamSpec,
  RULE_KEYS,
  takesNoArgs,
} from "../../dsl/rule_schema.ts";
import { plain, writeParam, type YamlOut } from "./param_types.ts";

/** Options of {@linkcode stringifyPolicy}. */
export interface StringifyPolicyOptions {
  /** A comment written at the top of the file. @default {"Rampart policy (format: README.md#yaml-rule-files)"} */
  header?: string;
}

const DEFAULT_HEADER = " Rampart policy (format: README.md#yaml-rule-files)";

function familyName(v: IpFamily): string {
  return v === 4 ? "ipv4" : "ipv6";
}

class Writer implements YamlOut {
  readonly doc: Document;

  constructor() {
    this.doc = new Document({});
  }

  flow(values: unknown[]): unknown {
    return this.doc.createNode(values, { flow: true });
  }

  /** A mapping on one line. */
  flowMap(entries: readonly (readonly [string, unknown])[]): unknown {
    const m = this.doc.createNode({}, { flow: true }) as YAMLMap;
    for (const [k, v] of entries) m.set(k, v);
    return m;
  }

  /** An integer written in hex. */
  hex(value: number): unknown {
    const s = new Scalar(value);
    s.format = "HEX";
    return s;
  }

  /** One parameter's value (as its type writes it, see `param_types.ts`). */
  param(q: ParamSpec | undefined, arg: DslArg): unknown {
    return writeParam(q, arg, this);
  }

  /** A call's value: `true`, a scalar, a list or a mapping of named parameters. */
  call(spec: CallSpec | undefined, args: readonly DslArg[]): unknown {
    if (spec === undefined) {
      if (args.length === 0) return true;
      if (args.length === 1 && !Array.isArray(args[0])) return plain(args[0]);
      return this.flow(args.map(plain));
    }
    if (args.length === 0 && takesNoArgs(spec)) return true;
    if (spec.variadic) return this.flow(args.map(plain));
    const options = spec.options ?? [];
    const object = options.length > 0 ? args[spec.params.length] : undefined;
    const restOptional = spec.params.slice(1).every((q) => q.optional === true) &&
      options.every((q) => q.optional === true);
    if (args.length === 1 && spec.params.length > 0 && restOptional) {
      return this.param(spec.params[0], args[0]);
    }
    const m = this.doc.createNode({}, { flow: true }) as YAMLMap;
    args.forEach((a, i) => {
      if (a === undefined || (object !== undefined && i === spec.params.length)) return;
      const q = spec.params[i];
      m.set(q?.name ?? `arg${i}`, this.param(q, a));
    });
    if (object !== null && typeof object === "object" && !Array.isArray(object)) {
      for (const [k, v] of Object.entries(object as Record<string, DslArg>)) {
        if (v === undefined) continue;
        m.set(k, this.param(options.find((q) => q.name === k), v));
      }
    }
    return m;
  }

  rule(rule: PolicyRule): unknown {
    const m = this.doc.createNode({}) as YAMLMap;
    if (rule.comment !== undefined) {
      for (const c of ruleComments(rule)) {
        const problem = commentProblem(c);
        if (problem !== undefined) {
          throw new RuleError(
            `Invalid comment ${
              JSON.stringify(c)
            }: a rule file cannot hold it as written (${problem})`,
            { field: "comment", value: c },
          );
        }
      }
      m.set("comment", typeof rule.comment === "string" ? rule.comment : [...rule.comment]);
    }
    if (rule.ipVersion !== undefined) m.set("family", familyName(rule.ipVersion));
    const clauses: readonly MatchClause[] = rule.match?.clauses ?? [];
    const methods = clauses.map((c) => c.method);
    const repeated = methods.some((name, i) => methods.indexOf(name) !== i) ||
      methods.some((name) => RESERVED.has(name));
    if (repeated) {
      m.set(
        "match",
        clauses.map((c) => {
          const item = this.doc.createNode({}, { flow: true }) as YAMLMap;
          item.set(c.method, this.call(MATCH_SPECS.get(c.method), c.args));
          return item;
        }),
      );
    } else {
      for (const c of clauses) m.set(c.method, this.call(MATCH_SPECS.get(c.method), c.args));
    }
    if (rule.action !== undefined) this.action(m, rule.action);
    return m;
  }

  action(m: YAMLMap, action: Action): void {
    const spec = ACTION_SPECS_BY_KIND.get(action.kind);
    const key = spec?.key ?? action.kind[0]!.toLowerCase() + action.kind.slice(1);
    if (action.args.length === 0) m.set("action", key);
    else m.set(key, this.call(spec, action.args));
  }

  rules(rules: readonly PolicyRule[]): unknown[] {
    return rules.map((r) => this.rule(r));
  }

  table(t: TablePolicy): unknown {
    const m = this.doc.createNode({}) as YAMLMap;
    if (t.ipVersion !== undefined) m.set("family", familyName(t.ipVersion));
    const names = new Set([
      ...Object.keys(t.policies),
      ...Object.keys(t.insertions),
      ...Object.keys(t.appends),
    ]);
    const order: readonly string[] = KERNEL_CHAINS[t.table] ?? [];
    const sorted = [...names].sort((a, b) => rank(order, a) - rank(order, b));
    if (sorted.length > 0) {
      const kc = this.doc.createNode({}) as YAMLMap;
      for (const name of sorted) {
        const c = this.doc.createNode({}) as YAMLMap;
        const policy = t.policies[name];
        if (policy !== undefined) c.set("policy", policy);
        const ins = t.insertions[name];
        if (ins !== undefined) c.set("insert", this.rules(ins));
        const app = t.appends[name];
        if (app !== undefined) c.set("append", this.rules(app));
        kc.set(name, c);
      }
      m.set("kernelChains", kc);
    }
    if (t.chains.length > 0) {
      const cs = this.doc.createNode({}) as YAMLMap;
      for (const chain of t.chains) {
        if (chain.ipVersion === undefined) cs.set(chain.name, this.rules(chain.rules));
        else {
          const c = this.doc.createNode({}) as YAMLMap;
          c.set("family", familyName(chain.ipVersion));
          c.set("rules", this.rules(chain.rules));
          cs.set(chain.name, c);
        }
      }
      m.set("chains", cs);
    }
    return m;
  }
}

/** A rule's own keys: a match method of the same name is written in a match list. */
const RESERVED: ReadonlySet<string> = new Set(RULE_KEYS);

function rank(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

/**
 * Writes a policy as YAML rule-file text. Loading the text gives an equal
 * policy, and saving a loaded file again gives the same text.
 *
 * @param policy The policy.
 * @param options The header comment.
 * @returns The YAML text.
 * @throws {RuleError} for a comment a rule file cannot hold as written (see `commentProblem`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match, tablePolicy } from "@rampart/iptables";
 * import { stringifyPolicy } from "@rampart/iptables/yaml";
 * const text = stringifyPolicy({
 *   ipVersions: [4, 6],
 *   tables: [tablePolicy("filter", {
 *     chains: [{ name: "rp-web", rules: [{ match: Match().protocol("tcp").destPorts(80, 443), action: Accept() }] }],
 *   })],
 * });
 * assert.equal(text, [
 *   "# Rampart policy (format: README.md#yaml-rule-files)",
 *   "",
 *   "tables:",
 *   "  filter:",
 *   "    chains:",
 *   "      rp-web:",
 *   "        - protocol: tcp",
 *   "          destPorts: [80, 443]",
 *   "          action: accept",
 *   "",
 * ].join("\n"));
 * ```
 */
export function stringifyPolicy(policy: Policy, options: StringifyPolicyOptions = {}): string {
  const w = new Writer();
  const root = w.doc.contents as YAMLMap;
  const versions = [...new Set(policy.ipVersions)].sort();
  if (versions.length === 0) {
    throw new TypeError(
      "Invalid ipVersions []: expected at least one IP family to write a policy file",
    );
  }
  if (versions.length === 1) root.set("family", familyName(versions[0]!));
  if (policy.ruleIds !== undefined) root.set("ruleIds", policy.ruleIds);
  const tables = w.doc.createNode({}) as YAMLMap;
  for (const t of policy.tables) tables.set(t.table, w.table(t));
  root.set("tables", tables);
  const header = options.header === undefined ? DEFAULT_HEADER : ` ${options.header}`;
  if (header.trim() !== "") w.doc.commentBefore = header;
  return w.doc.toString({ lineWidth: 0, indentSeq: true, flowCollectionPadding: false });
}

/**
 * Writes a policy to a YAML rule file (needs `--allow-write` for it).
 *
 * @param path The file.
 * @param policy The policy.
 * @param options The header comment.
 * @throws {RuleError} for a comment a rule file cannot hold as written (see `commentProblem`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyPolicy } from "@rampart/iptables";
 * import { loadPolicyFile, savePolicyFile } from "@rampart/iptables/yaml";
 * const path = await Deno.makeTempFile({ suffix: ".yaml" });
 * await savePolicyFile(path, emptyPolicy());
 * assert.deepEqual(await loadPolicyFile(path), emptyPolicy());
 * await Deno.remove(path);
 * ```
 */
export async function savePolicyFile(
  path: string,
  policy: Policy,
  options: StringifyPolicyOptions = {},
): Promise<void> {
  await Deno.writeTextFile(path, stringifyPolicy(policy, options));
}
