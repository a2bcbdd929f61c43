/**
 * Policy unit tests: assertions that a packet gets a verdict from a policy
 * (a YAML file's, the DSL's, a `Firewall` or `Table`, or `iptables-save`
 * text), with no kernel and no root. A failure shows the packet's path
 * through the rules, with `file:line` for rules of YAML files.
 *
 * @module
 */
import { sourcePositionOf } from "../yaml/load.ts";
import { describePacket, renderTrace } from "./render.ts";
import type { TracePacket } from "./packet.ts";
import {
  traceOptions,
  tracePolicy,
  type TracePolicyOptions,
  type TracePolicySource,
} from "./policy_source.ts";
import type { TraceResult, TraceRuleSource, TraceStep, TraceVerdict } from "./result.ts";
import type { TraceRuleset } from "./ruleset.ts";
import { tracePacket } from "./walk.ts";

/** What a test traces: a policy, firewall or table, or the `iptables-save` text of one family. */
export type TraceSubject = TracePolicySource | TraceRuleset | string;

/** Which step must decide the verdict: every field given must agree. */
export interface DecidedByPattern {
  /** `rule` or `policy` (a built-in chain's policy). */
  kind?: "rule" | "policy";
  /** The table. */
  table?: string;
  /** The chain. */
  chain?: string;
  /** The rule's 1-based position in its chain. */
  position?: number;
  /** The rule's comment (any of its comments), or a pattern it matches. */
  comment?: string | RegExp;
  /** The rule ID. */
  ruleId?: string;
}

/** Options of {@linkcode assertVerdict}. */
export interface AssertVerdictOptions extends TracePolicyOptions {
  /** The step that must decide the verdict. */
  decidedBy?: DecidedByPattern;
  /**
   * Whether a verdict every branch agrees on passes when some match could
   * not be decided (rate limits, rpfilter, …). `false` requires a single
   * branch. @default {true}
   */
  allowBranches?: boolean;
  /** A name for the packet in failure messages (`SSH from the office`). */
  name?: string;
}

/**
 * A verdict assertion failed. The message shows the expected and actual
 * verdicts and the packet's path; `result` holds the trace.
 *
 * @example
 * ```ts
 * import { assertVerdict, TraceAssertionError } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const save = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n";
 * const packet = { source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 22 };
 * await assert.rejects(assertVerdict(save, packet, "ACCEPT"), TraceAssertionError);
 * ```
 */
export class TraceAssertionError extends Error {
  /** The trace that did not meet the expectation. */
  readonly result: TraceResult;

  /**
   * Creates the error.
   *
   * @param message What was expected and what happened, with the path.
   * @param options The trace.
   */
  constructor(message: string, options: { result: TraceResult }) {
    super(message);
    this.name = "TraceAssertionError";
    this.result = options.result;
  }
}

function isRuleset(subject: TraceSubject): subject is TraceRuleset {
  return typeof subject === "object" && subject !== null && "tables" in subject &&
    !Array.isArray((subject as { tables: unknown }).tables) && "ipVersion" in subject;
}

/**
 * Traces a packet through any subject of a test.
 *
 * @param subject A policy, firewall, table, parsed rule set or save text.
 * @param packet The packet.
 * @param options Tracer options (`locate` defaults to the YAML loader's `sourcePositionOf`).
 * @returns The trace.
 *
 * @example
 * ```ts
 * import { traceSubject } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const result = await traceSubject("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", {
 *   source: "203.0.113.7", destination: "10.0.0.1",
 * });
 * assert.equal(result.verdict, "DROP");
 * ```
 */
export async function traceSubject(
  subject: TraceSubject,
  packet: TracePacket,
  options: TracePolicyOptions = {},
): Promise<TraceResult> {
  if (typeof subject === "string" || isRuleset(subject)) {
    const o = traceOptions(options);
    if (options.backend !== undefined) o.backend = options.backend;
    return tracePacket(subject, packet, o);
  }
  return await tracePolicy(subject, packet, {
    locate: sourcePositionOf as (rule: object) => TraceRuleSource | undefined,
    ...options,
  });
}

