import assert from "assert";
import {
  combine,
  Match,
  MATCH_METHODS,
  MatchCriteria,
  type PortRange,
  RuleError,
} from "../../mod.ts";

const portRanges: PortRange[] = [{ first: 1234, last: 1234 }, { first: 5678, last: 6000 }];

// Appendix A.1 of the reference (head behaviour), one row per vector.
const VECTORS: [string, () => MatchCriteria, string][] = [
  ["markClear", () => Match().markClear(0x400a), "-m mark --mark 0/0x400a"],
  ["markNotClear", () => Match().markNotClear(0x400a), "-m mark ! --mark 0/0x400a"],
  ["markSingleBitSet", () => Match().markSingleBitSet(0x4000), "-m mark --mark 0x4000/0x4000"],
  [
    "markMatchesWithMask",
    () => Match().markMatchesWithMask(0x400a, 0xf00f),
    "-m mark --mark 0x400a/0xf00f",
  ],
  [
    "notMarkMatchesWithMask",
    () => Match().notMarkMatchesWithMask(0x400a, 0xf00f),
    "-m mark ! --mark 0x400a/0xf00f",
  ],
  ["conntrackState", () => Match().conntrackState("INVALID"), "-m conntrack --ctstate INVALID"],
  [
    "conntrackState list",
    () => Match().conntrackState(["RELATED", "ESTABLISHED"]),
    "-m conntrack --ctstate RELATED,ESTABLISHED",
  ],
  [
    "notConntrackState",
    () => Match().notConntrackState("RELATED,ESTABLISHED"),
    "-m conntrack ! --ctstate RELATED,ESTABLISHED",
  ],
  ["inInterface", () => Match().inInterface("tap1234abcd"), "--in-interface tap1234abcd"],
  ["outInterface", () => Match().outInterface("tap1234abcd"), "--out-interface tap1234abcd"],
  ["inInterface wildcard", () => Match().inInterface("cali+"), "--in-interface cali+"],
  ["notInInterface", () => Match().notInInterface("docker0"), "! --in-interface docker0"],
  ["notOutInterface", () => Match().notOutInterface("docker0"), "! --out-interface docker0"],
  ["notOutInterface wildcard", () => Match().notOutInterface("veth+"), "! --out-interface veth+"],
  [
    "srcAddrType limit",
    () => Match().srcAddrType("LOCAL", true),
    "-m addrtype --src-type LOCAL --limit-iface-out",
  ],
  ["srcAddrType", () => Match().srcAddrType("LOCAL", false), "-m addrtype --src-type LOCAL"],
  ["srcAddrType default", () => Match().srcAddrType("LOCAL"), "-m addrtype --src-type LOCAL"],
  [
    "notSrcAddrType limit",
    () => Match().notSrcAddrType("LOCAL", true),
    "-m addrtype ! --src-type LOCAL --limit-iface-out",
  ],
  [
    "notSrcAddrType",
    () => Match().notSrcAddrType("LOCAL", false),
    "-m addrtype ! --src-type LOCAL",
  ],
  ["destAddrType", () => Match().destAddrType("LOCAL"), "-m addrtype --dst-type LOCAL"],
  ["notDestAddrType", () => Match().notDestAddrType("LOCAL"), "-m addrtype ! --dst-type LOCAL"],
  ["protocol", () => Match().protocol("tcp"), "-p tcp"],
  ["notProtocol", () => Match().notProtocol("tcp"), "! -p tcp"],
  ["protocol number string", () => Match().protocol("47"), "-p 47"],
  ["protocolNum", () => Match().protocolNum(123), "-p 123"],
  ["notProtocolNum", () => Match().notProtocolNum(123), "! -p 123"],
  ["sourceNet", () => Match().sourceNet("10.0.0.4"), "--source 10.0.0.4"],
  ["notSourceNet", () => Match().notSourceNet("10.0.0.4"), "! --source 10.0.0.4"],
  ["destNet", () => Match().destNet("10.0.0.4"), "--destination 10.0.0.4"],
  ["notDestNet", () => Match().notDestNet("10.0.0.4"), "! --destination 10.0.0.4"],
  ["sourceNet v6 cidr", () => Match().sourceNet("2001:db8::/32"), "--source 2001:db8::/32"],
  ["destNet v4 cidr", () => Match().destNet("10.0.0.0/8"), "--destination 10.0.0.0/8"],
  [
    "sourceIpSet",
    () => Match().sourceIpSet("calits:12345abc-_"),
    "-m set --match-set calits:12345abc-_ src",
  ],
  [
    "notSourceIpSet",
    () => Match().notSourceIpSet("calits:12345abc-_"),
    "-m set ! --match-set calits:12345abc-_ src",
  ],
  [
    "destIpSet",
    () => Match().destIpSet("calits:12345abc-_"),
    "-m set --match-set calits:12345abc-_ dst",
  ],
  [
    "notDestIpSet",
    () => Match().notDestIpSet("calits:12345abc-_"),
    "-m set ! --match-set calits:12345abc-_ dst",
  ],
  [
    "sourceIpPortSet",
    () => Match().sourceIpPortSet("calitn:12345abc-_"),
    "-m set --match-set calitn:12345abc-_ src,src",
  ],
  [
    "notSourceIpPortSet",
    () => Match().notSourceIpPortSet("calitn:12345abc-_"),
    "-m set ! --match-set calitn:12345abc-_ src,src",
  ],
  [
    "destIpPortSet",
    () => Match().destIpPortSet("calitn:12345abc-_"),
    "-m set --match-set calitn:12345abc-_ dst,dst",
  ],
  [
    "notDestIpPortSet",
    () => Match().notDestIpPortSet("calitn:12345abc-_"),
    "-m set ! --match-set calitn:12345abc-_ dst,dst",
  ],
  [
    "sourcePorts",
    () => Match().sourcePorts(1234, 5678),
    "-m multiport --source-ports 1234,5678",
  ],
  [
    "notSourcePorts",
    () => Match().notSourcePorts(1234, 5678),
    "-m multiport ! --source-ports 1234,5678",
  ],
  [
    "destPorts",
    () => Match().destPorts(1234, 5678),
    "-m multiport --destination-ports 1234,5678",
  ],
  [
    "notDestPorts",
    () => Match().notDestPorts(1234, 5678),
    "-m multiport ! --destination-ports 1234,5678",
  ],
  [
    "sourcePortRanges",
    () => Match().sourcePortRanges(portRanges),
    "-m multiport --source-ports 1234,5678:6000",
  ],
  [
    "notSourcePortRanges",
    () => Match().notSourcePortRanges(portRanges),
    "-m multiport ! --source-ports 1234,5678:6000",
  ],
  [
    "destPortRanges",
    () => Match().destPortRanges(portRanges),
    "-m multiport --destination-ports 1234,5678:6000",
  ],
  [
    "notDestPortRanges",
    () => Match().notDestPortRanges(portRanges),
    "-m multiport ! --destination-ports 1234,5678:6000",
  ],
  ["icmpType", () => Match().icmpType(123), "-m icmp --icmp-type 123"],
  ["notIcmpType", () => Match().notIcmpType(123), "-m icmp ! --icmp-type 123"],
  ["icmpTypeAndCode", () => Match().icmpTypeAndCode(123, 5), "-m icmp --icmp-type 123/5"],
  [
    "notIcmpTypeAndCode",
    () => Match().notIcmpTypeAndCode(123, 5),
    "-m icmp ! --icmp-type 123/5",
  ],
  ["icmpV6Type", () => Match().icmpV6Type(123), "-m icmp6 --icmpv6-type 123"],
  ["notIcmpV6Type", () => Match().notIcmpV6Type(123), "-m icmp6 ! --icmpv6-type 123"],
  [
    "icmpV6TypeAndCode",
    () => Match().icmpV6TypeAndCode(123, 5),
    "-m icmp6 --icmpv6-type 123/5",
  ],
  [
    "notIcmpV6TypeAndCode",
    () => Match().notIcmpV6TypeAndCode(123, 5),
    "-m icmp6 ! --icmpv6-type 123/5",
  ],
  [
    "chained",
    () => Match().protocol("tcp").sourcePorts(1234).destPorts(8080),
    "-p tcp -m multiport --source-ports 1234 -m multiport --destination-ports 8080",
  ],
  ["ipvsConnection", () => Match().ipvsConnection(), "-m ipvs --ipvs"],
  ["notIpvsConnection", () => Match().notIpvsConnection(), "-m ipvs ! --ipvs"],
  ["rpfCheckFailed", () => Match().rpfCheckFailed(), "-m rpfilter --invert --validmark"],
  ["rpfCheckPassed", () => Match().rpfCheckPassed(), "-m rpfilter --validmark"],
  ["limit burst 0", () => Match().limit("30/second", 0), "-m limit --limit 30/second"],
  ["limit no burst", () => Match().limit("30/second"), "-m limit --limit 30/second"],
  ["limit burst", () => Match().limit("40/day", 5), "-m limit --limit 40/day --limit-burst 5"],
  [
    "mark high bit",
    () => Match().markSingleBitSet(0x80000000),
    "-m mark --mark 0x80000000/0x80000000",
  ],
  [
    "mark all bits",
    () => Match().markMatchesWithMask(0, 0xffffffff),
    "-m mark --mark 0x0/0xffffffff",
  ],
  // Issue 16: the modules of real rule sets, rendered as iptables-save prints them.
  ["tcp bare", () => Match().tcp(), "-m tcp"],
  ["tcp dport", () => Match().tcp({ destPort: 22 }), "-m tcp --dport 22"],
  [
    "tcp all options in save order",
    () =>
      Match().tcp({
        notFlags: { mask: ["ACK", "SYN"], set: ["ACK"] },
        option: 2,
        destPort: { first: 1000, last: 2000 },
        notSourcePort: 53,
      }),
    "-m tcp ! --sport 53 --dport 1000:2000 --tcp-option 2 ! --tcp-flags SYN,ACK ACK",
  ],
  ["tcp syn", () => Match().tcp({ syn: true }), "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN"],
  [
    "tcp flags none",
    () => Match().tcp({ flags: { mask: ["FIN", "SYN", "RST", "PSH", "ACK", "URG"], set: [] } }),
    "-m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE",
  ],
  ["udp", () => Match().udp({ sourcePort: 68, destPort: 67 }), "-m udp --sport 68 --dport 67"],
  ["udp bare", () => Match().udp(), "-m udp"],
  [
    "exactComment",
    () => Match().exactComment("a \"b\" 'c'"),
    `-m comment --comment "a \\"b\\" \\'c\\'"`,
  ],
  ["exactComment bare", () => Match().exactComment("word"), "-m comment --comment word"],
  [
    "state",
    () => Match().state(["ESTABLISHED", "RELATED"]),
    "-m state --state RELATED,ESTABLISHED",
  ],
  ["notState", () => Match().notState("NEW"), "-m state ! --state NEW"],
  ["ttl", () => Match().ttl("ne", 64), "-m ttl ! --ttl-eq 64"],
  ["hopLimit", () => Match().hopLimit("eq", 255), "-m hl --hl-eq 255"],
  [
    "recent",
    () => Match().recent({ mode: "update", seconds: 60, hitcount: 4, rttl: true, name: "ssh" }),
    "-m recent --update --seconds 60 --hitcount 4 --rttl --name ssh --rsource",
  ],
  [
    "notRecent",
    () =>
      Match().notRecent({
        mode: "rcheck",
        seconds: 5,
        reap: true,
        mask: "255.255.255.0",
        dest: true,
      }),
    "-m recent ! --rcheck --seconds 5 --reap --name DEFAULT --mask 255.255.255.0 --rdest",
  ],
  [
    "statistic random",
    () => Match().statistic({ mode: "random", probability: 1 / 3 }),
    "-m statistic --mode random --probability 0.33333333349",
  ],
  [
    "statistic nth",
    () => Match().statistic({ mode: "nth", every: 4, packet: 3 }),
    "-m statistic --mode nth --every 4 --packet 3",
  ],
  [
    "owner",
    () =>
      Match().owner({
        gid: { first: 10, last: 20 },
        notSocketExists: true,
        uid: 0,
        supplGroups: true,
      }),
    "-m owner ! --socket-exists --uid-owner 0 --gid-owner 10-20 --suppl-groups",
  ],
  ["packetType", () => Match().packetType("broadcast"), "-m pkttype --pkt-type broadcast"],
  ["notPacketType", () => Match().notPacketType("multicast"), "-m pkttype ! --pkt-type multicast"],
  [
    "sourceMac",
    () => Match().sourceMac("52:54:00:AB:CD:EF"),
    "-m mac --mac-source 52:54:00:ab:cd:ef",
  ],
  [
    "notSourceMac",
    () => Match().notSourceMac("52:54:00:12:34:56"),
    "-m mac ! --mac-source 52:54:00:12:34:56",
  ],
  [
    "ipRange",
    () => Match().ipRange({ notDest: "10.1.0.1-10.1.0.2", source: "10.0.0.1-10.0.0.9" }),
    "-m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 10.1.0.1-10.1.0.2",
  ],
  ["length", () => Match().length(0, 28), "-m length --length 0:28"],
  ["notLength", () => Match().notLength(100), "-m length ! --length 100"],
  ["tcpMss", () => Match().tcpMss(1400, 65495), "-m tcpmss --mss 1400:65495"],
  ["notTcpMss", () => Match().notTcpMss(536, 536), "-m tcpmss ! --mss 536"],
  [
    "connLimit",
    () => Match().connLimit({ above: 3, mask: 24, dest: true }),
    "-m connlimit --connlimit-above 3 --connlimit-mask 24 --connlimit-daddr",
  ],
  ["routingHeaderType", () => Match().routingHeaderType(0), "-m rt --rt-type 0"],
  ["notRoutingHeaderType", () => Match().notRoutingHeaderType(2), "-m rt ! --rt-type 2"],
  ["packetDscp", () => Match().packetDscp(10), "-m dscp --dscp 0x0a"],
  ["notPacketDscp", () => Match().notPacketDscp(46), "-m dscp ! --dscp 0x2e"],
  ["helper", () => Match().helper("ftp"), "-m helper --helper ftp"],
  [
    "physDev",
    () => Match().physDev({ isBridged: true, notOut: "eth1", notIsIn: true }),
    "-m physdev ! --physdev-is-in ! --physdev-out eth1 --physdev-is-bridged",
  ],
  ["fragment", () => Match().fragment(), "-f"],
  ["notFragment", () => Match().notFragment(), "! -f"],
  ["tos", () => Match().tos(0x10, 0x3f), "-m tos --tos 0x10/0x3f"],
  ["notTos", () => Match().notTos(0x8), "-m tos ! --tos 0x08/0xff"],
];

