import assert from "assert";
import {
  ClearMark,
  Dnat,
  Dscp,
  Goto,
  Jump,
  LimitNumConnections,
  LimitPacketRate,
  Log,
  Masq,
  Match,
  Nflog,
  type PortRange,
  Reject,
  RestoreConnMark,
  RuleError,
  SaveConnMark,
  SetConnMark,
  SetMark,
  SetMaskedMark,
  Snat,
} from "../../mod.ts";

// Untyped entry points, as YAML files and the REPL call them.
// deno-lint-ignore no-explicit-any
const M = Match() as any;
// deno-lint-ignore no-explicit-any
const A = { Dnat, Goto, Jump, LimitNumConnections, Log, Masq, Nflog, Reject, Snat } as any;

/** A bad input: what to call, the expected `field`, and the value `RuleError.value` holds. */
type Bad = [label: string, call: () => unknown, field: string, value?: unknown];

/** Forges a second comment with an ID-like value: must never get through. */
const QUOTE_INJECTION = 'x" -m comment --comment "rampart:AAAAAAAAAAAAAAAA';
/** Appends words to an unquoted fragment. */
const SPACE_INJECTION = "x -j ACCEPT";
const CONTROL = ["a\u0000b", "a\rb", "a\nb"];

/** Every string parameter: how to call it with a string, and its field. */
const STRING_PARAMS: [field: string, call: (s: string) => unknown, quotedSpaceOk?: boolean][] = [
  ...[
    "protocol",
    "notProtocol",
    "sourceNet",
    "notSourceNet",
    "destNet",
    "notDestNet",
    "sourceIpSet",
    "notSourceIpSet",
    "destIpSet",
    "notDestIpSet",
    "sourceIpPortSet",
    "notSourceIpPortSet",
    "destIpPortSet",
    "notDestIpPortSet",
    "inInterface",
    "outInterface",
    "notInInterface",
    "notOutInterface",
    "conntrackState",
    "notConntrackState",
    "srcAddrType",
    "notSrcAddrType",
    "destAddrType",
    "notDestAddrType",
    "limit",
  ].map((m): [string, (s: string) => unknown] => [m, (s) => M[m](s)]),
  ["conntrackState", (s) => M.conntrackState(["NEW", s])],
  ["Jump.target", (s) => A.Jump(s)],
  ["Goto.target", (s) => A.Goto(s)],
  ["Log.prefix", (s) => A.Log(s), true],
  ["Masq.toPorts", (s) => A.Masq(s)],
  ["Snat.toAddr", (s) => A.Snat(s)],
  ["Dnat.destAddr", (s) => A.Dnat(s)],
  ["Dnat.destAddr", (s) => A.Dnat(s, 80)],
  ["Reject.with", (s) => A.Reject(s)],
  ["Nflog.prefix", (s) => A.Nflog(1, s)],
  ["LimitNumConnections.rejectWith", (s) => A.LimitNumConnections(1, s)],
];

const INJECTIONS: Bad[] = STRING_PARAMS.flatMap(([field, call, quotedSpaceOk]) => {
  const rows: Bad[] = [[`${field}: quote injection`, () => call(QUOTE_INJECTION), field]];
  if (!quotedSpaceOk) rows.push([`${field}: space injection`, () => call(SPACE_INJECTION), field]);
  for (const c of CONTROL) rows.push([`${field}: ${JSON.stringify(c)}`, () => call(c), field]);
  rows.push([`${field}: not a string`, () => call(42 as unknown as string), field]);
  return rows;
});

const r = (first: number, last: number): PortRange => ({ first, last });
const sixteen = Array.from({ length: 16 }, (_, i) => 100 + i);

