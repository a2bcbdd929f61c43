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
 * import { Accept, Match, renderAppend } from "@rampart/iptables";
 * const rule = { match: Match().protocol("tcp").destPorts(80, 443), action: Accept() };
 * console.log(renderAppend(rule, "rp-input"));
 * // -A rp-input -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT
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
export * from "./dsl/ports.ts";
export * from "./dsl/rule.ts";
export * from "./src/runner.ts";
export * from "./src/clock.ts";
export * from "./src/errors.ts";
export * from "./src/feature_source.ts";
export * from "./src/kernel_chains.ts";
export * from "./src/logger.ts";
export * from "./src/metrics.ts";
export * from "./src/placement.ts";
export * from "./src/warnings.ts";
export * from "./src/save_parser.ts";
export {
  chainPrefixProblem,
  checkPrefixes,
  hashPrefixProblem,
  MAX_CHAIN_PREFIX_LENGTH,
} from "./src/ownership.ts";
export * from "./src/table.ts";
export * from "./src/backend_detector.ts";
export * from "./src/binaries.ts";
export * from "./src/feature_detector.ts";
export * from "./src/ipset_check.ts";
export * from "./src/lock.ts";
export * from "./src/metrics_text.ts";
export * from "./src/policy.ts";
export * from "./src/firewall.ts";
export * from "./src/journal.ts";
export * from "./src/snapshot.ts";
export * from "./src/ts_export.ts";
export * from "./src/yaml/errors.ts";
export {
  loadPolicyFile,
  type LoadPolicyFileOptions,
  type ParsePolicyOptions,
  type SourcePosition,
  sourcePositionOf,
} from "./src/yaml/load.ts";
export * from "./src/yaml/parse.ts";
export * from "./src/yaml/save.ts";
export * from "./src/plan_diff.ts";
export * from "./src/iptables_commands.ts";
export {
  type TraceConntrackState,
  type TraceDirection,
  type TracePacket,
  TracePacketError,
} from "./src/trace/packet.ts";
export * from "./src/trace/result.ts";
export * from "./src/trace/ruleset.ts";
export type { ParsedHeader, ParsedMatch, ParsedOption, ParsedRule } from "./src/fake/normalise.ts";
export { parseIpSetSave, type TraceIpSet, type TraceIpSets } from "./src/trace/ipsets.ts";
export { type TraceOptions, tracePacket } from "./src/trace/walk.ts";
export { describePacket, renderTrace, type RenderTraceOptions } from "./src/trace/render.ts";
export * from "./src/trace/flags.ts";
export * from "./src/trace/graph.ts";
export * from "./src/trace/policy_source.ts";
export * from "./src/trace/kernel_source.ts";
