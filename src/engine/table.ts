/**
 * The table engine: keeps the desired state of one iptables table for one IP
 * family and brings the kernel in line on {@linkcode Table.apply}.
 *
 * This module holds the desired state and runs the operations one at a time;
 * the kernel is reached through a `Dataplane` (`src/engine/dataplane.ts`,
 * the iptables binaries by default), what we know of it and when to read it
 * again is `src/engine/resync.ts`, the script is decided by
 * `src/engine/planner.ts` (pure) and written by `src/engine/restore.ts`.
 *
 * ## Design
 *
 * Goals, in order, and the trade-offs between them (after Felix's table.go):
 *
 * 1. **Never break what we do not own.** Other programs (Docker, kube-proxy, an
 *    operator's own rules) share the kernel chains. We only ever delete rules
 *    that are ours, decided on the arguments of the saved line and never on
 *    its text (`src/host/ownership.ts`): the first comment's value is exactly our
 *    ID, or the target is one of our chains (or the rule matches the cleanup
 *    pattern the caller opts into). We delete them by value rather than by
 *    number (numbers race with other writers), and only create, flush or
 *    delete chains whose names carry one of our prefixes and that our rules
 *    show to be ours; a prefix that would take a built-in chain, a target or
 *    another program's chain is refused (`PrefixError`). Chain policies we
 *    change are recorded in the kernel and put back (`src/engine/policy_record.ts`).
 * 2. **Atomic, minimal writes.** Each apply is one `iptables-restore --noflush`
 *    transaction. Every rule carries an ID: by default a stable one, from the
 *    rule's own content (see `calculateStableRuleHashes`), so a longest common
 *    subsequence of the kernel's IDs and ours gives the fewest lines to write
 *    and unchanged rules keep their counters; a chain whose edit would cost
 *    more than writing it afresh is flushed and rewritten. With Felix's
 *    chained IDs (`ruleIds: "chained"`), lists are compared from the first
 *    rule that differs, keeping a common suffix.
 * 3. **Do not interpret iptables-save.** iptables-save prints rules in its
 *    own, backend-specific normalised form. We read only chain names,
 *    policies, the first comment of each rule and whether it jumps to one of
 *    our chains, splitting a line into arguments only where that is at stake
 *    (a cheap pre-filter skips the rest, `src/host/save_parser.ts`); when a rule of ours must be deleted
 *    from a shared chain we replay the saved text as `-D`.
 * 4. **Performance vs. drift detection.** Reading the dataplane costs a full
 *    iptables-save, so we trust our cache and re-read only on a refresh timer,
 *    after writes (post-write checks at exponentially growing intervals, with a
 *    floor of twice the peak save + restore time, because other programs
 *    clobber tables with save/modify/restore cycles), after a failure, or
 *    when asked (`invalidateDataplaneCache`); what changed of ours since is
 *    logged (`src/engine/resync.ts`). An apply with nothing to do runs no
 *    process at all.
 * 5. **Fail before committing.** Rules are checked against where they are
 *    placed (table, IP family, protocol dependencies, hooks) and their IP sets
 *    must exist; jumps to undefined owned chains and loops are caught before
 *    anything runs. Errors name chain and rule, instead of the reference's ten
 *    retries and a panic. The checks of chains the kernel does not have yet
 *    (a first apply) run while the script streams into iptables-restore, and
 *    a failed check kills it before its COMMIT, so nothing is written.
 * 6. **Graceful restart.** Nothing touches the kernel before the first
 *    `apply()`, so a restarted program keeps enforcing the old rules until it
 *    has loaded its whole desired state.
 *
 * Reachability is computed from the whole desired state when it changes
 * (instead of incremental reference counts): an owned chain is programmed only
 * when a path of jumps leads to it from a kernel chain.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import type { Features } from "../../dsl/features.ts";
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import {
  type HookSet,
  isKernelChain,
  KERNEL_CHAINS,
  type TableName,
} from "../../dsl/kernel_chains.ts";
import { type Chain, checkRule, type Rule, ruleComments } from "../../dsl/rule.ts";
import type { BackendDetector } from "../host/backend_detector.ts";
import { type Clock, systemClock } from "../host/clock.ts";
import type { FeatureSource } from "../host/feature_source.ts";
import { IptablesDataplane } from "../host/iptables_dataplane.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";
import type { LockRunner } from "../host/lock.ts";
import { type Logger, silentLogger } from "../host/logger.ts";
import { checkPrefixes } from "../host/ownership.ts";
import type { CommandRunner } from "../host/runner.ts";
import type { Dataplane, DataplaneState, Ownership } from "./dataplane.ts";
import { DanglingReferenceError, RestoreError, TableConfigError } from "./errors.ts";
import { IpSetGuard, ipSetNamesOf } from "./ipset_guard.ts";
import type { TableMetrics } from "./metrics.ts";
import { checkPlacement } from "./placement.ts";
import {
  type CreatedChain,
  equalLists,
  type HashedRules,
  type InsertAppendLists,
  type OwnedRules,
  streamTablePlan,
  type StreamTablePlanOptions,
  type TablePlanStream,
} from "./planner.ts";
import {
  type ChainPolicyValue,
  planPolicies,
  type PolicyPlan,
  policyRecordChain,
  policyRecordRules,
  readPolicyRecord,
} from "./policy_record.ts";
import { computeReachability, type OwnedJump, ownedJumps } from "./reachability.ts";
import { checkedScript, finishedStream, PlanWriter } from "./restore.ts";
import { Resync } from "./resync.ts";
import {
  type EngineWarning,
  type PlacementWarning,
  warningFields,
  warningKey,
} from "./warnings.ts";

export type { BackendDetector } from "../host/backend_detector.ts";
export type { LockRunner } from "../host/lock.ts";

/**
 * A concrete backend: the iptables variant a table is programmed with.
 *
 * @deprecated Use {@linkcode IptablesVariant}, which cannot be confused with
 * a dataplane that is not iptables; `Backend` stays as its alias.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Backend, IptablesVariant } from "@rampart/iptables";
 * const variant: IptablesVariant = "nft";
 * const backend: Backend = variant;
 * assert.equal(backend, "nft");
 * ```
 */
export type Backend = IptablesVariant;

/**
 * Options of {@linkcode Table}. The kernel is reached through `dataplane`;
 * without it, the table builds an {@linkcode IptablesDataplane} from
 * `backend`, `netns`, `runner`, `featureDetector`, `backendDetector`,
 * `lock`, `lockTimeoutMs`, `lockProbeIntervalMs` and `commandTimeoutMs`
 * (which must then be left out).
 */
