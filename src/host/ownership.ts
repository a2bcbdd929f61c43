/**
 * What is ours: rules and chains, decided on the arguments of the lines
 * `iptables-save` prints (split as iptables splits them, `dsl/tokenize.ts`),
 * never on substrings of the text, and the prefixes that mark them.
 *
 * - **A rule is ours** when the value of its first `-m comment --comment`
 *   option is exactly `<hashPrefix><16 ID characters>`, or when it jumps or
 *   goes to one of our chains: its last two arguments are `-j`/`--jump`/
 *   `-g`/`--goto` and a name with one of our chain prefixes. iptables-save
 *   prints the target after every match, and a jump to a chain takes no
 *   options, so a jump to a chain is always the end of the line; text inside
 *   another option's value (a comment, a LOG or NFLOG prefix) is one argument
 *   and can never pass for either.
 * - **A chain whose name has one of our prefixes is ours** when a rule in it
 *   carries our ID, or a rule carrying our ID jumps or goes to it. Every rule
 *   Rampart writes carries its ID, so each chain it made is marked one way or
 *   the other, even an empty one (the rule that jumps to it is ours). Any
 *   other such chain belongs to another program (`DOCKER` under the prefix
 *   `DOCKER`, a bare `KUBE-KUBELET-CANARY` under `KUBE-`); the engine then
 *   refuses the prefix ({@linkcode PrefixError}) rather than delete it. A
 *   foreign rule inserted into one of our chains does not change whose the
 *   chain is: our rules in it mark it, and the engine deletes the intruder.
 * - **Prefixes** are checked before anything runs: a chain prefix may not be
 *   the start of a built-in chain or target name (`D` would claim `DROP`),
 *   and a hash prefix must end with a character that cannot be part of an ID
 *   (`rp-` would claim a foreign comment such as `rp-allow-web-server`).
 *
 * @module
 */
import { HASH_LENGTH } from "../../dsl/hash.ts";
import { BUILTIN_TARGETS } from "../../dsl/targets.ts";
import { KERNEL_CHAIN_NAMES } from "../../dsl/validate.ts";
import { PrefixError } from "./errors.ts";
import { forEachRestoreArgument, tokenizeRestoreLine } from "../../dsl/tokenize.ts";

/** The arguments that name a rule's target. */
const JUMP_FLAGS: ReadonlySet<string> = new Set(["-j", "--jump", "-g", "--goto"]);
const ID_CHARS = /^[A-Za-z0-9_-]+$/;

/** Names a chain prefix must not start (built-in chains and targets). */
const RESERVED_NAMES: readonly string[] = [...KERNEL_CHAIN_NAMES, ...BUILTIN_TARGETS];

/** The longest chain prefix: the record of chain policies is `<prefix>policy` (28 characters). */
export const MAX_CHAIN_PREFIX_LENGTH = 22;
const CHAIN_PREFIX = /^[A-Za-z0-9_.:@%+=][A-Za-z0-9_.:@%+=-]*$/;
const HASH_PREFIX = /^[A-Za-z0-9_@%+=:,./-]{1,32}$/;

/**
 * Tells whether a comment value is one of our IDs (`<hashPrefix><16 ID
 * characters>`, nothing before or after) and returns the ID.
 */
function idOfComment(value: string, hashPrefix: string): string | undefined {
  if (value.length !== hashPrefix.length + HASH_LENGTH || !value.startsWith(hashPrefix)) {
    return undefined;
  }
  const id = value.slice(hashPrefix.length);
  return ID_CHARS.test(id) ? id : undefined;
}

/**
 * Reads the ID of saved rule lines for one hash prefix: the value of a
 * line's first `-m comment --comment` option, when that is exactly
 * `<hashPrefix><16 ID characters>`.
 *
 * Our own lines are read by one pattern where their text proves what
 * splitting them would find, `^(?:[^"c]|c(?!omment))* -m comment --comment
 * "<prefix>(<16 ID characters>)"`:
 *
 * - before the quote nothing is quoted (no `"`), so arguments there are the
 *   runs between separators, and a backslash is literal;
 * - ` -m comment --comment ` are then three whole arguments, and the quote
 *   starts the next one;
 * - no `comment` comes before that one (the repeated group cannot take the
 *   `c` of one), so no earlier pair of arguments is `-m comment` (nor
 *   `--match comment`): this is the first comment match, `--comment` its
 *   option;
 * - the quoted part is the prefix (without `"` or `\`, or the pattern is not
 *   used) and 16 ID characters, closed by `"`: the argument is exactly
 *   `<hashPrefix><ID>`.
 *
 * A line without the prefix in its text cannot carry the ID and is not read
 * further; any other line is split into arguments, up to its first comment's
 * value.
 *
 * @param hashPrefix Our ID comment prefix.
 * @returns A function from a line (`-A <chain> …`) to its ID, or `undefined`.
 */
