/**
 * Placement checks, one case per rule of `checkPlacement`: what passes, and
 * the message of what does not.
 */
import assert from "assert";
import {
  Accept,
  checkPlacement,
  Dnat,
  Drop,
  type Hook,
  LimitNumConnections,
  Masq,
  Match,
  NoTrack,
  type Placement,
  PlacementError,
  Reject,
  type Rule,
} from "../../mod.ts";

function place(overrides: Partial<Placement> = {}): Placement {
  return {
    table: "filter",
    ipVersion: 4,
    chain: "rp-x",
    list: "chain",
    ruleIndex: 3,
    hooks: new Set<Hook>(["INPUT"]),
    ...overrides,
  };
}

function hooks(...names: Hook[]): Set<Hook> {
  return new Set(names);
}

/** [name, rule, where, expected message fragment (undefined: passes)] */
const CASES: [string, Rule, Partial<Placement>, string | undefined][] = [
  [
    "ports after tcp",
    { match: Match().protocol("tcp").destPorts(80, 443), action: Accept() },
    {},
    undefined,
  ],
  ["protocol number 6 is tcp", { match: Match().protocolNum(6).destPorts(22) }, {}, undefined],
  ["no match at all", { action: Accept() }, {}, undefined],
  [
    "two protocols",
    { match: Match().protocol("tcp").notProtocol("udp") },
    {},
    "a rule can match only one protocol (-p)",
  ],
  [
    "LimitNumConnections renders its own -p tcp",
    { match: Match().protocol("tcp"), action: LimitNumConnections(10, "tcp-reset") },
    {},
    "a rule can match only one protocol (-p)",
  ],
  [
    "-s twice",
    { match: Match().sourceNet("10.0.0.0/8").notSourceNet("10.1.0.0/16") },
    {},
    "sourceNet() and notSourceNet() both use -s, which iptables allows once per rule",
  ],
  [
    "-d twice",
    { match: Match().destNet("10.0.0.0/8").protocol("tcp").destNet("10.1.0.0/16") },
    {},
    "destNet() and destNet() both use -d",
  ],
  [
    "-i twice",
    { match: Match().inInterface("eth0").inInterface("eth1") },
    {},
    "inInterface() and inInterface() both use -i",
  ],
  [
    "-o twice",
    { match: Match().outInterface("eth0").outInterface("eth1") },
    { hooks: hooks("OUTPUT") },
    "outInterface() and outInterface() both use -o",
  ],
  [
    "icmp in IPv6",
    { match: Match().protocol("icmp") },
    { ipVersion: 6 },
    'protocol "icmp" is IPv4 only',
  ],
  [
    "icmpv6 in IPv4",
    { match: Match().protocol("icmpv6") },
    {},
    'protocol "icmpv6" is IPv6 only',
  ],
  [
    "ports without a protocol",
    { match: Match().destPorts(80) },
    {},
    "destPorts() needs a positive protocol match of tcp, udp, udplite, sctp or dccp first",
  ],
  [
    "ports after a negated protocol",
    { match: Match().notProtocol("udp").sourcePorts(53) },
    {},
    "sourcePorts() needs a positive protocol match",
  ],
  [
    "ports after icmp",
    { match: Match().protocol("icmp").destPortRanges([{ first: 1, last: 2 }]) },
    {},
    "destPortRanges() needs a positive protocol match",
  ],
  [
    "icmpType in IPv6",
    { match: Match().protocol("icmpv6").icmpType(8) },
    { ipVersion: 6 },
    "icmpType() is IPv4 only; use icmpV6Type() in an IPv6 table",
  ],
  [
    "icmpType without protocol icmp",
    { match: Match().icmpTypeAndCode(3, 4) },
    {},
    'icmpTypeAndCode() needs protocol("icmp") first',
  ],
  [
    "icmpV6Type in IPv4",
    { match: Match().protocol("icmp").icmpV6Type(128) },
    {},
    "icmpV6Type() is IPv6 only; use icmpType() in an IPv4 table",
  ],
  [
    "icmpV6Type after icmpv6 in IPv6",
    { match: Match().protocol("icmpv6").icmpV6Type(128) },
    { ipVersion: 6 },
    undefined,
  ],
  [
    "an IPv6 address in IPv4",
    { match: Match().destNet("2001:db8::/32") },
    {},
    'destNet("2001:db8::/32") is an IPv6 address in an IPv4 table',
  ],
  [
    "an IPv4 address in IPv6",
    { match: Match().notSourceNet("10.0.0.0/8") },
    { ipVersion: 6 },
    'notSourceNet("10.0.0.0/8") is an IPv4 address in an IPv6 table',
  ],
  [
    "an address type IPv6 lacks",
    { match: Match().destAddrType("BROADCAST") },
    { ipVersion: 6 },
    `destAddrType("BROADCAST") is not supported for IPv6`,
  ],
  ["the same address type in IPv4", { match: Match().destAddrType("BROADCAST") }, {}, undefined],
  [
    "rpfilter outside raw and mangle",
    { match: Match().rpfCheckFailed() },
    { hooks: hooks("PREROUTING") },
    "rpfCheckFailed() (rpfilter) works only in the raw and mangle tables",
  ],
  [
    "rpfilter reached from OUTPUT",
    { match: Match().rpfCheckPassed() },
    { table: "raw", hooks: hooks("PREROUTING", "OUTPUT") },
    "rpfCheckPassed() (rpfilter) works only in PREROUTING, but the chain is reached from PREROUTING, OUTPUT",
  ],
  [
    "rpfilter in raw PREROUTING",
    { match: Match().rpfCheckFailed() },
    { table: "raw", hooks: hooks("PREROUTING") },
    undefined,
  ],
  [
    "inInterface reached from OUTPUT",
    { match: Match().inInterface("eth0") },
    { hooks: hooks("INPUT", "OUTPUT") },
    "inInterface() cannot match in OUTPUT or POSTROUTING (the chain is reached from INPUT, OUTPUT)",
  ],
  [
    "outInterface reached from INPUT",
    { match: Match().outInterface("eth0") },
    {},
    "outInterface() cannot match in INPUT or PREROUTING (the chain is reached from INPUT)",
  ],
  [
    "interfaces where the hooks are unknown",
    { match: Match().inInterface("eth0").rpfCheckFailed() },
    { table: "mangle", hooks: null },
    undefined,
  ],
  [
    "limitIfaceOut reached from INPUT",
    { match: Match().srcAddrType("LOCAL", true) },
    {},
    "srcAddrType(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING",
  ],
  [
    "limitIfaceOut reached from OUTPUT",
    { match: Match().notSrcAddrType("LOCAL", true) },
    { hooks: hooks("OUTPUT") },
    undefined,
  ],
  [
    "Drop in nat",
    { action: Drop() },
    { table: "nat", hooks: hooks("PREROUTING") },
    "Drop() is refused in the nat table",
  ],
  ["Dnat in filter", { action: Dnat("10.0.0.1") }, {}, "Dnat() works only in the nat table"],
  [
    "Dnat reached from POSTROUTING",
    { action: Dnat("10.0.0.1") },
    { table: "nat", hooks: hooks("PREROUTING", "POSTROUTING") },
    "Dnat() works only in PREROUTING, OUTPUT, but the chain is reached from POSTROUTING",
  ],
  [
    "Dnat to an IPv6 address in IPv4",
    { action: Dnat("2001:db8::1") },
    { table: "nat", hooks: hooks("PREROUTING") },
    "Dnat() is given an IPv6 address in an IPv4 table",
  ],
  [
    "Dnat with a port and no protocol",
    { action: Dnat("10.0.0.1", 8080) },
    { table: "nat", hooks: hooks("PREROUTING") },
    "Dnat() with a port needs protocol tcp, udp, sctp or dccp",
  ],
  [
    "Dnat with a port after udp",
    { match: Match().protocol("udp"), action: Dnat("10.0.0.1", 8080) },
    { table: "nat", hooks: hooks("PREROUTING") },
    undefined,
  ],
  [
    "Masq with ports and no protocol",
    { action: Masq("1024-2048") },
    { table: "nat", hooks: hooks("POSTROUTING") },
    "Masq() with to-ports needs protocol tcp, udp, sctp or dccp",
  ],
  [
    "tcp-reset without tcp",
    { action: Reject("tcp-reset") },
    {},
    'reject type "tcp-reset" needs protocol("tcp")',
  ],
  [
    "an IPv4 reject type in IPv6",
    { action: Reject("icmp-port-unreachable") },
    { ipVersion: 6 },
    'reject type "icmp-port-unreachable" is not valid for IPv6',
  ],
  ["NoTrack in filter", { action: NoTrack() }, {}, "NoTrack() works only in the raw table"],
];

