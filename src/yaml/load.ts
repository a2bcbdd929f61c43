/**
 * Loading YAML rule files (format: `README.md#yaml-rule-files`) into a
 * {@linkcode Policy}, with every error located at `file:line:column`.
 *
 * @module
 */
import type { Action, DslArg } from "../../dsl/action.ts";
import * as DslActions from "../../dsl/actions.ts";
import type { RuleIds } from "../../dsl/hash.ts";
import { Match, type MatchCriteria } from "../../dsl/match.ts";
import { commentProblem } from "../../dsl/rule.ts";
import {
  isKernelChain,
  isTableName,
  KERNEL_CHAINS,
  type TableName,
} from "../../dsl/kernel_chains.ts";
import { policyRecordChain } from "../engine/policy_record.ts";
import {
  chainNameProblem,
  type ChainPolicy,
  type IpFamily,
  type Policy,
  type PolicyChain,
  PolicyError,
  type PolicyRule,
  type TablePolicy,
  validatePolicy,
} from "../policy/policy.ts";
import {
  linePos,
  type NodeKind,
  type ScalarValue,
  YamlDocument,
  YamlSyntaxError,
} from "./document.ts";
import { PolicyFileError } from "./errors.ts";
import { FastPathRefused, FastTree } from "./fast_tree.ts";
import { nodeAtField } from "./field_path.ts";
import { DEFAULT_MAX_BYTES, readPolicyText } from "./read_text.ts";
import {
  ACTION_SPECS,
  type CallSpec,
  CHAIN_KEYS,
  closest,
  FAMILIES,
  KERNEL_CHAIN_KEYS,
  MATCH_SPECS,
  type ParamSpec,
  RULE_KEYS,
  TABLE_KEYS,
  takesNoArgs,
  TOP_KEYS,
} from "../../dsl/rule_schema.ts";

export { PolicyFileError } from "./errors.ts";

/** Options of `parsePolicy`. */
export interface ParsePolicyOptions {
  /** The file name used in error messages. @default {"<string>"} */
  file?: string;
  /** When given, every owned chain's name must start with one of these. */
  chainPrefixes?: readonly string[];
}

/** Where a table, chain or rule of a loaded policy was written. */
export interface SourcePosition {
  /** The file name. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The field path, e.g. `tables.filter.chains.rp-input[2]`. */
  field: string;
}

/** Where one load's items are: the file, and where its lines start (for line and column). */
interface LoadedFile {
  file: string;
  lines: { linePos(offset: number): { line: number; col: number } };
}

/**
 * A file loaded on the fast path: its text, parsed again with positions
 * (once) when a position is first asked for.
 */
interface LazyFile {
  file: string;
  text: string;
  doc?: YamlDocument;
}

/**
 * Items and where they were written: the offset, turned into a line and
 * column only when asked (a large file has tens of thousands of items); or,
 * for a file loaded on the fast path, the field path alone, whose node is
 * found when asked (at its key, or at its value).
 */
const SOURCES = new WeakMap<
  object,
  { at: LoadedFile; offset: number; field: string } | {
    lazy: LazyFile;
    field: string;
    atKey: boolean;
  }
>();

/** Where a tree's node is in the file: the positioned parser's nodes only. */
function lazyPosition(
  lazy: LazyFile,
  field: string,
  atKey: boolean,
): { line: number; col: number } | undefined {
  lazy.doc ??= YamlDocument.parse(lazy.text);
  const found = nodeAtField(lazy.doc, field);
  if (found === undefined) return undefined;
  const node = atKey ? found.keyNode ?? found.node : found.node;
  return lazy.doc.linePos(lazy.doc.offset(node));
}

/** A parsed YAML document as the loader reads it (`YamlDocument` or `FastTree`). */
interface YamlTree {
  readonly root: unknown;
  kind(node: unknown): NodeKind;
  value(node: unknown): ScalarValue;
  source(node: unknown): string;
  items(node: unknown): readonly unknown[];
  flatPairs(node: unknown): readonly unknown[];
  size(node: unknown): number;
  aliasTarget(node: unknown): unknown;
  aliasName(node: unknown): string;
}

/**
 * Where a rule, chain or table policy returned by `parsePolicy` was
 * written, so that later errors (for example a `PlacementError` naming a
 * chain and rule index) can point into the file. A rule's action is located
 * at its value (`jump: rp-web` at `rp-web`).
 *
 * @param item A `PolicyRule`, `PolicyChain`, `TablePolicy` or a rule's `Action` of a loaded policy.
 * @returns Its position, or `undefined` for objects not loaded from YAML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy, sourcePositionOf } from "@rampart/iptables/yaml";
 * const policy = parsePolicy("tables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n          - action: accept\n", { file: "a.yaml" });
 * const rule = policy.tables[0]!.insertions.INPUT![0]!;
 * assert.deepEqual(
 *   sourcePositionOf(rule),
 *   { file: "a.yaml", line: 6, column: 13, field: "tables.filter.kernelChains.INPUT.insert[0]" },
 * );
 * ```
 */
export function sourcePositionOf(item: object): SourcePosition | undefined {
  const source = SOURCES.get(item);
  if (source === undefined) return undefined;
  if ("lazy" in source) {
    const at = lazyPosition(source.lazy, source.field, source.atKey);
    if (at === undefined) return undefined;
    return { file: source.lazy.file, line: at.line, column: at.col, field: source.field };
  }
  const { line, col } = source.at.lines.linePos(source.offset);
  return { file: source.at.file, line, column: col, field: source.field };
}