for (const [name, build, fragment] of VECTORS) {
  Deno.test(`match renders ${name}`, () => {
    const m = build();
    assert.equal(m.render(), fragment);
    assert.equal(m.toString(), `MatchCriteria[${fragment}]`);
  });
}

Deno.test("match: every issue 2 method is covered by a vector", () => {
  const methods = MATCH_METHODS;
  const covered = new Set(VECTORS.flatMap(([, build]) => build().clauses.map((c) => c.method)));
  assert.deepEqual(methods.filter((m) => !covered.has(m)), []);
  // The list in issue 2, in its order.
  const ISSUE_2 =
    ("protocol notProtocol protocolNum notProtocolNum sourceNet notSourceNet destNet " +
      "notDestNet sourceIpSet notSourceIpSet destIpSet notDestIpSet sourceIpPortSet " +
      "notSourceIpPortSet destIpPortSet notDestIpPortSet sourcePorts notSourcePorts destPorts " +
      "notDestPorts sourcePortRanges notSourcePortRanges destPortRanges notDestPortRanges " +
      "inInterface outInterface conntrackState notConntrackState srcAddrType notSrcAddrType " +
      "destAddrType notDestAddrType markClear markNotClear markSingleBitSet markMatchesWithMask " +
      "notMarkMatchesWithMask icmpType notIcmpType icmpTypeAndCode notIcmpTypeAndCode icmpV6Type " +
      "notIcmpV6Type icmpV6TypeAndCode notIcmpV6TypeAndCode ipvsConnection notIpvsConnection " +
      "rpfCheckFailed rpfCheckPassed limit").split(" ");
  // Issue 13 added the negated interfaces.
  const ISSUE_13 = ["notInInterface", "notOutInterface"];
  // Issue 16 added what real rule sets use.
  const ISSUE_16 = ("tcp udp exactComment state notState ttl hopLimit recent notRecent statistic " +
    "owner packetType notPacketType sourceMac notSourceMac ipRange length notLength tcpMss " +
    "notTcpMss connLimit routingHeaderType notRoutingHeaderType packetDscp notPacketDscp helper " +
    "physDev fragment notFragment tos notTos").split(" ");
  assert.deepEqual([...methods].sort(), [...ISSUE_2, ...ISSUE_13, ...ISSUE_16].sort());
});

