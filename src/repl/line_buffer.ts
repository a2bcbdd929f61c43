/**
 * The editable line of the REPL's line editor: text, cursor and history
 * navigation, with no I/O (so every key binding is unit-tested).
 *
 * @module
 */

const WORD = /[A-Za-z0-9_$]/;

/**
 * A line being edited. Positions count UTF-16 code units; the editor is meant
 * for the (ASCII) DSL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineBuffer } from "@rampart/iptables/repl";
 * const line = new LineBuffer(["Match()"]);
 * line.insert("Drop()");
 * line.home();
 * line.insert("x = ");
 * assert.equal(line.text, "x = Drop()");
 * assert.equal(line.cursor, 4);
 * line.historyPrevious();
 * assert.equal(line.text, "Match()");
 * ```
 */
export class LineBuffer {
  #text = "";
  #cursor = 0;
  readonly #history: readonly string[];
  #historyIndex: number;
  #draft = "";

  /**
   * Creates an empty line.
   *
   * @param history Earlier entries, oldest first (Up walks back through them).
   */
  constructor(history: readonly string[] = []) {
    this.#history = history;
    this.#historyIndex = history.length;
  }

  /** The text. */
  get text(): string {
    return this.#text;
  }

  /** The cursor position (0 … text.length). */
  get cursor(): number {
    return this.#cursor;
  }

  /**
   * Replaces the whole text and puts the cursor at its end.
   *
   * @param text The new text.
   */
  set(text: string): void {
    this.#text = text;
    this.#cursor = text.length;
  }

  /**
   * Inserts text at the cursor.
   *
   * @param text The text to insert.
   */
  insert(text: string): void {
    this.#text = this.#text.slice(0, this.#cursor) + text + this.#text.slice(this.#cursor);
    this.#cursor += text.length;
  }

  /** Deletes the character before the cursor. */
  backspace(): void {
    if (this.#cursor === 0) return;
    this.#text = this.#text.slice(0, this.#cursor - 1) + this.#text.slice(this.#cursor);
    this.#cursor--;
  }

  /** Deletes the character under the cursor. */
  delete(): void {
    this.#text = this.#text.slice(0, this.#cursor) + this.#text.slice(this.#cursor + 1);
  }

  /** Moves one character left. */
  left(): void {
    if (this.#cursor > 0) this.#cursor--;
  }

  /** Moves one character right. */
  right(): void {
    if (this.#cursor < this.#text.length) this.#cursor++;
  }

  /** Moves to the start of the line. */
  home(): void {
    this.#cursor = 0;
  }

  /** Moves to the end of the line. */
  end(): void {
    this.#cursor = this.#text.length;
  }

  /** Moves to the start of the previous word. */
  wordLeft(): void {
    let i = this.#cursor;
    while (i > 0 && !WORD.test(this.#text[i - 1]!)) i--;
    while (i > 0 && WORD.test(this.#text[i - 1]!)) i--;
    this.#cursor = i;
  }

  /** Moves past the end of the next word. */
  wordRight(): void {
    let i = this.#cursor;
    const n = this.#text.length;
    while (i < n && !WORD.test(this.#text[i]!)) i++;
    while (i < n && WORD.test(this.#text[i]!)) i++;
    this.#cursor = i;
  }

  /** Deletes from the cursor to the end of the line. */
  killEnd(): void {
    this.#text = this.#text.slice(0, this.#cursor);
  }

  /** Deletes from the start of the line to the cursor. */
  killStart(): void {
    this.#text = this.#text.slice(this.#cursor);
    this.#cursor = 0;
  }

  /** Deletes the word before the cursor. */
  killWordBack(): void {
    const end = this.#cursor;
    this.wordLeft();
    this.#text = this.#text.slice(0, this.#cursor) + this.#text.slice(end);
  }

  /** Shows the previous history entry (keeps the line being typed as a draft). */
  historyPrevious(): void {
    if (this.#historyIndex === 0) return;
    if (this.#historyIndex === this.#history.length) this.#draft = this.#text;
    this.#historyIndex--;
    this.set(this.#history[this.#historyIndex]!);
  }

  /** Shows the next history entry, or the draft after the newest one. */
  historyNext(): void {
    if (this.#historyIndex >= this.#history.length) return;
    this.#historyIndex++;
    this.set(
      this.#historyIndex === this.#history.length
        ? this.#draft
        : this.#history[this.#historyIndex]!,
    );
  }
}