export function ruleIdReader(hashPrefix: string): (line: string) => string | undefined {
  const proven = hashPrefix.includes('"') || hashPrefix.includes("\\") ? undefined : new RegExp(
    `^(?:[^"c]|c(?!omment))* -m comment --comment "${
      hashPrefix.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
    }([A-Za-z0-9_-]{${HASH_LENGTH}})"`,
  );
  return (line) => {
    // A pre-filter: an ID comment holds the prefix verbatim.
    if (!line.includes(hashPrefix)) return undefined;
    const m = proven?.exec(line);
    return m !== null && m !== undefined ? m[1] : firstCommentIdOf(line, hashPrefix);
  };
}

/**
 * The ID a saved rule line carries (see {@linkcode ruleIdReader}, which reads
 * many lines faster).
 *
 * @param line A rule as iptables-save prints it (`-A <chain> …`).
 * @param hashPrefix Our ID comment prefix.
 * @returns The ID, or `undefined`.
 */
export function ruleIdOf(line: string, hashPrefix: string): string | undefined {
  return ruleIdReader(hashPrefix)(line);
}

/** {@linkcode ruleIdOf} by splitting the line (its own function: the closure costs the fast path nothing). */
function firstCommentIdOf(line: string, hashPrefix: string): string | undefined {
  let prev = "";
  let step = 0; // 0: looking for "-m comment"; 1: then "--comment"; 2: its value
  let id: string | undefined;
  forEachRestoreArgument(line, (arg) => {
    if (step === 0) {
      if (arg === "comment" && (prev === "-m" || prev === "--match")) step = 1;
      prev = arg;
      return false;
    }
    if (step === 1) {
      // The first comment match: its option, or it is not one of ours.
      if (arg !== "--comment") return true;
      step = 2;
      return false;
    }
    id = idOfComment(arg, hashPrefix);
    return true;
  });
  return id;
}

/**
 * The chain a saved rule line jumps or goes to: its last argument, when the
 * one before is `-j`, `--jump`, `-g` or `--goto` (iptables-save prints the
 * target last, and a jump to a chain has no options). `undefined` for rules
 * without a target or whose target takes options (`-j LOG --log-prefix …`).
 * A verdict (`-j ACCEPT`) is returned as it is.
 *
 * @param line A rule as iptables-save prints it.
 * @returns The target chain, or `undefined`.
 */
export function chainJumpOf(line: string): string | undefined {
  const args = tokenizeRestoreLine(line);
  const n = args.length;
  return n >= 4 && JUMP_FLAGS.has(args[n - 2]!) ? args[n - 1]! : undefined;
}

/**
 * A cheap test, exact for every input, that a line's last argument cannot
 * satisfy `test` (so the line need not be split to know it is no jump to one
 * of our chains). `true` means "perhaps": split the line to know.
 *
 * Without backslashes and with an even number of `"`, every quoted part is
 * closed; if the text after the last space, tab or newline then holds no
 * `"`, it is the last argument, character for character.
 *
 * @param line A saved rule line.
 * @param test The test of the last argument (e.g. "is one of our chains").
 */
export function lastArgumentMay(line: string, test: (arg: string) => boolean): boolean {
  if (line.includes("\\")) return true;
  let quotes = 0;
  for (let at = line.indexOf('"'); at >= 0; at = line.indexOf('"', at + 1)) quotes++;
  if (quotes % 2 !== 0) return true;
  let k = line.length;
  while (k > 0) {
    const c = line.charCodeAt(k - 1);
    if (c === 32 || c === 9 || c === 10) break;
    k--;
  }
  if (k === line.length) return true; // ends with a separator: the last argument is earlier
  const last = line.slice(k);
  return last.includes('"') || test(last);
}

/**
 * Tells whether a saved rule line jumps or goes to one of our chains (the
 * rule is then ours, with or without an ID).
 *
 * @param line A rule as iptables-save prints it.
 * @param isOwnedChain Tells whether a chain name has one of our prefixes.
 */
export function jumpsToOwnedChain(line: string, isOwnedChain: (name: string) => boolean): boolean {
  if (!lastArgumentMay(line, isOwnedChain)) return false;
  const target = chainJumpOf(line);
  return target !== undefined && isOwnedChain(target);
}