function stepMatches(step: TraceStep | undefined, pattern: DecidedByPattern): boolean {
  if (step === undefined) return false;
  if (pattern.kind !== undefined && step.kind !== pattern.kind) return false;
  if (pattern.table !== undefined && step.table !== pattern.table) return false;
  if (pattern.chain !== undefined && step.chain !== pattern.chain) return false;
  if (pattern.position !== undefined && step.position !== pattern.position) return false;
  if (pattern.ruleId !== undefined && step.ruleId !== pattern.ruleId) return false;
  if (pattern.comment !== undefined) {
    const all = step.comments ?? (step.comment === undefined ? [] : [step.comment]);
    const wanted = pattern.comment;
    const ok = all.some((c) => typeof wanted === "string" ? c === wanted : wanted.test(c));
    if (!ok) return false;
  }
  return true;
}

function patternText(p: DecidedByPattern): string {
  const parts: string[] = [];
  if (p.kind !== undefined) parts.push(p.kind);
  if (p.table !== undefined) parts.push(`table ${p.table}`);
  if (p.chain !== undefined) parts.push(`chain ${p.chain}`);
  if (p.position !== undefined) parts.push(`rule ${p.position}`);
  if (p.comment !== undefined) parts.push(`comment ${String(p.comment)}`);
  if (p.ruleId !== undefined) parts.push(`rule ID ${p.ruleId}`);
  return parts.join(", ");
}

/** Why a trace does not meet an expectation, or undefined when it does. */
function problem(
  result: TraceResult,
  expected: TraceVerdict,
  options: AssertVerdictOptions,
): string | undefined {
  if (result.verdict !== expected) {
    if (result.verdict === "UNKNOWN" && !result.decided) {
      const verdicts = [...new Set(result.outcomes.map((o) => o.verdict))].join(", ");
      return `expected ${expected}, but the verdict depends on matches the tracer cannot ` +
        `decide (the branches end in ${verdicts}); pass assume: { module: true | false } to ` +
        "choose their outcome";
    }
    return `expected ${expected}, got ${result.verdict}`;
  }
  if (options.allowBranches === false && !result.decided) {
    return `expected ${expected} decided by every match, but some matches could not be decided`;
  }
  if (options.decidedBy !== undefined) {
    const bad = result.outcomes.find((o) => !stepMatches(o.decidedBy, options.decidedBy!));
    if (bad !== undefined) {
      return `expected ${expected} decided by ${patternText(options.decidedBy)}, but it was ` +
        `decided by ${stepText(bad.decidedBy)}`;
    }
  }
  return undefined;
}

function stepText(s: TraceStep | undefined): string {
  if (s === undefined) return "nothing";
  if (s.kind === "policy") return `the ${s.table} ${s.chain} policy`;
  let text = `${s.table} ${s.chain} rule ${s.position}`;
  if (s.source !== undefined) text += ` (${s.source.file}:${s.source.line})`;
  return text;
}

function failure(
  result: TraceResult,
  packet: TracePacket,
  why: string,
  name: string | undefined,
): TraceAssertionError {
  const what = name === undefined ? describePacket(packet) : `${name} (${describePacket(packet)})`;
  const path = renderTrace(result).replace(/\n$/, "").split("\n").map((l) => `  ${l}`).join("\n");
  return new TraceAssertionError(`${what}: ${why}\n${path}`, { result });
}

