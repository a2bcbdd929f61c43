/**
 * Scenario 7: property test. Seeded rounds of random desired states (random
 * owned chains, rules from the whole DSL valid where they are placed, random
 * insertions and removals) are applied to the kernel; after every round the
 * kernel's chains equal the model. The same rounds run on
 * `FakeDataplane({ backend })`, whose iptables-save output must equal the
 * kernel's, byte for byte (timestamps aside).
 *
 * Reproduce a run with `RP_SEED=<seed> deno test -A tests/kernel/property_test.ts`
 * (the seed is printed); `RP_ROUNDS` changes the total number of rounds
 * (default 500, split over the four backend × family variants).
 */

import { ADDR_TYPES, ADDR_TYPES_V6 as DSL_ADDR_TYPES_V6 } from "../../dsl/addr_type.ts";
import { MAX_LIMIT_CREDITS, REJECT_TYPES_V4, REJECT_TYPES_V6 } from "../../dsl/validate.ts";
import assert from "assert";
import * as actions from "../../dsl/actions.ts";
import {
  Accept,
  type Action,
  Audit,
  calculateRuleIds,
  ChangeHopLimit,
  ChangeTtl,
  ChecksumFill,
  ClampMssToPmtu,
  Classify,
  ClearMark,
  Ct,
  Dnat,
  Drop,
  Dscp,
  type Features,
  Goto,
  type IpRangeOptions,
  Jump,
  LimitNumConnections,
  LimitPacketRate,
  Log,
  LogPacket,
  Masq,
  Match,
  MATCH_METHODS,
  type MatchCriteria,
  type NatOptions,
  Nflog,
  NoTrack,
  type OwnerOptions,
  type PortOrRange,
  type RecentOptions,
  Redirect,
  Reject,
  RestoreConnMark,
  Return,
  type Rule,
  type RuleIds,
  SaveConnMark,
  SetConnMark,
  SetMark,
  SetMaskedMark,
  SetMss,
  Snat,
  Table,
  type TcpOptions,
  type UdpOptions,
  XorMark,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { FeatureDetector } from "../../src/host/feature_detector.ts";
import { staticFeatures } from "../../src/host/feature_source.ts";
import { KERNEL_CHAINS, type TableName } from "../../dsl/kernel_chains.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import {
  kernelTable,
  kernelTest,
  nsExec,
  saveTable,
  TABLE_DEFAULTS,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const SEED = Number(Deno.env.get("RP_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const TOTAL_ROUNDS = Number(Deno.env.get("RP_ROUNDS") ?? 800);
const ROUNDS = Math.ceil(TOTAL_ROUNDS / VARIANTS.length);
/** DSL methods this kernel cannot run (the ip_vs module is not loaded here). */
const UNSUPPORTED = new Set(["ipvsConnection", "notIpvsConnection"]);
const MIN_USES = 10;
/** How often each DSL method and action was generated (and so applied). */
const uses = new Map<string, number>();

console.log(
  `property test: seed ${SEED}, ${ROUNDS} rounds per variant (reproduce with RP_SEED=${SEED})`,
);

// ---- Randomness -------------------------------------------------------------

class Rand {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

// ---- Rule generation ----------------------------------------------------------

type Hook = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

interface Place {
  table: TableName;
  hook: Hook;
  ipVersion: 4 | 6;
  /** Owned chains this rule may jump or go to. */
  targets: readonly string[];
}

const PORT_PROTOCOLS = ["tcp", "udp", "sctp", "udplite", "dccp"] as const;
/** NAT targets take ports only with these. */
const NAT_PORT_PROTOCOLS = ["tcp", "udp", "sctp", "dccp"] as const;
const STATES = ["INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT"] as const;
const ADDR_TYPES_V4 = ADDR_TYPES;
const ADDR_TYPES_V6 = [...DSL_ADDR_TYPES_V6];
/** The ICMP reject types of each family (`tcp-reset` is picked separately: it needs tcp). */
const REJECT_V4 = [...REJECT_TYPES_V4].filter((t) => t !== "tcp-reset");
const REJECT_V6 = [...REJECT_TYPES_V6].filter((t) => t !== "tcp-reset");
const SECONDS = { second: 1, minute: 60, hour: 3600, day: 86400 } as const;

function mark(r: Rand): number {
  return r.chance(0.2) ? 0x80000000 : (1 << r.int(0, 30)) >>> 0;
}

function maskAndMark(r: Rand): [number, number] {
  const mask = r.pick([0xff, 0xff00, 0xf00f, 0xffffffff, 0x4000]) >>> 0;
  return [(r.int(0, 0xffff) & mask) >>> 0, mask];
}

function net(r: Rand, v: 4 | 6): string {
  if (v === 4) {
    return r.pick([
      `10.${r.int(0, 255)}.${r.int(0, 255)}.0/24`,
      `10.${r.int(0, 255)}.0.0/16`,
      `192.168.${r.int(0, 255)}.${r.int(1, 254)}`,
      `172.16.${r.int(0, 255)}.${r.int(0, 255)}/32`,
    ]);
  }
  return r.pick([
    `2001:db8:${r.int(0, 0xffff).toString(16)}::/48`,
    `fd00:${r.int(1, 0xffff).toString(16)}::/64`,
    `2001:db8::${r.int(1, 0xffff).toString(16)}`,
    `fe80::/10`,
  ]);
}

function ports(r: Rand): number[] {
  const n = r.int(1, 4);
  const out = new Set<number>();
  while (out.size < n) out.add(r.pick([0, 22, 53, 80, 443, r.int(1, 65535), 65535]));
  return [...out];
}

function portRanges(r: Rand): { first: number; last: number }[] {
  const n = r.int(1, 3);
  return Array.from({ length: n }, () => {
    const first = r.int(1, 60000);
    return { first, last: r.chance(0.2) ? first : first + r.int(1, 5000) };
  });
}

function limitRate(r: Rand): [string, number | undefined] {
  // The DSL refuses rates whose credit counter (10000 × period / N × burst)
  // would overflow the kernel's limit arithmetic (e.g. 1/day with burst 5).
  for (;;) {
    const unit = r.pick(Object.keys(SECONDS) as (keyof typeof SECONDS)[]);
    const n = unit === "second" ? r.int(1, 10000) : r.int(1, unit === "day" ? 2000 : 600);
    const burst = r.chance(0.4) ? undefined : r.int(1, 10000);
    const avg = Math.floor((10000 * SECONDS[unit]) / n);
    if (avg * (burst ?? 5) > MAX_LIMIT_CREDITS) continue;
    return [`${n}/${unit}`, burst];
  }
}

const STATE_NAMES = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED"] as const;
const PACKET_TYPES = ["unicast", "broadcast", "multicast", "otherhost"] as const;
const TCP_FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"] as const;

function natOptions(r: Rand): NatOptions {
  return { randomFully: r.chance(0.5), ...(r.chance(0.4) ? { random: true } : {}) };
}

function portOrRange(r: Rand): PortOrRange {
  if (r.chance(0.6)) return r.int(1, 65535);
  const first = r.int(0, 60000);
  return { first, last: first + r.int(1, 5000) };
}

function tcpOptions(r: Rand): TcpOptions {
  const o: Record<string, unknown> = {};
  if (r.chance(0.4)) o[r.chance(0.7) ? "sourcePort" : "notSourcePort"] = portOrRange(r);
  if (r.chance(0.6)) o[r.chance(0.7) ? "destPort" : "notDestPort"] = portOrRange(r);
  if (r.chance(0.2)) o[r.chance(0.7) ? "option" : "notOption"] = r.int(0, 255);
  if (r.chance(0.2)) o.syn = true;
  else if (r.chance(0.3)) {
    const mask = r.shuffle(TCP_FLAG_NAMES).slice(0, r.int(1, 6));
    o[r.chance(0.7) ? "flags" : "notFlags"] = {
      mask,
      set: r.shuffle(mask).slice(0, r.int(0, mask.length)),
    };
  }
  return o as TcpOptions;
}

function udpOptions(r: Rand): UdpOptions {
  const o: Record<string, unknown> = {};
  if (r.chance(0.5)) o[r.chance(0.7) ? "sourcePort" : "notSourcePort"] = portOrRange(r);
  if (r.chance(0.7)) o[r.chance(0.7) ? "destPort" : "notDestPort"] = portOrRange(r);
  return o as UdpOptions;
}

function recent(r: Rand, v: 4 | 6): RecentOptions {
  const mode = r.pick(["set", "rcheck", "update", "remove"] as const);
  const checks = mode === "rcheck" || mode === "update";
  const seconds = checks && r.chance(0.6) ? r.int(1, 86400) : undefined;
  return {
    mode,
    ...(r.chance(0.7) ? { name: r.pick(["ssh", "KUBE-SEP-ABC", "ddos_check", "a.b:c"]) } : {}),
    ...(seconds === undefined ? {} : { seconds, ...(r.chance(0.3) ? { reap: true } : {}) }),
    ...(checks && r.chance(0.5) ? { hitcount: r.int(1, 20) } : {}),
    ...(checks && r.chance(0.2) ? { rttl: true } : {}),
    ...(r.chance(0.4) ? { mask: v === 4 ? "255.255.255.0" : "ffff:ffff:ffff:ffff::" } : {}),
    ...(r.chance(0.3) ? { dest: true } : {}),
  };
}

function ipRange(r: Rand, v: 4 | 6): IpRangeOptions {
  const range = () => {
    const n = r.int(1, 255);
    return v === 4
      ? `10.${n}.0.1-10.${n}.255.254`
      : `2001:db8::${n.toString(16)}-2001:db8::${(n + 0x100).toString(16)}`;
  };
  const o: Record<string, string> = {};
  if (r.chance(0.7)) o[r.chance(0.7) ? "source" : "notSource"] = range();
  if (Object.keys(o).length === 0 || r.chance(0.3)) o[r.chance(0.7) ? "dest" : "notDest"] = range();
  return o;
}

function owner(r: Rand): OwnerOptions {
  const o: Record<string, unknown> = {};
  if (r.chance(0.3)) o[r.chance(0.7) ? "socketExists" : "notSocketExists"] = true;
  if (r.chance(0.6)) {
    o[r.chance(0.7) ? "uid" : "notUid"] = r.chance(0.7) ? r.int(0, 65534) : { first: 0, last: 999 };
  }
  if (Object.keys(o).length === 0 || r.chance(0.4)) {
    o[r.chance(0.7) ? "gid" : "notGid"] = r.int(0, 65534);
    if (r.chance(0.3)) o.supplGroups = true;
  }
  return o as OwnerOptions;
}

type ClauseGen = (m: MatchCriteria) => MatchCriteria;

/** Generates a rule valid at `place`. */
function genRule(r: Rand, place: Place): Rule {
  const { table, hook, ipVersion: v } = place;
  // Action first: some actions constrain the protocol.
  type Gen = { kind: string; weight: number; make: (proto: string | undefined) => Action };
  const gens: Gen[] = [
    { kind: "Accept", weight: 3, make: () => Accept() },
    { kind: "Return", weight: 2, make: () => Return() },
    { kind: "Log", weight: 1, make: () => Log(r.pick(["rp-drop", "x", "Allowed in", "a.b:c=d"])) },
    {
      kind: "Nflog",
      weight: 1,
      make: () =>
        Nflog(
          r.int(0, 65535),
          r.pick(["DRP|rp", "API0|x", "p", "a:b"]),
          r.chance(0.5) ? undefined : r.pick([0, 80, 256, -1]),
        ),
    },
    { kind: "ClearMark", weight: 1, make: () => ClearMark(mark(r)) },
    { kind: "SetMark", weight: 1, make: () => SetMark(mark(r)) },
    { kind: "SetMaskedMark", weight: 1, make: () => SetMaskedMark(...maskAndMark(r)) },
    {
      kind: "SaveConnMark",
      weight: 1,
      make: () => SaveConnMark(r.chance(0.3) ? undefined : r.pick([0xff, 0xffff0000, 0x1])),
    },
    {
      kind: "RestoreConnMark",
      weight: 1,
      make: () => RestoreConnMark(r.chance(0.3) ? undefined : r.pick([0xff, 0xf0f0, 0x1])),
    },
    {
      kind: "SetConnMark",
      weight: 1,
      make: () => {
        const [m, k] = maskAndMark(r);
        return r.chance(0.3) ? SetConnMark(m) : SetConnMark(m, k);
      },
    },
    {
      kind: "LimitPacketRate",
      weight: 1,
      make: () => LimitPacketRate(r.int(1, 10000), r.int(1, 10000), mark(r)),
    },
  ];
  if (table !== "nat") gens.push({ kind: "Drop", weight: 3, make: () => Drop() });
  // Issue 16: the targets of real rule sets.
  gens.push({
    kind: "LogPacket",
    weight: 1,
    make: () =>
      r.chance(0.2) ? LogPacket() : LogPacket({
        prefix: r.pick(["[UFW BLOCK] ", "drop", "a b:c", "x".repeat(29)]),
        ...(r.chance(0.5) ? { level: r.int(0, 7) } : {}),
        ...(r.chance(0.3) ? { tcpSequence: true, uid: r.chance(0.5) } : {}),
        ...(r.chance(0.3) ? { ipOptions: true, macDecode: true, tcpOptions: true } : {}),
      }),
  });
  gens.push({ kind: "XorMark", weight: 1, make: () => XorMark(mark(r)) });
  gens.push({ kind: "Audit", weight: 1, make: () => Audit(r.pick(["accept", "drop", "reject"])) });
  gens.push({ kind: "SetMss", weight: 1, make: () => SetMss(r.int(536, 1460)) });
  if (hook === "FORWARD" || hook === "OUTPUT" || hook === "POSTROUTING") {
    gens.push({ kind: "ClampMssToPmtu", weight: 1, make: () => ClampMssToPmtu() });
  }
  if (table === "raw") {
    gens.push({
      kind: "Ct",
      weight: 3,
      make: () => r.chance(0.5) ? Ct({ notrack: true }) : Ct({ zone: r.int(0, 65535) }),
    });
  }
  if (table === "mangle") {
    gens.push({ kind: "ChecksumFill", weight: 3, make: () => ChecksumFill() });
    const op = () => r.pick(["set", "dec", "inc"] as const);
    if (v === 4) {
      gens.push({
        kind: "ChangeTtl",
        weight: 6,
        make: () => ChangeTtl(op(), r.int(1, 255)),
      });
    }
    if (v === 6) {
      gens.push({
        kind: "ChangeHopLimit",
        weight: 6,
        make: () => ChangeHopLimit(op(), r.int(1, 255)),
      });
    }
    if (hook === "FORWARD" || hook === "OUTPUT" || hook === "POSTROUTING") {
      gens.push({
        kind: "Classify",
        weight: 6,
        make: () => Classify(r.int(0, 0xffff), r.int(0, 0xffff)),
      });
    }
  }
  if (table === "nat" && (hook === "PREROUTING" || hook === "OUTPUT")) {
    gens.push({
      kind: "Redirect",
      weight: 4,
      make: (proto) =>
        proto !== undefined && NAT_PORT_PROTOCOLS.includes(proto as never) && r.chance(0.6)
          ? Redirect(`${r.int(1, 65535)}`, r.chance(0.3) ? { random: true } : undefined)
          : Redirect(),
    });
  }
  if (place.targets.length > 0) {
    gens.push({ kind: "Jump", weight: 4, make: () => Jump(r.pick(place.targets)) });
    gens.push({ kind: "Goto", weight: 2, make: () => Goto(r.pick(place.targets)) });
  }
  if (table === "filter") {
    gens.push({
      kind: "Reject",
      weight: 2,
      make: (proto) =>
        r.chance(0.2) ? Reject() : Reject(
          proto === "tcp" && r.chance(0.4) ? "tcp-reset" : r.pick(v === 4 ? REJECT_V4 : REJECT_V6),
        ),
    });
    gens.push({
      kind: "LimitNumConnections",
      weight: 3,
      make: () =>
        LimitNumConnections(
          r.int(1, 1000),
          r.pick([...(v === 4 ? REJECT_V4 : REJECT_V6), "tcp-reset"]),
        ),
    });
  }
  if (table === "raw") gens.push({ kind: "NoTrack", weight: 8, make: () => NoTrack() });
  if (table === "mangle") gens.push({ kind: "Dscp", weight: 3, make: () => Dscp(r.int(0, 63)) });
  if (table === "nat") {
    const host = () =>
      v === 4
        ? `10.9.${r.int(0, 255)}.${r.int(1, 254)}`
        : `2001:db8:9::${r.int(1, 0xfff).toString(16)}`;
    if (hook === "POSTROUTING") {
      gens.push({
        kind: "Masq",
        weight: 8,
        make: (proto) => {
          if (proto !== undefined && NAT_PORT_PROTOCOLS.includes(proto as never) && r.chance(0.5)) {
            const lo = r.int(1024, 60000);
            return Masq(r.chance(0.5) ? `${lo}` : `${lo}-${lo + r.int(1, 5000)}`, natOptions(r));
          }
          return r.chance(0.5) ? Masq() : Masq(undefined, natOptions(r));
        },
      });
    }
    if (hook === "POSTROUTING" || hook === "INPUT") {
      gens.push({
        kind: "Snat",
        weight: 8,
        make: () => {
          if (v === 4 && r.chance(0.3)) return Snat(`10.9.0.1-10.9.0.${r.int(2, 200)}`);
          if (r.chance(0.4)) return Snat(host(), { ...natOptions(r), persistent: r.chance(0.5) });
          return Snat(host());
        },
      });
    }
    if (hook === "PREROUTING" || hook === "OUTPUT") {
      gens.push({
        kind: "Dnat",
        weight: 8,
        make: (proto) =>
          proto !== undefined && NAT_PORT_PROTOCOLS.includes(proto as never) && r.chance(0.6)
            ? Dnat(host(), r.int(1, 65535))
            : Dnat(host()),
      });
    }
  }
  const total = gens.reduce((n, g) => n + g.weight, 0);
  let x = r.next() * total;
  let gen = gens[0]!;
  for (const g of gens) {
    if ((x -= g.weight) < 0) {
      gen = g;
      break;
    }
  }
  const noAction = r.chance(0.05);

  // Protocol (LimitNumConnections brings its own -p tcp).
  let m = Match();
  let proto: string | undefined;
  const ownProtocol = !noAction && gen.kind === "LimitNumConnections";
  // TCPMSS needs -p tcp and (legacy) a SYN match.
  const tcpSyn = !noAction && (gen.kind === "ClampMssToPmtu" || gen.kind === "SetMss");
  if (tcpSyn) {
    m = m.protocol("tcp").tcp(
      r.chance(0.5) ? { syn: true } : { flags: { mask: ["SYN", "RST"], set: ["SYN"] } },
    );
    proto = "tcp";
  } else if (!ownProtocol && r.chance(0.6)) {
    const icmp = v === 4 ? "icmp" : "icmpv6";
    const choice = r.pick([
      ...PORT_PROTOCOLS,
      icmp,
      icmp,
      "tcp",
      "udp",
      "gre",
      "num",
      "not",
      "notnum",
    ]);
    if (choice === "num") {
      const n = r.pick([6, 17, 47, 50, 132, v === 4 ? 1 : 58]);
      m = m.protocolNum(n);
      proto =
        ({ 6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmpv6" } as Record<number, string>)[
          n
        ];
    } else if (choice === "not") {
      m = m.notProtocol(r.pick(["tcp", "udp", icmp, "gre"]));
    } else if (choice === "notnum") {
      m = m.notProtocolNum(r.pick([6, 17, 47]));
    } else {
      m = m.protocol(choice);
      proto = choice;
    }
  }
  const clauses: ClauseGen[] = [
    (c) => c.sourceNet(net(r, v)),
    (c) => c.notSourceNet(net(r, v)),
    (c) => c.destNet(net(r, v)),
    (c) => c.notDestNet(net(r, v)),
    (c) => c.sourceIpSet(`rp-net${v}`),
    (c) => c.notSourceIpSet(`rp-net${v}`),
    (c) => c.destIpSet(`rp-net${v}`),
    (c) => c.notDestIpSet(`rp-net${v}`),
    (c) => c.sourceIpPortSet(`rp-np${v}`),
    (c) => c.notSourceIpPortSet(`rp-np${v}`),
    (c) => c.destIpPortSet(`rp-np${v}`),
    (c) => c.notDestIpPortSet(`rp-np${v}`),
    (c) => c.conntrackState(r.shuffle(STATES).slice(0, r.int(1, 3))),
    (c) => c.notConntrackState(r.shuffle(STATES).slice(0, r.int(1, 2)).join(",")),
    (c) => c.srcAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6), false),
    (c) => c.notSrcAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6)),
    (c) => c.destAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6)),
    (c) => c.notDestAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6)),
    (c) => c.markClear(mark(r)),
    (c) => c.markNotClear(mark(r)),
    (c) => c.markSingleBitSet(mark(r)),
    (c) => c.markMatchesWithMask(...maskAndMark(r)),
    (c) => c.notMarkMatchesWithMask(...maskAndMark(r)),
    (c) => {
      const [rate, burst] = limitRate(r);
      return c.limit(rate as `${number}/second`, burst);
    },
  ];
  if (hook !== "OUTPUT" && hook !== "POSTROUTING") {
    // One generator: iptables allows one -i per rule.
    clauses.push((c) =>
      r.chance(0.6)
        ? c.inInterface(r.pick(["eth0", "rpw+", "veth1", "lo"]))
        : c.notInInterface(r.pick(["eth0", "docker0", "rpw+"]))
    );
  }
  if (hook !== "INPUT" && hook !== "PREROUTING") {
    clauses.push((c) =>
      r.chance(0.6)
        ? c.outInterface(r.pick(["eth1", "rpw+", "tun0"]))
        : c.notOutInterface(r.pick(["docker0", "veth+", "tun0"]))
    );
    clauses.push((c) => c.srcAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6), true));
    clauses.push((c) => c.notSrcAddrType(r.pick(v === 4 ? ADDR_TYPES_V4 : ADDR_TYPES_V6), true));
  }
  if (hook === "PREROUTING" && (table === "raw" || table === "mangle")) {
    for (let i = 0; i < 4; i++) clauses.push((c) => c.rpfCheckFailed(), (c) => c.rpfCheckPassed());
  }
  if (proto !== undefined && PORT_PROTOCOLS.includes(proto as never)) {
    const portGens: ClauseGen[] = [
      (c) => c.sourcePorts(...ports(r)),
      (c) => c.notSourcePorts(...ports(r)),
      (c) => c.destPorts(...ports(r)),
      (c) => c.notDestPorts(...ports(r)),
      (c) => c.sourcePortRanges(portRanges(r)),
      (c) => c.notSourcePortRanges(portRanges(r)),
      (c) => c.destPortRanges(portRanges(r)),
      (c) => c.notDestPortRanges(portRanges(r)),
    ];
    // Ports are the point of a port protocol: use them often.
    for (const g of r.shuffle(portGens).slice(0, r.int(0, 2))) m = g(m);
  }
  if (proto === "icmp") {
    m = r.pick<ClauseGen>([
      (c) => c.icmpType(r.int(0, 255)),
      (c) => c.notIcmpType(r.int(0, 255)),
      (c) => c.icmpTypeAndCode(r.int(0, 255), r.int(0, 255)),
      (c) => c.notIcmpTypeAndCode(r.int(0, 255), r.int(0, 255)),
    ])(m);
  }
  if (proto === "icmpv6") {
    m = r.pick<ClauseGen>([
      (c) => c.icmpV6Type(r.int(0, 255)),
      (c) => c.notIcmpV6Type(r.int(0, 255)),
      (c) => c.icmpV6TypeAndCode(r.int(0, 255), r.int(0, 255)),
      (c) => c.notIcmpV6TypeAndCode(r.int(0, 255), r.int(0, 255)),
    ])(m);
  }
  // Issue 16: the modules of real rule sets (their own pass, so the others keep their share).
  const extra: ClauseGen[] = [
    (c) => c.exactComment(r.pick(["k8s portals", "'dapp_WWW%20Full'", 'a "b" \\ c', "plain"])),
    (c) => c.state(r.shuffle(STATE_NAMES).slice(0, r.int(1, 3))),
    (c) => c.notState(r.shuffle(STATE_NAMES).slice(0, r.int(1, 2)).join(",")),
    (c) => r.chance(0.5) ? c.recent(recent(r, v)) : c.notRecent(recent(r, v)),
    (c) =>
      c.statistic(
        r.chance(0.5)
          ? { mode: "random", probability: r.pick([0, 0.5, 1, 1 / 3, r.next()]) }
          : { mode: "nth", every: r.int(1, 100), packet: 0 },
      ),
    (c) =>
      r.chance(0.5) ? c.packetType(r.pick(PACKET_TYPES)) : c.notPacketType(r.pick(PACKET_TYPES)),
    (c) => c.ipRange(ipRange(r, v)),
    (c) =>
      r.chance(0.5) ? c.length(r.int(0, 1500), r.int(1500, 65535)) : c.notLength(r.int(0, 100)),
    (c) =>
      c.connLimit({
        ...(r.chance(0.5) ? { above: r.int(0, 100) } : { upto: r.int(0, 100) }),
        ...(r.chance(0.5) ? { mask: r.int(0, v === 4 ? 32 : 128) } : {}),
        ...(r.chance(0.3) ? { dest: true } : {}),
      }),
    (c) => r.chance(0.5) ? c.packetDscp(r.int(0, 63)) : c.notPacketDscp(r.int(0, 63)),
    (c) => {
      const mask = r.pick([0xff, 0x3f, 0xfc]);
      const value = r.int(0, 255) & mask;
      return r.chance(0.5) ? c.tos(value, mask) : c.notTos(value, mask);
    },
    (c) => c.helper(r.pick(["ftp", "sip", "tftp"])),
    (c) =>
      c.physDev(r.pick([{ in: "vnet+" }, { notIn: "vnet0" }, { isIn: true }, { notIsIn: true }])),
  ];
  if (v === 4) {
    extra.push((c) => c.ttl(r.pick(["eq", "ne", "lt", "gt"] as const), r.int(0, 255)));
    extra.push((c) => r.chance(0.5) ? c.fragment() : c.notFragment());
  } else {
    extra.push((c) => c.hopLimit(r.pick(["eq", "ne", "lt", "gt"] as const), r.int(0, 255)));
    extra.push((c) =>
      r.chance(0.5) ? c.routingHeaderType(r.int(0, 255)) : c.notRoutingHeaderType(r.int(0, 255))
    );
  }
  if (hook === "OUTPUT" || hook === "POSTROUTING") {
    extra.push((c) => c.owner(owner(r)));
  }
  if (hook === "PREROUTING" || hook === "INPUT" || hook === "FORWARD") {
    extra.push((c) => {
      const mac = Array.from({ length: 6 }, () => r.int(0, 255).toString(16).padStart(2, "0"))
        .join(":");
      return r.chance(0.5) ? c.sourceMac(mac.toUpperCase()) : c.notSourceMac(mac);
    });
  }
  // The protocol's own modules, often: only rules with -p tcp or -p udp can have them.
  const own: ClauseGen[] = [];
  if (proto === "tcp" && !tcpSyn) {
    own.push((c) => c.tcp(r.chance(0.2) ? undefined : tcpOptions(r)));
    own.push((c) => c.tcpMss(r.int(0, 1000), r.int(1000, 65535)));
    own.push((c) => c.notTcpMss(r.int(0, 1000)));
  }
  if (proto === "udp") own.push((c) => c.udp(r.chance(0.2) ? undefined : udpOptions(r)));
  if (own.length > 0 && r.chance(0.8)) m = r.pick(own)(m);
  for (const g of r.shuffle(extra).slice(0, r.int(0, 2))) m = g(m);
  // -s, -d, -i and -o at most once per rule (as placement requires).
  const groups = new Map<ClauseGen, string>([
    [clauses[0]!, "s"],
    [clauses[1]!, "s"],
    [clauses[2]!, "d"],
    [clauses[3]!, "d"],
  ]);
  const usedGroups = new Set<string>();
  for (const g of r.shuffle(clauses).slice(0, r.int(0, 3))) {
    const group = groups.get(g);
    if (group !== undefined) {
      if (usedGroups.has(group)) continue;
      usedGroups.add(group);
    }
    m = g(m);
  }
  const rule: Rule = {};
  if (m.clauses.length > 0) rule.match = m;
  if (!noAction) rule.action = gen.make(proto);
  countUses([rule], uses);
  if (r.chance(0.15)) {
    rule.comment = r.chance(0.5)
      ? r.pick(["web", "allow ssh", 'quote " and \\ back', "ünïcode", "a".repeat(300)])
      : [r.pick(["one", "two words"]), r.pick(["x", "y:z"])];
  }
  return rule;
}

