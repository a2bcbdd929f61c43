/**
 * The diff of a desired policy against the kernel, matched by rule ID.
 *
 * The kernel prints rules in its own normalised form (`--jump X` comes back
 * as `-j X`, `--source 10.0.0.4` as `-s 10.0.0.4/32`), so comparing text
 * would flag every rule. Each rule we write carries its ID as its first
 * comment (`<hashPrefix><id>`); the diff compares ID lists, shows kept rules
 * in our rendering, removed rules as the kernel printed them, and the rules
 * of other programs as untouched context.
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import { renderAppend, renderInsert, type Rule } from "../../dsl/rule.ts";
import { isKernelChain, type TableName } from "../../dsl/kernel_chains.ts";
import type { FamilyTablePolicy } from "./policy.ts";
import {
  type ChainPolicyValue,
  planPolicies,
  policyRecordChain,
  policyRecordRules,
  readPolicyRecord,
} from "../engine/policy_record.ts";
import { diffIds, diffIdsAtEnds } from "../engine/edit_script.ts";
import { computeReachability } from "../engine/reachability.ts";
import type { CommandRunner } from "../host/runner.ts";
import { ruleIdReader } from "../host/ownership.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** One rule as `iptables-save` printed it. */
export interface KernelRule {
  /** The saved line (`-A CHAIN …`). */
  line: string;
  /** Our rule ID, when the first comment carries one. */
  id: string | undefined;
}

/** One chain as `iptables-save` printed it. */
export interface KernelChain {
  /** The chain's name. */
  name: string;
  /** `ACCEPT`/`DROP` for a built-in chain, `-` for a user chain. */
  policy: string;
  /** Its rules, in order. */
  rules: KernelRule[];
}

/**
 * Parses `iptables-save -t <table>` output into chains with their rule lines.
 *
 * @param text The output.
 * @param hashPrefix The prefix of our ID comments.
 * @returns The chains in the order they were printed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKernelTable } from "@rampart/iptables";
 * const chains = parseKernelTable(
 *   '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j rp-in\nCOMMIT\n',
 *   "rampart:",
 * );
 * assert.equal(chains.get("INPUT")?.rules[0]?.id, "Cz_u1IQiXIMmKD4c");
 * ```
 */
export function parseKernelTable(text: string, hashPrefix: string): Map<string, KernelChain> {
  const chains = new Map<string, KernelChain>();
  const idOf = ruleIdReader(hashPrefix);
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(" ");
      chains.set(name, { name, policy, rules: chains.get(name)?.rules ?? [] });
    } else if (line.startsWith("-A ")) {
      const name = line.slice(3).split(" ")[0]!;
      let chain = chains.get(name);
      if (chain === undefined) {
        chain = { name, policy: "-", rules: [] };
        chains.set(name, chain);
      }
      chain.rules.push({ line, id: idOf(line) });
    }
  }
  return chains;
}

/** How a line of the diff changes the kernel. */
export type DiffLineKind = "keep" | "add" | "remove" | "foreign";

/** One rule in the diff. */
export interface DiffLine {
  /** `add`: written; `remove`: deleted; `keep`: already there; `foreign`: another program's, untouched. */
  kind: DiffLineKind;
  /** Our rule ID (absent for foreign rules). */
  id?: string;
  /** Our rendering (`keep`, `add`) or the kernel's saved line (`remove`, `foreign`). */
  text: string;
}

/** The diff of one chain. */
export interface ChainDiff {
  /** The chain. */
  chain: string;
  /** `new`: created; `deleted`: removed; `changed`; `unchanged`; `unreachable`: defined but not written. */
  status: "new" | "deleted" | "changed" | "unchanged" | "unreachable";
  /**
   * A built-in chain policy change; `restored` when the policy goes back to
   * what it was before Rampart changed it (the desired state no longer sets it).
   */
  policy?: { from: string; to: string; restored?: boolean };
  /** The chain's rules. */
  lines: DiffLine[];
}