Deno.test("match: issue-16 options are refused when unknown, both twins, or out of range", () => {
  const bad: [string, () => unknown][] = [
    ["tcp.bogus", () => Match().tcp({ bogus: 1 } as never)],
    ["tcp.notDestPort", () => Match().tcp({ destPort: 1, notDestPort: 2 })],
    ["tcp.destPort", () => Match().tcp({ destPort: { first: 0, last: 65535 } })],
    ["tcp.destPort", () => Match().tcp({ destPort: 65536 })],
    ["tcp.flags.mask", () => Match().tcp({ flags: { mask: ["SYN", "SYN"], set: [] } })],
    ["tcp.notFlags.mask", () => Match().tcp({ notFlags: { mask: [], set: [] } })],
    ["tcp.flags.set", () => Match().tcp({ flags: { mask: ["SYN"], set: ["XMAS" as never] } })],
    ["tcp.syn", () => Match().tcp({ syn: true, flags: { mask: ["SYN"], set: ["SYN"] } })],
    ["recent.mode", () => Match().recent({ mode: "check" as never })],
    ["recent.seconds", () => Match().recent({ mode: "set", seconds: 5 })],
    ["recent.reap", () => Match().recent({ mode: "rcheck", reap: true })],
    ["recent.name", () => Match().recent({ mode: "set", name: "a b" })],
    ["recent.name", () => Match().recent({ mode: "set", name: "-x" })],
    ["recent.mask", () => Match().recent({ mode: "set", mask: "255.255.255.0/24" })],
    ["recent.hitcount", () => Match().recent({ mode: "update", hitcount: 0 })],
    ["statistic.probability", () => Match().statistic({ mode: "random", probability: 1.5 })],
    ["statistic.packet", () => Match().statistic({ mode: "nth", every: 2, packet: 2 })],
    ["owner", () => Match().owner({})],
    ["owner.supplGroups", () => Match().owner({ uid: 0, supplGroups: true })],
    ["owner.uid", () => Match().owner({ uid: { first: 5, last: 1 } })],
    ["connLimit", () => Match().connLimit({ above: 1, upto: 2 })],
    ["ipRange.dest", () => Match().ipRange({ source: "10.0.0.1-10.0.0.2", dest: "::1-::2" })],
    ["ipRange.source", () => Match().ipRange({ source: "10.0.0.9-10.0.0.1" })],
    ["physDev.in", () => Match().physDev({ in: "eth0 -j ACCEPT" })],
    ["state", () => Match().state(["NEW", "SNAT" as never])],
    ["state", () => Match().state([])],
    ["ttl", () => Match().ttl("le" as never, 1)],
    ["hopLimit", () => Match().hopLimit("eq", 256)],
    ["packetType", () => Match().packetType("anycast" as never)],
    ["sourceMac", () => Match().sourceMac("52:54:00:12:34")],
    ["length", () => Match().length(10, 5)],
    ["helper", () => Match().helper("ftp 21")],
    ["tos", () => Match().tos(0x11, 0x10)],
    ["exactComment", () => Match().exactComment("a\nb")],
    ["exactComment", () => Match().exactComment("x".repeat(256))],
  ];
  for (const [field, build] of bad) {
    assert.throws(build, (e) => e instanceof RuleError && e.field === field, field);
  }
});

