/**
 * The loader's fast path: a YAML rule file parsed straight into JavaScript
 * values by js-yaml 4's `load` (no list of parser events, no positions),
 * for the common file. It gives exactly the values of the positioned parser
 * (`document.ts`, the reference) or refuses the text, and the loader then
 * takes the positioned path, which also makes every error message. Refused:
 * texts with aliases (`*`), tabs, verbatim tags (`!<…>`), collections or
 * `?` as mapping keys, any explicit tag but `!`, a node (other than a block
 * collection) that spans lines, keys that are not plain strings under the
 * YAML 1.2 core schema, nesting deeper than 32 levels, and anything js-yaml
 * 4 rejects (duplicate keys, a second document, …). The differential test
 * in `tests/tools/yaml_fast_test.ts` compares the two parsers on every test
 * file and thousands of mutations of them.
 *
 * @module
 */
import { load, Schema, Type } from "js-yaml-4";
import { type NodeKind, resolvePlain, type ScalarValue } from "./document.ts";

/** The fast path cannot give this text's values (or the loader found an error): take the positioned path. */
export class FastPathRefused extends Error {
  /** Creates the error. */
  constructor() {
    super("not for the fast path");
    this.name = "FastPathRefused";
  }
}

/** What js-yaml 4's listener is given (the parts read here). */
interface ListenerState {
  line: number;
  position: number;
  input: string;
  kind: string | null;
}

/** The parts of js-yaml 4's `load` used here. */
type Load = (
  text: string,
  options: {
    schema: unknown;
    maxDepth: number;
    listener: (event: "open" | "close", state: ListenerState) => void;
  },
) => unknown;

/**
 * What js-yaml 4 makes of a key that is not a string: its `String()`. A
 * key whose text does not read as a string again (`1`, `true`, `null`, and
 * these) was one, as far as the fast path can tell: it is refused.
 */
const NUMBER_KEYS = new Set(["Infinity", "-Infinity", "NaN"]);

const FAST_TAG = "tag:rampart.dev,2026:core";
let resolved: ScalarValue = null;
/** Plain scalars resolved as the positioned parser resolves them (`resolvePlain`). */
const SCHEMA = new Schema({
  implicit: [
    new Type(FAST_TAG, {
      kind: "scalar",
      resolve: (source: string) => {
        const v = resolvePlain(source);
        if (typeof v === "string") return false;
        resolved = v;
        return true;
      },
      construct: () => resolved,
    }),
  ],
});

/** A closing bracket followed by `:` (a collection as a key), or `?` as an indicator. */
const REFUSED_KEY = /[\]}] *:|(?:^|[\s[{,])\?(?:\s|$)/y;

/**
 * Whether the fast path leaves a text to the positioned parser at once:
 * aliases (`*`), tabs, verbatim tags (`!<`), a collection or `?` as a key.
 * Searched with `indexOf` (a regular expression over the whole text takes
 * longer than parsing a large file's keys).
 */
function refusedText(text: string): boolean {
  if (text.includes("*") || text.includes("\t") || text.includes("!<")) return true;
  for (const c of ["]", "}", "?"]) {
    for (let at = text.indexOf(c); at >= 0; at = text.indexOf(c, at + 1)) {
      REFUSED_KEY.lastIndex = c === "?" && at > 0 ? at - 1 : at;
      if (REFUSED_KEY.test(text)) return true;
    }
  }
  return false;
}
const MAX_DEPTH = 32;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;

/**
 * A YAML text as the fast path reads it: nodes are the values js-yaml 4
 * built (strings, numbers, booleans, `null`, arrays, objects).
 */
export class FastTree {
  /** The root node. */
  readonly root: unknown;

  private constructor(root: unknown) {
    this.root = root;
  }

  /**
   * Parses a text on the fast path.
   *
   * @param text The YAML text.
   * @returns The tree, or `undefined` when the text is for the positioned parser.
   */
  static parse(text: string): FastTree | undefined {
    if (refusedText(text)) return undefined;
    const opened: number[] = [];
    let multiLine = false;
    const listener = (event: "open" | "close", state: ListenerState) => {
      if (event === "open") {
        opened.push(state.line);
        return;
      }
      if (opened.pop() === state.line) return;
      if (state.kind === "sequence" || state.kind === "mapping") {
        // A block collection spans lines; a flow one must not.
        const last = state.input.charCodeAt(state.position - 1);
        if (last !== CLOSE_BRACKET && last !== CLOSE_BRACE) return;
      }
      multiLine = true;
    };
    let root: unknown;
    try {
      root = (load as Load)(text, { schema: SCHEMA, maxDepth: MAX_DEPTH, listener });
    } catch {
      return undefined;
    }
    if (multiLine || root === undefined || root === null) return undefined;
    return new FastTree(root);
  }

  /** What a node is (never an alias: texts with aliases are refused). */
  kind(node: unknown): NodeKind {
    if (node === null || typeof node !== "object") return "scalar";
    return Array.isArray(node) ? "seq" : "map";
  }

  /** A scalar's value. */
  value(node: unknown): ScalarValue {
    return node as ScalarValue;
  }

  /**
   * A scalar's text as written: known for strings only (values are all the
   * fast path keeps).
   *
   * @throws {FastPathRefused} for any other scalar (a comment written as
   * `0x10` keeps that text: the positioned path has it).
   */
  source(node: unknown): string {
    if (typeof node !== "string") throw new FastPathRefused();
    return node;
  }

  /** A sequence's items. */
  items(node: unknown): readonly unknown[] {
    return node as unknown[];
  }

  /**
   * A mapping's keys and values: key, value, key, value, …
   *
   * @throws {FastPathRefused} for a key that is not a plain string (`1`,
   * `.inf`, `null`, `"true"` quoted: the positioned parser tells them apart).
   */
  flatPairs(node: unknown): unknown[] {
    const map = node as Record<string, unknown>;
    const out: unknown[] = [];
    for (const key of Object.keys(map)) {
      if (
        key === "[object Object]" || NUMBER_KEYS.has(key) || typeof resolvePlain(key) !== "string"
      ) {
        throw new FastPathRefused();
      }
      out.push(key, map[key]);
    }
    return out;
  }

  /** How many items or pairs a collection has. */
  size(node: unknown): number {
    return Array.isArray(node) ? node.length : Object.keys(node as object).length;
  }

  /** Never called: texts with aliases are refused. */
  aliasTarget(_node: unknown): unknown {
    throw new FastPathRefused();
  }

  /** Never called: texts with aliases are refused. */
  aliasName(_node: unknown): string {
    throw new FastPathRefused();
  }
}
