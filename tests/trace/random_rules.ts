/**
 * Random rule sets and packets for the tracer's property test against the
 * kernel (property_test.ts), from a seed. Every rule set is a complete
 * `iptables-restore` script of one family (all four tables, every built-in
 * chain declared) that the kernel accepts: each user chain serves one
 * built-in chain, so that matches and targets are valid wherever it is
 * reached, and jumps go only forward (no loops).
 *
 * Left out of the generation, and why (also listed in the README):
 * - matches whose outcome depends on state the tracer cannot know (limit,
 *   hashlimit, connlimit, connbytes, quota, recent, statistic, time,
 *   rpfilter, socket, cpu, helper, cgroup, ipvs): the tracer shows both
 *   branches by design, so there is no single answer to compare;
 * - payload and header details the lab does not vary (string, u32, bpf,
 *   tcpmss, `--tcp-option`, ecn, IPv6 extension headers, IPsec, SCTP and
 *   DCCP chunks, physdev): the tracer reports them as undecided;
 * - QUEUE and NFQUEUE: with no program reading the queue the kernel drops
 *   the packet (or, with --queue-bypass, carries on), while the tracer ends
 *   at the queue, as a host with the program would;
 * - REDIRECT and DNAT in OUTPUT to this host, and DNAT that changes the
 *   outgoing link: the tracer does not redo the routing decision for
 *   packets this host sends (their outgoing interface is the one given);
 * - TEE, SET, CLASSIFY, AUDIT and other targets that change nothing a match
 *   reads, beyond LOG, which stands for them.
 */
import { LAB } from "./packet_lab.ts";
import type { LabPacket } from "./packet_lab.ts";

/** A small seeded PRNG (mulberry32). */
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of the items. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

type Table = "raw" | "mangle" | "nat" | "filter";

