/**
 * Splitting iptables-restore lines into arguments, and quoting them back the
 * way iptables-save does.
 *
 * @module
 */

/**
 * Splits one iptables-restore line into arguments exactly as iptables 1.8.9
 * does (`add_param_to_argv`): spaces, tabs and newlines separate, `"` opens a
 * quoted part in which `\` escapes the next character, and a closing `"`
 * ends the argument (even an empty one, even in the middle of a word).
 * Backslashes outside quotes are literal. An unterminated quoted part keeps
 * the line's end (a newline) in its argument, as iptables does.
 *
 * @param line One line, without its newline.
 * @returns The arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizeRestoreLine } from "./tokenize.ts";
 * assert.deepEqual(
 *   tokenizeRestoreLine('-A INPUT -m comment --comment "a \\"b\\" c" -j ACCEPT'),
 *   ["-A", "INPUT", "-m", "comment", "--comment", 'a "b" c', "-j", "ACCEPT"],
 * );
 * ```
 */
export function tokenizeRestoreLine(line: string): string[] {
  const out: string[] = [];
  forEachRestoreArgument(line, (arg) => {
    out.push(arg);
  });
  return out;
}

/**
 * The tokenizer behind {@linkcode tokenizeRestoreLine}, one argument at a
 * time: `visit` gets each argument in order and may return `true` to stop
 * early. An argument depends only on the text up to its end, so the
 * arguments seen before stopping are exactly the first ones of the whole
 * line.
 *
 * The engine decides ownership on these arguments (`src/host/ownership.ts`) and
 * the fake dataplane parses rules from them: one tokenizer for both. It scans
 * by index and copies runs of plain characters at once, and the engine stops
 * at a rule's first comment, since it runs on every rule of ours at each read
 * of a large table.
 *
 * @param line One line, without its newline.
 * @param visit Called with each argument; returning `true` stops the scan.
 */
export function forEachRestoreArgument(
  line: string,
  visit: (arg: string) => boolean | void,
): void {
  const n = line.length;
  let param = "";
  let open = false; // plain characters of an argument were read into `param`
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 34 /* " */) {
      // A quoted part: up to the closing quote, which ends the argument.
      let from = ++i;
      for (;;) {
        if (i >= n) {
          // Unterminated: the line's newline is part of the argument.
          visit(param + line.slice(from) + "\n");
          return;
        }
        const d = line.charCodeAt(i);
        if (d === 92 /* \ */) {
          param += line.slice(from, i);
          if (i + 1 >= n) {
            visit(param + "\n");
            return;
          }
          param += line[i + 1];
          i += 2;
          from = i;
        } else if (d === 34) {
          if (visit(param + line.slice(from, i)) === true) return;
          param = "";
          open = false;
          i++;
          break;
        } else i++;
      }
    } else if (c === 32 || c === 9 || c === 10) {
      if (open) {
        if (visit(param) === true) return;
        param = "";
        open = false;
      }
      i++;
    } else {
      const from = i++;
      while (i < n) {
        const d = line.charCodeAt(i);
        if (d === 32 || d === 9 || d === 10 || d === 34) break;
        i++;
      }
      param += line.slice(from, i);
      open = true;
    }
  }
  if (open) visit(param);
}

const NO_QUOTE = /^[_\-0-9a-zA-Z]+$/;

/**
 * Quotes a string as iptables-save does (`xtables_save_string`): bare when it
 * is non-empty and only `[_-0-9a-zA-Z]`, else in double quotes with `"`, `\`
 * and `'` escaped by a backslash.
 *
 * @param value The string.
 * @returns The quoted form.
 */
export function saveString(value: string): string {
  if (NO_QUOTE.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}
