/**
 * The REPL's history file, kept across sessions.
 *
 * @module
 */

/** Entries kept in the file. */
export const MAX_HISTORY_ENTRIES = 1000;

/**
 * Where the history lives: `$RAMPART_REPL_HISTORY` when set, else
 * `$XDG_STATE_HOME/rampart/repl_history`, else
 * `~/.local/state/rampart/repl_history`; `undefined` when none can be found.
 *
 * @param env Reads an environment variable.
 * @returns The path, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyPath } from "@rampart/iptables/repl";
 * const env: Record<string, string> = { HOME: "/home/ops" };
 * assert.equal(historyPath((name) => env[name]), "/home/ops/.local/state/rampart/repl_history");
 * ```
 */
export function historyPath(env: (name: string) => string | undefined): string | undefined {
  const explicit = env("RAMPART_REPL_HISTORY");
  if (explicit !== undefined && explicit !== "") return explicit;
  const state = env("XDG_STATE_HOME");
  if (state !== undefined && state.startsWith("/")) return `${state}/rampart/repl_history`;
  const home = env("HOME");
  if (home !== undefined && home !== "") return `${home}/.local/state/rampart/repl_history`;
  return undefined;
}

/**
 * Turns a (possibly multi-line) input into one history entry: lines are
 * trimmed and joined by single spaces so Up recalls it as one editable line.
 * `//` comments would swallow the rest of the joined line, so they are dropped.
 *
 * @param input What was evaluated.
 * @returns The entry, `""` for blank input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyEntry } from "@rampart/iptables/repl";
 * assert.equal(historyEntry("chain('rp-in',\n  Accept())"), "chain('rp-in', Accept())");
 * ```
 */
export function historyEntry(input: string): string {
  return input.split("\n")
    .map((l) => l.replace(/^\s*\/\/.*$/, "").trim())
    .filter((l) => l !== "")
    .join(" ");
}

/**
 * History stored in a file, one entry per line (oldest first). Reading or
 * writing failures (no permission, read-only home) are reported once through
 * `onError` and never stop the session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HistoryFile } from "@rampart/iptables/repl";
 * const path = await Deno.makeTempFile();
 * const history = new HistoryFile(path);
 * await history.add("Match().protocol('tcp')");
 * assert.deepEqual(await new HistoryFile(path).load(), ["Match().protocol('tcp')"]);
 * await Deno.remove(path);
 * ```
 */
export class HistoryFile {
  readonly #path: string;
  readonly #onError: (error: unknown) => void;
  #failed = false;

  /**
   * Creates a history file handle (nothing is read yet).
   *
   * @param path The file (created with its directory on the first write).
   * @param options `onError` is called once for the first failure.
   */
  constructor(path: string, options: { onError?: (error: unknown) => void } = {}) {
    this.#path = path;
    this.#onError = options.onError ?? (() => {});
  }

  /** The file's path. */
  get path(): string {
    return this.#path;
  }

  /**
   * Reads the entries, oldest first (`[]` when the file does not exist).
   *
   * @returns The newest {@linkcode MAX_HISTORY_ENTRIES} entries.
   */
  async load(): Promise<string[]> {
    try {
      const text = await Deno.readTextFile(this.#path);
      return text.split("\n").filter((l) => l !== "").slice(-MAX_HISTORY_ENTRIES);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) this.#fail(e);
      return [];
    }
  }

  /**
   * Appends one entry (appending, so concurrent sessions do not overwrite
   * each other), and trims the file when it grows past twice the limit.
   *
   * @param entry The entry; blank entries and newlines are not stored.
   */
  async add(entry: string): Promise<void> {
    const line = entry.replace(/[\r\n]+/g, " ").trim();
    if (line === "" || this.#failed) return;
    try {
      const dir = this.#path.slice(0, this.#path.lastIndexOf("/"));
      if (dir !== "") await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(this.#path, line + "\n", { append: true, mode: 0o600 });
      const stat = await Deno.stat(this.#path);
      if (stat.size > MAX_HISTORY_ENTRIES * 2 * 80) {
        const entries = await this.load();
        await Deno.writeTextFile(this.#path, entries.join("\n") + "\n");
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  #fail(e: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#onError(e);
  }
}
