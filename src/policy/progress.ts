/**
 * Human-readable progress lines for `Firewall.apply`.
 *
 * @module
 */
import type { FirewallProgressEvent } from "./firewall.ts";

/**
 * Describes one apply step, e.g. `[2/4] nat IPv4: 12 lines written`.
 *
 * @param event The progress event.
 * @returns One line of text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "@rampart/iptables/cli";
 * assert.equal(
 *   progressLine({ type: "table-start", table: "filter", ipVersion: 4, index: 0, total: 2 }),
 *   "[1/2] filter IPv4: applying…",
 * );
 * ```
 */
export function progressLine(event: FirewallProgressEvent): string {
  switch (event.type) {
    case "snapshot":
      return `Reading our current rules (${event.tables} table${event.tables === 1 ? "" : "s"})…`;
    case "table-start":
      return `[${event.index + 1}/${event.total}] ${event.table} IPv${event.ipVersion}: applying…`;
    case "table-done":
      return `[${event.index + 1}/${event.total}] ${event.table} IPv${event.ipVersion}: ` +
        (event.changed ? `${event.linesWritten} lines written` : "already in sync");
    case "table-failed":
      return `${event.table} IPv${event.ipVersion} FAILED: ${
        event.error instanceof Error ? event.error.message.split("\n")[0] : String(event.error)
      }`;
    case "rollback-start":
      return `Rolling back ${event.tables.map((t) => `${t.table} IPv${t.ipVersion}`).join(", ")}…`;
    case "rollback-done":
      return "Rolled back: the previous rules are in place";
  }
}
