/**
 * The REPL's `trace()` and `graph()` (and `.trace`, `.graph`): a packet
 * with the same fields as `rampart trace`'s flags, walked through the
 * session's desired state (as `apply()` would write it) or, with `live`,
 * through the live tables of the session's target, every program's rules
 * included.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import type { RuleIds } from "../../dsl/hash.ts";
import type { Policy } from "../policy/policy.ts";
import type { CommandRunner } from "../host/runner.ts";
import {
  hasPacketFlags,
  PACKET_FLAG_OPTIONS,
  packetFromFlags,
  parseAssumeFlags,
} from "../trace/flags.ts";
import type { TraceIpSets } from "../trace/ipsets.ts";
import { readKernelRuleset } from "../trace/kernel_source.ts";
import { packetState, type TracePacket } from "../trace/packet.ts";
import { renderPolicyRuleset } from "../trace/policy_source.ts";
import { describePacket, renderTrace } from "../trace/render.ts";
import type { TraceResult, TraceRuleSource } from "../trace/result.ts";
import type { TraceRuleset } from "../trace/ruleset.ts";
import { type TraceOptions, tracePacket } from "../trace/walk.ts";
import { renderGraph } from "../trace/graph.ts";
import { sourcePositionOf } from "../yaml/load.ts";

/** What `trace()` and `graph()` need of the session. */
export interface ReplTraceContext {
  /** The desired state. */
  policy(): Policy;
  /** Runs the binaries of the session's target (for `live`). */
  runner: CommandRunner;
  /** The target's namespace, for the heading. */
  netns: string | undefined;
  /** The backend. */
  backend: "nft" | "legacy" | "auto";
  /** Prefix of rule-ID comments. */
  hashPrefix: string;
  /** The rule-ID scheme. */
  ruleIds: RuleIds;
  /** ANSI colours. */
  color: boolean;
}

/** Options of `trace()` and `graph()` in the REPL (the CLI's flags, as fields). */
export interface ReplTraceOptions {
  /** Trace the live tables of the target instead of the desired state. */
  live?: boolean;
  /** The host's addresses (live: read unless given). */
  localAddresses?: readonly string[];
  /** IP set contents (live: read unless given). */
  ipSets?: TraceIpSets;
  /** Outcomes for undecidable match modules (`{ rpfilter: false }`). */
  assume?: Readonly<Record<string, boolean>>;
  /** Print the result as JSON. */
  json?: boolean;
  /** `graph()`: mermaid (default) or dot. */
  format?: "mermaid" | "dot";
  /** `graph()`: the packet whose path to highlight (the fields of `trace()`). */
  packet?: Readonly<Record<string, unknown>>;
}

async function rulesetFor(
  ctx: ReplTraceContext,
  ipVersion: 4 | 6,
  options: ReplTraceOptions,
): Promise<{ ruleset: TraceRuleset; trace: TraceOptions; origin: string }> {
  const trace: TraceOptions = { hashPrefix: ctx.hashPrefix };
  if (options.assume !== undefined) trace.assume = options.assume;
  if (options.localAddresses !== undefined) trace.localAddresses = options.localAddresses;
  if (options.ipSets !== undefined) trace.ipSets = options.ipSets;
  if (options.live === true) {
    const read = await readKernelRuleset(ipVersion, {
      runner: ctx.runner,
      backend: ctx.backend,
      hashPrefix: ctx.hashPrefix,
      localAddresses: options.localAddresses ?? "read",
      ipSets: options.ipSets ?? "read",
    });
    if (read.localAddresses !== undefined) trace.localAddresses = read.localAddresses;
    if (read.ipSets !== undefined) trace.ipSets = read.ipSets;
    const where = ctx.netns === undefined ? "this host" : `network namespace ${ctx.netns}`;
    return {
      ruleset: read.ruleset,
      trace,
      origin: `the live IPv${ipVersion} tables of ${where} (iptables-${read.backend})`,
    };
  }
  const policy = ctx.policy();
  if (!policy.ipVersions.includes(ipVersion)) {
    throw new TypeError(`The desired state has no IPv${ipVersion} rules`);
  }
  const rendered = await renderPolicyRuleset(policy, {
    ipVersion,
    backend: ctx.backend === "legacy" ? "legacy" : "nft",
    hashPrefix: ctx.hashPrefix,
    ruleIds: policy.ruleIds ?? ctx.ruleIds,
    ...(options.ipSets === undefined ? {} : { ipSets: options.ipSets }),
    locate: sourcePositionOf as (rule: object) => TraceRuleSource | undefined,
  });
  trace.ruleSources = rendered.ruleSources;
  return {
    ruleset: rendered.ruleset,
    trace,
    origin: `the desired state (IPv${ipVersion}, as apply() would write it)`,
  };
}

/**
 * Traces a packet for the REPL and returns the text to print.
 *
 * @param ctx The session.
 * @param fields The packet: `{ in, out, src, dst, proto, sport, dport, icmpType, state, mark,
 *   direction, … }` (the CLI's flag names) or a {@linkcode TracePacket}.
 * @param options `live`, addresses, IP sets, `assume`, `json`.
 * @returns The rendered trace (or JSON) and the result.
 *
 * @example
 * ```ts
 * import { Accept, emptyPolicy, Match, tablePolicy } from "@rampart/iptables";
 * import { replTrace } from "@rampart/iptables/repl";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const policy = {
 *   ...emptyPolicy([4]),
 *   tables: [tablePolicy("filter", {
 *     insertions: { INPUT: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] },
 *     policies: { INPUT: "DROP" },
 *   })],
 * };
 * const { result } = await replTrace({
 *   policy: () => policy, runner: new FakeDataplane().runner, netns: undefined,
 *   backend: "nft", hashPrefix: "rampart:", ruleIds: "stable", color: false,
 * }, { src: "203.0.113.7", dst: "10.0.0.1", dport: 80 });
 * assert.equal(result.verdict, "DROP");
 * ```
 */
