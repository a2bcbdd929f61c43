/**
 * Rule IDs: stable per-rule SHA-224 hashes (the default), and the
 * reference's chained ones.
 *
 * @module
 */
import type { Features } from "./features.ts";
import { renderAppend, type Rule } from "./rule.ts";

/** Length of a rule ID in base64url characters (96 bits). */
export const HASH_LENGTH = 16;

/**
 * How rule IDs are computed: `"stable"` from each rule's own content (see
 * {@linkcode calculateStableRuleHashes}), `"chained"` as the reference does,
 * from the rule and every rule before it (see {@linkcode calculateRuleHashes}).
 */
export type RuleIds = "stable" | "chained";

const encoder = new TextEncoder();
/** SHA-224 digest size in bytes. */
const DIGEST_BYTES = 28;
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// SHA-224 in plain JS. Rule IDs hash ~200 bytes each, where the per-call cost
// of a WASM hasher (init, copy in, digest out) outweighed the compression
// itself: this is about 1.5× faster than hash-wasm for the whole ID chain.
const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const W = new Int32Array(64);
let buffer = new Uint8Array(4096);
/** `buffer` after the digest, where each rule's text is encoded. */
let tail = buffer.subarray(DIGEST_BYTES);

/**
 * SHA-224 of `buf[0, len)`, written big-endian to `buf[0, 28)`. Pads in
 * place: `buf` must have room for `len + 72` bytes.
 */
