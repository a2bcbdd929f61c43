/**
 * Address types for the addrtype match.
 *
 * @module
 */

/**
 * A kernel address type (the route types of `ip route`), as the addrtype
 * match's `--src-type`/`--dst-type` name them.
 *
 * @example Matching traffic to a local address
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AddrType, Match } from "@rampart/iptables";
 * const local: AddrType = "LOCAL";
 * assert.equal(Match().destAddrType(local).render(), "-m addrtype --dst-type LOCAL");
 * ```
 */
export type AddrType =
  | "UNSPEC"
  | "UNICAST"
  | "LOCAL"
  | "BROADCAST"
  | "ANYCAST"
  | "MULTICAST"
  | "BLACKHOLE"
  | "UNREACHABLE"
  | "PROHIBIT"
  | "THROW"
  | "NAT"
  | "XRESOLVE";

/**
 * Every address type, in the kernel's bit order (the order iptables-save
 * prints a list in).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADDR_TYPES } from "@rampart/iptables";
 * assert.ok(ADDR_TYPES.includes("LOCAL"));
 * ```
 */
export const ADDR_TYPES: readonly AddrType[] = Object.freeze(
  [
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
  ] as const,
);

/**
 * The address types the kernel's addrtype match accepts for IPv6
 * (xt_addrtype refuses BROADCAST, BLACKHOLE, PROHIBIT, THROW, NAT and
 * XRESOLVE there; verified with iptables 1.8.9 on both backends).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADDR_TYPES_V6 } from "@rampart/iptables";
 * assert.equal(ADDR_TYPES_V6.has("BROADCAST"), false);
 * ```
 */
export const ADDR_TYPES_V6: ReadonlySet<AddrType> = new Set<AddrType>([
  "UNSPEC",
  "UNICAST",
  "LOCAL",
  "ANYCAST",
  "MULTICAST",
  "UNREACHABLE",
]);
