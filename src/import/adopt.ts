/**
 * Taking over chosen chains of a live host (`rampart adopt`): the policy that
 * owns them, and per table and family one `iptables-restore --noflush
 * --counters` transaction that replaces their rules by ours (with IDs,
 * counters carried over) and the transaction that undoes it exactly.
 *
 * Adopted user chains are renamed with the chain prefix (the originals are
 * deleted in the same transaction); the rules of adopted built-in chains
 * become insert lists. The rules we write are the engine's own: the policy is
 * planned by a {@linkcode Firewall} against a {@linkcode FakeDataplane} that
 * holds the table as it will be once the adopted chains are emptied, so a
 * later `rampart apply` of the written policy finds nothing to change.
 *
 * Refused (listed as problems, nothing planned): a rule of an adopted chain
 * the importer cannot express, a jump across the edge of the adopted chains
 * (into an adopted user chain from a chain left alone, or out of an adopted
 * chain to a user chain left alone), and a table that already holds
 * Rampart's chains or rules.
 *
 * @module
 */
import type { RuleIds } from "../../dsl/hash.ts";
import { isKernelChain, KERNEL_CHAINS, type TableName } from "../../dsl/kernel_chains.ts";
import { FakeDataplane } from "../fake/fake_dataplane.ts";
import type { CommandRunner } from "../host/runner.ts";
import { IptablesCommands } from "../host/iptables_commands.ts";
import { Firewall } from "../policy/firewall.ts";
import type { IpFamily, Policy, TablePolicy } from "../policy/policy.ts";
import { type ImportProblem, type ImportResult, importSaves } from "./import_save.ts";
import { parseSaveText, type SavedTable } from "./save_text.ts";

/** One live save to adopt from (`iptables-save -c`, so counters are carried). */
export interface AdoptSource {
  /** The family. */
  ipVersion: IpFamily;
  /** The backend that printed it (and that the transactions go through). */
  backend: "nft" | "legacy";
  /** The saved text, with `[packets:bytes]` counters. */
  text: string;
  /** Where it came from, for messages. */
  name?: string;
}

/** Options of {@linkcode adoptionPolicy}. */
export interface AdoptOptions {
  /** The chains to adopt: names, or patterns where `*` matches any characters. */
  chains: readonly string[];
  /** The tables to adopt chains of. @default {["filter"]} (as iptables) */
  tables?: readonly string[];
  /** The prefix of adopted user chains. @default {"rp-"} */
  chainPrefix?: string;
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
}

/** A chain the adoption took over, in one table and family. */
export interface AdoptedChain {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** Its saved name. */
  saved: string;
  /** Its name once adopted (the same for a built-in chain). */
  name: string;
  /** Its number of rules. */
  rules: number;
}

/** What {@linkcode adoptionPolicy} returns. */
export interface AdoptionPolicy {
  /** The policy that owns the adopted chains (and nothing else). */
  policy: Policy;
  /** Why the adoption is refused (empty: it is not). */
  problems: ImportProblem[];
  /** The adopted chains. */
  adopted: AdoptedChain[];
  /**
   * Chosen user chains left alone: no rule of a built-in chain reaches them
   * (Rampart writes a chain only once a rule jumps to it), by `table IPvN`.
   */
  skipped: Map<string, string[]>;
  /** The import the policy was cut from. */
  imported: ImportResult;
}

/** A pattern of `--chain` that names no chain of the saves. */
export class AdoptChainError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "AdoptChainError";
  }
}

const MANAGED = ["raw", "mangle", "nat", "filter"];