// ---- Model --------------------------------------------------------------------

interface OwnedChain {
  home: Hook;
  index: number;
  rules: Rule[];
}

interface TableModel {
  name: TableName;
  chains: Map<string, OwnedChain>;
  inserts: Map<string, Rule[]>;
  appends: Map<string, Rule[]>;
  counter: number;
}

const SHORT: Record<TableName, string> = { filter: "f", nat: "n", mangle: "m", raw: "r" };

function targetsFor(model: TableModel, home: Hook, above: number): string[] {
  return [...model.chains].filter(([, c]) => c.home === home && c.index > above).map(([n]) => n);
}

function reachable(model: TableModel): Set<string> {
  const seen = new Set<string>();
  const queue: string[] = [];
  const visit = (rules: readonly Rule[]) => {
    for (const rule of rules) {
      const a = rule.action;
      if (
        (a?.kind === "Jump" || a?.kind === "Goto") &&
        model.chains.has((a as unknown as { target: string }).target)
      ) {
        const t = (a as unknown as { target: string }).target;
        if (!seen.has(t)) {
          seen.add(t);
          queue.push(t);
        }
      }
    }
  };
  for (const rules of model.inserts.values()) visit(rules);
  for (const rules of model.appends.values()) visit(rules);
  while (queue.length > 0) visit(model.chains.get(queue.shift()!)!.rules);
  return seen;
}

