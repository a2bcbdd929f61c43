/**
 * Snapshots of our own rules as the kernel holds them, to undo an apply or
 * roll back a failed one, even from another process (the CLI's watchdog).
 *
 * A snapshot records, per table and family, only what is ours (decided as
 * the engine decides it, `src/host/ownership.ts`): owned chains (by prefix, shown
 * to be ours by our rule IDs) with every rule in them, our rules in chains we
 * do not own (by rule ID, or a jump to an owned chain) with where they sat
 * among the foreign rules, and the policies of the built-in chains our policy
 * sets. Restoring it
 * rewrites exactly those, in one `iptables-restore --noflush` transaction per
 * table; other programs' rules are never deleted or moved.
 *
 * @module
 */
import type { ChainPolicy, IpFamily } from "./policy.ts";
import { PrefixError } from "../engine/errors.ts";
import { extractRuleId, parseSave } from "../host/save_parser.ts";
import { jumpsToOwnedChain } from "../host/ownership.ts";
import { policyRecordChain, readPolicyRecord } from "../engine/policy_record.ts";
import { isKernelChain, isTableName, type TableName } from "../../dsl/kernel_chains.ts";
import type { CommandRunner } from "../host/runner.ts";
import { IptablesCommands, type IptablesResult } from "../host/iptables_commands.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** The format version of {@linkcode Snapshot}. */
export const SNAPSHOT_VERSION = 1;

/** One of our rules in a chain we do not own, and where it sat among the foreign rules. */
export interface SnapshotRule {
  /** The rule as iptables-save printed it, without the leading `-A <chain> `. */
  rule: string;
  /** How many foreign rules came before it. */
  foreignBefore: number;
  /** How many foreign rules came after it. */
  foreignAfter: number;
}

/** An owned chain and every rule in it (as iptables-save printed them). */
export interface SnapshotChain {
  /** The chain. */
  name: string;
  /** Its rules, without the leading `-A <chain> `. */
  rules: string[];
}

/** Our part of one table in one family. */
export interface SnapshotTable {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The iptables backend it was read from (and is restored through). */
  backend: IptablesVariant;
  /** Owned chains that existed, in iptables-save order. */
  chains: SnapshotChain[];
  /** Our rules in chains we do not own, by chain. */
  foreignChainRules: Record<string, SnapshotRule[]>;
  /** Policies of the built-in chains our policy manages. */
  policies: Record<string, ChainPolicy>;
}

/** Our rules in every table and family a firewall manages, at one moment. */
export interface Snapshot {
  /** Format version ({@linkcode SNAPSHOT_VERSION}). */
  version: number;
  /** When it was taken (ISO 8601). */
  takenAt: string;
  /** The rule-ID comment prefix that marks our rules. */
  hashPrefix: string;
  /** The prefixes that mark our chains. */
  chainPrefixes: string[];
  /** One entry per table and family. */
  tables: SnapshotTable[];
}

/** What identifies our rules and chains, for reading a table. */
export interface OwnershipOptions {
  /** The rule-ID comment prefix. */
  hashPrefix: string;
  /** The owned-chain prefixes. */
  chainPrefixes: readonly string[];
}

/** Options of {@linkcode parseSnapshotTable}. */
export interface ParseSnapshotTableOptions extends OwnershipOptions {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The backend the text was read from. */
  backend: IptablesVariant;
  /**
   * Built-in chains whose policy to record (those whose policy Rampart
   * changed earlier, as its record in the kernel says, are recorded too).
   */
  policyChains?: readonly string[];
}

/**
 * A snapshot is malformed (from JSON), or could not be read or restored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotFromJson, SnapshotError } from "@rampart/iptables";
 * assert.throws(() => snapshotFromJson("{}"), (e) =>
 *   e instanceof SnapshotError && e.message === "Invalid snapshot version undefined: expected 1");
 * ```
 */
export class SnapshotError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SnapshotError";
  }
}

function isOwned(name: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => name.startsWith(p));
}

/**
 * Tells whether a saved rule line in a chain we do not own is ours: its first
 * comment is one of our IDs, or its target is one of our chains (decided on
 * its arguments, see `src/host/ownership.ts`).
 */
function isOurs(line: string, options: OwnershipOptions): boolean {
  if (extractRuleId(line, options.hashPrefix) !== undefined) return true;
  return jumpsToOwnedChain(line, (name) => isOwned(name, options.chainPrefixes));
}