Deno.test("match: issue-16 options objects are copied and frozen in the keys' order", () => {
  const given = { destPort: 22, sourcePort: 1 };
  const m = Match().tcp(given);
  given.destPort = 23;
  const [clause] = m.clauses;
  assert.deepEqual(Object.keys(clause!.args[0] as object), ["sourcePort", "destPort"]);
  assert.equal((clause!.args[0] as { destPort: number }).destPort, 22);
  assert.ok(Object.isFrozen(clause!.args[0]));
  assert.equal(m.render(), "-m tcp --sport 1 --dport 22");
});

Deno.test("match: empty and toString forms", () => {
  assert.equal(Match().render(), "");
  assert.equal(String(Match()), "MatchCriteria[]");
  assert.equal(String(Match().protocol("tcp")), "MatchCriteria[-p tcp]");
});

Deno.test("match: clauses record method, args and fragment", () => {
  const m = Match().protocol("udp").destPorts(53, 5353).srcAddrType("LOCAL").limit("5/minute");
  assert.deepEqual(m.clauses, [
    { method: "protocol", args: ["udp"], fragment: "-p udp" },
    {
      method: "destPorts",
      args: [53, 5353],
      fragment: "-m multiport --destination-ports 53,5353",
    },
    { method: "srcAddrType", args: ["LOCAL"], fragment: "-m addrtype --src-type LOCAL" },
    { method: "limit", args: ["5/minute"], fragment: "-m limit --limit 5/minute" },
  ]);
  assert.deepEqual(Match().limit("5/minute", 0).clauses[0]!.args, ["5/minute", 0]);
  assert.deepEqual(Match().srcAddrType("LOCAL", false).clauses[0]!.args, ["LOCAL", false]);
  assert.deepEqual(Match().ipvsConnection().clauses[0]!.args, []);
});

