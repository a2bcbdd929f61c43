/**
 * A YAML document as the policy loader reads it: nodes with their source
 * offsets, built from js-yaml's event parser (`parseEvents`) without
 * building the document's JavaScript value. A node is the index of its
 * parser event; scalars are decoded and resolved (YAML 1.2 core schema)
 * only when read.
 *
 * @module
 */
import {
  boolCoreTag,
  type Event,
  EVENT_ID,
  floatCoreTag,
  getScalarValue,
  intCoreTag,
  NOT_RESOLVED,
  nullCoreTag,
  parseEvents,
  type ScalarEvent,
  YAMLException,
} from "js-yaml";

/** What a node is. */
export type NodeKind = "scalar" | "seq" | "map" | "alias";

/** A scalar's value under the YAML 1.2 core schema. */
export type ScalarValue = string | number | boolean | null;

/** Options of {@linkcode YamlDocument.parse}. */
export interface YamlDocumentOptions {
  /** Deepest nesting of collections accepted. @default {64} */
  maxDepth?: number;
  /**
   * Nodes that aliases may add when expanded, at least: a document may also
   * expand to `aliasRatio` times the nodes it writes. @default {2_000_000}
   */
  maxAliasNodes?: number;
  /** See `maxAliasNodes`. @default {10} */
  aliasRatio?: number;
}

/** The text is not YAML, or not a YAML document the loader accepts. */
export class YamlSyntaxError extends Error {
  /** The offset of the error in the text. */
  readonly offset: number;
  /** What is wrong (no location). */
  readonly reason: string;
  /** The parser rejected the text (rather than a check of this module). */
  readonly parserError: boolean;

  /**
   * Creates the error.
   *
   * @param reason What is wrong.
   * @param offset Where.
   * @param cause The parser's error, when the parser rejected the text.
   */
  constructor(reason: string, offset: number, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
    this.name = "YamlSyntaxError";
    this.reason = reason;
    this.offset = offset;
    this.parserError = cause !== undefined;
  }
}

const CORE_SCALARS = [nullCoreTag, boolCoreTag, intCoreTag, floatCoreTag];
const CORE_PREFIX = "tag:yaml.org,2002:";
const STYLE_PLAIN = 1;
const STYLE_SINGLE = 2;
const STYLE_DOUBLE = 3;

/** The full name of an explicit tag (`!!int` → `tag:yaml.org,2002:int`), `!` when non-specific. */
function tagName(text: string): string {
  if (text.startsWith("!<") && text.endsWith(">")) return text.slice(2, -1);
  if (text.startsWith("!!")) return CORE_PREFIX + text.slice(2);
  return text;
}

/** The core schema's implicit tags that may resolve a plain scalar, by its first character. */
const BY_FIRST_CHAR = new Map<string, typeof CORE_SCALARS>();
for (const tag of CORE_SCALARS) {
  for (const c of tag.implicitFirstChars ?? []) {
    BY_FIRST_CHAR.set(c, [...(BY_FIRST_CHAR.get(c) ?? []), tag]);
  }
}
const ANY_FIRST_CHAR = CORE_SCALARS.filter((t) => t.implicitFirstChars === null);

/**
 * A plain scalar's value under the YAML 1.2 core schema: `null`, a boolean,
 * a number, or the text itself (`yes`, `1000:2000` and timestamps stay
 * strings).
 *
 * @example
 * ```ts ignore
 * console.log(resolvePlain("0x10"), resolvePlain("yes")); // 16 yes
 * ```
 */
export function resolvePlain(source: string): ScalarValue {
  const tags = BY_FIRST_CHAR.get(source.charAt(0));
  for (const tag of tags === undefined ? ANY_FIRST_CHAR : [...tags, ...ANY_FIRST_CHAR]) {
    const v = tag.resolve(source, false, tag.tagName);
    if (v !== NOT_RESOLVED) return v as ScalarValue;
  }
  return source;
}

interface Frame {
  index: number;
  children: number;
  /** Expanded size so far (aliases counted as what they stand for). */
  size: number;
  /** A mapping's keys so far (a list while short); `undefined` for sequences. */
  keys: ScalarValue[] | Set<ScalarValue> | undefined;
}

/**
 * A parsed YAML document: every node, its offset in the text, and what
 * aliases refer to.
 *
 * @example
 * ```ts ignore
 * const doc = YamlDocument.parse("a: [1, two]\n");
 * const [[key, value]] = doc.pairs(doc.root!);
 * console.log(doc.value(key!), doc.items(value!).map((n) => doc.value(n))); // a [ 1, "two" ]
 * ```
 */
