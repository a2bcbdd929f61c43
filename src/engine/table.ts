/**
 * The table engine: keeps the desired state of one iptables table for one IP
 * family and brings the kernel in line on {@linkcode Table.apply}.
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
 *    (a cheap pre-filter skips the rest); when a rule of ours must be deleted
 *    from a shared chain we replay the saved text as `-D`.
 * 4. **Performance vs. drift detection.** Reading the dataplane costs a full
 *    iptables-save, so we trust our cache and re-read only on a refresh timer,
 *    after writes (post-write checks at exponentially growing intervals, with a
 *    floor of twice the peak save + restore time, because other programs
 *    clobber tables with save/modify/restore cycles), after a failure, or
 *    when asked (`invalidateDataplaneCache`). An apply with nothing to do runs
 *    no process at all.
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
import { type Chain, checkRule, type Rule, ruleComments } from "../../dsl/rule.ts";
import { type Clock, systemClock } from "../host/clock.ts";
import {
  DanglingReferenceError,
  PrefixError,
  RestoreError,
  SaveError,
  TableConfigError,
} from "./errors.ts";
import { autoDetectBackend } from "../host/backend_detector.ts";
import { FeatureDetector } from "../host/feature_detector.ts";
import type { FeatureSource } from "../host/feature_source.ts";
import { IpSetGuard, ipSetNamesOf } from "./ipset_guard.ts";
import { restoreLockArgs, SharedLock } from "../host/lock.ts";
import { isKernelChain, KERNEL_CHAINS, type TableName } from "../../dsl/kernel_chains.ts";
import { type Logger, silentLogger } from "../host/logger.ts";
import type { TableMetrics } from "./metrics.ts";
import { otherBackendWarning, readOtherBackend } from "../host/other_backend.ts";
import { checkPrefixes, ruleIdOf } from "../host/ownership.ts";
import { checkPlacement } from "./placement.ts";
import {
  type ChainPolicyValue,
  planPolicies,
  type PolicyPlan,
  policyRecordChain,
  policyRecordRules,
  readPolicyRecord,
} from "./policy_record.ts";
import {
  equalLists,
  type HashedRules,
  type InsertAppendLists,
  type LazyHashedRules,
  streamTablePlan,
  type StreamTablePlanOptions,
  type TablePlan,
  type TablePlanStream,
} from "./planner.ts";
import { computeReachability, type OwnedJump, ownedJumps } from "./reachability.ts";
import { type CommandRunner, DenoCommandRunner } from "../host/runner.ts";
import { IptablesCommands, type IptablesResult } from "../host/iptables_commands.ts";
import type { DataplaneState } from "./dataplane.ts";
import { AmbiguousSaveError, OLD_INSERT_RULE, parseSave } from "../host/save_parser.ts";
import {
  type EngineWarning,
  type PlacementWarning,
  warningFields,
  warningKey,
} from "./warnings.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

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

/** Chooses the backend when `backend: "auto"`. */
export type BackendDetector = (options: {
  runner: CommandRunner;
  ipVersion: 4 | 6;
  hashPrefix: string;
  logger: Logger;
}) => Promise<IptablesVariant>;

/** Runs a function while holding the xtables lock (used when restore cannot lock itself). */
export type LockRunner = <T>(fn: () => Promise<T>) => Promise<T>;