Deno.test("match: builders never mutate the receiver", () => {
  const base = Match().protocol("tcp");
  const a = base.destPorts(80);
  const b = base.destPorts(443);
  assert.equal(base.render(), "-p tcp");
  assert.equal(a.render(), "-p tcp -m multiport --destination-ports 80");
  assert.equal(b.render(), "-p tcp -m multiport --destination-ports 443");
  assert.ok(Object.isFrozen(base.clauses));
  assert.throws(() => (base.clauses as unknown as unknown[]).push({}), TypeError);
});

Deno.test("match: builder clauses are frozen when read, on every branch of a shared step", () => {
  const base = Match().protocol("tcp").destPorts(80);
  const a = base.inInterface("eth0");
  const b = base.outInterface("eth1");
  // Rendering reads the steps without materialising the clauses.
  assert.equal(a.render(), "-p tcp -m multiport --destination-ports 80 --in-interface eth0");
  for (const m of [a, b, base]) {
    for (const c of m.clauses) assert.ok(Object.isFrozen(c) && Object.isFrozen(c.args), c.method);
  }
  assert.deepEqual(a.clauses.map((c) => c.method), ["protocol", "destPorts", "inInterface"]);
  assert.deepEqual(b.clauses.map((c) => c.method), ["protocol", "destPorts", "outInterface"]);
  assert.equal(b.render(), "-p tcp -m multiport --destination-ports 80 --out-interface eth1");
  assert.throws(() => {
    (a.clauses[1]!.args as unknown[]).push(443);
  }, TypeError);
});

