/**
 * Reverse history search (Ctrl-R), as readline does it, with no I/O.
 *
 * @module
 */

/**
 * A reverse incremental search through the history: typing narrows it to the
 * newest entry containing the query, Ctrl-R again goes to older ones,
 * Backspace shortens the query.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HistorySearch } from "@rampart/iptables/repl";
 * const search = new HistorySearch(["plan()", "Match().protocol('tcp')", "apply()"]);
 * search.type("p");
 * assert.equal(search.match, "apply()");
 * search.older();
 * assert.equal(search.match, "Match().protocol('tcp')");
 * search.type("l");
 * assert.equal(search.match, "plan()");
 * assert.equal(search.prompt(), "(reverse-i-search)'pl': ");
 * ```
 */
export class HistorySearch {
  readonly #history: readonly string[];
  #query = "";
  /** The index of the match in the history, or -1. */
  #index = -1;
  #failed = false;

  /**
   * Starts a search.
   *
   * @param history The entries, oldest first.
   */
  constructor(history: readonly string[]) {
    this.#history = history;
  }

  /** What is searched for. */
  get query(): string {
    return this.#query;
  }

  /** The entry found (`undefined` before anything is found). */
  get match(): string | undefined {
    return this.#index < 0 ? undefined : this.#history[this.#index];
  }

  /** Where the query is in the match (for the cursor), or 0. */
  get matchOffset(): number {
    const m = this.match;
    if (m === undefined) return 0;
    const at = m.lastIndexOf(this.#query);
    return at < 0 ? 0 : at;
  }

  /** Whether the last step found nothing (the match stays the previous one). */
  get failed(): boolean {
    return this.#failed;
  }

  /** The prompt: `(reverse-i-search)'query': `, with `failed ` when nothing matched. */
  prompt(): string {
    return `(${this.#failed ? "failed " : ""}reverse-i-search)'${this.#query}': `;
  }

  /**
   * Adds text to the query and finds the newest entry, from the current
   * match back, that contains it.
   *
   * @param text The text typed.
   */
  type(text: string): void {
    this.#query += text;
    this.#find(this.#index < 0 ? this.#history.length - 1 : this.#index);
  }

  /** Removes the query's last character and searches again from the newest entry. */
  backspace(): void {
    if (this.#query === "") return;
    this.#query = this.#query.slice(0, -1);
    this.#index = -1;
    this.#failed = false;
    if (this.#query !== "") this.#find(this.#history.length - 1);
  }

  /** Finds the next older entry with the query (Ctrl-R again). */
  older(): void {
    if (this.#query === "") return;
    this.#find((this.#index < 0 ? this.#history.length : this.#index) - 1);
  }

  #find(from: number): void {
    for (let i = from; i >= 0; i--) {
      if (this.#history[i]!.includes(this.#query)) {
        this.#index = i;
        this.#failed = false;
        return;
      }
    }
    this.#failed = true;
  }
}
