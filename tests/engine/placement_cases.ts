/**
 * What iptables 1.8.9 and the kernel do with each placement `checkPlacement`
 * knows about, measured with `iptables-nft-restore` and
 * `iptables-legacy-restore` (and the `ip6tables-` twins) in a network
 * namespace. `tests/kernel/placement_test.ts` checks every verdict against the
 * real binaries (and the fake's answer against theirs, byte for byte);
 * `tests/engine/placement_test.ts` checks that `checkPlacement` refuses
 * exactly what a binary refuses, and warns as recorded.
 *
 * A change that makes Rampart refuse a rule the kernel accepts (stricter than
 * the kernel), or let through one it refuses, fails both.
 */
import {
  Accept,
  ChecksumFill,
  ClampMssToPmtu,
  Classify,
  Ct,
  Dnat,
  Drop,
  Dscp,
  type Hook,
  LimitNumConnections,
  Masq,
  Match,
  NoTrack,
  type PlacementWarningCode,
  Redirect,
  Reject,
  renderAppend,
  Return,
  type Rule,
  SetMss,
  Snat,
  type TableName,
} from "../../mod.ts";

/** The two iptables backends. */
export type KernelBackend = "nft" | "legacy";

/**
 * What a restore binary did with the rule:
 * - `"accepted"`;
 * - `{ iptables: message }`: iptables itself refused it (exit 2) with this message;
 * - `"kernel"`: the kernel refused it (EINVAL): nft exits 4 with
 *   `RULE_APPEND failed (Invalid argument)`, legacy exits 1 with `line N failed`.
 */
export type Verdict = "accepted" | "kernel" | { readonly iptables: string };

/** One placement and what the binaries and Rampart do with it. */
export interface PlacementCase {
  /** A short name. */
  name: string;
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: 4 | 6;
  /**
   * Where the rule is: in a kernel chain, or in the owned chain `rp-x`
   * jumped to from each of `from` (kernel chains of the table).
   */
  chain: Hook | { from: readonly Hook[] };
  /** The rule. */
  rule: Rule;
  /** What both binaries did, or what each did. */
  kernel: Verdict | Readonly<Record<KernelBackend, Verdict>>;
  /** A fragment of Rampart's `PlacementError` message (wherever a binary refuses). */
  error?: string;
  /** Rampart's warnings where the binaries accept (default none), for both or for each. */
  warnings?:
    | readonly PlacementWarningCode[]
    | Readonly<Record<KernelBackend, readonly PlacementWarningCode[]>>;
}

const NEED_PORT_PROTOCOL = { iptables: "Need TCP, UDP, SCTP or DCCP with port specification" };
const MULTIPORT_PROTOCOLS = {
  iptables: "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP",
};

