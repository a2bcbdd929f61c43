/**
 * A rule file's match keys and action keys as DSL calls: a key's YAML value
 * turned into the arguments of its match method or action constructor (as
 * `dsl/rule_schema.ts` describes them), the call made, and the DSL's errors
 * located at the value that caused them.
 *
 * @module
 */
import type { Action, DslArg } from "../../dsl/action.ts";
import * as DslActions from "../../dsl/actions.ts";
import type { MatchCriteria } from "../../dsl/match.ts";
import { type CallSpec, closest, MATCH_SPECS, takesNoArgs } from "../../dsl/rule_schema.ts";
import { expectedValue, type ParamSite, readParam } from "./param_types.ts";
import type { Entry, Node, Site, YamlWalker } from "./walker.ts";

/** Converts a YAML value into the argument list of a match method or action. */
export function readCallArgs(w: YamlWalker, spec: CallSpec, at: ParamSite): DslArg[] {
  const { path, families, keyNode } = at;
  const n = w.resolve(at.node, path);
  if (w.isNull(n)) {
    w.fail(n, path, `Missing value for ${spec.key}: expected ${describeCall(spec)}`, {
      fallback: keyNode,
    });
  }
  if (w.scalar(n) === true && takesNoArgs(spec)) return [];
  const options = spec.options ?? [];
  if (spec.params.length === 0 && options.length === 0) {
    w.fail(n, path, `Invalid ${spec.key} ${w.show(n)}: expected true`, {
      allowed: ["true"],
    });
  }
  const first = spec.params[0];
  if (spec.variadic && first !== undefined) {
    const list = w.isSeq(n);
    const items: readonly Node[] = list ? w.items(n) : [n];
    return items.map((item, i) =>
      readParam(w, first, { node: item, path: list ? `${path}[${i}]` : path, keyNode, families })
    );
  }
  if (w.isMap(n) && (first === undefined || first.type !== "ranges")) {
    const names = [...spec.params, ...options].map((q) => q.name);
    const given = new Map<string, Entry>();
    for (const e of w.entries(n, path, names)) given.set(e.key, e);
    const args: DslArg[] = [];
    for (const q of spec.params) {
      const g = given.get(q.name);
      if (g === undefined) {
        if (q.optional !== true) {
          w.fail(n, path, `Missing ${q.name} in ${spec.key}: expected ${describeCall(spec)}`);
        }
        args.push(undefined);
      } else {
        args.push(readParam(w, q, { node: g.node, path: g.path, keyNode: g.keyNode, families }));
      }
    }
    if (options.length > 0) {
      const object = readOptions(w, spec, { given, at });
      if (object !== undefined) args.push(object);
    }
    while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
    return args;
  }
  if (
    first === undefined || spec.params.slice(1).some((q) => q.optional !== true) ||
    options.some((q) => q.optional !== true)
  ) {
    w.fail(n, path, `Invalid ${spec.key} ${w.show(n)}: expected ${describeCall(spec)}`);
  }
  return [readParam(w, first, { node: n, path, keyNode, families })];
}

/**
 * The trailing options object of a call (`tcp({ destPort: 22 })`), from the
 * keys of the same mapping; `undefined` when none is given.
 */
function readOptions(
  w: YamlWalker,
  spec: CallSpec,
  from: { given: ReadonlyMap<string, Entry>; at: ParamSite },
): DslArg | undefined {
  const { at } = from;
  const n = w.resolve(at.node, at.path);
  const object: Record<string, DslArg> = {};
  let any = false;
  for (const q of spec.options ?? []) {
    const g = from.given.get(q.name);
    if (g === undefined) {
      if (q.optional !== true) {
        w.fail(n, at.path, `Missing ${q.name} in ${spec.key}: expected ${describeCall(spec)}`);
      }
      continue;
    }
    object[q.name] = readParam(w, q, {
      node: g.node,
      path: g.path,
      keyNode: g.keyNode,
      families: at.families,
    });
    any = true;
  }
  return any ? object : undefined;
}

/** What a call's value must be, as error messages say it. */
export function describeCall(spec: CallSpec): string {
  const options = spec.options ?? [];
  if (spec.params.length === 0 && options.length === 0) return "true";
  if (spec.variadic) return `a list of ports, e.g. [80, 443]`;
  const first = spec.params[0];
  if (first !== undefined && spec.params.length === 1 && options.length === 0) {
    return `${expectedValue(first.type)}${
      first.optional === true ? " (or true for no argument)" : ""
    }`;
  }
  const keys = [...spec.params, ...options].map((q) =>
    q.optional === true ? `${q.name} (optional)` : q.name
  );
  const rest = first !== undefined && spec.params.slice(1).every((q) => q.optional === true) &&
      options.every((q) => q.optional === true)
    ? ` or just the ${first.name} (${expectedValue(first.type)})`
    : "";
  const none = first === undefined && takesNoArgs(spec) ? " (or true for none)" : "";
  return `a mapping with the keys ${keys.join(", ")}${rest}${none}`;
}

