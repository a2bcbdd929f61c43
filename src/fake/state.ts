/**
 * The fake dataplane's tables, chains and rules (the kernel's checks on them
 * are in `kernel_checks.ts`).
 *
 * @module
 */
import type { ParsedRule } from "./normalise.ts";
import type { Invocation } from "./invocation.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** The four iptables tables. */
export type FakeTableName = "filter" | "nat" | "mangle" | "raw";

/** Built-in chains per table, in the order iptables-save prints them. */
export const BUILTIN_CHAINS: Readonly<Record<FakeTableName, readonly string[]>> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
};

/** The tables in the order iptables-save prints them. */
export const TABLE_ORDER: readonly FakeTableName[] = ["filter", "nat", "mangle", "raw"];

/** Tells whether a string names one of the four tables. */
export function isFakeTableName(name: string): name is FakeTableName {
  return name === "filter" || name === "nat" || name === "mangle" || name === "raw";
}

/** One rule as stored. */
export interface RuleState {
  /** The normalised rule text after `-A <chain> ` ("" for an empty rule). */
  spec: string;
  /** The parsed rule (for jump targets and kernel checks). */
  parsed: ParsedRule;
  /** Packet counter. */
  packets: bigint;
  /** Byte counter. */
  bytes: bigint;
  /** The restore line that added it in the running transaction, if any. */
  line?: number;
}

/** One chain as stored. */
export interface ChainState {
  /** Built-in (kernel) chain. */
  builtin: boolean;
  /** Policy of a built-in chain, `-` for user chains. */
  policy: string;
  /** Policy packet counter. */
  packets: bigint;
  /** Policy byte counter. */
  bytes: bigint;
  /** The rules in order. */
  rules: RuleState[];
}

/** One table as stored: chains by name. */
export type TableState = Map<string, ChainState>;

/** Makes a table holding only its built-in chains (policy ACCEPT, counters 0). */
export function emptyTable(table: FakeTableName): TableState {
  const t: TableState = new Map();
  for (const c of BUILTIN_CHAINS[table]) {
    t.set(c, { builtin: true, policy: "ACCEPT", packets: 0n, bytes: 0n, rules: [] });
  }
  return t;
}

/** Deep-copies a table (rules are copied, parsed rules shared). */
export function cloneTable(t: TableState): TableState {
  const out: TableState = new Map();
  for (const [name, c] of t) {
    out.set(name, { ...c, rules: c.rules.map((r) => ({ ...r })) });
  }
  return out;
}

/** The user chains a chain's rules jump or go to. */
export function targetsOf(c: ChainState): string[] {
  const out: string[] = [];
  for (const r of c.rules) {
    if (r.parsed.target !== undefined && !r.parsed.targetIsExtension) out.push(r.parsed.target);
  }
  return out;
}

/** Counts the rules (in all chains) that jump or go to `chain`. */
export function referenceCount(t: TableState, chain: string): number {
  let n = 0;
  for (const c of t.values()) for (const x of targetsOf(c)) if (x === chain) n++;
  return n;
}

/** For each chain, the hooks (built-in chains) that reach it. */
export function hooksByChain(t: TableState): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [name, c] of t) {
    if (!c.builtin) continue;
    const stack = [name];
    while (stack.length > 0) {
      const cur = stack.pop()!;
      let hooks = out.get(cur);
      if (!hooks) out.set(cur, hooks = new Set());
      if (hooks.has(name)) continue;
      hooks.add(name);
      const chain = t.get(cur);
      if (chain) stack.push(...targetsOf(chain).filter((x) => t.has(x)));
    }
  }
  return out;
}

/** Which incompatibility `iptables-nft-save` reports for a table. */
export type FakeIncompatibility = "incompatible" | "base-chains";

/** The four tables of one backend and family. */
export type FamilyTables = Record<FakeTableName, TableState>;

/**
 * Everything the fake's "kernel" holds: the tables of each backend and
 * family, and what commands consult beside them.
 */
export interface FakeKernel {
  /** The tables, by backend and family. */
  readonly tables: Record<IptablesVariant, Record<4 | 6, FamilyTables>>;
  /** The IP sets that exist (rules may only name these). */
  readonly ipsets: Set<string>;
  /** Match extensions this kernel lacks. */
  readonly unsupported: ReadonlySet<string>;
  /** Tables `iptables-nft-save` reports as the `nft` tool's, by `"<family>/<table>"`. */
  readonly incompatible: Map<string, FakeIncompatibility>;
  /** Legacy tables a legacy command has used, by `"<family>/<table>"`. */
  readonly legacyLoaded: Set<string>;
  /** The clock of iptables-save's comment lines. */
  readonly now: () => Date;
}

/** The four tables holding only their built-in chains, for both families of both backends. */
export function emptyTables(): Record<IptablesVariant, Record<4 | 6, FamilyTables>> {
  const fresh = () => ({
    4: Object.fromEntries(TABLE_ORDER.map((t) => [t, emptyTable(t)])) as FamilyTables,
    6: Object.fromEntries(TABLE_ORDER.map((t) => [t, emptyTable(t)])) as FamilyTables,
  });
  return { nft: fresh(), legacy: fresh() };
}

/**
 * Notes that a legacy command used a table (the kernel instantiates a legacy
 * table when iptables-legacy first touches it; `cat /proc/net/ip_tables_names`
 * lists them).
 */
export function noteTableUse(kernel: FakeKernel, inv: Invocation, table: string | undefined): void {
  if (inv.backend === "legacy" && table !== undefined && isFakeTableName(table)) {
    kernel.legacyLoaded.add(`${inv.family}/${table}`);
  }
}
