/**
 * The other iptables backend's copy of a table. iptables-nft and
 * iptables-legacy program separate rule sets that the kernel runs one after
 * the other, so rules in the backend a table does not use (ferm writing
 * legacy tables while `backend: "auto"` chose nft, say) still filter every
 * packet, and nothing in the chosen backend shows them. `Table` reads the
 * other backend once and warns when it holds anything.
 *
 * @module
 */
import type { CommandRunner } from "./runner.ts";
import { extractRuleId } from "./save_parser.ts";
import type { IptablesVariant } from "./iptables_variant.ts";

/** What the other backend's copy of a table holds. */
export interface OtherBackendTable {
  /** The backend read. */
  backend: IptablesVariant;
  /** Its rules. */
  rules: number;
  /** How many of them carry our rule ID. */
  ourRules: number;
  /** Its user chains. */
  chains: string[];
  /** Its built-in chains whose policy is not ACCEPT, with the policy. */
  policies: Record<string, string>;
}

/**
 * Summarises `iptables-save -t <table>` output of the other backend.
 *
 * @param text The saved text.
 * @param hashPrefix Our ID comment prefix.
 * @returns What it holds (the `backend` field is left to the caller).
 */
export function summariseTable(
  text: string,
  hashPrefix: string,
): Omit<OtherBackendTable, "backend"> {
  const out = {
    rules: 0,
    ourRules: 0,
    chains: [] as string[],
    policies: {} as Record<string, string>,
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("-A ")) {
      out.rules++;
      if (extractRuleId(line, hashPrefix) !== undefined) out.ourRules++;
    } else if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(" ");
      if (policy === "-") out.chains.push(name);
      else if (policy !== "ACCEPT") out.policies[name] = policy;
    }
  }
  return out;
}

/** Options of {@linkcode readOtherBackend}. */
export interface ReadOtherBackendOptions {
  /** The table. */
  table: string;
  /** The family. */
  ipVersion: 4 | 6;
  /** The backend the table uses (the other one is read). */
  backend: IptablesVariant;
  /** Our ID comment prefix. */
  hashPrefix: string;
  /** Kill the save after this long. */
  timeoutMs: number;
}

/**
 * Reads the other backend's copy of a table, through its own binary only
 * (`ip[6]tables-legacy-save` or `ip[6]tables-nft-save`; the unsuffixed
 * fallback could be either). A legacy table is read only when
 * `/proc/net/ip[6]_tables_names` lists it: reading it otherwise would create
 * it. `undefined` when the other backend holds nothing there, or cannot be
 * read (its binary is missing).
 *
 * @param runner Runs commands in the table's namespace.
 * @param options Table, family, backend in use, prefix and timeout.
 * @returns What it holds, or `undefined`.
 */
export async function readOtherBackend(
  runner: CommandRunner,
  options: ReadOtherBackendOptions,
): Promise<OtherBackendTable | undefined> {
  const other = options.backend === "nft" ? "legacy" : "nft";
  const family = options.ipVersion === 6 ? "ip6tables" : "iptables";
  if (other === "legacy") {
    const names = `/proc/net/ip${options.ipVersion === 6 ? "6" : ""}_tables_names`;
    const r = await runner.run("cat", ["--", names], { timeoutMs: options.timeoutMs });
    if (r.code !== 0 || !r.stdout.split("\n").includes(options.table)) return undefined;
  }
  const r = await runner.run(`${family}-${other}-save`, ["-t", options.table], {
    timeoutMs: options.timeoutMs,
  });
  if (r.code !== 0) return undefined;
  const found = summariseTable(r.stdout, options.hashPrefix);
  if (found.rules === 0 && found.chains.length === 0 && Object.keys(found.policies).length === 0) {
    return undefined;
  }
  return { backend: other, ...found };
}

/**
 * The warning for what the other backend holds.
 *
 * @param found What it holds.
 * @param options The backend the table uses, and the family.
 * @returns One sentence.
 */
export function otherBackendWarning(
  found: OtherBackendTable,
  options: { inUse: IptablesVariant; ipVersion: 4 | 6 },
): string {
  const parts: string[] = [];
  if (found.rules > 0) {
    parts.push(
      `${found.rules} rule${found.rules === 1 ? "" : "s"} (${
        found.ourRules === 0 ? "none" : found.ourRules
      } of them Rampart's)`,
    );
  }
  if (found.chains.length > 0) {
    const shown = found.chains.slice(0, 5).join(", ") + (found.chains.length > 5 ? ", …" : "");
    parts.push(`chain${found.chains.length === 1 ? "" : "s"} ${shown}`);
  }
  const policies = Object.entries(found.policies).map(([c, p]) => `${c} ${p}`);
  if (policies.length > 0) {
    parts.push(`polic${policies.length === 1 ? "y" : "ies"} ${policies.join(", ")}`);
  }
  const family = options.ipVersion === 6 ? "ip6tables" : "iptables";
  return `${family}-${found.backend} also holds ${parts.join(", ")} in this table, while ` +
    `Rampart uses ${family}-${options.inUse}: the kernel runs both rule sets, so a packet ` +
    `must pass both (inspect them with '${family}-${found.backend}-save')`;
}