/** Chain → rule IDs the kernel must hold. */
/**
 * How each table computes rule IDs: both schemes in every run (filter, the
 * table most rounds change, with the default stable IDs).
 */
const RULE_IDS: Readonly<Record<TableName, RuleIds>> = {
  filter: "stable",
  nat: "chained",
  mangle: "chained",
  raw: "stable",
};

function expectedIds(model: TableModel, features: Features): Map<string, string[]> {
  const options = { ruleIds: RULE_IDS[model.name], features };
  const out = new Map<string, string[]>();
  for (const chain of KERNEL_CHAINS[model.name]) {
    out.set(chain, [
      ...calculateRuleIds(chain, model.inserts.get(chain) ?? [], options),
      ...calculateRuleIds(`${chain}*appends*`, model.appends.get(chain) ?? [], options),
    ]);
  }
  for (const name of [...reachable(model)].sort()) {
    out.set(name, calculateRuleIds(name, model.chains.get(name)!.rules, options));
  }
  return out;
}

function savedIds(save: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of save.split("\n")) {
    const decl = /^:(\S+) /.exec(line);
    if (decl !== null) out.set(decl[1]!, []);
    const rule = /^-A (\S+)/.exec(line);
    if (rule !== null) {
      const at = line.indexOf(" --comment ");
      const id = at < 0
        ? ""
        : /^ --comment "?rampart:([A-Za-z0-9_-]{16})/.exec(line.slice(at))?.[1] ?? "";
      out.get(rule[1]!)!.push(id);
    }
  }
  return out;
}

