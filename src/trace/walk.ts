/**
 * The packet tracer: walks a packet through the netfilter hooks of a rule
 * set in the kernel's order, following jumps, gotos and returns, applying
 * what the targets change, and ends with the verdict and the path.
 *
 * @module
 */
import type { TableName } from "../../dsl/kernel_chains.ts";
import {
  FORWARD_STAGES,
  INPUT_STAGES,
  OUTPUT_STAGES,
  PREROUTING_STAGES,
  type Stage,
} from "./hooks.ts";
import type { TraceIpSets } from "./ipsets.ts";
import {
  headerMatches,
  type LocalAddress,
  type MatchAnswer,
  matchModule,
  matchText,
  parseLocalAddresses,
} from "./matches.ts";
import {
  formatPorts,
  formatSpan,
  type PacketState,
  packetState,
  type TracePacket,
} from "./packet.ts";
import type {
  TraceAssumption,
  TraceOutcome,
  TraceResult,
  TraceRuleSource,
  TraceStep,
  TraceVerdict,
} from "./result.ts";
import {
  parseTraceRuleset,
  type TraceChain,
  type TraceRule,
  type TraceRuleset,
} from "./ruleset.ts";
import { applyTarget, type TargetEffect, type TargetOutcome } from "./targets.ts";

/** Options of {@linkcode tracePacket}. */
export interface TraceOptions {
  /**
   * The host's addresses (`10.0.0.1/24`, `2001:db8::1/64`): they decide
   * addrtype's LOCAL and BROADCAST and, after PREROUTING, whether the packet
   * is for this host or forwarded. Absent: those matches are undecided and
   * the packet's `direction` is kept.
   */
  localAddresses?: readonly string[];
  /** Contents of IP sets; a set not given makes `-m set` undecided. */
  ipSets?: TraceIpSets;
  /** Which iptables-save printed a text rule set. @default {"nft"} */
  backend?: "nft" | "legacy";
  /** Prefix of the comment that carries a rule ID. @default {"rampart:"} */
  hashPrefix?: string;
  /** Where each rule ID was written (policy files), for the steps' `source`. */
  ruleSources?: ReadonlyMap<string, TraceRuleSource>;
  /** At most this many branches are explored; the rest end as `UNKNOWN`. @default {64} */
  maxBranches?: number;
  /**
   * Outcomes to take for match modules the tracer cannot decide, by module
   * name (`{ rpfilter: false, limit: true }`): a module given here no longer
   * splits the walk. Only modules without a model are affected.
   */
  assume?: Readonly<Record<string, boolean>>;
}

interface Frame {
  chain: string;
  next: number;
}

interface Machine {
  p: PacketState;
  stages: Stage[];
  stage: number;
  frames: Frame[];
  path: TraceStep[];
  assumptions: TraceAssumption[];
  notes: string[];
  /** The last step that accepted the packet in each table. */
  accepts: TraceStep[];
  /** The outgoing interface the caller gave (for forwarded packets). */
  requestedOut: string | undefined;
  /** Forced outcome of the next rule (a branch's assumption). */
  assume?: boolean;
  steps: number;
}

const MAX_STEPS = 100_000;
const MAX_DEPTH = 64;

/**
 * Traces a packet through an iptables rule set: the `iptables-save` text of
 * one family (all tables, every program's rules) or a parsed
 * {@linkcode TraceRuleset}. Hooks are walked in the kernel's order for the
 * packet's direction; the nat chains only for the first packet of a
 * connection (state `NEW`). A match the tracer cannot decide (rate limits,
 * IP sets not given, …) splits the walk in two branches, one per outcome.
 *
 * @param rules The save text or parsed rule set.
 * @param packet The packet.
 * @param options Host addresses, IP sets, rule sources.
 * @returns The verdict, the deciding step and the path.
 * @throws {TracePacketError} When the packet is invalid.
 *
 * @example SSH from outside is dropped by the policy
 * ```ts
 * import { tracePacket } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const save = [
 *   "*filter",
 *   ":INPUT DROP [0:0]",
 *   "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
 *   "COMMIT",
 * ].join("\n");
 * const result = tracePacket(save, {
 *   inInterface: "eth0", source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 22,
 * });
 * assert.equal(result.verdict, "DROP");
 * assert.equal(result.decidedBy?.kind, "policy");
 * const office = tracePacket(save, {
 *   inInterface: "eth0", source: "198.51.100.9", destination: "10.0.0.1", protocol: "tcp", destPort: 22,
 * });
 * assert.equal(office.verdict, "ACCEPT");
 * assert.equal(office.decidedBy?.position, 1);
 * ```
 */