export class YamlDocument {
  /** The source text. */
  readonly text: string;
  /** The root node; `undefined` for an empty document. */
  readonly root: number | undefined;
  /** The parser's events, packed (a tenth of their objects' memory). */
  readonly #type: Uint8Array;
  readonly #style: Uint8Array;
  /** Scalars: `valueStart`; collections: `start`; aliases: `anchorStart`. */
  readonly #start: Int32Array;
  /** Scalars: `valueEnd`; aliases: `anchorEnd`. */
  readonly #end: Int32Array;
  readonly #anchorStart: Int32Array;
  readonly #tagStart: Int32Array;
  readonly #tagEnd: Int32Array;
  /** Block scalars' `chomping` and `indent`, scalars' `fast`. */
  readonly #scalarInfo = new Map<number, { chomping: number; indent: number; fast: boolean }>();
  /** For each node, the index after its last descendant. */
  readonly #next: Int32Array;
  /** Offsets of nodes whose event has none (empty scalars) or a different one. */
  readonly #offsets = new Map<number, number>();
  /** What each alias refers to (-1: no such anchor). */
  readonly #aliases = new Map<number, number>();
  #lineStarts: Int32Array | undefined;

  private constructor(text: string, events: Event[], options: YamlDocumentOptions) {
    this.text = text;
    const n = events.length;
    this.#type = new Uint8Array(n);
    this.#style = new Uint8Array(n);
    this.#start = new Int32Array(n);
    this.#end = new Int32Array(n);
    this.#anchorStart = new Int32Array(n);
    this.#tagStart = new Int32Array(n);
    this.#tagEnd = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      this.#type[i] = e.type;
      switch (e.type) {
        case EVENT_ID.SCALAR:
          this.#start[i] = e.valueStart;
          this.#end[i] = e.valueEnd;
          this.#style[i] = e.style;
          this.#anchorStart[i] = e.anchorStart;
          this.#tagStart[i] = e.tagStart;
          this.#tagEnd[i] = e.tagEnd;
          if (!e.fast || e.chomping !== 1 || e.indent !== -1) {
            this.#scalarInfo.set(i, { chomping: e.chomping, indent: e.indent, fast: e.fast });
          }
          break;
        case EVENT_ID.SEQUENCE:
        case EVENT_ID.MAPPING:
          this.#start[i] = e.start;
          this.#style[i] = e.style;
          this.#anchorStart[i] = e.anchorStart;
          this.#tagStart[i] = e.tagStart;
          this.#tagEnd[i] = e.tagEnd;
          break;
        case EVENT_ID.ALIAS:
          this.#start[i] = e.anchorStart;
          this.#end[i] = e.anchorEnd;
          break;
      }
    }
    this.#next = new Int32Array(n);
    // The events are not kept: the loader works from the packed arrays.
    this.root = this.#index(events, options);
  }

  /** A scalar's event, as `getScalarValue` reads it. */
  #scalarEvent(i: number): ScalarEvent {
    const info = this.#scalarInfo.get(i);
    return {
      type: EVENT_ID.SCALAR,
      valueStart: this.#start[i]!,
      valueEnd: this.#end[i]!,
      anchorStart: this.#anchorStart[i]!,
      anchorEnd: -1,
      tagStart: this.#tagStart[i]!,
      tagEnd: this.#tagEnd[i]!,
      style: this.#style[i] as ScalarEvent["style"],
      chomping: (info?.chomping ?? 1) as ScalarEvent["chomping"],
      indent: info?.indent ?? -1,
      fast: info?.fast ?? true,
    };
  }

  /**
   * Parses one YAML document.
   *
   * @throws {YamlSyntaxError} for invalid YAML, a second document, duplicate
   * keys, unknown or unsupported tags, nesting deeper than `maxDepth` and
   * aliases that expand too far.
   */
  static parse(text: string, options: YamlDocumentOptions = {}): YamlDocument {
    const maxDepth = options.maxDepth ?? 64;
    let events: Event[];
    try {
      events = parseEvents(text, { maxDepth });
    } catch (e) {
      if (!(e instanceof YAMLException)) throw e;
      const offset = e.mark?.position ?? 0;
      const nesting = /^nesting exceeded maxDepth/.test(e.reason);
      if (nesting) {
        throw new YamlSyntaxError(
          `Nested deeper than ${maxDepth} levels: a policy file needs about 12`,
          offset,
        );
      }
      throw new YamlSyntaxError(e.reason.charAt(0).toUpperCase() + e.reason.slice(1), offset, e);
    }
    return new YamlDocument(text, events, options);
  }

  /** One pass over the events: subtree ends, offsets, aliases, duplicate keys, expansion. */
  #index(events: readonly Event[], options: YamlDocumentOptions): number | undefined {
    const text = this.text;
    const stack: Frame[] = [];
    const anchors = new Map<string, number>();
    const sizes = new Map<number, number>();
    const aliasFloor = options.maxAliasNodes ?? 2_000_000;
    const aliasRatio = options.aliasRatio ?? 10;
    let aliasNodes = 0;
    let root: number | undefined;
    let documents = 0;
    /** Where the last token ended: an empty scalar is placed after the indicator that follows. */
    let lastEnd = 0;
    const complete = (index: number, size: number) => {
      const parent = stack[stack.length - 1];
      if (parent === undefined) {
        root = index;
        return;
      }
      if (parent.keys !== undefined && parent.children % 2 === 0) this.#checkKey(parent, index);
      parent.children++;
      parent.size += size;
    };
    const anchor = (e: { anchorStart: number; anchorEnd: number }, index: number) => {
      if (e.anchorStart >= 0) anchors.set(text.slice(e.anchorStart, e.anchorEnd), index);
    };
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      switch (e.type) {
        case EVENT_ID.DOCUMENT:
          if (++documents > 1) {
            const marker = /^(?:---|\.\.\.)/m.exec(text.slice(lastEnd));
            throw new YamlSyntaxError(
              "A policy file holds one YAML document: found a second one (after ---)",
              marker === null ? lastEnd : lastEnd + marker.index,
            );
          }
          break;
        case EVENT_ID.SCALAR: {
          this.#next[i] = i + 1;
          this.#checkTag(e, i);
          if (e.valueStart < 0) {
            const parent = stack[stack.length - 1];
            const isKey = parent?.keys !== undefined && parent.children % 2 === 0;
            this.#offsets.set(i, this.#emptyOffset(lastEnd, isKey));
          } else {
            lastEnd = e.style === STYLE_SINGLE || e.style === STYLE_DOUBLE
              ? e.valueEnd + 1
              : e.valueEnd;
            if (e.style > STYLE_DOUBLE) this.#offsets.set(i, this.#blockHeader(e.valueStart));
          }
          anchor(e, i);
          if (e.anchorStart >= 0) sizes.set(i, 1);
          complete(i, 1);
          break;
        }
        case EVENT_ID.ALIAS: {
          this.#next[i] = i + 1;
          lastEnd = e.anchorEnd;
          const name = text.slice(e.anchorStart, e.anchorEnd);
          const target = anchors.get(name) ?? -1;
          this.#aliases.set(i, target);
          let size = 1;
          if (target >= 0) {
            const s = sizes.get(target);
            if (s === undefined) {
              throw new YamlSyntaxError(
                `Alias *${name} refers to a collection that contains it: recursive aliases are not supported`,
                e.anchorStart - 1,
              );
            }
            size = s;
            aliasNodes += s - 1;
            const limit = Math.max(aliasFloor, aliasRatio * events.length);
            if (aliasNodes > limit) {
              throw new YamlSyntaxError(
                `Too many nodes: aliases expand the file beyond ${limit} nodes ` +
                  `(it has ${events.length}): expected aliases to repeat small parts, not to multiply the file`,
                e.anchorStart - 1,
              );
            }
          }
          complete(i, size);
          break;
        }
        case EVENT_ID.SEQUENCE:
        case EVENT_ID.MAPPING:
          this.#checkTag(e, i);
          if (e.anchorStart >= 0 || e.tagStart >= 0) {
            // A collection starts at its first entry (or bracket), after its anchor and tag.
            this.#offsets.set(i, this.#skipSpace(Math.max(e.start, e.anchorEnd, e.tagEnd)));
          }
          lastEnd = e.style === 2 ? e.start + 1 : e.start;
          anchor(e, i);
          stack.push({
            index: i,
            children: 0,
            size: 1,
            keys: e.type === EVENT_ID.MAPPING ? [] : undefined,
          });
          break;
        case EVENT_ID.POP: {
          const frame = stack.pop();
          if (frame === undefined) break; // the end of a document
          this.#next[frame.index] = i + 1;
          const e = events[frame.index] as { anchorStart: number; style: number };
          const at = (e as { start?: number }).start ?? 0;
          if (frame.children > 0 && e.style === 1 && (text[at] === "&" || text[at] === "!")) {
            // A block mapping whose first key has an anchor or tag starts at that key.
            this.#offsets.set(frame.index, this.offset(frame.index + 1));
          }
          if (e.anchorStart >= 0) sizes.set(frame.index, frame.size);
          complete(frame.index, frame.size);
          break;
        }
      }
    }
    if (root !== undefined) {
      const e = events[root]!;
      if (e.type === EVENT_ID.SCALAR && e.valueStart < 0 && e.tagStart < 0) return undefined;
    }
    return root;
  }

  /** Rejects a key equal to an earlier one of the same mapping. */
  #checkKey(frame: Frame, index: number): void {
    let n = index;
    if (this.kind(n) === "alias") {
      const t = this.#aliases.get(n)!;
      if (t < 0) return;
      n = t;
    }
    if (this.kind(n) !== "scalar") return;
    // Equal keys are equal values (SameValueZero: 1 and 1.0 are one key, "1" another).
    const v = this.value(n);
    const keys = frame.keys!;
    const seen = Array.isArray(keys) ? keys.includes(v) : keys.has(v);
    if (seen) throw new YamlSyntaxError("Map keys must be unique", this.offset(index));
    if (!Array.isArray(keys)) keys.add(v);
    else if (keys.length < 16) keys.push(v);
    else frame.keys = new Set([...keys, v]);
  }

  /** Accepts only the tags of the core schema (and `!`, which makes a plain scalar a string). */
  #checkTag(e: { tagStart: number; tagEnd: number; type: number }, index: number): void {
    if (e.tagStart < 0) return;
    const raw = this.text.slice(e.tagStart, e.tagEnd);
    const name = tagName(raw);
    const ok = name === "!" ||
      (e.type === EVENT_ID.SEQUENCE && name === `${CORE_PREFIX}seq`) ||
      (e.type === EVENT_ID.MAPPING && name === `${CORE_PREFIX}map`) ||
      (e.type === EVENT_ID.SCALAR &&
        ["str", "null", "bool", "int", "float"].some((t) => name === CORE_PREFIX + t));
    if (!ok) {
      throw new YamlSyntaxError(
        `Unsupported tag ${raw}: a policy file may use only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map`,
        e.tagStart,
      );
    }
    if (e.type === EVENT_ID.SCALAR && name !== "!" && !name.endsWith(":str")) {
      const source = getScalarValue(this.text, e as ScalarEvent);
      const tag = CORE_SCALARS.find((t) => t.tagName === name)!;
      if (tag.resolve(source, true, name) === NOT_RESOLVED) {
        throw new YamlSyntaxError(
          `Invalid ${raw} value ${JSON.stringify(source)}`,
          this.#eventOffset(index),
        );
      }
    }
  }

  /**
   * Where an empty scalar is: just after the indicator (`:`, `-`, `?`) that
   * follows `from`; an empty key is at its `:`.
   */
  #emptyOffset(from: number, isKey: boolean): number {
    const text = this.text;
    const indicator = (c: string | undefined) => c === ":" || c === "-" || c === "?";
    let p = from;
    while (text[p] === " " || text[p] === "\t") p++;
    const near = p;
    // A sequence's empty item follows the previous item's line.
    p = this.#skipSpace(p);
    if (!indicator(text[near]) && !indicator(text[p])) return near;
    if (indicator(text[near])) p = near;
    if (isKey && text[p] === ":") return p;
    p++;
    while (text[p] === " " || text[p] === "\t") p++;
    return p;
  }

  /** The first offset from `from` that is not white space, a line break or a comment. */
  #skipSpace(from: number): number {
    const text = this.text;
    let p = from;
    for (;;) {
      while (p < text.length && " \t\r\n".includes(text[p]!)) p++;
      if (text[p] !== "#") return p;
      while (p < text.length && text[p] !== "\n") p++;
    }
  }

  /** The offset of a block scalar's `|` or `>` (its content starts on the next line). */
  #blockHeader(contentStart: number): number {
    const text = this.text;
    let end = contentStart - 1;
    while (end > 0 && (text[end] === "\n" || text[end] === "\r" || text[end] === " ")) end--;
    const lineStart = text.lastIndexOf("\n", end) + 1;
    const line = text.slice(lineStart, end + 1);
    const m = /[|>][1-9+-]{0,2}[ \t]*(?:#.*)?$/.exec(line);
    return m === null ? contentStart : lineStart + m.index;
  }

  #eventOffset(index: number): number {
    const start = this.#start[index]!;
    switch (this.#type[index]) {
      case EVENT_ID.SCALAR: {
        const style = this.#style[index];
        return style === STYLE_SINGLE || style === STYLE_DOUBLE ? start - 1 : start;
      }
      case EVENT_ID.ALIAS:
        return start - 1;
      case EVENT_ID.SEQUENCE:
      case EVENT_ID.MAPPING:
        return start;
      default:
        return 0;
    }
  }

  /** The offset where a node starts (after its anchor and tag). */
  offset(node: number): number {
    return this.#offsets.get(node) ?? this.#eventOffset(node);
  }

  /** What a node is. */
  kind(node: number): NodeKind {
    switch (this.#type[node]) {
      case EVENT_ID.SCALAR:
        return "scalar";
      case EVENT_ID.SEQUENCE:
        return "seq";
      case EVENT_ID.MAPPING:
        return "map";
      default:
        return "alias";
    }
  }

  /** The node an alias refers to, `undefined` when no anchor of its name precedes it. */
  aliasTarget(node: number): number | undefined {
    const t = this.#aliases.get(node);
    return t === undefined || t < 0 ? undefined : t;
  }

  /** An alias's anchor name (without `*`). */
  aliasName(node: number): string {
    return this.text.slice(this.#start[node], this.#end[node]);
  }

  /** A scalar's value: plain scalars are resolved by the YAML 1.2 core schema, others are strings. */
  value(node: number): ScalarValue {
    const tagStart = this.#tagStart[node]!;
    if (this.#start[node]! < 0 && tagStart < 0) return null;
    const source = this.source(node);
    if (tagStart >= 0) {
      const name = tagName(this.text.slice(tagStart, this.#tagEnd[node]));
      if (name === "!" || name.endsWith(":str")) return source;
      const tag = CORE_SCALARS.find((t) => t.tagName === name)!;
      return tag.resolve(source, true, name) as ScalarValue;
    }
    return this.#style[node] === STYLE_PLAIN ? resolvePlain(source) : source;
  }

  /** A scalar's text as written (plain scalars: the characters in the file). */
  source(node: number): string {
    if (!this.#scalarInfo.has(node)) {
      // A "fast" scalar is its characters in the file.
      const start = this.#start[node]!;
      return start < 0 ? "" : this.text.slice(start, this.#end[node]);
    }
    return getScalarValue(this.text, this.#scalarEvent(node));
  }

  /** A sequence's items. */
  items(node: number): number[] {
    const out: number[] = [];
    const end = this.#next[node]! - 1;
    for (let i = node + 1; i < end; i = this.#next[i]!) out.push(i);
    return out;
  }

  /** A mapping's key and value nodes, in order. */
  pairs(node: number): [number, number][] {
    const flat = this.flatPairs(node);
    const out: [number, number][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
    return out;
  }

  /** A mapping's key and value nodes in one list: key, value, key, value, … */
  flatPairs(node: number): number[] {
    const out: number[] = [];
    const end = this.#next[node]! - 1;
    for (let i = node + 1; i < end;) {
      const value = this.#next[i]!;
      out.push(i, value);
      i = this.#next[value]!;
    }
    return out;
  }

  /** How many items or pairs a collection has. */
  size(node: number): number {
    const kind = this.kind(node);
    if (kind === "seq") return this.items(node).length;
    if (kind === "map") return this.flatPairs(node).length / 2;
    return 0;
  }

  /** The 1-based line and column of an offset. */
  linePos(offset: number): { line: number; col: number } {
    return this.lines().linePos(offset);
  }

  /** Where the text's lines start (kept by positions that outlive the document). */
  lines(): { linePos(offset: number): { line: number; col: number } } {
    const starts = this.#lineStarts ??= lineStarts(this.text);
    return { linePos: (offset) => findLine(starts, offset) };
  }
}

function lineStarts(text: string): Int32Array {
  const list = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) list.push(i + 1);
  return Int32Array.from(list);
}

function findLine(starts: Int32Array, offset: number): { line: number; col: number } {
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - starts[lo]! + 1 };
}

/**
 * The 1-based line and column of an offset in a text.
 *
 * @example
 * ```ts ignore
 * console.log(linePos("a\nbc", 3)); // { line: 2, col: 2 }
 * ```
 */
export function linePos(text: string, offset: number): { line: number; col: number } {
  return findLine(lineStarts(text), offset);
}
