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
 * import { type AddrType, Match } from "@rampart/iptables";
 * const local: AddrType = "LOCAL";
 * console.log(Match().destAddrType(local).render()); // -m addrtype --dst-type LOCAL
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
