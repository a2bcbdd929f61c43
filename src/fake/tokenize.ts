/**
 * Splitting iptables-restore lines into arguments, and quoting them back the
 * way iptables-save does.
 *
 * @module
 */

/**
 * Splits one iptables-restore line into arguments exactly as iptables 1.8.9
 * does (`add_param_to_argv`): spaces and tabs separate, `"` opens a quoted
 * part in which `\` escapes the next character, and a closing `"` ends the
 * argument. Quotes outside quoted parts and backslashes outside quotes are
 * otherwise literal only as described there.
 *
 * @param line One line, without its newline.
 * @returns The arguments.
 */
export function tokenizeRestoreLine(line: string): string[] {
  const out: string[] = [];
  let param = "";
  let quoteOpen = false;
  let escaped = false;
  let quoted = false;
  const text = line + "\n";
  for (const ch of text) {
    if (quoteOpen) {
      if (escaped) {
        param += ch;
        escaped = false;
        continue;
      } else if (ch === "\\") {
        escaped = true;
        continue;
      } else if (ch === '"') {
        quoteOpen = false;
      } else {
        param += ch;
        continue;
      }
    } else if (ch === '"') {
      quoteOpen = true;
      quoted = true;
      continue;
    }
    if (ch === '"') {
      // Closing quote: ends the argument (even an empty one).
    } else if (ch === " " || ch === "\t" || ch === "\n") {
      if (param.length === 0 && !quoted) continue;
    } else {
      param += ch;
      continue;
    }
    out.push(param);
    param = "";
    quoted = false;
  }
  if (param.length > 0 || quoted) out.push(param);
  return out;
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
