/**
 * What a table knows of the kernel, and when it looks again: the one place
 * that reads the kernel and detects clobbers.
 *
 * Reading a table costs a full save, so the engine trusts what it last read
 * or wrote and reads again only when it has a reason to:
 *
 * - the **refresh timer** (`refreshIntervalMs` since the last read);
 * - **post-write checks**: other programs clobber tables with their own
 *   save/modify/restore cycles, so after each write the kernel is read again
 *   at exponentially growing intervals (from `postWriteIntervalMs`, doubling
 *   up to an hour), never sooner than twice the slowest recent save plus
 *   restore;
 * - a failed write, a change of the desired state that affects the kernel's
 *   chains, `plan()`, or `invalidateDataplaneCache()`.
 *
 * A read is interpreted here before anything plans from it: a failed read is
 * retried (with a backoff); a chain with our prefix that is another
 * program's refuses the table (`PrefixError`); rules found to be misread
 * jumps are read as foreign; the text of our rules that are gone is
 * forgotten; a change of the host features makes every rule ID be
 * computed again; and what changed since the last read or write in the
 * chains that hold our rules (a **clobber**, or drift) is logged at debug
 * level, with the chains, before the planner writes it back.
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { Clock } from "../host/clock.ts";
import type { Logger } from "../host/logger.ts";
import { ruleIdOf } from "../host/ownership.ts";
import {
  AmbiguousSaveError,
  IncompatibleTableError,
  OLD_INSERT_RULE,
} from "../host/save_parser.ts";
import type { Dataplane, DataplaneState, Ownership, TableRead } from "./dataplane.ts";
import { PrefixError, type RestoreError, SaveError } from "./errors.ts";
import type { TableMetrics } from "./metrics.ts";

/** Post-write checks stop once their interval reaches an hour. */
const MAX_POST_WRITE_MS = 3_600_000;
/** The shortest first post-write interval. */
export const MIN_POST_WRITE_MS = 50;
/** Retries of a failed read. */
const SAVE_RETRIES = 3;

/** Options of {@linkcode Resync}. */
export interface ResyncOptions {
  /** The table. */
  table: TableName;
  /** What tells our rules and chains from others'. */
  ownership: Ownership;
  /** Re-read the kernel at least this often (0: never). */
  refreshIntervalMs: number;
  /** The first post-write re-read delay (clamped to at least {@linkcode MIN_POST_WRITE_MS}). */
  postWriteIntervalMs: number;
  /** Counts reads and their failures. */
  metrics: TableMetrics;
  /** Times reads and schedules the next ones. */
  clock: Clock;
  /** Where retries, clobbers and the chains left alone are reported. */
  logger: Logger;
}

/**
 * The chains whose policy or rule IDs differ between two reads of a table
 * (or what a write left and the next read), among the chains that are ours
 * or hold a rule of ours in either: what another program changed of ours.
 *
 * @param before The state last read or written.
 * @param after The state read now.
 * @param isOwnedChain Tells whether a chain is ours.
 * @returns The chains, sorted by name.
 */
export function changedChains(
  before: DataplaneState,
  after: DataplaneState,
  isOwnedChain: (name: string) => boolean,
): string[] {
  const changed: string[] = [];
  const holdsOurs = (hashes: readonly string[] | undefined) =>
    hashes !== undefined && hashes.some((h) => h !== "");
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(name), b = after.get(name);
    if (a === b) continue;
    if (!isOwnedChain(name) && !holdsOurs(a?.hashes) && !holdsOurs(b?.hashes)) continue;
    if (a === undefined || b === undefined || a.policy !== b.policy) {
      changed.push(name);
      continue;
    }
    if (a.hashes.length !== b.hashes.length || a.hashes.some((h, i) => h !== b.hashes[i])) {
      changed.push(name);
    }
  }
  return changed.sort();
}

/**
 * What one table knows of the kernel and when it reads it again (see the
 * module's documentation).
 */
export class Resync {
  readonly #table: TableName;
  readonly #dataplane: Dataplane;
  readonly #ownership: Ownership;
  readonly #refreshIntervalMs: number;
  readonly #initialPostWriteMs: number;
  readonly #metrics: TableMetrics;
  readonly #clock: Clock;
  readonly #logger: Logger;

