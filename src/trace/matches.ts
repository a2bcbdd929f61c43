/**
 * Match evaluation, module by module, on the rule as the fake dataplane's
 * parser reads it: each match is true, false, or undecidable with the
 * reason (rate limits, socket lookups, contents not given, …).
 *
 * @module
 */
import type { ParsedHeader, ParsedMatch, ParsedOption, ParsedRule } from "../fake/normalise.ts";
import {
  parseIcmpType,
  parseMarkMask,
  parsePortRange,
  parseTcpFlags,
  parseU32,
} from "../fake/normalise.ts";
import { parseNetwork } from "../fake/address.ts";
import { ICMP6_TYPES, ICMP_TYPES } from "../fake/tables.ts";
import { setContains, type SetProbe, type TraceIpSets } from "./ipsets.ts";
import { bytesToBig, type PacketState, parseAddress, type Span, type Tuple } from "./packet.ts";

/** A match's outcome: decided, or undecidable with the reason. */
export type MatchAnswer = boolean | { unknown: string };

/** A host address with its prefix (for addrtype's LOCAL and BROADCAST). */
export interface LocalAddress {
  /** The family. */
  ipVersion: 4 | 6;
  /** The address. */
  value: bigint;
  /** Its prefix length. */
  prefix: number;
}

/** What the matches may consult besides the packet. */
export interface MatchEnv {
  /** The table being walked. */
  table: string;
  /** The hook (built-in chain) being walked. */
  hook: string;
  /** The host's addresses; undefined: not known. */
  localAddresses: readonly LocalAddress[] | undefined;
  /** Known IP set contents. */
  ipSets: TraceIpSets | undefined;
  /** Outcomes given for undecidable modules, by module name. */
  assume: Readonly<Record<string, boolean>> | undefined;
  /** Whose rules are evaluated (iptables-nft compiles some matches its own way). @default {"nft"} */
  backend?: "nft" | "legacy";
}

const U = (reason: string): { unknown: string } => ({ unknown: reason });

/**
 * Parses host addresses (`10.0.0.1`, `10.0.0.1/24`, `2001:db8::1/64`).
 *
 * @param list The addresses.
 * @returns The parsed addresses.
 * @throws {TypeError} On an invalid address.
 */
export function parseLocalAddresses(list: readonly string[]): LocalAddress[] {
  return list.map((text) => {
    const [addr = "", len] = text.split("/");
    const a = parseAddress(addr);
    if (a === undefined) {
      throw new TypeError(`Invalid local address ${JSON.stringify(text)}: expected an address`);
    }
    const bits = a.ipVersion === 4 ? 32 : 128;
    const prefix = len === undefined ? bits : Number(len);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
      throw new TypeError(`Invalid local address ${JSON.stringify(text)}: bad prefix length`);
    }
    return { ipVersion: a.ipVersion, value: a.value, prefix };
  });
}

/** Inverts a decided answer (`!`); an undecided one stays undecided. */
function inv(a: MatchAnswer, inverted: boolean): MatchAnswer {
  return typeof a === "boolean" ? a !== inverted : a;
}

/** All must hold: false wins over unknown. */
function all(answers: Iterable<MatchAnswer>): MatchAnswer {
  let unknown: { unknown: string } | undefined;
  for (const a of answers) {
    if (a === false) return false;
    if (a !== true) unknown ??= a;
  }
  return unknown ?? true;
}

/** Whether a span lies in [lo, hi]: true, false, or unknown when it straddles. */
function within(span: Span, lo: bigint, hi: bigint, what: string): MatchAnswer {
  if (span.lo >= lo && span.hi <= hi) return true;
  if (span.hi < lo || span.lo > hi) return false;
  return U(`the packet's ${what} is a range only partly inside the rule's`);
}