Deno.test("match: args are copied so later mutation of the input has no effect", () => {
  const ranges: PortRange[] = [{ first: 1, last: 2 }];
  const states: ("NEW" | "ESTABLISHED")[] = ["NEW"];
  const m = Match().destPortRanges(ranges).conntrackState(states);
  (ranges[0] as { first: number }).first = 2;
  ranges.push({ first: 9, last: 9 });
  states.push("ESTABLISHED");
  assert.deepEqual(m.clauses[0]!.args, [[{ first: 1, last: 2 }]]);
  assert.deepEqual(m.clauses[1]!.args, [["NEW"]]);
  assert.equal(m.render(), "-m multiport --destination-ports 1:2 -m conntrack --ctstate NEW");
});

Deno.test("match: combine concatenates and leaves both inputs alone", () => {
  const a = Match().protocol("tcp");
  const b = Match().destPorts(22);
  const c = combine(a, b);
  assert.equal(c.render(), "-p tcp -m multiport --destination-ports 22");
  assert.equal(a.render(), "-p tcp");
  assert.equal(b.render(), "-m multiport --destination-ports 22");
  assert.equal(combine(Match(), Match()).render(), "");
});

Deno.test("match: Match() renders any combination (placement is checked elsewhere)", () => {
  assert.equal(
    Match().destPorts(22).icmpV6Type(1).protocol("udp").protocol("tcp").render(),
    "-m multiport --destination-ports 22 -m icmp6 --icmpv6-type 1 -p udp -p tcp",
  );
});

