/**
 * Reading `iptables-save` output: only chain names, policies and our rule IDs.
 *
 * iptables-save prints rules in its own normalised form, so the engine never
 * parses rule text. It takes the first comment of each rule and checks whether
 * it is one of our IDs; everything else is a foreign rule, kept as the saved
 * line where it must later be deleted by value.
 *
 * @module
 */
import { HASH_LENGTH } from "../dsl/hash.ts";

/** The ID placed for a rule matched by the cleanup pattern (an old rule of ours). */
export const OLD_INSERT_RULE = "OLD INSERT RULE";

/** One chain as read from the kernel. */
export interface DataplaneChain {
  /** Built-in chain policy (`ACCEPT`/`DROP`), or `"-"` for a user chain. */
  policy: string;
  /** One entry per rule: our ID, {@linkcode OLD_INSERT_RULE}, or `""` for a foreign rule. */
  hashes: string[];
  /**
   * For chains we do not own: the saved line of every rule of ours (`""` for
   * foreign rules), so it can be deleted by value. Empty for owned chains.
   */
  lines: string[];
}

/** One table as read from the kernel: chains in the order iptables-save printed them. */
export type DataplaneState = Map<string, DataplaneChain>;

/** Options of {@linkcode parseSave}. */
export interface ParseSaveOptions {
  /** The prefix of our ID comments, e.g. `"rampart:"`. */
  hashPrefix: string;
  /** Tells whether a chain is ours (by prefix). */
  isOwnedChain(name: string): boolean;
  /** Matches old rules of ours in chains we do not own (the cleanup pattern). */
  oldInsertPattern?: RegExp | undefined;
}

/** iptables-nft-save's warnings that a table holds rules it cannot represent. */
const INCOMPATIBLE = /^# Table `[^']*' (?:is incompatible|contains incompatible base-chains)/;

const ID_CHARS = /^[A-Za-z0-9_-]+$/;

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
 * Extracts our rule ID from a saved rule line: the FIRST comment must be
 * exactly `<hashPrefix><16 ID characters>` (quoted or not). A foreign comment
 * that merely contains an ID-like string is not mistaken for ours.
 *
 * @example
 * ```ts
 * import { extractRuleId } from "@rampart/iptables";
 * const line = '-A INPUT -p tcp -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j ACCEPT';
 * console.log(extractRuleId(line, "rampart:")); // Cz_u1IQiXIMmKD4c
 * ```
 */
export function extractRuleId(line: string, hashPrefix: string): string | undefined {
  const at = line.indexOf(" --comment ");
  if (at < 0) return undefined;
  let i = at + 11;
  const quoted = line.charCodeAt(i) === 34; // "
  if (quoted) i++;
  if (!line.startsWith(hashPrefix, i)) return undefined;
  i += hashPrefix.length;
  const id = line.slice(i, i + HASH_LENGTH);
  if (id.length !== HASH_LENGTH || !ID_CHARS.test(id)) return undefined;
  const end = i + HASH_LENGTH;
  const next = line[end];
  if (quoted ? next !== '"' : next !== undefined && next !== " ") return undefined;
  return id;
}

/**
 * Parses the output of `iptables-save -t <table>`.
 *
 * @throws {IncompatibleTableError} when iptables-nft-save warns that the table is incompatible.
 *
 * @example
 * ```ts
 * import { parseSave } from "@rampart/iptables";
 * const state = parseSave(
 *   "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n",
 *   { hashPrefix: "rampart:", isOwnedChain: (c) => c.startsWith("rp-") },
 * );
 * console.log(state.get("INPUT")); // { policy: "ACCEPT", hashes: [ "" ], lines: [ "" ] }
 * ```
 */
export function parseSave(text: string, options: ParseSaveOptions): DataplaneState {
  const state: DataplaneState = new Map();
  const { hashPrefix, isOwnedChain, oldInsertPattern } = options;
  let start = 0;
  const len = text.length;
  while (start < len) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = len;
    const line = text.slice(start, end);
    start = end + 1;
    const c0 = line.charCodeAt(0);
    if (c0 === 45 /* - */ && line.startsWith("-A ")) {
      const sp = line.indexOf(" ", 3);
      const name = sp < 0 ? line.slice(3) : line.slice(3, sp);
      let chain = state.get(name);
      if (chain === undefined) {
        chain = { policy: "-", hashes: [], lines: [] };
        state.set(name, chain);
      }
      const owned = isOwnedChain(name);
      let id = extractRuleId(line, hashPrefix) ?? "";
      if (id === "" && !owned && oldInsertPattern !== undefined && oldInsertPattern.test(line)) {
        id = OLD_INSERT_RULE;
      }
      chain.hashes.push(id);
      if (!owned) chain.lines.push(id === "" ? "" : line);
    } else if (c0 === 58 /* : */) {
      const sp = line.indexOf(" ");
      const name = sp < 0 ? line.slice(1) : line.slice(1, sp);
      const policy = sp < 0 ? "-" : line.slice(sp + 1, line.indexOf(" ", sp + 1) >>> 0);
      const existing = state.get(name);
      if (existing === undefined) state.set(name, { policy, hashes: [], lines: [] });
      else existing.policy = policy;
    } else if (c0 === 35 /* # */ && INCOMPATIBLE.test(line)) {
      throw new IncompatibleTableError(line);
    }
  }
  return state;
}