/** The diff of one table in one family. */
export interface TableDiff {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: 4 | 6;
  /** The chains, changed ones and (with `all`) unchanged ones. */
  chains: ChainDiff[];
  /** Whether anything changes. */
  changed: boolean;
}

/** Options of {@linkcode diffTable}. */
export interface DiffTableOptions {
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Prefixes of the chains we own. @default {["rp-"]} */
  chainPrefixes?: readonly string[];
  /** Where our inserted rules go relative to other programs' rules. @default {"insert"} */
  insertMode?: "insert" | "append";
  /** Host features (they are part of rule IDs). @default {{}} */
  features?: Features;
  /** How rule IDs are computed (as the table's `ruleIds`). @default {"stable"} */
  ruleIds?: RuleIds;
  /** Keep unchanged chains in the result. @default {false} */
  all?: boolean;
}

function ids(chain: string, rules: readonly Rule[], options: DiffTableOptions): string[] {
  return rules.length === 0 ? [] : calculateRuleIds(chain, rules, options);
}

/**
 * Diffs the desired state of one table and family against the kernel's
 * `iptables-save` output, by rule ID.
 *
 * @param desired The desired state (from `policyForFamily`).
 * @param kernelSave The kernel's `iptables-save -t <table>` output.
 * @param options Prefixes, insert mode, features and the rule-ID scheme.
 * @returns The chains that change.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, diffTable, Jump } from "@rampart/iptables";
 * const diff = diffTable({
 *   table: "filter", ipVersion: 4, policies: {}, appends: {},
 *   chains: [{ name: "rp-in", rules: [{ action: Accept() }] }],
 *   insertions: { INPUT: [{ action: Jump("rp-in") }] },
 * }, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n");
 * assert.deepEqual(
 *   diff.chains.map((c) => `${c.chain} ${c.status}`),
 *   ["INPUT changed", "rp-in new"],
 * );
 * ```
 */
