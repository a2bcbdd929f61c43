/**
 * What the import round trip compares: the rules of a save, table by table
 * and chain by chain, with our ID comments taken out, the imported chains'
 * names put in, and the rules the import reported left out.
 */
import type { Policy } from "../../mod.ts";
import { type ImportResult, parseSaveText } from "../../import.ts";

/** Built-in chains: policy and rules; user chains: rules (policy `-`). */
export type ComparableTables = Record<string, Record<string, { policy: string; rules: string[] }>>;

/** The tables Rampart manages (others are reported by the import, not compared). */
const MANAGED = ["filter", "nat", "mangle", "raw"];

const ID_COMMENT = / -m comment --comment "?rampart:[A-Za-z0-9_-]{16}"?(?= |$)/;

/**
 * The comparable form of a save: `rename` maps saved chain names to the
 * policy's, `skip` holds the `line` numbers left out, `skipPolicies` the
 * `table chain` whose policy is not compared. Empty built-in chains with an
 * ACCEPT policy, and tables that hold nothing else, are dropped (a table the
 * policy leaves alone may or may not be printed).
 */
export function comparable(
  text: string,
  options: {
    rename?: ReadonlyMap<string, ReadonlyMap<string, string>>;
    skip?: ReadonlySet<number>;
    skipPolicies?: ReadonlySet<string>;
    recordChain?: string;
    skipChains?: ReadonlyMap<string, readonly string[]>;
  } = {},
): ComparableTables {
  const out: ComparableTables = {};
  for (const t of parseSaveText(text)) {
    if (!MANAGED.includes(t.name)) continue;
    const names = options.rename?.get(t.name) ?? new Map<string, string>();
    const name = (n: string) => names.get(n) ?? n;
    const chains: Record<string, { policy: string; rules: string[] }> = {};
    for (const c of t.chains.values()) {
      if (c.name === options.recordChain) continue;
      if (options.skipChains?.get(t.name)?.includes(name(c.name))) continue;
      const rules: string[] = [];
      for (const r of c.rules) {
        if (options.skip?.has(r.line)) continue;
        let line = ` ${r.text}`.replace(ID_COMMENT, "").trim();
        const m = / -([jg]) (\S+)$/.exec(` ${line}`);
        if (m !== null && names.has(m[2]!)) {
          line = `${line.slice(0, line.length - m[2]!.length)}${name(m[2]!)}`;
        }
        rules.push(line);
      }
      const policy = options.skipPolicies?.has(`${t.name} ${c.name}`) ? "?" : c.policy;
      if (c.policy !== "-" && rules.length === 0 && (policy === "ACCEPT" || policy === "?")) {
        continue;
      }
      chains[name(c.name)] = { policy, rules };
    }
    if (Object.keys(chains).length > 0) out[t.name] = chains;
  }
  return out;
}

/** The policy without the chains no rule reaches (the engine does not write them). */
export function withoutUnreachable(result: ImportResult): Policy {
  const tables = result.policy.tables.map((t) => ({
    ...t,
    chains: t.chains.filter((c) => !result.unreachable.get(t.table)?.includes(c.name)),
  }));
  // A table left with nothing but ACCEPT policies is the kernel's default (not imported).
  return {
    ...result.policy,
    tables: tables.filter((t) =>
      t.chains.length > 0 || Object.keys(t.insertions).length > 0 ||
      Object.keys(t.appends).length > 0 || Object.values(t.policies).some((p) => p !== "ACCEPT")
    ),
  };
}

/** The lines and chain policies an import left out of one save. */
export function leftOut(
  result: ImportResult,
  source: string,
): { skip: Set<number>; skipPolicies: Set<string> } {
  const skip = new Set<number>();
  const skipPolicies = new Set<string>();
  for (const p of result.problems) {
    if (p.source !== source) continue;
    if (p.text.startsWith("-A ")) skip.add(p.line);
    else skipPolicies.add(`${p.table} ${p.chain}`);
  }
  return { skip, skipPolicies };
}
