/**
 * The packet the tracer walks through netfilter: what a caller describes
 * ({@linkcode TracePacket}) and the state the walk changes on the way
 * (addresses and ports after NAT, marks, the connection).
 *
 * Addresses and ports are held as closed ranges: a given packet has one
 * value each, and a NAT target that picks from a range (`--to-destination
 * 10.0.0.1-10.0.0.9`) leaves a range, so that a later match on it is decided
 * only when the whole range agrees.
 *
 * @module
 */
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../fake/address.ts";
import { parseProtocol, PROTOCOL_NAMES } from "../fake/tables.ts";
import { parseIcmpType } from "../fake/normalise.ts";
import { ICMP6_TYPES, ICMP_TYPES } from "../fake/tables.ts";

/** Which way the packet goes: arriving for this host, forwarded by it, or sent by it. */
export type TraceDirection = "in" | "forward" | "out";

/** The connection-tracking state of the packet (`-m conntrack --ctstate`). */
export type TraceConntrackState = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";

/**
 * A packet to trace. Only the source and destination addresses are required;
 * what is left out is either a stated default (below) or unknown, and a
 * match that needs an unknown field is reported as undecided, never guessed.
 *
 * @example An SSH connection attempt arriving on eth0
 * ```ts
 * import type { TracePacket } from "@rampart/iptables/trace";
 * const packet: TracePacket = {
 *   inInterface: "eth0",
 *   source: "203.0.113.7",
 *   destination: "10.0.0.1",
 *   protocol: "tcp",
 *   destPort: 22,
 * };
 * ```
 */
export interface TracePacket {
  /**
   * Arriving for this host (`in`), forwarded (`forward`) or sent by it
   * (`out`). Default: `out` when only `outInterface` is given, `forward`
   * when both interfaces are, else `in`. With `localAddresses`, the routing
   * decision after PREROUTING follows the (possibly DNATed) destination.
   */
  direction?: TraceDirection;
  /** The interface it arrives on (`-i`); unknown when absent (not applicable for `out`). */
  inInterface?: string;
  /** The interface it leaves by (`-o`); unknown when absent (not applicable for `in`). */
  outInterface?: string;
  /** Source address (IPv4 or IPv6; the family follows from it). */
  source: string;
  /** Destination address, of the same family. */
  destination: string;
  /** Protocol name or number (`tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, 47, …). @default {"tcp"} */
  protocol?: string | number;
  /** TCP/UDP/SCTP/DCCP source port; unknown when absent. */
  sourcePort?: number;
  /** TCP/UDP/SCTP/DCCP destination port; unknown when absent. */
  destPort?: number;
  /** ICMP or ICMPv6 type, by number or name (`echo-request`). @default {"echo-request"} */
  icmpType?: number | string;
  /** ICMP code. @default {0} */
  icmpCode?: number;
  /** TCP flags set (`["SYN"]`). @default {["SYN"] for state NEW, else ["ACK"]} */
  tcpFlags?: readonly string[];
  /** The connection's state as conntrack sees it. @default {"NEW"} */
  state?: TraceConntrackState;
  /** The packet mark when it enters the first hook. @default {0} */
  mark?: number;
  /** The connection's mark (for a NEW connection it is always 0). @default {0} */
  connMark?: number;
  /** IP total length in bytes (`-m length`); unknown when absent. */
  length?: number;
  /** DSCP value 0–63. @default {0} */
  dscp?: number;
  /** TTL (IPv4) or hop limit (IPv6). @default {64} */
  ttl?: number;
  /** Source MAC address (`-m mac`); unknown when absent. */
  sourceMac?: string;
  /** Link-layer packet type. @default {from the destination: multicast, broadcast or unicast} */
  pktType?: "unicast" | "broadcast" | "multicast";
  /** The sending socket's user ID (`-m owner`, sent packets only); unknown when absent. */
  uid?: number;
  /** The sending socket's group ID; unknown when absent. */
  gid?: number;
  /** A non-first fragment (`-f`). @default {false} */
  fragment?: boolean;
}

/** A closed range of numbers (a single value when `lo === hi`). */
export interface Span {
  /** Lowest value. */
  lo: bigint;
  /** Highest value. */
  hi: bigint;
}