function matcher(patterns: readonly string[]): (name: string) => boolean {
  const res = patterns.map((p) =>
    new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`)
  );
  return (name) => res.some((r) => r.test(name));
}

/** The chain a rule jumps or goes to (`-j`/`-g`), from its parsed arguments. */
function targetOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    const a = args[i];
    if (a === "-j" || a === "--jump" || a === "-g" || a === "--goto") return args[i + 1];
  }
  return undefined;
}

function sourceName(s: AdoptSource): string {
  return s.name ?? `ipv${s.ipVersion}`;
}

/**
 * The policy that takes over the chosen chains of live saves, or why it is
 * refused.
 *
 * @param sources The live saves, at most one per family.
 * @param options The chains, tables and prefixes.
 * @returns The policy, the problems, the adopted and the skipped chains.
 * @throws {AdoptChainError} when a chain name or pattern matches no chain.
 * @throws {ChainNameError} when two adopted chains would get the same name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adoptionPolicy } from "@rampart/iptables/import";
 * const text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
 *   ":ssh - [0:0]\n[4:240] -A INPUT -p tcp -j ssh\n[2:120] -A ssh -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n";
 * const adoption = adoptionPolicy([{ ipVersion: 4, backend: "nft", text }], {
 *   chains: ["INPUT", "ssh"],
 * });
 * assert.deepEqual(adoption.problems, []);
 * assert.deepEqual(adoption.adopted.map((c) => c.name), ["INPUT", "rp-ssh"]);
 * assert.equal(adoption.policy.tables[0]!.policies.INPUT, "DROP");
 * ```
 */
export function adoptionPolicy(
  sources: readonly AdoptSource[],
  options: AdoptOptions,
): AdoptionPolicy {
  const chainPrefix = options.chainPrefix ?? "rp-";
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const chosen = matcher(options.chains);
  const parsed = sources.map((s) => ({ s, tables: parseSaveText(s.text) }));
  // The tables asked for (filter, as iptables), where a chosen chain exists.
  const asked = options.tables ?? ["filter"];
  const tables = new Set<string>();
  for (const { tables: ts } of parsed) {
    for (const t of ts) {
      if (!MANAGED.includes(t.name) || !asked.includes(t.name)) continue;
      if ([...t.chains.keys()].some(chosen)) tables.add(t.name);
    }
  }
  for (const pattern of options.chains) {
    const one = matcher([pattern]);
    const found = parsed.some(({ tables: ts }) =>
      ts.some((t) => tables.has(t.name) && [...t.chains.keys()].some(one))
    );
    if (!found) {
      throw new AdoptChainError(
        `No chain ${JSON.stringify(pattern)} in table(s) ${asked.join(", ")}`,
      );
    }
  }
  const imported = importSaves(sources, { chainPrefix, hashPrefix, tables: [...tables] });
  const problems: ImportProblem[] = [];
  const adopted: AdoptedChain[] = [];
  const skipped = new Map<string, string[]>();
  // Adopted saved names, by "table/family".
  const adoptedNames = new Map<string, Set<string>>();
  for (const { s, tables: ts } of parsed) {
    for (const t of ts) {
      if (!tables.has(t.name)) continue;
      const key = `${t.name}/${s.ipVersion}`;
      const renamed = imported.renamed.get(t.name) ?? new Map<string, string>();
      const unreachable = imported.unreachable.get(t.name) ?? [];
      const problem = (chain: string, line: number, text: string, reason: string) =>
        problems.push({
          source: sourceName(s),
          table: t.name,
          ipVersion: s.ipVersion,
          chain,
          line,
          text,
          reason,
        });
      ownershipProblems(t, { chainPrefix, hashPrefix }, problem);
      const names = new Set<string>();
      for (const c of t.chains.values()) {
        if (!chosen(c.name)) continue;
        if (c.policy === "-" && unreachable.includes(renamed.get(c.name) ?? c.name)) {
          const k = `${t.name} IPv${s.ipVersion}`;
          skipped.set(k, [...(skipped.get(k) ?? []), c.name]);
          continue;
        }
        if (c.policy !== "-" && !isKernelChain(t.name as TableName, c.name)) continue;
        names.add(c.name);
        adopted.push({
          table: t.name as TableName,
          ipVersion: s.ipVersion,
          saved: c.name,
          name: renamed.get(c.name) ?? c.name,
          rules: c.rules.length,
        });
      }
      adoptedNames.set(key, names);
      // Jumps across the edge of the adopted chains.
      for (const c of t.chains.values()) {
        for (const r of c.rules) {
          const to = targetOf(r.args);
          const target = to === undefined ? undefined : t.chains.get(to);
          if (target === undefined || target.policy !== "-" || target.name === c.name) continue;
          const from = names.has(c.name), into = names.has(target.name);
          if (from && !into) {
            problem(
              c.name,
              r.line,
              `-A ${c.name} ${r.text}`,
              `it jumps to chain ${target.name}, which is not adopted: adopt it too ` +
                `(--chain ${target.name})`,
            );
          } else if (!from && into) {
            problem(
              c.name,
              r.line,
              `-A ${c.name} ${r.text}`,
              `it jumps to the adopted chain ${target.name} from chain ${c.name}, which is not ` +
                `adopted (its rule would have to change): adopt it too (--chain ${c.name})`,
            );
          }
        }
      }
    }
  }
  for (const p of imported.problems) {
    if (adoptedNames.get(`${p.table}/${p.ipVersion}`)?.has(p.chain)) problems.push(p);
  }
  const policy = cutPolicy(imported.policy, adopted);
  return { policy, problems, adopted, skipped, imported };
}

/** Rampart's chains or rules in a table: adopt takes over what Rampart does not manage yet. */
function ownershipProblems(
  t: SavedTable,
  o: { chainPrefix: string; hashPrefix: string },
  problem: (chain: string, line: number, text: string, reason: string) => void,
): void {
  const reason = "Rampart already manages rules in this table; adopt takes over chains of a " +
    "table it does not manage yet ('rampart import' prints them to merge into your policy)";
  for (const c of t.chains.values()) {
    if (c.name.startsWith(o.chainPrefix)) {
      problem(c.name, c.line, `:${c.name} ${c.policy}`, reason);
      continue;
    }
    for (const r of c.rules) {
      if (
        r.text.includes(`--comment "${o.hashPrefix}`) ||
        r.text.includes(`--comment ${o.hashPrefix}`)
      ) {
        problem(c.name, r.line, `-A ${c.name} ${r.text}`, reason);
      }
    }
  }
}

/** The imported policy cut down to the adopted chains. */
function cutPolicy(policy: Policy, adopted: readonly AdoptedChain[]): Policy {
  const tables: TablePolicy[] = [];
  for (const t of policy.tables) {
    const mine = adopted.filter((a) => a.table === t.table);
    const kernel = new Set(mine.filter((a) => a.saved === a.name).map((a) => a.name));
    const owned = new Set(mine.filter((a) => a.saved !== a.name).map((a) => a.name));
    const pick = <V>(rec: Record<string, V>) =>
      Object.fromEntries(Object.entries(rec).filter(([k]) => kernel.has(k)));
    const cut: TablePolicy = {
      table: t.table,
      chains: t.chains.filter((c) => owned.has(c.name)),
      insertions: pick(t.insertions),
      appends: pick(t.appends),
      policies: pick(t.policies),
    };
    if (t.ipVersion !== undefined) cut.ipVersion = t.ipVersion;
    const empty = cut.chains.length === 0 && Object.keys(cut.insertions).length === 0 &&
      Object.keys(cut.appends).length === 0 && Object.keys(cut.policies).length === 0;
    if (!empty) tables.push(cut);
  }
  return { ipVersions: [...policy.ipVersions], tables };
}

/** One table of one family: the adopting transaction and the one that undoes it. */
export interface AdoptTransaction {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The backend it goes through. */
  backend: "nft" | "legacy";
  /** The `iptables-restore --noflush --counters` script that adopts the chains. */
  script: string;
  /** The script that puts the saved chains back (and deletes ours). */
  undo: string;
}

/** Options of {@linkcode adoptionTransactions}. */
export interface AdoptTransactionOptions {
  /** The adopted chains ({@linkcode adoptionPolicy}). */
  adopted: readonly AdoptedChain[];
  /** The prefix of adopted user chains. @default {"rp-"} */
  chainPrefix?: string;
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** The rule-ID scheme. @default {"stable"} */
  ruleIds?: RuleIds;
}

const RULE_LINE = /^-([AI]) (\S+)(?: \d+)? /;

/**
 * The transactions that adopt the chains: for each table and family, the
 * engine's script for `policy` (planned against the table with the adopted
 * chains emptied), with the adopted chains flushed first, the saved user
 * chains deleted last and each rule's saved counters in front of it; and the
 * script that undoes it.
 *
 * @param sources The live saves the policy was made from.
 * @param policy The policy (as loaded back from the written file).
 * @param options The adopted chains and prefixes.
 * @returns One transaction per table and family with adopted chains.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adoptionPolicy, adoptionTransactions } from "@rampart/iptables/import";
 * const text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
 *   ":ssh - [0:0]\n[4:240] -A INPUT -p tcp -j ssh\n[2:120] -A ssh -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n";
 * const sources = [{ ipVersion: 4 as const, backend: "nft" as const, text }];
 * const { policy, adopted } = adoptionPolicy(sources, { chains: ["INPUT", "ssh"] });
 * const [t] = await adoptionTransactions(sources, policy, { adopted });
 * assert.ok(t!.script.includes("\n-F INPUT\n-F ssh\n"));
 * assert.match(t!.script, /\n\[2:120\] -A rp-ssh -m comment --comment "rampart:[\w-]{16}" /);
 * assert.ok(t!.script.endsWith("\n-X ssh\nCOMMIT\n"));
 * assert.ok(t!.undo.includes("\n[2:120] -A ssh -s 10.0.0.0/8 -j ACCEPT\n"));
 * ```
 */
export async function adoptionTransactions(
  sources: readonly AdoptSource[],
  policy: Policy,
  options: AdoptTransactionOptions,
): Promise<AdoptTransaction[]> {
  const chainPrefix = options.chainPrefix ?? "rp-";
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const out: AdoptTransaction[] = [];
  for (const s of sources) {
    for (const t of parseSaveText(s.text)) {
      const mine = options.adopted.filter((a) => a.table === t.name && a.ipVersion === s.ipVersion);
      if (mine.length === 0) continue;
      const table = t.name as TableName;
      const kernel = KERNEL_CHAINS[table];
      // The table once the adopted chains are emptied: the built-in chains and their policies
      // (no rule of ours is anywhere, and no adopted chain jumps to a chain left alone).
      const fake = new FakeDataplane({ backend: s.backend, unsupportedExtensions: [] });
      let empty = `*${table}\n`;
      for (const k of kernel) {
        const c = t.chains.get(k);
        if (c !== undefined) empty += `:${k} ${c.policy} [0:0]\n`;
      }
      await fake.load(empty + "COMMIT\n", { ipVersion: s.ipVersion, flush: true });
      const firewall = new Firewall({
        backend: s.backend,
        runner: fake.runner,
        ipVersions: [s.ipVersion],
        hashPrefix,
        chainPrefixes: [chainPrefix],
        ruleIds: options.ruleIds ?? policy.ruleIds ?? "stable",
      });
      firewall.table(table, s.ipVersion);
      firewall.setPolicy({
        ...policy,
        ipVersions: [s.ipVersion],
        tables: policy.tables.filter((p) => p.table === table),
      });
      const plan = await firewall.plan();
      const script = plan.tables.find((p) => p.table === table && p.ipVersion === s.ipVersion)
        ?.script ?? "";
      await firewall.apply();
      out.push(
        compose(t, script, {
          table,
          ipVersion: s.ipVersion,
          backend: s.backend,
          adopted: mine,
          final: (chain) => fake.rules(table, chain, { ipVersion: s.ipVersion }),
          hashPrefix,
        }),
      );
    }
  }
  return out;
}

function counterText(c: [bigint, bigint] | undefined): string {
  return c === undefined ? "[0:0]" : `[${c[0]}:${c[1]}]`;
}

function idOf(line: string, hashPrefix: string): string | undefined {
  const at = line.indexOf(`--comment "${hashPrefix}`);
  if (at >= 0) return line.slice(at + 11 + hashPrefix.length).split('"')[0];
  const bare = line.indexOf(`--comment ${hashPrefix}`);
  return bare >= 0 ? line.slice(bare + 10 + hashPrefix.length).split(" ")[0] : undefined;
}

/** The engine's script made into the adopting transaction, and its undo. */
function compose(
  saved: SavedTable,
  script: string,
  o: {
    table: TableName;
    ipVersion: IpFamily;
    backend: "nft" | "legacy";
    adopted: readonly AdoptedChain[];
    final: (chain: string) => string[];
    hashPrefix: string;
  },
): AdoptTransaction {
  const lines = script === ""
    ? [`*${o.table}`, "COMMIT"]
    : script.split("\n").filter((l) => l !== "");
  if (lines[0] !== `*${o.table}` || lines.at(-1) !== "COMMIT") {
    throw new Error(`Unexpected plan for ${o.table} IPv${o.ipVersion}: ${script}`);
  }
  const body = lines.slice(1, -1);
  const declarations = body.filter((l) => l.startsWith(":"));
  const rules = body.filter((l) => !l.startsWith(":"));
  const byName = new Map(o.adopted.map((a) => [a.name, a]));
  const kernel = new Set<string>(KERNEL_CHAINS[o.table]);
  const userAdopted = o.adopted.filter((a) => a.saved !== a.name);
  const kernelAdopted = o.adopted.filter((a) => a.saved === a.name);
  // Built-in chains keep their counters; under legacy every built-in chain is declared, since
  // its restore writes the whole table (an undeclared chain's counters would start again at 0).
  const declared = new Set<string>();
  const head: string[] = [];
  for (const d of declarations) {
    const name = d.slice(1).split(" ")[0]!;
    declared.add(name);
    const c = saved.chains.get(name);
    head.push(
      kernel.has(name) && c !== undefined
        ? `:${name} ${d.slice(1).split(" ")[1]} ${counterText(c.counters)}`
        : d,
    );
  }
  for (const k of KERNEL_CHAINS[o.table]) {
    const c = saved.chains.get(k);
    if (c === undefined || declared.has(k)) continue;
    if (o.backend === "legacy" || byName.has(k)) {
      head.push(`:${k} ${c.policy} ${counterText(c.counters)}`);
    }
  }
  // Each written rule of an adopted chain gets the counters of the saved rule it replaces, in
  // order; the engine's lines are checked against the order the rules end in.
  const seen = new Map<string, string[]>();
  const written: string[] = [];
  for (const line of rules) {
    const m = RULE_LINE.exec(line);
    if (m === null) {
      throw new Error(
        `Unexpected line in the plan for ${o.table} IPv${o.ipVersion}: ${line}`,
      );
    }
    const a = byName.get(m[2]!);
    if (a === undefined) {
      written.push(line);
      continue;
    }
    const ids = seen.get(a.name) ?? [];
    const c = saved.chains.get(a.saved)!.rules[ids.length];
    ids.push(idOf(line, o.hashPrefix) ?? "");
    seen.set(a.name, ids);
    written.push(`${counterText(c?.counters)} ${line}`);
  }
  for (const a of o.adopted) {
    const ids = seen.get(a.name) ?? [];
    const final = o.final(a.name).map((l) => idOf(l, o.hashPrefix) ?? "");
    if (ids.length !== a.rules || final.join(" ") !== ids.join(" ")) {
      throw new Error(
        `The engine's plan for ${o.table} IPv${o.ipVersion} does not write chain ${a.name}'s ` +
          `${a.rules} rules in order (${ids.length} written)`,
      );
    }
  }
  const created = declarations.map((d) => d.slice(1).split(" ")[0]!).filter((n) => !kernel.has(n));
  const flush = [...kernelAdopted, ...userAdopted].map((a) => `-F ${a.saved}`);
  const adopt = [
    `*${o.table}`,
    ...head,
    ...flush,
    ...written,
    ...userAdopted.map((a) => `-X ${a.saved}`),
    "COMMIT",
  ];
  // The undo: the saved chains back (policies, rules and counters as saved), ours deleted.
  // Declaring a user chain creates it, or flushes it when it exists: the undo also holds for a
  // table whose adoption never ran (a failed transaction of another table).
  const undo = [`*${o.table}`];
  for (const a of userAdopted) undo.push(`:${a.saved} - [0:0]`);
  for (const n of created) undo.push(`:${n} - [0:0]`);
  for (const k of KERNEL_CHAINS[o.table]) {
    const c = saved.chains.get(k);
    if (c === undefined) continue;
    if (o.backend === "legacy" || byName.has(k)) {
      undo.push(`:${k} ${c.policy} ${counterText(c.counters)}`);
    }
  }
  for (const a of kernelAdopted) undo.push(`-F ${a.saved}`);
  for (const a of [...kernelAdopted, ...userAdopted]) {
    for (const r of saved.chains.get(a.saved)!.rules) {
      undo.push(`${counterText(r.counters)} -A ${a.saved}${r.text === "" ? "" : ` ${r.text}`}`);
    }
  }
  for (const n of created) undo.push(`-X ${n}`);
  undo.push("COMMIT");
  return {
    table: o.table,
    ipVersion: o.ipVersion,
    backend: o.backend,
    script: adopt.join("\n") + "\n",
    undo: undo.join("\n") + "\n",
  };
}

/** The JSON the confirm-timeout watchdog restores after an unconfirmed adopt. */
export interface AdoptUndo {
  /** Marks the document. */
  kind: "rampart-adopt-undo";
  /** Format version (1). */
  version: 1;
  /** The undo scripts, in the order the adoption ran them. */
  tables: Pick<AdoptTransaction, "table" | "ipVersion" | "backend" | "undo">[];
}

/**
 * Whether a pending confirmation's snapshot text is an adopt's undo.
 *
 * @param json The text.
 * @returns The undo, or `undefined` for anything else (a snapshot of `apply`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAdoptUndo } from "@rampart/iptables/import";
 * assert.equal(parseAdoptUndo('{"version":1,"tables":[]}'), undefined);
 * ```
 */
export function parseAdoptUndo(json: string): AdoptUndo | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Partial<AdoptUndo>;
  if (r.kind !== "rampart-adopt-undo" || r.version !== 1 || !Array.isArray(r.tables)) {
    return undefined;
  }
  for (const t of r.tables) {
    if (
      !MANAGED.includes(t.table) || (t.ipVersion !== 4 && t.ipVersion !== 6) ||
      (t.backend !== "nft" && t.backend !== "legacy") || typeof t.undo !== "string"
    ) {
      throw new Error("Invalid adopt undo: a table entry is malformed");
    }
  }
  return r as AdoptUndo;
}

/**
 * Runs one table's script with `iptables-restore --noflush --counters` (of
 * its backend and family).
 *
 * @param runner Runs the binary (in the target's namespace).
 * @param t The table, family, backend and script.
 * @throws {Error} when iptables-restore fails (the table is then unchanged).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { restoreAdoptScript } from "@rampart/iptables/import";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * await restoreAdoptScript(fake.runner, {
 *   table: "filter", ipVersion: 4, backend: "nft",
 *   script: "*filter\n:x - [0:0]\n[3:180] -A x -j ACCEPT\nCOMMIT\n",
 * });
 * assert.ok(fake.dump("filter", { counters: true }).includes("[3:180] -A x -j ACCEPT"));
 * ```
 */
export async function restoreAdoptScript(
  runner: CommandRunner,
  t: { table: string; ipVersion: IpFamily; backend: "nft" | "legacy"; script: string },
): Promise<void> {
  const commands = new IptablesCommands(runner, { ipVersion: t.ipVersion, backend: t.backend });
  const lock = t.backend === "legacy" ? ["--wait", "10"] : [];
  const r = await commands.run("restore", ["--noflush", "--counters", ...lock], t.script);
  if (r.code !== 0) {
    throw new Error(
      `${r.cmd} failed for ${t.table} IPv${t.ipVersion} (exit ${r.code}): ${r.stderr.trim()}`,
    );
  }
}

/**
 * Undoes an adoption: every table's undo script, last table first, trying
 * every table even when one fails.
 *
 * @param undo The undo ({@linkcode parseAdoptUndo}).
 * @param runner Runs the binaries (in the target's namespace).
 * @throws {Error} naming every table whose undo failed.
 *
 * @example
 * ```ts
 * import { restoreAdoptUndo } from "@rampart/iptables/import";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * await restoreAdoptUndo({ kind: "rampart-adopt-undo", version: 1, tables: [] }, new FakeDataplane().runner);
 * ```
 */
export async function restoreAdoptUndo(undo: AdoptUndo, runner: CommandRunner): Promise<void> {
  const errors: string[] = [];
  for (const t of [...undo.tables].reverse()) {
    try {
      await restoreAdoptScript(runner, { ...t, script: t.undo });
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (errors.length > 0) throw new Error(errors.join("; "));
}
