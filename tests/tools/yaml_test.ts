import assert from "assert";
import * as DslActions from "../../dsl/actions.ts";
import {
  Accept,
  ClearMark,
  Dnat,
  Drop,
  Dscp,
  Goto,
  Jump,
  LimitNumConnections,
  LimitPacketRate,
  loadPolicyFile,
  Log,
  Masq,
  Match,
  MATCH_METHODS,
  Nflog,
  NoTrack,
  parsePolicy,
  type Policy,
  PolicyFileError,
  policyForFamily,
  type PolicyRule,
  policyToTypeScript,
  Reject,
  RestoreConnMark,
  Return,
  RuleError,
  SaveConnMark,
  savePolicyFile,
  SetConnMark,
  SetMark,
  SetMaskedMark,
  Snat,
  sourcePositionOf,
  stringifyPolicy,
  tablePolicy,
} from "../../mod.ts";
import { ACTION_SPECS, ACTION_SPECS_BY_KIND, MATCH_SPECS } from "../../src/yaml/schema.ts";

const BAD_DIR = new URL("./yaml_bad/", import.meta.url);
const RULES_YAML = new URL("../../examples/rules.yaml", import.meta.url).pathname;

// ---- malformed files -----------------------------------------------------------------

interface BadCase {
  name: string;
  text: string;
  expect: string;
  field: string;
}

function badCases(): BadCase[] {
  const out: BadCase[] = [];
  for (const entry of Deno.readDirSync(BAD_DIR)) {
    if (!entry.name.endsWith(".yaml")) continue;
    const text = Deno.readTextFileSync(new URL(entry.name, BAD_DIR));
    const expect = /^# expect: (.*)$/m.exec(text)?.[1];
    const field = /^# field: ?(.*)$/m.exec(text)?.[1];
    assert.ok(
      expect !== undefined && field !== undefined,
      `${entry.name} lacks its # expect/# field header`,
    );
    out.push({ name: entry.name, text, expect, field });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : 1);
}

Deno.test("yaml: at least 20 malformed files", () => {
  assert.ok(badCases().length >= 20, `only ${badCases().length} files in tests/tools/yaml_bad`);
});

for (const c of badCases()) {
  Deno.test(`yaml: malformed ${c.name}`, () => {
    let caught: unknown;
    try {
      parsePolicy(c.text, { file: c.name });
    } catch (e) {
      caught = e;
    }
    assert.ok(
      caught instanceof PolicyFileError,
      `${c.name}: expected a PolicyFileError, got ${caught}`,
    );
    assert.ok(caught instanceof SyntaxError);
    assert.ok(
      caught.message.startsWith(c.expect),
      `${c.name}:\n  expected: ${c.expect}\n  actual:   ${caught.message}`,
    );
    assert.equal(caught.field, c.field);
    assert.equal(caught.file, c.name);
    assert.equal(caught.message, `${c.name}:${caught.line}:${caught.column}: ${caught.reason}`);
  });
}

Deno.test("yaml: DSL errors keep the RuleError as cause and point at the value", () => {
  const text = "tables:\n  filter:\n    chains:\n      rp-in:\n        - protocol: tcp\n" +
    "          destPorts: [80, 70000]\n          action: accept\n";
  let e: unknown;
  try {
    parsePolicy(text, { file: "x.yaml" });
  } catch (err) {
    e = err;
  }
  assert.ok(e instanceof PolicyFileError);
  assert.ok(e.cause instanceof RuleError);
  assert.equal(e.line, 6);
  assert.equal(e.column, 27);
  assert.equal(e.field, "tables.filter.chains.rp-in[0].destPorts[1]");
});

Deno.test("yaml: unknown keys list what is allowed", () => {
  try {
    parsePolicy("tables:\n  filter:\n    chain: {}\n");
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof PolicyFileError);
    assert.deepEqual(e.allowed, ["family", "kernelChains", "chains"]);
    assert.match(e.message, /^<string>:3:5: Unknown key "chain".*did you mean "chains"/);
  }
});