/** Every case, measured on iptables v1.8.9 (nf_tables and legacy), Linux 6.x. */
export const PLACEMENT_CASES: readonly PlacementCase[] = [
  // ---- One of each flag per rule (iptables' parser) ----------------------------
  {
    name: "two protocols",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().protocol("tcp").notProtocol("udp"), action: Accept() },
    kernel: { iptables: "multiple -p flags not allowed" },
    error: "a rule can match only one protocol (-p)",
  },
  {
    name: "a protocol before LimitNumConnections' own -p tcp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().protocol("tcp"), action: LimitNumConnections(10, "tcp-reset") },
    kernel: { iptables: "multiple -p flags not allowed" },
    error: "a rule can match only one protocol (-p)",
  },
  {
    name: "-s twice",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().sourceNet("10.0.0.0/8").notSourceNet("10.1.0.0/16") },
    kernel: { iptables: "multiple -s flags not allowed" },
    error: "sourceNet() and notSourceNet() both use -s",
  },
  {
    name: "-d twice",
    table: "filter",
    ipVersion: 6,
    chain: "OUTPUT",
    rule: { match: Match().destNet("2001:db8::/32").destNet("2001:db9::/32") },
    kernel: { iptables: "multiple -d flags not allowed" },
    error: "destNet() and destNet() both use -d",
  },
  {
    name: "-i twice, one negated",
    table: "filter",
    ipVersion: 4,
    chain: "FORWARD",
    rule: { match: Match().inInterface("eth0").notInInterface("eth1"), action: Drop() },
    kernel: { iptables: "multiple -i flags not allowed" },
    error: "inInterface() and notInInterface() both use -i",
  },
  {
    name: "-o twice, one negated",
    table: "filter",
    ipVersion: 6,
    chain: "FORWARD",
    rule: { match: Match().notOutInterface("eth0").outInterface("eth1"), action: Drop() },
    kernel: { iptables: "multiple -o flags not allowed" },
    error: "notOutInterface() and outInterface() both use -o",
  },
  // ---- Protocols of the other family: accepted, never match ---------------------
  {
    name: "protocol icmp in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().protocol("icmp"), action: Accept() },
    kernel: "accepted",
    warnings: ["never-matches"],
  },
  {
    name: "protocol 58 (icmpv6) in IPv4",
    table: "filter",
    ipVersion: 4,
    chain: { from: ["INPUT"] },
    rule: { match: Match().protocolNum(58), action: Accept() },
    kernel: "accepted",
    warnings: ["never-matches"],
  },
  {
    name: "protocol icmpv6 in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().protocol("icmpv6"), action: Accept() },
    kernel: "accepted",
  },
  // ---- Protocol dependencies --------------------------------------------------
  {
    name: "ports without a protocol",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().destPorts(80), action: Accept() },
    kernel: {
      iptables: "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'",
    },
    error: "destPorts() needs a positive protocol match",
  },
  {
    name: "ports after a negated protocol",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().notProtocol("udp").sourcePorts(53), action: Accept() },
    kernel: MULTIPORT_PROTOCOLS,
    error: "sourcePorts() needs a positive protocol match",
  },
  {
    name: "ports after icmp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: {
      match: Match().protocol("icmp").destPortRanges([{ first: 1, last: 2 }]),
      action: Accept(),
    },
    kernel: MULTIPORT_PROTOCOLS,
    error: "destPortRanges() needs a positive protocol match",
  },
  {
    name: "ports after udplite",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().protocol("udplite").destPorts(5000), action: Accept() },
    kernel: "accepted",
  },
  {
    name: "ports before LimitNumConnections' own -p tcp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().destPorts(80), action: LimitNumConnections(10, "tcp-reset") },
    kernel: {
      iptables: "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'",
    },
    error: "destPorts() needs a positive protocol match",
  },
  {
    name: "icmpType in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().protocol("icmpv6").icmpType(8), action: Accept() },
    kernel: { iptables: "Couldn't load match `icmp':No such file or directory" },
    error: "icmpType() is IPv4 only",
  },
  {
    name: "icmpTypeAndCode without protocol icmp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().icmpTypeAndCode(3, 4), action: Accept() },
    kernel: "kernel",
    error: 'icmpTypeAndCode() needs protocol("icmp") first',
  },
  {
    name: "icmpType after a negated icmp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().notProtocol("icmp").icmpType(8), action: Accept() },
    kernel: "kernel",
    error: 'icmpType() needs protocol("icmp") first',
  },
  {
    name: "icmpV6Type in IPv4",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().protocol("icmp").icmpV6Type(128), action: Accept() },
    kernel: { iptables: "Couldn't load match `icmp6':No such file or directory" },
    error: "icmpV6Type() is IPv6 only",
  },
  {
    name: "icmpV6Type without protocol icmpv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().icmpV6Type(128), action: Accept() },
    kernel: "kernel",
    error: 'icmpV6Type() needs protocol("icmpv6") first',
  },
  {
    name: "icmpV6Type after icmpv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().protocol("icmpv6").icmpV6Type(128), action: Accept() },
    kernel: "accepted",
  },
  // ---- Addresses and address types ---------------------------------------------
  {
    name: "an IPv6 address in IPv4",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().destNet("2001:db8::/32"), action: Accept() },
    kernel: { iptables: "host/network `2001:db8::' not found" },
    error: 'destNet("2001:db8::/32") is an IPv6 address in an IPv4 table',
  },
  {
    name: "an IPv4 address in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().notSourceNet("10.0.0.0/8"), action: Accept() },
    kernel: { iptables: "host/network `10.0.0.0' not found" },
    error: 'notSourceNet("10.0.0.0/8") is an IPv4 address in an IPv6 table',
  },
  {
    name: "address type BROADCAST in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().destAddrType("BROADCAST"), action: Drop() },
    kernel: "kernel",
    error: 'destAddrType("BROADCAST") is not supported for IPv6',
  },
  {
    name: "address type BROADCAST in IPv4",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().destAddrType("BROADCAST"), action: Drop() },
    kernel: "accepted",
  },
  // ---- rpfilter ---------------------------------------------------------------
  {
    name: "rpfilter in the filter table",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().rpfCheckFailed(), action: Drop() },
    kernel: "kernel",
    error: "rpfCheckFailed() (rpfilter) works only in the raw and mangle tables",
  },
  {
    name: "rpfilter in raw PREROUTING",
    table: "raw",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { match: Match().rpfCheckFailed(), action: Drop() },
    kernel: "accepted",
  },
  {
    name: "rpfilter in raw OUTPUT",
    table: "raw",
    ipVersion: 6,
    chain: "OUTPUT",
    rule: { match: Match().rpfCheckPassed(), action: Accept() },
    kernel: "kernel",
    error: "(rpfilter) works only in PREROUTING",
  },
  {
    name: "rpfilter in an owned chain reached from PREROUTING and OUTPUT",
    table: "raw",
    ipVersion: 4,
    chain: { from: ["PREROUTING", "OUTPUT"] },
    rule: { match: Match().rpfCheckPassed(), action: Accept() },
    kernel: "kernel",
    error: "(rpfilter) works only in PREROUTING, but the chain is reached from PREROUTING, OUTPUT",
  },
  {
    name: "rpfilter in an owned chain reached from mangle PREROUTING",
    table: "mangle",
    ipVersion: 6,
    chain: { from: ["PREROUTING"] },
    rule: { match: Match().rpfCheckPassed(), action: Accept() },
    kernel: "accepted",
  },
  // ---- Interfaces ---------------------------------------------------------------
  {
    name: "inInterface in OUTPUT",
    table: "filter",
    ipVersion: 4,
    chain: "OUTPUT",
    rule: { match: Match().inInterface("eth0"), action: Accept() },
    kernel: { iptables: "Can't use -i with OUTPUT" },
    error:
      `inInterface() is refused by iptables in a chain named OUTPUT ("Can't use -i with OUTPUT")`,
  },
  {
    name: "notInInterface in nat POSTROUTING",
    table: "nat",
    ipVersion: 4,
    chain: "POSTROUTING",
    rule: { match: Match().notInInterface("docker0"), action: Masq() },
    kernel: { iptables: "Can't use -i with POSTROUTING" },
    error: `notInInterface() is refused by iptables in a chain named POSTROUTING`,
  },
  {
    name: "inInterface wildcard in mangle OUTPUT",
    table: "mangle",
    ipVersion: 6,
    chain: "OUTPUT",
    rule: { match: Match().inInterface("+"), action: Accept() },
    kernel: { iptables: "Can't use -i with OUTPUT" },
    error: `inInterface() is refused by iptables in a chain named OUTPUT`,
  },
  {
    name: "outInterface in INPUT",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().outInterface("eth0"), action: Accept() },
    kernel: { iptables: "Can't use -o with INPUT" },
    error:
      `outInterface() is refused by iptables in a chain named INPUT ("Can't use -o with INPUT")`,
  },
  {
    name: "notOutInterface in raw PREROUTING",
    table: "raw",
    ipVersion: 6,
    chain: "PREROUTING",
    rule: { match: Match().notOutInterface("eth0"), action: Accept() },
    kernel: { iptables: "Can't use -o with PREROUTING" },
    error: `notOutInterface() is refused by iptables in a chain named PREROUTING`,
  },
  {
    name: "inInterface and outInterface in FORWARD",
    table: "filter",
    ipVersion: 6,
    chain: "FORWARD",
    rule: { match: Match().inInterface("docker0").notOutInterface("docker0"), action: Accept() },
    kernel: "accepted",
  },
  {
    name: "inInterface in an owned chain reached from PREROUTING and OUTPUT (Docker's layout)",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["PREROUTING", "OUTPUT"] },
    rule: { match: Match().inInterface("docker0"), action: Return() },
    kernel: "accepted",
  },
  {
    name: "notInInterface in an owned chain reached from PREROUTING and OUTPUT (Docker's layout)",
    table: "nat",
    ipVersion: 6,
    chain: { from: ["PREROUTING", "OUTPUT"] },
    rule: {
      match: Match().notInInterface("docker0").protocol("tcp").destPorts(8080),
      action: Dnat("2001:db8::2", 80),
    },
    kernel: "accepted",
  },
  {
    name: "inInterface in an owned chain reached only from OUTPUT",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["OUTPUT"] },
    rule: { match: Match().inInterface("docker0").protocol("tcp"), action: Dnat("10.0.0.2") },
    kernel: "accepted",
    warnings: ["never-matches"],
  },
  {
    name: "notInInterface in an owned chain reached from OUTPUT and POSTROUTING",
    table: "mangle",
    ipVersion: 6,
    chain: { from: ["OUTPUT", "POSTROUTING"] },
    rule: { match: Match().notInInterface("eth0"), action: Accept() },
    kernel: "accepted",
    warnings: ["no-effect"],
  },
  {
    name: "outInterface in an owned chain reached only from INPUT",
    table: "filter",
    ipVersion: 6,
    chain: { from: ["INPUT"] },
    rule: { match: Match().outInterface("eth0"), action: Drop() },
    kernel: "accepted",
    warnings: ["never-matches"],
  },
  {
    name: "notOutInterface in an owned chain reached from PREROUTING",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["PREROUTING"] },
    rule: { match: Match().notOutInterface("docker0"), action: Dnat("10.0.0.2") },
    kernel: "accepted",
    warnings: ["no-effect"],
  },
  {
    name: "outInterface in an owned chain reached from INPUT and FORWARD",
    table: "filter",
    ipVersion: 4,
    chain: { from: ["INPUT", "FORWARD"] },
    rule: { match: Match().outInterface("eth0"), action: Drop() },
    kernel: "accepted",
  },
  {
    name: "notOutInterface in POSTROUTING (Docker's MASQUERADE)",
    table: "nat",
    ipVersion: 4,
    chain: "POSTROUTING",
    rule: { match: Match().sourceNet("172.17.0.0/16").notOutInterface("docker0"), action: Masq() },
    kernel: "accepted",
  },
  {
    name: "the wildcard inInterface in an owned chain reached only from OUTPUT",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["OUTPUT"] },
    rule: { match: Match().inInterface("+"), action: Return() },
    kernel: "accepted",
  },
  // ---- addrtype --limit-iface-out ------------------------------------------------
  {
    name: "limitIfaceOut in INPUT",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().srcAddrType("LOCAL", true), action: Accept() },
    kernel: "kernel",
    error: "srcAddrType(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING",
  },
  {
    name: "limitIfaceOut in an owned chain reached only from INPUT",
    table: "filter",
    ipVersion: 4,
    chain: { from: ["INPUT"] },
    rule: { match: Match().notSrcAddrType("LOCAL", true), action: Accept() },
    kernel: { nft: "accepted", legacy: "kernel" },
    error: "notSrcAddrType(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING",
    warnings: { nft: ["no-effect"], legacy: [] },
  },
  {
    name: "limitIfaceOut in an owned chain reached from PREROUTING and OUTPUT",
    table: "nat",
    ipVersion: 6,
    chain: { from: ["PREROUTING", "OUTPUT"] },
    rule: { match: Match().srcAddrType("LOCAL", true), action: Dnat("2001:db8::2") },
    kernel: { nft: "accepted", legacy: "kernel" },
    error: "srcAddrType(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING",
  },
  {
    name: "limitIfaceOut in an owned chain reached from OUTPUT",
    table: "filter",
    ipVersion: 6,
    chain: { from: ["OUTPUT"] },
    rule: { match: Match().srcAddrType("LOCAL", true), action: Accept() },
    kernel: "accepted",
  },
  // ---- Targets: tables and hooks ---------------------------------------------------
  {
    name: "Drop in nat PREROUTING",
    table: "nat",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { action: Drop() },
    kernel: {
      iptables:
        'The "nat" table is not intended for filtering, the use of DROP is therefore inhibited.',
    },
    error: "Drop() is refused in the nat table",
  },
  {
    name: "Drop in an owned nat chain",
    table: "nat",
    ipVersion: 6,
    chain: { from: ["OUTPUT"] },
    rule: { action: Drop() },
    kernel: {
      iptables:
        'The "nat" table is not intended for filtering, the use of DROP is therefore inhibited.',
    },
    error: "Drop() is refused in the nat table",
  },
  {
    name: "Dnat in filter",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: Dnat("10.0.0.1") },
    kernel: "kernel",
    error: "Dnat() works only in the nat table",
  },
  {
    name: "Dnat in an owned chain reached from PREROUTING and POSTROUTING",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["PREROUTING", "POSTROUTING"] },
    rule: { action: Dnat("10.0.0.1") },
    kernel: "kernel",
    error: "Dnat() works only in PREROUTING, OUTPUT, but the chain is reached from POSTROUTING",
  },
  {
    name: "Snat in nat INPUT",
    table: "nat",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: Snat("10.0.0.1") },
    kernel: "accepted",
  },
  {
    name: "Snat in nat PREROUTING",
    table: "nat",
    ipVersion: 6,
    chain: "PREROUTING",
    rule: { action: Snat("2001:db8::1") },
    kernel: "kernel",
    error: "Snat() works only in POSTROUTING, INPUT, but the chain is reached from PREROUTING",
  },
  {
    name: "Masq in an owned chain reached from OUTPUT",
    table: "nat",
    ipVersion: 4,
    chain: { from: ["OUTPUT"] },
    rule: { action: Masq() },
    kernel: "kernel",
    error: "Masq() works only in POSTROUTING, but the chain is reached from OUTPUT",
  },
  {
    name: "Reject in mangle",
    table: "mangle",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: Reject() },
    kernel: "kernel",
    error: "Reject() works only in the filter table",
  },
  {
    name: "LimitNumConnections in mangle",
    table: "mangle",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: LimitNumConnections(10, "tcp-reset") },
    kernel: "kernel",
    error: "LimitNumConnections() works only in the filter table",
  },
  {
    name: "NoTrack in filter",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: NoTrack() },
    kernel: "kernel",
    error: "NoTrack() works only in the raw table",
  },
  {
    name: "NoTrack in mangle",
    table: "mangle",
    ipVersion: 6,
    chain: "PREROUTING",
    rule: { action: NoTrack() },
    kernel: "kernel",
    error: "NoTrack() works only in the raw table",
  },
  {
    name: "NoTrack in raw OUTPUT",
    table: "raw",
    ipVersion: 6,
    chain: "OUTPUT",
    rule: { action: NoTrack() },
    kernel: "accepted",
  },
  {
    name: "Dscp in filter",
    table: "filter",
    ipVersion: 4,
    chain: "OUTPUT",
    rule: { action: Dscp(10) },
    kernel: "kernel",
    error: "Dscp() works only in the mangle table",
  },
  {
    name: "Dscp in mangle",
    table: "mangle",
    ipVersion: 4,
    chain: { from: ["POSTROUTING"] },
    rule: { action: Dscp(10) },
    kernel: "accepted",
  },
  // ---- NAT addresses and ports ------------------------------------------------------
  {
    name: "Dnat to an IPv6 address in IPv4",
    table: "nat",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { action: Dnat("2001:db8::1") },
    kernel: { iptables: 'Bad IP address "2001:db8::1"' },
    error: "Dnat() is given an IPv6 address in an IPv4 table",
  },
  {
    name: "Snat to an IPv4 address in IPv6",
    table: "nat",
    ipVersion: 6,
    chain: "POSTROUTING",
    rule: { action: Snat("10.0.0.1") },
    kernel: { iptables: 'Bad IP address "10.0.0.1"' },
    error: "Snat() is given an IPv4 address in an IPv6 table",
  },
  {
    name: "Dnat with a port and no protocol",
    table: "nat",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { action: Dnat("10.0.0.1", 8080) },
    kernel: NEED_PORT_PROTOCOL,
    error: "Dnat() with a port needs protocol tcp, udp, sctp or dccp",
  },
  {
    name: "Dnat with a port after udplite",
    table: "nat",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { match: Match().protocol("udplite"), action: Dnat("10.0.0.1", 8080) },
    kernel: NEED_PORT_PROTOCOL,
    error: "Dnat() with a port needs protocol tcp, udp, sctp or dccp",
  },
  {
    name: "Dnat with a port after a negated udp",
    table: "nat",
    ipVersion: 4,
    chain: "PREROUTING",
    rule: { match: Match().notProtocol("udp"), action: Dnat("10.0.0.1", 8080) },
    kernel: "accepted",
  },
  {
    name: "Dnat with a port after icmp",
    table: "nat",
    ipVersion: 4,
    chain: "OUTPUT",
    rule: { match: Match().protocol("icmp"), action: Dnat("10.0.0.1", 8080) },
    kernel: "accepted",
  },
  {
    name: "Dnat with a port after a negated icmpv6",
    table: "nat",
    ipVersion: 6,
    chain: "PREROUTING",
    rule: { match: Match().notProtocol("icmpv6"), action: Dnat("2001:db8::1", 8080) },
    kernel: NEED_PORT_PROTOCOL,
    error: "Dnat() with a port needs protocol tcp, udp, sctp or dccp",
  },
  {
    name: "Masq with ports and no protocol",
    table: "nat",
    ipVersion: 4,
    chain: "POSTROUTING",
    rule: { action: Masq("1024-2048") },
    kernel: NEED_PORT_PROTOCOL,
    error: "Masq() with to-ports needs protocol tcp, udp, sctp or dccp",
  },
  {
    name: "Masq with ports after a negated tcp",
    table: "nat",
    ipVersion: 6,
    chain: "POSTROUTING",
    rule: { match: Match().notProtocol("tcp"), action: Masq("1024") },
    kernel: "accepted",
  },
  // ---- REJECT types ---------------------------------------------------------------------
  {
    name: "tcp-reset without tcp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: Reject("tcp-reset") },
    kernel: "kernel",
    error: 'reject type "tcp-reset" needs protocol("tcp")',
  },
  {
    name: "tcp-reset after a negated tcp",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { match: Match().notProtocol("tcp"), action: Reject("tcp-reset") },
    kernel: "kernel",
    error: 'reject type "tcp-reset" needs protocol("tcp")',
  },
  {
    name: "an IPv4 reject type in IPv6",
    table: "filter",
    ipVersion: 6,
    chain: "INPUT",
    rule: { action: Reject("icmp-port-unreachable") },
    kernel: { iptables: 'unknown reject type "icmp-port-unreachable"' },
    error: 'reject type "icmp-port-unreachable" is not valid for IPv6',
  },
  {
    name: "an IPv6 reject type in IPv4",
    table: "filter",
    ipVersion: 4,
    chain: "FORWARD",
    rule: { action: Reject("icmp6-adm-prohibited") },
    kernel: { iptables: 'unknown reject type "icmp6-adm-prohibited"' },
    error: 'reject type "icmp6-adm-prohibited" is not valid for IPv4',
  },
  // ---- Issue 16: the modules and targets of real rule sets ---------------------
  {
    name: "tcp() without -p tcp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().tcp({ destPort: 22 }), action: Accept() },
    kernel: { nft: { iptables: "TCP match requires '-p tcp'" }, legacy: "kernel" },
    error: 'tcp() needs protocol("tcp") first',
  },
  {
    name: "tcpMss() without -p tcp",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().tcpMss(1, 500), action: Accept() },
    kernel: "kernel",
    error: 'tcpMss() needs protocol("tcp") first',
  },
  {
    name: "owner() in INPUT",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { match: Match().owner({ uid: 0 }), action: Accept() },
    kernel: "kernel",
    error: "owner() works only in OUTPUT, POSTROUTING",
  },
  {
    name: "owner() in a chain reached from INPUT",
    table: "filter",
    ipVersion: 6,
    chain: { from: ["INPUT"] },
    rule: { match: Match().owner({ uid: 0 }), action: Accept() },
    kernel: "kernel",
    error: "owner() works only in OUTPUT, POSTROUTING",
  },
  {
    name: "owner() in OUTPUT",
    table: "filter",
    ipVersion: 4,
    chain: "OUTPUT",
    rule: { match: Match().owner({ notUid: 0, socketExists: true }), action: Accept() },
    kernel: "accepted",
  },
  {
    name: "sourceMac() in OUTPUT",
    table: "filter",
    ipVersion: 4,
    chain: "OUTPUT",
    rule: { match: Match().sourceMac("52:54:00:12:34:56"), action: Accept() },
    kernel: "kernel",
    error: "sourceMac() works only in PREROUTING, INPUT, FORWARD",
  },
  {
    name: "Ct() in filter",
    table: "filter",
    ipVersion: 4,
    chain: { from: ["INPUT"] },
    rule: { action: Ct({ notrack: true }) },
    kernel: "kernel",
    error: "Ct() works only in the raw table",
  },
  {
    name: "Redirect() in POSTROUTING",
    table: "nat",
    ipVersion: 4,
    chain: "POSTROUTING",
    rule: { match: Match().protocol("tcp"), action: Redirect("80") },
    kernel: "kernel",
    error: "Redirect() works only in PREROUTING, OUTPUT",
  },
  {
    name: "ChecksumFill() in filter",
    table: "filter",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: ChecksumFill() },
    kernel: "kernel",
    error: "ChecksumFill() works only in the mangle table",
  },
  {
    name: "Classify() in mangle INPUT",
    table: "mangle",
    ipVersion: 4,
    chain: "INPUT",
    rule: { action: Classify(1, 1) },
    kernel: "kernel",
    error: "Classify() works only in FORWARD, OUTPUT, POSTROUTING",
  },
  {
    name: "ClampMssToPmtu() without a SYN match",
    table: "mangle",
    ipVersion: 4,
    chain: "FORWARD",
    rule: { match: Match().protocol("tcp"), action: ClampMssToPmtu() },
    kernel: { nft: "accepted", legacy: "kernel" },
    error: "works only on TCP SYN packets",
  },
  {
    name: "ClampMssToPmtu() in INPUT",
    table: "mangle",
    ipVersion: 6,
    chain: "INPUT",
    rule: {
      match: Match().protocol("tcp").tcp({ flags: { mask: ["SYN", "RST"], set: ["SYN"] } }),
      action: ClampMssToPmtu(),
    },
    kernel: "kernel",
    error: "ClampMssToPmtu() works only in FORWARD, OUTPUT, POSTROUTING",
  },
  {
    name: "SetMss() with a SYN match",
    table: "mangle",
    ipVersion: 4,
    chain: "FORWARD",
    rule: { match: Match().protocol("tcp").tcp({ syn: true }), action: SetMss(1400) },
    kernel: "accepted",
  },
];

