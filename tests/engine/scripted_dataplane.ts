/**
 * Test helpers: a `Dataplane` that is not the iptables binaries. It answers
 * reads from a queue the test fills (states, or errors to throw), records
 * every write (streamed chunks or the whole script) and answers each with
 * the next outcome, so the engine can be driven through the seam alone.
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type {
  CommandOutcome,
  Dataplane,
  DataplaneState,
  Ownership,
  PlanScript,
  TableRead,
} from "../../src/engine/dataplane.ts";
import type { Clock } from "../../src/host/clock.ts";
import type { TableMetrics } from "../../src/engine/metrics.ts";
import { Table } from "../../mod.ts";

/** What one write received. */
export interface ScriptedWrite {
  table: TableName;
  /** The chunks, in order, when the script was streamed. */
  chunks: string[] | undefined;
  /** The whole script (asked for when not streamed; else the chunks joined). */
  script: string;
}

/** A state with the built-in chains of filter (ACCEPT) and the given chains. */
export function filterState(
  chains: Record<string, { policy?: string; hashes?: string[]; lines?: string[] }> = {},
): DataplaneState {
  const state: DataplaneState = new Map();
  for (const name of ["INPUT", "FORWARD", "OUTPUT"]) {
    state.set(name, { policy: "ACCEPT", hashes: [], lines: [] });
  }
  for (const [name, c] of Object.entries(chains)) {
    const hashes = c.hashes ?? [];
    state.set(name, {
      policy: c.policy ?? state.get(name)?.policy ?? "-",
      hashes,
      lines: c.lines ?? hashes.map(() => ""),
    });
  }
  return state;
}

/** A {@linkcode Dataplane} driven by the test. */
export class ScriptedDataplane implements Dataplane {
  readonly ipVersion: 4 | 6;
  variant: "nft" | "legacy" | undefined;
  streamsScripts: boolean;
  /** What the next reads return (a state: that table; an Error: thrown); the last one repeats. */
  readonly reads: (DataplaneState | Error)[] = [];
  /** The features every read reports. */
  features: Features = {};
  /** The outcomes of the next writes (code 0 when empty). */
  readonly outcomes: CommandOutcome[] = [];
  /** The IP sets that exist. */
  readonly sets = new Set<string>();
  readonly calls: string[] = [];
  readonly writes: ScriptedWrite[] = [];
  /** Advanced by this much during each read (to time reads). */
  readMs = 0;
  #clock: (Clock & { advance(ms: number): void }) | undefined;

  constructor(
    options: {
      ipVersion?: 4 | 6;
      variant?: "nft" | "legacy";
      streams?: boolean;
      clock?: Clock & { advance(ms: number): void };
    } = {},
  ) {
    this.ipVersion = options.ipVersion ?? 4;
    this.variant = options.variant ?? "nft";
    this.streamsScripts = options.streams ?? true;
    this.#clock = options.clock;
  }

  prepare(table: TableName, _ownership: Ownership): Promise<void> {
    this.calls.push(`prepare ${table}`);
    return Promise.resolve();
  }

  read(table: TableName, _ownership: Ownership): Promise<TableRead> {
    this.calls.push(`read ${table}`);
    this.#clock?.advance(this.readMs);
    const next = this.reads.length > 1 ? this.reads.shift()! : this.reads[0];
    if (next === undefined) {
      return Promise.resolve({ state: filterState(), features: this.features });
    }
    if (next instanceof Error) return Promise.reject(next);
    // Each read returns a fresh copy, as a real read would.
    const state: DataplaneState = new Map();
    for (const [name, c] of next) {
      state.set(name, { ...c, hashes: [...c.hashes], lines: [...c.lines] });
    }
    return Promise.resolve({ state, features: this.features });
  }

  async write(table: TableName, script: PlanScript): Promise<CommandOutcome> {
    this.calls.push(`write ${table}`);
    let chunks: string[] | undefined;
    let text: string;
    if (script.chunks !== undefined) {
      chunks = [];
      for await (const chunk of script.chunks) chunks.push(chunk);
      text = chunks.join("");
    } else text = await script.whole();
    this.writes.push({ table, chunks, script: text });
    return this.outcomes.shift() ??
      { command: "scripted-restore", code: 0, stderr: "", timedOut: false };
  }

  ipSets(): Promise<ReadonlySet<string>> {
    this.calls.push("ipSets");
    return Promise.resolve(new Set(this.sets));
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }
}

/** A clock the test moves; `sleep` records and advances. */
export function manualClock(): Clock & { advance(ms: number): void; sleeps: number[] } {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep(ms) {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    advance(ms) {
      t += ms;
    },
  };
}

/** The metrics of a filter table that has done nothing yet. */
export function metrics(): TableMetrics {
  return new Table("filter", { dataplane: new ScriptedDataplane() }).metrics();
}
