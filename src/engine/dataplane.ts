/**
 * The seam between the engine and a dataplane, in the spirit of Felix's
 * `generictables` and knftables' `Interface`: the engine reads the current
 * state of one table of one IP family through it (chains, policies, which
 * rules are ours and their IDs, and the host features those IDs depend on),
 * hands it a plan to write (a restore-protocol script today, streamed while
 * it is produced), and learns from it what to name in errors.
 *
 * `IptablesDataplane` (`src/host/iptables_dataplane.ts`) implements it with
 * the iptables binaries; `FakeDataplane` emulates those binaries, so tests
 * run the same implementation against it (`new Table(name, { runner:
 * fake.runner })`). What a second implementation must provide is listed in
 * `docs/dataplane.md`.
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** One chain as read from the kernel. */
export interface DataplaneChain {
  /** Built-in chain policy (`ACCEPT`/`DROP`), or `"-"` for a user chain. */
  policy: string;
  /**
   * One entry per rule: our ID, `"OLD INSERT RULE"` (`OLD_INSERT_RULE`: a
   * rule of ours without an ID, found by its jump to one of our chains or by
   * the cleanup pattern), or `""` for a foreign rule.
   */
  hashes: string[];
  /**
   * For chains we do not own: the saved line of every rule of ours (`""` for
   * foreign rules), so it can be deleted by value. Empty for owned chains.
   */
  lines: string[];
  /**
   * Set on a chain whose name has one of our prefixes when no rule in it
   * carries our ID and no rule carrying our ID jumps or goes to it (see
   * `src/host/ownership.ts`): `"foreign"` when it holds rules or other rules jump
   * to it (another program's chain: the engine refuses the prefix rather than
   * delete it), `"unknown"` when it is empty and nothing jumps to it (nothing
   * says whose it is: the engine takes it only if it wants that chain, e.g.
   * one of ours that `iptables -F` emptied, and otherwise leaves it alone).
   */
  ownership?: "foreign" | "unknown";
}

/** One table as read from the kernel: chains in the order the dataplane lists them. */
export type DataplaneState = Map<string, DataplaneChain>;

/**
 * What tells our rules and chains from everyone else's: a table's ownership
 * options, handed to every read (the dataplane decides on them which rules
 * are ours, see `src/host/ownership.ts`).
 */
export interface Ownership {
  /** The prefix of our ID comments, e.g. `"rampart:"`. */
  hashPrefix: string;
  /** Chains whose names start with one of these are ours. */
  chainPrefixes: readonly string[];
  /**
   * Also ours: rules of chains we do not own whose saved text this matches
   * (old rules of ours that carry no ID; a test of the text the caller opts
   * into).
   */
  oldInsertPattern?: RegExp | undefined;
}

/** One read of a table. */
export interface TableRead {
  /** Its chains, their policies, and which rules are ours with their IDs. */
  state: DataplaneState;
  /**
   * The host features as of this read: rule IDs and some rendered fragments
   * depend on them (`--random-fully`, `--nflog-size`).
   */
  features: Features;
}

/** The script of one write, as the engine hands it over. */
export interface PlanScript {
  /**
   * The script in chunks of whole lines, produced while they are taken; the
   * last one (with the `COMMIT`) comes only once every check of the write
   * has passed, and a check that fails ends the iteration with its error
   * (the dataplane then must not commit anything). Present only when the
   * dataplane streams ({@linkcode Dataplane.streamsScripts}); take it once.
   */
  readonly chunks?: AsyncIterable<string> | undefined;
  /** The whole script, once every check has passed (for a dataplane that takes it in one piece, or a second attempt). */
  whole(): Promise<string>;
}

/** What one command of a dataplane did: what the engine names in its errors. */
export interface CommandOutcome {
  /** The command that ran, e.g. `iptables-nft-restore`. */
  command: string;
  /** Its exit code: 0 when it succeeded. */
  code: number;
  /** What it printed on standard error. */
  stderr: string;
  /** True when it was killed for outliving its timeout. */
  timedOut: boolean;
}

/**
 * One IP family of a dataplane: how the engine reads a table's current
 * state and writes a plan to it. One instance may serve every table of its
 * family; a `Table` calls it for one operation at a time.
 *
 * `read()` rejects with a `SaveError` when reading failed in a way a retry
 * may mend (the engine retries it, with a backoff); any other rejection
 * reaches the caller of `apply()` or `plan()` as it is.
 *
 * @example A table programmed through an explicit dataplane
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, IptablesDataplane, Match, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * const dataplane = new IptablesDataplane({ runner: fake.runner, variant: "nft" });
 * const table = new Table("filter", { dataplane });
 * table.updateChain({ name: "rp-in", rules: [{ match: Match().protocol("tcp"), action: Accept() }] });
 * await table.apply();
 * assert.equal(table.backend, "nft");
 * assert.equal(await table.plan(), "");
 * ```
 */
export interface Dataplane {
  /** The IP family. */
  readonly ipVersion: 4 | 6;
  /**
   * The restore-protocol dialect plans are written in: the iptables variant,
   * once known (after `prepare()`). The planner's costs and the checks of
   * rule placement depend on it, and errors name it.
   */
  readonly variant: IptablesVariant | undefined;
  /** Whether `write()` takes a script's chunks while they are produced. */
  readonly streamsScripts: boolean;
  /**
   * Settles what must be known before the first read (the iptables
   * dataplane detects its variant); quick once done.
   *
   * @param table The table about to be read.
   * @param ownership Ours, by prefixes (detection looks for our rules).
   */
  prepare(table: TableName, ownership: Ownership): Promise<void>;
  /**
   * Reads the current state of one table.
   *
   * @param table The table.
   * @param ownership What tells our rules and chains from others'.
   * @returns Its chains and the features the IDs depend on.
   */
  read(table: TableName, ownership: Ownership): Promise<TableRead>;
  /**
   * Writes a plan to one table in one atomic transaction.
   *
   * @param table The table.
   * @param script The plan's script.
   * @returns What the command did (the engine reports a failure).
   */
  write(table: TableName, script: PlanScript): Promise<CommandOutcome>;
  /** The names of the IP sets that exist (rules may only name those). */
  ipSets(): Promise<ReadonlySet<string>>;
  /**
   * Resolves once the work that reads started in the background has ended
   * (the iptables dataplane reads the other variant's copy of a table once,
   * to warn when it holds rules); the engine waits for it before an
   * operation returns.
   */
  settled(): Promise<void>;
}