/**
 * Asserts that a packet gets a verdict (`ACCEPT`, `DROP`, `REJECT`, …) from
 * a policy, with no kernel and no root. When every branch of an undecided
 * match agrees, that verdict counts (unless `allowBranches: false`). On
 * failure it throws a {@linkcode TraceAssertionError} whose message shows the
 * packet's path, each rule with its `file:line` when it came from a YAML file.
 *
 * @param subject A policy (from `loadPolicyFile` or the DSL), a `Firewall`, a `Table`, or
 *   `iptables-save` text.
 * @param packet The packet.
 * @param expected The verdict.
 * @param options The deciding step, tracer options (`localAddresses`, `ipSets`, `assume`, …).
 * @returns The trace (for further checks).
 * @throws {TraceAssertionError} When the verdict (or the deciding step) differs.
 *
 * @example SSH only from the office network
 * ```ts
 * import { Accept, Match, tablePolicy } from "@rampart/iptables";
 * import { assertVerdict } from "@rampart/iptables/testing";
 * const policy = {
 *   ipVersions: [4] as (4 | 6)[],
 *   tables: [tablePolicy("filter", {
 *     insertions: {
 *       INPUT: [{ match: Match().protocol("tcp").destPorts(22).sourceNet("198.51.100.0/24"), action: Accept() }],
 *     },
 *     policies: { INPUT: "DROP" },
 *   })],
 * };
 * const ssh = { inInterface: "eth0", destination: "10.0.0.1", protocol: "tcp", destPort: 22 };
 * await assertVerdict(policy, { ...ssh, source: "198.51.100.4" }, "ACCEPT");
 * await assertVerdict(policy, { ...ssh, source: "203.0.113.7" }, "DROP", {
 *   decidedBy: { kind: "policy", chain: "INPUT" },
 * });
 * ```
 */
export async function assertVerdict(
  subject: TraceSubject,
  packet: TracePacket,
  expected: TraceVerdict,
  options: AssertVerdictOptions = {},
): Promise<TraceResult> {
  const { decidedBy: _d, allowBranches: _a, name, ...trace } = options;
  const result = await traceSubject(subject, packet, trace);
  const why = problem(result, expected, options);
  if (why !== undefined) throw failure(result, packet, why, name);
  return result;
}

/** One case of {@linkcode assertVerdicts}. */
export interface VerdictCase {
  /** A name for the case (shown on failure). */
  name?: string;
  /** The packet. */
  packet: TracePacket;
  /** The expected verdict. */
  verdict: TraceVerdict;
  /** The step that must decide it. */
  decidedBy?: DecidedByPattern;
}

/**
 * Asserts many packets' verdicts at once (a table of cases) and reports
 * every failing case together, each with its path.
 *
 * @param subject A policy, firewall, table or save text.
 * @param cases The cases.
 * @param options Tracer options shared by every case.
 * @throws {TraceAssertionError} With every failing case (its `result` is the first failure's).
 *
 * @example
 * ```ts
 * import { assertVerdicts } from "@rampart/iptables/testing";
 * const save = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n";
 * const to = (destPort: number) => ({ source: "203.0.113.7", destination: "10.0.0.1", destPort });
 * await assertVerdicts(save, [
 *   { name: "https", packet: to(443), verdict: "ACCEPT" },
 *   { name: "telnet", packet: to(23), verdict: "DROP" },
 * ]);
 * ```
 */
export async function assertVerdicts(
  subject: TraceSubject,
  cases: readonly VerdictCase[],
  options: Omit<AssertVerdictOptions, "decidedBy" | "name"> = {},
): Promise<void> {
  const failures: TraceAssertionError[] = [];
  for (const c of cases) {
    try {
      await assertVerdict(subject, c.packet, c.verdict, {
        ...options,
        ...(c.decidedBy === undefined ? {} : { decidedBy: c.decidedBy }),
        ...(c.name === undefined ? {} : { name: c.name }),
      });
    } catch (e) {
      if (!(e instanceof TraceAssertionError)) throw e;
      failures.push(e);
    }
  }
  if (failures.length > 0) {
    throw new TraceAssertionError(
      `${failures.length} of ${cases.length} cases failed:\n\n` +
        failures.map((f) => f.message).join("\n\n"),
      { result: failures[0]!.result },
    );
  }
}