/**
 * Match fragments iptables refuses whatever the placement, which the DSL
 * refuses when the rule is built: [fragment, iptables' message, build].
 */
export const DSL_REFUSED: readonly [string, string, () => unknown][] = [
  ["! -p all", "rule would never match protocol", () => Match().notProtocol("all")],
  ["! -p 0", "rule would never match protocol", () => Match().notProtocolNum(0)],
];

/**
 * Interface clauses the binaries accept but the DSL refuses, because the
 * legacy iptables-save prints the rule without them (so a snapshot restored
 * from the saved text would match every packet instead of none):
 * [fragment, build].
 */
export const DSL_REFUSED_LOSSY: readonly [string, () => unknown][] = [
  ["! -i +", () => Match().notInInterface("+")],
  ["! -o +", () => Match().notOutInterface("+")],
];

/** The owned chain a case's rule goes in when it is not a kernel chain. */
export const CASE_CHAIN = "rp-x";

/** The verdict of a case on one backend. */
export function verdictOf(c: PlacementCase, backend: KernelBackend): Verdict {
  const k = c.kernel;
  return typeof k === "string" || "iptables" in k ? k : k[backend];
}

/** The warnings a case expects on one backend. */
export function warningsOf(
  c: PlacementCase,
  backend: KernelBackend,
): readonly PlacementWarningCode[] {
  const w = c.warnings ?? [];
  return Array.isArray(w) ? w : (w as Record<KernelBackend, PlacementWarningCode[]>)[backend];
}

