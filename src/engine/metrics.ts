/**
 * Table metrics as data and in the Prometheus text format.
 *
 * @module
 */
import type { IptablesVariant } from "../host/iptables_variant.ts";

/**
 * Counters and gauges of one table (one iptables table of one IP family).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Drop, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const table = new Table("filter", { runner: new FakeDataplane().runner, backend: "nft" });
 * table.setRuleInsertions("INPUT", [{ action: Drop() }]);
 * await table.apply();
 * const m = table.metrics();
 * assert.deepEqual([m.saveCalls, m.restoreCalls, m.rules, m.applies], [1, 1, 1, 1]);
 * ```
 */
export interface TableMetrics {
  /** The iptables table, e.g. `"filter"`. */
  table: string;
  /** 4 or 6. */
  ipVersion: 4 | 6;
  /** The backend in use (`"unknown"` before the first apply with `backend: "auto"`). */
  backend: IptablesVariant | "unknown";
  /** `iptables-restore` runs. */
  restoreCalls: number;
  /** `iptables-restore` runs that failed. */
  restoreErrors: number;
  /** `iptables-save` runs. */
  saveCalls: number;
  /** `iptables-save` runs that failed. */
  saveErrors: number;
  /** Restore script lines written, including `*table` and `COMMIT`. */
  linesExecuted: number;
  /** Chains the table manages now (kernel chains included). */
  chains: number;
  /** Rules the table manages now. */
  rules: number;
  /** `apply()` calls that finished. */
  applies: number;
  /** Wall time of the last `apply()` in milliseconds. */
  lastApplyDurationMs: number;
}