function inNet(span: Span, text: string, ipVersion: 4 | 6, what: string): MatchAnswer {
  const net = parseNetwork(text, ipVersion);
  if (!net) return U(`cannot read the address ${text}`);
  const bits = ipVersion === 4 ? 32 : 128;
  const lo = bytesToBig(net.bytes);
  const hi = lo | ((1n << BigInt(bits - net.prefix)) - 1n);
  return within(span, lo, hi, what);
}

/** iptables' interface match: a trailing `+` is a prefix; `""` is "no interface". */
function ifaceMatches(name: string | undefined, pattern: string, what: string): MatchAnswer {
  if (name === undefined) return U(`the ${what} interface is unknown`);
  if (pattern.endsWith("+")) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

function netOf(span: Span, n: ParsedHeader["source"], ipVersion: 4 | 6, what: string): MatchAnswer {
  if (n === undefined) return true;
  const bits = ipVersion === 4 ? 32 : 128;
  const lo = bytesToBig(n.network.bytes);
  const hi = lo | ((1n << BigInt(bits - n.network.prefix)) - 1n);
  return inv(within(span, lo, hi, what), n.inverted);
}

/**
 * Evaluates the generic part of a rule (`-s -d -i -o -p -f`).
 *
 * @param rule The parsed rule.
 * @param p The packet.
 * @returns The answer.
 */
export function headerMatches(rule: ParsedRule, p: PacketState): MatchAnswer {
  const h = rule.header;
  return all([
    netOf(p.src, h.source, p.ipVersion, "source address"),
    netOf(p.dst, h.destination, p.ipVersion, "destination address"),
    h.inInterface === undefined
      ? true
      : inv(ifaceMatches(p.inInterface, h.inInterface.name, "incoming"), h.inInterface.inverted),
    h.outInterface === undefined
      ? true
      : inv(ifaceMatches(p.outInterface, h.outInterface.name, "outgoing"), h.outInterface.inverted),
    h.protocol === undefined ? true : (p.protocol === h.protocol.number) !== h.protocol.inverted,
    h.fragment === undefined ? true : p.fragment !== h.fragment.inverted,
  ]);
}

function opt(m: ParsedMatch, name: string): ParsedOption | undefined {
  for (let i = m.options.length - 1; i >= 0; i--) {
    if (m.options[i]!.name === name) return m.options[i];
  }
  return undefined;
}

function portsOpt(o: ParsedOption | undefined, span: Span | undefined, what: string): MatchAnswer {
  if (o === undefined) return true;
  if (span === undefined) return U(`the packet's ${what} is unknown`);
  const [lo, hi] = parsePortRange(o.args[0]!);
  return inv(within(span, BigInt(lo), BigInt(hi), what), o.inverted);
}

/** multiport: a list of ports and `a:b` ranges. */
function inPortList(list: string, span: Span | undefined, what: string): MatchAnswer {
  if (span === undefined) return U(`the packet's ${what} is unknown`);
  let unknown: MatchAnswer | undefined;
  for (const item of list.split(",")) {
    const [a, b = a] = item.split(":");
    const r = within(span, BigInt(Number(a)), BigInt(Number(b)), what);
    if (r === true) return true;
    if (r !== false) unknown = r;
  }
  return unknown ?? false;
}

/** A single, non-zero port (`53`, `53:53`), not a range. */
function singlePort(o: ParsedOption): boolean {
  const [lo, hi] = parsePortRange(o.args[0]!);
  return lo === hi && lo !== 0;
}

/**
 * `--sport` and `--dport`; `nft`: the rule was compiled by iptables-nft
 * (tcp and udp only; other modules stay xtables matches there).
 */
function ports(m: ParsedMatch, p: PacketState, nft = false): MatchAnswer {
  const sport = opt(m, "--sport");
  const dport = opt(m, "--dport");
  if (
    nft && sport?.inverted && dport?.inverted && singlePort(sport) &&
    singlePort(dport)
  ) {
    // iptables-nft (1.8.9) compiles `! --sport A ! --dport B` of tcp and udp
    // into one 32-bit compare of both ports, `!= A:B`: the rule matches
    // unless both ports are equal, not only when neither is (as xt_tcpudp
    // does on legacy). iptables-nft-save prints it back as written.
    const both = all([
      portsOpt({ ...sport, inverted: false }, p.sport, "source port"),
      portsOpt({ ...dport, inverted: false }, p.dport, "destination port"),
    ]);
    return inv(both, true);
  }
  return all([
    portsOpt(sport, p.sport, "source port"),
    portsOpt(dport, p.dport, "destination port"),
  ]);
}

function icmpMatch(m: ParsedMatch, p: PacketState, v6: boolean): MatchAnswer {
  const o = opt(m, v6 ? "--icmpv6-type" : "--icmp-type");
  if (o === undefined) return true;
  const [type, lo, hi] = parseIcmpType(o.args[0]!, v6 ? ICMP6_TYPES : ICMP_TYPES, "type");
  if (p.icmpType === undefined) return U("the packet is not ICMP");
  // xt_icmp: type 0xff (IPv4 only) matches any type.
  const hit = (!v6 && type === 0xff) ||
    (p.icmpType === type && p.icmpCode! >= lo && p.icmpCode! <= hi);
  return hit !== o.inverted;
}

/** The conntrack state bits of the packet now (xt_conntrack's statebit). */
function stateBits(p: PacketState): Set<string> | { unknown: string } {
  const c = p.conn;
  if (c === undefined) return new Set(["INVALID"]);
  if (c.state === "UNTRACKED") return new Set(["UNTRACKED"]);
  if (c.state === "INVALID") return new Set(["INVALID"]);
  const bits = new Set<string>([c.state]);
  if (c.snat === undefined || c.dnat === undefined) {
    return bits;
  }
  if (c.snat) bits.add("SNAT");
  if (c.dnat) bits.add("DNAT");
  return bits;
}

/** Whether the packet has a conntrack entry (`nf_ct_get` is not NULL). */
function hasConn(p: PacketState): boolean {
  return p.conn !== undefined && p.conn.state !== "UNTRACKED" && p.conn.state !== "INVALID";
}

function ctState(p: PacketState, list: string, inverted: boolean): MatchAnswer {
  const wanted = list.split(",").map((s) => s.toUpperCase());
  const bits = stateBits(p);
  if (!(bits instanceof Set)) return bits;
  const c = p.conn;
  const natUnknown = c !== undefined && hasConn(p) &&
    (c.snat === undefined || c.dnat === undefined);
  const hit = wanted.some((w) => bits.has(w));
  if (!hit && natUnknown && wanted.some((w) => w === "SNAT" || w === "DNAT")) {
    return U("whether this existing connection was NATed is unknown");
  }
  return hit !== inverted;
}

function tupleAddr(
  t: Tuple | undefined,
  key: "src" | "dst",
  o: ParsedOption,
  ipVersion: 4 | 6,
): MatchAnswer {
  if (t === undefined) return U("the connection's tuples are known only for a NEW connection");
  return inv(inNet(t[key], o.args[0]!, ipVersion, "connection address"), o.inverted);
}

function tuplePort(t: Tuple | undefined, key: "sport" | "dport", o: ParsedOption): MatchAnswer {
  if (t === undefined) return U("the connection's tuples are known only for a NEW connection");
  const span = t[key];
  if (span === undefined) return U("the connection's port is unknown");
  const [lo, hi] = parsePortRange(o.args[0]!);
  return inv(within(span, BigInt(lo), BigInt(hi), "connection port"), o.inverted);
}

function conntrack(m: ParsedMatch, p: PacketState): MatchAnswer {
  const state = opt(m, "--ctstate");
  const answers: MatchAnswer[] = [];
  if (state) answers.push(ctState(p, state.args[0]!, state.inverted));
  // xt_conntrack: without a connection only --ctstate is tested.
  if (!hasConn(p)) return state ? all(answers) : false;
  const c = p.conn!;
  for (const o of m.options) {
    switch (o.name) {
      case "--ctstate":
        break;
      case "--ctproto": {
        const n = /^\d+$/.test(o.args[0]!) ? Number(o.args[0]) : protoNumber(o.args[0]!);
        answers.push((n === p.protocol) !== o.inverted);
        break;
      }
      case "--ctorigsrc":
        answers.push(tupleAddr(c.orig, "src", o, p.ipVersion));
        break;
      case "--ctorigdst":
        answers.push(tupleAddr(c.orig, "dst", o, p.ipVersion));
        break;
      case "--ctreplsrc":
        answers.push(tupleAddr(c.reply, "src", o, p.ipVersion));
        break;
      case "--ctrepldst":
        answers.push(tupleAddr(c.reply, "dst", o, p.ipVersion));
        break;
      case "--ctorigsrcport":
        answers.push(tuplePort(c.orig, "sport", o));
        break;
      case "--ctorigdstport":
        answers.push(tuplePort(c.orig, "dport", o));
        break;
      case "--ctreplsrcport":
        answers.push(tuplePort(c.reply, "sport", o));
        break;
      case "--ctrepldstport":
        answers.push(tuplePort(c.reply, "dport", o));
        break;
      case "--ctdir":
        answers.push(
          c.state === "NEW"
            ? (o.args[0]!.toUpperCase() === "ORIGINAL") !== o.inverted
            : U("the direction of an existing connection's packet is not given"),
        );
        break;
      default:
        answers.push(U(`conntrack ${o.name} depends on the connection's history`));
    }
  }
  return all(answers);
}

function protoNumber(name: string): number {
  return ({ tcp: 6, udp: 17, icmp: 1, sctp: 132, dccp: 33, udplite: 136, icmpv6: 58 } as Record<
    string,
    number
  >)[name.toLowerCase()] ?? -1;
}

function markMatch(value: number, o: ParsedOption | undefined): MatchAnswer {
  if (o === undefined) return true;
  const [v, m = 0xffffffff] = parseMarkMask(o.args[0]!, "mark");
  return (((value & m) >>> 0) === (v >>> 0)) !== o.inverted;
}

/**
 * The address types (`xt_addrtype`) an address may have: the types it has
 * for sure, and those that depend on the host's addresses when they are not
 * known (`maybe`).
 */
function addrTypes(
  value: Span,
  env: MatchEnv,
  ipVersion: 4 | 6,
): { types: Set<string>; maybe: Set<string> } | { unknown: string } {
  if (value.lo !== value.hi) return U("the address is a range");
  const a = value.lo;
  const sure = (...t: string[]) => ({ types: new Set(t), maybe: new Set<string>() });
  if (ipVersion === 4) {
    if (a >> 24n === 0n || a === 0xffffffffn) return sure("BROADCAST");
    if (a >> 28n === 0xen) return sure("MULTICAST");
    if (a >> 24n === 127n) return sure("LOCAL");
    const locals = env.localAddresses?.filter((l) => l.ipVersion === 4);
    if (locals === undefined) {
      return { types: new Set(), maybe: new Set(["LOCAL", "BROADCAST", "UNICAST"]) };
    }
    if (locals.some((l) => l.value === a)) return sure("LOCAL");
    const broadcast = locals.some((l) => {
      if (l.prefix >= 31) return false;
      const host = (1n << BigInt(32 - l.prefix)) - 1n;
      return (l.value | host) === a;
    });
    return sure(broadcast ? "BROADCAST" : "UNICAST");
  }
  if (a >> 120n === 0xffn) return sure("MULTICAST");
  if (a === 1n) return sure("LOCAL");
  const locals = env.localAddresses?.filter((l) => l.ipVersion === 6);
  if (locals === undefined) return { types: new Set(["UNICAST"]), maybe: new Set(["LOCAL"]) };
  return locals.some((l) => l.value === a) ? sure("UNICAST", "LOCAL") : sure("UNICAST");
}

function addrtype(m: ParsedMatch, p: PacketState, env: MatchEnv): MatchAnswer {
  const answers: MatchAnswer[] = [];
  if (opt(m, "--limit-iface-in") || opt(m, "--limit-iface-out")) {
    return U("addrtype limited to an interface depends on that interface's addresses");
  }
  for (const [name, span] of [["--src-type", p.src], ["--dst-type", p.dst]] as const) {
    const o = opt(m, name);
    if (o === undefined) continue;
    const wanted = o.args[0]!.split(",").map((t) => t.toUpperCase());
    const modelled = p.ipVersion === 4
      ? ["UNICAST", "LOCAL", "BROADCAST", "MULTICAST"]
      : ["UNICAST", "LOCAL", "MULTICAST"];
    const t = addrTypes(span, env, p.ipVersion);
    if ("unknown" in t) {
      answers.push(t);
      continue;
    }
    if (wanted.some((w) => t.types.has(w))) {
      answers.push(!o.inverted);
      continue;
    }
    if (wanted.some((w) => t.maybe.has(w))) {
      answers.push(U("the host's addresses are not known"));
      continue;
    }
    if (wanted.some((w) => !modelled.includes(w))) {
      answers.push(U(`address type ${wanted.join(",")} depends on the host's routes`));
      continue;
    }
    answers.push(o.inverted);
  }
  return all(answers);
}

function iprange(m: ParsedMatch, p: PacketState): MatchAnswer {
  const answers: MatchAnswer[] = [];
  for (const [name, span] of [["--src-range", p.src], ["--dst-range", p.dst]] as const) {
    const o = opt(m, name);
    if (o === undefined) continue;
    const [a, b = a] = o.args[0]!.split("-").map((x) => parseAddress(x!));
    if (!a || !b) {
      answers.push(U(`cannot read the range ${o.args[0]}`));
      continue;
    }
    answers.push(inv(within(span, a.value, b.value, "address"), o.inverted));
  }
  return all(answers);
}

function lengthMatch(m: ParsedMatch, p: PacketState): MatchAnswer {
  const o = opt(m, "--length");
  if (o === undefined) return true;
  if (p.length === undefined) return U("the packet's length is not given");
  const [a, b = a] = o.args[0]!.split(":").map(Number);
  return (p.length >= a! && p.length <= b!) !== o.inverted;
}

function ttlMatch(m: ParsedMatch, p: PacketState, prefix: "ttl" | "hl"): MatchAnswer {
  const answers: MatchAnswer[] = [];
  for (const o of m.options) {
    const n = Number(o.args[0]);
    if (o.name === `--${prefix}-eq`) answers.push((p.ttl === n) !== o.inverted);
    else if (o.name === `--${prefix}-lt`) answers.push(p.ttl < n);
    else if (o.name === `--${prefix}-gt`) answers.push(p.ttl > n);
    else answers.push(U(`${o.name} is not modelled`));
  }
  return all(answers);
}

function setMatch(m: ParsedMatch, p: PacketState, env: MatchEnv): MatchAnswer {
  const answers: MatchAnswer[] = [];
  for (const o of m.options) {
    if (o.name === "--match-set") {
      const probe: SetProbe = {
        ipVersion: p.ipVersion,
        src: p.src,
        dst: p.dst,
        protocol: p.protocol,
        sport: p.sport,
        dport: p.dport,
        icmpType: p.icmpType,
        icmpCode: p.icmpCode,
        inInterface: p.inInterface,
        outInterface: p.outInterface,
      };
      answers.push(inv(setContains(env.ipSets, o.args[0]!, o.args[1]!, probe), o.inverted));
    } else if (o.name !== "--update-counters" && o.name !== "--update-subcounters") {
      answers.push(U(`set ${o.name} depends on the set's counters`));
    }
  }
  return all(answers);
}

function physdev(m: ParsedMatch): MatchAnswer {
  // Not a bridged packet: xt_physdev matches when every option used is negated.
  return m.options.every((o) => o.inverted);
}

function owner(m: ParsedMatch, p: PacketState): MatchAnswer {
  // xt_owner: a packet without a socket (forwarded) matches only when every option is negated.
  if (p.direction !== "out") return m.options.every((o) => o.inverted);
  const answers: MatchAnswer[] = [];
  for (const o of m.options) {
    const id = o.name === "--uid-owner" ? p.uid : o.name === "--gid-owner" ? p.gid : undefined;
    if (o.name !== "--uid-owner" && o.name !== "--gid-owner") {
      answers.push(U(`owner ${o.name} depends on the sending socket`));
      continue;
    }
    if (id === undefined) {
      answers.push(
        U(`the sending socket's ${o.name === "--uid-owner" ? "uid" : "gid"} is not given`),
      );
      continue;
    }
    const [a, b = a] = o.args[0]!.split("-").map(Number);
    if (Number.isNaN(a) || Number.isNaN(b)) {
      answers.push(U(`owner ${o.args[0]} is a name, not a number`));
      continue;
    }
    answers.push((id >= a! && id <= b!) !== o.inverted);
  }
  return all(answers);
}

function tcpMatch(m: ParsedMatch, p: PacketState, nft: boolean): MatchAnswer {
  const answers: MatchAnswer[] = [ports(m, p, nft)];
  const flags = opt(m, "--tcp-flags");
  if (flags) {
    const mask = parseTcpFlags(flags.args[0]!);
    const cmp = parseTcpFlags(flags.args[1]!);
    answers.push(((p.tcpFlags & mask) === cmp) !== flags.inverted);
  }
  if (opt(m, "--syn")) {
    const o = opt(m, "--syn")!;
    answers.push(((p.tcpFlags & 0x17) === 0x02) !== o.inverted);
  }
  if (opt(m, "--tcp-option")) answers.push(U("TCP options are not modelled"));
  return all(answers);
}

/** Modules whose outcome depends on state the tracer cannot know. */
const UNDECIDABLE: Record<string, string> = {
  limit: "a rate limit depends on the recent packet rate",
  hashlimit: "a rate limit depends on the recent packet rate",
  recent: "the recent list depends on earlier packets",
  statistic: "statistic matches at random or every nth packet",
  rpfilter: "the reverse-path check depends on the host's routes",
  ipvs: "the IPVS match depends on the IPVS connection table",
  connlimit: "the connection count depends on the other connections",
  connbytes: "the byte count depends on the connection's history",
  connrate: "the rate depends on the connection's history",
  socket: "the socket lookup depends on the host's sockets",
  string: "the payload is not modelled",
  u32: "the payload is not modelled",
  time: "the time match depends on the clock",
  quota: "the quota depends on earlier packets",
  nfacct: "the accounting object depends on earlier packets",
  helper: "the conntrack helper is not modelled",
  cgroup: "the sending cgroup is not modelled",
  bpf: "a BPF program is not modelled",
  policy: "IPsec policy is not modelled",
  realm: "routing realms are not modelled",
  devgroup: "device groups are not modelled",
  cluster: "cluster hashing is not modelled",
  cpu: "the receiving CPU is not known",
  osf: "OS fingerprinting is not modelled",
  ecn: "ECN bits are not modelled",
  hbh: "IPv6 extension headers are not modelled",
  dst: "IPv6 extension headers are not modelled",
  rt: "IPv6 extension headers are not modelled",
  frag: "IPv6 extension headers are not modelled",
  ipv6header: "IPv6 extension headers are not modelled",
  mh: "mobility headers are not modelled",
  ah: "IPsec headers are not modelled",
  esp: "IPsec headers are not modelled",
  tcpmss: "TCP options are not modelled",
};

/**
 * Evaluates one match module of a rule on the packet.
 *
 * @param m The match.
 * @param p The packet.
 * @param env The table, hook, host addresses and IP sets.
 * @returns The answer.
 */
export function matchModule(m: ParsedMatch, p: PacketState, env: MatchEnv): MatchAnswer {
  switch (m.name) {
    case "comment":
      return true;
    case "tcp":
      return tcpMatch(m, p, env.backend !== "legacy");
    case "udp":
      return ports(m, p, env.backend !== "legacy");
    case "udplite":
      return ports(m, p);
    case "sctp":
      return all([
        ports(m, p),
        opt(m, "--chunk-types") ? U("SCTP chunks are not modelled") : true,
      ]);
    case "dccp":
      return all([
        ports(m, p),
        opt(m, "--dccp-types") || opt(m, "--dccp-option")
          ? U("DCCP packet types and options are not modelled")
          : true,
      ]);
    case "icmp":
      return icmpMatch(m, p, false);
    case "icmp6":
      return icmpMatch(m, p, true);
    case "multiport": {
      const o = m.options.at(-1);
      if (o === undefined) return true;
      const list = o.args[0]!;
      const r = o.name === "--sports"
        ? inPortList(list, p.sport, "source port")
        : o.name === "--dports"
        ? inPortList(list, p.dport, "destination port")
        : anyOf(
          inPortList(list, p.sport, "source port"),
          inPortList(list, p.dport, "destination port"),
        );
      return inv(r, o.inverted);
    }
    case "conntrack":
      return conntrack(m, p);
    case "state": {
      const o = opt(m, "--state");
      return o === undefined ? true : ctState(p, o.args[0]!, o.inverted);
    }
    case "mark":
      return markMatch(p.mark, opt(m, "--mark"));
    case "connmark":
      // xt_connmark: no connection, no match (whatever the `!`).
      return hasConn(p) ? markMatch(p.conn!.mark, opt(m, "--mark")) : false;
    case "addrtype":
      return addrtype(m, p, env);
    case "iprange":
      return iprange(m, p);
    case "length":
      return lengthMatch(m, p);
    case "pkttype": {
      const o = opt(m, "--pkt-type");
      if (o === undefined) return true;
      return (p.pktType === o.args[0]!.toLowerCase()) !== o.inverted;
    }
    case "mac": {
      const o = opt(m, "--mac-source");
      if (o === undefined) return true;
      if (p.sourceMac === undefined) return U("the source MAC address is not given");
      return (p.sourceMac === o.args[0]!.toLowerCase()) !== o.inverted;
    }
    case "dscp": {
      const o = opt(m, "--dscp");
      if (o === undefined) return true;
      return ((p.tos >> 2) === parseU32(o.args[0]!, "dscp")) !== o.inverted;
    }
    case "tos": {
      const o = opt(m, "--tos");
      if (o === undefined) return true;
      const [v, mask = 0xff] = o.args[0]!.split("/").map((x) => parseU32(x, "tos"));
      return ((p.tos & mask) === v) !== o.inverted;
    }
    case "ttl":
      return p.ipVersion === 4 ? ttlMatch(m, p, "ttl") : U("ttl is an IPv4 match");
    case "hl":
      return ttlMatch(m, p, "hl");
    case "set":
      return setMatch(m, p, env);
    case "physdev":
      return physdev(m);
    case "owner":
      return owner(m, p);
    default: {
      const given = env.assume?.[m.name];
      if (given !== undefined) return given;
      const reason = UNDECIDABLE[m.name];
      return U(reason ?? `the ${m.name} match is not modelled`);
    }
  }
}

function anyOf(a: MatchAnswer, b: MatchAnswer): MatchAnswer {
  if (a === true || b === true) return true;
  if (a === false && b === false) return false;
  return a === false ? b : a;
}

/** The text of a match as saved (`-m tcp --dport 22`), for reports. */
export function matchText(m: ParsedMatch): string {
  const parts = ["-m", m.name];
  for (const o of m.options) parts.push(...(o.inverted ? ["!"] : []), o.name, ...o.args);
  return parts.join(" ");
}
