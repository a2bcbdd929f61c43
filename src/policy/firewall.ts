/**
 * A firewall: one {@linkcode Table} per table and IP family, driven by one
 * {@linkcode Policy}, applied in a safe order with rollback.
 *
 * @module
 */
import type { RuleIds } from "../../dsl/hash.ts";
import { autoDetectBackend } from "../host/backend_detector.ts";
import type { FeatureSource } from "../host/feature_source.ts";
import type { ApplyJournal } from "./journal.ts";
import { KERNEL_CHAINS, TABLE_NAMES, type TableName } from "../../dsl/kernel_chains.ts";
import { type Logger, silentLogger } from "../host/logger.ts";
import { checkPrefixes } from "../host/ownership.ts";
import {
  emptyPolicy,
  type IpFamily,
  type Policy,
  PolicyError,
  policyForFamily,
  validatePolicy,
} from "./policy.ts";
import { type CommandRunner, DenoCommandRunner } from "../host/runner.ts";
import { SharedReads } from "../host/shared_reads.ts";
import {
  readSnapshotTable,
  restoreSnapshotTable,
  type Snapshot,
  SNAPSHOT_VERSION,
  type SnapshotTable,
} from "./snapshot.ts";
import { type BackendDetector, Table, type TableOptions } from "../engine/table.ts";
import type { EngineWarning } from "../engine/warnings.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** Table options a {@linkcode Firewall} passes through to every table it creates. */
export type FirewallTableOptions = Omit<
  TableOptions,
  | "ipVersion"
  | "hashPrefix"
  | "ruleIds"
  | "chainPrefixes"
  | "insertMode"
  | "backend"
  | "netns"
  | "runner"
  | "logger"
  | "featureDetector"
>;

/** Options of {@linkcode Firewall}. */
export interface FirewallOptions {
  /** Run every command inside this network namespace. */
  netns?: string;
  /** Which iptables backend to use. @default {"auto"} */
  backend?: IptablesVariant | "auto";
  /** Prefix of the comment that carries each rule's ID. @default {"rampart:"} */
  hashPrefix?: string;
  /** How every table computes rule IDs (see `TableOptions.ruleIds`). @default {"stable"} */
  ruleIds?: RuleIds;
  /** Chains whose names start with one of these are ours. @default {["rp-"]} */
  chainPrefixes?: readonly string[];
  /** Whether our rules go above (`insert`) or below (`append`) foreign rules. @default {"insert"} */
  insertMode?: "insert" | "append";
  /** Runs the iptables binaries. @default {new DenoCommandRunner({ netns })} */
  runner?: CommandRunner;
  /** Where progress and problems are reported. @default {silentLogger()} */
  logger?: Logger;
  /** The families this firewall manages. @default {[4, 6]} */
  ipVersions?: readonly IpFamily[];
  /** Source of host features, shared by every table. */
  featureDetector?: FeatureSource;
  /** Further options for every table (timings, clock, lock, …). */
  tableOptions?: FirewallTableOptions;
  /**
   * Where `apply()` records its intent (the tables it writes and the snapshot
   * that undoes them) before writing, so that a crash in the middle can be
   * detected and finished or rolled back by a later run. @default {none}
   */
  journal?: ApplyJournal;
}

/** One table's script in a {@linkcode FirewallPlan}. */
export interface TablePlanEntry {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The exact iptables-restore script apply would write; `""` when in sync. */
  script: string;
}

/** What {@linkcode Firewall.plan} returns: one entry per managed table, in apply order. */
export interface FirewallPlan {
  /** The tables, in the order apply writes them. */
  tables: TablePlanEntry[];
  /** The warnings of every table (each names its table and family), in the same order. */
  warnings: EngineWarning[];
}

/** One table's outcome in a {@linkcode FirewallApplyResult}. */
export interface TableApplyEntry {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** Whether anything was written. */
  changed: boolean;
  /** How many script lines were written. */
  linesWritten: number;
}