/**
 * Adds one match clause to a rule's match: the key's match method, called
 * with its value's arguments (an IPv4- or IPv6-only method only in a rule
 * of that family).
 */
export function readClause(
  w: YamlWalker,
  match: MatchCriteria,
  clause: { spec: CallSpec | undefined; at: ParamSite },
): MatchCriteria {
  const { spec, at } = clause;
  const { node, path, families, keyNode } = at;
  if (spec === undefined) return unknownMatch(w, path.replace(/^.*\./, ""), at);
  if (spec.family !== undefined && !families.includes(spec.family)) {
    w.fail(
      keyNode,
      path,
      `Invalid ${spec.key}: an IPv${spec.family}-only match in a rule for ipv${families[0]}: ` +
        `move it to a rule, chain or table with "family: ipv${spec.family}"`,
    );
  }
  if (spec.family !== undefined && families.length > 1) {
    w.fail(
      keyNode,
      path,
      `Invalid ${spec.key}: an IPv${spec.family}-only match in a rule for both families: ` +
        `set "family: ipv${spec.family}" on the rule, its chain or its table`,
      { allowed: [`family: ipv${spec.family}`] },
    );
  }
  const args = readCallArgs(w, spec, at);
  const method = (match as unknown as Record<string, unknown>)[spec.name];
  if (typeof method !== "function") {
    w.fail(
      keyNode,
      path,
      `Unknown match method "${spec.key}": this version of the DSL lacks it`,
    );
  }
  try {
    return (method as (...a: DslArg[]) => MatchCriteria).apply(match, args);
  } catch (e) {
    return locateDslError(w, e, { spec, args, at: { node, path, keyNode } });
  }
}

/** Refuses a key that is no match method (with the closest one, when it looks like a typo). */
export function unknownMatch(w: YamlWalker, key: string, at: Site): never {
  const allowed = [...MATCH_SPECS.keys()];
  const hint = closest(key, allowed);
  return w.fail(
    at.keyNode,
    at.path,
    `Unknown match method "${key}": expected one of the Match() methods (protocol, sourceNet, destPorts, …)${
      hint === undefined ? "" : ` (did you mean "${hint}"?)`
    }`,
    { allowed },
  );
}

/**
 * Makes an action with its constructor, and records where its value was
 * written (for errors found later, a jump to a missing chain).
 */
export function makeAction(
  w: YamlWalker,
  action: { spec: CallSpec; args: DslArg[]; at: Site },
): Action {
  const { spec, args, at } = action;
  const ctor = (DslActions as unknown as Record<string, unknown>)[spec.name];
  if (typeof ctor !== "function") {
    w.fail(at.keyNode, at.path, `Unknown action "${spec.key}": this version of the DSL lacks it`);
  }
  let made: Action;
  try {
    made = (ctor as (...a: DslArg[]) => Action)(...args);
  } catch (e) {
    return locateDslError(w, e, action);
  }
  // Where its value is, for errors found later (a jump to a missing chain).
  w.record(made, w.resolve(at.node, at.path) ?? at.keyNode, at.path, false);
  return made;
}

/**
 * Re-throws a DSL error located at the YAML node that caused it: the
 * mapping entry or list item its `field` or `value` names, else the value.
 */
function locateDslError(
  w: YamlWalker,
  e: unknown,
  call: { spec: CallSpec; args: readonly DslArg[]; at: Site },
): never {
  if (!(e instanceof Error)) throw e;
  const { spec, args } = call;
  const { path, keyNode } = call.at;
  const n = w.resolve(call.at.node, path);
  let target: Node = n;
  let field = path;
  const ruleField = (e as { field?: unknown }).field;
  const ruleValue = (e as { value?: unknown }).value;
  const last = typeof ruleField === "string" ? ruleField.replace(/^.*\./, "") : "";
  if (w.isMap(n)) {
    const pairs = w.flatPairs(n);
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i]!, value = pairs[i + 1]!;
      const k = w.resolve(key, path);
      if (w.scalar(k) === last) {
        target = value;
        field = `${path}.${last}`;
      }
    }
  } else if (w.isSeq(n) && ruleValue !== undefined) {
    const flat = spec.variadic ? args : args[0];
    if (Array.isArray(flat)) {
      const i = flat.findIndex((a) =>
        a === ruleValue || JSON.stringify(a) === JSON.stringify(ruleValue)
      );
      const items = w.items(n);
      if (i >= 0 && items[i] !== undefined) {
        target = items[i];
        field = `${path}[${i}]`;
      }
    }
  }
  const message = e.message.includes(spec.key) ? e.message : `${e.message} (in ${spec.key})`;
  return w.fail(target, field, message, { cause: e, fallback: keyNode });
}