/** The connection of the packet as the walk knows it. */
export interface ConnState {
  /** What conntrack made of the packet (`UNTRACKED` after NOTRACK). */
  state: TraceConntrackState;
  /** The connection mark. */
  mark: number;
  /** The original-direction tuple (known for NEW connections only). */
  orig?: Tuple;
  /** The reply-direction tuple, changed by NAT (known for NEW connections only). */
  reply?: Tuple;
  /** Source NAT was set up for the connection (known for NEW only; undefined: unknown). */
  snat: boolean | undefined;
  /** Destination NAT was set up. */
  dnat: boolean | undefined;
}

/** A conntrack tuple. */
export interface Tuple {
  /** Source address. */
  src: Span;
  /** Destination address. */
  dst: Span;
  /** Source port (undefined for protocols without ports). */
  sport: Span | undefined;
  /** Destination port. */
  dport: Span | undefined;
}

/** The packet as the walk changes it. */
export interface PacketState {
  /** The family. */
  ipVersion: 4 | 6;
  /** The direction as now decided (`in`/`forward` are decided at the routing decision). */
  direction: TraceDirection;
  /** Incoming interface: a name, `""` (none: sent by this host) or undefined (unknown). */
  inInterface: string | undefined;
  /** Outgoing interface, as `inInterface`. */
  outInterface: string | undefined;
  /** Source address. */
  src: Span;
  /** Destination address. */
  dst: Span;
  /** Protocol number. */
  protocol: number;
  /** Source port, if the protocol has ports (undefined: unknown). */
  sport: Span | undefined;
  /** Destination port. */
  dport: Span | undefined;
  /** ICMP type (or undefined when not ICMP). */
  icmpType: number | undefined;
  /** ICMP code. */
  icmpCode: number | undefined;
  /** TCP flag bits (FIN = 1 … URG = 32). */
  tcpFlags: number;
  /** The packet mark. */
  mark: number;
  /** The connection (undefined in the raw table: conntrack has not run yet). */
  conn: ConnState | undefined;
  /** The state conntrack will give (the packet's `state`, or UNTRACKED after NOTRACK). */
  pendingState: TraceConntrackState;
  /** The connection mark conntrack will find. */
  pendingConnMark: number;
  /** IP total length, if known. */
  length: number | undefined;
  /** TOS byte (DSCP << 2). */
  tos: number;
  /** TTL / hop limit. */
  ttl: number;
  /** Source MAC, if known. */
  sourceMac: string | undefined;
  /** Link-layer packet type. */
  pktType: "unicast" | "broadcast" | "multicast";
  /** Socket owner, if known. */
  uid: number | undefined;
  /** Socket group, if known. */
  gid: number | undefined;
  /** A non-first fragment. */
  fragment: boolean;
}

/** Protocols whose header has 16-bit ports the matches read. */
export const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 33, 132, 136]);

const TCP_FLAG_BITS: Record<string, number> = {
  FIN: 1,
  SYN: 2,
  RST: 4,
  PSH: 8,
  ACK: 16,
  URG: 32,
};

/**
 * A packet description that cannot be traced (bad address, port, protocol,
 * state or mixed families).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tracePacket, TracePacketError } from "@rampart/iptables/trace";
 * assert.throws(
 *   () => tracePacket("", { source: "10.0.0.1", destination: "2001:db8::1" }),
 *   TracePacketError,
 * );
 * ```
 */
export class TracePacketError extends TypeError {
  /** The field of {@linkcode TracePacket} at fault. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options The field at fault.
   */
  constructor(message: string, options: { field: string }) {
    super(message);
    this.name = "TracePacketError";
    this.field = options.field;
  }
}

/** Parses an address of either family into its number and family, or undefined. */
export function parseAddress(text: string): { value: bigint; ipVersion: 4 | 6 } | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { value: bytesToBig(v4), ipVersion: 4 };
  const v6 = text.includes(":") ? parseIpv6(text) : undefined;
  if (v6) return { value: bytesToBig(v6), ipVersion: 6 };
  return undefined;
}

/** Address bytes as one number. */
export function bytesToBig(bytes: readonly number[]): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** Prints an address number of a family. */
export function formatAddress(value: bigint, ipVersion: 4 | 6): string {
  const len = ipVersion === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipVersion === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}

/** Prints an address range (`a` or `a-b`). */
export function formatSpan(span: Span, ipVersion: 4 | 6): string {
  return span.lo === span.hi
    ? formatAddress(span.lo, ipVersion)
    : `${formatAddress(span.lo, ipVersion)}-${formatAddress(span.hi, ipVersion)}`;
}

