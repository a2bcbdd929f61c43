/**
 * Rules and chains, and rendering them as iptables-restore lines.
 *
 * @module
 */
import type { Action } from "./action.ts";
import { quoteValue, RuleError } from "./errors.ts";
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
 * import assert from "node:assert/strict";
 * import { escapeComment } from "@rampart/iptables";
 * assert.equal(escapeComment('allow "ssh"\n'), "allow _ssh__");
 * ```
 */
export function escapeComment(comment: string): string {
  // Fast path (hot: every comment is escaped once per ID and once per script
  // line): most comments are already safe and short.
  const safe = COMMENT_SAFE.test(comment) ? comment : comment.replace(COMMENT_UNSAFE, "_");
  return safe.length > MAX_COMMENT_LENGTH ? safe.slice(0, MAX_COMMENT_LENGTH) : safe;
}

/** The most characters of a comment the kernel stores (`XT_MAX_COMMENT_LEN` less its NUL). */
export const MAX_STORED_COMMENT_LENGTH = 255;

/**
 * Why a comment would not be stored as written, or `undefined` when it
 * would be: escaping replaces every character outside
 * `[A-Za-z0-9_ @%+=:,./-]` with `_`, and the kernel keeps 255 characters.
 * YAML rule files refuse such comments (the DSL escapes them, as the
 * reference does).
 *
 * @param comment The comment.
 * @returns The problem, in words, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commentProblem } from "@rampart/iptables";
 * assert.equal(commentProblem("web server"), undefined);
 * assert.equal(
 *   commentProblem("it's"),
 *   'it would be stored as "it_s": a comment keeps only letters, digits, spaces and _ @ % + = : , . / -',
 * );
 * ```
 */
export function commentProblem(comment: string): string | undefined {
  if (!COMMENT_SAFE.test(comment)) {
    return `it would be stored as ${
      JSON.stringify(escapeComment(comment))
    }: a comment keeps only letters, digits, spaces and _ @ % + = : , . / -`;
  }
  if (comment.length > MAX_STORED_COMMENT_LENGTH) {
    return `it has ${comment.length} characters: the kernel keeps ${MAX_STORED_COMMENT_LENGTH}`;
  }
  return undefined;
}

const LINE_BREAK_OR_NUL = /[\0\r\n]/;

function checkComment(field: string, value: unknown): void {
  if (typeof value !== "string") {
    throw new RuleError(
      `Invalid ${field} ${quoteValue(value)}: expected a string or a list of strings`,
      { field, value },
    );
  }
  if (LINE_BREAK_OR_NUL.test(value)) {
    throw new RuleError(
      `Invalid ${field} ${quoteValue(value)}: expected no NUL, CR or LF (a comment is one line)`,
      { field, value },
    );
  }
}

/**
 * Checks the shape of a rule given to the engine: `match` a `Match()`
 * criteria, `action` an action, `comment` a string or a list of strings
 * without NUL, CR or LF (other characters are escaped when rendered).
 *
 * @param rule The rule, as given.
 * @param field Its name in messages, e.g. `rules[2]`.
 * @throws {RuleError} naming the field (e.g. `rules[2].comment`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRule, RuleError } from "@rampart/iptables";
 * assert.throws(
 *   () => checkRule({ comment: 42 }, "rules[0]"),
 *   (e) => e instanceof RuleError && e.field === "rules[0].comment",
 * );
 * ```
 */
export function checkRule(rule: unknown, field: string): asserts rule is Rule {
  if (rule === null || typeof rule !== "object" || Array.isArray(rule)) {
    throw new RuleError(
      `Invalid ${field} ${quoteValue(rule)}: expected a rule ({ match?, action?, comment? })`,
      { field, value: rule },
    );
  }
  const { match, action, comment } = rule as Record<string, unknown>;
  if (
    match !== undefined &&
    typeof (match as { render?: unknown } | null)?.render !== "function"
  ) {
    throw new RuleError(
      `Invalid ${field}.match ${quoteValue(match)}: expected match criteria built with Match()`,
      { field: `${field}.match`, value: match },
    );
  }
  if (
    action !== undefined &&
    typeof (action as { toFragment?: unknown } | null)?.toFragment !== "function"
  ) {
    throw new RuleError(
      `Invalid ${field}.action ${quoteValue(action)}: expected an action such as Accept()`,
      { field: `${field}.action`, value: action },
    );
  }
  if (comment === undefined) return;
  if (Array.isArray(comment)) {
    comment.forEach((c, i) => checkComment(`${field}.comment[${i}]`, c));
  } else checkComment(`${field}.comment`, comment);
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
 * import assert from "node:assert/strict";
 * import { Accept, renderAppend } from "@rampart/iptables";
 * assert.equal(
 *   renderAppend({ action: Accept() }, "rp-in", { hash: "abc", hashPrefix: "rampart:" }),
 *   '-A rp-in -m comment --comment "rampart:abc" --jump ACCEPT',
 * );
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
 * import assert from "node:assert/strict";
 * import { Drop, renderInsert } from "@rampart/iptables";
 * assert.equal(renderInsert({ action: Drop() }, "INPUT"), "-I INPUT --jump DROP");
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
 * import assert from "node:assert/strict";
 * import { Drop, renderInsertAt } from "@rampart/iptables";
 * assert.equal(
 *   renderInsertAt({ action: Drop() }, "INPUT", { position: 3 }),
 *   "-I INPUT 3 --jump DROP",
 * );
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
 * import assert from "node:assert/strict";
 * import { Accept, renderReplace } from "@rampart/iptables";
 * assert.equal(
 *   renderReplace({ action: Accept() }, "rp-in", { position: 2 }),
 *   "-R rp-in 2 --jump ACCEPT",
 * );
 * ```
 */
export function renderReplace(
  rule: Rule,
  chainName: string,
  options: PositionedRenderOptions,
): string {
  return line(`-R ${chainName} ${options.position}`, rule, options);
}
