/**
 * Reading `iptables-save` output: only chain names, policies, our rule IDs
 * and jumps to our chains.
 *
 * iptables-save prints rules in its own normalised form, so the engine never
 * interprets rule text. It splits a line into arguments (as iptables does)
 * only where ownership is at stake, and decides on those arguments
 * (`src/host/ownership.ts`): the value of the first comment must be one of our IDs,
 * or the target a chain of ours. Everything else is a foreign rule, kept as
 * the saved line where it must later be deleted by value.
 *
 * @module
 */
import type { DataplaneState } from "../engine/dataplane.ts";
import { chainJumpOf, jumpsToOwnedChain, ruleIdOf, ruleIdReader } from "./ownership.ts";

/** The ID placed for a rule matched by the cleanup pattern (an old rule of ours). */
export const OLD_INSERT_RULE = "OLD INSERT RULE";

/** Options of {@linkcode parseSave}. */
export interface ParseSaveOptions {
  /** The prefix of our ID comments, e.g. `"rampart:"`. */
  hashPrefix: string;
  /** Tells whether a chain is ours (by prefix). */
  isOwnedChain(name: string): boolean;
  /**
   * Also takes rules of chains we do not own whose saved line matches this
   * for old rules of ours (the `extraCleanupRegexPattern` of a table: a test
   * of the text that the caller opts into). Jumps to our chains need no
   * pattern: they are ours by their target argument.
   */
  oldInsertPattern?: RegExp | undefined;
  /**
   * The prefixes `isOwnedChain` tests, when it tests prefixes: lines that
   * contain none of them (nor a backslash) cannot jump to one of our chains
   * and are not split. Only a pre-filter: without it, the same rules are
   * found, a little slower.
   */
  chainPrefixes?: readonly string[] | undefined;
}

/** iptables-nft-save's warnings that a table holds rules it cannot represent. */
const INCOMPATIBLE = /^# Table `[^']*' (?:is incompatible|contains incompatible base-chains)/;

/** Thrown by {@linkcode parseSave} when iptables-nft-save says the table is incompatible. */
export class IncompatibleTableError extends Error {
  /** The warning line iptables printed. */
  readonly warning: string;

  /**
   * Creates the error.
   *
   * @param warning The warning line.
   */
  constructor(warning: string) {
    super(
      `iptables-save cannot represent this table (${warning.slice(2)}); ` +
        "native nftables rules were added to it: inspect them with 'nft list ruleset'",
    );
    this.name = "IncompatibleTableError";
    this.warning = warning;
  }
}

/**
 * Thrown by {@linkcode parseSave} when iptables-save printed lines that cannot
 * be told from forged ones: a rule of another program holds a line break in
 * a value (a comment, or an interface name, which iptables prints as it is),
 * and what follows the break looks like a line of iptables-save of its own:
 * a chain or policy declaration after the table's rules, a second
 * declaration of a chain, or a rule, table or `COMMIT` line while a quoted
 * value is still open. Reading on would take that text for a policy, a
 * chain or a rule (of ours, even), so the engine writes nothing.
 *
 * @example
 * ```ts
 * import { AmbiguousSaveError, parseSave } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const save = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "x\n:INPUT DROP [0:0]"\nCOMMIT\n';
 * assert.throws(
 *   () => parseSave(save, { hashPrefix: "rampart:", isOwnedChain: (c) => c.startsWith("rp-") }),
 *   (e) => e instanceof AmbiguousSaveError && e.lineNumber === 4,
 * );
 * ```
 */
export class AmbiguousSaveError extends Error {
  /** The line iptables-save printed that cannot be read as what it looks like. */
  readonly line: string;
  /** Its 1-based number in the output of `iptables-save -t <table>`. */
  readonly lineNumber: number;

  /**
   * Creates the error.
   *
   * @param line The line.
   * @param lineNumber Its 1-based number.
   * @param why Why it cannot be read.
   */
  constructor(line: string, lineNumber: number, why: string) {
    super(
      `iptables-save printed a line that may be part of another rule (line ${lineNumber}: ` +
        `${JSON.stringify(line.length > 120 ? line.slice(0, 117) + "..." : line)}): ${why}. ` +
        "A rule of another program holds a line break in a comment or an interface name, and " +
        "the text after the break would be read as a line of its own, so nothing was written; " +
        "find the rule with 'iptables-save' and delete or rewrite it",
    );
    this.name = "AmbiguousSaveError";
    this.line = line;
    this.lineNumber = lineNumber;
  }
}

/**
 * Whether a quoted part is still open at the end of `text`, given whether one
 * was open at its start: iptables opens one at `"`, and inside it `\`
 * escapes the next character and `"` closes it (see `dsl/tokenize.ts`).
 */
function quoteOpenAfter(text: string, open: boolean): boolean {
  if (!open && !text.includes("\\")) {
    let quotes = 0;
    for (let at = text.indexOf('"'); at >= 0; at = text.indexOf('"', at + 1)) quotes++;
    return quotes % 2 === 1;
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) open = !open;
    else if (c === 92 /* \ */ && open) i++;
  }
  return open;
}

/**
 * Extracts our rule ID from a saved rule line: the value of the FIRST
 * `-m comment --comment` option, split as iptables splits the line, must be
 * exactly `<hashPrefix><16 ID characters>`. A comment, LOG or NFLOG prefix
 * that merely contains such text, or a second comment that does, is not
 * mistaken for ours.
 *
 * @param line The rule as iptables-save prints it (`-A <chain> …`).
 * @param hashPrefix The prefix of our ID comments.
 * @returns The ID, or `undefined`.
 *
 * @example
 * ```ts
 * import { extractRuleId } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const line = '-A INPUT -p tcp -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j ACCEPT';
 * assert.equal(extractRuleId(line, "rampart:"), "Cz_u1IQiXIMmKD4c");
 * const forged = '-A INPUT -j NFLOG --nflog-prefix "x --comment rampart:BBBBBBBBBBBBBBBB y"';
 * assert.equal(extractRuleId(forged, "rampart:"), undefined);
 * ```
 */
