/**
 * Clearer words for YAML syntax errors, from a second parser (npm:yaml),
 * run only on text the loader's parser rejected: its messages say what the
 * YAML author got wrong ("Flow sequence in block collection must be
 * sufficiently indented and end with a ]") where the loader's parser names
 * its own state ("deficient indentation").
 *
 * @module
 */
import { parseDocument } from "yaml";

/** Larger texts keep the loader's parser's words: the second parser is ten times slower. */
const MAX_DESCRIBED = 1024 * 1024;

/**
 * The first syntax error npm:yaml finds in a text: its offset and reason,
 * or `undefined` when it finds none (or the text is too large to look at).
 *
 * @param text YAML text that the loader's parser rejected.
 * @returns The offset and a one-line reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeSyntaxError } from "./syntax_errors.ts";
 * const error = describeSyntaxError("a: [1\nb: 2\n");
 * assert.equal(error?.offset, 6);
 * assert.match(error!.reason, /^Flow sequence in block collection must be sufficiently indented/);
 * ```
 */
export function describeSyntaxError(text: string): { offset: number; reason: string } | undefined {
  if (text.length > MAX_DESCRIBED) return undefined;
  let first;
  try {
    first = parseDocument(text, { prettyErrors: false, uniqueKeys: true }).errors[0];
  } catch {
    return undefined; // e.g. its stack ran out: keep the loader's words
  }
  if (first === undefined) return undefined;
  const reason = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  return { offset: first.pos[0], reason };
}
