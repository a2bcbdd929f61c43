/**
 * File-name completion for the REPL's commands that take a file:
 * `.load f.yaml`, `.save f.yaml`, `.export f.ts`, and the string argument of
 * `load("…")`, `save("…")` and `exportTs("…")`.
 *
 * @module
 */
import type { Completion } from "./line_editor.ts";

/** An entry of a directory. */
export interface DirEntryLike {
  /** Its name. */
  name: string;
  /** Whether it is a directory (followed through a link). */
  isDirectory: boolean;
}

/** Lists a directory; throws when it cannot. */
export type ListDir = (dir: string) => Iterable<DirEntryLike>;

/** The file names each command takes (directories always complete, to go into). */
const SUFFIXES: Record<string, readonly string[]> = {
  load: [".yaml", ".yml"],
  save: [".yaml", ".yml"],
  export: [".ts"],
  exportTs: [".ts"],
};

const DOT = /^\s*\.(load|save|export)\s+(["']?)([^"'\s]*)$/;
const CALL = /(?:^|[^\w$.])(load|save|exportTs)\(\s*(["'`])([^"'`\\]*)$/;

/**
 * Lists a directory of this process's file system (a link to a directory
 * counts as a directory).
 *
 * @param dir The directory.
 * @returns Its entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoListDir } from "@rampart/iptables/repl";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/sub`);
 * assert.deepEqual([...denoListDir(dir)], [{ name: "sub", isDirectory: true }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function denoListDir(dir: string): Iterable<DirEntryLike> {
  const out: DirEntryLike[] = [];
  for (const e of Deno.readDirSync(dir)) {
    let isDirectory = e.isDirectory;
    if (e.isSymlink) {
      try {
        isDirectory = Deno.statSync(`${dir}/${e.name}`).isDirectory;
      } catch { /* a dangling link */ }
    }
    out.push({ name: e.name, isDirectory });
  }
  return out;
}

/**
 * Completes a file name where a command takes one: the word being typed is
 * a path; candidates are the entries of its directory that start with its
 * last part (hidden ones only when it starts with `.`), directories with a
 * `/`, files only with the command's suffixes (`.yaml`/`.yml`, `.ts`).
 * `undefined` when the cursor is not at such an argument.
 *
 * @param line The line being edited.
 * @param cursor The cursor position.
 * @param options How to list a directory (default: this process's).
 * @returns The completion, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completeFileName } from "@rampart/iptables/repl";
 * const listDir = () => [
 *   { name: "rules.yaml", isDirectory: false },
 *   { name: "notes.txt", isDirectory: false },
 *   { name: "rp", isDirectory: true },
 * ];
 * assert.deepEqual(completeFileName('load("r', 7, { listDir }), { start: 6, candidates: ["rp/", "rules.yaml"] });
 * assert.deepEqual(completeFileName(".load ", 6, { listDir })?.candidates, ["rp/", "rules.yaml"]);
 * ```
 */
export function completeFileName(
  line: string,
  cursor: number,
  options: { listDir?: ListDir } = {},
): Completion | undefined {
  const before = line.slice(0, cursor);
  const m = DOT.exec(before) ?? CALL.exec(before);
  if (m === null) return undefined;
  const command = m[1]!;
  const typed = m[3]!;
  const slash = typed.lastIndexOf("/");
  const dirPart = slash < 0 ? "" : typed.slice(0, slash + 1);
  const base = typed.slice(slash + 1);
  const dir = dirPart === "" ? "." : dirPart;
  const suffixes = SUFFIXES[command] ?? [];
  let entries: Iterable<DirEntryLike>;
  try {
    entries = (options.listDir ?? denoListDir)(dir);
  } catch {
    return { start: cursor - typed.length, candidates: [] };
  }
  const candidates: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(base)) continue;
    if (e.name.startsWith(".") && !base.startsWith(".")) continue;
    if (e.isDirectory) candidates.push(`${dirPart}${e.name}/`);
    else if (suffixes.some((s) => e.name.endsWith(s))) candidates.push(`${dirPart}${e.name}`);
  }
  return { start: cursor - typed.length, candidates: candidates.sort() };
}