Deno.test("yaml: chainPrefixes are enforced when given", () => {
  const text = "tables:\n  filter:\n    chains:\n      mine: []\n";
  assert.equal(parsePolicy(text).tables[0]!.chains[0]!.name, "mine");
  assert.throws(
    () => parsePolicy(text, { chainPrefixes: ["rp-"] }),
    (e: unknown) => e instanceof PolicyFileError && /^<string>:4:7: .*"rp-"/.test(e.message),
  );
});

Deno.test("yaml: alias expansion is bounded", () => {
  const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) {
    lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
  }
  lines.push("tables:\n  filter:\n    chains:\n      rp-x:\n        - comment: *a8");
  assert.throws(() => parsePolicy(lines.join("\n")), PolicyFileError);
});

// ---- the format ---------------------------------------------------------------------------

const V4 = 4 as const;
const V6 = 6 as const;

/** One rule per match method and action constructor, with representative arguments. */
function everyCallPolicy(): Policy {
  const m = Match();
  const matches: PolicyRule[] = [
    { match: m.protocol("tcp") },
    { match: m.notProtocol("udp") },
    { match: m.protocolNum(47) },
    { match: m.notProtocolNum(50) },
    { match: m.sourceNet("10.0.0.0/8"), ipVersion: V4 },
    { match: m.notSourceNet("2001:db8::/32"), ipVersion: V6 },
    { match: m.destNet("192.168.0.0/16"), ipVersion: V4 },
    { match: m.notDestNet("192.168.1.1"), ipVersion: V4 },
    { match: m.sourceIpSet("rp-set") },
    { match: m.notSourceIpSet("rp-set") },
    { match: m.destIpSet("rp-set") },
    { match: m.notDestIpSet("rp-set") },
    { match: m.sourceIpPortSet("rp-set") },
    { match: m.notSourceIpPortSet("rp-set") },
    { match: m.destIpPortSet("rp-set") },
    { match: m.notDestIpPortSet("rp-set") },
    { match: m.protocol("tcp").sourcePorts(1, 2) },
    { match: m.protocol("tcp").notSourcePorts(3) },
    { match: m.protocol("udp").destPorts(53, 5353) },
    { match: m.protocol("udp").notDestPorts(67) },
    {
      match: m.protocol("tcp").sourcePortRanges([{ first: 1000, last: 2000 }, {
        first: 5,
        last: 5,
      }]),
    },
    { match: m.protocol("tcp").notSourcePortRanges([{ first: 1, last: 1023 }]) },
    { match: m.protocol("tcp").destPortRanges([{ first: 6000, last: 6010 }]) },
    { match: m.protocol("tcp").notDestPortRanges([{ first: 7, last: 9 }]) },
    { match: m.inInterface("eth0") },
    { match: m.outInterface("veth+") },
    { match: m.conntrackState(["RELATED", "ESTABLISHED"]) },
    { match: m.notConntrackState("INVALID") },
    { match: m.srcAddrType("LOCAL", true) },
    { match: m.notSrcAddrType("LOCAL") },
    { match: m.destAddrType("LOCAL") },
    { match: m.notDestAddrType("BROADCAST") },
    { match: m.markClear(0x10) },
    { match: m.markNotClear(0x20) },
    { match: m.markSingleBitSet(0x4000) },
    { match: m.markMatchesWithMask(0x100, 0xff00) },
    { match: m.notMarkMatchesWithMask(0x200, 0xff00) },
    { match: m.protocol("icmp").icmpType(8), ipVersion: V4 },
    { match: m.protocol("icmp").notIcmpType(0), ipVersion: V4 },
    { match: m.protocol("icmp").icmpTypeAndCode(3, 4), ipVersion: V4 },
    { match: m.protocol("icmp").notIcmpTypeAndCode(3, 1), ipVersion: V4 },
    { match: m.protocol("ipv6-icmp").icmpV6Type(128), ipVersion: V6 },
    { match: m.protocol("ipv6-icmp").notIcmpV6Type(129), ipVersion: V6 },
    { match: m.protocol("ipv6-icmp").icmpV6TypeAndCode(1, 4), ipVersion: V6 },
    { match: m.protocol("ipv6-icmp").notIcmpV6TypeAndCode(1, 3), ipVersion: V6 },
    { match: m.ipvsConnection() },
    { match: m.notIpvsConnection() },
    { match: m.rpfCheckFailed() },
    { match: m.rpfCheckPassed() },
    { match: m.limit("10/second") },
    { match: m.limit("3/minute", 7) },
    {
      match: m.protocol("tcp").notDestPorts(1, 2).notDestPorts(3),
      comment: ["repeated", "clauses"],
    },
  ];
  const actions: PolicyRule[] = [
    { action: Accept() },
    { action: Drop() },
    { action: Return() },
    { action: Jump("rp-x") },
    { action: Goto("rp-x") },
    { action: Log("dropped") },
    { action: Masq() },
    { action: Masq("1024-65535") },
    { action: Snat("192.0.2.1"), ipVersion: V4 },
    { action: Dnat("10.0.0.5", 80), ipVersion: V4 },
    { action: Dnat("10.0.0.6"), ipVersion: V4 },
    { action: Dnat("2001:db8::5", 8080), ipVersion: V6 },
    { action: NoTrack() },
    { action: ClearMark(0x10) },
    { action: SetMark(0x20) },
    { action: SetMaskedMark(0x100, 0xff00) },
    { action: Reject() },
    { action: Reject("tcp-reset"), match: m.protocol("tcp") },
    { action: SaveConnMark() },
    { action: SaveConnMark(0xff) },
    { action: RestoreConnMark(0xff00) },
    { action: SetConnMark(0x10) },
    { action: SetConnMark(0x10, 0xff) },
    { action: Nflog(5, "blocked") },
    { action: Nflog(6, "audit", 128) },
    { action: LimitPacketRate(100, 200, 0x80) },
    { action: LimitNumConnections(50, "tcp-reset") },
    { action: Dscp(46) },
    { comment: "counts only" },
  ];
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("mangle", {
        chains: [
          { name: "rp-matches", rules: matches },
          { name: "rp-actions", rules: actions },
          { name: "rp-v6", ipVersion: 6, rules: [{ action: Accept() }] },
          { name: "rp-x", rules: [] },
        ],
        insertions: { PREROUTING: [{ action: Jump("rp-matches") }], INPUT: [] },
        appends: { POSTROUTING: [{ action: Jump("rp-actions"), comment: "end" }] },
        policies: { FORWARD: "DROP" },
      }),
      tablePolicy("nat", { ipVersion: 4, policies: { OUTPUT: "ACCEPT" } }),
      tablePolicy("filter"),
    ],
  };
}