/** One random change to a table's desired state. */
function mutate(r: Rand, model: TableModel, v: Variant): void {
  const hooks = KERNEL_CHAINS[model.name] as readonly Hook[];
  const place = (home: Hook, above: number): Place => ({
    table: model.name,
    hook: home,
    ipVersion: v.ipVersion,
    targets: targetsFor(model, home, above),
  });
  let op = r.int(0, 9);
  if (model.chains.size === 0) op = 0;
  else if (op <= 2 && model.chains.size >= 8) op = 3;
  if (op <= 2) {
    // New chain, referenced from its home kernel chain or a chain of the same home.
    const home = r.pick(hooks);
    const index = ++model.counter;
    const name = `rp-${SHORT[model.name]}${home.slice(0, 3).toLowerCase()}-${index}`;
    const rules = Array.from(
      { length: r.int(0, 6) },
      () => genRule(r, place(home, index)),
    );
    model.chains.set(name, { home, index, rules });
    const parents = [...model.chains].filter(([n, c]) =>
      n !== name && c.home === home && c.index < index
    );
    if (parents.length > 0 && r.chance(0.5)) {
      const [, parent] = r.pick(parents);
      const jump = { action: r.chance(0.7) ? Jump(name) : Goto(name) };
      countUses([jump], uses);
      parent.rules.splice(r.int(0, parent.rules.length), 0, jump);
    } else if (r.chance(0.85)) {
      const list = r.chance(0.8) ? model.inserts : model.appends;
      const rules = list.get(home) ?? [];
      const jump = { action: Jump(name) };
      countUses([jump], uses);
      rules.splice(r.int(0, rules.length), 0, jump);
      list.set(home, rules);
    } // else: left unreferenced (must not be programmed)
  } else if (op === 3) {
    // Remove a chain and every rule that refers to it.
    const name = r.pick([...model.chains.keys()]);
    model.chains.delete(name);
    const keep = (rules: Rule[]) =>
      rules.filter((x) =>
        !((x.action?.kind === "Jump" || x.action?.kind === "Goto") &&
          (x.action as unknown as { target: string }).target === name)
      );
    for (const c of model.chains.values()) c.rules = keep(c.rules);
    for (const [k, rules] of model.inserts) model.inserts.set(k, keep(rules));
    for (const [k, rules] of model.appends) model.appends.set(k, keep(rules));
  } else if (op <= 7) {
    // Edit a chain: replace, insert or delete rules.
    const [, chain] = r.pick([...model.chains]);
    for (let n = r.int(1, 3); n > 0; n--) {
      const what = r.int(0, 2);
      const at = r.int(0, chain.rules.length);
      if (what === 0 || chain.rules.length === 0) {
        chain.rules.splice(at, 0, genRule(r, place(chain.home, chain.index)));
      } else if (what === 1 && at < chain.rules.length) {
        if (!isReferrer(chain.rules[at]!)) {
          chain.rules[at] = genRule(r, place(chain.home, chain.index));
        }
      } else if (at < chain.rules.length && !isReferrer(chain.rules[at]!)) {
        chain.rules.splice(at, 1);
      }
    }
  } else {
    // Kernel-chain insertions or appends: add or remove a plain rule.
    const hook = r.pick(hooks);
    const list = r.chance(0.7) ? model.inserts : model.appends;
    const rules = [...(list.get(hook) ?? [])];
    const plain = rules.map((x, i) => [x, i] as const).filter(([x]) => !isReferrer(x));
    if (plain.length > 0 && r.chance(0.4)) rules.splice(r.pick(plain)[1], 1);
    else {rules.splice(
        r.int(0, rules.length),
        0,
        genRule(r, { ...place(hook, 0), targets: [] }),
      );}
    list.set(hook, rules);
  }
}

