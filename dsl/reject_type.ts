/**
 * The REJECT types (`--reject-with`), apart from the actions that use them
 * so that `validate.ts` can name them without importing `actions.ts`.
 *
 * @module
 */

/**
 * A REJECT type (`--reject-with`): the kernel's list for IPv4 and IPv6. The
 * family is checked when the rule is placed in a table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Reject, type RejectType } from "@rampart/iptables";
 * const type: RejectType = "tcp-reset";
 * assert.equal(Reject(type).toFragment(), "--jump REJECT --reject-with tcp-reset");
 * ```
 */
export type RejectType =
  | "icmp-net-unreachable"
  | "icmp-host-unreachable"
  | "icmp-port-unreachable"
  | "icmp-proto-unreachable"
  | "icmp-net-prohibited"
  | "icmp-host-prohibited"
  | "icmp-admin-prohibited"
  | "tcp-reset"
  | "icmp6-no-route"
  | "no-route"
  | "icmp6-adm-prohibited"
  | "adm-prohibited"
  | "icmp6-addr-unreachable"
  | "addr-unreach"
  | "icmp6-port-unreachable"
  | "port-unreach"
  | "icmp6-policy-fail"
  | "policy-fail"
  | "icmp6-reject-route"
  | "reject-route";