export function diffTable(
  desired: FamilyTablePolicy,
  kernelSave: string,
  options: DiffTableOptions = {},
): TableDiff {
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const prefixes = options.chainPrefixes ?? ["rp-"];
  const features = options.features ?? {};
  const insertMode = options.insertMode ?? "insert";
  const owned = (name: string) => prefixes.some((p) => name.startsWith(p));
  const kernel = parseKernelTable(kernelSave, hashPrefix);
  const render = { hashPrefix, features };
  const out: ChainDiff[] = [];

  // Chain policies: the desired ones, and recorded ones put back (`src/engine/policy_record.ts`).
  const recordChain = policyRecordChain(prefixes);
  const kernelPolicies = new Map<string, string>();
  for (const chain of kernel.values()) {
    if (isKernelChain(desired.table, chain.name)) kernelPolicies.set(chain.name, chain.policy);
  }
  const policies = planPolicies({
    table: desired.table,
    desired: new Map(Object.entries(desired.policies)),
    kernel: kernelPolicies,
    recorded: readPolicyRecord(
      recordChain,
      desired.table,
      (kernel.get(recordChain)?.rules ?? []).map((r) => r.id),
    ),
  });

  // Kernel (and other programs') chains carrying our insertions, appends or policies.
  const foreignNames = new Set<string>([
    ...Object.keys(desired.insertions),
    ...Object.keys(desired.appends),
    ...policies.policies.keys(),
  ]);
  for (const chain of kernel.values()) {
    if (!owned(chain.name) && chain.rules.some((r) => r.id !== undefined)) {
      foreignNames.add(chain.name);
    }
  }
  for (const name of [...foreignNames].sort()) {
    const inserts = desired.insertions[name] ?? [];
    const appends = desired.appends[name] ?? [];
    const insertIds = ids(name, inserts, options);
    const appendIds = ids(`${name}*appends*`, appends, options);
    const wanted = new Set([...insertIds, ...appendIds]);
    const k = kernel.get(name);
    const present = new Set((k?.rules ?? []).map((r) => r.id).filter((id) => id !== undefined));
    const lines: DiffLine[] = [];
    for (const r of k?.rules ?? []) {
      if (r.id !== undefined && !wanted.has(r.id)) {
        lines.push({ kind: "remove", id: r.id, text: r.line });
      }
    }
    const ours = (list: readonly Rule[], listIds: string[], append: boolean) =>
      list.map((rule, i): DiffLine => {
        const id = listIds[i]!;
        const text = append || insertMode === "append"
          ? renderAppend(rule, name, { ...render, hash: id })
          : renderInsert(rule, name, { ...render, hash: id });
        return { kind: present.has(id) ? "keep" : "add", id, text };
      });
    const foreign = (k?.rules ?? []).filter((r) => r.id === undefined)
      .map((r): DiffLine => ({ kind: "foreign", text: r.line }));
    if (insertMode === "insert") lines.push(...ours(inserts, insertIds, false), ...foreign);
    else lines.push(...foreign, ...ours(inserts, insertIds, false));
    lines.push(...ours(appends, appendIds, true));
    const diff: ChainDiff = { chain: name, status: "unchanged", lines };
    const policy = policies.policies.get(name);
    if (policy !== undefined && k !== undefined && k.policy !== policy) {
      diff.policy = policies.restored.has(name)
        ? { from: k.policy, to: policy, restored: true }
        : { from: k.policy, to: policy };
    }
    if (lines.some((l) => l.kind === "add" || l.kind === "remove") || diff.policy !== undefined) {
      diff.status = "changed";
    }
    if (diff.status !== "unchanged" || options.all === true) out.push(diff);
  }

  // Owned chains.
  const defined = new Map(desired.chains.map((c) => [c.name, c]));
  let reachable: Set<string>;
  try {
    const roots = new Map<string, (readonly Rule[])[]>();
    for (const name of foreignNames) {
      roots.set(name, [desired.insertions[name] ?? [], desired.appends[name] ?? []]);
    }
    reachable = new Set(
      computeReachability({ table: desired.table, chains: defined, roots, isOwnedChain: owned })
        .keys(),
    );
  } catch {
    reachable = new Set(defined.keys());
  }
  const ownedNames = new Set<string>([
    ...defined.keys(),
    ...[...kernel.keys()].filter((n) => owned(n) && !isKernelChain(desired.table, n)),
  ]);
  ownedNames.delete(recordChain);
  const record = recordDiff(recordChain, desired.table, kernel.get(recordChain), policies.record, {
    hashPrefix,
    all: options.all === true,
  });
  if (record !== undefined) out.push(record);
  for (const name of [...ownedNames].sort()) {
    const chain = defined.get(name);
    const k = kernel.get(name);
    if (chain === undefined || !reachable.has(name)) {
      if (k !== undefined) {
        out.push({
          chain: name,
          status: "deleted",
          lines: k.rules.map((r): DiffLine => ({
            kind: "remove",
            ...(r.id === undefined ? {} : { id: r.id }),
            text: r.line,
          })),
        });
      } else if (chain !== undefined && options.all === true) {
        out.push({
          chain: name,
          status: "unreachable",
          lines: chain.rules.map((rule) => ({ kind: "keep", text: renderAppend(rule, name) })),
        });
      }
      continue;
    }
    const want = ids(name, chain.rules, options);
    const have = (k?.rules ?? []).map((r) => r.id ?? "");
    const lines: DiffLine[] = [];
    const keep = (i: number): DiffLine => ({
      kind: "keep",
      id: want[i]!,
      text: renderAppend(chain.rules[i]!, name, { ...render, hash: want[i]! }),
    });
    // The same edit as the planner's: kept rules, then each run of removed and added ones.
    let next = 0;
    const blocks = options.ruleIds === "chained" ? diffIdsAtEnds(have, want) : diffIds(have, want);
    for (const b of blocks) {
      while (next < b.newStart) lines.push(keep(next++));
      for (let i = b.oldStart; i < b.oldStart + b.oldCount; i++) {
        const r = k!.rules[i]!;
        lines.push({ kind: "remove", ...(r.id === undefined ? {} : { id: r.id }), text: r.line });
      }
      for (let i = b.newStart; i < b.newStart + b.newCount; i++) {
        lines.push({
          kind: "add",
          id: want[i]!,
          text: renderAppend(chain.rules[i]!, name, { ...render, hash: want[i]! }),
        });
      }
      next = b.newStart + b.newCount;
    }
    while (next < want.length) lines.push(keep(next++));
    const status = k === undefined
      ? "new"
      : lines.some((l) => l.kind !== "keep")
      ? "changed"
      : "unchanged";
    if (status !== "unchanged" || options.all === true) out.push({ chain: name, status, lines });
  }
  return {
    table: desired.table,
    ipVersion: desired.ipVersion,
    chains: out,
    changed: out.some((c) => c.status !== "unchanged" && c.status !== "unreachable"),
  };
}