/** The key a field path ends with, without list indexes: `a.b[1].destPorts[0]` → `destPorts`. */
function leaf(path: string): string {
  const noIndex = path.replace(/(?:\[\d+\])+$/, "");
  return noIndex.slice(noIndex.lastIndexOf(".") + 1);
}

const TYPE_EXPECTED: Record<ParamSpec["type"], string> = {
  string: "a string",
  integer: "an integer",
  boolean: "true or false",
  mark: "a non-negative integer mark, e.g. 0x1000",
  ports: "a port number from 0 to 65535",
  ranges: 'a list of ports or port ranges: N, "N:M" or {first: N, last: M}',
  strings: "a string or a list of strings",
  address: "an IP address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32",
  portSpec: 'a port or port range, e.g. 8080 or "1024-65535"',
  port: 'a port or port range: N, "N:M" or {first: N, last: M}',
  idRange: 'an ID or ID range: N, "N-M" or {first: N, last: M}',
  tcpFlags: "TCP flags {mask: [FIN, SYN, RST, PSH, ACK, URG], set: [...]}",
  number: "a number",
};

/** A node of the document (see `YamlDocument` and `FastTree`); `undefined` when absent. */
type Node = unknown;

/** Every key a rule may have (for "did you mean"). */
const RULE_FIELDS: readonly string[] = [
  ...RULE_KEYS,
  ...MATCH_SPECS.keys(),
  ...ACTION_SPECS.keys(),
];
/** The actions `action: <name>` may name (no arguments needed). */
const PLAIN_ACTIONS = [...ACTION_SPECS.values()].filter(takesNoArgs);
const PLAIN_ACTIONS_BY_KEY = new Map(PLAIN_ACTIONS.map((c) => [c.key.toLowerCase(), c]));

class Loader {
  readonly #file: string;
  readonly #doc: YamlTree;
  /** The positioned document (the positioned path). */
  readonly #positioned: YamlDocument | undefined;
  readonly #chainPrefixes: readonly string[] | undefined;
  readonly #loaded: LoadedFile | undefined;
  /** The text, on the fast path (positions are found when asked). */
  readonly #lazy: LazyFile | undefined;

  constructor(
    file: string,
    doc: YamlDocument | { fast: FastTree; text: string },
    prefixes?: readonly string[],
  ) {
    this.#file = file;
    this.#chainPrefixes = prefixes;
    if (doc instanceof YamlDocument) {
      this.#doc = doc;
      this.#positioned = doc;
      this.#loaded = { file, lines: doc.lines() };
    } else {
      this.#doc = doc.fast;
      this.#lazy = { file, text: doc.text };
    }
  }

  // ---- positions and errors ------------------------------------------------

  position(node: Node, fallback?: Node): { line: number; col: number } {
    const doc = this.#positioned;
    // On the fast path every error is made by the positioned path.
    if (doc === undefined) throw new FastPathRefused();
    const n = node ?? fallback;
    return doc.linePos(n === undefined ? 0 : doc.offset(n as number));
  }

  fail(
    node: Node,
    field: string,
    reason: string,
    extra: { allowed?: readonly string[]; cause?: unknown; fallback?: Node } = {},
  ): never {
    const { line, col } = this.position(node, extra.fallback);
    throw new PolicyFileError(reason, {
      file: this.#file,
      line,
      column: col,
      field,
      ...(extra.allowed === undefined ? {} : { allowed: extra.allowed }),
      ...(extra.cause === undefined ? {} : { cause: extra.cause }),
    });
  }

