/**
 * Dotted version numbers as iptables and the kernel print them.
 *
 * Internal helper of feature detection; not part of the public API.
 *
 * @module
 */

/**
 * Splits `1.8.9` or `4.18.0-330` on `.` and `-` into at most four integers
 * (the rest of a longer string stays in the fourth part and makes it invalid,
 * like the reference). Returns `undefined` when a part is not a decimal integer.
 */
export function parseVersion(text: string): number[] | undefined {
  const parts = splitN(text, 4);
  const out: number[] = [];
  for (const part of parts) {
    if (!/^[+-]?\d+$/.test(part)) return undefined;
    out.push(Number(part));
  }
  return out;
}

/**
 * Compares two parsed versions element-wise; when one is a prefix of the
 * other, the longer one is greater (`4.18.0-330` > `4.18.0`).
 */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x > y ? 1 : -1;
  }
  return a.length === b.length ? 0 : a.length > b.length ? 1 : -1;
}

/** `true` when `version` ≥ `minimum` (both dotted strings; `minimum` must parse). */
export function versionAtLeast(version: readonly number[], minimum: string): boolean {
  const min = parseVersion(minimum);
  if (min === undefined) throw new TypeError(`Invalid version ${JSON.stringify(minimum)}`);
  return compareVersions(version, min) >= 0;
}

/** Go's `regexp.Split(s, n)` for the separator class `[.-]`. */
function splitN(text: string, n: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (out.length < n - 1) {
    const m = /[.-]/.exec(rest);
    if (m === null) break;
    out.push(rest.slice(0, m.index));
    rest = rest.slice(m.index + 1);
  }
  out.push(rest);
  return out;
}
