/**
 * One rule of a rule file: a mapping of match keys (or a `match:` list of
 * them), at most one action (`action: <name>` or an action key such as
 * `jump:`), a comment and a family.
 *
 * @module
 */
import type { Action } from "../../dsl/action.ts";
import { Match, type MatchCriteria } from "../../dsl/match.ts";
import { commentProblem } from "../../dsl/rule.ts";
import {
  ACTION_SPECS,
  type CallSpec,
  closest,
  MATCH_SPECS,
  RULE_KEYS,
  takesNoArgs,
} from "../../dsl/rule_schema.ts";
import type { IpFamily, PolicyRule } from "../policy/policy.ts";
import { makeAction, readCallArgs, readClause, unknownMatch } from "./calls.ts";
import { readFamily } from "./family.ts";
import type { Entry, Node, Site, YamlWalker } from "./walker.ts";

/** Every key a rule may have (for "did you mean"). */
const RULE_FIELDS: readonly string[] = [
  ...RULE_KEYS,
  ...MATCH_SPECS.keys(),
  ...ACTION_SPECS.keys(),
];
/** The actions `action: <name>` may name (no arguments needed). */
const PLAIN_ACTIONS = [...ACTION_SPECS.values()].filter(takesNoArgs);
const PLAIN_ACTIONS_BY_KEY = new Map(PLAIN_ACTIONS.map((c) => [c.key.toLowerCase(), c]));

/** A rule being read: what it has so far. */
interface RuleUnderConstruction {
  rule: PolicyRule;
  /** The rule's mapping's path. */
  path: string;
  /** Its families. */
  families: readonly IpFamily[];
  match: MatchCriteria;
  clauses: number;
  /** The key of its action, once it has one. */
  actionKey: Node;
}

/** Reads one rule (a list item at `at`) for the enclosing families. */
export function readRule(w: YamlWalker, at: Site, enclosing: readonly IpFamily[]): PolicyRule {
  const { path } = at;
  const m = w.resolve(at.node, path);
  if (!w.isMap(m)) {
    w.fail(
      m,
      path,
      `Invalid rule ${
        w.show(m)
      }: expected a mapping of match keys, an action and an optional comment`,
    );
  }
  const rule: PolicyRule = {};
  w.record(rule, m, path, false);
  const entries = w.entries(m, path, undefined);
  const r: RuleUnderConstruction = {
    rule,
    path,
    families: ruleFamilies(w, rule, { entries, enclosing }),
    match: Match(),
    clauses: 0,
    actionKey: undefined,
  };
  for (const e of entries) {
    if (e.key === "family") continue;
    const spec = MATCH_SPECS.get(e.key);
    if (e.key === "comment") rule.comment = readComment(w, e);
    else if (e.key === "match") readMatchList(w, r, e);
    else if (e.key === "action") readPlainAction(w, r, e);
    else if (spec !== undefined) addClause(w, r, { spec, at: e });
    else readActionKey(w, r, e);
  }
  if (r.clauses > 0) rule.match = r.match;
  return rule;
}

/** The rule's `family`, read before its other keys (their values depend on it). */
function ruleFamilies(
  w: YamlWalker,
  rule: PolicyRule,
  of: { entries: readonly Entry[]; enclosing: readonly IpFamily[] },
): readonly IpFamily[] {
  let families = of.enclosing;
  for (const e of of.entries) {
    if (e.key === "family") {
      let v: IpFamily | undefined;
      [families, v] = readFamily(w, e, of.enclosing);
      if (v !== undefined) rule.ipVersion = v;
    }
  }
  return families;
}

/** Adds a match key's clause to the rule's match. */
function addClause(
  w: YamlWalker,
  r: RuleUnderConstruction,
  clause: { spec: CallSpec | undefined; at: Entry },
): void {
  const { at } = clause;
  r.match = readClause(w, r.match, {
    spec: clause.spec,
    at: { node: at.node, path: at.path, keyNode: at.keyNode, families: r.families },
  });
  r.clauses++;
}