export function tracePacket(
  rules: string | TraceRuleset,
  packet: TracePacket,
  options: TraceOptions = {},
): TraceResult {
  const start = packetState(packet);
  const set = typeof rules === "string"
    ? parseTraceRuleset(rules, {
      ipVersion: start.ipVersion,
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.hashPrefix === undefined ? {} : { hashPrefix: options.hashPrefix }),
    })
    : rules;
  if (set.ipVersion !== start.ipVersion) {
    throw new TypeError(
      `The rule set is for IPv${set.ipVersion} but the packet is IPv${start.ipVersion}`,
    );
  }
  const local = options.localAddresses === undefined
    ? undefined
    : parseLocalAddresses(options.localAddresses);
  const walker = new Walker(set, local, options);
  const first: Machine = {
    p: start,
    stages: [...(start.direction === "out" ? OUTPUT_STAGES : PREROUTING_STAGES)],
    stage: 0,
    frames: [],
    path: [],
    assumptions: [],
    notes: [],
    accepts: [],
    requestedOut: packet.outInterface,
    steps: 0,
  };
  if (start.pendingState !== "NEW") {
    first.notes.push(
      `state ${start.pendingState}: the nat chains are consulted only for the first packet of a ` +
        "connection; any translation set up by that packet is not known to the tracer",
    );
  }
  if (start.pendingState === "NEW" && packet.connMark !== undefined && packet.connMark !== 0) {
    first.notes.push("a NEW connection has connection mark 0: connMark is ignored");
    start.pendingConnMark = 0;
  }
  const outcomes = walker.run(first, options.maxBranches ?? 64);
  const head = outcomes[0]!;
  const verdicts = new Set(outcomes.map((o) => o.verdict));
  const verdict: TraceVerdict = verdicts.size === 1 ? head.verdict : "UNKNOWN";
  const result: TraceResult = {
    verdict,
    path: head.path,
    outcomes,
    decided: outcomes.length === 1,
    ipVersion: start.ipVersion,
  };
  if (head.decidedBy !== undefined) result.decidedBy = head.decidedBy;
  if (head.rejectWith !== undefined) result.rejectWith = head.rejectWith;
  if (head.queue !== undefined) result.queue = head.queue;
  return result;
}

class Walker {
  readonly #set: TraceRuleset;
  readonly #local: readonly LocalAddress[] | undefined;
  readonly #ipSets: TraceIpSets | undefined;
  readonly #sources: ReadonlyMap<string, TraceRuleSource> | undefined;
  readonly #assume: Readonly<Record<string, boolean>> | undefined;

  constructor(
    set: TraceRuleset,
    local: readonly LocalAddress[] | undefined,
    options: TraceOptions,
  ) {
    this.#set = set;
    this.#local = local;
    this.#ipSets = options.ipSets;
    this.#sources = options.ruleSources;
    this.#assume = options.assume;
  }

