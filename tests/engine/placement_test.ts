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
  type PlacementWarningCode,
  Reject,
  type Rule,
  RuleError,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import {
  CASE_CHAIN,
  caseScript,
  DSL_REFUSED,
  DSL_REFUSED_LOSSY,
  type KernelBackend,
  PLACEMENT_CASES,
  placeOf,
  verdictMismatch,
  verdictOf,
  warningsOf,
} from "./placement_cases.ts";

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

/**
 * [name, rule, where, expected message fragment (undefined: passes), the
 * warnings of a rule that passes (default none)]
 */
const CASES: [string, Rule, Partial<Placement>, string | undefined, PlacementWarningCode[]?][] = [
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
  // Both binaries accept these (issue 13): they were refused here before.
  [
    "icmp in IPv6",
    { match: Match().protocol("icmp") },
    { ipVersion: 6 },
    undefined,
    ["never-matches"],
  ],
  [
    "icmpv6 in IPv4",
    { match: Match().protocol("icmpv6") },
    {},
    undefined,
    ["never-matches"],
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
  // An owned chain with -i reached from OUTPUT, or with -o from INPUT: both
  // binaries accept it (issue 13); it was refused here before. It can still
  // match from INPUT; reached only from INPUT, -o never matches.
  [
    "inInterface reached from INPUT and OUTPUT",
    { match: Match().inInterface("eth0") },
    { hooks: hooks("INPUT", "OUTPUT") },
    undefined,
  ],
  [
    "outInterface reached from INPUT",
    { match: Match().outInterface("eth0") },
    {},
    undefined,
    ["never-matches"],
  ],
  [
    "inInterface in the kernel chain OUTPUT",
    { match: Match().inInterface("eth0") },
    { chain: "OUTPUT", hooks: hooks("OUTPUT") },
    `inInterface() is refused by iptables in a chain named OUTPUT ("Can't use -i with OUTPUT")`,
  ],
  [
    "notOutInterface in a chain named INPUT whose hooks are unknown",
    { match: Match().notOutInterface("eth0") },
    { table: "raw", chain: "INPUT", hooks: null },
    `notOutInterface() is refused by iptables in a chain named INPUT ("Can't use -o with INPUT")`,
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

for (const [name, rule, where, expected, warnings] of CASES) {
  Deno.test(`placement: ${name}`, () => {
    if (expected === undefined) {
      const got = checkPlacement(rule, place(where));
      assert.deepEqual(got.map((w) => w.code), warnings ?? []);
      return;
    }
    assert.throws(
      () => checkPlacement(rule, place(where)),
      (e) => {
        assert.ok(e instanceof PlacementError);
        assert.ok(e.message.includes(expected), `${e.message}\n  does not include\n${expected}`);
        assert.equal(e.chain, where.chain ?? "rp-x");
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

// ---- The measured cases: no stricter than the kernel, no laxer -------------------

for (const c of PLACEMENT_CASES) {
  Deno.test(`placement (measured): ${c.name}`, async () => {
    const { chain, hooks } = placeOf(c);
    const where = (backend?: KernelBackend): Placement => ({
      table: c.table,
      ipVersion: c.ipVersion,
      chain,
      list: chain === CASE_CHAIN ? "chain" : "insert",
      ruleIndex: 0,
      hooks,
      ...(backend === undefined ? {} : { backend }),
    });
    const refusedBy: KernelBackend[] = [];
    for (const backend of ["nft", "legacy"] as const) {
      const verdict = verdictOf(c, backend);
      if (verdict === "accepted") {
        // Accepted by the binary: Rampart must not refuse it.
        const warnings = checkPlacement(c.rule, where(backend));
        assert.deepEqual(warnings.map((w) => w.code), warningsOf(c, backend), backend);
        for (const w of warnings) {
          assert.equal(w.kind, "placement");
          assert.equal(w.chain, chain);
          assert.deepEqual(w.hooks, [...hooks]);
          assert.match(w.message, /^Rule 1 of /);
        }
      } else {
        refusedBy.push(backend);
        assert.ok(c.error !== undefined, "a refused case names Rampart's error");
        assert.throws(
          () => checkPlacement(c.rule, where(backend)),
          (e) => e instanceof PlacementError && e.message.includes(c.error!),
          backend,
        );
      }
      // The fake answers like the binary did.
      const fake = new FakeDataplane({ backend });
      const cmd = `${c.ipVersion === 6 ? "ip6tables" : "iptables"}-${backend}-restore`;
      const r = await fake.runner.run(cmd, ["--noflush"], { stdin: caseScript(c) });
      assert.equal(verdictMismatch(verdict, backend, r), undefined, `fake ${backend}`);
    }
    // Without a backend, a rule either backend refuses is refused.
    if (refusedBy.length > 0) assert.throws(() => checkPlacement(c.rule, where()), PlacementError);
    else checkPlacement(c.rule, where());
  });
}

Deno.test("placement (measured): the DSL refuses what iptables refuses anywhere", () => {
  for (const [fragment, , build] of DSL_REFUSED) {
    assert.throws(build, (e) => e instanceof RuleError && /never match protocol/.test(e.message));
    assert.ok(fragment.startsWith("! -p"));
  }
  for (const [, build] of DSL_REFUSED_LOSSY) {
    assert.throws(build, (e) => e instanceof RuleError && /iptables-legacy-save/.test(e.message));
  }
});