/** Options of {@linkcode Table}. */
export interface TableOptions {
  /** IP family. @default {4} */
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

const MAX_POST_WRITE_MS = 3_600_000;
const MIN_POST_WRITE_MS = 50;
const SAVE_RETRIES = 3;
const RESTORE_RETRIES = 10;

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

/** The `# Generated by …` line of a save's output (near its start), if it printed one. */
function saveHeader(stdout: string): string | undefined {
  const at = stdout.indexOf("# Generated by ");
  if (at < 0 || at > 1024 || (at > 0 && stdout[at - 1] !== "\n")) return undefined;
  const end = stdout.indexOf("\n", at);
  return stdout.slice(at, end < 0 ? stdout.length : end);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * One iptables table (filter, nat, mangle or raw) of one IP family, kept in
 * line with a desired state.
 *
 * @example Programming a table on the fake dataplane
 * ```ts
 * import { Accept, Jump, Match, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const table = new Table("filter", { runner: fake.runner, backend: "nft" });
 * table.updateChain({ name: "rp-input", rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] });
 * table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
 * console.log(await table.plan());
 * await table.apply();
 * console.log(await table.plan()); // "" (in sync)
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
  /** Our chain that records the policies we changed (see `src/engine/policy_record.ts`). */
  readonly #recordChain: string;
  readonly #oldInsertPattern: RegExp | undefined;
  readonly #insertMode: "insert" | "append";
  readonly #requestedBackend: IptablesVariant | "auto";
  readonly #refreshIntervalMs: number;
  readonly #initialPostWriteMs: number;
  readonly #lockTimeoutMs: number;
  readonly #lockProbeIntervalMs: number;
  readonly #commandTimeoutMs: number;
  readonly #runner: CommandRunner;
  readonly #features: FeatureSource;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #backendDetector: BackendDetector;
  #lock: LockRunner | undefined;
  readonly #beforeWrite: ((plan: PlannedWrite) => Promise<void>) | undefined;

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

  // Dataplane cache and schedule.
  #backend: IptablesVariant | undefined;
  #commands: IptablesCommands | undefined;
  #dataplane: DataplaneState = new Map();
  #inSync = false;
  #currentFeatures: Features | undefined;
  #featuresKey = "";
  #lastReadTime = Number.NEGATIVE_INFINITY;
  #lastWriteTime: number;
  #postWriteIntervalMs: number;
  #peakSaveMs = 0;
  #peakRestoreMs = 0;
  /** Text of our rules in chains we do not own, by "<chain> <id>" (for deleting by value). */
  readonly #writtenLines = new Map<string, string>();
  /** Whether the other backend was read for the warning (see `#checkOtherBackend`). */
  #otherBackendChecked = false;
  /** The other backend's read while it runs (awaited when the operation ends, not before). */
  #otherBackendRead: Promise<void> | undefined;
  /** The header of the last save read (it names the binaries' version). */
  #saveHeader: string | undefined;
  /** Chains left alone as not shown to be ours, already warned about (see `#leaveUnknownChains`). */
  readonly #warnedUnknown = new Set<string>();
  /** Chains whose rules of ours are deleted by number on the next write (see `apply`). */
  readonly #deleteByPosition = new Set<string>();
  /**
   * Saved lines that read as jumps to one of our chains, without our ID, and
   * that deleting by their text failed: another program's rules whose text
   * does not parse back to them (`-i "x -j rp-in"` is printed `-i x -j rp-in`),
   * read as foreign from then on (see `#isMisreadJump`).
   */
  readonly #misreadJumps = new Set<string>();
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
    this.ipVersion = options.ipVersion ?? 4;
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
    this.#oldInsertPattern = options.extraCleanupRegexPattern
      ? new RegExp(options.extraCleanupRegexPattern)
      : undefined;
    this.#insertMode = options.insertMode ?? "insert";
    if (this.#insertMode !== "insert" && this.#insertMode !== "append") {
      throw new TableConfigError(
        `Invalid insertMode ${JSON.stringify(this.#insertMode)}: expected "insert" or "append"`,
        { field: "insertMode", value: this.#insertMode },
      );
    }
    this.#requestedBackend = options.backend ?? "auto";
    if (!["auto", "nft", "legacy"].includes(this.#requestedBackend)) {
      throw new TableConfigError(
        `Invalid backend ${
          JSON.stringify(this.#requestedBackend)
        }: expected "auto", "nft" or "legacy"`,
        { field: "backend", value: this.#requestedBackend },
      );
    }
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 90_000;
    this.#initialPostWriteMs = Math.max(options.postWriteIntervalMs ?? 1_000, MIN_POST_WRITE_MS);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#lockProbeIntervalMs = options.lockProbeIntervalMs ?? 50;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 60_000;
    this.#runner = options.runner ??
      new DenoCommandRunner(options.netns === undefined ? {} : { netns: options.netns });
    this.#clock = options.clock ?? systemClock();
    this.#logger = options.logger ?? silentLogger();
    this.#features = options.featureDetector ??
      new FeatureDetector({ runner: this.#runner, logger: this.#logger });
    this.#backendDetector = options.backendDetector ?? autoDetectBackend;
    this.#lock = options.lock;
    this.#beforeWrite = options.beforeWrite;
    this.#lastWriteTime = this.#clock.now();
    this.#postWriteIntervalMs = this.#initialPostWriteMs;
    if (this.#requestedBackend !== "auto") this.#backend = this.#requestedBackend;
    this.#metrics = {
      table: name,
      ipVersion: this.ipVersion,
      backend: this.#backend ?? "unknown",
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
    for (const chain of KERNEL_CHAINS[name]) this.#inserts.set(chain, { rules: [] });
  }

  /** The backend in use, once known (after the first `apply()` or `plan()` with `"auto"`). */
  get backend(): IptablesVariant | undefined {
    return this.#backend;
  }

  /**
   * The host features detected at the last read of the kernel (`undefined`
   * before the first `apply()`, `plan()` or `refresh()`). Rule IDs and some
   * fragments depend on them (`--random-fully`, `--nflog-size`), so anything
   * that compares this table's rules with the kernel's must use them too.
   */
  get features(): Readonly<Features> | undefined {
    return this.#currentFeatures;
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
    if (this.#inSync) {
      this.#logger.log("debug", "dataplane cache invalidated", {
        table: this.name,
        ipVersion: this.ipVersion,
        reason,
      });
    }
    this.#inSync = false;
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
    await this.#ensureBackend();
    await this.#loadDataplane();
    // The IP sets are checked as apply checks them: a plan apply would refuse
    // is not a plan.
    const guard = new IpSetGuard(this.#runner, { timeoutMs: this.#commandTimeoutMs });
    const { plan: stream, write, warnings } = this.#computePlan(guard);
    this.#guardWrites(stream, write, guard);
    const script = await checkedScript(stream, guard);
    this.#noteWarnings(warnings());
    this.#planned = {
      version: this.#desiredVersion,
      dataplane: this.#dataplane,
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
   * import { Accept, Match, Table } from "@rampart/iptables";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * const table = new Table("filter", { runner: fake.runner, backend: "nft" });
   * table.updateChain({ name: "rp-in", rules: [{ match: Match().protocol("tcp"), action: Accept() }] });
   * console.log((await table.check()).changed); // true
   * await table.apply();
   * console.log((await table.check()).changed); // false
   * ```
   */
  check(): Promise<TableCheck> {
    return this.#serialised(() => this.#check());
  }

  async #check(): Promise<TableCheck> {
    this.invalidateDataplaneCache("plan");
    await this.#ensureBackend();
    await this.#loadDataplane();
    const guard = new IpSetGuard(this.#runner, { timeoutMs: this.#commandTimeoutMs });
    const streamed = this.#runner.streamsStdin === true && this.#beforeWrite === undefined;
    const { plan: stream, write, warnings, policies } = this.#computePlan(guard, {
      keepScript: !streamed,
    });
    this.#guardWrites(stream, write, guard);
    // What producing the script would check, checked now: the placement of
    // every chain, and the IP sets of the chains the kernel does not have.
    const found = warnings();
    for (const chain of write.chains) {
      const list = this.#chainHashes.get(chain.name);
      if (list !== undefined && !this.#dataplane.has(chain.name)) {
        guard.add(chain, this.#ipSetsOf(list));
      }
    }
    await guard.verify();
    this.#noteWarnings(found);
    this.#planned = {
      version: this.#desiredVersion,
      dataplane: this.#dataplane,
      plan: stream,
      guard,
    };
    const changes = new Map<string, ChainPolicyValue>();
    for (const [chain, policy] of policies) {
      const now = this.#dataplane.get(chain)?.policy;
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
      planned.dataplane !== this.#dataplane || this.#beforeWrite !== undefined
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
    const run = this.#queue.then(fn, fn).finally(() => this.#otherBackendDone());
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Waits for the other backend's read (its warning is logged before the operation returns). */
  async #otherBackendDone(): Promise<void> {
    const read = this.#otherBackendRead;
    this.#otherBackendRead = undefined;
    await read;
  }

  async #apply(): Promise<number> {
    const start = this.#clock.now();
    const now = start;
    // ">=" (the reference has ">"): an apply called exactly when the refresh is
    // due must refresh, or it would return 0 ("never call again").
    if (this.#refreshIntervalMs > 0 && now - this.#lastReadTime >= this.#refreshIntervalMs) {
      this.invalidateDataplaneCache("refresh timer");
    }
    let invalidated = false;
    while (
      this.#postWriteIntervalMs < MAX_POST_WRITE_MS &&
      now >= this.#lastWriteTime + this.#postWriteIntervalMs
    ) {
      this.#postWriteIntervalMs *= 2;
      if (!invalidated) {
        this.invalidateDataplaneCache("post-write check");
        invalidated = true;
      }
    }
    await this.#ensureBackend();
    let retries = RESTORE_RETRIES;
    let backoff = 1;
    for (;;) {
      if (!this.#inSync) await this.#loadDataplane();
      if (this.#inSync && this.#appliedVersion === this.#desiredVersion) break;
      // The IP sets named by the rules this script writes must exist. Only
      // those: a set named by a rule already in the kernel cannot have been
      // destroyed (the kernel refuses while it is in use), and scanning every
      // rule of a large table on each small write cost more than the write.
      // Chains the kernel does not have yet are noted as they are produced.
      // A streamed write keeps no copy of its script: on failure it is planned
      // again from the same inputs for the error report.
      const streamed = this.#runner.streamsStdin === true && this.#beforeWrite === undefined;
      // The version this plan is made of: a change made while the write runs
      // (updateChain() during the await) is applied by the next apply().
      const version = this.#desiredVersion;
      // Right after plan(), with nothing changed or read since: that plan.
      const planned = this.#takePlanned(version);
      const guard = planned?.guard ??
        new IpSetGuard(this.#runner, { timeoutMs: this.#commandTimeoutMs });
      const { plan: stream, write, warnings } = planned === undefined
        ? this.#computePlan(guard, { keepScript: !streamed })
        : { ...planned, write: undefined, warnings: () => this.#warnings };
      if (stream.empty) {
        this.#dataplane = stream.drain().next;
        this.#appliedVersion = version;
        this.#noteWarnings(warnings());
        break;
      }
      if (write !== undefined) this.#guardWrites(stream, write, guard);
      if (this.#beforeWrite !== undefined && write !== undefined) {
        await this.#beforeWrite({ ...write, script: await checkedScript(stream, guard) });
      }
      let plan: Pick<TablePlan, "next" | "lineCount">;
      try {
        plan = await this.#restore(stream, guard, streamed);
      } catch (e) {
        if (!(e instanceof RestoreError)) throw e;
        this.#inSync = false;
        if (e.timedOut) throw e;
        // A delete by value failed: iptables-save printed the rule in a form
        // that does not parse back to it (e.g. `--icmp-type 255/3` is saved as
        // `--icmp-type any`). Retry that chain with positional deletes (after
        // the fresh read every retry makes).
        const failedLine = e.failedLineText ?? "";
        const failed = /^-D (\S+) (?!\d+$)/.exec(failedLine)?.[1];
        if (failed !== undefined && !this.isOwnedChain(failed)) {
          if (this.#isMisreadJump(failed, `-A ${failedLine.slice(3)}`)) {
            this.#misreadJumps.add(`-A ${failedLine.slice(3)}`);
            this.#logger.log(
              "warn",
              `left alone a rule of chain ${failed} that reads as a jump to one of our chains ` +
                "but is not one (deleting it by the text iptables-save printed failed, as for a " +
                "rule whose interface name holds a space): " + failedLine.slice(4 + failed.length),
              { table: this.name, ipVersion: this.ipVersion, chain: failed },
            );
          } else this.#deleteByPosition.add(failed);
        }
        if (retries <= 0) throw e;
        this.#logger.log("warn", "iptables-restore failed; retrying", {
          table: this.name,
          ipVersion: this.ipVersion,
          retriesLeft: retries,
          backoffMs: backoff,
          stderr: e.stderr.trim(),
        });
        retries--;
        await this.#clock.sleep(backoff);
        backoff *= 2;
        continue;
      }
      this.#rememberWrittenLines(plan.next);
      this.#deleteByPosition.clear();
      this.#dataplane = plan.next;
      this.#appliedVersion = version;
      this.#noteWarnings(warnings());
      this.#lastWriteTime = this.#clock.now();
      this.#postWriteIntervalMs = this.#initialPostWriteMs;
      break;
    }
    this.#postWriteIntervalMs = Math.max(
      this.#postWriteIntervalMs,
      2 * (this.#peakSaveMs + this.#peakRestoreMs),
    );
    this.#updateGauges();
    this.#metrics.applies++;
    this.#metrics.lastApplyDurationMs = this.#clock.now() - start;
    let reschedule = 0;
    if (this.#refreshIntervalMs > 0) {
      reschedule = Math.max(1, this.#refreshIntervalMs - (now - this.#lastReadTime));
    }
    if (this.#postWriteIntervalMs < MAX_POST_WRITE_MS) {
      const due = this.#lastWriteTime + this.#postWriteIntervalMs - now;
      if (due <= 0) reschedule = 1;
      else if (this.#refreshIntervalMs <= 0 || due < reschedule) reschedule = due;
    }
    return reschedule;
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
      old === undefined || !sameRendering(old.rules, list.rules, this.#currentFeatures ?? {})
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
        const kernel = this.#dataplane.get(name);
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
    const check = (chain: string, list: "chain" | "insert" | "append", rules: readonly Rule[]) => {
      for (let i = 0; i < rules.length; i++) {
        const action = rules[i]!.action;
        if (
          !isReferrer(action) || this.isOwnedChain(action.target) ||
          this.#dataplane.has(action.target)
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
   * their placement (and, given a guard, their IP sets noted) when the
   * planner needs their IDs: at once for chains the kernel has, and while the
   * script is produced for chains it does not have yet (a first apply), so
   * the checks overlap iptables-restore. A failing check stops the script
   * before its COMMIT.
   */
  #computePlan(
    guard?: IpSetGuard,
    options: StreamTablePlanOptions = {},
  ): {
    plan: TablePlanStream;
    write: Omit<PlannedWrite, "script">;
    /** The plan's warnings (call once the plan is drained, or to check every chain now). */
    warnings: () => EngineWarning[];
    /** The policy each built-in chain has after the write. */
    policies: ReadonlyMap<string, ChainPolicyValue>;
  } {
    const features = this.#currentFeatures ?? {};
    const roots = new Map<string, (readonly Rule[])[]>();
    for (const [name, list] of this.#inserts) roots.set(name, [list.rules]);
    for (const [name, list] of this.#appends) {
      const lists = roots.get(name) ?? [];
      lists.push(list.rules);
      roots.set(name, lists);
    }
    const isOwned = (c: string) => this.isOwnedChain(c);
    const reach = computeReachability({
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
    this.#checkForeignTargets(reach.keys());
    const place = { table: this.name, ipVersion: this.ipVersion, backend: this.#backend };
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
    const placed: (() => readonly PlacementWarning[] | undefined)[] = [];
    const owned = new Map<string, LazyHashedRules>();
    const ownedChains: Chain[] = [];
    for (const name of [...reach.keys()].sort()) {
      const chain = this.#chains.get(name)!;
      const list = this.#listOf(name);
      // Checked again only when the chain's rules or the hooks reaching it
      // changed: re-checking every rule of a large table on each plan cost
      // more than the plan itself.
      const hooks = reach.get(name)!;
      const placedFor = hooks === null ? "*" : [...hooks].sort().join(",");
      const hashedList = list;
      const isNew = !this.#dataplane.has(name);
      const placeChain = () => {
        if (hashedList.placedFor !== placedFor) {
          const where = { ...place, chain: name, list: "chain" as const, ruleIndex: 0, hooks };
          let found: PlacementWarning[] | undefined;
          for (let i = 0; i < chain.rules.length; i++) {
            where.ruleIndex = i;
            const w = checkPlacement(chain.rules[i]!, where);
            if (w.length > 0) (found ??= []).push(...w);
          }
          hashedList.placedFor = placedFor;
          hashedList.placeWarnings = found;
        }
        return hashedList.placeWarnings;
      };
      placed.push(() => {
        // A chain the planner did not need IDs of is checked here (settled
        // first, as hashing does: it may take over the placement it replaced).
        this.#takeOver(hashedList, features);
        return placeChain();
      });
      owned.set(name, {
        rules: hashedList.rules,
        hash: () => {
          // Hashing first: a list that renders like the one it replaced takes
          // over its IDs, placement and IP sets.
          const hashes = this.#hashed(name, hashedList, features).hashes;
          placeChain();
          if (isNew) guard?.add(chain, this.#ipSetsOf(hashedList));
          return hashes;
        },
      });
      ownedChains.push(chain);
    }
    // Chain policies, and the record of the ones we changed (`src/engine/policy_record.ts`).
    const policies = this.#planPolicies();
    if (policies.record.size > 0) {
      const record = policyRecordRules(this.#recordChain, this.name, policies.record);
      owned.set(this.#recordChain, { rules: record.rules, hash: () => record.hashes });
      ownedChains.push({ name: this.#recordChain, rules: record.rules });
    }
    const foreign = new Map<string, InsertAppendLists>();
    const foreignRules = new Map<string, readonly Rule[]>();
    for (const name of roots.keys()) {
      const ins = this.#inserts.get(name) ?? { rules: [] };
      const app = this.#appends.get(name) ?? { rules: [] };
      foreign.set(name, {
        inserts: this.#hashed(name, ins, features),
        appends: this.#hashed(`${name}*appends*`, app, features),
      });
      foreignRules.set(name, [...ins.rules, ...app.rules]);
    }
    const plan = streamTablePlan({
      table: this.name,
      backend: this.#backend!,
      positionalEdits: this.#backend === "legacy" || features.nftPositionalEdits === true,
      insertMode: this.#insertMode,
      hashPrefix: this.#hashPrefix,
      ruleIds: this.#ruleIds,
      features,
      owned,
      foreign,
      policies: policies.policies,
      dataplane: this.#dataplane,
      // A chain with our prefix that nothing shows to be ours is left alone
      // unless we want it (see `#leaveUnknownChains`).
      isOwnedChain: this.#leaveUnknownChains(owned, isOwned),
      // Copies: a streamed write that fails is planned again from its inputs.
      writtenLines: new Map(this.#writtenLines),
      deleteByPosition: new Set(this.#deleteByPosition),
    }, options);
    return {
      plan,
      policies: policies.policies,
      write: { chains: ownedChains, foreign: foreignRules },
      warnings: () => {
        const all = [...warnings];
        for (const f of placed) {
          const w = f();
          if (w !== undefined) all.push(...w);
        }
        return all;
      },
    };
  }

  /** The policies to write and the record to keep, from the desired state and the kernel's. */
  #planPolicies(): PolicyPlan {
    const kernel = new Map<string, string>();
    for (const chain of KERNEL_CHAINS[this.name]) {
      const policy = this.#dataplane.get(chain)?.policy;
      if (policy !== undefined) kernel.set(chain, policy);
    }
    const ids = this.#dataplane.get(this.#recordChain)?.hashes ?? [];
    return planPolicies({
      table: this.name,
      desired: this.#policies,
      kernel,
      recorded: readPolicyRecord(this.#recordChain, this.name, ids),
    });
  }

  /**
   * Chains with our prefix that are empty and that nothing jumps to
   * (`ownership: "unknown"`): nothing says whose they are. One we want (a
   * chain of ours that `iptables -F` emptied, say) is ours to fill again;
   * any other is left alone, as another program's, with a warning once.
   */
  #leaveUnknownChains(
    wanted: ReadonlyMap<string, unknown>,
    isOwned: (name: string) => boolean,
  ): (name: string) => boolean {
    const leave = new Set<string>();
    for (const [name, chain] of this.#dataplane) {
      if (chain.ownership !== "unknown" || wanted.has(name)) continue;
      leave.add(name);
      if (this.#warnedUnknown.has(name)) continue;
      this.#warnedUnknown.add(name);
      this.#logger.log(
        "warn",
        `left chain ${name} alone: it has our chain prefix but is empty and no rule jumps to ` +
          "it, so nothing shows that it is Rampart's (delete it with 'iptables -X' if it is)",
        { table: this.name, ipVersion: this.ipVersion, chain: name },
      );
    }
    return leave.size === 0 ? isOwned : (name) => isOwned(name) && !leave.has(name);
  }

  #updateGauges(): void {
    let rules = 0;
    for (const list of this.#chainHashes.values()) rules += list.rules.length;
    for (const list of this.#inserts.values()) rules += list.rules.length;
    for (const list of this.#appends.values()) rules += list.rules.length;
    this.#metrics.chains = KERNEL_CHAINS[this.name].length + this.#chainHashes.size;
    this.#metrics.rules = rules;
  }

  async #ensureBackend(): Promise<void> {
    if (this.#backend === undefined) {
      this.#backend = await this.#backendDetector({
        runner: this.#runner,
        ipVersion: this.ipVersion,
        hashPrefix: this.#hashPrefix,
        logger: this.#logger,
      });
      this.#metrics.backend = this.#backend;
      this.#logger.log("info", "iptables backend chosen", {
        table: this.name,
        ipVersion: this.ipVersion,
        backend: this.#backend,
      });
    }
  }

  /**
   * Runs the save or restore binary of this table's backend and family
   * (`<family>-<backend>-<op>`, falling back to `<family>-<op>` when the
   * variant is missing). A restore's script is streamed when the runner takes
   * chunks, and the IP-set check completes before its last chunk (the one
   * with COMMIT): a failed check kills the restore before it commits.
   */
  async #runBinary(
    op: "save" | "restore",
    args: string[],
    input?: { stream: TablePlanStream; guard: IpSetGuard; streamed: boolean },
  ): Promise<IptablesResult> {
    this.#commands ??= new IptablesCommands(this.#runner, {
      ipVersion: this.ipVersion,
      backend: this.#backend!,
      timeoutMs: this.#commandTimeoutMs,
    });
    if (input === undefined) return await this.#commands.run(op, args);
    const { stream, guard } = input;
    // Not streamed (a runner that takes strings only, or a `beforeWrite` hook
    // that has read the whole script already): the script goes as one string.
    if (!input.streamed || this.#runner.streamsStdin !== true) {
      return await this.#commands.run(op, args, await checkedScript(stream, guard));
    }
    // Only the first binary tried gets the live stream: the fallback, tried
    // after "not found", gets the whole script.
    return await this.#commands.run(
      op,
      args,
      (attempt) => attempt === 0 ? guardedChunks(stream, guard) : guardedScript(stream, guard),
    );
  }

  async #loadDataplane(): Promise<void> {
    // The save is started first: it takes longer, and each spawn holds this
    // thread. The other backend is read beside it, and waited for only when
    // the operation ends (`#serialised`). The features are detected from the
    // save's header (the version of the binaries in use).
    const read = this.#readDataplane();
    read.catch(() => {});
    if (!this.#otherBackendChecked) this.#otherBackendRead = this.#checkOtherBackend();
    const state = await read;
    const features = await this.#features.refreshFeatures(
      this.#saveHeader === undefined ? {} : { saveHeader: this.#saveHeader },
    );
    const key = JSON.stringify(features, Object.keys(features).sort());
    if (key !== this.#featuresKey) {
      if (this.#currentFeatures !== undefined) {
        this.#logger.log("info", "host features changed; rule IDs recomputed", {
          table: this.name,
          ipVersion: this.ipVersion,
          features: key,
        });
      }
      this.#featuresKey = key;
      this.#currentFeatures = features;
      for (const list of this.#chainHashes.values()) {
        delete list.hashes;
        delete list.previous;
      }
      for (const list of this.#inserts.values()) delete list.hashes;
      for (const list of this.#appends.values()) delete list.hashes;
      this.#appliedVersion = 0;
    }
    this.#dataplane = state;
    this.#lastReadTime = this.#clock.now();
    this.#inSync = true;
    // Forget the text of our rules that are gone.
    if (this.#writtenLines.size > 0) {
      const present = new Set<string>();
      for (const [chain, state] of this.#dataplane) {
        if (!this.isOwnedChain(chain)) {
          for (const id of state.hashes) present.add(`${chain} ${id}`);
        }
      }
      for (const key of this.#writtenLines.keys()) {
        if (!present.has(key)) this.#writtenLines.delete(key);
      }
    }
    // The cache now reflects the kernel: a plan must be computed again.
    this.#appliedVersion = 0;
  }

  /**
   * Warns, once, when the other backend holds anything in this table: the
   * kernel runs both rule sets (`src/host/other_backend.ts`). Best effort: a
   * failure to read it is only logged at debug level.
   */
  async #checkOtherBackend(): Promise<void> {
    this.#otherBackendChecked = true;
    const where = { table: this.name, ipVersion: this.ipVersion };
    try {
      const found = await readOtherBackend(this.#runner, {
        ...where,
        backend: this.#backend!,
        hashPrefix: this.#hashPrefix,
        timeoutMs: this.#commandTimeoutMs,
      });
      if (found === undefined) return;
      this.#logger.log(
        "warn",
        otherBackendWarning(found, { inUse: this.#backend!, ipVersion: this.ipVersion }),
        {
          ...where,
          backend: this.#backend,
          otherBackend: found.backend,
          rules: found.rules,
          ourRules: found.ourRules,
          chains: found.chains,
          policies: found.policies,
        },
      );
    } catch (e) {
      this.#logger.log("debug", "could not read the other iptables backend", {
        ...where,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** Reads the table with iptables-save (retrying failures with a backoff). */
  async #readDataplane(): Promise<DataplaneState> {
    let backoff = 100;
    for (let attempt = 0;; attempt++) {
      let state: DataplaneState | undefined;
      const t0 = this.#clock.now();
      this.#metrics.saveCalls++;
      const r = await this.#runBinary("save", ["-t", this.name]);
      const duration = this.#clock.now() - t0;
      this.#peakSaveMs = Math.max(this.#peakSaveMs * 0.99, duration);
      let error: Error | undefined;
      if (r.code !== 0) {
        error = new SaveError(
          `${r.cmd} -t ${this.name} failed with exit code ${r.code}${
            r.timedOut ? " (killed after the timeout)" : ""
          }: ${r.stderr.trim()}`,
          { command: r.cmd, stderr: r.stderr, code: r.code },
        );
      } else {
        try {
          state = parseSave(r.stdout, {
            hashPrefix: this.#hashPrefix,
            isOwnedChain: (c) => this.isOwnedChain(c),
            oldInsertPattern: this.#oldInsertPattern,
            chainPrefixes: this.#chainPrefixes,
          });
        } catch (e) {
          error = e as Error;
        }
      }
      if (error === undefined) {
        this.#forgetMisreadJumps(state!);
        this.#refuseForeignChains(state!);
        this.#saveHeader = saveHeader(r.stdout);
        return state!;
      }
      this.#metrics.saveErrors++;
      // A table that reads ambiguously reads so again: no retry.
      if (attempt >= SAVE_RETRIES || error instanceof AmbiguousSaveError) throw error;
      this.#logger.log("warn", "iptables-save failed; retrying", {
        table: this.name,
        ipVersion: this.ipVersion,
        error: error.message,
        backoffMs: backoff,
      });
      await this.#clock.sleep(backoff);
      backoff *= 2;
    }
  }

  /**
   * Tells whether a delete by value that failed was of a rule that is ours
   * only because its saved line reads as a jump to one of our chains (no ID
   * of ours, not matched by the cleanup pattern). Our rules all carry IDs,
   * and iptables prints some values as they are (interface names, with
   * spaces), so such a line that does not parse back to its rule cannot be
   * trusted to jump at all: deleting it by number (the fallback for our own
   * rules saved in a lossy form) could delete another program's rule.
   */
  #isMisreadJump(chain: string, savedLine: string): boolean {
    const state = this.#dataplane.get(chain);
    if (state === undefined) return false;
    const i = state.lines.indexOf(savedLine);
    return i >= 0 && state.hashes[i] === OLD_INSERT_RULE &&
      ruleIdOf(savedLine, this.#hashPrefix) === undefined &&
      this.#oldInsertPattern?.test(savedLine) !== true;
  }

  /** Reads the rules of {@linkcode Table.#misreadJumps} as another program's. */
  #forgetMisreadJumps(state: DataplaneState): void {
    if (this.#misreadJumps.size === 0) return;
    for (const [chain, s] of state) {
      if (this.isOwnedChain(chain)) continue;
      s.lines.forEach((line, i) => {
        if (s.hashes[i] === OLD_INSERT_RULE && this.#misreadJumps.has(line)) {
          s.hashes[i] = "";
          s.lines[i] = "";
        }
      });
    }
  }

  /**
   * Refuses a table holding a chain with one of our prefixes that is not ours
   * (see `src/host/ownership.ts`): the planner would delete it as a stale chain of
   * ours, with the rules that jump to it.
   */
  #refuseForeignChains(state: DataplaneState): void {
    for (const [chain, s] of state) {
      if (s.ownership !== "foreign") continue;
      const prefix = this.#chainPrefixes.find((p) => chain.startsWith(p))!;
      throw new PrefixError(
        `Chain prefix ${JSON.stringify(prefix)} matches the chain ${chain} of table ${this.name} ` +
          `(IPv${this.ipVersion}, ${this.#backend}), which is not Rampart's: no rule in it ` +
          `carries a ${JSON.stringify(this.#hashPrefix)} rule ID and no rule that does jumps ` +
          "to it, but it holds rules or other rules jump to it. Rampart would delete it as a " +
          "stale chain of its own, so nothing was written: choose a chain prefix that no " +
          "other program's chain starts with",
        { field: "chainPrefixes", prefix, chain, table: this.name, ipVersion: this.ipVersion },
      );
    }
  }

  /** Records the text we wrote for our rules in chains we do not own. */
  #rememberWrittenLines(next: DataplaneState): void {
    for (const [chain, state] of next) {
      if (this.isOwnedChain(chain) || state === this.#dataplane.get(chain)) continue;
      state.hashes.forEach((id, i) => {
        const line = state.lines[i];
        if (id !== "" && line) this.#writtenLines.set(`${chain} ${id}`, line);
      });
    }
  }

  /**
   * Runs iptables-restore with the plan's script, streamed to its standard
   * input as it is produced when the runner takes chunks; returns the whole
   * plan (or throws the mapped {@linkcode RestoreError}).
   */
  async #restore(
    stream: TablePlanStream,
    guard: IpSetGuard,
    streamed: boolean,
  ): Promise<Pick<TablePlan, "next" | "lineCount">> {
    const lockPlan = restoreLockArgs(this.#currentFeatures ?? {}, {
      backend: this.#backend!,
      lockTimeoutMs: this.#lockTimeoutMs,
      lockProbeIntervalMs: this.#lockProbeIntervalMs,
    });
    const run = () =>
      this.#runBinary("restore", ["--noflush", ...lockPlan.args], { stream, guard, streamed });
    let lock = this.#lock;
    if (lockPlan.tableTakesLock && lock === undefined) {
      const shared = new SharedLock({
        timeoutMs: this.#lockTimeoutMs,
        probeIntervalMs: this.#lockProbeIntervalMs,
      });
      lock = this.#lock = (fn) => shared.run(fn);
    }
    const t0 = this.#clock.now();
    this.#metrics.restoreCalls++;
    const r = lockPlan.tableTakesLock ? await lock!(run) : await run();
    this.#peakRestoreMs = Math.max(this.#peakRestoreMs * 0.99, this.#clock.now() - t0);
    if (r.code === 0) {
      const done = stream.drain();
      this.#metrics.linesExecuted += done.lineCount;
      this.#logger.log("debug", "iptables-restore succeeded", {
        table: this.name,
        ipVersion: this.ipVersion,
        lines: done.lineCount,
      });
      return done;
    }
    this.#metrics.restoreErrors++;
    // Restore may have stopped at a line of its own before the stream was
    // done: the rest of the script is produced now, with its checks. A rule
    // they refuse, or a missing IP set, is the error to report (nothing was
    // written, and retrying cannot help).
    const plan = stream.finish();
    await guard.verify();
    throw restoreError(r, plan);
  }
}