const SPECIFIC: Bad[] = [
  // protocols
  ["unknown protocol", () => Match().protocol("tcpp"), "protocol", "tcpp"],
  ["upper-case protocol", () => Match().protocol("TCP"), "protocol", "TCP"],
  ["icmp6 is not a protocol name", () => Match().protocol("icmp6"), "protocol", "icmp6"],
  ["protocol 256", () => Match().protocol("256"), "protocol", "256"],
  ["protocol 007", () => Match().protocol("007"), "protocol", "007"],
  ["protocolNum 256", () => Match().protocolNum(256), "protocolNum", 256],
  ["protocolNum -1", () => Match().notProtocolNum(-1), "notProtocolNum", -1],
  ["protocolNum 1.5", () => Match().protocolNum(1.5), "protocolNum", 1.5],
  // iptables: "rule would never match protocol"
  ["not protocol all", () => Match().notProtocol("all"), "notProtocol", "all"],
  ["not protocol 0", () => Match().notProtocol("0"), "notProtocol", "0"],
  ["notProtocolNum 0", () => Match().notProtocolNum(0), "notProtocolNum", 0],
  ["protocolNum NaN", () => Match().protocolNum(NaN), "protocolNum"],
  // addresses
  ["IPv4 leading zero", () => Match().sourceNet("10.0.0.01"), "sourceNet", "10.0.0.01"],
  ["IPv4 octet 256", () => Match().destNet("10.0.0.256"), "destNet", "10.0.0.256"],
  ["IPv4 three octets", () => Match().destNet("10.0.0"), "destNet", "10.0.0"],
  ["IPv4 prefix 33", () => Match().sourceNet("10.0.0.0/33"), "sourceNet", "10.0.0.0/33"],
  ["IPv4 host bits", () => Match().sourceNet("10.0.0.1/24"), "sourceNet", "10.0.0.1/24"],
  ["IPv4 prefix 08", () => Match().sourceNet("10.0.0.0/08"), "sourceNet", "10.0.0.0/08"],
  ["empty prefix", () => Match().sourceNet("10.0.0.0/"), "sourceNet", "10.0.0.0/"],
  ["IPv6 upper case", () => Match().notDestNet("2001:DB8::1"), "notDestNet", "2001:DB8::1"],
  ["IPv6 zeros not compressed", () => Match().destNet("2001:db8:0:0::1"), "destNet"],
  ["IPv6 leading zero group", () => Match().destNet("2001:0db8::1"), "destNet"],
  ["IPv6 prefix 129", () => Match().destNet("2001:db8::/129"), "destNet"],
  ["IPv6 host bits", () => Match().notSourceNet("2001:db8::1/64"), "notSourceNet"],
  ["IPv6 two ::", () => Match().destNet("1::2::3"), "destNet"],
  ["IPv6 nine groups", () => Match().destNet("1:2:3:4:5:6:7:8:9"), "destNet"],
  ["IPv6 zone", () => Match().destNet("fe80::1%eth0"), "destNet"],
  ["hostname", () => Match().destNet("example.com"), "destNet"],
  ["empty address", () => Match().sourceNet(""), "sourceNet", ""],
  // ipsets and interfaces
  ["ipset 32 chars", () => Match().sourceIpSet("s".repeat(32)), "sourceIpSet"],
  ["ipset empty", () => Match().destIpSet(""), "destIpSet", ""],
  ["ipset leading dash", () => Match().destIpSet("-x"), "destIpSet", "-x"],
  ["ipset leading bang", () => Match().notDestIpSet("!x"), "notDestIpSet", "!x"],
  ["interface 16 chars", () => Match().inInterface("a".repeat(16)), "inInterface"],
  ["interface 15 + wildcard", () => Match().inInterface("a".repeat(15) + "+"), "inInterface"],
  ["interface inner +", () => Match().outInterface("a+b"), "outInterface", "a+b"],
  ["interface slash", () => Match().outInterface("a/b"), "outInterface", "a/b"],
  ["interface colon", () => Match().outInterface("eth0:1"), "outInterface", "eth0:1"],
  ["interface leading dash", () => Match().inInterface("-x"), "inInterface", "-x"],
  ["interface empty", () => Match().inInterface(""), "inInterface", ""],
  ["interface dot", () => Match().inInterface("."), "inInterface", "."],
  ["negated interface inner +", () => Match().notInInterface("a+b"), "notInInterface", "a+b"],
  ["negated interface 16 chars", () => Match().notOutInterface("b".repeat(16)), "notOutInterface"],
  ["negated interface empty", () => Match().notOutInterface(""), "notOutInterface", ""],
  ["negated wildcard in", () => Match().notInInterface("+"), "notInInterface", "+"],
  ["negated wildcard out", () => Match().notOutInterface("+"), "notOutInterface", "+"],
  // ports
  ["port 65536", () => Match().destPorts(80, 65536), "destPorts", 65536],
  ["port -1", () => Match().sourcePorts(-1), "sourcePorts"],
  ["port 1.5", () => Match().notDestPorts(1.5), "notDestPorts"],
  ["port string", () => M.destPorts("80"), "destPorts"],
  ["no ports", () => Match().destPorts(), "destPorts"],
  ["16 ports", () => Match().notSourcePorts(...sixteen), "notSourcePorts"],
  ["reversed range", () => Match().destPortRanges([r(90, 80)]), "destPortRanges"],
  ["range past 65535", () => Match().sourcePortRanges([r(1, 65536)]), "sourcePortRanges"],
  ["empty ranges", () => Match().notDestPortRanges([]), "notDestPortRanges"],
  ["ranges not an array", () => M.destPortRanges(r(1, 2)), "destPortRanges"],
  ["range missing last", () => M.destPortRanges([{ first: 1 }]), "destPortRanges"],
  [
    "8 ranges = 16 slots",
    () => Match().notSourcePortRanges(Array.from({ length: 8 }, (_, i) => r(i * 10, i * 10 + 1))),
    "notSourcePortRanges",
  ],
  // conntrack, addrtype
  ["unknown state", () => M.conntrackState("ESTABLISHED,BOGUS"), "conntrackState"],
  ["lower-case state", () => M.notConntrackState("new"), "notConntrackState"],
  ["empty state list", () => Match().conntrackState([]), "conntrackState"],
  ["empty state string", () => M.conntrackState(""), "conntrackState"],
  ["duplicate state", () => Match().conntrackState("NEW,NEW"), "conntrackState"],
  ["state list with space", () => M.conntrackState("NEW, ESTABLISHED"), "conntrackState"],
  ["unknown addr type", () => M.srcAddrType("LOCALHOST"), "srcAddrType"],
  ["limitIfaceOut not boolean", () => M.notSrcAddrType("LOCAL", "yes"), "notSrcAddrType"],
  ["lower-case addr type", () => M.destAddrType("local"), "destAddrType"],
  // marks
  ["mark above uint32", () => Match().markClear(2 ** 32), "markClear"],
  ["negative mark", () => Match().markNotClear(-1), "markNotClear"],
  ["mask 0", () => Match().notMarkMatchesWithMask(0, 0), "notMarkMatchesWithMask"],
  ["mark outside mask", () => Match().markMatchesWithMask(0x10, 0x0f), "markMatchesWithMask"],
  ["two bits", () => Match().markSingleBitSet(3), "markSingleBitSet", 3],
  // ICMP
  ["icmp type 256", () => Match().icmpType(256), "icmpType", 256],
  ["icmp code 256", () => Match().icmpTypeAndCode(3, 256), "icmpTypeAndCode", 256],
  ["icmpv6 type -1", () => Match().notIcmpV6Type(-1), "notIcmpV6Type", -1],
  ["icmpv6 code 1.5", () => Match().notIcmpV6TypeAndCode(1, 1.5), "notIcmpV6TypeAndCode", 1.5],
  ["icmp type string", () => M.icmpType("8"), "icmpType", "8"],
  // limit
  ["limit 0/second", () => M.limit("0/second"), "limit", "0/second"],
  ["limit too fast", () => M.limit("10001/second"), "limit", "10001/second"],
  ["limit too fast per minute", () => M.limit("600001/minute"), "limit"],
  ["limit abbreviation", () => M.limit("5/sec"), "limit", "5/sec"],
  ["limit no unit", () => M.limit("5"), "limit", "5"],
  ["limit negative burst", () => Match().limit("5/second", -1), "limit", -1],
  ["limit burst 10001", () => Match().limit("5/second", 10001), "limit", 10001],
  // Jump/Goto targets
  ["jump to ACCEPT", () => Jump("ACCEPT"), "Jump.target", "ACCEPT"],
  ["jump to LOG", () => Jump("LOG"), "Jump.target", "LOG"],
  ["jump to MARK", () => Jump("MARK"), "Jump.target", "MARK"],
  ["goto RETURN", () => Goto("RETURN"), "Goto.target", "RETURN"],
  ["jump to INPUT", () => Jump("INPUT"), "Jump.target", "INPUT"],
  ["goto POSTROUTING", () => Goto("POSTROUTING"), "Goto.target", "POSTROUTING"],
  ["chain 29 chars", () => Jump("c".repeat(29)), "Jump.target"],
  ["chain empty", () => Goto(""), "Goto.target", ""],
  ["chain leading dash", () => Jump("-x"), "Jump.target", "-x"],
  ["chain leading bang", () => Goto("!x"), "Goto.target", "!x"],
  ["chain with quote", () => Jump("a'b"), "Jump.target", "a'b"],
  ["chain non-ASCII", () => Jump("rp-é"), "Jump.target", "rp-é"],
  // LOG / NFLOG
  ["log prefix 28 chars", () => Log("p".repeat(28)), "Log.prefix"],
  ["log prefix backslash", () => Log("a\\"), "Log.prefix", "a\\"],
  ["log prefix non-ASCII", () => Log("ünïcode"), "Log.prefix", "ünïcode"],
  ["log prefix tab", () => Log("a\tb"), "Log.prefix", "a\tb"],
  ["nflog prefix 64 chars", () => Nflog(1, "n".repeat(64)), "Nflog.prefix"],
  ["nflog prefix empty", () => Nflog(1, ""), "Nflog.prefix", ""],
  ["nflog prefix leading dash", () => Nflog(1, "-x"), "Nflog.prefix", "-x"],
  [
    "nflog prefix forging an ID",
    () => Nflog(1, "x -m comment --comment rampart:AAAAAAAAAAAAAAAA"),
    "Nflog.prefix",
  ],
  ["nflog group 65536", () => Nflog(65536, "x"), "Nflog.group", 65536],
  ["nflog size -2", () => Nflog(1, "x", -2), "Nflog.size", -2],
  // NAT
  ["snat hostname", () => Snat("gateway"), "Snat.toAddr", "gateway"],
  ["snat CIDR", () => Snat("10.0.0.1/32"), "Snat.toAddr", "10.0.0.1/32"],
  ["snat leading zero", () => Snat("10.0.0.01"), "Snat.toAddr", "10.0.0.01"],
  ["snat reversed ports", () => Snat("10.0.0.1:90-80"), "Snat.toAddr", "10.0.0.1:90-80"],
  ["snat port 65536", () => Snat("10.0.0.1:65536"), "Snat.toAddr"],
  ["snat reversed range", () => Snat("10.0.0.5-10.0.0.1"), "Snat.toAddr"],
  ["snat mixed families", () => Snat("10.0.0.1-2001:db8::1"), "Snat.toAddr"],
  ["snat IPv4 in brackets", () => Snat("[10.0.0.1]:80"), "Snat.toAddr", "[10.0.0.1]:80"],
  ["snat IPv6 brackets no port", () => Snat("[2001:db8::1]"), "Snat.toAddr"],
  ["snat bracketed pair", () => Snat("[2001:db8::1]-[2001:db8::5]:80"), "Snat.toAddr"],
  ["snat port only", () => Snat(":80"), "Snat.toAddr", ":80"],
  ["snat baseport", () => Snat("10.0.0.1:80-90/100"), "Snat.toAddr"],
  ["snat empty", () => Snat(""), "Snat.toAddr", ""],
  ["dnat port 65536", () => Dnat("10.0.0.1", 65536), "Dnat.destPort", 65536],
  ["dnat port -1", () => Dnat("10.0.0.1", -1), "Dnat.destPort", -1],
  ["dnat port twice", () => Dnat("10.0.0.1:80", 80), "Dnat.destAddr", "10.0.0.1:80"],
  ["dnat bracketed with port", () => Dnat("[2001:db8::1]", 80), "Dnat.destAddr"],
  ["masq reversed", () => Masq("90-80"), "Masq.toPorts", "90-80"],
  ["masq colon range", () => Masq("80:90"), "Masq.toPorts", "80:90"],
  ["masq 65536", () => Masq("65536"), "Masq.toPorts", "65536"],
  ["masq leading zero", () => Masq("080"), "Masq.toPorts", "080"],
  // marks in actions
  ["clear mark 0", () => ClearMark(0), "ClearMark.mark", 0],
  ["set mark 2^32", () => SetMark(2 ** 32), "SetMark.mark"],
  ["masked mark outside mask", () => SetMaskedMark(0x10, 0x0f), "SetMaskedMark.mark", 0x10],
  ["masked mark mask 0", () => SetMaskedMark(0, 0), "SetMaskedMark.mask", 0],
  ["save conn mark negative", () => SaveConnMark(-1), "SaveConnMark.mask", -1],
  ["restore conn mark 2^32", () => RestoreConnMark(2 ** 32), "RestoreConnMark.mask"],
  ["conn mark outside mask", () => SetConnMark(0x10, 0x0f), "SetConnMark.mark", 0x10],
  ["conn mark mask -1", () => SetConnMark(1, -1), "SetConnMark.mask", -1],
  // reject, limits, dscp
  ["reject unknown type", () => A.Reject("icmp-bogus"), "Reject.with", "icmp-bogus"],
  ["reject upper case", () => A.Reject("TCP-RESET"), "Reject.with", "TCP-RESET"],
  ["connlimit negative", () => LimitNumConnections(-1, "tcp-reset"), "LimitNumConnections.num"],
  ["connlimit 2^32", () => LimitNumConnections(2 ** 32, "tcp-reset"), "LimitNumConnections.num"],
  ["connlimit missing type", () => A.LimitNumConnections(1), "LimitNumConnections.rejectWith"],
  ["packet rate 0", () => LimitPacketRate(0, 5, 1), "LimitPacketRate.rate", 0],
  ["packet rate 10001", () => LimitPacketRate(10001, 5, 1), "LimitPacketRate.rate"],
  ["packet burst 0", () => LimitPacketRate(10, 0, 1), "LimitPacketRate.burst", 0],
  ["packet burst 10001", () => LimitPacketRate(10, 10001, 1), "LimitPacketRate.burst"],
  ["packet mark 0", () => LimitPacketRate(10, 5, 0), "LimitPacketRate.mark", 0],
  ["dscp 64", () => Dscp(64), "Dscp.value", 64],
  ["dscp -1", () => Dscp(-1), "Dscp.value", -1],
  ["dscp string", () => (Dscp as (v: unknown) => unknown)("10"), "Dscp.value", "10"],
];