/** The diff of the chain recording the policies Rampart changed, if it has one. */
function recordDiff(
  name: string,
  table: TableName,
  kernel: KernelChain | undefined,
  record: ReadonlyMap<string, ChainPolicyValue>,
  options: { hashPrefix: string; all: boolean },
): ChainDiff | undefined {
  const want = policyRecordRules(name, table, record);
  const wanted = new Set(want.hashes);
  const have = new Set((kernel?.rules ?? []).map((r) => r.id));
  const lines: DiffLine[] = [];
  for (const r of kernel?.rules ?? []) {
    if (r.id === undefined || !wanted.has(r.id)) {
      lines.push({ kind: "remove", ...(r.id === undefined ? {} : { id: r.id }), text: r.line });
    }
  }
  want.rules.forEach((rule, i) => {
    const id = want.hashes[i]!;
    lines.push({
      kind: have.has(id) ? "keep" : "add",
      id,
      text: renderAppend(rule, name, { hashPrefix: options.hashPrefix, hash: id }),
    });
  });
  if (kernel === undefined && lines.length === 0) return undefined;
  const status = kernel === undefined
    ? "new"
    : want.rules.length === 0
    ? "deleted"
    : lines.some((l) => l.kind !== "keep")
    ? "changed"
    : "unchanged";
  return status !== "unchanged" || options.all ? { chain: name, status, lines } : undefined;
}

/** Options of {@linkcode renderDiff}. */
export interface RenderDiffOptions {
  /** Colour with ANSI escapes (green added, red removed, dim context). @default {false} */
  color?: boolean;
  /** Show at most this many consecutive foreign rules, then a count. @default {8} */
  maxForeign?: number;
}

const GREEN = "\x1b[32m";
const RED = "\x1b[31m";
const DIM = "\x1b[2m";
const BOLD = "\x1b[1m";
const YELLOW = "\x1b[33m";
const RESET = "\x1b[0m";

/**
 * Renders diffs as text: `+` added, `-` removed, `=` kept, `·` other programs'
 * rules (untouched). Each of our rules shows its ID.
 *
 * @param diffs The table diffs.
 * @param options Colours.
 * @returns The text (ends with a newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, diffTable, Jump, renderDiff } from "@rampart/iptables";
 * const diff = diffTable({
 *   table: "filter", ipVersion: 4, policies: {}, appends: {}, chains: [],
 *   insertions: { INPUT: [{ action: Accept() }] },
 * }, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
 * assert.equal(renderDiff([diff]), [
 *   "filter (IPv4)",
 *   "  chain INPUT",
 *   '    + Mx6y_clA9MKGTHzP  -I INPUT -m comment --comment "rampart:Mx6y_clA9MKGTHzP" --jump ACCEPT',
 *   "",
 * ].join("\n"));
 * ```
 */