for (const [name, rule, where, expected] of CASES) {
  Deno.test(`placement: ${name}`, () => {
    if (expected === undefined) {
      checkPlacement(rule, place(where));
      return;
    }
    assert.throws(
      () => checkPlacement(rule, place(where)),
      (e) => {
        assert.ok(e instanceof PlacementError);
        assert.ok(e.message.includes(expected), `${e.message}\n  does not include\n${expected}`);
        assert.equal(e.chain, "rp-x");
        assert.equal(e.ruleIndex, 3);
        return true;
      },
    );
  });
}

Deno.test("placement: the message names the rule and where it is", () => {
  assert.throws(
    () =>
      checkPlacement(
        { match: Match().destPorts(80) },
        place({ list: "insert", chain: "INPUT", ruleIndex: 0, ipVersion: 6 }),
      ),
    (e) =>
      e instanceof PlacementError && e.list === "insert" &&
      e.message.startsWith(
        'Cannot place rule 1 of the insert list of chain "INPUT" (filter, IPv6): destPorts()',
      ),
  );
});

Deno.test("placement: the first failing clause is reported, in clause order", () => {
  assert.throws(
    () => checkPlacement({ match: Match().icmpType(8).destPorts(80) }, place()),
    /icmpType\(\) needs protocol\("icmp"\) first/,
  );
  assert.throws(
    () => checkPlacement({ match: Match().destPorts(80).icmpType(8) }, place()),
    /destPorts\(\) needs a positive protocol match/,
  );
});