/** The chain holding the case's rule, and the hooks it is reached from. */
export function placeOf(c: PlacementCase): { chain: string; hooks: Set<Hook> } {
  return typeof c.chain === "string"
    ? { chain: c.chain, hooks: new Set([c.chain]) }
    : { chain: CASE_CHAIN, hooks: new Set(c.chain.from) };
}

/**
 * The iptables-restore script that places the case's rule: the owned chain
 * and its rule first, then the jumps to it (nf_tables checks the hooks of a
 * chain's rules when a jump makes them reachable; legacy at the COMMIT).
 */
export function caseScript(c: PlacementCase): string {
  const lines = [`*${c.table}`];
  if (typeof c.chain === "string") lines.push(renderAppend(c.rule, c.chain));
  else {
    lines.push(`:${CASE_CHAIN} - [0:0]`, renderAppend(c.rule, CASE_CHAIN));
    for (const from of c.chain.from) lines.push(`-A ${from} --jump ${CASE_CHAIN}`);
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * Checks a restore's exit code and stderr against a verdict.
 *
 * @returns A description of the mismatch, or `undefined`.
 */
export function verdictMismatch(
  verdict: Verdict,
  backend: KernelBackend,
  result: { code: number; stderr: string },
): string | undefined {
  const got = `exit ${result.code}: ${JSON.stringify(result.stderr)}`;
  if (verdict === "accepted") return result.code === 0 ? undefined : `accepted expected, ${got}`;
  if (verdict === "kernel") {
    const ok = backend === "nft"
      ? result.code === 4 && /RULE_APPEND failed \(Invalid argument\)/.test(result.stderr)
      : result.code === 1 && /^ip6?tables-restore: line \d+ failed\n$/.test(result.stderr);
    return ok ? undefined : `a kernel refusal expected, ${got}`;
  }
  const ok = result.code === 2 && result.stderr.includes(verdict.iptables);
  return ok ? undefined : `iptables' ${JSON.stringify(verdict.iptables)} expected, ${got}`;
}
