/**
 * The rules the tracer walks: `iptables-save` text of one family (any
 * tables, any program's rules, with or without counters), each rule parsed
 * by the fake dataplane's parser (`src/fake/normalise.ts`) exactly as
 * iptables 1.8.9 parses it.
 *
 * @module
 */
import { type ParsedRule, parseRule, RuleParseError } from "../fake/normalise.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";

/** One rule of a {@linkcode TraceRuleset}. */
export interface TraceRule {
  /** The line as saved, without counters (`-A INPUT -p tcp … -j ACCEPT`). */
  line: string;
  /** 1-based position in its chain. */
  position: number;
  /** The parsed rule; undefined when the fake's parser refused it (see `parseError`). */
  parsed: ParsedRule | undefined;
  /** Why the rule could not be parsed (it is then treated as undecidable). */
  parseError?: string;
  /** The rule's comment (`-m comment --comment`), if any; several are joined by a space. */
  comment: string | undefined;
  /** Each of the rule's comments (the rule-ID comment included). */
  comments: string[];
  /** The rule ID carried in the comment after the hash prefix (ours), if any. */
  ruleId: string | undefined;
}

/** One chain of a {@linkcode TraceRuleset}. */
export interface TraceChain {
  /** The chain's name. */
  name: string;
  /** The built-in chain's policy; undefined for user chains. */
  policy: string | undefined;
  /** The rules in order. */
  rules: TraceRule[];
}

/** One family's tables, as the tracer walks them. */
export interface TraceRuleset {
  /** The family. */
  ipVersion: 4 | 6;
  /** The tables present; a missing table has no rules (every hook passes it). */
  tables: Partial<Record<TableName, Map<string, TraceChain>>>;
  /**
   * Whose iptables-save printed it: iptables-nft compiles a few matches
   * differently from legacy (negated tcp and udp ports). @default {"nft"}
   */
  backend?: "nft" | "legacy";
}

/** Options of {@linkcode parseTraceRuleset}. */
export interface ParseTraceRulesetOptions {
  /** The family of the save text. */
  ipVersion: 4 | 6;
  /** Whose iptables-save printed it (the parser follows its forms). @default {"nft"} */
  backend?: "nft" | "legacy";
  /** The prefix of the comment that carries a rule ID. @default {"rampart:"} */
  hashPrefix?: string;
}

const TABLES = new Set(["filter", "nat", "mangle", "raw"]);

/**
 * Parses `iptables-save` output (one family; any of the four tables; lines of
 * `iptables-save -c` too) into the tracer's rule set. Tables other than
 * filter, nat, mangle and raw (`security`) are skipped. A rule the fake's
 * parser refuses is kept with its error, and the tracer reports it as
 * undecidable rather than guessing.
 *
 * @param text The save text.
 * @param options Family, backend and rule-ID prefix.
 * @returns The rule set.
 *
 * @example
 * ```ts
 * import { parseTraceRuleset } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const set = parseTraceRuleset(
 *   "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
 *   { ipVersion: 4 },
 * );
 * assert.equal(set.tables.filter?.get("INPUT")?.policy, "DROP");
 * assert.equal(set.tables.filter?.get("INPUT")?.rules[0]?.parsed?.target, "ACCEPT");
 * ```
 */
export function parseTraceRuleset(text: string, options: ParseTraceRulesetOptions): TraceRuleset {
  const ctx = { ipVersion: options.ipVersion, backend: options.backend ?? "nft" } as const;
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const out: TraceRuleset = { ipVersion: options.ipVersion, tables: {}, backend: ctx.backend };
  let table: Map<string, TraceChain> | undefined;
  let skipping = false;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      const name = line.slice(1);
      skipping = !TABLES.has(name);
      table = skipping ? undefined : new Map();
      if (table !== undefined) out.tables[name as TableName] = table;
      continue;
    }
    if (skipping || table === undefined) continue;
    if (line === "COMMIT") {
      table = undefined;
      continue;
    }
    if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(" ");
      table.set(name, { name, policy: policy === "-" ? undefined : policy, rules: [] });
      continue;
    }
    // `[p:b] -A …` from iptables-save -c.
    const body = line.replace(/^\[\d+:\d+\]\s+/, "");
    const args = tokenizeRestoreLine(body);
    if (args[0] !== "-A" || args[1] === undefined) continue;
    const chainName = args[1];
    let chain = table.get(chainName);
    if (chain === undefined) {
      chain = { name: chainName, policy: undefined, rules: [] };
      table.set(chainName, chain);
    }
    let parsed: ParsedRule | undefined;
    let parseError: string | undefined;
    try {
      parsed = parseRule(args.slice(2), ctx);
    } catch (e) {
      if (!(e instanceof RuleParseError)) throw e;
      parseError = e.message.trim();
    }
    const comments = parsed === undefined ? [] : commentsOf(parsed);
    const comment = comments.length === 0 ? undefined : comments.join(" ");
    const ruleId = comments.find((c) => c.startsWith(hashPrefix))?.slice(hashPrefix.length)
      .split(/\s/)[0];
    const rule: TraceRule = {
      line: body,
      position: chain.rules.length + 1,
      parsed,
      comment,
      comments,
      ruleId: ruleId === undefined || ruleId === "" ? undefined : ruleId,
    };
    if (parseError !== undefined) rule.parseError = parseError;
    chain.rules.push(rule);
  }
  return out;
}

function commentsOf(rule: ParsedRule): string[] {
  const out: string[] = [];
  for (const m of rule.matches) {
    if (m.name !== "comment") continue;
    for (const o of m.options) if (o.name === "--comment") out.push(o.args[0] ?? "");
  }
  return out;
}
