/**
 * Tab completion of DSL names, methods and dot commands.
 *
 * @module
 */
import { Match } from "../../dsl/match.ts";
import type { Completion } from "./line_editor.ts";
import { completeFileName, type ListDir } from "./file_completion.ts";

const KEYWORDS = ["const", "let", "await", "function", "true", "false", "null", "undefined"];

function ownAndInheritedNames(value: unknown): string[] {
  const names = new Set<string>();
  let o: unknown = value;
  if (o === null || o === undefined) return [];
  if (typeof o !== "object" && typeof o !== "function") o = Object(o);
  while (o !== null && o !== Object.prototype && o !== Function.prototype) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== "constructor" && /^[A-Za-z_$][\w$]*$/.test(name)) names.add(name);
    }
    o = Object.getPrototypeOf(o);
  }
  return [...names];
}

/**
 * Finds the value an expression before a `.` evaluates to, without running
 * anything: a dotted path of names from the scope, or, for a call chain that
 * starts with `Match(`, a match criteria (so `Match().protocol("tcp").d⇥`
 * completes builder methods).
 */
function resolveReceiver(expression: string, scope: Record<string, unknown>): unknown {
  const path = expression.trim();
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/.test(path)) {
    let value: unknown = scope;
    for (const part of path.split(".")) {
      if (value === null || value === undefined) return undefined;
      try {
        value = (value as Record<string, unknown>)[part];
      } catch {
        return undefined;
      }
    }
    return value;
  }
  if (/(^|[^\w$.])Match\s*\(/.test(path) && path.endsWith(")")) return Match();
  return undefined;
}

/** Finds where the expression before a `.` at `end` starts (balanced brackets, no spaces outside them). */
function receiverStart(line: string, end: number): number {
  let depth = 0;
  let i = end;
  while (i > 0) {
    const c = line[i - 1]!;
    if (c === ")" || c === "]") depth++;
    else if (c === "(" || c === "[") {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && !/[\w$.]/.test(c)) break;
    i--;
  }
  return i;
}

/**
 * Completes the word before the cursor: names in scope, keywords, members of
 * the value before a `.`, `.commands` at the start of a line, and file names
 * after `.load`/`.save`/`.export` and in `load("…")`/`save("…")`/`exportTs("…")`.
 *
 * @param line The line being edited.
 * @param cursor The cursor position.
 * @param options The scope, the dot commands, and how to list a directory.
 * @returns Where the word starts and the sorted candidates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match } from "@rampart/iptables";
 * import { completeInput } from "@rampart/iptables/repl";
 * const scope = { Match, Accept };
 * assert.deepEqual(completeInput("Acc", 3, { scope }).candidates, ["Accept"]);
 * assert.deepEqual(
 *   completeInput("Match().destP", 13, { scope }).candidates,
 *   ["destPortRanges", "destPorts"],
 * );
 * ```
 */
export function completeInput(
  line: string,
  cursor: number,
  options: { scope: Record<string, unknown>; commands?: readonly string[]; listDir?: ListDir },
): Completion {
  // A file name where a command takes one (`.load f`, `load("f`).
  const file = completeFileName(
    line,
    cursor,
    options.listDir === undefined ? {} : { listDir: options.listDir },
  );
  if (file !== undefined) return file;
  const before = line.slice(0, cursor);
  const dotCommand = /^\s*(\.[a-z]*)$/.exec(before);
  if (dotCommand !== null) {
    const typed = dotCommand[1]!;
    return {
      start: cursor - typed.length,
      candidates: (options.commands ?? []).filter((c) => c.startsWith(typed)).sort(),
    };
  }
  const word = /[A-Za-z_$][\w$]*$/.exec(before)?.[0] ?? "";
  const start = cursor - word.length;
  let names: string[];
  if (before[start - 1] === ".") {
    const from = receiverStart(before, start - 1);
    names = ownAndInheritedNames(resolveReceiver(before.slice(from, start - 1), options.scope));
  } else {
    if (word === "") return { start, candidates: [] };
    names = [...Object.keys(options.scope), ...KEYWORDS];
  }
  const candidates = [...new Set(names.filter((n) => n.startsWith(word)))].sort();
  return { start, candidates };
}