/** A finished plan as a stream that writes its script in one chunk (`plan()`'s, reused by `apply()`). */
function finishedStream(stream: TablePlanStream): TablePlanStream {
  const plan = stream.finish();
  return {
    empty: stream.empty,
    writtenChains: stream.writtenChains,
    chunks: plan.script === "" ? [] : [plan.script],
    finish: () => plan,
    drain: () => ({ next: plan.next, lineCount: plan.lineCount }),
  };
}

/** The plan's chunks as they are produced, the last one (with COMMIT) held until `guard` passes. */
async function* guardedChunks(stream: TablePlanStream, guard: IpSetGuard): AsyncGenerator<string> {
  let held: string | undefined;
  for (const chunk of stream.chunks) {
    if (held !== undefined) yield held;
    held = chunk;
  }
  await guard.verify();
  if (held !== undefined) yield held;
}

/** The whole script, once `guard` passes. */
async function checkedScript(stream: TablePlanStream, guard: IpSetGuard): Promise<string> {
  const script = stream.finish().script;
  await guard.verify();
  return script;
}

/** The whole script in one chunk, once `guard` passes. */
async function* guardedScript(stream: TablePlanStream, guard: IpSetGuard): AsyncGenerator<string> {
  yield await checkedScript(stream, guard);
}

