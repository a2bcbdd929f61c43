/**
 * The intent record of a write that spans several tables: what
 * `Firewall.apply` is about to write and the snapshot that undoes
 * it, kept somewhere durable before the first table is written and cleared
 * once every table is consistent again. A crash in between leaves the record
 * behind, so the next run can tell that an apply was interrupted and finish it
 * or roll it back.
 *
 * The engine only calls an {@linkcode ApplyJournal}; where and how the record
 * is kept (a file, a database, a Kubernetes object) is the caller's choice.
 *
 * @module
 */
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { IpFamily } from "./policy.ts";
import type { Snapshot } from "./snapshot.ts";

/** One table of one family. */
export interface IntentTable {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
}

/** What a multi-table write is about to do, recorded before it writes anything. */
export interface ApplyIntent {
  /** `apply`: `Firewall.apply`; `remove`: taking our rules out of every table. */
  operation: "apply" | "remove";
  /** When it started (ISO 8601). */
  startedAt: string;
  /**
   * Every table it brings in line, in the order it writes them (raw, mangle,
   * nat, filter; IPv4 then IPv6). Each is one iptables-restore transaction:
   * a crash leaves it wholly old or wholly new.
   */
  tables: IntentTable[];
  /**
   * Our rules in those tables before the write: restoring it
   * (`Firewall.restoreSnapshot`) rolls the write back. Absent when the apply
   * took no snapshot (`snapshot: false`).
   */
  snapshot?: Snapshot;
}

/**
 * Where a {@linkcode Firewall} records its intent (`FirewallOptions.journal`).
 *
 * `begin` must be durable when it resolves: nothing is written to the kernel
 * before, and a rejection aborts the apply with nothing written. The other
 * calls come after tables were written; their failures are logged, not
 * thrown. After `end` the record can be forgotten; after `fail` (or when
 * neither is called because the process died) it must be kept.
 *
 * @example A journal in memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ApplyIntent, type ApplyJournal, Firewall, Match, Accept, Jump, tablePolicy } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const steps: string[] = [];
 * const journal: ApplyJournal = {
 *   begin: (intent: ApplyIntent) => { steps.push(`begin ${intent.tables.length}`); return Promise.resolve(); },
 *   tableDone: (t) => { steps.push(`${t.table}/${t.ipVersion}`); return Promise.resolve(); },
 *   end: (outcome) => { steps.push(outcome); return Promise.resolve(); },
 *   fail: () => Promise.resolve(),
 * };
 * const firewall = new Firewall({ runner: new FakeDataplane().runner, backend: "nft", ipVersions: [4], journal });
 * firewall.setPolicy({ ipVersions: [4], tables: [tablePolicy("filter", {
 *   chains: [{ name: "rp-in", rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] }],
 *   insertions: { INPUT: [{ action: Jump("rp-in") }] },
 * })] });
 * await firewall.apply();
 * assert.deepEqual(steps, ["begin 1", "filter/4", "applied"]);
 * ```
 */
export interface ApplyJournal {
  /** Records the intent durably; resolves once it is stored. */
  begin(intent: ApplyIntent): Promise<void>;
  /** One table is in line with the desired state (written, or already in sync). */
  tableDone(table: IntentTable): Promise<void>;
  /** Every table is consistent again: all applied, or all rolled back. Forget the record. */
  end(outcome: "applied" | "rolled-back"): Promise<void>;
  /** The write failed and was not (or could not be) rolled back: keep the record. */
  fail(error: string): Promise<void>;
}
