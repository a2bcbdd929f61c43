import { ADDR_TYPES as DSL_ADDR_TYPES } from "../../dsl/addr_type.ts";
/**
 * Lookup tables the fake dataplane's normaliser shares with iptables 1.8.9:
 * protocol names, ICMP type names, DSCP classes, REJECT types, log levels.
 *
 * @module
 */

/** Protocol number → the name iptables-save prints (from `/etc/protocols`). */
export const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [1, "icmp"],
  [2, "igmp"],
  [3, "ggp"],
  [4, "ipencap"],
  [5, "st"],
  [6, "tcp"],
  [8, "egp"],
  [9, "igp"],
  [12, "pup"],
  [17, "udp"],
  [20, "hmp"],
  [22, "xns-idp"],
  [27, "rdp"],
  [29, "iso-tp4"],
  [33, "dccp"],
  [36, "xtp"],
  [37, "ddp"],
  [38, "idpr-cmtp"],
  [41, "ipv6"],
  [43, "ipv6-route"],
  [44, "ipv6-frag"],
  [45, "idrp"],
  [46, "rsvp"],
  [47, "gre"],
  [50, "esp"],
  [51, "ah"],
  [57, "skip"],
  [58, "ipv6-icmp"],
  [59, "ipv6-nonxt"],
  [60, "ipv6-opts"],
  [73, "rspf"],
  [81, "vmtp"],
  [88, "eigrp"],
  [89, "ospf"],
  [93, "ax.25"],
  [94, "ipip"],
  [97, "etherip"],
  [98, "encap"],
  [103, "pim"],
  [108, "ipcomp"],
  [112, "vrrp"],
  [115, "l2tp"],
  [124, "isis"],
  [132, "sctp"],
  [133, "fc"],
  [135, "mobility-header"],
  [136, "udplite"],
  [137, "mpls-in-ip"],
  [138, "manet"],
  [139, "hip"],
  [140, "shim6"],
  [141, "wesp"],
  [142, "rohc"],
  [143, "ethernet"],
]);

/** Extra protocol names iptables accepts (its own list and `/etc/protocols` aliases). */
const PROTOCOL_ALIASES: ReadonlyMap<string, number> = new Map([
  ["all", 0],
  ["ip", 0],
  ["hopopt", 0],
  ["icmpv6", 58],
  ["ipv6-mh", 135],
  ["mh", 135],
]);

/**
 * Parses a `-p` value as iptables does (lower-cased name or number 0–255).
 *
 * @param value The value after `-p`.
 * @returns The protocol number, or undefined when unknown.
 */
export function parseProtocol(value: string): number | undefined {
  const v = value.toLowerCase();
  if (/^(0x[0-9a-f]+|[0-9]+)$/.test(v)) {
    const n = Number(v);
    return n <= 255 ? n : undefined;
  }
  const alias = PROTOCOL_ALIASES.get(v);
  if (alias !== undefined) return alias;
  for (const [n, name] of PROTOCOL_NAMES) if (name === v) return n;
  return undefined;
}

/** ICMP (v4) type names → [type, codeMin, codeMax]. */
export const ICMP_TYPES: ReadonlyMap<string, readonly [number, number, number]> = new Map([
  ["any", [0xff, 0, 0xff]],
  ["echo-reply", [0, 0, 0xff]],
  ["pong", [0, 0, 0xff]],
  ["destination-unreachable", [3, 0, 0xff]],
  ["network-unreachable", [3, 0, 0]],
  ["host-unreachable", [3, 1, 1]],
  ["protocol-unreachable", [3, 2, 2]],
  ["port-unreachable", [3, 3, 3]],
  ["fragmentation-needed", [3, 4, 4]],
  ["source-route-failed", [3, 5, 5]],
  ["network-unknown", [3, 6, 6]],
  ["host-unknown", [3, 7, 7]],
  ["network-prohibited", [3, 9, 9]],
  ["host-prohibited", [3, 10, 10]],
  ["tos-network-unreachable", [3, 11, 11]],
  ["tos-host-unreachable", [3, 12, 12]],
  ["communication-prohibited", [3, 13, 13]],
  ["host-precedence-violation", [3, 14, 14]],
  ["precedence-cutoff", [3, 15, 15]],
  ["source-quench", [4, 0, 0xff]],
  ["redirect", [5, 0, 0xff]],
  ["network-redirect", [5, 0, 0]],
  ["host-redirect", [5, 1, 1]],
  ["tos-network-redirect", [5, 2, 2]],
  ["tos-host-redirect", [5, 3, 3]],
  ["echo-request", [8, 0, 0xff]],
  ["ping", [8, 0, 0xff]],
  ["router-advertisement", [9, 0, 0xff]],
  ["router-solicitation", [10, 0, 0xff]],
  ["time-exceeded", [11, 0, 0xff]],
  ["ttl-exceeded", [11, 0, 0xff]],
  ["ttl-zero-during-transit", [11, 0, 0]],
  ["ttl-zero-during-reassembly", [11, 1, 1]],
  ["parameter-problem", [12, 0, 0xff]],
  ["ip-header-bad", [12, 0, 0]],
  ["required-option-missing", [12, 1, 1]],
  ["timestamp-request", [13, 0, 0xff]],
  ["timestamp-reply", [14, 0, 0xff]],
  ["address-mask-request", [17, 0, 0xff]],
  ["address-mask-reply", [18, 0, 0xff]],
]);