function isReferrer(rule: Rule): boolean {
  return rule.action?.kind === "Jump" || rule.action?.kind === "Goto";
}

function push(table: Table, model: TableModel, previous: Set<string>): void {
  for (const name of previous) if (!model.chains.has(name)) table.removeChainByName(name);
  for (const [name, c] of model.chains) table.updateChain({ name, rules: c.rules });
  for (const chain of KERNEL_CHAINS[model.name]) {
    table.setRuleInsertions(chain, model.inserts.get(chain) ?? []);
    table.setRuleAppends(chain, model.appends.get(chain) ?? []);
  }
}

function countUses(rules: Iterable<Rule>, uses: Map<string, number>): void {
  for (const rule of rules) {
    for (const c of rule.match?.clauses ?? []) uses.set(c.method, (uses.get(c.method) ?? 0) + 1);
    if (rule.action !== undefined) {
      uses.set(rule.action.kind, (uses.get(rule.action.kind) ?? 0) + 1);
    }
  }
}

// ---- The test -------------------------------------------------------------------

const fakeDifferences: string[] = [];
let variantsDone = 0;
let fakeComparisons = 0;

function lineDiff(kernel: string, fake: string): string[] {
  const k = kernel.split("\n"), f = fake.split("\n");
  const out: string[] = [];
  for (let i = 0; i < Math.max(k.length, f.length); i++) {
    if (k[i] !== f[i]) out.push(`  kernel: ${k[i] ?? "(none)"}\n  fake:   ${f[i] ?? "(none)"}`);
  }
  return out;
}