/**
 * Whose each chain with our prefix is that holds no rule of ours, as the
 * engine decides it (`parseSave`). Throws a {@linkcode PrefixError} for a
 * chain of another program: restoring would delete or flush it.
 */
function chainOwnership(
  text: string,
  options: OwnershipOptions & { table: TableName; ipVersion: IpFamily },
): Map<string, "foreign" | "unknown"> {
  const out = new Map<string, "foreign" | "unknown">();
  const state = parseSave(text, {
    hashPrefix: options.hashPrefix,
    isOwnedChain: (name) => isOwned(name, options.chainPrefixes),
    chainPrefixes: options.chainPrefixes,
  });
  for (const [chain, s] of state) {
    if (s.ownership === "foreign") {
      const prefix = options.chainPrefixes.find((p) => chain.startsWith(p))!;
      throw new PrefixError(
        `Chain prefix ${JSON.stringify(prefix)} matches the chain ${chain} of table ` +
          `${options.table} (IPv${options.ipVersion}), which is not Rampart's (no rule of ours ` +
          "is in it or jumps to it), so Rampart neither snapshots nor restores this table; " +
          "choose a chain prefix that no other program's chain starts with",
        {
          field: "chainPrefixes",
          prefix,
          chain,
          table: options.table,
          ipVersion: options.ipVersion,
        },
      );
    }
    if (s.ownership !== undefined) out.set(chain, s.ownership);
  }
  return out;
}

interface SavedChain {
  policy: string;
  rules: string[];
}

/** Parses iptables-save text into chains (in order) with their policies and rule texts. */
function parseChains(text: string): Map<string, SavedChain> {
  const chains = new Map<string, SavedChain>();
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) {
      const [name = "", policy = "-"] = line.slice(1).split(" ");
      const c = chains.get(name);
      if (c === undefined) chains.set(name, { policy, rules: [] });
      else c.policy = policy;
    } else if (line.startsWith("-A ")) {
      const sp = line.indexOf(" ", 3);
      const name = sp < 0 ? line.slice(3) : line.slice(3, sp);
      const rest = sp < 0 ? "" : line.slice(sp + 1);
      let c = chains.get(name);
      if (c === undefined) {
        c = { policy: "-", rules: [] };
        chains.set(name, c);
      }
      c.rules.push(rest);
    }
  }
  return chains;
}

/**
 * Extracts our part of a table from `iptables-save -t <table>` output.
 *
 * @param text The iptables-save output.
 * @param options Ownership, table, family, backend and policy chains.
 * @returns The snapshot of that table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSnapshotTable } from "@rampart/iptables";
 * const save = [
 *   "*filter", ":INPUT DROP [0:0]", ":rp-in - [0:0]",
 *   "-A INPUT -s 10.0.0.1/32 -j ACCEPT",
 *   '-A INPUT -m comment --comment "rampart:abcdefghijklmnop" -j rp-in',
 *   "-A rp-in -p tcp -j ACCEPT", "COMMIT",
 * ].join("\n");
 * const t = parseSnapshotTable(save, {
 *   table: "filter", ipVersion: 4, backend: "nft", hashPrefix: "rampart:", chainPrefixes: ["rp-"], policyChains: ["INPUT"],
 * });
 * assert.deepEqual(t.chains, [{ name: "rp-in", rules: ["-p tcp -j ACCEPT"] }]);
 * assert.equal(t.foreignChainRules.INPUT?.[0]?.foreignBefore, 1);
 * assert.deepEqual(t.policies, { INPUT: "DROP" });
 * ```
 */
