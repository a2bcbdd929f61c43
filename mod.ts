/**
 * Rampart: program Linux netfilter (iptables) safely and fast.
 *
 * - The DSL ({@linkcode Match}, actions such as {@linkcode Accept}) renders
 *   byte-exact, validated iptables fragments.
 * - {@linkcode Table} keeps the desired state of one iptables table and brings
 *   the kernel in line on `apply()`, rewriting only what changed.
 *
 * @example Rendering a rule
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match, renderAppend } from "@rampart/iptables";
 * const rule = { match: Match().protocol("tcp").destPorts(80, 443), action: Accept() };
 * assert.equal(
 *   renderAppend(rule, "rp-input"),
 *   "-A rp-input -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT",
 * );
 * ```
 *
 * @module
 */
export * from "./dsl/action.ts";
export * from "./dsl/actions.ts";
export * from "./dsl/addr_type.ts";
export * from "./dsl/errors.ts";
export * from "./dsl/features.ts";
export * from "./dsl/hash.ts";
export * from "./dsl/match.ts";
export type {
  ConnLimitOptions,
  IdRange,
  IpRangeOptions,
  OwnerOptions,
  PhysDevOptions,
  PortOrRange,
  RecentMode,
  RecentOptions,
  StatisticOptions,
  TcpFlag,
  TcpFlags,
  TcpOptions,
  UdpOptions,
} from "./dsl/match_options.ts";
export * from "./dsl/ports.ts";
export * from "./dsl/rule.ts";
export * from "./src/host/runner.ts";
export * from "./src/host/network_namespaces.ts";
export * from "./src/host/clock.ts";
export * from "./src/engine/errors.ts";
export * from "./src/host/feature_source.ts";
export * from "./dsl/kernel_chains.ts";
export * from "./src/host/logger.ts";
export * from "./src/engine/metrics.ts";
export * from "./src/engine/placement.ts";
export * from "./src/engine/warnings.ts";
export * from "./src/engine/dataplane.ts";
export * from "./src/host/save_parser.ts";
export {
  chainPrefixProblem,
  checkPrefixes,
  hashPrefixProblem,
  MAX_CHAIN_PREFIX_LENGTH,
} from "./src/host/ownership.ts";
export * from "./src/engine/table.ts";
export * from "./src/host/backend_detector.ts";
export * from "./src/host/binaries.ts";
export * from "./src/host/iptables_variant.ts";
export * from "./src/host/feature_detector.ts";
export * from "./src/host/ipset_check.ts";
export * from "./src/host/lock.ts";
export * from "./src/engine/metrics_text.ts";
export * from "./src/policy/policy.ts";
export * from "./src/policy/firewall.ts";
export * from "./src/policy/journal.ts";
export * from "./src/policy/snapshot.ts";
export * from "./src/policy/ts_export.ts";
export * from "./src/policy/plan_diff.ts";
export * from "./src/host/iptables_commands.ts";
export * from "./src/host/iptables_dataplane.ts";
