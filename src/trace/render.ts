/**
 * A trace as text for a terminal: the packet, the verdict and the rule that
 * decided it, then the path step by step (table, chain, position, rule,
 * what it did, rule ID and `file:line`), one block per branch.
 *
 * @module
 */
import type { TracePacket } from "./packet.ts";
import type { TraceOutcome, TraceResult, TraceStep } from "./result.ts";

/** Options of {@linkcode renderTrace}. */
export interface RenderTraceOptions {
  /** ANSI colours. @default {false} */
  color?: boolean;
  /** The packet as given, for the heading. */
  packet?: TracePacket;
}

const VERDICT_COLOR: Record<string, string> = {
  ACCEPT: "32",
  DROP: "31",
  REJECT: "31",
  QUEUE: "35",
  NFQUEUE: "35",
  UNKNOWN: "33",
};

/**
 * Renders a trace for people.
 *
 * @param result What {@linkcode tracePacket} returned.
 * @param options Colours and the packet for the heading.
 * @returns The text (ends with a newline).
 *
 * @example
 * ```ts
 * import { renderTrace, tracePacket } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const result = tracePacket("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", {
 *   source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 22,
 * });
 * const text = renderTrace(result);
 * assert.match(text, /^verdict: DROP by filter INPUT policy DROP/m);
 * ```
 */
export function renderTrace(result: TraceResult, options: RenderTraceOptions = {}): string {
  const paint = (code: string, text: string) =>
    options.color === true ? `\x1b[${code}m${text}\x1b[0m` : text;
  let out = "";
  if (options.packet !== undefined) out += `packet: ${describePacket(options.packet)}\n`;
  out += `verdict: ${paint(`1;${VERDICT_COLOR[result.verdict] ?? "0"}`, result.verdict)}`;
  if (result.outcomes.length === 1) out += decidedText(result.outcomes[0]!);
  else {
    const counts = new Map<string, number>();
    for (const o of result.outcomes) counts.set(o.verdict, (counts.get(o.verdict) ?? 0) + 1);
    out += ` (${result.outcomes.length} branches: ${
      [...counts].map(([v, n]) => `${n} ${v}`).join(", ")
    }; some matches could not be decided)`;
  }
  out += "\n";
  result.outcomes.forEach((o, i) => {
    if (result.outcomes.length > 1) {
      out += `\n${paint("1", `branch ${i + 1} of ${result.outcomes.length}`)}: ${
        paint(VERDICT_COLOR[o.verdict] ?? "0", o.verdict)
      }${decidedText(o)}\n`;
      for (const a of o.assumptions) {
        out += paint(
          "33",
          `  assumes ${a.table} ${a.chain} #${a.position} ${
            a.matched ? "matched" : "did not match"
          } (${a.matches.join(" ")}: ${a.reason})`,
        ) + "\n";
      }
    }
    out += renderPath(o, paint);
  });
  return out;
}

function decidedText(o: TraceOutcome): string {
  const by = o.decidedBy;
  let text = "";
  if (o.rejectWith !== undefined) text += ` (${o.rejectWith})`;
  if (o.queue !== undefined) text += ` (queue ${o.queue})`;
  if (by === undefined) return text;
  if (by.kind === "policy") return `${text} by ${by.table} ${by.chain} policy ${by.action}`;
  text += ` by ${by.table} ${by.chain} rule ${by.position}`;
  if (by.source !== undefined) text += ` (${by.source.file}:${by.source.line})`;
  else if (by.ruleId !== undefined) text += ` (rule ID ${by.ruleId})`;
  return text;
}