function sha224InPlace(buf: Uint8Array, len: number): void {
  const total = ((len + 9 + 63) >> 6) << 6;
  buf[len] = 0x80;
  buf.fill(0, len + 1, total - 4);
  const bits = len * 8;
  buf[total - 4] = bits >>> 24;
  buf[total - 3] = bits >>> 16;
  buf[total - 2] = bits >>> 8;
  buf[total - 1] = bits;
  let h0 = 0xc1059ed8 | 0, h1 = 0x367cd507, h2 = 0x3070dd17, h3 = 0xf70e5939 | 0;
  let h4 = 0xffc00b31 | 0, h5 = 0x68581511, h6 = 0x64f98fa7, h7 = 0xbefa4fa4 | 0;
  for (let off = 0; off < total; off += 64) {
    for (let i = 0, j = off; i < 16; i++, j += 4) {
      W[i] = (buf[j]! << 24) | (buf[j + 1]! << 16) | (buf[j + 2]! << 8) | buf[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15]!, w2 = W[i - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  putWord(buf, 0, h0);
  putWord(buf, 4, h1);
  putWord(buf, 8, h2);
  putWord(buf, 12, h3);
  putWord(buf, 16, h4);
  putWord(buf, 20, h5);
  putWord(buf, 24, h6);
}

function putWord(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/** Character codes of the base64url alphabet. */
const B64URL_CODES = Uint8Array.from(B64URL, (c) => c.charCodeAt(0));

/**
 * The first 16 base64url characters of a digest (12 bytes encode exactly 16),
 * made as one flat string: IDs are compared and used as map keys (the
 * planner's diff), and a string built by concatenation is flattened first.
 */
function idOf(digest: Uint8Array): string {
  const c = B64URL_CODES;
  const n0 = (digest[0]! << 16) | (digest[1]! << 8) | digest[2]!;
  const n1 = (digest[3]! << 16) | (digest[4]! << 8) | digest[5]!;
  const n2 = (digest[6]! << 16) | (digest[7]! << 8) | digest[8]!;
  const n3 = (digest[9]! << 16) | (digest[10]! << 8) | digest[11]!;
  return String.fromCharCode(
    c[n0 >> 18]!,
    c[(n0 >> 12) & 63]!,
    c[(n0 >> 6) & 63]!,
    c[n0 & 63]!,
    c[n1 >> 18]!,
    c[(n1 >> 12) & 63]!,
    c[(n1 >> 6) & 63]!,
    c[n1 & 63]!,
    c[n2 >> 18]!,
    c[(n2 >> 12) & 63]!,
    c[(n2 >> 6) & 63]!,
    c[n2 & 63]!,
    c[n3 >> 18]!,
    c[(n3 >> 12) & 63]!,
    c[(n3 >> 6) & 63]!,
    c[n3 & 63]!,
  );
}

/**
 * Computes the ID of every rule in a chain, exactly as the reference does, so
 * tables written by Felix and by Rampart recognise each other's rules.
 *
 * `h0 = SHA-224(chainName)`, then for each rule
 * `h = SHA-224(h || renderAppend(rule, chainName, { hash: "HASH" }))` and the ID
 * is the first 16 base64url characters of `h`. An ID depends on the rule, its
 * chain, its position and every rule before it.
 *
 * @param chainName The chain the rules are in (`X*appends*` for rules appended to kernel chain `X`).
 * @param rules The rules, in order.
 * @param features Host features (they change some fragments, so IDs).
 * @returns One ID per rule.
 *
 * @example The ID Calico gives its INPUT jump
 * ```ts
 * import assert from "node:assert/strict";
 * import { calculateRuleHashes, Jump } from "@rampart/iptables";
 * assert.deepEqual(
 *   calculateRuleHashes("INPUT", [{ action: Jump("cali-INPUT") }]),
 *   ["Cz_u1IQiXIMmKD4c"],
 * );
 * ```
 */
export function calculateRuleHashes(
  chainName: string,
  rules: readonly Rule[],
  features: Features = {},
): string[] {
  // The digest chain lives in the first 28 bytes of `buffer`: each rule's
  // text is encoded right after the previous digest and hashed in place.
  hashChainName(chainName);
  const ids: string[] = new Array(rules.length);
  const options = { hash: "HASH", features };
  for (let i = 0; i < rules.length; i++) {
    const text = renderAppend(rules[i]!, chainName, options);
    ensureRoom(DIGEST_BYTES + text.length * 3);
    const { written } = encoder.encodeInto(text, tail);
    sha224InPlace(buffer, DIGEST_BYTES + written);
    ids[i] = idOf(buffer);
  }
  return ids;
}

/** Options of {@linkcode calculateStableRuleHashes}. */
export interface StableRuleHashOptions {
  /** Host features (they change some fragments, so IDs). @default {{}} */
  features?: Features | undefined;
}

/**
 * Computes a stable ID for every rule of a chain: an ID depends only on the
 * chain, the rule's rendered text and, for identical rules, on how many
 * identical rules come before it in the chain. Inserting, deleting or changing
 * one rule leaves the ID of every other rule as it was (except later copies of
 * a rule identical to the one inserted or deleted), so an edit of a long chain
 * can be written as a few positional lines.
 *
 * `h0 = SHA-224(chainName)`; a rule rendered as `text`
 * (`renderAppend(rule, chainName, { hash: "HASH" })`) gets
 * `d = SHA-224(h0 || text)` when no identical rule comes before it, and the
 * copy with `n ≥ 1` identical rules before it gets `SHA-224(d || "\n" || n)`
 * (`d` of the first copy, `n` in decimal). An ID is the first 16 base64url
 * characters of its digest. A chain's first rule
 * therefore has the same ID as {@linkcode calculateRuleHashes} gives it, and
 * identical rules get different IDs.
 *
 * @param chainName The chain the rules are in (`X*appends*` for rules appended to kernel chain `X`).
 * @param rules The rules, in order.
 * @param options Host features.
 * @returns One ID per rule.
 *
 * @example Changing one rule changes only its ID
 * ```ts
 * import { Accept, calculateStableRuleHashes, Drop, Match } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const web = { match: Match().protocol("tcp").destPorts(80), action: Accept() };
 * const before = calculateStableRuleHashes("rp-in", [{ action: Accept() }, web, { action: Drop() }]);
 * const after = calculateStableRuleHashes("rp-in", [{ action: Accept() }, { ...web, comment: "web" }, { action: Drop() }]);
 * assert.equal(after[0], before[0]);
 * assert.notEqual(after[1], before[1]);
 * assert.equal(after[2], before[2]);
 * ```
 *
 * @example Identical rules are told apart by their occurrence
 * ```ts
 * import { calculateRuleHashes, calculateStableRuleHashes, Drop } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const ids = calculateStableRuleHashes("rp-in", [{ action: Drop() }, { action: Drop() }]);
 * assert.notEqual(ids[0], ids[1]);
 * // The first rule's ID is the reference's.
 * assert.equal(ids[0], calculateRuleHashes("rp-in", [{ action: Drop() }])[0]);
 * ```
 */
export function calculateStableRuleHashes(
  chainName: string,
  rules: readonly Rule[],
  options: StableRuleHashOptions = {},
): string[] {
  hashChainName(chainName);
  const seed = buffer.slice(0, DIGEST_BYTES);
  const ids: string[] = new Array(rules.length);
  const render = { hash: "HASH", features: options.features ?? {} };
  // Identical rules are found by their first digest, in an open-addressing
  // table keyed on its first word (a map keyed on ID strings cost a third
  // more than the hashing itself): per slot, 1 + the index of the first
  // rule with that digest (its ID tells a copy from a collision of the key),
  // and how many rules had it.
  const size = tableSize(rules.length);
  const slots = firstOf.subarray(0, size).fill(0);
  const mask = size - 1;
  for (let i = 0; i < rules.length; i++) {
    const text = renderAppend(rules[i]!, chainName, render);
    ensureRoom(DIGEST_BYTES + text.length * 3 + 12);
    buffer.set(seed, 0);
    sha224InPlace(buffer, DIGEST_BYTES + encoder.encodeInto(text, tail).written);
    let id = idOf(buffer);
    const key = (buffer[0]! << 24) | (buffer[1]! << 16) | (buffer[2]! << 8) | buffer[3]!;
    let slot = key & mask;
    for (;;) {
      const at = slots[slot]!;
      if (at === 0) {
        slots[slot] = i + 1;
        copies[slot] = 1;
        break;
      }
      if (ids[at - 1] === id) {
        // A copy: the first copy's digest (at the start of the buffer), then its number.
        const n = copies[slot]!;
        copies[slot] = n + 1;
        let end = DIGEST_BYTES;
        buffer[end++] = 10; // "\n"
        const digits = String(n);
        for (let d = 0; d < digits.length; d++) buffer[end++] = digits.charCodeAt(d);
        sha224InPlace(buffer, end);
        id = idOf(buffer);
        break;
      }
      slot = (slot + 1) & mask;
    }
    ids[i] = id;
  }
  return ids;
}

/** Options of {@linkcode calculateRuleIds}. */
export interface RuleIdOptions {
  /** How IDs are computed. @default {"stable"} */
  ruleIds?: RuleIds | undefined;
  /** Host features (they change some fragments, so IDs). @default {{}} */
  features?: Features | undefined;
}

/**
 * Computes the ID of every rule in a chain with the chosen scheme:
 * {@linkcode calculateStableRuleHashes} for `"stable"` (the default),
 * {@linkcode calculateRuleHashes} for `"chained"`.
 *
 * @param chainName The chain the rules are in (`X*appends*` for rules appended to kernel chain `X`).
 * @param rules The rules, in order.
 * @param options The scheme and host features.
 * @returns One ID per rule.
 *
 * @example
 * ```ts
 * import { calculateRuleIds, Jump } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const rules = [{ action: Jump("cali-INPUT") }];
 * assert.deepEqual(calculateRuleIds("INPUT", rules, { ruleIds: "chained" }), ["Cz_u1IQiXIMmKD4c"]);
 * assert.equal(calculateRuleIds("INPUT", rules).length, 1);
 * ```
 */
export function calculateRuleIds(
  chainName: string,
  rules: readonly Rule[],
  options: RuleIdOptions = {},
): string[] {
  const features = options.features ?? {};
  return options.ruleIds === "chained"
    ? calculateRuleHashes(chainName, rules, features)
    : calculateStableRuleHashes(chainName, rules, { features });
}

/** Open-addressing table of {@linkcode calculateStableRuleHashes} (reused). */
let firstOf = new Int32Array(256);
let copies = new Int32Array(256);

/** A power of two at least twice `n`, with the shared tables grown to it. */
function tableSize(n: number): number {
  let size = 256;
  while (size < 2 * n) size *= 2;
  if (firstOf.length < size) {
    firstOf = new Int32Array(size);
    copies = new Int32Array(size);
  }
  return size;
}

/** Writes `SHA-224(chainName)` to the first 28 bytes of the shared buffer. */
function hashChainName(chainName: string): void {
  const first = encoder.encode(chainName);
  ensureRoom(first.length);
  buffer.set(first, 0);
  sha224InPlace(buffer, first.length);
}

/** Grows the shared buffer to hold `bytes` bytes plus SHA-224 padding, keeping the digest. */
function ensureRoom(bytes: number): void {
  if (buffer.length >= bytes + 72) return;
  const next = new Uint8Array(bytes + 72 + 1024);
  next.set(buffer.subarray(0, DIGEST_BYTES));
  buffer = next;
  tail = buffer.subarray(DIGEST_BYTES);
}
