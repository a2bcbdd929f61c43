/**
 * Decoding raw terminal input into key events.
 *
 * @module
 */

/** What a key press asks the line editor to do. */
export type KeyName =
  | "enter"
  | "tab"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "wordLeft"
  | "wordRight"
  | "killEnd"
  | "killStart"
  | "killWordBack"
  | "clearScreen"
  | "reverseSearch"
  | "cancel"
  | "eof"
  | "interrupt"
  | "ignore";

/** One decoded key: a named key, or text to insert. */
export type Key = { name: KeyName } | { name: "text"; text: string };

const CONTROL: Record<number, KeyName> = {
  0x01: "home", // Ctrl-A
  0x02: "left", // Ctrl-B
  0x03: "interrupt", // Ctrl-C
  0x04: "eof", // Ctrl-D (deletes when the line is not empty)
  0x05: "end", // Ctrl-E
  0x06: "right", // Ctrl-F
  0x07: "cancel", // Ctrl-G (ends a history search)
  0x08: "backspace", // Ctrl-H
  0x09: "tab",
  0x0a: "enter",
  0x0b: "killEnd", // Ctrl-K
  0x0c: "clearScreen", // Ctrl-L
  0x0d: "enter",
  0x0e: "down", // Ctrl-N
  0x10: "up", // Ctrl-P
  0x12: "reverseSearch", // Ctrl-R
  0x15: "killStart", // Ctrl-U
  0x17: "killWordBack", // Ctrl-W
  0x7f: "backspace",
};

const CSI_FINAL: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};

const CSI_TILDE: Record<string, KeyName> = {
  "1": "home",
  "7": "home",
  "4": "end",
  "8": "end",
  "3": "delete",
};

/**
 * Splits a chunk of raw terminal input into keys. Escape sequences (arrows,
 * Home/End/Delete, Ctrl+arrows, Alt+b/f) become named keys; runs of printable
 * characters become one text key (so a paste inserts at once). A trailing
 * incomplete escape sequence is returned as `rest` to prepend to the next chunk.
 *
 * @param input The decoded characters read from the terminal.
 * @returns The keys and any unfinished escape sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKeys } from "@rampart/iptables/repl";
 * assert.deepEqual(
 *   decodeKeys("ab\x1b[D\r").keys,
 *   [{ name: "text", text: "ab" }, { name: "left" }, { name: "enter" }],
 * );
 * ```
 */
export function decodeKeys(input: string): { keys: Key[]; rest: string } {
  const keys: Key[] = [];
  let text = "";
  function flush(): void {
    if (text !== "") keys.push({ name: "text", text });
    text = "";
  }
  let i = 0;
  while (i < input.length) {
    const c = input.charCodeAt(i);
    if (c === 0x1b) {
      flush();
      const next = input[i + 1];
      if (next === undefined) return { keys, rest: input.slice(i) };
      if (next === "[" || next === "O") {
        let j = i + 2;
        while (j < input.length && !/[\x40-\x7e]/.test(input[j]!)) j++;
        if (j >= input.length) return { keys, rest: input.slice(i) };
        const params = input.slice(i + 2, j);
        const final = input[j]!;
        i = j + 1;
        if (final === "~") {
          keys.push({ name: CSI_TILDE[params] ?? "ignore" });
        } else if (params.endsWith(";5") || params.endsWith(";3")) {
          keys.push({
            name: final === "C" ? "wordRight" : final === "D" ? "wordLeft" : "ignore",
          });
        } else {
          keys.push({ name: CSI_FINAL[final] ?? "ignore" });
        }
        continue;
      }
      i += 2;
      if (next === "b") keys.push({ name: "wordLeft" });
      else if (next === "f") keys.push({ name: "wordRight" });
      else if (next === "\x7f") keys.push({ name: "killWordBack" });
      else keys.push({ name: "ignore" });
      continue;
    }
    const control = CONTROL[c];
    if (control !== undefined) {
      flush();
      // A CR LF pair (pasted text) is one Enter.
      if (c === 0x0d && input.charCodeAt(i + 1) === 0x0a) i++;
      keys.push({ name: control });
      i++;
      continue;
    }
    if (c < 0x20) {
      i++;
      continue;
    }
    text += input[i];
    i++;
  }
  flush();
  return { keys, rest: "" };
}
