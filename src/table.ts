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
 *    that carry our ID comment (or match the cleanup pattern), delete them by
 *    value rather than by number (numbers race with other writers), and only
 *    create, flush or delete chains whose names carry one of our prefixes.
 * 2. **Atomic, minimal writes.** Each apply is one `iptables-restore --noflush`
 *    transaction. Every rule carries an ID: by default a stable one, from the
 *    rule's own content (see `calculateStableRuleHashes`), so a longest common
 *    subsequence of the kernel's IDs and ours gives the fewest lines to write
 *    and unchanged rules keep their counters; a chain whose edit would cost
 *    more than writing it afresh is flushed and rewritten. With Felix's
 *    chained IDs (`ruleIds: "chained"`), lists are compared from the first
 *    rule that differs, keeping a common suffix.
 * 3. **Do not parse iptables-save.** iptables-save prints rules in its own,
 *    backend-specific normalised form. We read only chain names, policies and
 *    the first comment of each rule; when a rule of ours must be deleted from
 *    a shared chain we replay the saved text as `-D`.
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
import type { Features } from "../dsl/features.ts";
import { calculateRuleIds, type RuleIds } from "../dsl/hash.ts";
import { type Chain, type Rule, ruleComments } from "../dsl/rule.ts";
import { type Clock, systemClock } from "./clock.ts";
import { RestoreError, SaveError, TableConfigError } from "./errors.ts";
import { autoDetectBackend } from "./backend_detector.ts";
import { FeatureDetector } from "./feature_detector.ts";
import type { FeatureSource } from "./feature_source.ts";
import { IpSetGuard, ipSetNamesOf } from "./ipset_guard.ts";
import { restoreLockArgs, SharedLock } from "./lock.ts";
import { isKernelChain, KERNEL_CHAINS, type TableName } from "./kernel_chains.ts";
import { type Logger, silentLogger } from "./logger.ts";
import type { TableMetrics } from "./metrics.ts";
import { checkPlacement } from "./placement.ts";
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
import { type CommandRunner, DenoCommandRunner } from "./runner.ts";
import { IptablesCommands, type IptablesResult } from "./iptables_commands.ts";
import { type DataplaneState, parseSave } from "./save_parser.ts";

/** A concrete backend. */
export type Backend = "nft" | "legacy";

/** Chooses the backend when `backend: "auto"`. */
export type BackendDetector = (options: {
  runner: CommandRunner;
  ipVersion: 4 | 6;
  hashPrefix: string;
  logger: Logger;
}) => Promise<Backend>;

/** Runs a function while holding the xtables lock (used when restore cannot lock itself). */
export type LockRunner = <T>(fn: () => Promise<T>) => Promise<T>;