export interface TableOptions {
  /**
   * Where the table is read and written (one instance may serve every table
   * of its family). @default {an IptablesDataplane of the options below}
   */
  dataplane?: Dataplane | undefined;
  /** IP family (the dataplane's, when one is given). @default {4} */
  ipVersion?: 4 | 6;
  /**
   * Prefix of the comment that carries each rule's ID: 1 to 32 characters
   * ending with one of `@%+=:,./` (see `hashPrefixProblem`; a `PrefixError`
   * otherwise). @default {"rampart:"}
   */
  hashPrefix?: string;
  /**
   * How rule IDs are computed: `"stable"` from each rule's own content (see
   * `calculateStableRuleHashes`), so changing, inserting or deleting one rule
   * writes about one line and every other rule keeps its counters;
   * `"chained"` as Felix does (see `calculateRuleHashes`), so a change
   * rewrites every later rule of the chain. @default {"stable"}
   */
  ruleIds?: RuleIds;
  /**
   * Chains whose names start with one of these are ours: each 1 to 22
   * characters, not the start of a built-in chain or target name (see
   * `chainPrefixProblem`), and a chain of another program that starts with
   * one makes `apply()`, `plan()` and `cleanUp()` throw a `PrefixError`.
   * @default {["rp-"]}
   */
  chainPrefixes?: readonly string[];
  /**
   * Regular expression (source) tested on the saved text of rules in chains
   * we do not own, for old rules of ours that carry no ID (a text test you
   * opt into; jumps to our chains are found without it). @default {""}
   */
  extraCleanupRegexPattern?: string;
  /** Whether our rules go above (`insert`) or below (`append`) foreign rules. @default {"insert"} */
  insertMode?: "insert" | "append";
  /** Which iptables backend to use. @default {"auto"} */
  backend?: IptablesVariant | "auto";
  /** Re-read the kernel at least this often (0: never). @default {90000} */
  refreshIntervalMs?: number;
  /** First post-write re-read delay; doubles up to an hour (clamped to ≥ 50). @default {1000} */
  postWriteIntervalMs?: number;
  /** How long iptables-restore waits for the xtables lock. @default {10000} */
  lockTimeoutMs?: number;
  /** How often the lock is probed. @default {50} */
  lockProbeIntervalMs?: number;
  /** Kill an iptables process that runs longer than this. @default {60000} */
  commandTimeoutMs?: number;
  /** Run every command inside this network namespace. */
  netns?: string | undefined;
  /** Runs the iptables binaries. @default {new DenoCommandRunner({ netns })} */
  runner?: CommandRunner | undefined;
  /** Source of host features. @default {new FeatureDetector({ runner, logger })} */
  featureDetector?: FeatureSource | undefined;
  /** Time source (injected by tests). */
  clock?: Clock | undefined;
  /** Where resyncs, retries and failures are reported. @default {silentLogger()} */
  logger?: Logger | undefined;
  /**
   * Picks the backend for `backend: "auto"`.
   * @default {detectBackend(): kube-proxy's hint chains, then rule counts, ties to `iptables --version`}
   */
  backendDetector?: BackendDetector | undefined;
  /**
   * Holds the xtables lock around restores when restore cannot take it itself
   * (legacy iptables < 1.6.2). Share one among tables, e.g. `(fn) => shared.run(fn)`.
   * @default {a SharedLock of this table on /run/xtables.lock}
   */
  lock?: LockRunner | undefined;
  /**
   * Called before each write, after the plan is known, in addition to the
   * built-in check that every ipset the rules name exists; rejecting stops
   * the write. It runs inside `apply()`, so it must not wait for this
   * table's `apply()`, `plan()` or `cleanUp()` (they run one at a time).
   */
  beforeWrite?: ((plan: PlannedWrite) => Promise<void>) | undefined;
}

/** What {@linkcode Table.check} found. */
export interface TableCheck {
  /** `apply()` would write something (the table is not in sync). */
  changed: boolean;
  /** The built-in chains whose policy that write changes, with the new policy. */
  policies: ReadonlyMap<string, "ACCEPT" | "DROP">;
}

/** What `beforeWrite` is told. */
export interface PlannedWrite {
  /** The script about to be written. */
  script: string;
  /** The owned chains being programmed. */
  chains: readonly Chain[];
  /** Rules of chains we do not own, by chain. */
  foreign: ReadonlyMap<string, readonly Rule[]>;
}

/** Retries of a write that iptables-restore refused. */
const RESTORE_RETRIES = 10;

/** The options that configure the `IptablesDataplane` a table builds when it is given none. */
const DATAPLANE_OPTIONS = [
  "backend",
  "netns",
  "runner",
  "featureDetector",
  "backendDetector",
  "lock",
  "lockTimeoutMs",
  "lockProbeIntervalMs",
  "commandTimeoutMs",
] as const;

interface RuleList {
  rules: readonly Rule[];
  hashes?: readonly string[];
  /** The hooks these rules last passed the placement checks for (see `#computePlan`). */
  placedFor?: string;
  /** The placement warnings of that check (absent: none). */
  placeWarnings?: readonly PlacementWarning[] | undefined;
  /** The IP set names these rules use (computed when they are first written). */
  ipSets?: readonly string[];
  /** The rules that jump to owned chains (for reachability). */
  jumps?: readonly OwnedJump[];
  /**
   * The list this one replaced: its IDs, placement and IP sets are reused if
   * the rules render the same.
   */
  previous?: {
    rules: readonly Rule[];
    hashes: readonly string[];
    placedFor?: string | undefined;
    placeWarnings?: readonly PlacementWarning[] | undefined;
    ipSets?: readonly string[] | undefined;
    jumps?: readonly OwnedJump[] | undefined;
  };
  /**
   * The IDs and IP sets of the list this one replaced: while the kernel holds
   * exactly those IDs, those sets are in use, so they exist (the kernel
   * refuses to destroy a set in use) and need no `ipset list`.
   */
  setsInUse?: { hashes: readonly string[]; ipSets: readonly string[] };
}

/**
 * Whether two rule lists render identically (so have the same IDs). Rebuilding
 * a whole policy (a reload) replaces every rule object: comparing the parts a
 * line is made of (the match's clauses, the action's fragment, the comments)
 * is several times cheaper than hashing the rules again, and cheaper than
 * rendering both lines; the new rules are not even rendered. Rules found
 * different may still render the same (an escaped comment, clauses split
 * differently): they are then hashed, to the same IDs.
 */
function sameRendering(a: readonly Rule[], b: readonly Rule[], features: Features): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y) continue;
    const mx = x.match, my = y.match;
    if (mx !== my) {
      if (mx === undefined || my === undefined) {
        if ((mx?.render() ?? "") !== (my?.render() ?? "")) return false;
      } else if (!mx.rendersLike(my)) return false;
    }
    if (
      x.action !== y.action &&
      (x.action?.toFragment(features) ?? "") !== (y.action?.toFragment(features) ?? "")
    ) return false;
    if (x.comment !== y.comment) {
      const cx = ruleComments(x), cy = ruleComments(y);
      if (cx.length !== cy.length) return false;
      for (let j = 0; j < cx.length; j++) if (cx[j] !== cy[j]) return false;
    }
  }
  return true;
}

/**
 * One iptables table (filter, nat, mangle or raw) of one IP family, kept in
 * line with a desired state.
 *
 * @example Programming a table on the fake dataplane
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Jump, Match, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const table = new Table("filter", { runner: fake.runner, backend: "nft" });
 * table.updateChain({ name: "rp-input", rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] });
 * table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
 * const script = await table.plan(); // what apply() would write; writes nothing
 * assert.deepEqual(script.split("\n").map((line) => line.replace(/"rampart:[\w-]{16}"/, "<id>")), [
 *   "*filter",
 *   ":rp-input - [0:0]",
 *   "-A rp-input -m comment --comment <id> -p tcp -m multiport --destination-ports 22 --jump ACCEPT",
 *   "-I INPUT -m comment --comment <id> --jump rp-input",
 *   "COMMIT",
 *   "",
 * ]);
 * await table.apply();
 * assert.equal(await table.plan(), ""); // in sync
 * ```
 */
