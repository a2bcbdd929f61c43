/**
 * A small line editor on raw terminal input (`Deno.stdin.setRaw`), with a
 * plain line reader when standard input is not a terminal.
 *
 * @module
 */
import { decodeKeys } from "./keys.ts";
import { LineBuffer } from "./line_buffer.ts";
import { HistorySearch } from "./history_search.ts";

/** The terminal the editor talks to (injectable for tests). */
export interface TerminalIo {
  /** Reads raw bytes; `null` at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes text immediately. */
  write(text: string): void;
  /** Switches raw mode (no echo, no line buffering, Ctrl-C as a byte). */
  setRaw(raw: boolean): void;
  /** Whether input and output are a terminal (else lines are read without editing). */
  readonly isTerminal: boolean;
  /** The terminal's width in columns. */
  columns(): number;
}

/** Completion candidates for the word that ends at the cursor. */
export interface Completion {
  /** Where the completed word starts in the line. */
  start: number;
  /** Full replacements for `line.slice(start, cursor)`. */
  candidates: string[];
}

/** Completes the word before the cursor. */
export type Completer = (line: string, cursor: number) => Completion;

/** What {@linkcode LineEditor.readLine} read. */
export type ReadResult =
  | { kind: "line"; text: string }
  | { kind: "eof" }
  | { kind: "interrupt" };

/** Options of {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /** History entries, oldest first; the caller appends new entries. @default {[]} */
  history?: string[];
  /** Tab completion. */
  complete?: Completer;
}