export function renderDiff(diffs: readonly TableDiff[], options: RenderDiffOptions = {}): string {
  const color = options.color === true;
  const maxForeign = options.maxForeign ?? 8;
  const paint = (code: string, text: string) => color ? `${code}${text}${RESET}` : text;
  let out = "";
  for (const d of diffs) {
    const title = `${d.table} (IPv${d.ipVersion})`;
    if (d.chains.length === 0) {
      out += `${paint(BOLD, title)}${paint(DIM, ": in sync")}\n`;
      continue;
    }
    out += paint(BOLD, title) + "\n";
    for (const c of d.chains) {
      const status = c.status === "new"
        ? paint(GREEN, " (new)")
        : c.status === "deleted"
        ? paint(RED, " (deleted)")
        : c.status === "unreachable"
        ? paint(YELLOW, " (not reachable from a kernel chain: not written)")
        : c.status === "unchanged"
        ? paint(DIM, " (unchanged)")
        : "";
      out += `  chain ${c.chain}${status}\n`;
      if (c.policy !== undefined) {
        const why = c.policy.restored === true
          ? " (put back: its policy before Rampart changed it)"
          : "";
        out += `    ${paint(YELLOW, `~ policy ${c.policy.from} → ${c.policy.to}${why}`)}\n`;
      }
      let foreignRun: DiffLine[] = [];
      const flushForeign = () => {
        if (foreignRun.length === 0) return;
        const shown = foreignRun.length > maxForeign ? [] : foreignRun;
        for (const l of shown) out += `    ${paint(DIM, `· ${l.text}`)}\n`;
        if (shown.length === 0) {
          out += `    ${
            paint(DIM, `· ${foreignRun.length} rules of other programs (untouched)`)
          }\n`;
        }
        foreignRun = [];
      };
      for (const l of c.lines) {
        if (l.kind === "foreign") {
          foreignRun.push(l);
          continue;
        }
        flushForeign();
        const id = (l.id ?? "?").padEnd(16);
        if (l.kind === "add") out += `    ${paint(GREEN, `+ ${id}  ${l.text}`)}\n`;
        else if (l.kind === "remove") out += `    ${paint(RED, `- ${id}  ${l.text}`)}\n`;
        else out += `    ${paint(DIM, `= ${id}  ${l.text}`)}\n`;
      }
      flushForeign();
    }
  }
  return out;
}

/** Options of {@linkcode readKernelTable}. */
export interface ReadKernelTableOptions {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: 4 | 6;
  /** The backend (its `-save` variant is tried first). */
  backend: IptablesVariant;
}

/**
 * Runs `ip[6]tables-<backend>-save -t <table>` (falling back to
 * `ip[6]tables-save`) and returns its output.
 *
 * @param runner Runs the binary (e.g. a `DenoCommandRunner` with `netns`).
 * @param options Table, family and backend.
 * @returns The saved text.
 * @throws {Error} When iptables-save fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readKernelTable } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const text = await readKernelTable(fake.runner, { table: "filter", ipVersion: 4, backend: "nft" });
 * assert.ok(text.includes(":INPUT ACCEPT"));
 * ```
 */
export async function readKernelTable(
  runner: CommandRunner,
  options: ReadKernelTableOptions,
): Promise<string> {
  const family = options.ipVersion === 6 ? "ip6tables" : "iptables";
  let last = { cmd: "", code: 127, stderr: "" };
  for (const cmd of [`${family}-${options.backend}-save`, `${family}-save`]) {
    const r = await runner.run(cmd, ["-t", options.table], { timeoutMs: 60_000 });
    if (r.code === 0) return r.stdout;
    last = { cmd, code: r.code, stderr: r.stderr };
    if (r.code !== 127) break;
  }
  throw new Error(
    `Cannot read table ${options.table} (IPv${options.ipVersion}): ${last.cmd} exited with ` +
      `${last.code}${last.stderr.trim() === "" ? "" : `: ${last.stderr.trim()}`}`,
  );
}