export class Table {
  /** The table's name. */
  readonly name: TableName;
  /** The IP family. */
  readonly ipVersion: 4 | 6;

  readonly #hashPrefix: string;
  readonly #ruleIds: RuleIds;
  readonly #chainPrefixes: readonly string[];
  /** What tells our rules and chains from others' (handed to every read). */
  readonly #ownership: Ownership;
  /** Our chain that records the policies we changed (see `src/engine/policy_record.ts`). */
  readonly #recordChain: string;
  readonly #insertMode: "insert" | "append";
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #beforeWrite: ((plan: PlannedWrite) => Promise<void>) | undefined;

  // The kernel: where it is read and written, what we know of it, and how.
  readonly #dataplane: Dataplane;
  readonly #resync: Resync;
  readonly #writer: PlanWriter;

  // Desired state.
  readonly #chains = new Map<string, Chain>();
  readonly #inserts = new Map<string, RuleList>();
  readonly #appends = new Map<string, RuleList>();
  readonly #policies = new Map<string, "ACCEPT" | "DROP">();
  readonly #chainHashes = new Map<string, RuleList>();
  #desiredVersion = 1;
  #appliedVersion = 0;
  /** The last queued apply(), plan() or cleanUp() (see `#serialised`). */
  #queue: Promise<unknown> = Promise.resolve();

  readonly #metrics: TableMetrics;
  /** The warnings of the last plan or write, and their keys (each is logged once). */
  #warnings: readonly EngineWarning[] = [];
  #warned = new Set<string>();
  /**
   * The last `plan()`, for the `apply()` that follows it with nothing
   * changed or read since: that write is this plan, not computed again.
   */
  #planned:
    | { version: number; dataplane: DataplaneState; plan: TablePlanStream; guard: IpSetGuard }
    | undefined;