Deno.test("match: multiport slot limit is 15, a range costs 2", () => {
  const fifteen = Array.from({ length: 15 }, (_, i) => 1000 + i);
  assert.equal(Match().destPorts(...fifteen).clauses.length, 1);
  assert.throws(
    () => Match().destPorts(...fifteen, 2000),
    (err: unknown) =>
      err instanceof RuleError && err.field === "destPorts" && /splitPortList/.test(err.message),
  );
  const ranges = Array.from({ length: 7 }, (_, i) => ({ first: i * 10, last: i * 10 + 1 }));
  Match().sourcePortRanges([...ranges, { first: 99, last: 99 }]); // 7×2 + 1 = 15 slots
  assert.throws(
    () => Match().sourcePortRanges([...ranges, { first: 99, last: 100 }]),
    (err: unknown) => err instanceof RuleError && err.field === "sourcePortRanges",
  );
});

Deno.test("match: hex marks use Go %#x", () => {
  assert.equal(Match().markMatchesWithMask(0, 1).render(), "-m mark --mark 0x0/0x1");
  assert.equal(Match().markClear(0xffffffff).render(), "-m mark --mark 0/0xffffffff");
});

Deno.test("match: reference panics are RuleErrors", () => {
  for (
    const [build, field] of [
      [() => Match().markSingleBitSet(0x4001), "markSingleBitSet"],
      [() => Match().markMatchesWithMask(0xf, 0x1), "markMatchesWithMask"],
      [() => Match().markMatchesWithMask(0, 0), "markMatchesWithMask"],
      [() => Match().markClear(0), "markClear"],
      [() => Match().markNotClear(0), "markNotClear"],
    ] as const
  ) {
    assert.throws(build, (e: unknown) => e instanceof RuleError && e.field === field);
  }
});

Deno.test("match: canonical address hints", () => {
  try {
    Match().sourceNet("2001:DB8:0::1");
    assert.fail("expected a RuleError");
  } catch (e) {
    assert.ok(e instanceof RuleError);
    assert.match(e.message, /"2001:db8::1"/);
  }
  try {
    Match().destNet("10.1.2.3/8");
    assert.fail("expected a RuleError");
  } catch (e) {
    assert.ok(e instanceof RuleError);
    assert.match(e.message, /"10\.0\.0\.0\/8"/);
  }
  assert.equal(Match().sourceNet("::ffff:10.0.0.1").render(), "--source ::ffff:10.0.0.1");
  assert.equal(Match().sourceNet("::/0").render(), "--source ::/0");
  assert.equal(Match().sourceNet("0.0.0.0/0").render(), "--source 0.0.0.0/0");
  assert.equal(Match().sourceNet("fe80::/10").render(), "--source fe80::/10");
  assert.equal(Match().destNet("1:0:0:1::/64").render(), "--destination 1:0:0:1::/64");
  assert.equal(
    Match().destNet("2001:db8:0:1:1:1:1:1").render(),
    "--destination 2001:db8:0:1:1:1:1:1",
  );
});

Deno.test("match: hand-built clauses are frozen and must stay on one line", () => {
  const clause = { method: "raw", args: ["a"], fragment: "-m foobar --foobar baz" };
  const m = new MatchCriteria([clause]);
  clause.fragment = "changed";
  assert.equal(m.render(), "-m foobar --foobar baz");
  assert.ok(Object.isFrozen(m.clauses[0]) && Object.isFrozen(m.clauses[0]!.args));
  assert.throws(
    () => new MatchCriteria([{ method: "raw", args: [], fragment: "x\n-A INPUT -j ACCEPT" }]),
    (e: unknown) => e instanceof RuleError && e.field === "MatchCriteria.clauses",
  );
});