  run(first: Machine, maxBranches: number): TraceOutcome[] {
    const out: TraceOutcome[] = [];
    const work: Machine[] = [first];
    let branches = 1;
    while (work.length > 0) {
      const m = work.shift()!;
      const r = this.#advance(m);
      if ("fork" in r) {
        if (branches >= maxBranches) {
          out.push(this.#finish(m, {
            kind: "unknown",
            reason: `more than ${maxBranches} branches: the rest were not explored`,
          }));
          continue;
        }
        branches++;
        const other = structuredClone(m);
        m.assume = true;
        other.assume = false;
        work.unshift(m, other);
      } else out.push(r.outcome);
    }
    return out;
  }

  /** Runs a machine until it ends (an outcome) or meets an undecided rule (a fork). */
  #advance(m: Machine): { outcome: TraceOutcome } | { fork: true } {
    for (;;) {
      if (++m.steps > MAX_STEPS) {
        return { outcome: this.#finish(m, { kind: "unknown", reason: "the walk did not end" }) };
      }
      if (m.frames.length === 0) {
        const stage = m.stages[m.stage];
        if (stage === undefined) return { outcome: this.#finish(m, { kind: "accept" }) };
        if (stage.kind === "conntrack") {
          this.#conntrack(m);
          m.stage++;
          continue;
        }
        if (stage.kind === "route") {
          const end = this.#route(m);
          if (end !== undefined) return { outcome: end };
          continue;
        }
        if (stage.table === "nat" && m.p.conn?.state !== "NEW") {
          m.stage++;
          continue;
        }
        const chain = this.#chain(stage.table, stage.hook);
        if (chain === undefined) {
          m.stage++;
          continue;
        }
        m.frames.push({ chain: stage.hook, next: 0 });
      }
      const stage = m.stages[m.stage] as Extract<Stage, { kind: "chain" }>;
      const frame = m.frames.at(-1)!;
      const chain = this.#chain(stage.table, frame.chain);
      if (chain === undefined) {
        return {
          outcome: this.#finish(m, {
            kind: "unknown",
            reason: `chain ${frame.chain} of table ${stage.table} does not exist`,
          }),
        };
      }
      if (frame.next >= chain.rules.length) {
        if (m.frames.length === 1 && frame.chain === stage.hook) {
          const end = this.#policy(m, stage, chain);
          if (end !== undefined) return { outcome: end };
          continue;
        }
        m.frames.pop();
        m.path.push({ kind: "return", table: stage.table, chain: frame.chain, action: "return" });
        if (m.frames.length === 0) {
          const end = this.#policy(m, stage, this.#chain(stage.table, stage.hook)!);
          if (end !== undefined) return { outcome: end };
        }
        continue;
      }
      const rule = chain.rules[frame.next]!;
      let answer: MatchAnswer;
      let undecided: string[] = [];
      if (m.assume !== undefined) {
        answer = m.assume;
        undecided = this.#undecided(rule, m.p, stage);
        m.assumptions.push({
          table: stage.table,
          chain: frame.chain,
          position: rule.position,
          matches: undecided,
          reason: this.#reason(rule, m.p, stage),
          matched: m.assume,
        });
        delete m.assume;
        if (answer === false) {
          m.path.push({
            ...this.#step(stage.table, frame.chain, rule),
            kind: "assumed-no-match",
            action: "no match (assumed)",
          });
        }
      } else {
        answer = this.#matches(rule, m.p, stage);
        if (typeof answer !== "boolean") return { fork: true };
      }
      frame.next++;
      if (!answer) continue;
      const step = this.#step(stage.table, frame.chain, rule);
      if (undecided.length > 0) step.assumed = undecided;
      m.path.push(step);
      const outcome: TargetOutcome = rule.parsed === undefined
        ? { effect: { kind: "unknown", reason: `rule not understood: ${rule.parseError}` } }
        : applyTarget(rule.parsed, m.p, {
          table: stage.table,
          hook: stage.hook,
          localAddresses: this.#local,
        });
      step.action = actionName(outcome.effect, rule);
      if (outcome.change !== undefined) step.change = outcome.change;
      const e = outcome.effect;
      switch (e.kind) {
        case "continue":
          break;
        case "accept":
          m.accepts.push(step);
          m.frames = [];
          m.stage++;
          break;
        case "return":
          m.frames.pop();
          if (m.frames.length === 0) {
            const end = this.#policy(m, stage, this.#chain(stage.table, stage.hook)!);
            if (end !== undefined) return { outcome: end };
          }
          break;
        case "jump":
        case "goto": {
          if (this.#chain(stage.table, e.chain) === undefined) {
            return {
              outcome: this.#finish(m, {
                kind: "unknown",
                reason: `chain ${e.chain} of table ${stage.table} does not exist`,
              }, step),
            };
          }
          if (e.kind === "goto") m.frames.pop();
          if (m.frames.length >= MAX_DEPTH) {
            return {
              outcome: this.#finish(m, { kind: "unknown", reason: "jumps nest too deeply" }, step),
            };
          }
          m.frames.push({ chain: e.chain, next: 0 });
          break;
        }
        default:
          return { outcome: this.#finish(m, e, step) };
      }
    }
  }

  /** The built-in chain's policy: ACCEPT moves on, anything else ends the walk. */
  #policy(
    m: Machine,
    stage: Extract<Stage, { kind: "chain" }>,
    chain: TraceChain,
  ): TraceOutcome | undefined {
    const policy = chain.policy ?? "ACCEPT";
    const step: TraceStep = {
      kind: "policy",
      table: stage.table,
      chain: stage.hook,
      rule: `-P ${stage.hook} ${policy}`,
      action: policy,
    };
    m.path.push(step);
    m.frames = [];
    if (policy === "ACCEPT") {
      m.accepts.push(step);
      m.stage++;
      return undefined;
    }
    return this.#finish(
      m,
      policy === "DROP" ? { kind: "drop" } : {
        kind: "unknown",
        reason: `policy ${policy}`,
      },
      step,
    );
  }

  #chain(table: TableName, name: string): TraceChain | undefined {
    return this.#set.tables[table]?.get(name);
  }

  /** Conntrack has run: the packet gets its connection (or none). */
  #conntrack(m: Machine): void {
    const p = m.p;
    const state = p.pendingState;
    if (state === "UNTRACKED" || state === "INVALID") {
      p.conn = { state, mark: 0, snat: false, dnat: false };
      return;
    }
    if (state === "NEW") {
      const tuple = { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport };
      p.conn = {
        state,
        mark: p.pendingConnMark,
        orig: structuredClone(tuple),
        reply: { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport },
        snat: false,
        dnat: false,
      };
      return;
    }
    p.conn = { state, mark: p.pendingConnMark, snat: undefined, dnat: undefined };
  }

  /**
   * The routing decision after PREROUTING: this host (INPUT) or forwarded.
   * A forwarded packet has its TTL (hop limit) decreased before FORWARD,
   * and is dropped when it has none left.
   */
  #route(m: Machine): TraceOutcome | undefined {
    const p = m.p;
    let forHost: boolean | undefined;
    const local = this.#local?.filter((l) => l.ipVersion === p.ipVersion);
    if (p.dst.lo === p.dst.hi) {
      // The (possibly DNATed) destination decides: multicast and broadcast
      // addresses and this host's own are delivered here, the rest is forwarded.
      const d = p.dst.lo;
      const v4 = p.ipVersion === 4;
      const multicast = v4 ? d >> 28n === 0xen : d >> 120n === 0xffn;
      const loopback = v4 ? d >> 24n === 127n : d === 1n;
      const broadcast = v4 && (d === 0xffffffffn ||
        (local ?? []).some((l) =>
          l.prefix < 31 && (l.value | ((1n << BigInt(32 - l.prefix)) - 1n)) === d
        ));
      if (multicast || loopback || broadcast) forHost = true;
      else if (local !== undefined) forHost = local.some((l) => l.value === d);
    }
    if (forHost === false && p.pktType !== "unicast") {
      m.notes.push(
        `the packet came in a link-layer ${p.pktType} frame: the router does not forward it ` +
          `to ${formatSpan(p.dst, p.ipVersion)}`,
      );
      p.direction = "forward";
      return this.#finish(m, { kind: "drop" });
    }
    const wanted = p.direction;
    if (forHost === undefined) {
      if (local !== undefined) {
        m.notes.push(
          `whether ${formatSpan(p.dst, p.ipVersion)} is local is not known: the packet is taken ` +
            `as ${wanted === "in" ? "arriving for this host" : "forwarded"}`,
        );
      }
      forHost = wanted === "in";
    } else if (forHost !== (wanted === "in")) {
      m.notes.push(
        forHost
          ? `the destination ${formatSpan(p.dst, p.ipVersion)} is an address of this host: ` +
            "the packet is delivered (INPUT), not forwarded"
          : `the destination ${formatSpan(p.dst, p.ipVersion)} is not an address of this host: ` +
            "the packet is forwarded (FORWARD)",
      );
    }
    p.direction = forHost ? "in" : "forward";
    if (!forHost) {
      p.outInterface = m.requestedOut;
      if (p.ttl <= 1) {
        m.notes.push(
          `the ${
            p.ipVersion === 4 ? "TTL" : "hop limit"
          } is ${p.ttl}: the router drops the packet (time exceeded) before FORWARD`,
        );
        return this.#finish(m, { kind: "drop" });
      }
      p.ttl--;
    }
    m.stages = [...m.stages.slice(0, m.stage + 1), ...(forHost ? INPUT_STAGES : FORWARD_STAGES)];
    m.stage++;
    return undefined;
  }

  #matches(rule: TraceRule, p: PacketState, stage: Extract<Stage, { kind: "chain" }>): MatchAnswer {
    if (rule.parsed === undefined) return { unknown: `rule not understood: ${rule.parseError}` };
    const h = headerMatches(rule.parsed, p);
    if (h === false) return false;
    let unknown: MatchAnswer | undefined = h === true ? undefined : h;
    for (const match of rule.parsed.matches) {
      const a = matchModule(match, p, this.#env(stage));
      if (a === false) return false;
      if (a !== true) unknown ??= a;
    }
    return unknown ?? true;
  }

  #env(stage: Extract<Stage, { kind: "chain" }>) {
    return {
      table: stage.table,
      hook: stage.hook,
      localAddresses: this.#local,
      ipSets: this.#ipSets,
      assume: this.#assume,
      backend: this.#set.backend ?? "nft",
    };
  }

  /** The texts of a rule's undecided matches. */
  #undecided(rule: TraceRule, p: PacketState, stage: Extract<Stage, { kind: "chain" }>): string[] {
    if (rule.parsed === undefined) return [rule.line];
    const out: string[] = [];
    const h = headerMatches(rule.parsed, p);
    if (typeof h !== "boolean") out.push("(addresses or interfaces)");
    for (const match of rule.parsed.matches) {
      if (typeof matchModule(match, p, this.#env(stage)) !== "boolean") out.push(matchText(match));
    }
    return out;
  }

  #reason(rule: TraceRule, p: PacketState, stage: Extract<Stage, { kind: "chain" }>): string {
    const a = this.#matches(rule, p, stage);
    return typeof a === "boolean" ? "" : a.unknown;
  }

  #step(table: string, chain: string, rule: TraceRule): TraceStep {
    const step: TraceStep = {
      kind: "rule",
      table,
      chain,
      position: rule.position,
      rule: rule.line,
      action: "",
    };
    if (rule.ruleId !== undefined) step.ruleId = rule.ruleId;
    if (rule.comment !== undefined) step.comment = rule.comment;
    if (rule.comments.length > 1) step.comments = rule.comments;
    const source = rule.ruleId === undefined ? undefined : this.#sources?.get(rule.ruleId);
    if (source !== undefined) step.source = source;
    return step;
  }

  #finish(m: Machine, e: TargetEffect | { kind: "accept" }, step?: TraceStep): TraceOutcome {
    const p = m.p;
    let verdict: TraceVerdict;
    const out: Partial<TraceOutcome> = {};
    switch (e.kind) {
      case "accept":
        verdict = "ACCEPT";
        {
          const by = m.accepts.findLast((s) => s.table === "filter") ?? m.accepts.at(-1);
          if (by !== undefined) out.decidedBy = by;
        }
        break;
      case "drop":
        verdict = "DROP";
        break;
      case "reject":
        verdict = "REJECT";
        out.rejectWith = e.rejectWith;
        break;
      case "queue":
        verdict = e.target;
        out.queue = e.queue;
        if (e.bypass) {
          m.notes.push(
            "--queue-bypass: without a program listening, the packet is accepted instead",
          );
        }
        break;
      default:
        verdict = "UNKNOWN";
        m.notes.push("reason" in e ? e.reason : "undecided");
    }
    if (verdict !== "ACCEPT" && step !== undefined) out.decidedBy = step;
    const finalPacket: TraceOutcome["packet"] = {
      direction: p.direction,
      source: spanText(p.src, p.ipVersion),
      destination: spanText(p.dst, p.ipVersion),
      mark: `0x${p.mark.toString(16)}`,
      state: p.conn?.state ?? p.pendingState,
      ttl: p.ttl,
      dscp: p.tos >> 2,
    };
    if (p.sport !== undefined) finalPacket.sourcePort = formatPorts(p.sport);
    if (p.dport !== undefined) finalPacket.destPort = formatPorts(p.dport);
    if (p.conn !== undefined && p.conn.state !== "UNTRACKED" && p.conn.state !== "INVALID") {
      finalPacket.connMark = `0x${p.conn.mark.toString(16)}`;
    }
    return {
      verdict,
      ...out,
      path: m.path,
      assumptions: m.assumptions,
      packet: finalPacket,
      notes: m.notes,
    };
  }
}

function spanText(span: { lo: bigint; hi: bigint }, ipVersion: 4 | 6): string {
  const full = ipVersion === 4 ? 0xffffffffn : (1n << 128n) - 1n;
  if (span.lo === 0n && span.hi === full) return "?";
  return formatSpan(span, ipVersion);
}

function actionName(e: TargetEffect, rule: TraceRule): string {
  switch (e.kind) {
    case "jump":
      return `jump ${e.chain}`;
    case "goto":
      return `goto ${e.chain}`;
    case "unknown":
      return rule.parsed?.target ?? "?";
    default:
      return rule.parsed?.target ?? "continue";
  }
}
