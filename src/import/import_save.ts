/**
 * `iptables-save` text to a {@linkcode Policy} that reproduces it: built-in
 * chain policies, the rules of kernel chains as insertions (or appends), user
 * chains as owned chains renamed with the chain prefix, jumps renamed to
 * match. IPv4 and IPv6 saves merge into one policy, rules common to both
 * families once. Every rule is checked to print back exactly as saved; the
 * ones the DSL cannot write are listed with their table, chain, line and
 * what is missing, and left out of the policy (never approximated).
 *
 * @module
 */
import { renderAppend, type Rule } from "../../dsl/rule.ts";
import {
  isKernelChain,
  isTableName,
  KERNEL_CHAINS,
  type TableName,
} from "../../dsl/kernel_chains.ts";
import type {
  ChainPolicy,
  IpFamily,
  Policy,
  PolicyChain,
  PolicyRule,
  TablePolicy,
} from "../policy/policy.ts";
import { policyRecordChain } from "../engine/policy_record.ts";
import { importedChainNames } from "./chain_names.ts";
import { convertRule } from "./rule.ts";
import { parseSaveText, type SavedChain, type SavedTable } from "./save_text.ts";

/** One save to import. */
export interface ImportSource {
  /** The save's family. */
  ipVersion: IpFamily;
  /** The backend whose iptables-save printed it. */
  backend: "nft" | "legacy";
  /** The text. */
  text: string;
  /** Where it came from, for messages (a file name, `netns lab`, …). */
  name?: string;
}

/** Options of {@linkcode importSaves}. */
export interface ImportOptions {
  /** The prefix of imported chains' names. @default {"rp-"} */
  chainPrefix?: string;
  /** The prefix of our ID comments, dropped from rules that carry one. @default {"rampart:"} */
  hashPrefix?: string;
  /** Only these tables (default: every table of the saves). */
  tables?: readonly string[];
  /** Rules of kernel chains become insertions or appends. @default {"insert"} */
  kernelRules?: "insert" | "append";
}

/** A saved rule (or chain policy) the policy cannot hold. */
export interface ImportProblem {
  /** The save it is in (its `name`, or `ipv4`/`ipv6`). */
  source: string;
  /** The table. */
  table: string;
  /** The family. */
  ipVersion: IpFamily;
  /** The chain, as saved. */
  chain: string;
  /** The 1-based line in the save. */
  line: number;
  /** The saved line (`-A …`, or the chain's declaration). */
  text: string;
  /** Why, in words. */
  reason: string;
  /** The module, option or target that is missing, when one is. */
  missing?: string;
}

/** How many rules of one save were imported. */
export interface ImportCount {
  /** The save (its `name`, or `ipv4`/`ipv6`). */
  source: string;
  /** The family. */
  ipVersion: IpFamily;
  /** Rules in the save (of the imported tables). */
  rules: number;
  /** Rules in the policy. */
  imported: number;
}

/** What {@linkcode importSaves} returns. */
export interface ImportResult {
  /** The policy (without the rules and policies of `problems`). */
  policy: Policy;
  /** Everything that could not be imported, in save order. */
  problems: ImportProblem[];
  /** The renamed user chains, by table: saved name → policy name. */
  renamed: Map<string, Map<string, string>>;
  /** Rule counts per save. */
  counts: ImportCount[];
  /**
   * The policy's chains that no rule of a built-in chain reaches, by table:
   * they are in the policy, but Rampart writes a chain to the kernel only
   * once a rule jumps to it (another program's spare chains, such as ufw's
   * `ufw-skip-to-policy-*`).
   */
  unreachable: Map<string, string[]>;
}

interface FamilyTable {
  source: ImportSource;
  sourceName: string;
  table: SavedTable;
}