Deno.test("yaml: the vocabulary covers every Match method and action constructor", () => {
  const methods = MATCH_METHODS;
  for (const name of methods) assert.ok(MATCH_SPECS.has(name), `no YAML key for Match().${name}`);
  for (const name of MATCH_SPECS.keys()) {
    assert.ok(methods.includes(name), `Match().${name} missing`);
  }
  const ctors = Object.entries(DslActions).filter(([name, v]) =>
    typeof v === "function" && /^[A-Z]/.test(name) && !name.endsWith("Action")
  ).map(([name]) => name);
  for (const name of ctors) assert.ok(ACTION_SPECS_BY_KIND.has(name), `no YAML key for ${name}()`);
  for (const spec of ACTION_SPECS.values()) {
    assert.ok(ctors.includes(spec.name), `${spec.name} missing`);
  }
  // and the sample policy uses every one of them
  const used = new Set<string>();
  for (const c of everyCallPolicy().tables[0]!.chains) {
    for (const r of c.rules) {
      for (const clause of r.match?.clauses ?? []) used.add(clause.method);
      if (r.action !== undefined) used.add(r.action.kind);
    }
  }
  for (const name of [...MATCH_SPECS.keys(), ...ACTION_SPECS_BY_KIND.keys()]) {
    assert.ok(used.has(name), `the sample policy does not use ${name}`);
  }
});

