/**
 * The netfilter hooks a packet passes, in the kernel's order (the tables'
 * priorities: raw −300, conntrack −200, mangle −150, nat DNAT −100, filter 0,
 * nat SNAT 100), for each direction.
 *
 * @module
 */
import type { TableName } from "../../dsl/kernel_chains.ts";

/** One step of the walk: a table's built-in chain, conntrack, or the routing decision. */
export type Stage =
  | { kind: "chain"; table: TableName; hook: string }
  | { kind: "conntrack" }
  | { kind: "route" };

const chain = (table: TableName, hook: string): Stage => ({ kind: "chain", table, hook });

/** Arriving or forwarded packets, up to the routing decision. */
export const PREROUTING_STAGES: readonly Stage[] = Object.freeze([
  chain("raw", "PREROUTING"),
  { kind: "conntrack" },
  chain("mangle", "PREROUTING"),
  chain("nat", "PREROUTING"),
  { kind: "route" },
]);

/** After the routing decision, for this host. */
export const INPUT_STAGES: readonly Stage[] = Object.freeze([
  chain("mangle", "INPUT"),
  chain("filter", "INPUT"),
  chain("nat", "INPUT"),
]);

/** After the routing decision, forwarded. */
export const FORWARD_STAGES: readonly Stage[] = Object.freeze([
  chain("mangle", "FORWARD"),
  chain("filter", "FORWARD"),
  chain("mangle", "POSTROUTING"),
  chain("nat", "POSTROUTING"),
]);

/** Sent by this host. */
export const OUTPUT_STAGES: readonly Stage[] = Object.freeze([
  chain("raw", "OUTPUT"),
  { kind: "conntrack" },
  chain("mangle", "OUTPUT"),
  chain("nat", "OUTPUT"),
  chain("filter", "OUTPUT"),
  chain("mangle", "POSTROUTING"),
  chain("nat", "POSTROUTING"),
]);