export function parseSnapshotTable(
  text: string,
  options: ParseSnapshotTableOptions,
): SnapshotTable {
  const out: SnapshotTable = {
    table: options.table,
    ipVersion: options.ipVersion,
    backend: options.backend,
    chains: [],
    foreignChainRules: {},
    policies: {},
  };
  const ownership = chainOwnership(text, options);
  const chains = parseChains(text);
  // The policies of the chains our policy sets, and of those whose policy we
  // changed earlier (the record says): an undo must put those back too.
  const recordChain = policyRecordChain(options.chainPrefixes);
  const recorded = readPolicyRecord(
    recordChain,
    options.table,
    (chains.get(recordChain)?.rules ?? []).map((r) =>
      extractRuleId(`-A ${recordChain} ${r}`, options.hashPrefix)
    ),
  );
  const policyChains = new Set([...(options.policyChains ?? []), ...recorded.keys()]);
  for (const [name, chain] of chains) {
    if (isOwned(name, options.chainPrefixes)) {
      // A chain nothing shows to be ours is not part of our rules (see `src/host/ownership.ts`).
      if (ownership.get(name) === "unknown") continue;
      out.chains.push({ name, rules: [...chain.rules] });
      continue;
    }
    const ours = chain.rules.map((r) => isOurs(`-A ${name} ${r}`, options));
    const foreignTotal = ours.filter((o) => !o).length;
    let foreignSeen = 0;
    const rules: SnapshotRule[] = [];
    chain.rules.forEach((rule, i) => {
      if (!ours[i]) {
        foreignSeen++;
        return;
      }
      rules.push({ rule, foreignBefore: foreignSeen, foreignAfter: foreignTotal - foreignSeen });
    });
    if (rules.length > 0) out.foreignChainRules[name] = rules;
    if (
      policyChains.has(name) && isKernelChain(options.table, name) &&
      (chain.policy === "ACCEPT" || chain.policy === "DROP")
    ) {
      out.policies[name] = chain.policy;
    }
  }
  return out;
}

type Slot = "top" | "bottom" | number;

function slot(r: SnapshotRule): Slot {
  if (r.foreignBefore === 0) return "top";
  if (r.foreignAfter === 0) return "bottom";
  return r.foreignBefore;
}

