/**
 * Walking a parsed YAML rule file (the positioned `YamlDocument` or the fast
 * path's `FastTree`): the shapes of its nodes, mappings read with their keys
 * checked, aliases resolved, and errors raised at the node that caused them.
 *
 * @module
 */
import type { NodeKind, ScalarValue, YamlDocument } from "./document.ts";
import { PolicyFileError } from "./errors.ts";
import { FastPathRefused, type FastTree } from "./fast_tree.ts";
import { type LazyFile, type LoadedFile, recordSource } from "./source_positions.ts";
import { closest } from "../../dsl/rule_schema.ts";

/** A parsed YAML document as the loader reads it (`YamlDocument` or `FastTree`). */
export interface YamlTree {
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

/** A node of the document (see `YamlDocument` and `FastTree`); `undefined` when absent. */
export type Node = unknown;

/** A value in the document and where it is. */
export interface Site {
  /** The value's node (possibly an alias; `undefined` when absent). */
  node: Node;
  /** Its field path, e.g. `tables.filter.chains.rp-in[2].destPorts`. */
  path: string;
  /** The key it is the value of, where errors point when the value is empty. */
  keyNode?: Node;
}

/** One pair of a mapping: its string key, and its value where it is. */
export interface Entry extends Site {
  /** The key. */
  key: string;
  /** The key's node. */
  keyNode: Node;
}

/** Options of {@linkcode YamlWalker.fail}. */
export interface FailOptions {
  /** The values or keys allowed there, when they form a short list. */
  allowed?: readonly string[];
  /** The error that caused it. */
  cause?: unknown;
  /** Where to point when the node is absent (the key of an empty value). */
  fallback?: Node;
}

/**
 * One load's view of a parsed rule file: the document's nodes, the file
 * name for errors, and where loaded items are recorded. On the fast path
 * (no positions) every error throws `FastPathRefused` instead, and the
 * positioned path makes the message.
 */
export class YamlWalker {
  readonly #file: string;
  readonly #doc: YamlTree;
  /** The positioned document (the positioned path). */
  readonly #positioned: YamlDocument | undefined;
  readonly #loaded: LoadedFile | undefined;
  /** The text, on the fast path (positions are found when asked). */
  readonly #lazy: LazyFile | undefined;

  /**
   * Walks a positioned document, or a fast-path tree and its text.
   *
   * @param file The file name for messages.
   * @param doc The document.
   */
  constructor(file: string, doc: YamlDocument | { fast: FastTree; text: string }) {
    this.#file = file;
    if ("fast" in doc) {
      this.#doc = doc.fast;
      this.#lazy = { file, text: doc.text };
    } else {
      this.#doc = doc;
      this.#positioned = doc;
      this.#loaded = { file, lines: doc.lines() };
    }
  }

  /** The document's root node. */
  get root(): Node {
    return this.#doc.root;
  }

  // ---- positions and errors ------------------------------------------------

  /** Where a node is (or `fallback`, when it is absent). */
  position(node: Node, fallback?: Node): { line: number; col: number } {
    const doc = this.#positioned;
    // On the fast path every error is made by the positioned path.
    if (doc === undefined) throw new FastPathRefused();
    const n = node ?? fallback;
    return doc.linePos(n === undefined ? 0 : doc.offset(n as number));
  }

  /** Throws a {@linkcode PolicyFileError} at a node. */
  fail(node: Node, field: string, reason: string, extra: FailOptions = {}): never {
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
      recordSource(item, { lazy: this.#lazy, field, atKey });
      return;
    }
    recordSource(item, {
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

  /** Whether a node is a scalar. */
  isScalar(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "scalar";
  }

  /** Whether a node is a mapping. */
  isMap(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "map";
  }

  /** Whether a node is a list. */
  isSeq(node: Node): boolean {
    return node !== undefined && this.#doc.kind(node) === "seq";
  }

  /** A scalar's value; `undefined` for collections and absent nodes. */
  scalar(node: Node): ScalarValue | undefined {
    return this.isScalar(node) ? this.#doc.value(node) : undefined;
  }

  /** Whether a node is absent or `null`. */
  isNull(node: Node): boolean {
    return node === undefined || (this.isScalar(node) && this.#doc.value(node) === null);
  }

  /** A list's items. */
  items(seq: Node): readonly Node[] {
    return this.#doc.items(seq);
  }

  /** A mapping's keys and values, alternating. */
  flatPairs(map: Node): readonly Node[] {
    return this.#doc.flatPairs(map);
  }

  /** How many pairs a mapping has. */
  size(map: Node): number {
    return this.#doc.size(map);
  }

  /** A scalar's text as written. */
  source(node: Node): string {
    return this.#doc.source(node);
  }

  /** A mapping (`undefined` for an empty value), or an error saying what was expected. */
  map(node: Node, field: string, what: string, keyNode?: Node): Node {
    const n = this.resolve(node, field);
    if (this.isNull(n)) return undefined;
    if (!this.isMap(n)) {
      this.fail(n, field, `Invalid ${field}: expected ${what}`, { fallback: keyNode });
    }
    return n;
  }

  /** A list (`undefined` for an empty value), or an error saying what was expected. */
  seq(node: Node, field: string, what: string, keyNode?: Node): Node {
    const n = this.resolve(node, field);
    if (this.isNull(n)) return undefined;
    if (!this.isSeq(n)) {
      this.fail(n, field, `Invalid ${field}: expected ${what}`, { fallback: keyNode });
    }
    return n;
  }

  /** A mapping key, which must be a string. */
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
  entries(map: Node, field: string, allowed?: readonly string[]): Entry[] {
    const out: Entry[] = [];
    const pairs = this.#doc.flatPairs(map);
    for (let i = 0; i < pairs.length; i += 2) {
      const keyNode = pairs[i]!, node = pairs[i + 1]!;
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
      out.push({ key, keyNode, node, path });
    }
    return out;
  }

  /** A string value, or an error saying what was expected. */
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

  /** A value as error messages show it. */
  show(node: Node): string {
    if (node === undefined) return "(empty)";
    if (this.isScalar(node)) {
      const v = this.#doc.value(node);
      return v === null ? "(empty)" : typeof v === "string" ? JSON.stringify(v) : String(v);
    }
    return this.isMap(node) ? "(a mapping)" : this.isSeq(node) ? "(a list)" : "(unknown)";
  }
}