/** ICMPv6 type names → [type, codeMin, codeMax]. */
export const ICMP6_TYPES: ReadonlyMap<string, readonly [number, number, number]> = new Map([
  ["destination-unreachable", [1, 0, 0xff]],
  ["no-route", [1, 0, 0]],
  ["communication-prohibited", [1, 1, 1]],
  ["beyond-scope", [1, 2, 2]],
  ["address-unreachable", [1, 3, 3]],
  ["port-unreachable", [1, 4, 4]],
  ["failed-policy", [1, 5, 5]],
  ["reject-route", [1, 6, 6]],
  ["packet-too-big", [2, 0, 0xff]],
  ["time-exceeded", [3, 0, 0xff]],
  ["ttl-exceeded", [3, 0, 0xff]],
  ["ttl-zero-during-transit", [3, 0, 0]],
  ["ttl-zero-during-reassembly", [3, 1, 1]],
  ["parameter-problem", [4, 0, 0xff]],
  ["bad-header", [4, 0, 0]],
  ["unknown-header-type", [4, 1, 1]],
  ["unknown-option", [4, 2, 2]],
  ["echo-request", [128, 0, 0xff]],
  ["ping", [128, 0, 0xff]],
  ["echo-reply", [129, 0, 0xff]],
  ["pong", [129, 0, 0xff]],
  ["router-solicitation", [133, 0, 0xff]],
  ["router-advertisement", [134, 0, 0xff]],
  ["neighbour-solicitation", [135, 0, 0xff]],
  ["neighbor-solicitation", [135, 0, 0xff]],
  ["neighbour-advertisement", [136, 0, 0xff]],
  ["neighbor-advertisement", [136, 0, 0xff]],
  ["redirect", [137, 0, 0xff]],
]);

/** DSCP class names → values. */
export const DSCP_CLASSES: ReadonlyMap<string, number> = new Map([
  ["cs0", 0],
  ["cs1", 8],
  ["cs2", 16],
  ["cs3", 24],
  ["cs4", 32],
  ["cs5", 40],
  ["cs6", 48],
  ["cs7", 56],
  ["be", 0],
  ["af11", 10],
  ["af12", 12],
  ["af13", 14],
  ["af21", 18],
  ["af22", 20],
  ["af23", 22],
  ["af31", 26],
  ["af32", 28],
  ["af33", 30],
  ["af41", 34],
  ["af42", 36],
  ["af43", 38],
  ["ef", 46],
]);

/** REJECT `--reject-with` names (IPv4), with aliases, → the name iptables-save prints. */
export const REJECT_TYPES_V4: ReadonlyMap<string, string> = new Map([
  ["icmp-net-unreachable", "icmp-net-unreachable"],
  ["net-unreach", "icmp-net-unreachable"],
  ["icmp-host-unreachable", "icmp-host-unreachable"],
  ["host-unreach", "icmp-host-unreachable"],
  ["icmp-proto-unreachable", "icmp-proto-unreachable"],
  ["proto-unreach", "icmp-proto-unreachable"],
  ["icmp-port-unreachable", "icmp-port-unreachable"],
  ["port-unreach", "icmp-port-unreachable"],
  ["icmp-net-prohibited", "icmp-net-prohibited"],
  ["net-prohib", "icmp-net-prohibited"],
  ["icmp-host-prohibited", "icmp-host-prohibited"],
  ["host-prohib", "icmp-host-prohibited"],
  ["tcp-reset", "tcp-reset"],
  ["tcp-rst", "tcp-reset"],
  ["icmp-admin-prohibited", "icmp-admin-prohibited"],
  ["admin-prohib", "icmp-admin-prohibited"],
]);

/** REJECT `--reject-with` names (IPv6), with aliases, → the name iptables-save prints. */
export const REJECT_TYPES_V6: ReadonlyMap<string, string> = new Map([
  ["icmp6-no-route", "icmp6-no-route"],
  ["no-route", "icmp6-no-route"],
  ["icmp6-adm-prohibited", "icmp6-adm-prohibited"],
  ["adm-prohibited", "icmp6-adm-prohibited"],
  ["icmp6-not-neighbour", "icmp6-not-neighbour"],
  ["not-neighbour", "icmp6-not-neighbour"],
  ["icmp6-addr-unreachable", "icmp6-addr-unreachable"],
  ["addr-unreach", "icmp6-addr-unreachable"],
  ["icmp6-port-unreachable", "icmp6-port-unreachable"],
  ["port-unreach", "icmp6-port-unreachable"],
  ["tcp-reset", "tcp-reset"],
  ["icmp6-policy-fail", "icmp6-policy-fail"],
  ["policy-fail", "icmp6-policy-fail"],
  ["icmp6-reject-route", "icmp6-reject-route"],
  ["reject-route", "icmp6-reject-route"],
]);

/** syslog level names LOG accepts. */
export const LOG_LEVELS: ReadonlyMap<string, number> = new Map([
  ["emerg", 0],
  ["alert", 1],
  ["crit", 2],
  ["error", 3],
  ["err", 3],
  ["warning", 4],
  ["warn", 4],
  ["notice", 5],
  ["info", 6],
  ["debug", 7],
  ["panic", 0],
]);

/** addrtype names in kernel bit order. */
export const ADDR_TYPES: readonly string[] = DSL_ADDR_TYPES;

/** conntrack states in the order iptables-save prints them. */
export const CT_STATES: readonly string[] = [
  "INVALID",
  "NEW",
  "RELATED",
  "ESTABLISHED",
  "UNTRACKED",
  "SNAT",
  "DNAT",
];

/** TCP flags in the order iptables-save prints them. */
export const TCP_FLAGS: readonly string[] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"];