Deno.test("yaml: every match method and action round-trips", () => {
  const policy = everyCallPolicy();
  const text = stringifyPolicy(policy);
  const loaded = parsePolicy(text);
  assert.deepStrictEqual(loaded, policy);
  assert.equal(stringifyPolicy(loaded), text);
  // renders the same rules, byte for byte
  const render = (p: Policy) =>
    p.tables.flatMap((t) =>
      t.chains.flatMap((c) => c.rules.map((r) => [r.match?.render(), r.action?.toFragment()]))
    );
  assert.deepStrictEqual(render(loaded), render(policy));
});

Deno.test("yaml: marks are written in hex, repeated clauses as a match list", () => {
  const text = stringifyPolicy(everyCallPolicy());
  assert.match(text, /setMaskedMark: \{mark: 0x100, mask: 0xff00\}/);
  assert.match(text, /markSingleBitSet: 0x4000/);
  assert.match(
    text,
    /match:\n\s+- \{protocol: tcp\}\n\s+- \{notDestPorts: \[1, 2\]\}\n\s+- \{notDestPorts: \[3\]\}/,
  );
  assert.match(text, /sourcePortRanges: \[1000:2000, 5\]/);
  assert.match(text, /family: ipv4/);
});

Deno.test("yaml: examples/rules.yaml loads and round-trips", async () => {
  const policy = await loadPolicyFile(RULES_YAML);
  assert.deepEqual(policy.tables.map((t) => t.table), ["raw", "mangle", "nat", "filter"]);
  const text = stringifyPolicy(policy);
  const again = parsePolicy(text);
  assert.deepStrictEqual(again, policy);
  assert.equal(stringifyPolicy(again), text);
  const dir = await Deno.makeTempDir();
  try {
    await savePolicyFile(`${dir}/rules.yaml`, policy);
    assert.deepStrictEqual(await loadPolicyFile(`${dir}/rules.yaml`), policy);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const v6 = policyForFamily(policy, 6);
  assert.ok(!v6.some((t) => t.table === "nat"), "the nat table is for IPv4 only");
  const filter6 = v6.find((t) => t.table === "filter")!;
  assert.ok(!filter6.chains.some((c) => c.name === "rp-icmp"));
  assert.ok(filter6.chains.some((c) => c.name === "rp-icmpv6"));
});

Deno.test("yaml: shorthands load as their canonical forms", () => {
  const text = `
tables:
  nat:
    family: ipv4
    kernelChains:
      POSTROUTING:
        append:
          - masq: 8080
          - masq: true
          - drop: true
          - action: ACCEPT
          - dnat: 10.0.0.1
          - protocol: tcp
            destPorts: 22
            destPortRanges: [{first: 1, last: 2}, "3-4", 5]
          - &ssh
            protocol: tcp
            destPorts: [22]
            action: accept
          - *ssh
`;
  const rules = parsePolicy(text).tables[0]!.appends.POSTROUTING!;
  assert.deepEqual(rules[0]!.action!.args, ["8080"]);
  assert.deepEqual(rules[1]!.action!.args, []);
  assert.equal(rules[2]!.action!.kind, "Drop");
  assert.equal(rules[3]!.action!.kind, "Accept");
  assert.deepEqual(rules[4]!.action!.args, ["10.0.0.1"]);
  assert.deepEqual(rules[5]!.match!.clauses[1]!.args, [22]);
  assert.deepEqual(rules[5]!.match!.clauses[2]!.args, [[{ first: 1, last: 2 }, {
    first: 3,
    last: 4,
  }, {
    first: 5,
    last: 5,
  }]]);
  assert.deepStrictEqual(rules[7], rules[6]);
});

Deno.test("yaml: sourcePositionOf locates loaded rules, chains and tables", () => {
  const text =
    "tables:\n  filter:\n    chains:\n      rp-a:\n        - action: accept\n        - action: drop\n";
  const p = parsePolicy(text, { file: "p.yaml" });
  const t = p.tables[0]!;
  assert.deepEqual(sourcePositionOf(t), {
    file: "p.yaml",
    line: 2,
    column: 3,
    field: "tables.filter",
  });
  assert.equal(sourcePositionOf(t.chains[0]!)?.line, 4);
  assert.deepEqual(sourcePositionOf(t.chains[0]!.rules[1]!), {
    file: "p.yaml",
    line: 6,
    column: 11,
    field: "tables.filter.chains.rp-a[1]",
  });
  assert.equal(sourcePositionOf({}), undefined);
});

Deno.test("yaml: a top-level family restricts every table", () => {
  const p = parsePolicy(
    "family: ipv6\ntables:\n  filter:\n    chains:\n      rp-a:\n        - sourceNet: 2001:db8::/32\n",
  );
  assert.deepEqual(p.ipVersions, [6]);
  assert.deepEqual(policyForFamily(p, 4), []);
  assert.match(stringifyPolicy(p), /^family: ipv6$/m);
});

Deno.test("yaml: a top-level ruleIds key loads, round-trips and is checked", () => {
  const text = "family: ipv4\nruleIds: chained\ntables:\n  filter:\n    chains:\n      rp-a: []\n";
  const p = parsePolicy(text);
  assert.equal(p.ruleIds, "chained");
  const saved = stringifyPolicy(p);
  assert.match(saved, /^family: ipv4\nruleIds: chained\ntables:$/m);
  assert.equal(stringifyPolicy(parsePolicy(saved)), saved);
  assert.equal(parsePolicy(saved.replace("chained", "stable")).ruleIds, "stable");
  assert.equal(parsePolicy("tables: {}\n").ruleIds, undefined);
  assert.doesNotMatch(stringifyPolicy(parsePolicy("tables: {}\n")), /ruleIds/);
  assert.throws(
    () => parsePolicy("ruleIds: felix\ntables: {}\n", { file: "r.yaml" }),
    (e: unknown) => {
      assert.ok(e instanceof PolicyFileError);
      assert.equal(e.message, 'r.yaml:1:10: Invalid ruleIds "felix": expected stable or chained');
      assert.equal(e.field, "ruleIds");
      return true;
    },
  );
  assert.match(policyToTypeScript(p), /^ {2}ruleIds: "chained",$/m);
});

// ---- TypeScript export ----------------------------------------------------------------------------

Deno.test("ts export: the generated module rebuilds the same policy", async () => {
  for (const policy of [everyCallPolicy(), await loadPolicyFile(RULES_YAML)]) {
    const source = policyToTypeScript(policy, {
      moduleSpecifier: new URL("../../mod.ts", import.meta.url).href,
    });
    assert.match(source, /^import \{ .*type Policy \} from /m);
    const dir = await Deno.makeTempDir();
    try {
      const file = `${dir}/policy.ts`;
      await Deno.writeTextFile(file, source);
      const mod = await import(`file://${file}`);
      assert.deepStrictEqual(mod.policy, policy);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("ts export: marks in hex, default import specifier", () => {
  const source = policyToTypeScript({
    ipVersions: [4],
    tables: [
      tablePolicy("mangle", {
        insertions: { PREROUTING: [{ action: SetMaskedMark(0x100, 0xff00) }] },
      }),
    ],
  });
  assert.match(source, /from "@rampart\/iptables";/);
  assert.match(source, /SetMaskedMark\(0x100, 0xff00\)/);
  assert.throws(
    () => policyToTypeScript({ ipVersions: [4], tables: [] }, { exportName: "a b" }),
    TypeError,
  );
});