/** What {@linkcode Firewall.apply} returns. */
export interface FirewallApplyResult {
  /** Every managed table, in apply order. */
  tables: TableApplyEntry[];
  /** Call `apply()` again after this many milliseconds for drift checks (0: no need). */
  rescheduleAfterMs: number;
  /** Our rules as they were before this apply (absent with `snapshot: false`); restore it to undo. */
  previous?: Snapshot;
  /** The policy of the previous successful apply, if any (set it again to undo). */
  previousPolicy?: Policy;
  /** The warnings of every table (each names its table and family), in apply order. */
  warnings: EngineWarning[];
}

/** A step of {@linkcode Firewall.apply}, reported through `onProgress`. */
export type FirewallProgressEvent =
  | { type: "snapshot"; tables: number }
  | { type: "table-start"; table: TableName; ipVersion: IpFamily; index: number; total: number }
  | {
    type: "table-done";
    table: TableName;
    ipVersion: IpFamily;
    index: number;
    total: number;
    changed: boolean;
    linesWritten: number;
  }
  | { type: "table-failed"; table: TableName; ipVersion: IpFamily; error: unknown }
  | { type: "rollback-start"; tables: { table: TableName; ipVersion: IpFamily }[] }
  | { type: "rollback-done"; tables: { table: TableName; ipVersion: IpFamily }[] };

/** Options of {@linkcode Firewall.apply}. */
export interface FirewallApplyOptions {
  /** Called at each step. */
  onProgress?(event: FirewallProgressEvent): void;
  /** Take a snapshot first so a failure can be rolled back. @default {true} */
  snapshot?: boolean;
}

/** Options of {@linkcode Firewall.restoreSnapshot}. */
export interface RestoreSnapshotOptions {
  /** Only these tables of the snapshot. */
  tables?: readonly { table: TableName; ipVersion: IpFamily }[];
}

/**
 * A table failed to apply and putting the tables already applied back to
 * their previous state failed too. `cause` is the apply error,
 * `rollbackError` the restore error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FirewallRollbackError } from "@rampart/iptables";
 * const e = new FirewallRollbackError(new Error("apply"), new Error("restore"));
 * assert.equal(e.message, "Apply failed (apply) and the rollback failed too (restore)");
 * ```
 */
export class FirewallRollbackError extends Error {
  /** Why the rollback failed. */
  readonly rollbackError: unknown;