/** `match: [{protocol: tcp}, {destPorts: [80]}]`: clauses, one key per item, in order. */
function readMatchList(w: YamlWalker, r: RuleUnderConstruction, e: Entry): void {
  const list = w.seq(
    e.node,
    e.path,
    "a list of single-key mappings, e.g. [{protocol: tcp}, {destPorts: [80]}]",
    e.keyNode,
  );
  for (const [i, item] of (list === undefined ? [] : w.items(list)).entries()) {
    const ipath = `${e.path}[${i}]`;
    const im = w.map(item, ipath, "a mapping with one match key");
    if (im === undefined || w.size(im) !== 1) {
      w.fail(
        item,
        ipath,
        `Invalid ${ipath}: expected a mapping with exactly one match key, e.g. {protocol: tcp}`,
      );
    }
    for (const c of w.entries(im, ipath)) {
      const cspec = MATCH_SPECS.get(c.key);
      if (cspec === undefined) unknownMatch(w, c.key, c);
      addClause(w, r, { spec: cspec, at: c });
    }
  }
}

/** `action: accept`: an action without arguments, by its key (any case). */
function readPlainAction(w: YamlWalker, r: RuleUnderConstruction, e: Entry): void {
  const s = w.string(e.node, e.path, "the name of an action without arguments", e.keyNode);
  const aspec = PLAIN_ACTIONS_BY_KEY.get(s.toLowerCase());
  if (aspec === undefined) {
    const names = PLAIN_ACTIONS.map((c) => c.key);
    const withArgs = ACTION_SPECS.get(s) ??
      [...ACTION_SPECS.values()].find((c) => c.key.toLowerCase() === s.toLowerCase());
    const hint = closest(s, names);
    w.fail(
      e.node,
      e.path,
      withArgs !== undefined
        ? `Invalid action "${s}": ${withArgs.key} takes arguments, write it as its own key: ${withArgs.key}: ${
          withArgs.params.map((q) => q.name).join(", ")
        }`
        : `Invalid action ${JSON.stringify(s)}: expected one of ${names.join(", ")}${
          hint === undefined ? "" : ` (did you mean "${hint}"?)`
        }`,
      { allowed: names },
    );
  }
  setAction(w, r, { action: makeAction(w, { spec: aspec, args: [], at: e }), at: e });
}

/** `jump: rp-web`, `dnat: {…}`: an action key with its arguments (or an unknown key). */
function readActionKey(w: YamlWalker, r: RuleUnderConstruction, e: Entry): void {
  const aspec = ACTION_SPECS.get(e.key);
  if (aspec === undefined) {
    const hint = closest(e.key, RULE_FIELDS);
    w.fail(
      e.keyNode,
      e.path,
      `Unknown rule key "${e.key}": expected a match method (protocol, destPorts, …), ` +
        `an action (action, jump, dnat, …), comment, family or match${
          hint === undefined ? "" : ` (did you mean "${hint}"?)`
        }`,
      { allowed: RULE_FIELDS },
    );
  }
  const args = readCallArgs(w, aspec, {
    node: e.node,
    path: e.path,
    keyNode: e.keyNode,
    families: r.families,
  });
  setAction(w, r, { action: makeAction(w, { spec: aspec, args, at: e }), at: e });
}

/** Sets the rule's action: a second one is an error at its key. */
function setAction(
  w: YamlWalker,
  r: RuleUnderConstruction,
  set: { action: Action; at: Entry },
): void {
  const { keyNode, path: field } = set.at;
  if (r.rule.action !== undefined) {
    w.fail(
      keyNode,
      field,
      `A rule has at most one action: ${field.slice(r.path.length + 1)} follows ${
        w.show(r.actionKey)
      }`,
    );
  }
  r.actionKey = keyNode;
  r.rule.action = set.action;
}

/** A rule's comment: a string or a list of strings (a number or boolean as written). */
function readComment(w: YamlWalker, at: Entry): string | string[] {
  const { path, keyNode } = at;
  const n = w.resolve(at.node, path);
  if (w.isSeq(n)) {
    return w.items(n).map((item, i) =>
      stored(w, w.string(item, `${path}[${i}]`, "a string", keyNode), {
        node: item,
        path: `${path}[${i}]`,
      })
    );
  }
  const v = w.scalar(n);
  if (typeof v === "number" || typeof v === "boolean") return w.source(n!);
  return stored(w, w.string(n, path, "a string or a list of strings", keyNode), { node: n, path });
}

/** A comment the kernel stores as written (files never have theirs silently rewritten). */
function stored(w: YamlWalker, comment: string, at: Site): string {
  const problem = commentProblem(comment);
  if (problem !== undefined) {
    w.fail(at.node, at.path, `Invalid comment ${JSON.stringify(comment)}: ${problem}`);
  }
  return comment;
}
