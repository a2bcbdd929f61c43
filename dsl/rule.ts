/**
 * Rules and chains, and rendering them as iptables-restore lines.
 *
 * @module
 */
import type { Action } from "./action.ts";
import type { Features } from "./features.ts";
import type { MatchCriteria } from "./match.ts";

/** iptables' limit on chain name length. */
export const MAX_CHAIN_NAME_LENGTH = 28;

/** The reference cuts escaped comments to this many characters (the kernel keeps 255). */
export const MAX_COMMENT_LENGTH = 256;

/**
 * One rule: what to match, what to do, and free-text comments.
 *
 * @example
 * ```ts
 * import { Accept, Match, type Rule } from "@rampart/iptables";
 * const rule: Rule = { match: Match().protocol("tcp").destPorts(22), action: Accept(), comment: "ssh" };
 * ```
 */
export interface Rule {
  /** What to match; absent matches every packet. */
  match?: MatchCriteria;
  /** What to do; absent only counts packets. */
  action?: Action;
  /** One or more comments, escaped and cut to 256 characters when rendered. */
  comment?: string | readonly string[];
}

/**
 * A named chain and its rules, in order.
 *
 * @example
 * ```ts
 * import { Accept, type Chain } from "@rampart/iptables";
 * const chain: Chain = { name: "rp-input", rules: [{ action: Accept() }] };
 * ```
 */
export interface Chain {
  /** The chain's name (at most 28 characters). */
  name: string;
  /** The chain's rules, in order. */
  rules: readonly Rule[];
}

/** Options of the render functions. */
export interface RenderOptions {
  /**
   * The rule's ID. Rendered as `-m comment --comment "<hashPrefix><hash>"`
   * before any other comment. The literal `HASH` renders as the bare word
   * `HASH` (used when computing IDs). Omitted when absent or empty.
   */
  hash?: string;
  /** Prefix of the ID comment. @default {""} */
  hashPrefix?: string;
  /** Host features (change some action fragments). @default {{}} */
  features?: Features;
}

/** Options of {@linkcode renderInsertAt} and {@linkcode renderReplace}. */
export interface PositionedRenderOptions extends RenderOptions {
  /** The 1-based rule number. */
  position: number;
}

const COMMENT_UNSAFE = /[^A-Za-z0-9_ @%+=:,./-]/gu;
const COMMENT_SAFE = /^[A-Za-z0-9_ @%+=:,./-]*$/;

/**
 * Escapes a comment as the reference does: every code point outside
 * `[A-Za-z0-9_ @%+=:,./-]` becomes `_`, then the result is cut to 256
 * characters. The kernel stores only 255 of them; the reference's 256 is kept
 * so that rule IDs match tables written by Felix.
 *
 * @example
 * ```ts
 * import { escapeComment } from "@rampart/iptables";
 * console.log(escapeComment('allow "ssh"\n')); // allow _ssh__
 * ```
 */
export function escapeComment(comment: string): string {
  // Fast path (hot: every comment is escaped once per ID and once per script
  // line): most comments are already safe and short.
  const safe = COMMENT_SAFE.test(comment) ? comment : comment.replace(COMMENT_UNSAFE, "_");
  return safe.length > MAX_COMMENT_LENGTH ? safe.slice(0, MAX_COMMENT_LENGTH) : safe;
}

/** The comments of a rule as a list. */
export function ruleComments(rule: Rule): readonly string[] {
  const c = rule.comment;
  if (c === undefined) return [];
  return typeof c === "string" ? [c] : c;
}

function inner(rule: Rule, options: RenderOptions): string {
  // String concatenation rather than an array join: this runs twice per rule
  // per full apply (once for the ID, once for the script line).
  let s = "";
  const hash = options.hash ?? "";
  if (hash === "HASH") s = "HASH";
  else if (hash !== "") s = `-m comment --comment "${options.hashPrefix ?? ""}${hash}"`;
  const comment = rule.comment;
  if (comment !== undefined) {
    if (typeof comment === "string") {
      s = join(s, `-m comment --comment "${escapeComment(comment)}"`);
    } else for (const c of comment) s = join(s, `-m comment --comment "${escapeComment(c)}"`);
  }
  const m = rule.match?.render() ?? "";
  if (m !== "") s = join(s, m);
  const a = rule.action?.toFragment(options.features ?? {}) ?? "";
  if (a !== "") s = join(s, a);
  return s;
}

function join(a: string, b: string): string {
  return a === "" ? b : a + " " + b;
}

function line(prefix: string, rule: Rule, options: RenderOptions): string {
  const body = inner(rule, options);
  return body === "" ? prefix : `${prefix} ${body}`;
}

/**
 * Renders `-A <chain> …`.
 *
 * @example
 * ```ts
 * import { Accept, renderAppend } from "@rampart/iptables";
 * console.log(renderAppend({ action: Accept() }, "rp-in", { hash: "abc", hashPrefix: "rampart:" }));
 * // -A rp-in -m comment --comment "rampart:abc" --jump ACCEPT
 * ```
 */
export function renderAppend(rule: Rule, chainName: string, options: RenderOptions = {}): string {
  return line(`-A ${chainName}`, rule, options);
}

/**
 * Renders `-I <chain> …` (insert at the top).
 *
 * @example
 * ```ts
 * import { Drop, renderInsert } from "@rampart/iptables";
 * console.log(renderInsert({ action: Drop() }, "INPUT")); // -I INPUT --jump DROP
 * ```
 */
export function renderInsert(rule: Rule, chainName: string, options: RenderOptions = {}): string {
  return line(`-I ${chainName}`, rule, options);
}

/**
 * Renders `-I <chain> <position> …`.
 *
 * @example
 * ```ts
 * import { Drop, renderInsertAt } from "@rampart/iptables";
 * console.log(renderInsertAt({ action: Drop() }, "INPUT", { position: 3 }));
 * // -I INPUT 3 --jump DROP
 * ```
 */
export function renderInsertAt(
  rule: Rule,
  chainName: string,
  options: PositionedRenderOptions,
): string {
  return line(`-I ${chainName} ${options.position}`, rule, options);
}

/**
 * Renders `-R <chain> <position> …`.
 *
 * @example
 * ```ts
 * import { Accept, renderReplace } from "@rampart/iptables";
 * console.log(renderReplace({ action: Accept() }, "rp-in", { position: 2 }));
 * // -R rp-in 2 --jump ACCEPT
 * ```
 */
export function renderReplace(
  rule: Rule,
  chainName: string,
  options: PositionedRenderOptions,
): string {
  return line(`-R ${chainName} ${options.position}`, rule, options);
}