const ALL = [...INJECTIONS, ...SPECIFIC];

Deno.test("validation: the table has at least 60 bad inputs", () => {
  assert.ok(SPECIFIC.length >= 60, `${SPECIFIC.length}`);
  assert.ok(ALL.length >= 200, `${ALL.length}`);
});

for (const [label, call, field, ...value] of ALL) {
  Deno.test(`validation rejects ${label}`, () => {
    let error: unknown;
    try {
      call();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof RuleError, `expected a RuleError, got ${String(error)}`);
    assert.ok(error instanceof TypeError);
    assert.equal(error.name, "RuleError");
    assert.equal(error.field, field);
    if (value.length > 0) assert.deepEqual(error.value, value[0]);
    // House message form: sentence case, names the field, quotes the value, says what is expected.
    assert.match(error.message, new RegExp(`^Invalid ${field.replace(".", "\\.")} .*: expected `));
    assert.ok(!error.message.endsWith("."), error.message);
  });
}

Deno.test("validation: a quoted LOG prefix may hold spaces but never a quote", () => {
  assert.equal(
    Log("drop -j ACCEPT").toFragment(),
    '--jump LOG --log-prefix "drop -j ACCEPT: " --log-level 5',
  );
  assert.equal(
    Log("p".repeat(27)).toFragment(),
    `--jump LOG --log-prefix "${"p".repeat(27)}: " --log-level 5`,
  );
});