  /** The kernel's state as last read or written. */
  #state: DataplaneState = new Map();
  /** Whether `#state` may be trusted (no reason to read again). */
  #inSync = false;
  /** Whether `#state` came from the kernel at all. */
  #known = false;
  #features: Features | undefined;
  #featuresKey = "";
  #lastReadTime = Number.NEGATIVE_INFINITY;
  #lastWriteTime: number;
  #postWriteIntervalMs: number;
  #peakReadMs = 0;
  /** Text of our rules in chains we do not own, by "<chain> <id>" (for deleting by value). */
  readonly #writtenLines = new Map<string, string>();
  /** Chains whose rules of ours are deleted by number on the next write (see {@linkcode Resync.restoreFailed}). */
  readonly #deleteByPosition = new Set<string>();
  /**
   * Saved lines that read as jumps to one of our chains, without our ID, and
   * that deleting by their text failed: another program's rules whose text
   * does not parse back to them (`-i "x -j rp-in"` is printed `-i x -j rp-in`),
   * read as foreign from then on.
   */
  readonly #misreadJumps = new Set<string>();
  /** Chains left alone as not shown to be ours, already warned about. */
  readonly #warnedUnknown = new Set<string>();

  /**
   * Creates what a table knows of the kernel: nothing yet.
   *
   * @param dataplane Where the table is read.
   * @param options The table, its ownership, schedule, metrics, clock and logger.
   */
  constructor(dataplane: Dataplane, options: ResyncOptions) {
    this.#dataplane = dataplane;
    this.#table = options.table;
    this.#ownership = options.ownership;
    this.#refreshIntervalMs = options.refreshIntervalMs;
    this.#initialPostWriteMs = Math.max(options.postWriteIntervalMs, MIN_POST_WRITE_MS);
    this.#metrics = options.metrics;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#lastWriteTime = this.#clock.now();
    this.#postWriteIntervalMs = this.#initialPostWriteMs;
  }

  /** The kernel's state as last read or written (replaced, never changed, by each). */
  get state(): DataplaneState {
    return this.#state;
  }

  /** Whether the state may be trusted: no timer, failure or change asked for a read since. */
  get inSync(): boolean {
    return this.#inSync;
  }

  /** The host features of the last read (`undefined` before it). */
  get features(): Features | undefined {
    return this.#features;
  }

  /** The text we wrote for our rules in chains we do not own, by `"<chain> <id>"`. */
  get writtenLines(): ReadonlyMap<string, string> {
    return this.#writtenLines;
  }

  /** Chains we do not own whose rules of ours the next write deletes by number. */
  get deleteByPosition(): ReadonlySet<string> {
    return this.#deleteByPosition;
  }