function sameRules(a: readonly SnapshotRule[], b: readonly SnapshotRule[]): boolean {
  return a.length === b.length &&
    a.every((r, i) => r.rule === b[i]!.rule && slot(r) === slot(b[i]!));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

/** Options of {@linkcode snapshotRestoreScript}. */
export type SnapshotRestoreOptions = OwnershipOptions;

/**
 * The `iptables-restore --noflush` script that brings the table from its
 * current state (`currentSave`, iptables-save output) back to the snapshot:
 * owned chains recreated or deleted, our rules in other chains deleted by
 * value and re-inserted where they were, chain policies reset. `""` when
 * nothing differs. Foreign rules are never touched.
 *
 * @param snapshot The table's snapshot.
 * @param currentSave The table's current iptables-save output.
 * @param options Ownership (normally the snapshot's).
 * @returns The script, or `""`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotRestoreScript } from "@rampart/iptables";
 * const snapshot = { table: "filter", ipVersion: 4, backend: "nft", chains: [], foreignChainRules: {}, policies: {} } as const;
 * const now = '*filter\n:INPUT ACCEPT [0:0]\n:rp-x - [0:0]\n-A rp-x -m comment --comment "rampart:AAAAAAAAAAAAAAAA" -j DROP\nCOMMIT\n';
 * const options = { hashPrefix: "rampart:", chainPrefixes: ["rp-"] };
 * const script = snapshotRestoreScript({ ...snapshot, chains: [] }, now, options);
 * assert.equal(script, "*filter\n:rp-x - [0:0]\n-X rp-x\nCOMMIT\n"); // the chain the snapshot does not have goes
 * ```
 */
export function snapshotRestoreScript(
  snapshot: SnapshotTable,
  currentSave: string,
  options: SnapshotRestoreOptions,
): string {
  const current = parseSnapshotTable(currentSave, {
    ...options,
    table: snapshot.table,
    ipVersion: snapshot.ipVersion,
    backend: snapshot.backend,
    policyChains: Object.keys(snapshot.policies),
  });
  const existing = parseChains(currentSave);
  const declare: string[] = [];
  const deletes: string[] = [];
  const removeChains: string[] = [];
  const adds: string[] = [];
  const wanted = new Map(snapshot.chains.map((c) => [c.name, c]));
  const have = new Map(current.chains.map((c) => [c.name, c]));
  for (const c of current.chains) {
    if (!wanted.has(c.name)) {
      declare.push(`:${c.name} - [0:0]`);
      removeChains.push(`-X ${c.name}`);
    }
  }
  for (const c of snapshot.chains) {
    const now = have.get(c.name);
    if (now !== undefined && sameList(now.rules, c.rules)) continue;
    declare.push(`:${c.name} - [0:0]`);
    for (const r of c.rules) adds.push(`-A ${c.name} ${r}`);
  }
  const policyLines: string[] = [];
  for (const [chain, policy] of Object.entries(snapshot.policies)) {
    const now = existing.get(chain);
    if (now !== undefined && now.policy !== policy) policyLines.push(`:${chain} ${policy} [0:0]`);
  }
  const foreignChains = new Set([
    ...Object.keys(current.foreignChainRules),
    ...Object.keys(snapshot.foreignChainRules),
  ]);
  for (const chain of foreignChains) {
    const now = current.foreignChainRules[chain] ?? [];
    const want = snapshot.foreignChainRules[chain] ?? [];
    if (sameRules(now, want)) continue;
    for (const r of now) deletes.push(`-D ${chain} ${r.rule}`);
    const saved = existing.get(chain);
    if (saved === undefined) continue; // the chain is gone: nowhere to put our rules back
    const foreignCount = saved.rules.length - now.length;
    let placed = 0;
    for (const r of want) {
      const s = slot(r);
      if (s === "bottom") adds.push(`-A ${chain} ${r.rule}`);
      else {
        const before = s === "top" ? 0 : Math.min(s, foreignCount);
        adds.push(`-I ${chain} ${before + placed + 1} ${r.rule}`);
        placed++;
      }
    }
  }
  const body = [...declare, ...policyLines, ...deletes, ...removeChains, ...adds];
  if (body.length === 0) return "";
  return [`*${snapshot.table}`, ...body, "COMMIT", ""].join("\n");
}

// ---- reading and restoring through a runner --------------------------------

/** Options of {@linkcode readSnapshotTable} and {@linkcode restoreSnapshotTable}. */
export interface SnapshotIoOptions extends OwnershipOptions {
  /** Runs the iptables binaries (in the right namespace). */
  runner: CommandRunner;
  /** Kill a binary that runs longer than this. @default {60000} */
  timeoutMs?: number;
}

function runBinary(
  runner: CommandRunner,
  op: "save" | "restore",
  where: { ipVersion: IpFamily; backend: IptablesVariant },
  args: string[],
  options: { stdin?: string; timeoutMs?: number },
): Promise<IptablesResult> {
  const commands = new IptablesCommands(runner, {
    ipVersion: where.ipVersion,
    backend: where.backend,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  // Legacy restore takes the xtables lock: wait for it like the engine does
  // (iptables-nft ignores the lock).
  const lockArgs = op === "restore" && where.backend === "legacy" ? ["--wait", "10"] : [];
  return commands.run(op, [...args, ...lockArgs], options.stdin);
}

/**
 * Reads `iptables-save -t <table>` for one table and family (through
 * `ip[6]tables-<backend>-save`, or the plain name when that is missing).
 *
 * @param where Table, family and backend.
 * @param options The runner and a timeout.
 * @returns The saved text.
 * @throws {SnapshotError} when iptables-save fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saveTableText } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const text = await saveTableText({ table: "raw", ipVersion: 6, backend: "nft" }, { runner: new FakeDataplane().runner });
 * assert.ok(text.includes(":PREROUTING ACCEPT"));
 * ```
 */
export async function saveTableText(
  where: { table: TableName; ipVersion: IpFamily; backend: IptablesVariant },
  options: { runner: CommandRunner; timeoutMs?: number },
): Promise<string> {
  const r = await runBinary(options.runner, "save", where, ["-t", where.table], options);
  if (r.code !== 0) {
    throw new SnapshotError(
      `${r.cmd} -t ${where.table} failed with exit code ${r.code}: ${r.stderr.trim()}`,
    );
  }
  return r.stdout;
}

/**
 * Reads one table's part of a snapshot from the kernel.
 *
 * @param where Table, family, backend and the built-in chains whose policy to record.
 * @param options Runner and ownership.
 * @returns The table's snapshot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSnapshotTable } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const t = await readSnapshotTable(
 *   { table: "filter", ipVersion: 4, backend: "nft" },
 *   { runner: fake.runner, hashPrefix: "rampart:", chainPrefixes: ["rp-"] },
 * );
 * assert.deepEqual(t.chains, []);
 * ```
 */
export async function readSnapshotTable(
  where: {
    table: TableName;
    ipVersion: IpFamily;
    backend: IptablesVariant;
    policyChains?: readonly string[];
  },
  options: SnapshotIoOptions,
): Promise<SnapshotTable> {
  const text = await saveTableText(where, options);
  return parseSnapshotTable(text, {
    ...where,
    hashPrefix: options.hashPrefix,
    chainPrefixes: options.chainPrefixes,
  });
}

/**
 * Puts one table's part of a snapshot back: reads the table, computes
 * {@linkcode snapshotRestoreScript} and writes it with
 * `iptables-restore --noflush` (re-reading and retrying up to 3 times when
 * another program changed the table in between).
 *
 * @param snapshot The table's snapshot.
 * @param options Runner and ownership.
 * @returns The script written (`""` when the table already matched).
 * @throws {SnapshotError} when iptables-restore keeps failing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { restoreSnapshotTable } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const snapshot = { table: "filter", ipVersion: 4, backend: "nft", chains: [{ name: "rp-x", rules: ["-j DROP"] }], foreignChainRules: {}, policies: {} } as const;
 * const script = await restoreSnapshotTable(
 *   { ...snapshot, chains: [{ name: "rp-x", rules: ["-j DROP"] }] },
 *   { runner: fake.runner, hashPrefix: "rampart:", chainPrefixes: ["rp-"] },
 * );
 * assert.equal(script.split("\n")[1], ":rp-x - [0:0]");
 * ```
 */
export async function restoreSnapshotTable(
  snapshot: SnapshotTable,
  options: SnapshotIoOptions,
): Promise<string> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const text = await saveTableText(snapshot, options);
    const script = snapshotRestoreScript(snapshot, text, options);
    if (script === "") return "";
    const r = await runBinary(options.runner, "restore", snapshot, ["--noflush"], {
      stdin: script,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    if (r.code === 0) return script;
    lastError = `${r.cmd} failed with exit code ${r.code}: ${r.stderr.trim()}\n${script}`;
  }
  throw new SnapshotError(
    `Could not restore the snapshot of table ${snapshot.table} (IPv${snapshot.ipVersion}): ${lastError}`,
  );
}

// ---- JSON --------------------------------------------------------------------

/**
 * Serialises a snapshot (for a file the CLI's watchdog reads).
 *
 * @param snapshot The snapshot.
 * @returns JSON text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotFromJson, snapshotToJson } from "@rampart/iptables";
 * const s = { version: 1, takenAt: "2025-01-01T00:00:00.000Z", hashPrefix: "rampart:", chainPrefixes: ["rp-"], tables: [] };
 * assert.equal(snapshotFromJson(snapshotToJson(s)).hashPrefix, "rampart:");
 * ```
 */
export function snapshotToJson(snapshot: Snapshot): string {
  return JSON.stringify(snapshot, null, 2) + "\n";
}

const SAFE_TEXT = /^[^\n\r\0]*$/;
const CHAIN = /^[^\s"'!-][^\s"']{0,27}$/;
const HASH_PREFIX = /^[A-Za-z0-9_@%+=:,./-]{1,32}$/;
const CHAIN_PREFIX = /^[A-Za-z0-9_.:@%+=-]{1,27}$/;

function bad(what: string, value: unknown, expected: string): never {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  throw new SnapshotError(`Invalid snapshot ${what} ${shown}: expected ${expected}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function ruleText(v: unknown, what: string): string {
  if (typeof v !== "string" || !SAFE_TEXT.test(v) || v.trim() !== v) {
    bad(what, v, "one rule's text on a single line");
  }
  return v;
}

function count(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    bad(what, v, "a non-negative integer");
  }
  return v;
}

/**
 * Parses and validates a snapshot written by {@linkcode snapshotToJson}.
 * Everything that will reach iptables-restore is checked: table and chain
 * names, single-line rule texts, and that every rule in a chain we do not own
 * is ours.
 *
 * @param text JSON text.
 * @returns The snapshot.
 * @throws {SnapshotError} when the text is not a valid snapshot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotFromJson } from "@rampart/iptables";
 * const s = snapshotFromJson('{"version":1,"takenAt":"x","hashPrefix":"rampart:","chainPrefixes":["rp-"],"tables":[]}');
 * assert.equal(s.tables.length, 0);
 * ```
 */
export function snapshotFromJson(text: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SnapshotError(`Invalid snapshot: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isRecord(raw)) bad("", raw, "an object");
  if (raw.version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(
      `Invalid snapshot version ${String(raw.version)}: expected ${SNAPSHOT_VERSION}`,
    );
  }
  if (typeof raw.takenAt !== "string") bad("takenAt", raw.takenAt, "a date string");
  const hashPrefix = raw.hashPrefix;
  if (typeof hashPrefix !== "string" || !HASH_PREFIX.test(hashPrefix)) {
    bad("hashPrefix", hashPrefix, "1 to 32 characters from [A-Za-z0-9_@%+=:,./-]");
  }
  const prefixes = raw.chainPrefixes;
  if (
    !Array.isArray(prefixes) ||
    !prefixes.every((p) => typeof p === "string" && CHAIN_PREFIX.test(p))
  ) {
    bad("chainPrefixes", prefixes, "a list of chain name prefixes");
  }
  if (!Array.isArray(raw.tables)) bad("tables", raw.tables, "a list");
  const ownership = { hashPrefix, chainPrefixes: prefixes as string[] };
  const tables = raw.tables.map((t: unknown, i: number): SnapshotTable => {
    const at = `tables[${i}]`;
    if (!isRecord(t)) bad(at, t, "an object");
    if (typeof t.table !== "string" || !isTableName(t.table)) {
      bad(`${at}.table`, t.table, "filter, nat, mangle or raw");
    }
    const table = t.table as TableName;
    if (t.ipVersion !== 4 && t.ipVersion !== 6) bad(`${at}.ipVersion`, t.ipVersion, "4 or 6");
    if (t.backend !== "nft" && t.backend !== "legacy") {
      bad(`${at}.backend`, t.backend, '"nft" or "legacy"');
    }
    if (!Array.isArray(t.chains)) bad(`${at}.chains`, t.chains, "a list");
    const chains = t.chains.map((c: unknown, j: number): SnapshotChain => {
      if (!isRecord(c)) bad(`${at}.chains[${j}]`, c, "an object");
      if (
        typeof c.name !== "string" || !CHAIN.test(c.name) ||
        !isOwned(c.name, ownership.chainPrefixes)
      ) {
        bad(`${at}.chains[${j}].name`, c.name, "a chain name with one of the chain prefixes");
      }
      if (!Array.isArray(c.rules)) bad(`${at}.chains[${j}].rules`, c.rules, "a list");
      return {
        name: c.name,
        rules: c.rules.map((r: unknown, k: number) =>
          ruleText(r, `${at}.chains[${j}].rules[${k}]`)
        ),
      };
    });
    if (!isRecord(t.foreignChainRules)) {
      bad(`${at}.foreignChainRules`, t.foreignChainRules, "an object");
    }
    const foreignChainRules: Record<string, SnapshotRule[]> = {};
    for (const [chain, rules] of Object.entries(t.foreignChainRules)) {
      const cat = `${at}.foreignChainRules.${chain}`;
      if (!CHAIN.test(chain) || isOwned(chain, ownership.chainPrefixes)) {
        bad(cat, chain, "the name of a chain we do not own");
      }
      if (!Array.isArray(rules)) bad(cat, rules, "a list");
      foreignChainRules[chain] = rules.map((r: unknown, k: number): SnapshotRule => {
        if (!isRecord(r)) bad(`${cat}[${k}]`, r, "an object");
        const rule = ruleText(r.rule, `${cat}[${k}].rule`);
        if (!isOurs(`-A ${chain} ${rule}`, ownership)) {
          bad(
            `${cat}[${k}].rule`,
            rule,
            "one of our rules (with our rule ID or a jump to our chain)",
          );
        }
        return {
          rule,
          foreignBefore: count(r.foreignBefore, `${cat}[${k}].foreignBefore`),
          foreignAfter: count(r.foreignAfter, `${cat}[${k}].foreignAfter`),
        };
      });
    }
    if (!isRecord(t.policies)) bad(`${at}.policies`, t.policies, "an object");
    const policies: Record<string, ChainPolicy> = {};
    for (const [chain, p] of Object.entries(t.policies)) {
      if (!isKernelChain(table, chain)) {
        bad(`${at}.policies`, chain, `a built-in chain of ${table}`);
      }
      if (p !== "ACCEPT" && p !== "DROP") bad(`${at}.policies.${chain}`, p, "ACCEPT or DROP");
      policies[chain] = p;
    }
    return {
      table,
      ipVersion: t.ipVersion,
      backend: t.backend,
      chains,
      foreignChainRules,
      policies,
    };
  });
  return {
    version: SNAPSHOT_VERSION,
    takenAt: raw.takenAt,
    hashPrefix,
    chainPrefixes: [...(prefixes as string[])],
    tables,
  };
}
