/**
 * Writing a plan: the script goes to the dataplane (streamed while it is
 * produced when the dataplane takes chunks), its last chunk, the one with
 * `COMMIT`, held until the write's checks have passed; a failure is mapped
 * back to the script line, chain and rule that caused it.
 *
 * @module
 */
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { Clock } from "../host/clock.ts";
import type { Logger } from "../host/logger.ts";
import type { CommandOutcome, Dataplane, PlanScript } from "./dataplane.ts";
import { RestoreError } from "./errors.ts";
import type { IpSetGuard } from "./ipset_guard.ts";
import type { TableMetrics } from "./metrics.ts";
import type { TablePlan, TablePlanStream } from "./planner.ts";

/** Options of {@linkcode PlanWriter}. */
export interface PlanWriterOptions {
  /** The table written. */
  table: TableName;
  /** Counts restores, their failures and the lines they executed. */
  metrics: TableMetrics;
  /** Where a successful write is reported (debug). */
  logger: Logger;
  /** Times the writes. */
  clock: Clock;
}

/**
 * Writes the plans of one table through its dataplane, and keeps how long
 * the slowest recent write took (the re-read schedule waits at least twice
 * that, see `src/engine/resync.ts`).
 */
export class PlanWriter {
  readonly #dataplane: Dataplane;
  readonly #table: TableName;
  readonly #metrics: TableMetrics;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #peakMs = 0;

  /**
   * Creates the writer of one table.
   *
   * @param dataplane Where plans are written.
   * @param options The table, its metrics, logger and clock.
   */
  constructor(dataplane: Dataplane, options: PlanWriterOptions) {
    this.#dataplane = dataplane;
    this.#table = options.table;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock;
  }

  /** The duration of the slowest recent write, in milliseconds (decaying by 1% a write). */
  get peakMs(): number {
    return this.#peakMs;
  }

  /**
   * Writes a plan: its script streamed to the dataplane as it is produced
   * when `streamed` (else whole), the last chunk once `guard` passes.
   *
   * @param stream The plan.
   * @param options The write's IP-set check, and whether to stream.
   * @returns The state the kernel has now, and the number of lines written.
   * @throws {RestoreError} When the dataplane refused the script (mapped to its line and rule).
   * @throws {MissingIpSetError} When a rule names an IP set that does not exist (nothing written).
   */
  async write(
    stream: TablePlanStream,
    options: { guard: IpSetGuard; streamed: boolean },
  ): Promise<Pick<TablePlan, "next" | "lineCount">> {
    const { guard } = options;
    const script: PlanScript = {
      chunks: options.streamed ? guardedChunks(stream, guard) : undefined,
      whole: () => checkedScript(stream, guard),
    };
    const t0 = this.#clock.now();
    this.#metrics.restoreCalls++;
    const r = await this.#dataplane.write(this.#table, script);
    this.#peakMs = Math.max(this.#peakMs * 0.99, this.#clock.now() - t0);
    if (r.code === 0) {
      const done = stream.drain();
      this.#metrics.linesExecuted += done.lineCount;
      this.#logger.log("debug", "iptables-restore succeeded", {
        table: this.#table,
        ipVersion: this.#dataplane.ipVersion,
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

/**
 * A finished plan as a stream that writes its script in one chunk (the plan
 * `plan()` made, reused by the `apply()` that follows it).
 *
 * @param stream The plan.
 * @returns The same plan, produced.
 */
export function finishedStream(stream: TablePlanStream): TablePlanStream {
  const plan = stream.finish();
  return {
    empty: stream.empty,
    writtenChains: stream.writtenChains,
    createdChains: stream.createdChains,
    chunks: plan.script === "" ? [] : [plan.script],
    finish: () => plan,
    drain: () => ({ next: plan.next, lineCount: plan.lineCount }),
  };
}

/**
 * The plan's chunks as they are produced, the last one (with COMMIT) held
 * until `guard` passes.
 *
 * @param stream The plan.
 * @param guard The write's IP-set check.
 */
export async function* guardedChunks(
  stream: TablePlanStream,
  guard: IpSetGuard,
): AsyncGenerator<string> {
  let held: string | undefined;
  for (const chunk of stream.chunks) {
    if (held !== undefined) yield held;
    held = chunk;
  }
  await guard.verify();
  if (held !== undefined) yield held;
}

/**
 * The whole script, once `guard` passes.
 *
 * @param stream The plan.
 * @param guard The write's IP-set check.
 */
export async function checkedScript(stream: TablePlanStream, guard: IpSetGuard): Promise<string> {
  const script = stream.finish().script;
  await guard.verify();
  return script;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Maps a failed write back to the script line, chain and rule (where
 * iptables-restore names a line).
 *
 * @param r What the restore did.
 * @param plan The plan it was given.
 * @returns The error to throw.
 */
export function restoreError(r: CommandOutcome, plan: TablePlan): RestoreError {
  const lines = plan.script.split("\n");
  const m = /Error occurred at line: (\d+)/.exec(r.stderr) ?? /line (\d+) failed/.exec(r.stderr);
  const base = {
    command: r.command,
    script: plan.script,
    stderr: r.stderr,
    code: r.code,
  };
  const firstLine = r.stderr.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  if (r.timedOut) {
    return new RestoreError(
      `${r.command} was killed after its timeout; nothing was committed (not retried: a hung ` +
        "binary would block every retry as long)",
      { ...base, timedOut: true },
    );
  }
  if (m === null) {
    return new RestoreError(`${r.command} failed with exit code ${r.code}: ${firstLine}`, base);
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
      `${r.command} rejected the transaction at its COMMIT line (the kernel refused the table ` +
        `as a whole, so iptables cannot name the rule): ${firstLine}. Rules this transaction ` +
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
    `${r.command} rejected line ${failedLine}${where}: ${firstLine}\n  ${text}`,
    location === undefined
      ? { ...base, failedLine, failedLineText: text }
      : { ...base, failedLine, failedLineText: text, location },
  );
}
