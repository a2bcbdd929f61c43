/**
 * What a rule's target does to the packet and to the walk: verdicts, jumps,
 * NAT (addresses and ports, the connection's tuples), marks and connection
 * marks, NOTRACK, TOS/DSCP/TTL, and the targets that only observe.
 *
 * @module
 */
import { type ParsedOption, type ParsedRule, parseMarkMask } from "../fake/normalise.ts";
import type { LocalAddress } from "./matches.ts";
import {
  formatPorts,
  formatSpan,
  type PacketState,
  parseAddress,
  point,
  PORT_PROTOCOLS,
  type Span,
} from "./packet.ts";

/** What the walk does after a rule's target ran. */
export type TargetEffect =
  | { kind: "continue" }
  | { kind: "accept" }
  | { kind: "drop" }
  | { kind: "reject"; rejectWith: string }
  | { kind: "queue"; queue: number; bypass: boolean; target: "QUEUE" | "NFQUEUE" }
  | { kind: "return" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  | { kind: "unknown"; reason: string };

/** The effect and what changed, for the step's report. */
export interface TargetOutcome {
  /** What the walk does next. */
  effect: TargetEffect;
  /** What the target changed or did, in words (`mark 0x0 → 0x1`), if anything. */
  change?: string;
}

/** Targets that only observe or change what no match of the tracer reads. */
const OBSERVERS = new Set([
  "LOG",
  "NFLOG",
  "ULOG",
  "TRACE",
  "AUDIT",
  "TCPMSS",
  "CHECKSUM",
  "CLASSIFY",
  "SECMARK",
  "CONNSECMARK",
  "IDLETIMER",
  "LED",
  "RATEEST",
  "TEE",
  "TCPOPTSTRIP",
  "NETMAP_NOOP",
]);

function last(opts: readonly ParsedOption[], name: string): ParsedOption | undefined {
  for (let i = opts.length - 1; i >= 0; i--) if (opts[i]!.name === name) return opts[i];
  return undefined;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** `--set-xmark value/mask` (as saved): the new value. */
function xmark(old: number, text: string): number {
  const [v, m = 0xffffffff] = parseMarkMask(text, "mark");
  return ((old & ~m) ^ v) >>> 0;
}

/** A NAT range `a[-b][:p[-q]]` (IPv6 addresses in brackets when ports follow). */
function natRange(
  text: string,
  ipVersion: 4 | 6,
): { addr?: Span; ports?: Span } | undefined {
  let addrText = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    addrText = text.slice(1, end);
    if (text[end + 1] === ":") portText = text.slice(end + 2);
  } else if (ipVersion === 4 || !text.includes("::") && text.split(":").length === 2) {
    const colon = text.indexOf(":");
    if (colon !== -1) {
      addrText = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  const out: { addr?: Span; ports?: Span } = {};
  if (addrText !== "") {
    const [a, b = a] = addrText.split("-").map((x) => parseAddress(x!));
    if (!a || !b) return undefined;
    out.addr = { lo: a.value, hi: b.value };
  }
  if (portText !== undefined && portText !== "") {
    const [lo, hi = lo] = portText.split(/[-:]/).map((x) => BigInt(Number(x)));
    out.ports = { lo: lo!, hi: hi! };
  }
  return out;
}

/** What the walk needs to apply a target. */
export interface TargetEnv {
  /** The table. */
  table: string;
  /** The hook. */
  hook: string;
  /** The host's addresses (REDIRECT and MASQUERADE pick one); undefined: not known. */
  localAddresses: readonly LocalAddress[] | undefined;
}

/**
 * Runs a rule's target on the packet (changing it in place) and says what
 * the walk does next.
 *
 * @param rule The parsed rule.
 * @param p The packet (changed in place).
 * @param env Table, hook and host addresses.
 * @returns The effect and the change.
 */
export function applyTarget(rule: ParsedRule, p: PacketState, env: TargetEnv): TargetOutcome {
  const t = rule.target;
  const o = rule.targetOptions;
  if (t === undefined) return { effect: { kind: "continue" } };
  if (!rule.targetIsExtension) {
    return { effect: rule.goto ? { kind: "goto", chain: t } : { kind: "jump", chain: t } };
  }
  switch (t) {
    case "ACCEPT":
      return { effect: { kind: "accept" } };
    case "DROP":
      return { effect: { kind: "drop" } };
    case "RETURN":
      return { effect: { kind: "return" } };
    case "REJECT": {
      const w = last(o, "--reject-with")?.args[0] ??
        (p.ipVersion === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable");
      return { effect: { kind: "reject", rejectWith: w } };
    }
    case "QUEUE":
      return { effect: { kind: "queue", queue: 0, bypass: false, target: "QUEUE" } };
    case "NFQUEUE": {
      const num = Number(
        last(o, "--queue-num")?.args[0] ?? last(o, "--queue-balance")?.args[0]?.split(":")[0] ?? 0,
      );
      const bypass = last(o, "--queue-bypass") !== undefined;
      return { effect: { kind: "queue", queue: num, bypass, target: "NFQUEUE" } };
    }
    case "MARK": {
      const x = last(o, "--set-xmark");
      if (x === undefined) {
        return { effect: { kind: "unknown", reason: "MARK without --set-xmark" } };
      }
      const before = p.mark;
      p.mark = xmark(p.mark, x.args[0]!);
      return { effect: { kind: "continue" }, change: `mark ${hex(before)} → ${hex(p.mark)}` };
    }
    case "CONNMARK":
      return connmark(o, p);
    case "NOTRACK":
      return notrack(p);
    case "CT":
      if (last(o, "--notrack")) return notrack(p);
      return { effect: { kind: "continue" }, change: "conntrack template set (not modelled)" };
    case "DSCP": {
      const v = Number(last(o, "--set-dscp")?.args[0] ?? 0);
      const before = p.tos >> 2;
      p.tos = (p.tos & 0x3) | (v << 2);
      return { effect: { kind: "continue" }, change: `dscp ${hex(before)} → ${hex(v)}` };
    }
    case "TOS": {
      const x = last(o, "--set-tos");
      if (x === undefined) {
        return { effect: { kind: "unknown", reason: "TOS with an unmodelled option" } };
      }
      const [v, m = 0xff] = parseMarkMask(x.args[0]!, "tos");
      const before = p.tos;
      p.tos = ((p.tos & ~m) ^ v) & 0xff;
      return { effect: { kind: "continue" }, change: `tos ${hex(before)} → ${hex(p.tos)}` };
    }
    case "TTL":
    case "HL": {
      const pre = t === "TTL" ? "ttl" : "hl";
      const before = p.ttl;
      const set = last(o, `--${pre}-set`),
        dec = last(o, `--${pre}-dec`),
        inc = last(o, `--${pre}-inc`);
      if (set) p.ttl = Number(set.args[0]);
      else if (dec) p.ttl = Math.max(0, p.ttl - Number(dec.args[0]));
      else if (inc) p.ttl = Math.min(255, p.ttl + Number(inc.args[0]));
      return { effect: { kind: "continue" }, change: `${pre} ${before} → ${p.ttl}` };
    }
    case "DNAT":
    case "SNAT":
    case "MASQUERADE":
    case "REDIRECT":
      return nat(t, o, p, env);
    default:
      if (OBSERVERS.has(t)) return { effect: { kind: "continue" } };
      if (t === "SET") {
        return { effect: { kind: "continue" }, change: "IP set contents changed (not followed)" };
      }
      return { effect: { kind: "unknown", reason: `the ${t} target is not modelled` } };
  }
}

function notrack(p: PacketState): TargetOutcome {
  p.pendingState = "UNTRACKED";
  // The packet is untracked at once: later rules of the raw table see it so.
  p.conn = { state: "UNTRACKED", mark: 0, snat: false, dnat: false };
  return { effect: { kind: "continue" }, change: "the packet is not tracked (UNTRACKED)" };
}

function connmark(o: readonly ParsedOption[], p: PacketState): TargetOutcome {
  const c = p.conn;
  const has = c !== undefined && c.state !== "UNTRACKED" && c.state !== "INVALID";
  if (!has) return { effect: { kind: "continue" }, change: "no connection: nothing to mark" };
  const before = { mark: p.mark, ct: c.mark };
  const nf = Number(last(o, "--nfmask")?.args[0] ?? 0xffffffff) >>> 0;
  const ct = Number(last(o, "--ctmask")?.args[0] ?? 0xffffffff) >>> 0;
  if (last(o, "--save-mark")) {
    c.mark = ((c.mark & ~ct) ^ (p.mark & nf)) >>> 0;
    return { effect: { kind: "continue" }, change: `connmark ${hex(before.ct)} → ${hex(c.mark)}` };
  }
  if (last(o, "--restore-mark")) {
    p.mark = ((p.mark & ~nf) ^ (c.mark & ct)) >>> 0;
    return { effect: { kind: "continue" }, change: `mark ${hex(before.mark)} → ${hex(p.mark)}` };
  }
  const x = last(o, "--set-xmark");
  if (x === undefined) {
    return { effect: { kind: "unknown", reason: "CONNMARK option not modelled" } };
  }
  c.mark = xmark(c.mark, x.args[0]!);
  return { effect: { kind: "continue" }, change: `connmark ${hex(before.ct)} → ${hex(c.mark)}` };
}

/**
 * The scope bits of an IPv6 address as the kernel's `ipv6_addr_scope()`
 * gives them: 0x10 node-local, 0x20 link-local, 0x40 site-local, 0 global.
 */
function scopeOf(a: bigint): number {
  if (a === 1n) return 0x10;
  if (a >> 120n === 0xffn) {
    const s = Number((a >> 112n) & 0xfn);
    return s === 1 ? 0x10 : s === 2 ? 0x20 : s === 5 ? 0x40 : 0;
  }
  if (a >> 118n === 0x3fan) return 0x20; // fe80::/10
  if (a >> 118n === 0x3fbn) return 0x40; // fec0::/10
  return 0;
}

/**
 * The address REDIRECT sends a packet to: the incoming interface's first
 * address (the host's first one of the family, as the tracer does not know
 * which address is on which interface); for IPv6 the first of the
 * destination's scope (`nf_nat_redirect_ipv6`). Undefined when the host's
 * addresses are not known; null when no address fits (the kernel drops the
 * packet).
 */
function redirectAddress(env: TargetEnv, p: PacketState): bigint | null | undefined {
  const locals = env.localAddresses?.filter((l) => l.ipVersion === p.ipVersion);
  if (locals === undefined) return undefined;
  if (p.ipVersion === 4) return locals[0]?.value ?? null;
  const scope = p.dst.lo === p.dst.hi ? scopeOf(p.dst.lo) : 0;
  return locals.find((l) => scope === 0 || (scope & scopeOf(l.value)) !== 0)?.value ?? null;
}

function nat(
  t: "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT",
  o: readonly ParsedOption[],
  p: PacketState,
  env: TargetEnv,
): TargetOutcome {
  const c = p.conn;
  if (c === undefined || c.state !== "NEW") {
    return { effect: { kind: "accept" }, change: "no new connection: no translation" };
  }
  const hasPorts = PORT_PROTOCOLS.has(p.protocol);
  const changes: string[] = [];
  const same = (a: Span | undefined, b: Span | undefined) =>
    a === undefined || (b !== undefined && a.lo === b.lo && a.hi === b.hi);
  // The kernel marks a connection as NATed only when the mapping changes its tuple.
  const setDst = (addr: Span | undefined, ports: Span | undefined) => {
    const changed = !same(addr, p.dst) || (hasPorts && !same(ports, p.dport));
    if (addr !== undefined) {
      changes.push(
        `destination ${formatSpan(p.dst, p.ipVersion)} → ${formatSpan(addr, p.ipVersion)}`,
      );
      p.dst = addr;
      if (c.reply) c.reply.src = addr;
    }
    if (ports !== undefined && hasPorts) {
      changes.push(`port ${p.dport ? formatPorts(p.dport) : "?"} → ${formatPorts(ports)}`);
      p.dport = ports;
      if (c.reply) c.reply.sport = ports;
    }
    if (changed) c.dnat = true;
  };
  const setSrc = (addr: Span | undefined, ports: Span | undefined) => {
    const changed = !same(addr, p.src) || (hasPorts && !same(ports, p.sport));
    if (addr !== undefined) {
      changes.push(`source ${formatSpan(p.src, p.ipVersion)} → ${formatSpan(addr, p.ipVersion)}`);
      p.src = addr;
      if (c.reply) c.reply.dst = addr;
    }
    if (ports !== undefined && hasPorts) {
      changes.push(`source port ${p.sport ? formatPorts(p.sport) : "?"} → ${formatPorts(ports)}`);
      p.sport = ports;
      if (c.reply) c.reply.dport = ports;
    }
    if (changed) c.snat = true;
  };
  const range = (name: string) => {
    const x = last(o, name);
    return x === undefined ? {} : natRange(x.args[0]!, p.ipVersion);
  };
  switch (t) {
    case "DNAT": {
      const r = range("--to-destination");
      if (r === undefined) {
        return { effect: { kind: "unknown", reason: "cannot read the DNAT range" } };
      }
      setDst(r.addr, r.ports);
      break;
    }
    case "SNAT": {
      const r = range("--to-source");
      if (r === undefined) {
        return { effect: { kind: "unknown", reason: "cannot read the SNAT range" } };
      }
      setSrc(r.addr, r.ports);
      break;
    }
    case "REDIRECT": {
      const ports = range("--to-ports")?.ports ?? portsOnly(last(o, "--to-ports"));
      const local = env.hook === "OUTPUT"
        ? (p.ipVersion === 4 ? 0x7f000001n : 1n)
        : redirectAddress(env, p);
      if (local === null) {
        return {
          effect: { kind: "drop" },
          change: `no address of this host fits ${
            formatSpan(p.dst, p.ipVersion)
          }: REDIRECT drops the packet`,
        };
      }
      if (local === undefined) {
        changes.push("destination → the incoming interface's address (not known)");
        p.dst = { lo: 0n, hi: p.ipVersion === 4 ? 0xffffffffn : (1n << 128n) - 1n };
        c.dnat = true;
        if (ports !== undefined && hasPorts) p.dport = ports;
      } else setDst(point(local), ports);
      break;
    }
    case "MASQUERADE": {
      const ports = portsOnly(last(o, "--to-ports"));
      changes.push(`source → the address of ${p.outInterface || "the outgoing interface"}`);
      p.src = { lo: 0n, hi: p.ipVersion === 4 ? 0xffffffffn : (1n << 128n) - 1n };
      c.snat = true;
      if (ports !== undefined && hasPorts) setSrc(undefined, ports);
      break;
    }
  }
  return { effect: { kind: "accept" }, change: changes.join(", ") || "no change" };
}

function portsOnly(x: ParsedOption | undefined): Span | undefined {
  if (x === undefined) return undefined;
  const [lo, hi = lo] = x.args[0]!.split("-").map((v) => BigInt(Number(v)));
  return { lo: lo!, hi: hi! };
}