  /**
   * Forgets what we know of the kernel: the next apply reads it again.
   *
   * @param reason Why (logged at debug level).
   */
  invalidate(reason: string): void {
    if (this.#inSync) {
      this.#logger.log("debug", "dataplane cache invalidated", {
        table: this.#table,
        ipVersion: this.#dataplane.ipVersion,
        reason,
      });
    }
    this.#inSync = false;
  }

  /**
   * At the start of an apply: invalidates the state when the refresh timer
   * or a post-write check is due (each due check doubles the next interval).
   *
   * @param now The apply's start.
   */
  checkTimers(now: number): void {
    // ">=" (the reference has ">"): an apply called exactly when the refresh is
    // due must refresh, or it would return 0 ("never call again").
    if (this.#refreshIntervalMs > 0 && now - this.#lastReadTime >= this.#refreshIntervalMs) {
      this.invalidate("refresh timer");
    }
    let invalidated = false;
    while (
      this.#postWriteIntervalMs < MAX_POST_WRITE_MS &&
      now >= this.#lastWriteTime + this.#postWriteIntervalMs
    ) {
      this.#postWriteIntervalMs *= 2;
      if (!invalidated) {
        this.invalidate("post-write check");
        invalidated = true;
      }
    }
  }

  /**
   * Reads the kernel and interprets what it holds (see the module's
   * documentation). The state is then in sync.
   *
   * @returns Whether the host features changed (every rule ID must then be
   * computed again).
   */
  async read(): Promise<{ featuresChanged: boolean }> {
    const { state, features } = await this.#readWithRetries();
    this.#forgetMisreadJumps(state);
    this.#refuseForeignChains(state);
    const featuresChanged = this.#noteFeatures(features);
    this.#reportClobbers(state);
    this.#state = state;
    this.#known = true;
    this.#lastReadTime = this.#clock.now();
    this.#inSync = true;
    this.#forgetGoneLines();
    return { featuresChanged };
  }

  /**
   * Takes the state a plan with nothing to write leaves (the same chains,
   * settled).
   *
   * @param next The plan's state.
   */
  adopt(next: DataplaneState): void {
    this.#state = next;
  }

  /**
   * Takes the state a successful write left, and starts the post-write
   * checks again from their first interval.
   *
   * @param next The state the kernel has now.
   */
  wrote(next: DataplaneState): void {
    this.#rememberWrittenLines(next);
    this.#deleteByPosition.clear();
    this.#state = next;
    this.#lastWriteTime = this.#clock.now();
    this.#postWriteIntervalMs = this.#initialPostWriteMs;
  }

  /**
   * Takes what a failed write tells: the kernel must be read again, and a
   * delete by value that failed (iptables-save printed the rule in a form
   * that does not parse back to it, e.g. `--icmp-type 255/3` is saved as
   * `--icmp-type any`) makes the next write delete our rules of that chain
   * by number, unless the rule was only read as a jump to one of our chains
   * (then it is another program's, and left alone from now on).
   *
   * @param error The write's error.
   */
  restoreFailed(error: RestoreError): void {
    this.#inSync = false;
    if (error.timedOut) return;
    const failedLine = error.failedLineText ?? "";
    const failed = /^-D (\S+) (?!\d+$)/.exec(failedLine)?.[1];
    if (failed === undefined || this.#isOwnedChain(failed)) return;
    if (this.#isMisreadJump(failed, `-A ${failedLine.slice(3)}`)) {
      this.#misreadJumps.add(`-A ${failedLine.slice(3)}`);
      this.#logger.log(
        "warn",
        `left alone a rule of chain ${failed} that reads as a jump to one of our chains ` +
          "but is not one (deleting it by the text iptables-save printed failed, as for a " +
          "rule whose interface name holds a space): " + failedLine.slice(4 + failed.length),
        { table: this.#table, ipVersion: this.#dataplane.ipVersion, chain: failed },
      );
    } else this.#deleteByPosition.add(failed);
  }

  /**
   * Chains with our prefix that are empty and that nothing jumps to
   * (`ownership: "unknown"`): nothing says whose they are. One we want (a
   * chain of ours that `iptables -F` emptied, say) is ours to fill again;
   * any other is left alone, as another program's, with a warning once.
   *
   * @param wanted The owned chains the plan programs.
   * @returns Whether a chain is ours to change.
   */
  ownedChainsToChange(wanted: ReadonlyMap<string, unknown>): (name: string) => boolean {
    const isOwned = (name: string) => this.#isOwnedChain(name);
    const leave = new Set<string>();
    for (const [name, chain] of this.#state) {
      if (chain.ownership !== "unknown" || wanted.has(name)) continue;
      leave.add(name);
      if (this.#warnedUnknown.has(name)) continue;
      this.#warnedUnknown.add(name);
      this.#logger.log(
        "warn",
        `left chain ${name} alone: it has our chain prefix but is empty and no rule jumps to ` +
          "it, so nothing shows that it is Rampart's (delete it with 'iptables -X' if it is)",
        { table: this.#table, ipVersion: this.#dataplane.ipVersion, chain: name },
      );
    }
    return leave.size === 0 ? isOwned : (name) => isOwned(name) && !leave.has(name);
  }

  /**
   * At the end of an apply: the delay until the next one is due for a read
   * (the refresh timer or a post-write check), the post-write interval kept
   * at least twice the slowest recent read plus write.
   *
   * @param now The apply's start.
   * @param writePeakMs The slowest recent write.
   * @returns Milliseconds (0: no need).
   */
  nextCheckDelay(now: number, writePeakMs: number): number {
    this.#postWriteIntervalMs = Math.max(
      this.#postWriteIntervalMs,
      2 * (this.#peakReadMs + writePeakMs),
    );
    let delay = 0;
    if (this.#refreshIntervalMs > 0) {
      delay = Math.max(1, this.#refreshIntervalMs - (now - this.#lastReadTime));
    }
    if (this.#postWriteIntervalMs < MAX_POST_WRITE_MS) {
      const due = this.#lastWriteTime + this.#postWriteIntervalMs - now;
      if (due <= 0) delay = 1;
      else if (this.#refreshIntervalMs <= 0 || due < delay) delay = due;
    }
    return delay;
  }

  #isOwnedChain(name: string): boolean {
    for (const p of this.#ownership.chainPrefixes) if (name.startsWith(p)) return true;
    return false;
  }

  /**
   * Reads the table, retrying a read that failed (`SaveError`, or a table
   * native nft rules made unreadable) with a backoff; a table that reads
   * ambiguously reads so again, and is not retried.
   */
  async #readWithRetries(): Promise<TableRead> {
    let backoff = 100;
    for (let attempt = 0;; attempt++) {
      const t0 = this.#clock.now();
      this.#metrics.saveCalls++;
      let error: Error;
      try {
        const read = await this.#dataplane.read(this.#table, this.#ownership);
        this.#noteReadTime(t0);
        return read;
      } catch (e) {
        if (!isRefusedRead(e)) throw e;
        this.#noteReadTime(t0);
        error = e;
      }
      this.#metrics.saveErrors++;
      if (attempt >= SAVE_RETRIES || error instanceof AmbiguousSaveError) throw error;
      this.#logger.log("warn", "iptables-save failed; retrying", {
        table: this.#table,
        ipVersion: this.#dataplane.ipVersion,
        error: error.message,
        backoffMs: backoff,
      });
      await this.#clock.sleep(backoff);
      backoff *= 2;
    }
  }

  #noteReadTime(t0: number): void {
    this.#peakReadMs = Math.max(this.#peakReadMs * 0.99, this.#clock.now() - t0);
  }

  /**
   * Keeps the features of a read; tells whether they changed (logged when
   * they had been read before).
   */
  #noteFeatures(features: Features): boolean {
    const key = JSON.stringify(features, Object.keys(features).sort());
    if (key === this.#featuresKey) return false;
    if (this.#features !== undefined) {
      this.#logger.log("info", "host features changed; rule IDs recomputed", {
        table: this.#table,
        ipVersion: this.#dataplane.ipVersion,
        features: key,
      });
    }
    this.#featuresKey = key;
    this.#features = features;
    return true;
  }

  /** Logs (debug) the chains of ours that changed since the last read or write. */
  #reportClobbers(state: DataplaneState): void {
    if (!this.#known) return;
    const chains = changedChains(this.#state, state, (name) => this.#isOwnedChain(name));
    if (chains.length === 0) return;
    this.#logger.log("debug", "the kernel changed since it was last read or written", {
      table: this.#table,
      ipVersion: this.#dataplane.ipVersion,
      chains,
    });
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
    const state = this.#state.get(chain);
    if (state === undefined) return false;
    const i = state.lines.indexOf(savedLine);
    return i >= 0 && state.hashes[i] === OLD_INSERT_RULE &&
      ruleIdOf(savedLine, this.#ownership.hashPrefix) === undefined &&
      this.#ownership.oldInsertPattern?.test(savedLine) !== true;
  }

  /** Reads the rules of {@linkcode Resync.#misreadJumps} as another program's. */
  #forgetMisreadJumps(state: DataplaneState): void {
    if (this.#misreadJumps.size === 0) return;
    for (const [chain, s] of state) {
      if (this.#isOwnedChain(chain)) continue;
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
    const { chainPrefixes, hashPrefix } = this.#ownership;
    const ipVersion = this.#dataplane.ipVersion;
    for (const [chain, s] of state) {
      if (s.ownership !== "foreign") continue;
      const prefix = chainPrefixes.find((p) => chain.startsWith(p))!;
      throw new PrefixError(
        `Chain prefix ${JSON.stringify(prefix)} matches the chain ${chain} of table ` +
          `${this.#table} (IPv${ipVersion}, ${this.#dataplane.variant}), which is not ` +
          `Rampart's: no rule in it carries a ${JSON.stringify(hashPrefix)} rule ID and no ` +
          "rule that does jumps to it, but it holds rules or other rules jump to it. Rampart " +
          "would delete it as a stale chain of its own, so nothing was written: choose a " +
          "chain prefix that no other program's chain starts with",
        { field: "chainPrefixes", prefix, chain, table: this.#table, ipVersion },
      );
    }
  }

  /** Forgets the text of our rules that are gone. */
  #forgetGoneLines(): void {
    if (this.#writtenLines.size === 0) return;
    const present = new Set<string>();
    for (const [chain, state] of this.#state) {
      if (!this.#isOwnedChain(chain)) {
        for (const id of state.hashes) present.add(`${chain} ${id}`);
      }
    }
    for (const key of this.#writtenLines.keys()) {
      if (!present.has(key)) this.#writtenLines.delete(key);
    }
  }

  /** Records the text we wrote for our rules in chains we do not own. */
  #rememberWrittenLines(next: DataplaneState): void {
    for (const [chain, state] of next) {
      if (this.#isOwnedChain(chain) || state === this.#state.get(chain)) continue;
      state.hashes.forEach((id, i) => {
        const line = state.lines[i];
        if (id !== "" && line) this.#writtenLines.set(`${chain} ${id}`, line);
      });
    }
  }
}

/** A read the dataplane refused (counted as a failed save): a failed save, or text it cannot act on. */
function isRefusedRead(e: unknown): e is Error {
  return e instanceof SaveError || e instanceof IncompatibleTableError ||
    e instanceof AmbiguousSaveError;
}