/**
 * Tells why a string cannot be a chain prefix, or returns `undefined` when it
 * can: 1 to 22 characters from `[A-Za-z0-9_.:@%+=-]`, not starting with `-`,
 * and not the start of a built-in chain (`INPUT`, …) or of a standard or
 * extension target (`ACCEPT`, `DROP`, `LOG`, …): the engine would take
 * `-j DROP` for a jump to one of its chains under the prefix `D`.
 *
 * @param prefix The candidate prefix.
 * @returns What is wrong, or `undefined`.
 *
 * @example
 * ```ts
 * import { chainPrefixProblem } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * assert.equal(chainPrefixProblem("rp-"), undefined);
 * assert.match(chainPrefixProblem("D")!, /the start of the target name DROP/);
 * assert.match(chainPrefixProblem("INPUT")!, /the built-in chain name INPUT/);
 * ```
 */
export function chainPrefixProblem(prefix: string): string | undefined {
  if (
    typeof prefix !== "string" || prefix.length < 1 || prefix.length > MAX_CHAIN_PREFIX_LENGTH ||
    !CHAIN_PREFIX.test(prefix)
  ) {
    return `expected 1 to ${MAX_CHAIN_PREFIX_LENGTH} characters from [A-Za-z0-9_.:@%+=-], not ` +
      "starting with '-'";
  }
  const clash = RESERVED_NAMES.find((name) => name.startsWith(prefix));
  if (clash !== undefined) {
    const what = KERNEL_CHAIN_NAMES.has(clash) ? "built-in chain" : "target";
    return `it is ${clash === prefix ? "" : "the start of "}the ${what} name ${clash}, so ` +
      `Rampart would take ${
        what === "target" ? `"-j ${clash}"` : `the chain ${clash}`
      } for its own; choose a prefix no built-in chain or target name starts with, such as "rp-"`;
  }
  return undefined;
}

/**
 * Tells why a string cannot be a hash (rule ID comment) prefix, or returns
 * `undefined` when it can: 1 to 32 characters from `[A-Za-z0-9_@%+=:,./-]`,
 * ending with one of `@%+=:,./`, a character no ID contains. A prefix ending
 * in a letter, digit, `_` or `-` would make a foreign comment that merely
 * starts with the same word one of ours (`rp-` claims `rp-allow-web-server`).
 *
 * @param prefix The candidate prefix.
 * @returns What is wrong, or `undefined`.
 *
 * @example
 * ```ts
 * import { hashPrefixProblem } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * assert.equal(hashPrefixProblem("rampart:"), undefined);
 * assert.match(hashPrefixProblem("rp-")!, /end with one of/);
 * ```
 */
export function hashPrefixProblem(prefix: string): string | undefined {
  if (typeof prefix !== "string" || !HASH_PREFIX.test(prefix)) {
    return "expected 1 to 32 characters from [A-Za-z0-9_@%+=:,./-]";
  }
  if (ID_CHARS.test(prefix.at(-1)!)) {
    return "expected it to end with one of @ % + = : , . / (a character no rule ID " +
      `contains): a foreign comment such as "${prefix}allow-web-server" would read as one of ` +
      `our IDs; e.g. "${prefix.replace(/[-_]+$/, "") || "rampart"}:"`;
  }
  return undefined;
}

/**
 * Checks chain and hash prefixes ({@linkcode chainPrefixProblem},
 * {@linkcode hashPrefixProblem}).
 *
 * @param options The prefixes (either may be absent).
 * @throws {PrefixError} on the first prefix that cannot be used.
 *
 * @example
 * ```ts
 * import { checkPrefixes, PrefixError } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * checkPrefixes({ chainPrefixes: ["rp-"], hashPrefix: "rampart:" });
 * assert.throws(
 *   () => checkPrefixes({ chainPrefixes: ["INPUT"] }),
 *   (e) => e instanceof PrefixError && e.field === "chainPrefixes" && e.prefix === "INPUT",
 * );
 * ```
 */
export function checkPrefixes(
  options: { chainPrefixes?: readonly string[]; hashPrefix?: string },
): void {
  for (const prefix of options.chainPrefixes ?? []) {
    const problem = chainPrefixProblem(prefix);
    if (problem !== undefined) {
      throw new PrefixError(`Invalid chain prefix ${JSON.stringify(prefix)}: ${problem}`, {
        field: "chainPrefixes",
        prefix,
      });
    }
  }
  if (options.hashPrefix !== undefined) {
    const problem = hashPrefixProblem(options.hashPrefix);
    if (problem !== undefined) {
      throw new PrefixError(
        `Invalid hash prefix ${JSON.stringify(options.hashPrefix)}: ${problem}`,
        { field: "hashPrefix", prefix: options.hashPrefix },
      );
    }
  }
}