export function extractRuleId(line: string, hashPrefix: string): string | undefined {
  return ruleIdOf(line, hashPrefix);
}

/**
 * Parses the output of `iptables-save -t <table>`.
 *
 * @throws {IncompatibleTableError} when iptables-nft-save warns that the table is incompatible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSave } from "@rampart/iptables";
 * const state = parseSave(
 *   "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n",
 *   { hashPrefix: "rampart:", isOwnedChain: (c) => c.startsWith("rp-") },
 * );
 * assert.deepEqual(state.get("INPUT"), { policy: "ACCEPT", hashes: [""], lines: [""] });
 * ```
 */
export function parseSave(text: string, options: ParseSaveOptions): DataplaneState {
  const state: DataplaneState = new Map();
  const { hashPrefix, isOwnedChain, oldInsertPattern, chainPrefixes } = options;
  const idOf = ruleIdReader(hashPrefix);
  // Pre-filters: each only skips lines whose arguments cannot be ours.
  const mayJump = chainPrefixes === undefined
    ? (line: string) => jumpsToOwnedChain(line, isOwnedChain)
    : (line: string) =>
      (line.includes("\\") || chainPrefixes.some((p) => line.includes(p))) &&
      jumpsToOwnedChain(line, isOwnedChain);
  let start = 0;
  const len = text.length;
  let lineNumber = 0;
  // A rule line was read, and whether a quoted value is open at its end (the
  // value holds a line break: what follows, up to the closing quote, is part of it).
  let sawRule = false;
  let inValue = false;
  const declared = new Set<string>();
  while (start < len) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = len;
    const line = text.slice(start, end);
    start = end + 1;
    lineNumber++;
    const c0 = line.charCodeAt(0);
    if (inValue) {
      if (
        c0 === 58 /* : */ || c0 === 42 /* * */ || c0 === 35 /* # */ || line.startsWith("-A ") ||
        line === "COMMIT"
      ) {
        throw new AmbiguousSaveError(line, lineNumber, "a quoted value of the rule before is open");
      }
      inValue = quoteOpenAfter(line, true);
      continue;
    }
    if (c0 === 45 /* - */ && line.startsWith("-A ")) {
      sawRule = true;
      inValue = quoteOpenAfter(line, false);
      const sp = line.indexOf(" ", 3);
      const name = sp < 0 ? line.slice(3) : line.slice(3, sp);
      let chain = state.get(name);
      if (chain === undefined) {
        chain = { policy: "-", hashes: [], lines: [] };
        state.set(name, chain);
      }
      const owned = isOwnedChain(name);
      let id = idOf(line) ?? "";
      if (
        id === "" && !owned &&
        (mayJump(line) || (oldInsertPattern !== undefined && oldInsertPattern.test(line)))
      ) {
        id = OLD_INSERT_RULE;
      }
      chain.hashes.push(id);
      if (!owned) chain.lines.push(id === "" ? "" : line);
    } else if (c0 === 58 /* : */) {
      // iptables-save declares every chain once, before the table's first rule.
      if (sawRule) {
        throw new AmbiguousSaveError(line, lineNumber, "a chain is declared after the rules");
      }
      const sp = line.indexOf(" ");
      const name = sp < 0 ? line.slice(1) : line.slice(1, sp);
      const policy = sp < 0 ? "-" : line.slice(sp + 1, line.indexOf(" ", sp + 1) >>> 0);
      if (declared.has(name)) {
        throw new AmbiguousSaveError(line, lineNumber, `the chain ${name} is declared twice`);
      }
      declared.add(name);
      const existing = state.get(name);
      if (existing === undefined) state.set(name, { policy, hashes: [], lines: [] });
      else existing.policy = policy;
    } else if (c0 === 42 /* * */) {
      sawRule = false;
      declared.clear();
    } else if (c0 === 35 /* # */ && INCOMPATIBLE.test(line)) {
      throw new IncompatibleTableError(line);
    }
  }
  markForeignChains(text, state, options);
  return state;
}

/**
 * Sets `ownership` on the chains with our prefix that hold no rule of ours.
 * They are rare (an emptied chain of ours, or another program's), so the
 * rules that jump to them are looked for only then, in a second pass over the
 * lines that name them.
 */
function markForeignChains(text: string, state: DataplaneState, options: ParseSaveOptions): void {
  const unmarked = new Set<string>();
  for (const [name, chain] of state) {
    if (options.isOwnedChain(name) && !chain.hashes.some((h) => h !== "")) unmarked.add(name);
  }
  if (unmarked.size === 0) return;
  const names = [...unmarked];
  const jumpedByOthers = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("-A ")) continue;
    // A target is the line's text verbatim unless escaped (a backslash).
    if (!line.includes("\\") && !names.some((n) => line.includes(n))) continue;
    const target = chainJumpOf(line);
    if (target === undefined || !unmarked.has(target)) continue;
    if (ruleIdOf(line, options.hashPrefix) !== undefined) unmarked.delete(target);
    else jumpedByOthers.add(target);
  }
  for (const name of unmarked) {
    const chain = state.get(name)!;
    chain.ownership = chain.hashes.length > 0 || jumpedByOthers.has(name) ? "foreign" : "unknown";
  }
}