/** Prints a port range (`p` or `p-q`). */
export function formatPorts(span: Span): string {
  return span.lo === span.hi ? `${span.lo}` : `${span.lo}-${span.hi}`;
}

/** One value as a span. */
export function point(n: number | bigint): Span {
  return { lo: BigInt(n), hi: BigInt(n) };
}

/** The protocol name iptables-save prints for a number. */
export function protocolName(n: number): string {
  return PROTOCOL_NAMES.get(n) ?? `${n}`;
}

function isMulticast(value: bigint, ipVersion: 4 | 6): boolean {
  return ipVersion === 4 ? value >> 28n === 0xen : value >> 120n === 0xffn;
}

/**
 * Checks a packet description and turns it into the walk's starting state.
 *
 * @param packet The packet.
 * @returns The state before the first hook.
 * @throws {TracePacketError} When a field is invalid.
 */
export function packetState(packet: TracePacket): PacketState {
  const src = parseAddress(packet.source);
  if (src === undefined) {
    throw new TracePacketError(
      `Invalid source ${JSON.stringify(packet.source)}: expected an IPv4 or IPv6 address`,
      { field: "source" },
    );
  }
  const dst = parseAddress(packet.destination);
  if (dst === undefined) {
    throw new TracePacketError(
      `Invalid destination ${JSON.stringify(packet.destination)}: expected an IPv4 or IPv6 address`,
      { field: "destination" },
    );
  }
  if (src.ipVersion !== dst.ipVersion) {
    throw new TracePacketError(
      `The source ${packet.source} and destination ${packet.destination} are of different families`,
      { field: "destination" },
    );
  }
  const ipVersion = src.ipVersion;
  const protoText = packet.protocol ?? "tcp";
  let protocol = typeof protoText === "number"
    ? protoText
    : protoText.toLowerCase() === "icmpv6" || protoText.toLowerCase() === "icmp6"
    ? 58
    : parseProtocol(protoText);
  if (protocol === 1 && ipVersion === 6) protocol = 58;
  if (protocol === undefined || !Number.isInteger(protocol) || protocol < 0 || protocol > 255) {
    throw new TracePacketError(
      `Invalid protocol ${JSON.stringify(protoText)}: expected a name such as tcp, udp, icmp or ` +
        "a number from 0 to 255",
      { field: "protocol" },
    );
  }
  const port = (value: number | undefined, field: string): Span | undefined => {
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      throw new TracePacketError(`Invalid ${field} ${value}: expected 0 to 65535`, { field });
    }
    return point(value);
  };
  const hasPorts = PORT_PROTOCOLS.has(protocol);
  if (!hasPorts && (packet.sourcePort !== undefined || packet.destPort !== undefined)) {
    throw new TracePacketError(
      `Protocol ${protocolName(protocol)} has no ports: leave out sourcePort and destPort`,
      { field: packet.destPort !== undefined ? "destPort" : "sourcePort" },
    );
  }
  const isIcmp = (protocol === 1 && ipVersion === 4) || (protocol === 58 && ipVersion === 6);
  let icmpType: number | undefined;
  let icmpCode: number | undefined;
  if (isIcmp) {
    const t = packet.icmpType ?? "echo-request";
    if (typeof t === "number") {
      if (!Number.isInteger(t) || t < 0 || t > 255) {
        throw new TracePacketError(`Invalid icmpType ${t}: expected 0 to 255`, {
          field: "icmpType",
        });
      }
      icmpType = t;
    } else {
      try {
        const [type, lo] = parseIcmpType(t, ipVersion === 4 ? ICMP_TYPES : ICMP6_TYPES, "type");
        if (type === 0xff) throw new Error("any");
        icmpType = type;
        if (packet.icmpCode === undefined && lo !== 0) icmpCode = lo;
      } catch {
        throw new TracePacketError(
          `Invalid icmpType ${JSON.stringify(t)}: expected a number or an ICMP${
            ipVersion === 6 ? "v6" : ""
          } type name such as echo-request`,
          { field: "icmpType" },
        );
      }
    }
    icmpCode ??= packet.icmpCode ?? 0;
    if (!Number.isInteger(icmpCode) || icmpCode < 0 || icmpCode > 255) {
      throw new TracePacketError(`Invalid icmpCode ${icmpCode}: expected 0 to 255`, {
        field: "icmpCode",
      });
    }
  } else if (packet.icmpType !== undefined || packet.icmpCode !== undefined) {
    throw new TracePacketError(
      `icmpType and icmpCode need protocol icmp${ipVersion === 6 ? "v6" : ""}`,
      { field: "icmpType" },
    );
  }
  const state = packet.state ?? "NEW";
  if (!["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"].includes(state)) {
    throw new TracePacketError(
      `Invalid state ${JSON.stringify(state)}: expected NEW, ESTABLISHED, RELATED, INVALID or ` +
        "UNTRACKED",
      { field: "state" },
    );
  }
  let tcpFlags = 0;
  for (const f of packet.tcpFlags ?? (state === "NEW" ? ["SYN"] : ["ACK"])) {
    const bit = TCP_FLAG_BITS[f.toUpperCase()];
    if (bit === undefined) {
      throw new TracePacketError(
        `Invalid TCP flag ${JSON.stringify(f)}: expected FIN, SYN, RST, PSH, ACK or URG`,
        { field: "tcpFlags" },
      );
    }
    tcpFlags |= bit;
  }
  const u32 = (value: number | undefined, field: string, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new TracePacketError(`Invalid ${field} ${v}: expected 0 to 0xffffffff`, { field });
    }
    return v;
  };
  const dscp = u32(packet.dscp, "dscp", 0);
  if (dscp > 63) {
    throw new TracePacketError(`Invalid dscp ${dscp}: expected 0 to 63`, { field: "dscp" });
  }
  const ttl = u32(packet.ttl, "ttl", 64);
  if (ttl > 255) {
    throw new TracePacketError(`Invalid ttl ${ttl}: expected 0 to 255`, { field: "ttl" });
  }
  for (const field of ["inInterface", "outInterface"] as const) {
    const name = packet[field];
    if (name !== undefined && (name === "" || name.length > 15 || /[\s/]/.test(name))) {
      throw new TracePacketError(
        `Invalid ${field} ${JSON.stringify(name)}: expected an interface name of 1 to 15 ` +
          "characters",
        { field },
      );
    }
  }
  const direction = packet.direction ??
    (packet.outInterface !== undefined
      ? packet.inInterface !== undefined ? "forward" : "out"
      : "in");
  if (!["in", "forward", "out"].includes(direction)) {
    throw new TracePacketError(
      `Invalid direction ${JSON.stringify(direction)}: expected in, forward or out`,
      { field: "direction" },
    );
  }
  if (direction === "out" && packet.inInterface !== undefined) {
    throw new TracePacketError(
      "A packet sent by this host has no incoming interface: leave out inInterface",
      { field: "inInterface" },
    );
  }
  if (packet.sourceMac !== undefined && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(packet.sourceMac)) {
    throw new TracePacketError(
      `Invalid sourceMac ${JSON.stringify(packet.sourceMac)}: expected six hex bytes such as ` +
        "02:00:00:00:00:01",
      { field: "sourceMac" },
    );
  }
  const pktType = packet.pktType ??
    (isMulticast(dst.value, ipVersion)
      ? "multicast"
      : ipVersion === 4 && dst.value === 0xffffffffn
      ? "broadcast"
      : "unicast");
  const s: PacketState = {
    ipVersion,
    direction,
    inInterface: direction === "out" ? "" : packet.inInterface,
    // Before the routing decision no packet has an outgoing interface.
    outInterface: direction === "out" ? packet.outInterface : "",
    src: point(src.value),
    dst: point(dst.value),
    protocol,
    sport: hasPorts ? port(packet.sourcePort, "sourcePort") : undefined,
    dport: hasPorts ? port(packet.destPort, "destPort") : undefined,
    icmpType,
    icmpCode,
    tcpFlags,
    mark: u32(packet.mark, "mark", 0),
    conn: undefined,
    pendingState: state,
    pendingConnMark: u32(packet.connMark, "connMark", 0),
    length: packet.length === undefined ? undefined : u32(packet.length, "length", 0),
    tos: dscp << 2,
    ttl,
    sourceMac: packet.sourceMac?.toLowerCase(),
    pktType,
    uid: packet.uid === undefined ? undefined : u32(packet.uid, "uid", 0),
    gid: packet.gid === undefined ? undefined : u32(packet.gid, "gid", 0),
    fragment: packet.fragment ?? false,
  };
  return s;
}

/** Deep-copies a packet state (for a branch of the walk). */
export function clonePacket(p: PacketState): PacketState {
  return structuredClone(p);
}