Deno.test("match: forEachClause visits what clauses lists, in order, before and after clauses is read", () => {
  const visited = (m: MatchCriteria) => {
    const out: [string, readonly unknown[], string][] = [];
    m.forEachClause((method, args, fragment) => out.push([method, args, fragment]));
    return out;
  };
  const base = Match().protocol("tcp").sourceIpSet("a");
  const m = base.destPorts(80, 443).inInterface("eth0");
  const expected = [
    ["protocol", ["tcp"], "-p tcp"],
    ["sourceIpSet", ["a"], "-m set --match-set a src"],
    ["destPorts", [80, 443], "-m multiport --destination-ports 80,443"],
    ["inInterface", ["eth0"], "--in-interface eth0"],
  ];
  assert.deepEqual(visited(m), expected);
  // A step whose parent has listed its clauses reads them from that list.
  assert.equal(base.clauses.length, 2);
  const next = base.destPorts(22);
  assert.deepEqual(visited(next), [...expected.slice(0, 2), [
    "destPorts",
    [22],
    "-m multiport --destination-ports 22",
  ]]);
  assert.deepEqual(
    visited(m),
    m.clauses.map((c) => [c.method, c.args, c.fragment]),
  );
  assert.deepEqual(visited(Match()), []);
  const byHand = new MatchCriteria([{ method: "custom", args: [1], fragment: "-m custom" }]);
  assert.deepEqual(visited(byHand), [["custom", [1], "-m custom"]]);
  assert.deepEqual(visited(byHand.protocol("udp")), [["custom", [1], "-m custom"], [
    "protocol",
    ["udp"],
    "-p udp",
  ]]);
});

Deno.test("match: rendersLike is true exactly when the renderings are equal (never wrongly true)", () => {
  const all = VECTORS.map(([, build]) => build);
  // Every vector against a rebuilt copy of itself and against every other.
  for (let i = 0; i < all.length; i++) {
    for (let j = 0; j < all.length; j++) {
      const a = all[i]!(), b = all[j]!();
      assert.equal(a.rendersLike(b), a.render() === b.render(), `${a} vs ${b}`);
    }
  }
  const base = Match().protocol("tcp").sourceIpSet("a");
  const m = base.destPorts(80, 443);
  // Shared steps, longer and shorter criteria, the empty criteria.
  assert.equal(m.rendersLike(base.destPorts(80, 443)), true);
  assert.equal(m.rendersLike(base.destPorts(80)), false);
  assert.equal(m.rendersLike(base), false);
  assert.equal(base.rendersLike(m), false);
  assert.equal(Match().rendersLike(Match()), true);
  assert.equal(Match().rendersLike(new MatchCriteria()), true);
  assert.equal(Match().rendersLike(m), false);
  assert.equal(m.rendersLike(Match()), false);
  // Listed clauses (read, or built from a list) compare by their rendering.
  const rebuilt = Match().protocol("tcp").sourceIpSet("a").destPorts(80, 443);
  assert.equal(rebuilt.clauses.length, 3);
  assert.equal(m.rendersLike(rebuilt), true);
  assert.equal(rebuilt.rendersLike(m), true);
  assert.equal(combine(Match().protocol("tcp"), Match().sourceIpSet("a")).rendersLike(base), true);
  assert.equal(combine(Match().protocol("udp"), Match().sourceIpSet("a")).rendersLike(base), false);
  // A step after listed clauses.
  assert.equal(rebuilt.inInterface("eth0").rendersLike(m.inInterface("eth0")), true);
  assert.equal(rebuilt.inInterface("eth0").rendersLike(m.inInterface("eth1")), false);
  // Cached renderings on both sides.
  const x = base.destPorts(22), y = base.destPorts(22);
  x.render();
  y.render();
  assert.equal(x.rendersLike(y), true);
  assert.equal(x.rendersLike(m), false);
});