/** Maps an iptables-restore failure back to the script line, chain and rule. */
function restoreError(
  r: { cmd: string; code: number; stderr: string; timedOut: boolean },
  plan: TablePlan,
): RestoreError {
  const lines = plan.script.split("\n");
  const m = /Error occurred at line: (\d+)/.exec(r.stderr) ?? /line (\d+) failed/.exec(r.stderr);
  const base = {
    command: r.cmd,
    script: plan.script,
    stderr: r.stderr,
    code: r.code,
  };
  const firstLine = r.stderr.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  if (r.timedOut) {
    return new RestoreError(
      `${r.cmd} was killed after its timeout; nothing was committed (not retried: a hung ` +
        "binary would block every retry as long)",
      { ...base, timedOut: true },
    );
  }
  if (m === null) {
    return new RestoreError(`${r.cmd} failed with exit code ${r.code}: ${firstLine}`, base);
  }
  let failedLine = Number(m[1]);
  // iptables-nft-restore reports a jump to a missing chain at COMMIT, but names
  // the chain: map it to the first rule of this script that jumps there.
  const missing = /Chain '([^']+)' does not exist/.exec(r.stderr)?.[1];
  if (lines[failedLine - 1] === "COMMIT" && missing !== undefined) {
    const jump = new RegExp(` (?:--jump|-j|--goto|-g) ${escapeRegExp(missing)}(?: |$)`);
    const i = lines.findIndex((l, i) => plan.origins[i] !== undefined && jump.test(l));
    if (i >= 0) failedLine = i + 1;
  }
  const text = lines[failedLine - 1] ?? "";
  const location = plan.origins[failedLine - 1];
  if (text === "COMMIT") {
    const added = lines.filter((l) => /^-[AIR] /.test(l));
    return new RestoreError(
      `${r.cmd} rejected the transaction at its COMMIT line (the kernel refused the table as a ` +
        `whole, so iptables cannot name the rule): ${firstLine}. Rules this transaction ` +
        `wrote:\n${added.join("\n")}`,
      { ...base, failedLine, failedLineText: text, atCommit: true, addedRules: added },
    );
  }
  // Rule numbers are 1-based, as the line shows them (`-R rp-in 6` is rule 6).
  const where = location === undefined
    ? ""
    : location.ruleIndex === undefined
    ? ` (chain "${location.chain}")`
    : ` (rule ${location.ruleIndex + 1} of ${
      location.list === "chain" ? "chain" : `the ${location.list} list of chain`
    } "${location.chain}")`;
  return new RestoreError(
    `${r.cmd} rejected line ${failedLine}${where}: ${firstLine}\n  ${text}`,
    location === undefined
      ? { ...base, failedLine, failedLineText: text }
      : { ...base, failedLine, failedLineText: text, location },
  );
}