/** Options of {@linkcode Table}. */
export interface TableOptions {
  /** IP family. @default {4} */
  ipVersion?: 4 | 6;
  /** Prefix of the comment that carries each rule's ID. @default {"rampart:"} */
  hashPrefix?: string;
  /**
   * How rule IDs are computed: `"stable"` from each rule's own content (see
   * `calculateStableRuleHashes`), so changing, inserting or deleting one rule
   * writes about one line and every other rule keeps its counters;
   * `"chained"` as Felix does (see `calculateRuleHashes`), so a change
   * rewrites every later rule of the chain. @default {"stable"}
   */
  ruleIds?: RuleIds;
  /** Chains whose names start with one of these are ours. @default {["rp-"]} */
  chainPrefixes?: readonly string[];
  /** Regular expression (source) for old rules of ours in chains we do not own. @default {""} */
  extraCleanupRegexPattern?: string;
  /** Whether our rules go above (`insert`) or below (`append`) foreign rules. @default {"insert"} */
  insertMode?: "insert" | "append";
  /** Which iptables backend to use. @default {"auto"} */
  backend?: Backend | "auto";
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
const HASH_PREFIX = /^[A-Za-z0-9_@%+=:,./-]{1,32}$/;
const CHAIN_PREFIX = /^[A-Za-z0-9_.:@%+=-]{1,27}$/;

interface RuleList {
  rules: readonly Rule[];
  hashes?: readonly string[];
  /** The hooks these rules last passed the placement checks for (see `#computePlan`). */
  placedFor?: string;
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
  readonly #oldInsertPattern: RegExp | undefined;
  readonly #insertMode: "insert" | "append";
  readonly #requestedBackend: Backend | "auto";
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
  #backend: Backend | undefined;
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
  /** Chains whose rules of ours are deleted by number on the next write (see `apply`). */
  readonly #deleteByPosition = new Set<string>();
  readonly #metrics: TableMetrics;

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
    if (!HASH_PREFIX.test(this.#hashPrefix)) {
      throw new TableConfigError(
        `Invalid hashPrefix ${
          JSON.stringify(this.#hashPrefix)
        }: expected 1 to 32 characters from [A-Za-z0-9_@%+=:,./-]`,
        { field: "hashPrefix", value: this.#hashPrefix },
      );
    }
    this.#ruleIds = options.ruleIds ?? "stable";
    if (this.#ruleIds !== "stable" && this.#ruleIds !== "chained") {
      throw new TableConfigError(
        `Invalid ruleIds ${JSON.stringify(this.#ruleIds)}: expected "stable" or "chained"`,
        { field: "ruleIds", value: this.#ruleIds },
      );
    }
    this.#chainPrefixes = [...(options.chainPrefixes ?? ["rp-"])];
    for (const p of this.#chainPrefixes) {
      if (!CHAIN_PREFIX.test(p)) {
        throw new TableConfigError(
          `Invalid chain prefix ${JSON.stringify(p)}: expected 1 to 27 name characters`,
          { field: "chainPrefixes", value: p },
        );
      }
    }
    const old = this.#chainPrefixes.map((p) => `(?:-j|--jump|-g|--goto) ${escapeRegExp(p)}`);
    if (options.extraCleanupRegexPattern) old.push(options.extraCleanupRegexPattern);
    this.#oldInsertPattern = old.length === 0 ? undefined : new RegExp(old.join("|"));
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
  get backend(): Backend | undefined {
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
    if (chain.name.length > 28) {
      throw new TableConfigError(
        `Invalid chain.name ${JSON.stringify(chain.name)}: expected at most 28 characters`,
        { field: "chain.name", value: chain.name },
      );
    }
    const rules = [...chain.rules];
    this.#chains.set(chain.name, { name: chain.name, rules });
    const old = this.#chainHashes.get(chain.name);
    if (old?.hashes !== undefined) {
      this.#chainHashes.set(chain.name, {
        rules,
        previous: {
          rules: old.rules,
          hashes: old.hashes,
          placedFor: old.placedFor,
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
   */
  setRuleInsertions(kernelChain: string, rules: readonly Rule[]): void {
    this.#checkForeignChain(kernelChain);
    if (this.#replaceForeign(this.#inserts, kernelChain, rules)) {
      this.invalidateDataplaneCache(`insertions into ${kernelChain} changed`);
    }
  }

  /**
   * Sets the rules we always keep at the bottom of a chain we do not own.
   *
   * @param kernelChain The chain.
   * @param rules Our rules for it, in order.
   */
  setRuleAppends(kernelChain: string, rules: readonly Rule[]): void {
    this.#checkForeignChain(kernelChain);
    if (this.#replaceForeign(this.#appends, kernelChain, rules)) {
      this.invalidateDataplaneCache(`appends to ${kernelChain} changed`);
    }
  }

  /**
   * Enforces a built-in chain's policy (checked for drift like rules);
   * `undefined` stops managing it.
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
    return this.#computePlan().plan.finish().script;
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
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
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
      const guard = new IpSetGuard(this.#runner, { timeoutMs: this.#commandTimeoutMs });
      // A streamed write keeps no copy of its script: on failure it is planned
      // again from the same inputs for the error report.
      const streamed = this.#runner.streamsStdin === true && this.#beforeWrite === undefined;
      // The version this plan is made of: a change made while the write runs
      // (updateChain() during the await) is applied by the next apply().
      const version = this.#desiredVersion;
      const { plan: stream, write } = this.#computePlan(guard, { keepScript: !streamed });
      if (stream.empty) {
        this.#dataplane = stream.drain().next;
        this.#appliedVersion = version;
        break;
      }
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
      if (this.#beforeWrite !== undefined) {
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
        const failed = /^-D (\S+) (?!\d+$)/.exec(e.failedLineText ?? "")?.[1];
        if (failed !== undefined && !this.isOwnedChain(failed)) {
          this.#deleteByPosition.add(failed);
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
   * Removes every rule and chain we own from this table (and stops enforcing
   * chain policies, setting the ones we managed back to ACCEPT). Foreign rules
   * are not touched. The desired state is empty afterwards.
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
    for (const chain of this.#policies.keys()) this.#policies.set(chain, "ACCEPT");
    this.#changed();
    this.invalidateDataplaneCache("clean up");
    await this.#apply();
    this.#policies.clear();
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
    if (previous.placedFor !== undefined) list.placedFor ??= previous.placedFor;
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
  ): { plan: TablePlanStream; write: Omit<PlannedWrite, "script"> } {
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
    const place = { table: this.name, ipVersion: this.ipVersion };
    for (const chain of roots.keys()) {
      const hooks = isKernelChain(this.name, chain) ? new Set([chain]) : null;
      this.#inserts.get(chain)?.rules.forEach((rule, i) =>
        checkPlacement(rule, { ...place, chain, list: "insert", ruleIndex: i, hooks })
      );
      this.#appends.get(chain)?.rules.forEach((rule, i) =>
        checkPlacement(rule, { ...place, chain, list: "append", ruleIndex: i, hooks })
      );
    }
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
      owned.set(name, {
        rules: hashedList.rules,
        hash: () => {
          // Hashing first: a list that renders like the one it replaced takes
          // over its IDs, placement and IP sets.
          const hashes = this.#hashed(name, hashedList, features).hashes;
          if (hashedList.placedFor !== placedFor) {
            const where = { ...place, chain: name, list: "chain" as const, ruleIndex: 0, hooks };
            for (let i = 0; i < chain.rules.length; i++) {
              where.ruleIndex = i;
              checkPlacement(chain.rules[i]!, where);
            }
            hashedList.placedFor = placedFor;
          }
          if (isNew) guard?.add(chain, this.#ipSetsOf(hashedList));
          return hashes;
        },
      });
      ownedChains.push(chain);
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
      policies: new Map(this.#policies),
      dataplane: this.#dataplane,
      isOwnedChain: isOwned,
      // Copies: a streamed write that fails is planned again from its inputs.
      writtenLines: new Map(this.#writtenLines),
      deleteByPosition: new Set(this.#deleteByPosition),
    }, options);
    return { plan, write: { chains: ownedChains, foreign: foreignRules } };
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
    // Detected while iptables-save runs: neither needs the other. The save is
    // started first: it takes longer, and each spawn holds this thread.
    const read = this.#readDataplane();
    read.catch(() => {});
    const detecting = this.#features.refreshFeatures();
    detecting.catch(() => {});
    const features = await detecting;
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
    this.#dataplane = await read;
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
          });
        } catch (e) {
          error = e as Error;
        }
      }
      if (error === undefined) return state!;
      this.#metrics.saveErrors++;
      if (attempt >= SAVE_RETRIES) throw error;
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
  const where = location === undefined
    ? ""
    : ` (rule ${location.ruleIndex} of ${
      location.list === "chain" ? "chain" : `the ${location.list} list of chain`
    } "${location.chain}")`;
  return new RestoreError(
    `${r.cmd} rejected line ${failedLine}${where}: ${firstLine}\n  ${text}`,
    location === undefined
      ? { ...base, failedLine, failedLineText: text }
      : { ...base, failedLine, failedLineText: text, location },
  );
}