const HOOKS: Record<Table, readonly string[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

/** Where a rule is: its table, the built-in chain its chain serves, and the chains it may jump to. */
interface Place {
  family: 4 | 6;
  table: Table;
  hook: string;
  /** User chains this rule may jump or go to (later ones of the same hook). */
  targets: string[];
  /** In a user chain (RETURN goes back) or a built-in chain. */
  user: boolean;
}

const IN_OK = new Set(["PREROUTING", "INPUT", "FORWARD"]);
const OUT_OK = new Set(["FORWARD", "OUTPUT", "POSTROUTING"]);
const INTERFACES = ["b0", "b1", "lo", "b+", "a0"];
const PORTS = [22, 25, 53, 80, 443, 8080, 5000, 5010];
const MARKS = ["0x0", "0x1", "0x10", "0x5a000000", "0x5a000001", "0xff"];
const MASKS = ["", "/0xff", "/0xf0", "/0xff000000", "/0x1"];

function not(rng: Rng, p = 0.2): string {
  return rng.chance(p) ? "! " : "";
}

function portSpec(rng: Rng): string {
  if (rng.chance(0.3)) {
    const a = rng.pick(PORTS);
    return `${a}:${a + rng.pick([0, 10, 1000, 40000])}`;
  }
  return `${rng.pick(PORTS)}`;
}

function mark(rng: Rng): string {
  return `${rng.pick(MARKS)}${rng.pick(MASKS)}`;
}

/** The matches of one rule, and the protocol it fixed (for targets that need one). */
function matches(rng: Rng, at: Place): { text: string[]; proto: string | undefined } {
  const v = LAB[at.family];
  const out: string[] = [];
  // iptables-nft refuses a negated zero-length prefix (`! -s 0.0.0.0/0`).
  const net = (negated: string) =>
    rng.pick(negated === "" ? v.nets : v.nets.filter((n) => !n.endsWith("/0")));
  for (const flag of ["-s", "-d"]) {
    if (rng.chance(0.25)) {
      const n = not(rng);
      out.push(`${n}${flag} ${net(n)}`);
    }
  }
  if (IN_OK.has(at.hook) && rng.chance(0.2)) out.push(`${not(rng)}-i ${rng.pick(INTERFACES)}`);
  if (OUT_OK.has(at.hook) && rng.chance(0.2)) out.push(`${not(rng)}-o ${rng.pick(INTERFACES)}`);
  if (at.family === 4 && rng.chance(0.04)) out.push(`${not(rng, 0.5)}-f`);
  let proto: string | undefined;
  if (rng.chance(0.55)) {
    const icmp = at.family === 4 ? "icmp" : "ipv6-icmp";
    const p = rng.pick(["tcp", "tcp", "udp", "udp", icmp]);
    if (rng.chance(0.1)) out.push(`! -p ${p}`);
    else {
      proto = p;
      out.push(`-p ${p}`);
      if (p === "tcp" || p === "udp") {
        if (rng.chance(0.5)) {
          out.push(`-m ${p}`);
          if (rng.chance(0.7)) out.push(`${not(rng)}--dport ${portSpec(rng)}`);
          if (rng.chance(0.3)) {
            out.push(
              `${not(rng)}--sport ${rng.pick(["20000:30000", "1024:65535", "53", "40000:50000"])}`,
            );
          }
          if (p === "tcp" && rng.chance(0.2)) {
            out.push(
              `${not(rng)}--tcp-flags ${rng.pick(["SYN,RST,ACK,FIN", "SYN,ACK", "RST", "ALL"])} ${
                rng.pick(["SYN", "ACK", "SYN,ACK", "RST", "NONE"])
              }`,
            );
          } else if (p === "tcp" && rng.chance(0.1)) out.push(`${not(rng)}--syn`);
        } else if (rng.chance(0.4)) {
          const list = [...new Set([rng.pick(PORTS), rng.pick(PORTS), rng.pick(PORTS)])].join(",");
          out.push(`-m multiport ${not(rng)}--${rng.pick(["dports", "sports", "ports"])} ${list}`);
        }
      } else if (rng.chance(0.6)) {
        out.push(
          at.family === 4
            ? `-m icmp ${not(rng)}--icmp-type ${
              rng.pick(["echo-request", "echo-reply", "8", "13", "any", "0/0"])
            }`
            : `-m icmp6 ${not(rng)}--icmpv6-type ${
              rng.pick(["echo-request", "echo-reply", "128", "129"])
            }`,
        );
      }
    }
  }
  const modules = [
    () => {
      const states = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"];
      const list = [...new Set([rng.pick(states), rng.pick(states)])].join(",");
      const extra: string[] = [];
      if (rng.chance(0.3)) extra.push(`${not(rng)}--ctorigdst ${rng.pick(v.nets)}`);
      if (rng.chance(0.2)) extra.push(`${not(rng)}--ctreplsrc ${rng.pick(v.nets)}`);
      if (rng.chance(0.2)) extra.push(`--ctproto ${rng.pick(["tcp", "udp"])}`);
      return `-m conntrack ${not(rng)}--ctstate ${list}${
        extra.length ? " " + extra.join(" ") : ""
      }`;
    },
    () =>
      `-m state ${not(rng)}--state ${
        rng.pick(["NEW", "ESTABLISHED,RELATED", "INVALID", "NEW,UNTRACKED"])
      }`,
    () => `-m mark ${not(rng)}--mark ${mark(rng)}`,
    () => `-m connmark ${not(rng)}--mark ${mark(rng)}`,
    () => {
      const types = at.family === 4
        ? ["LOCAL", "UNICAST", "BROADCAST", "MULTICAST", "LOCAL,BROADCAST"]
        : ["LOCAL", "UNICAST", "MULTICAST"];
      const which = rng.pick(["--dst-type", "--src-type"]);
      return `-m addrtype ${not(rng)}${which} ${rng.pick(types)}`;
    },
    () => {
      const a = rng.pick([...v.sources, ...v.beyond, ...v.local]);
      const b = rng.pick([...v.sources, ...v.beyond, ...v.local]);
      const [lo, hi] = compareAddresses(a, b) <= 0 ? [a, b] : [b, a];
      return `-m iprange ${not(rng)}--${rng.pick(["src", "dst"])}-range ${lo}-${hi}`;
    },
    () =>
      `-m length ${not(rng)}--length ${
        rng.pick(["0:50", "44", "56", "50:100", "76:1500", "60:64"])
      }`,
    () => `-m pkttype ${not(rng)}--pkt-type ${rng.pick(["unicast", "broadcast", "multicast"])}`,
    () => `-m dscp ${not(rng)}--dscp ${rng.pick(["0x00", "0x04", "0x0a", "0x2e"])}`,
    () => `-m tos ${not(rng)}--tos ${rng.pick(["0x00/0xff", "0x10/0x3f", "0xb8/0xfc", "0x10"])}`,
    () => {
      const m = at.family === 4 ? "ttl" : "hl";
      const op = rng.pick(["eq", "lt", "gt"]);
      return `-m ${m} ${op === "eq" ? not(rng) : ""}--${m}-${op} ${
        rng.pick([1, 2, 3, 10, 63, 64])
      }`;
    },
    () => `-m comment --comment "${rng.pick(["web", "ssh from the office", "x"])}"`,
    () => {
      const sets = at.family === 4
        ? [["rpl4", ["src", "dst"]], ["rpl4net", ["src", "dst"]], ["rpl4port", [
          "dst,dst",
          "src,dst",
          "dst",
        ]]]
        : [["rpl6", ["src", "dst"]], ["rpl6net", ["src", "dst"]], ["rpl6port", [
          "dst,dst",
          "src,dst",
          "dst",
        ]]];
      const [name, flags] = rng.pick(sets) as [string, string[]];
      return `-m set ${not(rng)}--match-set ${name} ${rng.pick(flags)}`;
    },
  ];
  if (at.hook === "OUTPUT" || at.hook === "POSTROUTING") {
    modules.push(() =>
      `-m owner ${not(rng)}--${rng.pick(["uid-owner", "gid-owner"])} ${
        rng.pick(["0", "1000", "0-10"])
      }`
    );
  }
  if (IN_OK.has(at.hook)) {
    modules.push(() =>
      `-m mac ${not(rng)}--mac-source ${rng.pick(["02:00:00:00:00:01", "$OUTSIDE_MAC"])}`
    );
  }
  // Each module at most once (iptables-nft mixes up the options of a repeated mark or connmark).
  const n = rng.pick([0, 0, 1, 1, 1, 2, 3]);
  for (let i = 0; i < n; i++) out.push(modules.splice(rng.int(modules.length), 1)[0]!());
  return { text: out, proto };
}

/** Compares addresses of one family numerically. */
function compareAddresses(a: string, b: string): number {
  const num = (x: string) => {
    if (!x.includes(":")) return x.split(".").reduce((n, o) => n * 256n + BigInt(Number(o)), 0n);
    const [head = "", tail = ""] = x.split("::");
    const h = head === "" ? [] : head.split(":");
    const t = tail === "" ? [] : tail.split(":");
    const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    return groups.reduce((n, g) => n * 65536n + BigInt(parseInt(g, 16)), 0n);
  };
  const d = num(a) - num(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** The target of one rule (with its options), valid at its place. */
function target(rng: Rng, at: Place, proto: string | undefined): string {
  const v = LAB[at.family];
  const choices: (() => string)[] = [
    () => "",
    () => "-j ACCEPT",
    () => `-j MARK --set-xmark ${mark(rng)}`,
    () =>
      rng.pick([
        `-j CONNMARK --set-xmark ${mark(rng)}`,
        `-j CONNMARK --save-mark --nfmask ${rng.pick(["0xffffffff", "0xff"])} --ctmask ${
          rng.pick(["0xffffffff", "0xff"])
        }`,
        `-j CONNMARK --restore-mark --nfmask ${rng.pick(["0xffffffff", "0xff"])} --ctmask ${
          rng.pick(["0xffffffff", "0xf0"])
        }`,
      ]),
    () => `-j LOG --log-prefix "rp-lab "`,
  ];
  if (at.user || rng.chance(0.3)) choices.push(() => "-j RETURN");
  if (at.targets.length > 0) {
    choices.push(() => `-j ${rng.pick(at.targets)}`, () => `-j ${rng.pick(at.targets)}`);
    choices.push(() => `-g ${rng.pick(at.targets)}`);
  }
  const withPort = proto === "tcp" || proto === "udp";
  switch (at.table) {
    case "filter": {
      choices.push(() => "-j DROP", () => "-j DROP");
      const types = at.family === 4
        ? [
          "icmp-port-unreachable",
          "icmp-host-unreachable",
          "icmp-admin-prohibited",
          "icmp-net-prohibited",
        ]
        : ["icmp6-port-unreachable", "icmp6-adm-prohibited", "icmp6-addr-unreachable"];
      choices.push(() => `-j REJECT --reject-with ${rng.pick(types)}`);
      if (proto === "tcp") choices.push(() => "-j REJECT --reject-with tcp-reset");
      break;
    }
    case "raw":
      choices.push(() => rng.pick(["-j NOTRACK", "-j CT --notrack"]), () => "-j DROP");
      break;
    case "mangle":
      choices.push(
        () => `-j DSCP --set-dscp ${rng.pick(["0x00", "0x0a", "0x2e"])}`,
        () => `-j TOS --set-tos ${rng.pick(["0x10/0x3f", "0x00/0xff", "0x08/0x08"])}`,
        () =>
          at.family === 4
            ? `-j TTL --ttl-${rng.pick(["set", "dec", "inc"])} ${rng.pick([1, 2, 5, 64])}`
            : `-j HL --hl-${rng.pick(["set", "dec", "inc"])} ${rng.pick([1, 2, 5, 64])}`,
      );
      if (rng.chance(0.3)) choices.push(() => "-j DROP");
      break;
    case "nat": {
      const port = (p: number) => withPort && rng.chance(0.5) ? p : undefined;
      const addr = (a: string, p: number | undefined) =>
        p === undefined ? a : at.family === 6 ? `[${a}]:${p}` : `${a}:${p}`;
      if (at.hook === "PREROUTING") {
        choices.push(() =>
          `-j DNAT --to-destination ${
            addr(rng.pick([...v.local, ...v.beyond]), port(rng.pick([80, 8443, 22])))
          }`
        );
        if (withPort) choices.push(() => `-j REDIRECT --to-ports ${rng.pick([8080, 22, 2222])}`);
        choices.push(() => "-j REDIRECT");
      }
      if (at.hook === "OUTPUT") {
        choices.push(() =>
          `-j DNAT --to-destination ${addr(rng.pick(v.beyond), port(rng.pick([80, 8443])))}`
        );
      }
      if (at.hook === "POSTROUTING" || at.hook === "INPUT") {
        const sources = at.family === 4 ? ["10.2.0.1", "192.0.2.77", "198.51.100.99"] : [
          "2001:db8:2::1",
          "2001:db8:99::77",
          "2001:db8:77::99",
        ];
        const snat = () =>
          `-j SNAT --to-source ${addr(rng.pick(sources), port(rng.pick([30000, 40000])))}`;
        choices.push(snat, snat);
      }
      if (at.hook === "POSTROUTING") choices.push(() => "-j MASQUERADE", () => "-j MASQUERADE");
      break;
    }
  }
  return rng.pick(choices)();
}

/**
 * A random rule set of one family: an `iptables-restore` script of all four
 * tables, every built-in chain declared. `$OUTSIDE_MAC` stands for the
 * outside link's MAC address (the lab fills it in).
 */
export function randomRuleset(rng: Rng, family: 4 | 6): string {
  let script = "";
  for (const table of ["raw", "mangle", "nat", "filter"] as Table[]) {
    const heads: string[] = [];
    const rules: string[] = [];
    for (const hook of HOOKS[table]) {
      const policy = table === "filter" && rng.chance(0.4)
        ? "DROP"
        : table === "mangle" && rng.chance(0.05)
        ? "DROP"
        : "ACCEPT";
      heads.push(`:${hook} ${policy} [0:0]`);
      const userCount = rng.pick([0, 0, 1, 1, 2, 3]);
      const users = Array.from({ length: userCount }, (_, i) => `u-${hook.toLowerCase()}-${i + 1}`);
      for (const u of users) heads.push(`:${u} - [0:0]`);
      const busy = table === "filter" ? 0.9 : table === "nat" ? 0.7 : 0.5;
      const count = rng.chance(busy) ? 1 + rng.int(5) : 0;
      for (let i = 0; i < count; i++) {
        rules.push(rule(rng, hook, { family, table, hook, targets: users, user: false }));
      }
      users.forEach((u, i) => {
        const n = 1 + rng.int(4);
        for (let j = 0; j < n; j++) {
          rules.push(
            rule(rng, u, { family, table, hook, targets: users.slice(i + 1), user: true }),
          );
        }
      });
    }
    script += `*${table}\n${heads.join("\n")}\n${rules.join("\n")}${
      rules.length ? "\n" : ""
    }COMMIT\n`;
  }
  return script;
}

function rule(rng: Rng, chain: string, at: Place): string {
  const m = matches(rng, at);
  const t = target(rng, at, m.proto);
  return [`-A ${chain}`, ...m.text, t].filter((x) => x !== "").join(" ");
}

/** The IP sets the rule sets use (an `ipset restore` script). */
export const LAB_IPSETS = [
  "create rpl4 hash:ip family inet",
  "add rpl4 10.1.0.2",
  "add rpl4 198.51.100.4",
  "add rpl4 192.0.2.10",
  "create rpl4net hash:net family inet",
  "add rpl4net 203.0.113.0/25",
  "add rpl4net 10.2.0.0/24",
  "add rpl4net 10.1.0.9 nomatch",
  "create rpl4port hash:ip,port family inet",
  "add rpl4port 10.1.0.1,tcp:22",
  "add rpl4port 192.0.2.10,udp:53",
  "add rpl4port 10.2.0.2,tcp:80",
  "create rpl6 hash:ip family inet6",
  "add rpl6 2001:db8:1::2",
  "add rpl6 2001:db8:77::4",
  "add rpl6 2001:db8:99::10",
  "create rpl6net hash:net family inet6",
  "add rpl6net 2001:db8:88::/49",
  "add rpl6net 2001:db8:2::/64",
  "create rpl6port hash:ip,port family inet6",
  "add rpl6port 2001:db8:1::1,tcp:22",
  "add rpl6port 2001:db8:99::10,udp:53",
  "",
].join("\n");

/** The lab's packets: unique source ports (and ICMP ids) so that no packet finds another's connection. */
export class PacketSource {
  #port = 20000;

  /** A random packet of the family. */
  next(rng: Rng, family: 4 | 6): LabPacket {
    const v = LAB[family];
    const direction = rng.pick(["in", "in", "in", "forward", "forward", "out"] as const);
    const proto = rng.pick(["tcp", "tcp", "udp", "udp", "icmp"] as const);
    let dst: string;
    let src: string;
    if (direction === "out") {
      src = rng.pick(v.local);
      dst = rng.pick(v.beyond);
    } else {
      src = rng.pick(v.sources);
      if (direction === "forward") dst = rng.pick(v.beyond);
      else {
        const special = [v.multicast, ...(v.broadcast === undefined ? [] : [v.broadcast])];
        dst = proto !== "tcp" && rng.chance(0.15) ? rng.pick(special) : rng.pick(v.local);
      }
    }
    const p: LabPacket = {
      direction,
      family,
      proto,
      src,
      dst,
      ttl: rng.pick([64, 64, 64, 64, 1, 2, 3, 10, 255]),
      tos: rng.pick([0, 0, 0, 0x10, 0xb8, 0x28]),
    };
    if (proto !== "icmp") {
      this.#port = this.#port >= 65000 ? 20000 : this.#port + 1;
      p.sport = this.#port;
      p.dport = rng.chance(0.2) ? 1024 + rng.int(60000) : rng.pick(PORTS);
    } else {
      p.icmpType = family === 4 ? rng.pick([8, 8, 0, 13]) : rng.pick([128, 128, 129]);
    }
    if (proto === "tcp") p.flags = rng.pick(["S", "S", "S", "A", "SA", "R", "FA"]);
    return p;
  }
}