Deno.test("validation: good edge values are accepted", () => {
  assert.equal(Match().destPorts(0, 65535).render(), "-m multiport --destination-ports 0,65535");
  assert.equal(Match().inInterface("+").render(), "--in-interface +");
  assert.equal(
    Match().inInterface("a".repeat(14) + "+").render(),
    `--in-interface ${"a".repeat(14)}+`,
  );
  assert.equal(Match().inInterface("vxlan-v6.calico").render(), "--in-interface vxlan-v6.calico");
  assert.equal(Match().sourceIpSet("s".repeat(31)).clauses.length, 1);
  assert.equal(Match().limit("600000/minute").clauses.length, 1);
  assert.equal(Match().limit("864000000/day", 10000).clauses.length, 1);
  assert.equal(Nflog(65535, "n".repeat(63), 4294967295).group, 65535);
  assert.equal(Snat("10.0.0.1:0").toAddr, "10.0.0.1:0");
  assert.equal(Snat("[2001:db8::1-2001:db8::5]:80").toAddr, "[2001:db8::1-2001:db8::5]:80");
  assert.equal(Snat("::ffff:10.0.0.1").toAddr, "::ffff:10.0.0.1");
  assert.equal(
    Dnat("10.0.0.1-10.0.0.2", 80).toFragment(),
    "--jump DNAT --to-destination 10.0.0.1-10.0.0.2:80",
  );
  assert.equal(LimitNumConnections(0, "icmp-port-unreachable").num, 0);
  assert.equal(Dscp(63).value, 63);
  assert.equal(Jump("rp-a.b_c:d").target, "rp-a.b_c:d");
  assert.equal(Jump("accept").target, "accept");
});

Deno.test("limit(): rates and bursts that overflow the kernel's limit arithmetic are refused", () => {
  // Refused by iptables-legacy 1.8.9 at COMMIT: 1/day (default burst 5), 3/hour with burst 10000.
  for (const [rate, burst] of [["1/day", undefined], ["1/day", 4], ["3/hour", 10000]] as const) {
    assert.throws(
      () => Match().limit(rate, burst),
      (e: unknown) => e instanceof RuleError && e.field === "limit" && /overflows/.test(e.message),
    );
  }
  assert.equal(Match().limit("1/day", 1).render(), "-m limit --limit 1/day --limit-burst 1");
  assert.equal(
    Match().limit("5/minute", 10).render(),
    "-m limit --limit 5/minute --limit-burst 10",
  );
});