async function property(netns: string, v: Variant, seed: number): Promise<void> {
  const family = v.ipVersion === 6 ? "inet6" : "inet";
  const sets = [`rp-net${v.ipVersion}`, `rp-np${v.ipVersion}`];
  await nsExec(netns, "ipset", ["create", sets[0]!, "hash:net", "family", family]);
  await nsExec(netns, "ipset", ["create", sets[1]!, "hash:net,port", "family", family]);
  const features = await new FeatureDetector({ runner: new DenoCommandRunner({ netns }) })
    .getFeatures();
  const fake = new FakeDataplane({ backend: v.backend, ipsets: sets });
  const names: TableName[] = ["filter", "nat", "mangle", "raw"];
  const models = new Map<TableName, TableModel>();
  const kernel = new Map<TableName, Table>();
  const emulated = new Map<TableName, Table>();
  for (const name of names) {
    models.set(name, {
      name,
      chains: new Map(),
      inserts: new Map(),
      appends: new Map(),
      counter: 0,
    });
    kernel.set(name, kernelTable(netns, name, v, { ruleIds: RULE_IDS[name] }));
    emulated.set(
      name,
      new Table(name, {
        ...TABLE_DEFAULTS,
        runner: fake.runner,
        backend: v.backend,
        ipVersion: v.ipVersion,
        ruleIds: RULE_IDS[name],
        featureDetector: staticFeatures(features),
      }),
    );
  }
  const r = new Rand(seed);
  for (let round = 0; round < ROUNDS; round++) {
    const where = `seed ${SEED}, ${variantName(v)}, round ${round}`;
    const name = r.pick<TableName>(["filter", "filter", "nat", "nat", "mangle", "raw", "raw"]);
    const model = models.get(name)!;
    const previous = new Set(model.chains.keys());
    for (let n = r.int(1, 3); n > 0; n--) mutate(r, model, v);
    push(kernel.get(name)!, model, previous);
    push(emulated.get(name)!, model, previous);
    try {
      await kernel.get(name)!.apply();
    } catch (e) {
      throw new Error(
        `${where}: the kernel refused a state the engine accepted: ${(e as Error).message}`,
      );
    }
    const save = await saveTable(netns, v, name);
    const got = savedIds(save);
    const want = expectedIds(model, features);
    assert.deepEqual(
      Object.fromEntries([...got].sort()),
      Object.fromEntries([...want].sort()),
      `${where}: the kernel's ${name} table differs from the model\n${save}`,
    );
    try {
      await emulated.get(name)!.apply();
      const fakeSave = (await fake.runner.run(
        v.ipVersion === 6 ? `ip6tables-${v.backend}-save` : `iptables-${v.backend}-save`,
        ["-t", name],
      )).stdout.split("\n").filter((l) => !/^# (Generated|Completed) /.test(l)).join("\n");
      fakeComparisons++;
      if (fakeSave !== save) {
        fakeDifferences.push(`${where} (${name}):\n${lineDiff(save, fakeSave).join("\n")}`);
      }
    } catch (e) {
      fakeDifferences.push(`${where} (${name}): the fake failed: ${(e as Error).message}`);
    }
    if (round % 25 === 24) {
      for (const t of names) {
        assert.equal(await kernel.get(t)!.plan(), "", `${where}: ${t} in sync`);
      }
    }
  }
  for (const t of names) await kernel.get(t)!.cleanUp();
  for (const t of names) {
    assert.doesNotMatch(await saveTable(netns, v, t), /rampart:|:rp-/, `${t} cleaned up`);
  }
  variantsDone++;
}

VARIANTS.forEach((v, i) => {
  kernelTest(`property: random desired states match the kernel and the fake (${variantName(v)})`, (
    netns,
  ) => property(netns, v, (SEED + i * 7919) >>> 0));
});

Deno.test({
  name: "[kernel] property: usage of every DSL method and action, and fake agreement",
  sanitizeOps: false,
  sanitizeResources: false,
  fn() {
    if (variantsDone === 0) return; // the kernel tests did not run (reported above)
    const methods = MATCH_METHODS;
    const kinds = Object.entries(actions).filter(([k, v]) =>
      typeof v === "function" && /^[A-Z]/.test(k) && !k.endsWith("Action")
    ).map(([k]) => k);
    const report = [...methods, ...kinds].map((n) =>
      `${n.padEnd(26)} ${String(uses.get(n) ?? 0).padStart(6)}${
        UNSUPPORTED.has(n) ? "  (not on this kernel)" : ""
      }`
    );
    console.log(
      `DSL usage over ${variantsDone} variants (seed ${SEED}):\n${report.join("\n")}\n` +
        `FakeDataplane compared with the kernel after ${fakeComparisons} rounds`,
    );
    const rare = [...methods, ...kinds].filter((n) =>
      !UNSUPPORTED.has(n) && (uses.get(n) ?? 0) < MIN_USES
    );
    assert.equal(
      fakeDifferences.length,
      0,
      `FakeDataplane disagrees with the kernel in ${fakeDifferences.length} rounds:\n${
        fakeDifferences.slice(0, 20).join("\n")
      }`,
    );
    assert.deepEqual(rare, [], `used fewer than ${MIN_USES} times`);
  },
});
