/**
 * What {@linkcode tracePacket} returns: the verdict, the rule that decided
 * it, and the path (every rule whose matches held, every chain policy
 * taken), with one outcome per branch when a match could not be decided.
 *
 * @module
 */
import type { TraceConntrackState, TraceDirection } from "./packet.ts";

/**
 * The end of a packet's walk: accepted (delivered, forwarded or sent),
 * dropped, rejected, queued to user space (`QUEUE`, `NFQUEUE`), or `UNKNOWN`
 * (the branches disagree, or a target the tracer does not model stopped it).
 */
export type TraceVerdict = "ACCEPT" | "DROP" | "REJECT" | "QUEUE" | "NFQUEUE" | "UNKNOWN";

/** Where a rule of a policy file was written. */
export interface TraceRuleSource {
  /** The file. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The field path in the file (`tables.filter.chains.rp-input[2]`). */
  field: string;
}

/** A match whose outcome the tracer could not know, and what this branch assumed. */
export interface TraceAssumption {
  /** The table. */
  table: string;
  /** The chain. */
  chain: string;
  /** The rule's position. */
  position: number;
  /** The undecided matches of the rule (`-m limit --limit 3/min`). */
  matches: string[];
  /** Why they cannot be decided. */
  reason: string;
  /** What this branch assumed: that the rule matched, or that it did not. */
  matched: boolean;
}

/** One step of the path. */
export interface TraceStep {
  /**
   * `rule`: a rule whose matches held (its counter would count the packet);
   * `policy`: a built-in chain's policy was taken; `return`: the end of a
   * user chain, back to the caller; `assumed-no-match`: a rule with an
   * undecided match that this branch assumes did not match.
   */
  kind: "rule" | "policy" | "return" | "assumed-no-match";
  /** The table. */
  table: string;
  /** The chain. */
  chain: string;
  /** The rule's 1-based position (absent for policies and returns). */
  position?: number;
  /** The rule as saved (`-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT`), or `-P INPUT DROP`. */
  rule?: string;
  /** The rule ID carried by its comment (Rampart's rules), if any. */
  ruleId?: string;
  /** The rule's comment, if any (several are joined by a space). */
  comment?: string;
  /** Each of the rule's comments, when it has several. */
  comments?: string[];
  /** Where the rule was written, for rules of a policy file. */
  source?: TraceRuleSource;
  /** What the step did: `ACCEPT`, `DROP`, `jump rp-in`, `goto rp-x`, `MARK`, `return`, … */
  action: string;
  /** What it changed (`mark 0x0 → 0x1`, `destination 10.0.0.1 → 10.0.0.2`). */
  change?: string;
  /** Undecided matches assumed true for this step's branch. */
  assumed?: string[];
}

/** The packet at the end of a branch, after NAT and marks. */
export interface TraceFinalPacket {
  /** Where it went (the routing decision may turn `in` into `forward` after DNAT). */
  direction: TraceDirection;
  /** Source address (a range after a NAT range; `?` where not known, as after MASQUERADE). */
  source: string;
  /** Destination address. */
  destination: string;
  /** Source port, if it has one. */
  sourcePort?: string;
  /** Destination port, if it has one. */
  destPort?: string;
  /** Packet mark (hex). */
  mark: string;
  /** Connection mark (hex), when it has a connection. */
  connMark?: string;
  /** Conntrack state. */
  state: TraceConntrackState;
  /** TTL (IPv4) or hop limit (IPv6), after TTL targets and forwarding. */
  ttl: number;
  /** DSCP, after DSCP and TOS targets. */
  dscp: number;
}

/** One branch's end. */
export interface TraceOutcome {
  /** The verdict. */
  verdict: TraceVerdict;
  /** REJECT's `--reject-with` type. */
  rejectWith?: string;
  /** The queue number (QUEUE, NFQUEUE). */
  queue?: number;
  /** The step that decided the verdict (the accepting rule or policy of the last table for ACCEPT). */
  decidedBy?: TraceStep;
  /** The path. */
  path: TraceStep[];
  /** What this branch assumed about undecided matches. */
  assumptions: TraceAssumption[];
  /** The packet at the end. */
  packet: TraceFinalPacket;
  /** Remarks on the model (`nat is consulted only for the first packet`, …). */
  notes: string[];
}

/** What {@linkcode tracePacket} returns. */
export interface TraceResult {
  /** The verdict all branches agree on, else `UNKNOWN`. */
  verdict: TraceVerdict;
  /** REJECT type of the (first) outcome. */
  rejectWith?: string;
  /** Queue number of the (first) outcome. */
  queue?: number;
  /** The deciding step of the first outcome. */
  decidedBy?: TraceStep;
  /** The path of the first outcome (the only one when every match was decided). */
  path: TraceStep[];
  /** Every branch: one when every match was decided. */
  outcomes: TraceOutcome[];
  /** Whether every match on the way was decided (a single outcome). */
  decided: boolean;
  /** The family. */
  ipVersion: 4 | 6;
}