  /**
   * Creates the error.
   *
   * @param cause The apply error.
   * @param rollbackError The rollback error.
   */
  constructor(cause: unknown, rollbackError: unknown) {
    super(
      `Apply failed (${errorText(cause)}) and the rollback failed too (${
        errorText(rollbackError)
      })`,
      { cause },
    );
    this.name = "FirewallRollbackError";
    this.rollbackError = rollbackError;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The default backend choice: the variant plain `iptables --version` reports (as `Table`). */
function key(table: TableName, ipVersion: IpFamily): string {
  return `${table}/${ipVersion}`;
}

/**
 * Keeps a whole {@linkcode Policy} (several tables, both families) in the
 * kernel. Each table and family is its own `Table` (its own
 * iptables-restore transaction); `apply()` writes them in a safe order (raw,
 * mangle, nat, filter; IPv4 then IPv6) and, if one fails, puts the ones
 * already written back as they were before.
 *
 * @example Applying a policy on the fake dataplane
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Firewall, Jump, Masq, Match, tablePolicy } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const firewall = new Firewall({ runner: fake.runner, backend: "nft", ipVersions: [4] });
 * firewall.setPolicy({
 *   ipVersions: [4],
 *   tables: [
 *     tablePolicy("filter", {
 *       chains: [{ name: "rp-input", rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] }],
 *       insertions: { INPUT: [{ action: Jump("rp-input") }] },
 *     }),
 *     tablePolicy("nat", { appends: { POSTROUTING: [{ match: Match().outInterface("eth0"), action: Masq() }] } }),
 *   ],
 * });
 * const plan = await firewall.plan(); // nothing written yet
 * assert.deepEqual(plan.tables.map((t) => `${t.table}: ${t.script.split("\n").length} lines`), [
 *   "nat: 4 lines",
 *   "filter: 6 lines",
 * ]);
 * await firewall.apply();
 * const again = await firewall.plan();
 * assert.ok(again.tables.every((t) => t.script === ""));
 * ```
 */
export class Firewall {
  readonly #options: FirewallOptions;
  /** The runner, sharing one save per family between the reads of one operation. */
  readonly #runner: SharedReads;
  readonly #logger: Logger;
  readonly #ipVersions: readonly IpFamily[];
  readonly #hashPrefix: string;
  readonly #chainPrefixes: readonly string[];
  readonly #tables = new Map<string, Table>();
  readonly #backends = new Map<IpFamily, Promise<IptablesVariant>>();
  #policy: Policy;
  #appliedPolicy: Policy | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Creates a firewall. Nothing runs until `plan()`, `apply()`,
   * `snapshot()` or `cleanUp()`.
   *
   * @param options Namespace, backend, ownership, families and table options.
   * @throws {PrefixError} when a chain or hash prefix cannot be used (see `checkPrefixes`).
   */
  constructor(options: FirewallOptions = {}) {
    this.#options = options;
    this.#runner = new SharedReads(
      options.runner ??
        new DenoCommandRunner(options.netns === undefined ? {} : { netns: options.netns }),
    );
    this.#logger = options.logger ?? silentLogger();
    this.#ipVersions = [...new Set<IpFamily>(options.ipVersions ?? [4, 6])].sort();
    for (const v of this.#ipVersions) {
      if (v !== 4 && v !== 6) {
        throw new TypeError(`Invalid ipVersion ${String(v)}: expected 4 or 6`);
      }
    }
    this.#hashPrefix = options.hashPrefix ?? "rampart:";
    this.#chainPrefixes = [...(options.chainPrefixes ?? ["rp-"])];
    checkPrefixes({ chainPrefixes: this.#chainPrefixes, hashPrefix: this.#hashPrefix });
    this.#policy = emptyPolicy([...this.#ipVersions]);
  }

  /** The families this firewall manages. */
  get ipVersions(): readonly IpFamily[] {
    return this.#ipVersions;
  }

  /** How the tables compute rule IDs (`ruleIds` option). */
  get ruleIds(): RuleIds {
    return this.#options.ruleIds ?? "stable";
  }

  /** The runner every command goes through. */
  get runner(): CommandRunner {
    return this.#runner;
  }

  /**
   * The `Table` for one table and family, created on first use.
   *
   * @param name The table.
   * @param ipVersion The family.
   * @returns The table.
   */
  table(name: TableName, ipVersion: IpFamily): Table {
    const k = key(name, ipVersion);
    let t = this.#tables.get(k);
    if (t === undefined) {
      const o = this.#options;
      const options: TableOptions = {
        ...o.tableOptions,
        ipVersion,
        hashPrefix: this.#hashPrefix,
        chainPrefixes: this.#chainPrefixes,
        runner: this.#runner,
        logger: this.#logger,
        backendDetector: (opts) => this.#backend(opts.ipVersion),
      };
      if (o.insertMode !== undefined) options.insertMode = o.insertMode;
      if (o.ruleIds !== undefined) options.ruleIds = o.ruleIds;
      if (o.backend !== undefined) options.backend = o.backend;
      if (o.featureDetector !== undefined) options.featureDetector = o.featureDetector;
      t = new Table(name, options);
      this.#tables.set(k, t);
    }
    return t;
  }

  /**
   * Replaces the desired state of every table with the policy's. Tables the
   * policy leaves out (and families it is not for) lose all our rules on the
   * next `apply()`; chain policies it no longer sets go back to what they were
   * before Rampart changed them.
   *
   * @param policy The new policy.
   * @throws {PolicyError} when the policy is inconsistent, names a chain without our prefixes, or
   * asks for another rule-ID scheme than the firewall's `ruleIds`.
   */
  setPolicy(policy: Policy): void {
    validatePolicy(policy, { chainPrefixes: this.#chainPrefixes });
    if (policy.ruleIds !== undefined && policy.ruleIds !== this.ruleIds) {
      throw new PolicyError(
        `The policy asks for ${policy.ruleIds} rule IDs but this firewall computes ${this.ruleIds} ` +
          `ones: create the Firewall with ruleIds: ${JSON.stringify(policy.ruleIds)}`,
        { path: "ruleIds", value: policy.ruleIds },
      );
    }
    for (const v of this.#ipVersions) {
      const wanted = new Map(policyForFamily(policy, v).map((t) => [t.table, t]));
      for (const name of TABLE_NAMES) {
        const desired = wanted.get(name);
        if (desired === undefined && !this.#tables.has(key(name, v))) continue;
        const table = this.table(name, v);
        const chains = desired?.chains ?? [];
        const names = new Set(chains.map((c) => c.name));
        for (const c of table.chains()) if (!names.has(c.name)) table.removeChainByName(c.name);
        table.updateChains(chains);
        for (const k of KERNEL_CHAINS[name]) {
          table.setRuleInsertions(k, desired?.insertions[k] ?? []);
          table.setRuleAppends(k, desired?.appends[k] ?? []);
        }
        // A policy no longer set goes back to what it was before we changed it
        // (the table's record in the kernel says, see `src/engine/policy_record.ts`).
        const policies = desired?.policies ?? {};
        for (const [k] of table.policies()) {
          if (policies[k] === undefined) table.setChainPolicy(k, undefined);
        }
        for (const [k, p] of Object.entries(policies)) table.setChainPolicy(k, p);
      }
    }
    this.#policy = policy;
  }

  /**
   * The warnings of every managed table's last `plan()` or `apply()`, in
   * apply order (see `Table.warnings()`).
   *
   * @returns The warnings; each names its table and family.
   */
  warnings(): EngineWarning[] {
    return this.#ordered().flatMap((t) => [...t.warnings()]);
  }

  /** The desired policy (the last one given to `setPolicy`; empty at first). */
  policy(): Policy {
    return this.#policy;
  }

  /** The managed tables in apply order: raw, mangle, nat, filter; IPv4 then IPv6. */
  #ordered(): Table[] {
    const out: Table[] = [];
    for (const v of this.#ipVersions) {
      for (const name of TABLE_NAMES) {
        const t = this.#tables.get(key(name, v));
        if (t !== undefined) out.push(t);
      }
    }
    return out;
  }

  #backend(ipVersion: IpFamily): Promise<IptablesVariant> {
    const requested = this.#options.backend;
    if (requested === "nft" || requested === "legacy") return Promise.resolve(requested);
    let p = this.#backends.get(ipVersion);
    if (p === undefined) {
      const detector: BackendDetector = this.#options.tableOptions?.backendDetector ??
        autoDetectBackend;
      p = detector({
        runner: this.#runner,
        ipVersion,
        hashPrefix: this.#hashPrefix,
        logger: this.#logger,
      });
      p.catch(() => this.#backends.delete(ipVersion));
      this.#backends.set(ipVersion, p);
    }
    return p;
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * The exact script each managed table's apply would write now (reads the
   * kernel; writes nothing).
   *
   * @returns One entry per managed table, in apply order.
   */
  plan(): Promise<FirewallPlan> {
    return this.#serialised(() =>
      this.#runner.during(async () => {
        const tables: TablePlanEntry[] = [];
        const warnings: EngineWarning[] = [];
        for (const t of this.#ordered()) {
          tables.push({ table: t.name, ipVersion: t.ipVersion, script: await t.plan() });
          warnings.push(...t.warnings());
        }
        return { tables, warnings };
      })
    );
  }

  /**
   * Applies every managed table in order (raw, mangle, nat, filter; IPv4 then
   * IPv6). A snapshot of our rules is taken first; if a table fails, the
   * tables already applied and the failing one are restored from it, and the
   * error is rethrown (a {@linkcode FirewallRollbackError} if the rollback
   * fails too). With a `journal`, the intent (tables and snapshot) is
   * recorded before the first write and cleared once every table is applied
   * or rolled back; a failure that is not rolled back keeps it.
   *
   * @param options Progress callback; `snapshot: false` skips the snapshot (and the rollback).
   * @returns What changed, when to re-apply, and the snapshot taken before.
   */
  apply(options: FirewallApplyOptions = {}): Promise<FirewallApplyResult> {
    return this.#serialised(() => this.#runner.during(() => this.#apply(options)));
  }

  async #apply(options: FirewallApplyOptions): Promise<FirewallApplyResult> {
    const progress = (e: FirewallProgressEvent) => {
      try {
        options.onProgress?.(e);
      } catch (err) {
        this.#logger.log("warn", "onProgress callback threw", { error: errorText(err) });
      }
    };
    const tables = this.#ordered();
    let previous: Snapshot | undefined;
    if (options.snapshot !== false) {
      progress({ type: "snapshot", tables: tables.length });
      previous = await this.#snapshot(
        tables.map((t) => ({ table: t.name, ipVersion: t.ipVersion })),
      );
    }
    const result: FirewallApplyResult = { tables: [], rescheduleAfterMs: 0, warnings: [] };
    if (previous !== undefined) result.previous = previous;
    if (this.#appliedPolicy !== undefined) result.previousPolicy = this.#appliedPolicy;
    const journal = this.#options.journal;
    // Durable before the first write: a rejection aborts with nothing written.
    await journal?.begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: tables.map((t) => ({ table: t.name, ipVersion: t.ipVersion })),
      ...(previous === undefined ? {} : { snapshot: previous }),
    });
    const touched: { table: TableName; ipVersion: IpFamily }[] = [];
    for (const [index, t] of tables.entries()) {
      const where = { table: t.name, ipVersion: t.ipVersion };
      progress({ type: "table-start", ...where, index, total: tables.length });
      const before = t.metrics().linesExecuted;
      touched.push(where);
      let delay: number;
      try {
        delay = await t.apply();
      } catch (error) {
        progress({ type: "table-failed", ...where, error });
        this.#logger.log("error", "apply failed; rolling back", {
          table: t.name,
          ipVersion: t.ipVersion,
          error: errorText(error),
        });
        if (previous === undefined) {
          await this.#journal("fail", () => journal?.fail(errorText(error)));
          throw error;
        }
        progress({ type: "rollback-start", tables: [...touched] });
        try {
          await this.#restore(previous, touched);
        } catch (rollbackError) {
          const e = new FirewallRollbackError(error, rollbackError);
          await this.#journal("fail", () => journal?.fail(e.message));
          throw e;
        }
        progress({ type: "rollback-done", tables: [...touched] });
        await this.#journal("end", () => journal?.end("rolled-back"));
        throw error;
      }
      await this.#journal("tableDone", () => journal?.tableDone(where));
      const linesWritten = t.metrics().linesExecuted - before;
      const entry = { ...where, changed: linesWritten > 0, linesWritten };
      result.tables.push(entry);
      result.warnings.push(...t.warnings());
      progress({ type: "table-done", ...entry, index, total: tables.length });
      if (delay > 0 && (result.rescheduleAfterMs === 0 || delay < result.rescheduleAfterMs)) {
        result.rescheduleAfterMs = delay;
      }
    }
    this.#appliedPolicy = this.#policy;
    await this.#journal("end", () => journal?.end("applied"));
    return result;
  }

  /** Calls the journal after tables were written: a failure is logged, not thrown. */
  async #journal(step: string, call: () => Promise<void> | undefined): Promise<void> {
    try {
      await call();
    } catch (e) {
      this.#logger.log("warn", "the apply journal failed", { step, error: errorText(e) });
    }
  }

  /**
   * Reads our own rules from the kernel, for every table and managed family:
   * owned chains (by prefix), our rules in other chains (by rule ID), and the
   * policies of the built-in chains the desired policy sets.
   *
   * @returns The snapshot.
   */
  snapshot(): Promise<Snapshot> {
    return this.#serialised(() => {
      const all: { table: TableName; ipVersion: IpFamily }[] = [];
      for (const v of this.#ipVersions) {
        for (const name of TABLE_NAMES) all.push({ table: name, ipVersion: v });
      }
      return this.#runner.during(() => this.#snapshot(all));
    });
  }

  async #snapshot(which: readonly { table: TableName; ipVersion: IpFamily }[]): Promise<Snapshot> {
    const tables: SnapshotTable[] = [];
    for (const { table, ipVersion } of which) {
      const managed = this.#tables.get(key(table, ipVersion));
      const policyChains = new Set<string>(managed === undefined ? [] : managed.policies().keys());
      for (const t of policyForFamily(this.#policy, ipVersion)) {
        if (t.table === table) { for (const k of Object.keys(t.policies)) policyChains.add(k); }
      }
      tables.push(
        await readSnapshotTable(
          {
            table,
            ipVersion,
            backend: await this.#backend(ipVersion),
            policyChains: [...policyChains],
          },
          {
            runner: this.#runner,
            hashPrefix: this.#hashPrefix,
            chainPrefixes: this.#chainPrefixes,
          },
        ),
      );
    }
    return {
      version: SNAPSHOT_VERSION,
      takenAt: new Date().toISOString(),
      hashPrefix: this.#hashPrefix,
      chainPrefixes: [...this.#chainPrefixes],
      tables,
    };
  }

  /**
   * Puts our rules back exactly as in the snapshot (owned chains, our rules
   * in other chains at their places, recorded chain policies). Other
   * programs' rules are never touched. The desired state is not changed: set
   * the previous policy too (`previousPolicy` of the apply result) to keep
   * the kernel there.
   *
   * @param snapshot A snapshot from {@linkcode Firewall.snapshot} or an apply result.
   * @param options Only some of its tables.
   */
  restoreSnapshot(snapshot: Snapshot, options: RestoreSnapshotOptions = {}): Promise<void> {
    return this.#serialised(() => this.#restore(snapshot, options.tables));
  }

  async #restore(
    snapshot: Snapshot,
    only?: readonly { table: TableName; ipVersion: IpFamily }[],
  ): Promise<void> {
    const wanted = only === undefined
      ? undefined
      : new Set(only.map((w) => key(w.table, w.ipVersion)));
    const tables = snapshot.tables.filter((t) => wanted?.has(key(t.table, t.ipVersion)) ?? true);
    // Reverse apply order: filter first, so that accept rules come back before anything else.
    tables.sort((a, b) =>
      a.ipVersion - b.ipVersion || TABLE_NAMES.indexOf(b.table) - TABLE_NAMES.indexOf(a.table)
    );
    let firstError: unknown;
    for (const t of tables) {
      try {
        await restoreSnapshotTable(t, {
          runner: this.#runner,
          hashPrefix: snapshot.hashPrefix,
          chainPrefixes: snapshot.chainPrefixes,
        });
      } catch (e) {
        firstError ??= e;
        this.#logger.log("error", "restoring a snapshot table failed", {
          table: t.table,
          ipVersion: t.ipVersion,
          error: errorText(e),
        });
      }
      this.#tables.get(key(t.table, t.ipVersion))?.invalidateDataplaneCache("snapshot restored");
    }
    if (firstError !== undefined) throw firstError;
  }

  /**
   * Removes every rule and chain we own from all four tables of every managed
   * family (chain policies we changed go back to what they were before); nothing else is
   * touched. The desired policy is empty afterwards.
   */
  cleanUp(): Promise<void> {
    return this.#serialised(async () => {
      for (const v of this.#ipVersions) {
        for (const name of [...TABLE_NAMES].reverse()) await this.table(name, v).cleanUp();
      }
      this.#policy = emptyPolicy([...this.#ipVersions]);
      this.#appliedPolicy = this.#policy;
    });
  }
}