  /**
   * Creates a table. Nothing runs until the first {@linkcode Table.apply} or
   * {@linkcode Table.plan}.
   *
   * @param name The iptables table.
   * @param options Engine options.
   */
  constructor(name: TableName, options: TableOptions = {}) {
    if (!(name in KERNEL_CHAINS)) {
      throw new TableConfigError(
        `Invalid table ${JSON.stringify(name)}: expected filter, nat, mangle or raw`,
        { field: "name", value: name },
      );
    }
    this.name = name;
    this.ipVersion = options.ipVersion ?? options.dataplane?.ipVersion ?? 4;
    if (this.ipVersion !== 4 && this.ipVersion !== 6) {
      throw new TableConfigError(`Invalid ipVersion ${this.ipVersion}: expected 4 or 6`, {
        field: "ipVersion",
        value: this.ipVersion,
      });
    }
    this.#hashPrefix = options.hashPrefix ?? "rampart:";
    this.#ruleIds = options.ruleIds ?? "stable";
    if (this.#ruleIds !== "stable" && this.#ruleIds !== "chained") {
      throw new TableConfigError(
        `Invalid ruleIds ${JSON.stringify(this.#ruleIds)}: expected "stable" or "chained"`,
        { field: "ruleIds", value: this.#ruleIds },
      );
    }
    this.#chainPrefixes = [...(options.chainPrefixes ?? ["rp-"])];
    checkPrefixes({ chainPrefixes: this.#chainPrefixes, hashPrefix: this.#hashPrefix });
    this.#recordChain = policyRecordChain(this.#chainPrefixes);
    this.#ownership = {
      hashPrefix: this.#hashPrefix,
      chainPrefixes: this.#chainPrefixes,
      oldInsertPattern: options.extraCleanupRegexPattern
        ? new RegExp(options.extraCleanupRegexPattern)
        : undefined,
    };
    this.#insertMode = options.insertMode ?? "insert";
    if (this.#insertMode !== "insert" && this.#insertMode !== "append") {
      throw new TableConfigError(
        `Invalid insertMode ${JSON.stringify(this.#insertMode)}: expected "insert" or "append"`,
        { field: "insertMode", value: this.#insertMode },
      );
    }
    this.#clock = options.clock ?? systemClock();
    this.#logger = options.logger ?? silentLogger();
    this.#beforeWrite = options.beforeWrite;
    this.#dataplane = this.#dataplaneOf(options);
    this.#metrics = {
      table: name,
      ipVersion: this.ipVersion,
      backend: this.#dataplane.variant ?? "unknown",
      restoreCalls: 0,
      restoreErrors: 0,
      saveCalls: 0,
      saveErrors: 0,
      linesExecuted: 0,
      chains: 0,
      rules: 0,
      applies: 0,
      lastApplyDurationMs: 0,
    };
    const clock = this.#clock, logger = this.#logger;
    this.#resync = new Resync(this.#dataplane, {
      table: name,
      ownership: this.#ownership,
      refreshIntervalMs: options.refreshIntervalMs ?? 90_000,
      postWriteIntervalMs: options.postWriteIntervalMs ?? 1_000,
      metrics: this.#metrics,
      clock,
      logger,
    });
    this.#writer = new PlanWriter(this.#dataplane, {
      table: name,
      metrics: this.#metrics,
      clock,
      logger,
    });
    for (const chain of KERNEL_CHAINS[name]) this.#inserts.set(chain, { rules: [] });
  }

  /**
   * The dataplane given, or the `IptablesDataplane` the other options
   * describe (they must be left out when one is given).
   */
  #dataplaneOf(options: TableOptions): Dataplane {
    const given = options.dataplane;
    if (given !== undefined) {
      for (const field of DATAPLANE_OPTIONS) {
        if (options[field] === undefined) continue;
        throw new TableConfigError(
          `Invalid ${field} ${
            typeof options[field] === "object" || typeof options[field] === "function"
              ? `(a ${typeof options[field]})`
              : JSON.stringify(options[field])
          }: expected it left out when a dataplane is given (it configures the dataplane)`,
          { field, value: options[field] },
        );
      }
      if (given.ipVersion !== this.ipVersion) {
        throw new TableConfigError(
          `Invalid ipVersion ${this.ipVersion}: the dataplane given is IPv${given.ipVersion}`,
          { field: "ipVersion", value: this.ipVersion },
        );
      }
      return given;
    }
    const backend = options.backend ?? "auto";
    if (!["auto", "nft", "legacy"].includes(backend)) {
      throw new TableConfigError(
        `Invalid backend ${JSON.stringify(backend)}: expected "auto", "nft" or "legacy"`,
        { field: "backend", value: backend },
      );
    }
    return new IptablesDataplane({
      ipVersion: this.ipVersion,
      variant: backend,
      netns: options.netns,
      runner: options.runner,
      featureDetector: options.featureDetector,
      backendDetector: options.backendDetector,
      lock: options.lock,
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
      ...(options.lockProbeIntervalMs === undefined
        ? {}
        : { lockProbeIntervalMs: options.lockProbeIntervalMs }),
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
      logger: this.#logger,
    });
  }

  /** The backend in use, once known (after the first `apply()` or `plan()` with `"auto"`). */
  get backend(): IptablesVariant | undefined {
    return this.#dataplane.variant;
  }

  /**
   * The host features detected at the last read of the kernel (`undefined`
   * before the first `apply()`, `plan()` or `refresh()`). Rule IDs and some
   * fragments depend on them (`--random-fully`, `--nflog-size`), so anything
   * that compares this table's rules with the kernel's must use them too.
   */
  get features(): Readonly<Features> | undefined {
    return this.#resync.features;
  }

  /** How this table computes rule IDs (`ruleIds` option). */
  get ruleIds(): RuleIds {
    return this.#ruleIds;
  }

  /** Tells whether a chain name carries one of our prefixes. */
  isOwnedChain(name: string): boolean {
    for (const p of this.#chainPrefixes) if (name.startsWith(p)) return true;
    return false;
  }

  // ---- Desired state -------------------------------------------------------

  /**
   * Sets (adds or replaces) an owned chain. It is programmed once a jump from
   * a kernel chain reaches it.
   *
   * @param chain The chain; its name must start with one of `chainPrefixes`.
   * @throws {TableConfigError} for a name without the prefixes.
   * @throws {RuleError} for a malformed rule (e.g. a comment that is not a string, or holds a line break).
   */
  updateChain(chain: Chain): void {
    if (!this.isOwnedChain(chain.name)) {
      throw new TableConfigError(
        `Invalid chain.name ${JSON.stringify(chain.name)}: expected a name starting with ${
          this.#chainPrefixes.map((p) => JSON.stringify(p)).join(" or ")
        } (the table's chainPrefixes)`,
        { field: "chain.name", value: chain.name },
      );
    }
    if (chain.name === this.#recordChain) {
      throw new TableConfigError(
        `Invalid chain.name ${
          JSON.stringify(chain.name)
        }: it is reserved for Rampart's record of the chain policies it changed`,
        { field: "chain.name", value: chain.name },
      );
    }
    if (chain.name.length > 28) {
      throw new TableConfigError(
        `Invalid chain.name ${JSON.stringify(chain.name)}: expected at most 28 characters`,
        { field: "chain.name", value: chain.name },
      );
    }
    const rules = [...chain.rules];
    rules.forEach((rule, i) => checkRule(rule, `chain.rules[${i}]`));
    this.#chains.set(chain.name, { name: chain.name, rules });
    const old = this.#chainHashes.get(chain.name);
    if (old?.hashes !== undefined) {
      this.#chainHashes.set(chain.name, {
        rules,
        previous: {
          rules: old.rules,
          hashes: old.hashes,
          placedFor: old.placedFor,
          placeWarnings: old.placeWarnings,
          ipSets: old.ipSets,
          jumps: old.jumps,
        },
        ...(old.ipSets === undefined ? {} : {
          setsInUse: { hashes: old.hashes, ipSets: old.ipSets },
        }),
      });
    } else this.#chainHashes.delete(chain.name);
    this.#changed();
  }

  /**
   * Sets several owned chains.
   *
   * @param chains The chains.
   */
  updateChains(chains: readonly Chain[]): void {
    for (const chain of chains) this.updateChain(chain);
  }

  /**
   * Removes owned chains (by name); unknown names are ignored.
   *
   * @param chains The chains to remove.
   */
  removeChains(chains: readonly Chain[]): void {
    for (const chain of chains) this.removeChainByName(chain.name);
  }

  /**
   * Removes an owned chain; an unknown name is ignored. A rule that still
   * jumps to it makes the next `apply()` fail before writing.
   *
   * @param name The chain's name.
   */
  removeChainByName(name: string): void {
    if (this.#chains.delete(name)) {
      this.#chainHashes.delete(name);
      this.#changed();
    }
  }

  /**
   * Sets the rules we keep in a chain we do not own (a kernel chain such as
   * `INPUT`, or another program's chain): at the top in insert mode, after
   * the foreign rules in append mode.
   *
   * @param kernelChain The chain.
   * @param rules Our rules for it, in order.
   * @throws {RuleError} for a malformed rule (e.g. a comment that is not a string, or holds a line break).
   */
  setRuleInsertions(kernelChain: string, rules: readonly Rule[]): void {
    this.#checkForeignChain(kernelChain);
    rules.forEach((rule, i) => checkRule(rule, `rules[${i}]`));
    if (this.#replaceForeign(this.#inserts, kernelChain, rules)) {
      this.invalidateDataplaneCache(`insertions into ${kernelChain} changed`);
    }
  }

  /**
   * Sets the rules we always keep at the bottom of a chain we do not own.
   *
   * @param kernelChain The chain.
   * @param rules Our rules for it, in order.
   * @throws {RuleError} for a malformed rule (e.g. a comment that is not a string, or holds a line break).
   */
  setRuleAppends(kernelChain: string, rules: readonly Rule[]): void {
    this.#checkForeignChain(kernelChain);
    rules.forEach((rule, i) => checkRule(rule, `rules[${i}]`));
    if (this.#replaceForeign(this.#appends, kernelChain, rules)) {
      this.invalidateDataplaneCache(`appends to ${kernelChain} changed`);
    }
  }

  /**
   * Enforces a built-in chain's policy (checked for drift like rules). The
   * first time the write changes it, the policy it had is recorded in the
   * kernel (the chain `<first chain prefix>policy`); `undefined` stops
   * managing it, and the next write puts the recorded policy back.
   *
   * @param kernelChain A built-in chain of this table.
   * @param policy `"ACCEPT"` or `"DROP"`.
   */
  setChainPolicy(kernelChain: string, policy: "ACCEPT" | "DROP" | undefined): void {
    if (!isKernelChain(this.name, kernelChain)) {
      throw new TableConfigError(
        `Invalid kernelChain ${
          JSON.stringify(kernelChain)
        }: expected a built-in chain of ${this.name} (${KERNEL_CHAINS[this.name].join(", ")})`,
        { field: "kernelChain", value: kernelChain },
      );
    }
    if (policy === undefined) this.#policies.delete(kernelChain);
    else if (policy !== "ACCEPT" && policy !== "DROP") {
      throw new TableConfigError(
        `Invalid policy ${JSON.stringify(policy)}: expected "ACCEPT" or "DROP"`,
        { field: "policy", value: policy },
      );
    } else this.#policies.set(kernelChain, policy);
    this.#changed();
  }

  /** The desired owned chains, sorted by name. */
  chains(): Chain[] {
    return [...this.#chains.values()].sort((a, b) => a.name < b.name ? -1 : 1);
  }

  /** Our desired insertions into a chain we do not own. */
  insertions(kernelChain: string): readonly Rule[] {
    return this.#inserts.get(kernelChain)?.rules ?? [];
  }

  /** Our desired appends to a chain we do not own. */
  appends(kernelChain: string): readonly Rule[] {
    return this.#appends.get(kernelChain)?.rules ?? [];
  }

  /** The chain policies this table enforces. */
  policies(): ReadonlyMap<string, "ACCEPT" | "DROP"> {
    return new Map(this.#policies);
  }

  /**
   * Forgets what we know of the kernel: the next `apply()` re-reads it.
   *
   * @param reason Why (logged).
   */
  invalidateDataplaneCache(reason: string): void {
    this.#resync.invalidate(reason);
  }

  /** The table's counters and gauges. */
  metrics(): TableMetrics {
    return { ...this.#metrics };
  }

  /**
   * The warnings about the desired state found by the last `plan()` or
   * `apply()` that got as far as planning: rules the kernel accepts but that
   * cannot do what they say where they are placed (see
   * {@linkcode PlacementWarning}). Each is also logged once, at level `warn`,
   * when it first appears.
   *
   * @returns The warnings, in the order of the chains and rules.
   *
   * @example
   * ```ts
   * import { Jump, Masq, Match, Return, Table } from "@rampart/iptables";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * import assert from "node:assert/strict";
   * const table = new Table("nat", { runner: new FakeDataplane().runner, backend: "nft" });
   * table.updateChain({ name: "rp-local", rules: [{ match: Match().inInterface("docker0"), action: Return() }] });
   * table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-local") }]);
   * table.setRuleAppends("POSTROUTING", [{ match: Match().notOutInterface("docker0"), action: Masq() }]);
   * await table.apply(); // accepted, as by iptables
   * assert.deepEqual(table.warnings().map((w) => [w.chain, w.code]), [["rp-local", "never-matches"]]);
   * ```
   */
  warnings(): readonly EngineWarning[] {
    return this.#warnings;
  }

  /** Keeps the warnings of a plan, logging the ones not reported before. */
  #noteWarnings(warnings: readonly EngineWarning[]): void {
    if (warnings.length === 0 && this.#warned.size === 0) {
      this.#warnings = warnings;
      return;
    }
    const keys = new Set<string>();
    for (const w of warnings) {
      const key = warningKey(w);
      keys.add(key);
      if (!this.#warned.has(key)) this.#logger.log("warn", w.message, warningFields(w));
    }
    this.#warned = keys;
    this.#warnings = Object.freeze([...warnings]);
  }

  // ---- Applying ------------------------------------------------------------

  /**
   * Returns exactly the script `apply()` would write now, reading the kernel
   * first; `""` when the kernel is in sync. Writes nothing.
   */
  plan(): Promise<string> {
    return this.#serialised(() => this.#plan());
  }

  async #plan(): Promise<string> {
    this.invalidateDataplaneCache("plan");
    await this.#prepare();
    await this.#read();
    // The IP sets are checked as apply checks them: a plan apply would refuse
    // is not a plan.
    const guard = this.#newGuard();
    const { plan: stream, write, warnings } = this.#computePlan(guard);
    this.#guardWrites(stream, write, guard);
    const script = await checkedScript(stream, guard);
    this.#noteWarnings(warnings());
    this.#planned = {
      version: this.#desiredVersion,
      dataplane: this.#resync.state,
      plan: finishedStream(stream),
      guard,
    };
    return script;
  }

  /**
   * Runs every check `plan()` runs (placement, references, loops, IP sets)
   * and decides what `apply()` would write, without producing the script:
   * the next `apply()`, with nothing changed or read since, writes exactly
   * that, producing its lines while iptables-restore reads them (as an
   * `apply()` without `plan()` does). Reads the kernel first; writes nothing.
   *
   * @returns Whether `apply()` would write anything, and the built-in chain
   * policies it changes.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Accept, Jump, Match, Table } from "@rampart/iptables";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * const table = new Table("filter", { runner: fake.runner, backend: "nft" });
   * table.updateChain({ name: "rp-in", rules: [{ match: Match().protocol("tcp"), action: Accept() }] });
   * assert.equal((await table.check()).changed, false); // rp-in is reached from no kernel chain yet
   * table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
   * assert.equal((await table.check()).changed, true);
   * await table.apply();
   * assert.equal((await table.check()).changed, false);
   * ```
   */
  check(): Promise<TableCheck> {
    return this.#serialised(() => this.#check());
  }

  async #check(): Promise<TableCheck> {
    this.invalidateDataplaneCache("plan");
    await this.#prepare();
    await this.#read();
    const guard = this.#newGuard();
    const { plan: stream, write, warnings, policies } = this.#computePlan(guard, {
      keepScript: !this.#streamed(),
    });
    this.#guardWrites(stream, write, guard);
    // What producing the script would check, checked now: the placement of
    // every chain, and the IP sets of the chains the kernel does not have.
    const found = warnings();
    const kernel = this.#resync.state;
    for (const chain of write.chains) {
      const list = this.#chainHashes.get(chain.name);
      if (list !== undefined && !kernel.has(chain.name)) {
        guard.add(chain, this.#ipSetsOf(list));
      }
    }
    await guard.verify();
    this.#noteWarnings(found);
    this.#planned = { version: this.#desiredVersion, dataplane: kernel, plan: stream, guard };
    const changes = new Map<string, ChainPolicyValue>();
    for (const [chain, policy] of policies) {
      const now = kernel.get(chain)?.policy;
      if (now !== undefined && now !== policy) changes.set(chain, policy);
    }
    return { changed: !stream.empty, policies: changes };
  }

  /** The plan `plan()` made of this version of the desired state and of the kernel, if it is still that. */
  #takePlanned(version: number): { plan: TablePlanStream; guard: IpSetGuard } | undefined {
    const planned = this.#planned;
    this.#planned = undefined;
    if (
      planned === undefined || planned.version !== version ||
      planned.dataplane !== this.#resync.state || this.#beforeWrite !== undefined
    ) return undefined;
    // The IP sets are listed again: the write checks them as it always does.
    return { plan: planned.plan, guard: planned.guard.again() };
  }

  /**
   * Brings the kernel in line with the desired state, writing only what
   * changed in one atomic iptables-restore transaction.
   *
   * @returns The delay in milliseconds until `apply()` should be called again
   * for drift checks (0: no need).
   */
  apply(): Promise<number> {
    return this.#serialised(() => this.#apply());
  }

  /**
   * Runs `fn` after every earlier `apply()`, `plan()` and `cleanUp()` of this
   * table has finished: they read and replace the cached kernel state, so two
   * at once would each write from a state the other is changing.
   */
  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    // What the dataplane read in the background (the other backend's copy of
    // the table, for its warning) is waited for before the operation returns.
    const run = this.#queue.then(fn, fn).finally(() => this.#dataplane.settled());
    this.#queue = run.catch(() => {});
    return run;
  }

  async #apply(): Promise<number> {
    const start = this.#clock.now();
    this.#resync.checkTimers(start);
    await this.#prepare();
    let retries = RESTORE_RETRIES;
    let backoff = 1;
    for (;;) {
      if (!this.#resync.inSync) await this.#read();
      if (this.#resync.inSync && this.#appliedVersion === this.#desiredVersion) break;
      const failed = await this.#write();
      if (failed === undefined) break;
      if (failed.timedOut || retries <= 0) throw failed;
      this.#logger.log("warn", "iptables-restore failed; retrying", {
        table: this.name,
        ipVersion: this.ipVersion,
        retriesLeft: retries,
        backoffMs: backoff,
        stderr: failed.stderr.trim(),
      });
      retries--;
      await this.#clock.sleep(backoff);
      backoff *= 2;
    }
    this.#updateGauges();
    this.#metrics.applies++;
    this.#metrics.lastApplyDurationMs = this.#clock.now() - start;
    return this.#resync.nextCheckDelay(start, this.#writer.peakMs);
  }

  /**
   * Plans the desired state against the kernel's (or takes the plan `plan()`
   * or `check()` just made) and writes it, if there is anything to write.
   *
   * @returns The error of a write iptables-restore refused (to be retried
   * after a fresh read), else `undefined`.
   */
  async #write(): Promise<RestoreError | undefined> {
    // The IP sets named by the rules this script writes must exist. Only
    // those: a set named by a rule already in the kernel cannot have been
    // destroyed (the kernel refuses while it is in use), and scanning every
    // rule of a large table on each small write cost more than the write.
    // Chains the kernel does not have yet are noted as they are produced.
    // A streamed write keeps no copy of its script: on failure it is planned
    // again from the same inputs for the error report.
    const streamed = this.#streamed();
    // The version this plan is made of: a change made while the write runs
    // (updateChain() during the await) is applied by the next apply().
    const version = this.#desiredVersion;
    // Right after plan(), with nothing changed or read since: that plan.
    const planned = this.#takePlanned(version);
    const guard = planned?.guard ?? this.#newGuard();
    const { plan: stream, write, warnings } = planned === undefined
      ? this.#computePlan(guard, { keepScript: !streamed })
      : { ...planned, write: undefined, warnings: () => this.#warnings };
    if (stream.empty) {
      this.#resync.adopt(stream.drain().next);
      this.#appliedVersion = version;
      this.#noteWarnings(warnings());
      return undefined;
    }
    if (write !== undefined) {
      this.#guardWrites(stream, write, guard);
      if (this.#beforeWrite !== undefined) {
        await this.#beforeWrite({ ...write, script: await checkedScript(stream, guard) });
      }
    }
    let written;
    try {
      written = await this.#writer.write(stream, { guard, streamed });
    } catch (e) {
      if (!(e instanceof RestoreError)) throw e;
      this.#resync.restoreFailed(e);
      return e;
    }
    this.#resync.wrote(written.next);
    this.#appliedVersion = version;
    this.#noteWarnings(warnings());
    return undefined;
  }

  /** Whether writes stream their script (a `beforeWrite` hook reads it whole first). */
  #streamed(): boolean {
    return this.#dataplane.streamsScripts && this.#beforeWrite === undefined;
  }

  /** The IP-set check of one write. */
  #newGuard(): IpSetGuard {
    return new IpSetGuard(() => this.#dataplane.ipSets());
  }

  /**
   * Removes every rule and chain we own from this table, and puts back the
   * chain policies we changed (as recorded in the kernel when we first
   * changed them, see `src/engine/policy_record.ts`). Foreign rules are not touched.
   * The desired state is empty afterwards.
   */
  cleanUp(): Promise<void> {
    return this.#serialised(() => this.#cleanUp());
  }

  async #cleanUp(): Promise<void> {
    this.#chains.clear();
    this.#chainHashes.clear();
    this.#inserts.clear();
    this.#appends.clear();
    for (const chain of KERNEL_CHAINS[this.name]) this.#inserts.set(chain, { rules: [] });
    // Policies we changed go back to what they were (the record in the kernel says).
    this.#policies.clear();
    this.#changed();
    this.invalidateDataplaneCache("clean up");
    await this.#apply();
  }

  // ---- Internals -----------------------------------------------------------

  #changed(): void {
    this.#desiredVersion++;
  }

  #checkForeignChain(chain: string): void {
    if (this.isOwnedChain(chain)) {
      throw new TableConfigError(
        `Invalid kernelChain ${
          JSON.stringify(chain)
        }: it carries one of our chain prefixes; use updateChain() for chains we own`,
        { field: "kernelChain", value: chain },
      );
    }
    if (!/^[^\s"'!-][^\s"']{0,28}$/.test(chain) || chain.length > 28) {
      throw new TableConfigError(
        `Invalid kernelChain ${JSON.stringify(chain)}: expected a chain name of 1 to 28 characters`,
        { field: "kernelChain", value: chain },
      );
    }
  }

  /**
   * Sets an insert or append list; tells whether it really changed. Setting
   * the same rules again (as rebuilding a whole policy does) keeps their IDs
   * and does not force a re-read of the kernel.
   */
  #replaceForeign(lists: Map<string, RuleList>, chain: string, rules: readonly Rule[]): boolean {
    const old = lists.get(chain);
    const list: RuleList = { rules: [...rules] };
    lists.set(chain, list);
    this.#changed();
    if (
      old === undefined || !sameRendering(old.rules, list.rules, this.#resync.features ?? {})
    ) {
      return true;
    }
    if (old.hashes !== undefined) list.hashes = old.hashes;
    return false;
  }

  /** The rule list of a defined owned chain (created on first use). */
  #listOf(name: string): RuleList {
    let list = this.#chainHashes.get(name);
    if (list === undefined) {
      list = { rules: this.#chains.get(name)!.rules };
      this.#chainHashes.set(name, list);
    }
    return list;
  }

  /** Notes the IP sets of the chains a write changes (chains the kernel lacks are noted as produced). */
  #guardWrites(
    stream: TablePlanStream,
    write: Omit<PlannedWrite, "script">,
    guard: IpSetGuard,
  ): void {
    for (const name of stream.writtenChains) {
      if (this.isOwnedChain(name)) {
        const list = this.#chainHashes.get(name);
        const kernel = this.#resync.state.get(name);
        if (list === undefined || kernel === undefined) continue;
        const names = this.#ipSetsOf(list);
        const inUse = list.setsInUse;
        if (
          inUse !== undefined && equalLists(kernel.hashes, inUse.hashes) &&
          names.every((n) => inUse.ipSets.includes(n))
        ) continue;
        guard.add({ name, rules: list.rules }, names);
      } else {
        const rules = write.foreign.get(name) ?? [];
        guard.add({ name, rules }, ipSetNamesOf(rules));
      }
    }
  }

  /**
   * A jump or goto to a chain we do not own must name a chain the kernel's
   * table has (iptables-restore refuses the whole transaction otherwise):
   * checked when planning, so `plan()` finds it too.
   */
  #checkForeignTargets(reached: Iterable<string>): void {
    const kernel = this.#resync.state;
    const check = (chain: string, list: "chain" | "insert" | "append", rules: readonly Rule[]) => {
      for (let i = 0; i < rules.length; i++) {
        const action = rules[i]!.action;
        if (
          !isReferrer(action) || this.isOwnedChain(action.target) ||
          kernel.has(action.target)
        ) continue;
        throw new DanglingReferenceError(
          `Rule ${i + 1} of ${list === "chain" ? "chain" : `the ${list} list of chain`} ` +
            `"${chain}" ${
              action.kind === "Goto" ? "goes" : "jumps"
            } to chain "${action.target}", ` +
            `which the ${this.name} table (IPv${this.ipVersion}) does not have: create it first ` +
            `(it is not one of ours), or jump to a chain that exists`,
          { fromChain: chain, toChain: action.target, ruleIndex: i, list },
        );
      }
    };
    for (const [name, list] of this.#inserts) check(name, "insert", list.rules);
    for (const [name, list] of this.#appends) check(name, "append", list.rules);
    for (const name of reached) check(name, "chain", this.#chains.get(name)!.rules);
  }

  #ipSetsOf(list: RuleList): readonly string[] {
    return list.ipSets ??= ipSetNamesOf(list.rules);
  }

  /**
   * Settles a list that replaced another: if its rules render the same, it
   * takes over the old list's IDs, placement, IP sets and jumps. Runs once,
   * for whichever of reachability and hashing needs the list first.
   */
  #takeOver(list: RuleList, features: Features): void {
    const previous = list.previous;
    if (previous === undefined) return;
    delete list.previous;
    if (!sameRendering(previous.rules, list.rules, features)) return;
    list.hashes = previous.hashes;
    if (previous.placedFor !== undefined && list.placedFor === undefined) {
      list.placedFor = previous.placedFor;
      list.placeWarnings = previous.placeWarnings;
    }
    if (previous.ipSets !== undefined) list.ipSets ??= previous.ipSets;
    if (previous.jumps !== undefined) list.jumps ??= previous.jumps;
  }

  #hashed(key: string, list: RuleList, features: Features): HashedRules {
    this.#takeOver(list, features);
    list.hashes ??= calculateRuleIds(key, list.rules, { ruleIds: this.#ruleIds, features });
    return { rules: list.rules, hashes: list.hashes };
  }

  /**
   * The plan of the next write. Rules of owned chains are checked against
   * their placement (and, given a guard, their IP sets noted) when their IDs
   * are needed: at once for chains the kernel has (the planner compares
   * their IDs), and while the script is produced for chains it does not have
   * yet (a first apply), so the checks overlap iptables-restore. A failing
   * check stops the script before its COMMIT.
   */
  #computePlan(guard?: IpSetGuard, options: StreamTablePlanOptions = {}): ComputedPlan {
    const features = this.#resync.features ?? {};
    const roots = this.#roots();
    const reach = this.#reachable(roots, features);
    this.#checkForeignTargets(reach.keys());
    const foreignWarnings = this.#placeForeignLists(roots);
    const owned = this.#ownedChains(reach, features, guard);
    // Chain policies, and the record of the ones we changed (`src/engine/policy_record.ts`).
    const policies = this.#planPolicies();
    if (policies.record.size > 0) {
      const record = policyRecordRules(this.#recordChain, this.name, policies.record);
      owned.rules.set(this.#recordChain, { rules: record.rules, hashes: record.hashes });
      owned.chains.push({ name: this.#recordChain, rules: record.rules });
    }
    const foreign = this.#foreignLists(roots, features);
    // A chain with our prefix that nothing shows to be ours is left alone
    // unless we want it (see `Resync.ownedChainsToChange`).
    const isOwnedChain = this.#resync.ownedChainsToChange(owned.rules);
    this.#identifyKernelChains(owned);
    const variant = this.#dataplane.variant!;
    const plan = streamTablePlan({
      table: this.name,
      backend: variant,
      positionalEdits: variant === "legacy" || features.nftPositionalEdits === true,
      insertMode: this.#insertMode,
      hashPrefix: this.#hashPrefix,
      ruleIds: this.#ruleIds,
      features,
      owned: owned.rules,
      foreign: foreign.lists,
      policies: policies.policies,
      dataplane: this.#resync.state,
      isOwnedChain,
      // Copies: a streamed write that fails is planned again from its inputs.
      writtenLines: new Map(this.#resync.writtenLines),
      deleteByPosition: new Set(this.#resync.deleteByPosition),
    }, options);
    return {
      plan: checkingCreatedChains(plan, owned.created),
      policies: policies.policies,
      write: { chains: owned.chains, foreign: foreign.rules },
      warnings: () => {
        const all = [...foreignWarnings];
        for (const f of owned.placed) {
          const w = f();
          if (w !== undefined) all.push(...w);
        }
        return all;
      },
    };
  }

  /** The rule lists of each chain we do not own: the roots of reachability. */
  #roots(): Map<string, (readonly Rule[])[]> {
    const roots = new Map<string, (readonly Rule[])[]>();
    for (const [name, list] of this.#inserts) roots.set(name, [list.rules]);
    for (const [name, list] of this.#appends) {
      const lists = roots.get(name) ?? [];
      lists.push(list.rules);
      roots.set(name, lists);
    }
    return roots;
  }

  /** The owned chains a jump from a root reaches, with the hooks they are reached from. */
  #reachable(
    roots: ReadonlyMap<string, (readonly Rule[])[]>,
    features: Features,
  ): Map<string, HookSet> {
    const isOwned = (c: string) => this.isOwnedChain(c);
    return computeReachability({
      table: this.name,
      chains: this.#chains,
      roots,
      isOwnedChain: isOwned,
      // Kept per rule list: a plan after a one-chain change walks the jumps
      // of the table, not all of its rules.
      jumpsOf: (name) => {
        const list = this.#listOf(name);
        this.#takeOver(list, features);
        return list.jumps ??= ownedJumps(list.rules, isOwned);
      },
    });
  }

  /** Checks the placement of our rules in chains we do not own; returns the warnings. */
  #placeForeignLists(roots: ReadonlyMap<string, unknown>): EngineWarning[] {
    const place = { table: this.name, ipVersion: this.ipVersion, backend: this.#dataplane.variant };
    const warnings: EngineWarning[] = [];
    for (const chain of roots.keys()) {
      const hooks = isKernelChain(this.name, chain) ? new Set([chain]) : null;
      this.#inserts.get(chain)?.rules.forEach((rule, i) => {
        const w = checkPlacement(rule, { ...place, chain, list: "insert", ruleIndex: i, hooks });
        if (w.length > 0) warnings.push(...w);
      });
      this.#appends.get(chain)?.rules.forEach((rule, i) => {
        const w = checkPlacement(rule, { ...place, chain, list: "append", ruleIndex: i, hooks });
        if (w.length > 0) warnings.push(...w);
      });
    }
    return warnings;
  }

  /**
   * The reachable owned chains, by name: their rules for the planner (with
   * the IDs known so far for chains the kernel lacks; {@linkcode
   * Table.#identifyKernelChains} adds those of the others), their placement
   * checks, and the checks of the chains the kernel lacks, run as their
   * lines are produced.
   */
  #ownedChains(
    reach: ReadonlyMap<string, HookSet>,
    features: Features,
    guard: IpSetGuard | undefined,
  ): OwnedChains {
    const owned: OwnedChains = {
      rules: new Map(),
      chains: [],
      placed: [],
      inKernel: new Map(),
      created: new Map(),
    };
    const kernel = this.#resync.state;
    const where = { table: this.name, ipVersion: this.ipVersion, backend: this.#dataplane.variant };
    for (const name of [...reach.keys()].sort()) {
      const chain = this.#chains.get(name)!;
      const list = this.#listOf(name);
      const placeChain = placementCheck(list, { ...where, chain: name }, reach.get(name)!);
      owned.placed.push(() => {
        // A chain the planner did not need IDs of is checked here (settled
        // first, as hashing does: it may take over the placement it replaced).
        this.#takeOver(list, features);
        return placeChain();
      });
      if (kernel.has(name)) {
        owned.rules.set(name, { rules: list.rules });
        owned.inKernel.set(name, () => {
          // Hashing first: a list that renders like the one it replaced takes
          // over its IDs, placement and IP sets.
          const { hashes } = this.#hashed(name, list, features);
          placeChain();
          return hashes;
        });
      } else {
        this.#takeOver(list, features);
        owned.rules.set(name, { rules: list.rules, hashes: list.hashes });
        owned.created.set(name, (hashes) => {
          list.hashes ??= hashes;
          placeChain();
          guard?.add(chain, this.#ipSetsOf(list));
        });
      }
      owned.chains.push(chain);
    }
    return owned;
  }

  /**
   * The IDs of the owned chains the kernel has, with their placement
   * checked, in name order: the planner compares them with the kernel's.
   */
  #identifyKernelChains(owned: OwnedChains): void {
    for (const [name, identify] of owned.inKernel) owned.rules.get(name)!.hashes = identify();
  }

  /** Our rules in each chain we do not own, with their IDs, for the planner and `beforeWrite`. */
  #foreignLists(
    roots: ReadonlyMap<string, unknown>,
    features: Features,
  ): { lists: Map<string, InsertAppendLists>; rules: Map<string, readonly Rule[]> } {
    const lists = new Map<string, InsertAppendLists>();
    const rules = new Map<string, readonly Rule[]>();
    for (const name of roots.keys()) {
      const ins = this.#inserts.get(name) ?? { rules: [] };
      const app = this.#appends.get(name) ?? { rules: [] };
      lists.set(name, {
        inserts: this.#hashed(name, ins, features),
        appends: this.#hashed(`${name}*appends*`, app, features),
      });
      rules.set(name, [...ins.rules, ...app.rules]);
    }
    return { lists, rules };
  }

  /** The policies to write and the record to keep, from the desired state and the kernel's. */
  #planPolicies(): PolicyPlan {
    const state = this.#resync.state;
    const kernel = new Map<string, string>();
    for (const chain of KERNEL_CHAINS[this.name]) {
      const policy = state.get(chain)?.policy;
      if (policy !== undefined) kernel.set(chain, policy);
    }
    const ids = state.get(this.#recordChain)?.hashes ?? [];
    return planPolicies({
      table: this.name,
      desired: this.#policies,
      kernel,
      recorded: readPolicyRecord(this.#recordChain, this.name, ids),
    });
  }

  #updateGauges(): void {
    let rules = 0;
    for (const list of this.#chainHashes.values()) rules += list.rules.length;
    for (const list of this.#inserts.values()) rules += list.rules.length;
    for (const list of this.#appends.values()) rules += list.rules.length;
    this.#metrics.chains = KERNEL_CHAINS[this.name].length + this.#chainHashes.size;
    this.#metrics.rules = rules;
  }

  /** Settles what the dataplane must know before a read (the backend, on the first one). */
  async #prepare(): Promise<void> {
    await this.#dataplane.prepare(this.name, this.#ownership);
    this.#metrics.backend = this.#dataplane.variant ?? "unknown";
  }

  /** Reads the kernel; the desired state must then be planned again. */
  async #read(): Promise<void> {
    const { featuresChanged } = await this.#resync.read();
    if (featuresChanged) {
      // Rule IDs depend on the features: every one is computed again.
      for (const list of this.#chainHashes.values()) {
        delete list.hashes;
        delete list.previous;
      }
      for (const list of this.#inserts.values()) delete list.hashes;
      for (const list of this.#appends.values()) delete list.hashes;
    }
    // The cache now reflects the kernel: a plan must be computed again.
    this.#appliedVersion = 0;
  }
}

/** What {@linkcode Table}'s `#computePlan` gives. */
interface ComputedPlan {
  /** The plan, its created chains checked as they are produced. */
  plan: TablePlanStream;
  /** What `beforeWrite` is told (without the script). */
  write: Omit<PlannedWrite, "script">;
  /** The plan's warnings (call once the plan is drained, or to check every chain now). */
  warnings: () => EngineWarning[];
  /** The policy each built-in chain has after the write. */
  policies: ReadonlyMap<string, ChainPolicyValue>;
}

/** The reachable owned chains of a plan, as the planner and the checks see them. */
interface OwnedChains {
  /** Their rules, and IDs where known, for the planner. */
  rules: Map<string, OwnedRules>;
  /** The chains, for `beforeWrite`. */
  chains: Chain[];
  /** Each chain's placement check, for the warnings. */
  placed: (() => readonly PlacementWarning[] | undefined)[];
  /** For each chain the kernel has, in name order: its IDs, computed with its placement checked. */
  inKernel: Map<string, () => readonly string[]>;
  /** For each chain the kernel lacks: its checks, given the IDs it is written with. */
  created: Map<string, (hashes: readonly string[]) => void>;
}

/**
 * The placement check of an owned chain's rules, run again only when its
 * rules or the hooks reaching it changed: re-checking every rule of a large
 * table on each plan cost more than the plan itself.
 */
function placementCheck(
  list: RuleList,
  where: Omit<Parameters<typeof checkPlacement>[1], "list" | "ruleIndex" | "hooks">,
  hooks: HookSet,
): () => readonly PlacementWarning[] | undefined {
  const placedFor = hooks === null ? "*" : [...hooks].sort().join(",");
  return () => {
    if (list.placedFor !== placedFor) {
      const at = { ...where, list: "chain" as const, ruleIndex: 0, hooks };
      let found: PlacementWarning[] | undefined;
      for (let i = 0; i < list.rules.length; i++) {
        at.ruleIndex = i;
        const w = checkPlacement(list.rules[i]!, at);
        if (w.length > 0) (found ??= []).push(...w);
      }
      list.placedFor = placedFor;
      list.placeWarnings = found;
    }
    return list.placeWarnings;
  };
}

/**
 * The plan's stream with each chain the kernel lacks checked (`check`,
 * given the IDs it is written with) before the chunk that holds its first
 * line is handed out, and before the whole plan is.
 */
function checkingCreatedChains(
  stream: TablePlanStream,
  checks: ReadonlyMap<string, (hashes: readonly string[]) => void>,
): TablePlanStream {
  let checked = 0;
  const catchUp = () => {
    const created = stream.createdChains;
    while (checked < created.length) {
      const { name, hashes }: CreatedChain = created[checked++]!;
      checks.get(name)?.(hashes);
    }
  };
  return {
    empty: stream.empty,
    writtenChains: stream.writtenChains,
    createdChains: stream.createdChains,
    chunks: {
      *[Symbol.iterator]() {
        for (const chunk of stream.chunks) {
          catchUp();
          yield chunk;
        }
      },
    },
    finish() {
      const plan = stream.finish();
      catchUp();
      return plan;
    },
    drain() {
      const done = stream.drain();
      catchUp();
      return done;
    },
  };
}