/** Whether a chain is Rampart's own record of chain policies (skipped on import). */
function isPolicyRecord(chain: SavedChain, record: string, hashPrefix: string): boolean {
  if (chain.name !== record) return false;
  const ours = new RegExp(
    `^-m comment --comment "?${escape(hashPrefix)}[A-Za-z0-9_-]{16}"? ` +
      `-m comment --comment "[^"]*"$`,
  );
  return chain.rules.every((r) => ours.test(r.text));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Imports saves (one per family) into one policy.
 *
 * @param sources The saves, at most one per family.
 * @param options Prefixes, tables and where kernel-chain rules go.
 * @returns The policy, what could not be imported, the renamed chains and counts.
 * @throws {SaveTextError} when a save is not well-formed.
 * @throws {ChainNameError} when two chains would get the same name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importSaves } from "@rampart/iptables/import";
 * const save = "*filter\n:INPUT DROP [0:0]\n:ssh - [0:0]\n" +
 *   "-A INPUT -p tcp -j ssh\n-A ssh -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n";
 * const { policy, problems } = importSaves([{ ipVersion: 4, backend: "nft", text: save }]);
 * const [filter] = policy.tables;
 * assert.equal(filter!.policies.INPUT, "DROP");
 * assert.equal(filter!.chains[0]!.name, "rp-ssh");
 * assert.equal(problems.length, 0);
 * assert.equal(String(filter!.insertions.INPUT![0]!.action), "Jump->rp-ssh");
 * ```
 */
export function importSaves(
  sources: readonly ImportSource[],
  options: ImportOptions = {},
): ImportResult {
  const chainPrefix = options.chainPrefix ?? "rp-";
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const record = policyRecordChain([chainPrefix]);
  const problems: ImportProblem[] = [];
  const counts: ImportCount[] = [];
  const renamed = new Map<string, Map<string, string>>();
  const versions: IpFamily[] = [];
  const byTable = new Map<string, FamilyTable[]>();
  for (const source of sources) {
    if (versions.includes(source.ipVersion)) {
      throw new TypeError(`Invalid sources: two saves of IPv${source.ipVersion}`);
    }
    versions.push(source.ipVersion);
    const sourceName = source.name ?? `ipv${source.ipVersion}`;
    let rules = 0;
    for (const table of parseSaveText(source.text)) {
      if (options.tables !== undefined && !options.tables.includes(table.name)) continue;
      // A table with no rule and only ACCEPT policies is the kernel's default (it may or may
      // not be printed, as the backend created it or not): nothing to import.
      if ([...table.chains.values()].every((c) => c.rules.length === 0 && c.policy === "ACCEPT")) {
        continue;
      }
      for (const c of table.chains.values()) {
        if (!isPolicyRecord(c, record, hashPrefix)) rules += c.rules.length;
      }
      const list = byTable.get(table.name) ?? [];
      list.push({ source, sourceName, table });
      byTable.set(table.name, list);
    }
    counts.push({ source: sourceName, ipVersion: source.ipVersion, rules, imported: 0 });
  }
  versions.sort();
  const countOf = (v: IpFamily) => counts.find((c) => c.ipVersion === v)!;
  const tables: TablePolicy[] = [];
  const order = ["raw", "mangle", "nat", "filter", "security"];
  const names = [...byTable.keys()].sort((a, b) => rank(order, a) - rank(order, b));
  for (const tableName of names) {
    const families = byTable.get(tableName)!;
    const problem = (
      f: FamilyTable,
      chain: string,
      line: number,
      text: string,
      reason: string,
      missing?: string,
    ) => {
      problems.push({
        source: f.sourceName,
        table: tableName,
        ipVersion: f.source.ipVersion,
        chain,
        line,
        text,
        reason,
        ...(missing === undefined ? {} : { missing }),
      });
    };
    if (!isTableName(tableName)) {
      for (const f of families) {
        for (const c of f.table.chains.values()) {
          for (const r of c.rules) {
            problem(
              f,
              c.name,
              r.line,
              `-A ${c.name} ${r.text}`,
              `the ${tableName} table is not one Rampart manages (filter, nat, mangle, raw)`,
              `table ${tableName}`,
            );
          }
        }
      }
      continue;
    }
    const userChains = new Set<string>();
    for (const f of families) {
      for (const c of f.table.chains.values()) {
        if (c.policy === "-" && !isPolicyRecord(c, record, hashPrefix)) userChains.add(c.name);
      }
    }
    const names = importedChainNames(userChains, { chainPrefix });
    renamed.set(tableName, new Map([...names].filter(([a, b]) => a !== b)));
    const chainName = (saved: string) => names.get(saved) ?? saved;
    // Per family: chain → converted rules.
    const converted = families.map((f) => {
      const chains = new Map<string, Rule[]>();
      for (const c of f.table.chains.values()) {
        if (c.policy === "-" && !userChains.has(c.name)) continue;
        const ruleChain = chainName(c.name);
        const rules: Rule[] = [];
        for (const r of c.rules) {
          const result = convertRule(r.args, r.text, {
            table: tableName,
            chain: c.name,
            ipVersion: f.source.ipVersion,
            backend: f.source.backend,
          }, { hashPrefix, chainName, ruleChain, isUserChain: (n) => userChains.has(n) });
          if (result.ok) {
            rules.push(result.rule);
            countOf(f.source.ipVersion).imported++;
          } else {problem(
              f,
              c.name,
              r.line,
              `-A ${c.name} ${r.text}`,
              result.reason,
              result.missing,
            );}
        }
        chains.set(c.name, rules);
      }
      return { f, chains };
    });
    const t: TablePolicy = {
      table: tableName,
      chains: [],
      insertions: {},
      appends: {},
      policies: {},
    };
    if (families.length < versions.length) t.ipVersion = families[0]!.source.ipVersion;
    // Built-in chains, in the kernel's order.
    const kernel = KERNEL_CHAINS[tableName as TableName];
    const lists = options.kernelRules === "append" ? t.appends : t.insertions;
    for (const name of kernel) {
      const declared = families.filter((f) => f.table.chains.has(name));
      if (declared.length === 0) continue;
      const policies = new Set(declared.map((f) => f.table.chains.get(name)!.policy));
      if (policies.size > 1) {
        for (const f of declared) {
          const c = f.table.chains.get(name)!;
          problem(
            f,
            name,
            c.line,
            `:${name} ${c.policy}`,
            `the policy of ${name} differs between IPv4 and IPv6, and a policy has one per table: import each family on its own (-4, -6)`,
          );
        }
      } else {
        const policy = [...policies][0]!;
        if (policy === "ACCEPT" || (policy === "DROP" && tableName !== "nat")) {
          t.policies[name] = policy as ChainPolicy;
        } else {
          for (const f of declared) {
            const c = f.table.chains.get(name)!;
            problem(
              f,
              name,
              c.line,
              `:${name} ${c.policy}`,
              `a chain policy ${policy} in the ${tableName} table cannot be written`,
            );
          }
        }
      }
      const rules = merge(
        converted.map(({ f, chains }) => ({ v: f.source.ipVersion, rules: chains.get(name) })),
        families.length < versions.length,
      );
      if (rules.length > 0) lists[name] = rules;
    }
    // Saved chains that are neither built-in nor user chains (a built-in name of another table).
    for (const f of families) {
      for (const c of f.table.chains.values()) {
        if (c.policy !== "-" && !isKernelChain(tableName, c.name)) {
          for (const r of c.rules) {
            problem(
              f,
              c.name,
              r.line,
              `-A ${c.name} ${r.text}`,
              `${c.name} is not a built-in chain of ${tableName}`,
            );
          }
        }
      }
    }
    // By name: the kernel's order is not the save's (legacy sorts, nft keeps creation order).
    const sorted = [...userChains].sort((a, b) => {
      const x = chainName(a), y = chainName(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (const saved of sorted) {
      const present = converted.filter((x) => x.chains.has(saved));
      const chain: PolicyChain = {
        name: chainName(saved),
        rules: merge(
          present.map(({ f, chains }) => ({ v: f.source.ipVersion, rules: chains.get(saved) })),
          true,
        ),
      };
      if (present.length < versions.length && families.length === versions.length) {
        chain.ipVersion = present[0]!.f.source.ipVersion;
      }
      t.chains.push(chain);
    }
    tables.push(t);
  }
  const policy: Policy = { ipVersions: versions, tables };
  const unreachable = new Map<string, string[]>();
  for (const t of tables) {
    const names = unreachableChains(t);
    if (names.length > 0) unreachable.set(t.table, names);
  }
  return { policy, problems, renamed, counts, unreachable };
}

/** The chains of a table no rule of a built-in chain reaches (in any family). */
function unreachableChains(t: TablePolicy): string[] {
  const byName = new Map(t.chains.map((c) => [c.name, c]));
  const seen = new Set<string>();
  const stack: string[] = [];
  const visit = (rules: readonly PolicyRule[]) => {
    for (const r of rules) {
      const target =
        r.action !== undefined && (r.action.kind === "Jump" || r.action.kind === "Goto")
          ? String(r.action.args[0])
          : undefined;
      if (target !== undefined && byName.has(target) && !seen.has(target)) {
        seen.add(target);
        stack.push(target);
      }
    }
  };
  for (const list of [t.insertions, t.appends]) {
    for (const rules of Object.values(list)) visit(rules);
  }
  while (stack.length > 0) visit(byName.get(stack.pop()!)!.rules);
  return t.chains.filter((c) => !seen.has(c.name)).map((c) => c.name);
}

function rank(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}

/** Keys of rules for the merge: their rendering, comments included. */
function key(rule: Rule): string {
  return renderAppend(rule, "x");
}

/** Largest lists merged by a longest common subsequence (beyond: one family after the other). */
const MAX_MERGE_CELLS = 4_000_000;

/**
 * Merges the rule lists of a chain in each family into one list in which a
 * rule common to both is written once and the others carry their family.
 * `untagged`: a chain present in one family only keeps its rules untagged
 * (the chain or table carries the family).
 */
function merge(
  lists: readonly { v: IpFamily; rules: readonly Rule[] | undefined }[],
  single: boolean,
): PolicyRule[] {
  const present = lists.filter((l) => l.rules !== undefined);
  if (present.length === 0) return [];
  if (present.length === 1) {
    const only = present[0]!;
    return single ? [...only.rules!] : only.rules!.map((r) => ({ ...r, ipVersion: only.v }));
  }
  const [a, b] = present as [
    { v: IpFamily; rules: readonly Rule[] },
    { v: IpFamily; rules: readonly Rule[] },
  ];
  const tag = (r: Rule, v: IpFamily): PolicyRule => ({ ...r, ipVersion: v });
  if (a.rules.length * b.rules.length > MAX_MERGE_CELLS) {
    return [...a.rules.map((r) => tag(r, a.v)), ...b.rules.map((r) => tag(r, b.v))];
  }
  const ka = a.rules.map(key), kb = b.rules.map(key);
  const n = ka.length, m = kb.length;
  // lcs[i][j]: the common subsequence length of ka[i:] and kb[j:].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = ka[i] === kb[j]
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: PolicyRule[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && ka[i] === kb[j]) {
      out.push(a.rules[i]!);
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(tag(a.rules[i]!, a.v));
      i++;
    } else {
      out.push(tag(b.rules[j]!, b.v));
      j++;
    }
  }
  return out;
}
