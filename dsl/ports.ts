/**
 * Port lists for the multiport match.
 *
 * @module
 */
import {
  checkPort,
  checkPortRange,
  formatPortRanges,
  formatPorts,
  MAX_MULTIPORT_SLOTS,
} from "./validate.ts";

/**
 * An inclusive port range; `first === last` is a single port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type PortRange } from "@rampart/iptables";
 * const ranges: PortRange[] = [{ first: 1234, last: 1234 }, { first: 5678, last: 6000 }];
 * assert.equal(
 *   Match().protocol("tcp").destPortRanges(ranges).render(),
 *   "-p tcp -m multiport --destination-ports 1234,5678:6000",
 * );
 * ```
 */
export interface PortRange {
  /** The first port (0–65535). */
  readonly first: number;
  /** The last port (0–65535, at least `first`). */
  readonly last: number;
}

/**
 * Renders ports as a multiport list: decimal, joined by `,`, order kept.
 * Each port is validated (0–65535); the 15-slot limit is checked by the
 * match methods, not here.
 *
 * @param ports The ports.
 * @returns The list, e.g. `80,443`.
 * @throws {RuleError} when a port is not an integer from 0 to 65535.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { portsToMultiport } from "@rampart/iptables";
 * assert.equal(portsToMultiport([80, 443]), "80,443");
 * ```
 */
export function portsToMultiport(ports: readonly number[]): string {
  for (const p of ports) checkPort("portsToMultiport", p);
  return formatPorts(ports);
}

/**
 * Renders port ranges as a multiport list: `N` for a single port, `first:last`
 * for a range, joined by `,`.
 *
 * @param ranges The ranges.
 * @returns The list, e.g. `1234,5678:6000`.
 * @throws {RuleError} when a range is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { portRangesToMultiport } from "@rampart/iptables";
 * assert.equal(
 *   portRangesToMultiport([{ first: 1234, last: 1234 }, { first: 5678, last: 6000 }]),
 *   "1234,5678:6000",
 * );
 * ```
 */
export function portRangesToMultiport(ranges: readonly PortRange[]): string {
  for (const r of ranges) checkPortRange("portRangesToMultiport", r);
  return formatPortRanges(ranges);
}

/**
 * Splits ports and ranges into groups that each fit one multiport match
 * (15 slots; a single port, or a range with `first === last`, takes 1 slot,
 * any other range 2). Greedy and order-preserving, like the reference's
 * `SplitPortList`: a new group starts when the next item does not fit. An
 * empty list gives no groups.
 *
 * @param items Ports and port ranges.
 * @returns The groups, in order.
 * @throws {RuleError} when a port or range is invalid.
 *
 * @example One rule per group
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match, splitPortList } from "@rampart/iptables";
 * const ports = Array.from({ length: 20 }, (_, i) => 8000 + i);
 * const rules = splitPortList(ports).map((group) => ({
 *   match: Match().protocol("tcp").destPorts(...group),
 *   action: Accept(),
 * }));
 * assert.equal(rules.length, 2);
 * ```
 */
export function splitPortList<T extends number | PortRange>(items: readonly T[]): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const item of items) {
    let cost: number;
    if (typeof item === "number") {
      checkPort("splitPortList", item);
      cost = 1;
    } else {
      const r = checkPortRange("splitPortList", item);
      cost = r.first === r.last ? 1 : 2;
    }
    if (used + cost > MAX_MULTIPORT_SLOTS) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += cost;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
