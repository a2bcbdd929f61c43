/**
 * Explaining a packet: {@linkcode tracePacket} walks a packet through the
 * netfilter hooks in the kernel's order, through a policy (YAML files or the
 * DSL, each rule with its `file:line`), a `Firewall`/`Table` desired state,
 * or the live kernel with every program's rules; {@linkcode renderGraph}
 * pictures the chains and jumps. `rampart trace`, `rampart graph` and the
 * REPL's `trace()`/`graph()` use it; `assertVerdict` in
 * `@rampart/iptables/testing` builds on it.
 *
 * It lives beside the main entry point, not in it: it evaluates rules parsed
 * by the fake dataplane's model of iptables' parser (`src/fake/normalise.ts`).
 *
 * @module
 */
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