export async function replTrace(
  ctx: ReplTraceContext,
  fields: Readonly<Record<string, unknown>>,
  options: ReplTraceOptions = {},
): Promise<{ text: string; result: TraceResult }> {
  const packet = toPacket(fields);
  const { ipVersion } = packetState(packet);
  const { ruleset, trace, origin } = await rulesetFor(ctx, ipVersion, options);
  const result = tracePacket(ruleset, packet, trace);
  if (options.json === true) {
    return { text: JSON.stringify({ packet, ...result }, null, 2) + "\n", result };
  }
  const dim = (t: string) => ctx.color ? `\x1b[2m${t}\x1b[0m` : t;
  return {
    text: dim(`rules: ${origin}`) + "\n" + renderTrace(result, { color: ctx.color, packet }),
    result,
  };
}

/**
 * Draws the desired state (or, with `live`, the target's tables) for the
 * REPL, the path of `options.packet` highlighted.
 *
 * @param ctx The session.
 * @param options Format, packet, `live`, addresses, IP sets, `assume`.
 * @returns The diagram source.
 *
 * @example
 * ```ts
 * import { Accept, emptyPolicy, Match, tablePolicy } from "@rampart/iptables";
 * import { replGraph } from "@rampart/iptables/repl";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const policy = {
 *   ...emptyPolicy([4]),
 *   tables: [tablePolicy("filter", {
 *     insertions: { INPUT: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] },
 *   })],
 * };
 * const text = await replGraph({
 *   policy: () => policy, runner: new FakeDataplane().runner, netns: undefined,
 *   backend: "nft", hashPrefix: "rampart:", ruleIds: "stable", color: false,
 * }, { format: "dot" });
 * assert.match(text, /label="INPUT\\n1 rule · policy ACCEPT"/);
 * ```
 */
export async function replGraph(
  ctx: ReplTraceContext,
  options: ReplTraceOptions = {},
): Promise<string> {
  const format = options.format ?? "mermaid";
  if (format !== "mermaid" && format !== "dot") {
    throw new TypeError(`Invalid format ${JSON.stringify(format)}: expected mermaid or dot`);
  }
  if (options.packet !== undefined) {
    const packet = toPacket(options.packet);
    const { ipVersion } = packetState(packet);
    const { ruleset, trace: traceOptions } = await rulesetFor(ctx, ipVersion, options);
    const trace = tracePacket(ruleset, packet, traceOptions);
    return renderGraph([ruleset], { format, trace, packetLabel: describePacket(packet) });
  }
  const families = options.live === true ? [4, 6] as const : ctx.policy().ipVersions;
  const rulesets: TraceRuleset[] = [];
  for (const v of families) rulesets.push((await rulesetFor(ctx, v, options)).ruleset);
  return renderGraph(rulesets, { format });
}

function toPacket(fields: Readonly<Record<string, unknown>>): TracePacket {
  if (fields === null || typeof fields !== "object") {
    throw new TypeError(
      `Invalid packet ${JSON.stringify(fields)}: expected { src, dst, proto, dport, … }`,
    );
  }
  // A TracePacket as the library takes it is accepted too.
  if ("source" in fields || "destination" in fields) return fields as unknown as TracePacket;
  return packetFromFlags(fields);
}

/**
 * Parses the arguments of `.trace` and `.graph` (`--src 203.0.113.7 --dst
 * 10.0.0.1 --dport 22 --live --json --format dot --assume rpfilter=no-match
 * --local-address 10.0.0.1/24`).
 *
 * @param text The text after the command.
 * @returns The packet fields (empty when none was given) and the options.
 * @throws {TypeError} On an unknown flag or a bad value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTraceDotArgs } from "@rampart/iptables/repl";
 * const { fields, options } = parseTraceDotArgs("--src 10.0.0.9 --dst 10.0.0.1 --dport 22 --live");
 * assert.equal(fields.dport, "22");
 * assert.ok(options.live);
 * ```
 */
export function parseTraceDotArgs(
  text: string,
): { fields: Record<string, unknown>; options: ReplTraceOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: text.split(/\s+/).filter((t) => t !== ""),
      allowPositionals: false,
      strict: true,
      options: {
        ...PACKET_FLAG_OPTIONS,
        live: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        format: { type: "string" },
        "local-address": { type: "string", multiple: true },
        assume: { type: "string", multiple: true },
      },
    });
  } catch (e) {
    throw new TypeError((e as Error).message.split("\n")[0]!.replace(/\.$/, ""));
  }
  const v = parsed.values as Record<string, unknown>;
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(PACKET_FLAG_OPTIONS)) {
    if (v[k] !== undefined) fields[k] = v[k];
  }
  const options: ReplTraceOptions = {};
  if (v.live === true) options.live = true;
  if (v.json === true) options.json = true;
  if (v.format !== undefined) options.format = v.format as "mermaid" | "dot";
  if (v["local-address"] !== undefined) options.localAddresses = v["local-address"] as string[];
  if (v.assume !== undefined) options.assume = parseAssumeFlags(v.assume as string[]);
  if (hasPacketFlags(fields)) options.packet = fields;
  return { fields, options };
}