function renderPath(o: TraceOutcome, paint: (code: string, text: string) => string): string {
  let out = "";
  // Built-in chains passed by their ACCEPT policy, one after the other, share a line.
  let passed: TraceStep[] = [];
  const flush = () => {
    if (passed.length === 0) return;
    out += `  ${paint("36", passed.map((s) => `${s.table} ${s.chain}`).join(" · "))}  policy ${
      paint(VERDICT_COLOR.ACCEPT!, "ACCEPT")
    }\n`;
    passed = [];
  };
  for (const s of o.path) {
    if (s.kind === "policy" && s.action === "ACCEPT") {
      passed.push(s);
      continue;
    }
    flush();
    out += "  " + stepLine(s, paint) + "\n";
    const extra: string[] = [];
    if (s.ruleId !== undefined) extra.push(`rule ID ${s.ruleId}`);
    if (s.source !== undefined) extra.push(`${s.source.file}:${s.source.line}`);
    if (s.change !== undefined) extra.push(s.change);
    if (s.assumed !== undefined) extra.push(`assumed to match: ${s.assumed.join(" ")}`);
    if (extra.length > 0) out += paint("2", `      ${extra.join(" · ")}`) + "\n";
  }
  flush();
  const p = o.packet;
  const ports = (port: string | undefined) => port === undefined ? "" : `:${port}`;
  out += paint(
    "2",
    `  packet at the end: ${p.source}${ports(p.sourcePort)} → ${p.destination}${
      ports(p.destPort)
    }, ${p.direction}, mark ${p.mark}${
      p.connMark === undefined ? "" : `, connmark ${p.connMark}`
    }, ` +
      `state ${p.state}`,
  ) + "\n";
  for (const n of o.notes) out += paint("33", `  note: ${n}`) + "\n";
  return out;
}

/** The rule as saved, without the comment that carries its rule ID (shown on its own line). */
function ruleText(s: TraceStep): string {
  const text = s.rule ?? "";
  if (s.ruleId === undefined) return text;
  const at = text.indexOf(s.ruleId);
  if (at < 0) return text;
  const start = text.lastIndexOf(" -m comment --comment ", at);
  if (start < 0) return text;
  let end = at + s.ruleId.length;
  if (text[end] === '"') end++;
  // Only a comment holding nothing but the ID (after its prefix) is left out.
  const comment = text.slice(start + " -m comment --comment ".length, end);
  if (/\s/.test(comment.replace(/^"|"$/g, ""))) return text;
  return text.slice(0, start) + text.slice(end);
}

function stepLine(s: TraceStep, paint: (code: string, text: string) => string): string {
  const where = paint(
    "36",
    `${s.table} ${s.chain}${s.position === undefined ? "" : ` #${s.position}`}`,
  );
  switch (s.kind) {
    case "policy":
      return `${where}  policy ${paint(VERDICT_COLOR[s.action] ?? "0", s.action)}`;
    case "return":
      return `${where}  end of chain, back to the caller`;
    case "assumed-no-match":
      return `${where}  ${paint("2", ruleText(s))}  ${paint("33", "(assumed not to match)")}`;
    default: {
      const color = VERDICT_COLOR[s.action];
      return `${where}  ${ruleText(s)}  → ${
        color === undefined ? s.action : paint(color, s.action)
      }`;
    }
  }
}

/** One line describing a packet (`tcp 203.0.113.7 → 10.0.0.1:22 in eth0, NEW`). */
export function describePacket(p: TracePacket): string {
  const proto = `${p.protocol ?? "tcp"}`;
  const sp = p.sourcePort === undefined ? "" : `:${p.sourcePort}`;
  const dp = p.destPort === undefined ? "" : `:${p.destPort}`;
  let text = `${proto} ${p.source}${sp} → ${p.destination}${dp}`;
  if (p.icmpType !== undefined) {
    text += ` type ${p.icmpType}${p.icmpCode === undefined ? "" : `/${p.icmpCode}`}`;
  }
  if (p.inInterface !== undefined) text += ` in ${p.inInterface}`;
  if (p.outInterface !== undefined) text += ` out ${p.outInterface}`;
  if (p.direction !== undefined) text += ` (${p.direction})`;
  text += `, ${p.state ?? "NEW"}`;
  if (p.mark !== undefined) text += `, mark 0x${p.mark.toString(16)}`;
  return text;
}
