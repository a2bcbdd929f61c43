/**
 * Finding the node a loader field path names (`tables.filter.chains.rp-in[2].jump`)
 * in a positioned document: how a position recorded on the fast path is
 * found when it is asked for.
 *
 * @module
 */
import type { YamlDocument } from "./document.ts";

/** The node a field path names, and the key node of its last mapping entry. */
export interface FieldNodes {
  /** The value (or item) the path names, aliases resolved. */
  node: number;
  /** The key of the last mapping entry on the path (`undefined` for a list item or the root). */
  keyNode: number | undefined;
}

function resolved(doc: YamlDocument, node: number): number | undefined {
  return doc.kind(node) === "alias" ? doc.aliasTarget(node) : node;
}

/**
 * The node a loader field path names. Keys may hold `.` and `[`: every
 * key that fits is tried.
 *
 * @param doc The positioned document.
 * @param field The path, as the loader writes it.
 * @returns The nodes, or `undefined` when the path names nothing.
 *
 * @example
 * ```ts ignore
 * const doc = YamlDocument.parse("a:\n  b: [x, y]\n");
 * console.log(doc.value(nodeAtField(doc, "a.b[1]")!.node)); // y
 * ```
 */
export function nodeAtField(doc: YamlDocument, field: string): FieldNodes | undefined {
  const walk = (node: number, at: number, keyNode: number | undefined): FieldNodes | undefined => {
    if (at === field.length) return { node, keyNode };
    if (field[at] === "[") {
      const close = field.indexOf("]", at);
      if (close < 0 || doc.kind(node) !== "seq") return undefined;
      const item = doc.items(node)[Number(field.slice(at + 1, close))];
      const next = item === undefined ? undefined : resolved(doc, item);
      return next === undefined ? undefined : walk(next, close + 1, undefined);
    }
    const start = at === 0 ? 0 : field[at] === "." ? at + 1 : -1;
    if (start < 0 || doc.kind(node) !== "map") return undefined;
    const pairs = doc.flatPairs(node);
    for (let i = 0; i < pairs.length; i += 2) {
      const key = resolved(doc, pairs[i]!);
      if (key === undefined || doc.kind(key) !== "scalar") continue;
      const name = doc.value(key);
      if (typeof name !== "string" || !field.startsWith(name, start)) continue;
      const end = start + name.length;
      if (end !== field.length && field[end] !== "." && field[end] !== "[") continue;
      const value = resolved(doc, pairs[i + 1]!);
      const found = value === undefined ? undefined : walk(value, end, pairs[i]!);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return doc.root === undefined ? undefined : walk(doc.root, 0, undefined);
}