/** The terminal of this process. */
export function denoTerminal(): TerminalIo {
  const isTerminal = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  return {
    read: (buffer) => Deno.stdin.read(buffer),
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    setRaw(raw) {
      if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(raw);
    },
    isTerminal,
    columns() {
      try {
        return Deno.consoleSize().columns || 80;
      } catch {
        return 80;
      }
    },
  };
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

function visibleLength(text: string): number {
  return text.replace(ANSI, "").length;
}

function commonPrefix(words: readonly string[]): string {
  if (words.length === 0) return "";
  let prefix = words[0]!;
  for (const w of words) {
    while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  return prefix;
}

/**
 * Reads lines from a terminal with editing (arrows, Home/End, Ctrl-A/E/K/U/W,
 * Alt-b/f), history (Up/Down, Ctrl-R to search it), Tab completion and lines
 * longer than the terminal is wide. Each line read is left on the screen
 * with its prompt, also when several are pasted at once. Raw mode is on only while a line is being read, so
 * commands that prompt (such as Deno's permission prompt) work in between.
 *
 * @example Reading from scripted input
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineEditor, type TerminalIo } from "@rampart/iptables/repl";
 * const input = new TextEncoder().encode("Acc\t\r");
 * let done = false;
 * const io: TerminalIo = {
 *   read(buffer) {
 *     if (done) return Promise.resolve(null);
 *     done = true;
 *     buffer.set(input);
 *     return Promise.resolve(input.length);
 *   },
 *   write() {},
 *   setRaw() {},
 *   isTerminal: true,
 *   columns: () => 80,
 * };
 * const editor = new LineEditor(io, {
 *   complete: (line, cursor) => ({ start: 0, candidates: ["Accept"] }),
 * });
 * assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Accept" });
 * ```
 */
export class LineEditor {
  readonly #io: TerminalIo;
  readonly #history: string[];
  readonly #complete: Completer | undefined;
  readonly #decoder = new TextDecoder();
  #pending = "";
  #eof = false;
  // Render state: the rows the current input occupies and the cursor's row.
  #cursorRow = 0;

  /**
   * Creates an editor.
   *
   * @param io The terminal.
   * @param options History and completion.
   */
  constructor(io: TerminalIo, options: LineEditorOptions = {}) {
    this.#io = io;
    this.#history = options.history ?? [];
    this.#complete = options.complete;
  }

  /** The history list (oldest first); append to it to add entries. */
  get history(): string[] {
    return this.#history;
  }

  /**
   * Reads one line.
   *
   * @param prompt Printed before the line (only on a terminal).
   * @returns The line, end of input, or an interrupt (Ctrl-C).
   */
  async readLine(prompt: string): Promise<ReadResult> {
    if (!this.#io.isTerminal) return await this.#readPlainLine();
    const line = new LineBuffer(this.#history);
    this.#cursorRow = 0;
    this.#io.setRaw(true);
    /** A Ctrl-R search in progress, and the line as it was when it started. */
    let search: HistorySearch | undefined;
    let searchStart = "";
    const draw = () => {
      if (search === undefined) this.#render(prompt, line);
      else this.#renderSearch(search, line);
    };
    try {
      draw();
      let lastWasTab = false;
      while (true) {
        const chunk = await this.#readChunk();
        if (chunk === null) {
          if (search !== undefined) {
            search = undefined;
            this.#render(prompt, line);
          }
          this.#io.write("\r\n");
          return line.text === "" ? { kind: "eof" } : { kind: "line", text: line.text };
        }
        const { keys, rest } = decodeKeys(chunk);
        this.#pending = rest;
        for (let k = 0; k < keys.length; k++) {
          const key = keys[k]!;
          const isTab = key.name === "tab";
          if (search !== undefined) {
            // Searching: text and Backspace edit the query, Ctrl-R looks
            // further back, Ctrl-G gives the line back as it was; any other
            // key takes the match into the line and then does what it does.
            if (key.name === "text") {
              search.type(key.text);
              line.set(search.match ?? line.text);
              this.#renderSearch(search, line);
              continue;
            }
            if (key.name === "backspace" || key.name === "reverseSearch") {
              if (key.name === "backspace") search.backspace();
              else search.older();
              if (search.match !== undefined) line.set(search.match);
              this.#renderSearch(search, line);
              continue;
            }
            if (key.name === "cancel") {
              line.set(searchStart);
              search = undefined;
              this.#render(prompt, line);
              continue;
            }
            search = undefined;
            this.#render(prompt, line);
          }
          switch (key.name) {
            case "text":
              line.insert(key.text);
              break;
            case "enter": {
              // Keys typed ahead (a paste of several lines) wait for the next read.
              this.#pending = keys.slice(k + 1).map(keyText).join("") + this.#pending;
              // The line as typed or pasted stays on the screen with its prompt.
              this.#render(prompt, line);
              this.#moveToEnd(prompt, line);
              this.#io.write("\r\n");
              return { kind: "line", text: line.text };
            }
            case "interrupt":
              this.#moveToEnd(prompt, line);
              this.#io.write("^C\r\n");
              this.#pending = "";
              return { kind: "interrupt" };
            case "eof":
              if (line.text === "") {
                this.#io.write("\r\n");
                return { kind: "eof" };
              }
              line.delete();
              break;
            case "tab":
              this.#completeAt(prompt, line, lastWasTab);
              break;
            case "backspace":
              line.backspace();
              break;
            case "delete":
              line.delete();
              break;
            case "left":
              line.left();
              break;
            case "right":
              line.right();
              break;
            case "home":
              line.home();
              break;
            case "end":
              line.end();
              break;
            case "wordLeft":
              line.wordLeft();
              break;
            case "wordRight":
              line.wordRight();
              break;
            case "killEnd":
              line.killEnd();
              break;
            case "killStart":
              line.killStart();
              break;
            case "killWordBack":
              line.killWordBack();
              break;
            case "up":
              line.historyPrevious();
              break;
            case "down":
              line.historyNext();
              break;
            case "clearScreen":
              this.#io.write("\x1b[H\x1b[2J");
              this.#cursorRow = 0;
              break;
            case "reverseSearch":
              search = new HistorySearch(this.#history);
              searchStart = line.text;
              break;
            case "cancel":
            case "ignore":
              break;
          }
          lastWasTab = isTab;
        }
        draw();
      }
    } finally {
      this.#io.setRaw(false);
    }
  }

  async #readChunk(): Promise<string | null> {
    if (this.#pending !== "") {
      const p = this.#pending;
      this.#pending = "";
      return p;
    }
    if (this.#eof) return null;
    const buffer = new Uint8Array(4096);
    const n = await this.#io.read(buffer);
    if (n === null) {
      this.#eof = true;
      return null;
    }
    return this.#decoder.decode(buffer.subarray(0, n), { stream: true });
  }

  async #readPlainLine(): Promise<ReadResult> {
    while (true) {
      const nl = this.#pending.indexOf("\n");
      if (nl >= 0) {
        const text = this.#pending.slice(0, nl).replace(/\r$/, "");
        this.#pending = this.#pending.slice(nl + 1);
        return { kind: "line", text };
      }
      if (this.#eof) {
        if (this.#pending === "") return { kind: "eof" };
        const text = this.#pending;
        this.#pending = "";
        return { kind: "line", text };
      }
      const buffer = new Uint8Array(4096);
      const n = await this.#io.read(buffer);
      if (n === null) {
        this.#eof = true;
        this.#pending += this.#decoder.decode();
      } else {
        this.#pending += this.#decoder.decode(buffer.subarray(0, n), { stream: true });
      }
    }
  }

  #completeAt(prompt: string, line: LineBuffer, list: boolean): void {
    if (this.#complete === undefined) return;
    const { start, candidates } = this.#complete(line.text, line.cursor);
    if (candidates.length === 0) return;
    const typed = line.text.slice(start, line.cursor);
    const prefix = commonPrefix(candidates);
    if (prefix.length > typed.length && prefix.startsWith(typed)) {
      line.insert(prefix.slice(typed.length));
      return;
    }
    if (candidates.length === 1 || !list) return;
    // Second Tab: list the candidates under the line, then redraw it.
    this.#moveToEnd(prompt, line);
    const width = Math.max(...candidates.map((c) => c.length)) + 2;
    const perRow = Math.max(1, Math.floor(this.#io.columns() / width));
    let out = "\r\n";
    const shown = candidates.slice(0, 200);
    for (let i = 0; i < shown.length; i++) {
      out += shown[i]!.padEnd(width);
      if ((i + 1) % perRow === 0 || i === shown.length - 1) out += "\r\n";
    }
    if (candidates.length > shown.length) out += `… ${candidates.length - shown.length} more\r\n`;
    this.#io.write(out);
    this.#cursorRow = 0;
  }

  /** Draws a history search: its prompt, the match, the cursor on the query. */
  #renderSearch(search: HistorySearch, line: LineBuffer): void {
    line.home();
    for (let i = 0; i < search.matchOffset; i++) line.right();
    this.#render(search.prompt(), line);
  }

  /** Puts the terminal cursor after the last character of the input. */
  #moveToEnd(prompt: string, line: LineBuffer): void {
    const cols = Math.max(1, this.#io.columns());
    const total = visibleLength(prompt) + line.text.length;
    const endRow = Math.floor(total / cols);
    const down = endRow - this.#cursorRow;
    let out = down > 0 ? `\x1b[${down}B` : "";
    out += "\r";
    if (total % cols > 0) out += `\x1b[${total % cols}C`;
    this.#io.write(out);
    this.#cursorRow = endRow;
  }

  #render(prompt: string, line: LineBuffer): void {
    const cols = Math.max(1, this.#io.columns());
    let out = this.#cursorRow > 0 ? `\x1b[${this.#cursorRow}A` : "";
    out += "\r\x1b[J" + prompt + line.text;
    const plen = visibleLength(prompt);
    const total = plen + line.text.length;
    // After exactly filling a row the cursor waits in the last column: wrap it.
    if (total > 0 && total % cols === 0) out += "\r\n";
    const endRow = Math.floor(total / cols);
    const pos = plen + line.cursor;
    const row = Math.floor(pos / cols);
    const col = pos % cols;
    if (endRow > row) out += `\x1b[${endRow - row}A`;
    out += "\r";
    if (col > 0) out += `\x1b[${col}C`;
    this.#io.write(out);
    this.#cursorRow = row;
  }
}

function keyText(key: ReturnType<typeof decodeKeys>["keys"][number]): string {
  if (key.name === "text") return key.text;
  if (key.name === "enter") return "\r";
  if (key.name === "tab") return "\t";
  return "";
}