  /** Records where an item was written: at `node`, the key of its entry when `atKey`. */
  record(item: object, node: Node, field: string, atKey: boolean): void {
    if (this.#lazy !== undefined) {
      SOURCES.set(item, { lazy: this.#lazy, field, atKey });
      return;
    }
    SOURCES.set(item, {
      at: this.#loaded!,
      offset: node === undefined ? 0 : this.#positioned!.offset(node as number),
      field,
    });
  }

  /** The node an alias stands for (aliases are expanded here, never copied). */
  resolve(node: Node, field: string): Node {
    if (node === undefined || this.#doc.kind(node) !== "alias") return node;
    const target = this.#doc.aliasTarget(node);
    if (target === undefined) this.fail(node, field, `Unknown alias *${this.#doc.aliasName(node)}`);
    return target;
  }

  // ---- shapes ---------------------------------------------------------------

  isScalar(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "scalar";
  }

  isMap(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "map";
  }

  isSeq(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "seq";
  }

  /** A scalar's value; `undefined` for collections and absent nodes. */
  scalar(node: Node): ScalarValue | undefined {
    return this.isScalar(node) ? this.#doc.value(node) : undefined;
  }

  isNull(node: Node): boolean {
    return node === undefined || (this.isScalar(node) && this.#doc.value(node) === null);
  }

  items(seq: Node): readonly Node[] {
    return this.#doc.items(seq);
  }

  map(node: Node, field: string, what: string, keyNode?: Node): Node {
    const n = this.resolve(node, field);
    if (this.isNull(n)) return undefined;
    if (!this.isMap(n)) {
      this.fail(n, field, `Invalid ${field}: expected ${what}`, { fallback: keyNode });
    }
    return n;
  }

  seq(node: Node, field: string, what: string, keyNode?: Node): Node {
    const n = this.resolve(node, field);
    if (this.isNull(n)) return undefined;
    if (!this.isSeq(n)) {
      this.fail(n, field, `Invalid ${field}: expected ${what}`, { fallback: keyNode });
    }
    return n;
  }

  key(keyNode: Node, field: string): string {
    const k = this.resolve(keyNode, field);
    const v = this.scalar(k);
    if (typeof v !== "string") {
      const shown = this.isScalar(k) ? JSON.stringify(v) : "a collection";
      this.fail(k, field, `Invalid key ${shown} in ${field}: expected a string`);
    }
    return v;
  }

  /** A mapping's pairs with their string keys, rejecting keys not in `allowed`. */
  entries(
    map: Node,
    field: string,
    allowed?: readonly string[],
  ): { key: string; keyNode: Node; value: Node; path: string }[] {
    const out: { key: string; keyNode: Node; value: Node; path: string }[] = [];
    const pairs = this.#doc.flatPairs(map);
    for (let i = 0; i < pairs.length; i += 2) {
      const keyNode = pairs[i]!, value = pairs[i + 1]!;
      const key = this.key(keyNode, field);
      const path = field === "" ? key : `${field}.${key}`;
      if (allowed !== undefined && !allowed.includes(key)) {
        const hint = closest(key, allowed);
        this.fail(
          keyNode,
          path,
          `Unknown key "${key}"${field === "" ? "" : ` in ${field}`}: expected one of ${
            allowed.join(", ")
          }${hint === undefined ? "" : ` (did you mean "${hint}"?)`}`,
          { allowed },
        );
      }
      out.push({ key, keyNode, value, path });
    }
    return out;
  }

  string(node: Node, field: string, what = "a string", keyNode?: Node): string {
    const n = this.resolve(node, field);
    const v = this.scalar(n);
    if (typeof v !== "string") {
      this.fail(n, field, `Invalid ${field} ${this.show(n)}: expected ${what}`, {
        fallback: keyNode,
      });
    }
    return v;
  }

  show(node: Node): string {
    if (node === undefined) return "(empty)";
    if (this.isScalar(node)) {
      const v = this.#doc.value(node);
      return v === null ? "(empty)" : typeof v === "string" ? JSON.stringify(v) : String(v);
    }
    return this.isMap(node) ? "(a mapping)" : this.isSeq(node) ? "(a list)" : "(unknown)";
  }

  /** Reads the top-level `ruleIds` value. */
  ruleIds(node: Node, keyNode: Node): RuleIds {
    const s = this.string(node, "ruleIds", "stable or chained", keyNode);
    if (s !== "stable" && s !== "chained") {
      const message = `Invalid ruleIds ${JSON.stringify(s)}: expected stable or chained`;
      this.fail(node, "ruleIds", message, { allowed: ["stable", "chained"] });
    }
    return s;
  }

  /** Reads a `family` value: the families it leaves, and the one it names (not for `both`). */
  family(
    node: Node,
    field: string,
    enclosing: readonly IpFamily[],
    keyNode: Node,
  ): [IpFamily[], IpFamily | undefined] {
    const s = this.string(node, field, "ipv4, ipv6 or both", keyNode);
    const value = s.toLowerCase();
    if (!FAMILIES.includes(value)) {
      this.fail(node, field, `Invalid ${field} ${JSON.stringify(s)}: expected ipv4, ipv6 or both`, {
        allowed: FAMILIES,
      });
    }
    if (value === "both") return [[...enclosing], undefined];
    const v: IpFamily = value === "ipv4" ? 4 : 6;
    if (!enclosing.includes(v)) {
      this.fail(
        node,
        field,
        `Invalid ${field} "${value}": the enclosing family is ${
          enclosing.length === 0 ? "none" : enclosing.map((f) => `ipv${f}`).join(" and ")
        } only`,
        { allowed: enclosing.map((f) => `ipv${f}`).concat("both") },
      );
    }
    return [[v], v];
  }

  // ---- policy structure -----------------------------------------------------

  policy(): Policy {
    const root = this.#doc.root;
    if (this.isNull(root)) {
      this.fail(root, "", "Empty policy file: expected a mapping with a tables key");
    }
    const top = this.map(root, "(top level)", "a mapping with the keys family and tables")!;
    let ipVersions: IpFamily[] = [4, 6];
    let ruleIds: RuleIds | undefined;
    for (const e of this.entries(top, "", TOP_KEYS)) {
      if (e.key === "family") [ipVersions] = this.family(e.value, "family", [4, 6], e.keyNode);
      if (e.key === "ruleIds") ruleIds = this.ruleIds(e.value, e.keyNode);
    }
    const tables: TablePolicy[] = [];
    for (const e of this.entries(top, "", TOP_KEYS)) {
      if (e.key !== "tables") continue;
      const m = this.map(e.value, "tables", "a mapping from table names to tables", e.keyNode);
      if (m === undefined) continue;
      for (const t of this.entries(m, "tables")) {
        if (!isTableName(t.key)) {
          const allowed = ["filter", "nat", "mangle", "raw"];
          const hint = closest(t.key, allowed);
          this.fail(
            t.keyNode,
            t.path,
            `Unknown table "${t.key}": expected one of ${allowed.join(", ")}${
              hint === undefined ? "" : ` (did you mean "${hint}"?)`
            }`,
            { allowed },
          );
        }
        tables.push(this.table(t.key, t.value, t.path, ipVersions, t.keyNode));
      }
    }
    const policy: Policy = ruleIds === undefined
      ? { ipVersions, tables }
      : { ipVersions, tables, ruleIds };
    try {
      validatePolicy(policy);
    } catch (e) {
      if (e instanceof PolicyError) this.fail(root, e.path, e.message, { cause: e });
      throw e;
    }
    return policy;
  }

  table(
    name: TableName,
    node: Node,
    path: string,
    enclosing: readonly IpFamily[],
    keyNode: Node,
  ): TablePolicy {
    const t: TablePolicy = { table: name, chains: [], insertions: {}, appends: {}, policies: {} };
    this.record(t, keyNode, path, true);
    const m = this.map(
      node,
      path,
      "a mapping with the keys family, kernelChains and chains",
      keyNode,
    );
    if (m === undefined) return t;
    let families = [...enclosing];
    for (const e of this.entries(m, path, TABLE_KEYS)) {
      if (e.key === "family") {
        let v: IpFamily | undefined;
        [families, v] = this.family(e.value, e.path, enclosing, e.keyNode);
        if (v !== undefined) t.ipVersion = v;
      }
    }
    for (const e of this.entries(m, path, TABLE_KEYS)) {
      if (e.key === "kernelChains") this.kernelChains(t, e.value, e.path, families, e.keyNode);
      else if (e.key === "chains") this.chains(t, e.value, e.path, families, e.keyNode);
    }
    return t;
  }

  kernelChains(
    t: TablePolicy,
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
  ): void {
    const m = this.map(node, path, "a mapping from kernel chain names to chains", keyNode);
    if (m === undefined) return;
    const kernel = KERNEL_CHAINS[t.table];
    for (const c of this.entries(m, path)) {
      if (!isKernelChain(t.table, c.key)) {
        const hint = closest(c.key, kernel);
        this.fail(
          c.keyNode,
          c.path,
          `Unknown kernel chain "${c.key}" in table ${t.table}: expected one of ${
            kernel.join(", ")
          }${hint === undefined ? "" : ` (did you mean "${hint}"?)`}`,
          { allowed: kernel },
        );
      }
      const cm = this.map(
        c.value,
        c.path,
        "a mapping with the keys policy, insert and append",
        c.keyNode,
      );
      if (cm === undefined) continue;
      for (const e of this.entries(cm, c.path, KERNEL_CHAIN_KEYS)) {
        if (e.key === "policy") {
          const s = this.string(e.value, e.path, "ACCEPT or DROP", e.keyNode);
          const allowed = t.table === "nat" ? ["ACCEPT"] : ["ACCEPT", "DROP"];
          const p = s.toUpperCase();
          if (!allowed.includes(p)) {
            this.fail(
              e.value,
              e.path,
              `Invalid ${e.path} ${JSON.stringify(s)}: expected ${allowed.join(" or ")}${
                t.table === "nat" ? " (the nat table cannot drop)" : ""
              }`,
              { allowed },
            );
          }
          t.policies[c.key] = p as ChainPolicy;
        } else {
          const rules = this.rules(e.value, e.path, families, e.keyNode, c.key);
          if (e.key === "insert") t.insertions[c.key] = rules;
          else t.appends[c.key] = rules;
        }
      }
    }
  }

  chains(
    t: TablePolicy,
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
  ): void {
    const m = this.map(node, path, "a mapping from chain names to rule lists", keyNode);
    if (m === undefined) return;
    for (const c of this.entries(m, path)) {
      const problem = chainNameProblem(c.key);
      if (problem !== undefined) {
        this.fail(
          c.keyNode,
          c.path,
          `Invalid chain name ${JSON.stringify(c.key)}: expected ${problem}`,
        );
      }
      const prefixes = this.#chainPrefixes;
      if (prefixes !== undefined && !prefixes.some((p) => c.key.startsWith(p))) {
        this.fail(
          c.keyNode,
          c.path,
          `Invalid chain name ${JSON.stringify(c.key)}: expected a name starting with ${
            prefixes.map((p) => JSON.stringify(p)).join(" or ")
          } (the chains Rampart owns)`,
          { allowed: prefixes },
        );
      }
      if (prefixes !== undefined && c.key === policyRecordChain(prefixes)) {
        this.fail(
          c.keyNode,
          c.path,
          `Invalid chain name ${JSON.stringify(c.key)}: it is reserved for Rampart's record of ` +
            "the chain policies it changed; choose another name",
        );
      }
      const chain: PolicyChain = { name: c.key, rules: [] };
      this.record(chain, c.keyNode, c.path, true);
      const v = this.resolve(c.value, c.path);
      if (this.isMap(v)) {
        let chainFamilies = [...families];
        for (const e of this.entries(v, c.path, CHAIN_KEYS)) {
          if (e.key === "family") {
            let v: IpFamily | undefined;
            [chainFamilies, v] = this.family(e.value, e.path, families, e.keyNode);
            if (v !== undefined) chain.ipVersion = v;
          }
        }
        for (const e of this.entries(v, c.path, CHAIN_KEYS)) {
          if (e.key === "rules") {
            chain.rules = this.rules(e.value, e.path, chainFamilies, e.keyNode, c.key);
          }
        }
      } else if (this.isSeq(v) || this.isNull(v)) {
        chain.rules = this.rules(v, c.path, families, c.keyNode, c.key);
      } else {
        this.fail(
          v,
          c.path,
          `Invalid ${c.path} ${
            this.show(v)
          }: expected a list of rules or a mapping with the keys family and rules`,
        );
      }
      t.chains.push(chain);
    }
  }

  rules(
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
    _chain: string,
  ): PolicyRule[] {
    const s = this.seq(node, path, "a list of rules", keyNode);
    if (s === undefined) return [];
    return this.items(s).map((item, i) => this.rule(item, `${path}[${i}]`, families));
  }

  // ---- rules -------------------------------------------------------------------

  rule(node: Node, path: string, enclosing: readonly IpFamily[]): PolicyRule {
    const m = this.resolve(node, path);
    if (!this.isMap(m)) {
      this.fail(
        m,
        path,
        `Invalid rule ${
          this.show(m)
        }: expected a mapping of match keys, an action and an optional comment`,
      );
    }
    const rule: PolicyRule = {};
    this.record(rule, m, path, false);
    let families = enclosing;
    const allowed = RULE_FIELDS;
    const entries = this.entries(m, path, undefined);
    for (const e of entries) {
      if (e.key === "family") {
        let v: IpFamily | undefined;
        [families, v] = this.family(e.value, e.path, enclosing, e.keyNode);
        if (v !== undefined) rule.ipVersion = v;
      }
    }
    let match: MatchCriteria = Match();
    let clauses = 0;
    let actionKey: Node;
    const setAction = (action: Action, keyNode: Node, field: string) => {
      if (rule.action !== undefined) {
        this.fail(
          keyNode,
          field,
          `A rule has at most one action: ${field.slice(path.length + 1)} follows ${
            this.show(actionKey)
          }`,
        );
      }
      actionKey = keyNode;
      rule.action = action;
    };
    for (const e of entries) {
      const spec = MATCH_SPECS.get(e.key);
      if (e.key === "family") continue;
      if (e.key === "comment") {
        rule.comment = this.comment(e.value, e.path, e.keyNode);
      } else if (e.key === "match") {
        const list = this.seq(
          e.value,
          e.path,
          "a list of single-key mappings, e.g. [{protocol: tcp}, {destPorts: [80]}]",
          e.keyNode,
        );
        for (const [i, item] of (list === undefined ? [] : this.items(list)).entries()) {
          const ipath = `${e.path}[${i}]`;
          const im = this.map(item, ipath, "a mapping with one match key");
          if (im === undefined || this.#doc.size(im) !== 1) {
            this.fail(
              item,
              ipath,
              `Invalid ${ipath}: expected a mapping with exactly one match key, e.g. {protocol: tcp}`,
            );
          }
          for (const c of this.entries(im, ipath)) {
            const cspec = MATCH_SPECS.get(c.key);
            if (cspec === undefined) this.unknownMatch(c.key, c.keyNode, c.path);
            match = this.clause(match, cspec, c.value, c.path, families, c.keyNode);
            clauses++;
          }
        }
      } else if (e.key === "action") {
        const s = this.string(
          e.value,
          e.path,
          "the name of an action without arguments",
          e.keyNode,
        );
        const candidates = PLAIN_ACTIONS;
        const aspec = PLAIN_ACTIONS_BY_KEY.get(s.toLowerCase());
        if (aspec === undefined) {
          const names = candidates.map((c) => c.key);
          const withArgs = ACTION_SPECS.get(s) ??
            [...ACTION_SPECS.values()].find((c) => c.key.toLowerCase() === s.toLowerCase());
          const hint = closest(s, names);
          this.fail(
            e.value,
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
        setAction(this.action(aspec, [], e.value, e.path, e.keyNode), e.keyNode, e.path);
      } else if (spec !== undefined) {
        match = this.clause(match, spec, e.value, e.path, families, e.keyNode);
        clauses++;
      } else {
        const aspec = ACTION_SPECS.get(e.key);
        if (aspec === undefined) {
          const hint = closest(e.key, allowed);
          this.fail(
            e.keyNode,
            e.path,
            `Unknown rule key "${e.key}": expected a match method (protocol, destPorts, …), ` +
              `an action (action, jump, dnat, …), comment, family or match${
                hint === undefined ? "" : ` (did you mean "${hint}"?)`
              }`,
            { allowed },
          );
        }
        const args = this.args(aspec, e.value, e.path, families, e.keyNode);
        setAction(this.action(aspec, args, e.value, e.path, e.keyNode), e.keyNode, e.path);
      }
    }
    if (clauses > 0) rule.match = match;
    return rule;
  }

  unknownMatch(key: string, keyNode: Node, path: string): never {
    const allowed = [...MATCH_SPECS.keys()];
    const hint = closest(key, allowed);
    this.fail(
      keyNode,
      path,
      `Unknown match method "${key}": expected one of the Match() methods (protocol, sourceNet, destPorts, …)${
        hint === undefined ? "" : ` (did you mean "${hint}"?)`
      }`,
      { allowed },
    );
  }

  comment(node: Node, path: string, keyNode: Node): string | string[] {
    const n = this.resolve(node, path);
    if (this.isSeq(n)) {
      return this.items(n).map((item, i) =>
        this.stored(this.string(item, `${path}[${i}]`, "a string", keyNode), item, `${path}[${i}]`)
      );
    }
    const v = this.scalar(n);
    if (typeof v === "number" || typeof v === "boolean") return this.#doc.source(n!);
    return this.stored(this.string(n, path, "a string or a list of strings", keyNode), n, path);
  }

  /** A comment the kernel stores as written (files never have theirs silently rewritten). */
  stored(comment: string, node: Node, path: string): string {
    const problem = commentProblem(comment);
    if (problem !== undefined) {
      this.fail(node, path, `Invalid comment ${JSON.stringify(comment)}: ${problem}`);
    }
    return comment;
  }

  // ---- calls ---------------------------------------------------------------------

  /** Converts a YAML value into the argument list of a match method or action. */
  args(
    spec: CallSpec,
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
  ): DslArg[] {
    const n = this.resolve(node, path);
    if (this.isNull(n)) {
      this.fail(n, path, `Missing value for ${spec.key}: expected ${this.describe(spec)}`, {
        fallback: keyNode,
      });
    }
    if (this.scalar(n) === true && takesNoArgs(spec)) return [];
    const options = spec.options ?? [];
    if (spec.params.length === 0 && options.length === 0) {
      this.fail(n, path, `Invalid ${spec.key} ${this.show(n)}: expected true`, {
        allowed: ["true"],
      });
    }
    const first = spec.params[0];
    if (spec.variadic && first !== undefined) {
      const list = this.isSeq(n);
      const items: readonly Node[] = list ? this.items(n) : [n];
      return items.map((item, i) =>
        this.value(first, item, list ? `${path}[${i}]` : path, families, keyNode)
      );
    }
    if (this.isMap(n) && (first === undefined || first.type !== "ranges")) {
      const names = [...spec.params, ...options].map((q) => q.name);
      const given = new Map<string, { value: Node; path: string; keyNode: Node }>();
      for (const e of this.entries(n, path, names)) {
        given.set(e.key, { value: e.value, path: e.path, keyNode: e.keyNode });
      }
      const args: DslArg[] = [];
      for (const q of spec.params) {
        const g = given.get(q.name);
        if (g === undefined) {
          if (q.optional !== true) {
            this.fail(n, path, `Missing ${q.name} in ${spec.key}: expected ${this.describe(spec)}`);
          }
          args.push(undefined);
        } else {
          args.push(this.value(q, g.value, g.path, families, g.keyNode));
        }
      }
      if (options.length > 0) {
        const object: Record<string, DslArg> = {};
        let any = false;
        for (const q of options) {
          const g = given.get(q.name);
          if (g === undefined) {
            if (q.optional !== true) {
              this.fail(
                n,
                path,
                `Missing ${q.name} in ${spec.key}: expected ${this.describe(spec)}`,
              );
            }
            continue;
          }
          object[q.name] = this.value(q, g.value, g.path, families, g.keyNode);
          any = true;
        }
        if (any) args.push(object);
      }
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      return args;
    }
    if (
      first === undefined || spec.params.slice(1).some((q) => q.optional !== true) ||
      options.some((q) => q.optional !== true)
    ) {
      this.fail(n, path, `Invalid ${spec.key} ${this.show(n)}: expected ${this.describe(spec)}`);
    }
    return [this.value(first, n, path, families, keyNode)];
  }

  describe(spec: CallSpec): string {
    const options = spec.options ?? [];
    if (spec.params.length === 0 && options.length === 0) return "true";
    if (spec.variadic) return `a list of ports, e.g. [80, 443]`;
    const first = spec.params[0];
    if (first !== undefined && spec.params.length === 1 && options.length === 0) {
      return `${TYPE_EXPECTED[first.type]}${
        first.optional === true ? " (or true for no argument)" : ""
      }`;
    }
    const keys = [...spec.params, ...options].map((q) =>
      q.optional === true ? `${q.name} (optional)` : q.name
    );
    const rest = first !== undefined && spec.params.slice(1).every((q) => q.optional === true) &&
        options.every((q) => q.optional === true)
      ? ` or just the ${first.name} (${TYPE_EXPECTED[first.type]})`
      : "";
    const none = first === undefined && takesNoArgs(spec) ? " (or true for none)" : "";
    return `a mapping with the keys ${keys.join(", ")}${rest}${none}`;
  }

  /** Checks one parameter's YAML value against its type. */
  value(
    q: ParamSpec,
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
  ): DslArg {
    const n = this.resolve(node, path);
    const bad = (): never =>
      this.fail(
        n,
        path,
        `Invalid ${leaf(path)} ${this.show(n)}: expected ${TYPE_EXPECTED[q.type]}`,
        { fallback: keyNode },
      );
    const v = this.scalar(n);
    switch (q.type) {
      case "string":
        if (typeof v !== "string") bad();
        return v as string;
      case "address": {
        if (typeof v !== "string") bad();
        const s = v as string;
        // An IPv4 NAT spec may carry a port ("10.0.0.1:8080"): IPv6 only when not dotted-quad first.
        const family: IpFamily = s.includes(":") && !/^\d+\.\d+\.\d+\.\d+(?:-[\d.]+)?:/.test(s)
          ? 6
          : 4;
        if (!families.includes(family)) {
          this.fail(
            n,
            path,
            `Invalid ${leaf(path)} ${JSON.stringify(s)}: an IPv${family} address in a rule for ${
              families.map((f) => `ipv${f}`).join(" and ")
            }: set "family: ipv${family}" on the rule, its chain or its table`,
          );
        }
        if (families.length > 1) {
          this.fail(
            n,
            path,
            `Invalid ${leaf(path)} ${
              JSON.stringify(s)
            }: an IPv${family} address in a rule for both families: ` +
              `set "family: ipv${family}" on the rule, its chain or its table`,
            { allowed: [`family: ipv${family}`] },
          );
        }
        return s;
      }
      case "integer":
      case "ports":
        if (typeof v !== "number" || !Number.isInteger(v)) bad();
        return v as number;
      case "mark":
        if (typeof v !== "number" || !Number.isInteger(v) || v < 0) bad();
        return v as number;
      case "boolean":
        if (typeof v !== "boolean") bad();
        return v as boolean;
      case "portSpec":
        if (typeof v === "number" && Number.isInteger(v)) return String(v);
        if (typeof v !== "string") bad();
        return v as string;
      case "strings":
        if (this.isSeq(n)) {
          return this.items(n).map((item, i) =>
            this.value(
              { name: q.name, type: "string" },
              item,
              `${path}[${i}]`,
              families,
              keyNode,
            )
          );
        }
        if (typeof v !== "string") bad();
        return v as string;
      case "number":
        if (typeof v !== "number") bad();
        return v as number;
      case "port":
      case "idRange": {
        if (typeof v === "number" && Number.isInteger(v)) return v;
        const r = this.range(n, path, keyNode, q.type === "port" ? ":" : "-");
        return r.first === r.last ? r.first : r;
      }
      case "tcpFlags": {
        if (!this.isMap(n)) bad();
        const out: Record<string, DslArg> = {};
        for (const e of this.entries(n, path, ["mask", "set"])) {
          out[e.key] = this.value(
            { name: e.key, type: "strings" },
            e.value,
            e.path,
            families,
            e.keyNode,
          );
          if (typeof out[e.key] === "string") out[e.key] = [out[e.key] as string];
        }
        if (out.mask === undefined || out.set === undefined) bad();
        return out;
      }
      case "ranges": {
        const list = this.isSeq(n);
        const items: readonly Node[] = list ? this.items(n) : [n];
        return items.map((item, i) => this.range(item, list ? `${path}[${i}]` : path, keyNode));
      }
    }
  }

  range(
    node: Node,
    path: string,
    keyNode: Node,
    separator?: ":" | "-",
  ): { first: number; last: number } {
    const n = this.resolve(node, path);
    const bad = (): never =>
      this.fail(n, path, `Invalid port range ${this.show(n)}: expected ${TYPE_EXPECTED.ranges}`, {
        fallback: keyNode,
      });
    if (this.isMap(n)) {
      const out: Record<string, number> = {};
      for (const e of this.entries(n, path, ["first", "last"])) {
        const v = this.resolve(e.value, e.path);
        const num = this.scalar(v);
        if (typeof num !== "number" || !Number.isInteger(num)) {
          this.fail(v, e.path, `Invalid ${e.key} ${this.show(v)}: expected a port number`, {
            fallback: e.keyNode,
          });
        }
        out[e.key] = num;
      }
      if (out.first === undefined || out.last === undefined) bad();
      return { first: out.first!, last: out.last! };
    }
    const v = this.scalar(n);
    if (typeof v === "number" && Number.isInteger(v)) return { first: v, last: v };
    if (typeof v === "string") {
      const m = (separator === undefined
        ? /^(\d{1,6})(?:[:-](\d{1,6}))?$/
        : separator === ":"
        ? /^(\d{1,6})(?::(\d{1,6}))?$/
        : /^(\d{1,10})(?:-(\d{1,10}))?$/).exec(v);
      if (m !== null) {
        return { first: Number(m[1]), last: Number(m[2] ?? m[1]) };
      }
    }
    return bad();
  }

  clause(
    match: MatchCriteria,
    spec: CallSpec | undefined,
    node: Node,
    path: string,
    families: readonly IpFamily[],
    keyNode: Node,
  ): MatchCriteria {
    if (spec === undefined) return this.unknownMatch(path.replace(/^.*\./, ""), keyNode, path);
    if (spec.family !== undefined && !families.includes(spec.family)) {
      this.fail(
        keyNode,
        path,
        `Invalid ${spec.key}: an IPv${spec.family}-only match in a rule for ipv${families[0]}: ` +
          `move it to a rule, chain or table with "family: ipv${spec.family}"`,
      );
    }
    if (spec.family !== undefined && families.length > 1) {
      this.fail(
        keyNode,
        path,
        `Invalid ${spec.key}: an IPv${spec.family}-only match in a rule for both families: ` +
          `set "family: ipv${spec.family}" on the rule, its chain or its table`,
        { allowed: [`family: ipv${spec.family}`] },
      );
    }
    const args = this.args(spec, node, path, families, keyNode);
    const method = (match as unknown as Record<string, unknown>)[spec.name];
    if (typeof method !== "function") {
      this.fail(
        keyNode,
        path,
        `Unknown match method "${spec.key}": this version of the DSL lacks it`,
      );
    }
    try {
      return (method as (...a: DslArg[]) => MatchCriteria).apply(match, args);
    } catch (e) {
      return this.dslError(e, spec, args, node, path, keyNode);
    }
  }

  action(spec: CallSpec, args: DslArg[], node: Node, path: string, keyNode: Node): Action {
    const ctor = (DslActions as unknown as Record<string, unknown>)[spec.name];
    if (typeof ctor !== "function") {
      this.fail(keyNode, path, `Unknown action "${spec.key}": this version of the DSL lacks it`);
    }
    let action: Action;
    try {
      action = (ctor as (...a: DslArg[]) => Action)(...args);
    } catch (e) {
      return this.dslError(e, spec, args, node, path, keyNode);
    }
    // Where its value is, for errors found later (a jump to a missing chain).
    this.record(action, this.resolve(node, path) ?? keyNode, path, false);
    return action;
  }

  /** Re-throws a DSL error located at the YAML node that caused it. */
  dslError(
    e: unknown,
    spec: CallSpec,
    args: readonly DslArg[],
    node: Node,
    path: string,
    keyNode: Node,
  ): never {
    if (!(e instanceof Error)) throw e;
    const n = this.resolve(node, path);
    let target: Node = n;
    let field = path;
    const ruleField = (e as { field?: unknown }).field;
    const ruleValue = (e as { value?: unknown }).value;
    const last = typeof ruleField === "string" ? ruleField.replace(/^.*\./, "") : "";
    if (this.isMap(n)) {
      const pairs = this.#doc.flatPairs(n);
      for (let i = 0; i < pairs.length; i += 2) {
        const key = pairs[i]!, value = pairs[i + 1]!;
        const k = this.resolve(key, path);
        if (this.scalar(k) === last) {
          target = value;
          field = `${path}.${last}`;
        }
      }
    } else if (this.isSeq(n) && ruleValue !== undefined) {
      const flat = spec.variadic ? args : args[0];
      if (Array.isArray(flat)) {
        const i = flat.findIndex((a) =>
          a === ruleValue || JSON.stringify(a) === JSON.stringify(ruleValue)
        );
        const items = this.items(n);
        if (i >= 0 && items[i] !== undefined) {
          target = items[i];
          field = `${path}[${i}]`;
        }
      }
    }
    const message = e.message.includes(spec.key) ? e.message : `${e.message} (in ${spec.key})`;
    return this.fail(target, field, message, { cause: e, fallback: keyNode });
  }
}

/**
 * Describes a syntax error in clearer words than the parser's, from the
 * text: its offset and reason, or `undefined` to keep the parser's.
 */
export type SyntaxErrorDescriber = (text: string) => { offset: number; reason: string } | undefined;

/**
 * Parses a YAML rule file's text into a policy (what `parsePolicy` and
 * {@linkcode loadPolicyFile} share).
 *
 * @param text The YAML text.
 * @param options The file name for messages, and chain prefixes to enforce.
 * @param describe Rewords the parser's syntax errors.
 * @param tryFast Try the fast path first (`fast_tree.ts`); `false` when the text is known to fail.
 * @returns The policy.
 * @throws {PolicyFileError} with `file:line:column` and the field.
 */
export function policyFromText(
  text: string,
  options: ParsePolicyOptions = {},
  describe?: SyntaxErrorDescriber,
  tryFast = true,
): Policy {
  const file = options.file ?? "<string>";
  // The fast path (no positions) for a file it can read exactly; any error,
  // or a text it cannot, takes the positioned path, which makes the message.
  const fast = tryFast ? FastTree.parse(text) : undefined;
  if (fast !== undefined) {
    try {
      return new Loader(file, { fast, text }, options.chainPrefixes).policy();
    } catch {
      // The positioned path below finds the same error, located.
    }
  }
  let doc: YamlDocument;
  try {
    doc = YamlDocument.parse(text);
  } catch (e) {
    if (!(e instanceof YamlSyntaxError)) throw e;
    const better = e.parserError && describe !== undefined ? describe(text) : undefined;
    const { line, col } = linePos(text, better?.offset ?? e.offset);
    throw new PolicyFileError(`Invalid YAML: ${better?.reason ?? e.reason}`, {
      file,
      line,
      column: col,
      field: "",
      cause: e,
    });
  }
  return new Loader(file, doc, options.chainPrefixes).policy();
}

/** Options of {@linkcode loadPolicyFile}. */
export interface LoadPolicyFileOptions {
  /** When given, every owned chain's name must start with one of these. */
  chainPrefixes?: readonly string[];
  /**
   * Files larger than this many bytes are refused (and endless streams such
   * as `/dev/zero` stop there). @default {67_108_864} (64 MiB)
   */
  maxBytes?: number;
}

/**
 * Reads and parses a YAML rule file (needs `--allow-read` for it).
 *
 * @param path The file.
 * @param options Chain prefixes to enforce, and the size limit (the file name is `path`).
 * @returns The policy.
 * @throws {PolicyFileError} when the file is malformed (see `parsePolicy`),
 * larger than `maxBytes` or not UTF-8 text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPolicyFile } from "@rampart/iptables/yaml";
 * const path = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(path, "tables:\n  filter:\n    kernelChains:\n      INPUT: {policy: DROP}\n");
 * const policy = await loadPolicyFile(path);
 * assert.deepEqual(policy.tables.map((t) => [t.table, t.policies]), [["filter", { INPUT: "DROP" }]]);
 * await Deno.remove(path);
 * ```
 */
export async function loadPolicyFile(
  path: string,
  options: LoadPolicyFileOptions = {},
): Promise<Policy> {
  const text = await readPolicyText(path, options.maxBytes ?? DEFAULT_MAX_BYTES);
  return await policyFromFileText(path, text, options);
}

/**
 * Parses a policy file's text read by `readPolicyText` (the second half of
 * {@linkcode loadPolicyFile}, for callers that read the files first).
 *
 * @param path The file (for messages).
 * @param text Its text.
 * @param options Chain prefixes to enforce.
 * @returns The policy.
 * @throws {PolicyFileError} when the text is malformed (see `parsePolicy`).
 */
export async function policyFromFileText(
  path: string,
  text: string,
  options: { chainPrefixes?: readonly string[] } = {},
): Promise<Policy> {
  const parse = {
    file: path,
    ...(options.chainPrefixes === undefined ? {} : { chainPrefixes: options.chainPrefixes }),
  };
  try {
    return policyFromText(text, parse);
  } catch (e) {
    // The clearer words come from a second parser, loaded only now.
    if (!(e instanceof PolicyFileError) || !(e.cause instanceof YamlSyntaxError)) throw e;
    if (!e.cause.parserError) throw e;
    const { describeSyntaxError } = await import("./syntax_errors.ts");
    return policyFromText(text, parse, describeSyntaxError, false);
  }
}
