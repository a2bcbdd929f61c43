import assert from "assert";
import * as DslActions from "../../dsl/actions.ts";
import {
  Accept,
  ClearMark,
  DanglingReferenceError,
  Dnat,
  Drop,
  Dscp,
  Firewall,
  Goto,
  Jump,
  LimitNumConnections,
  LimitPacketRate,
  Log,
  Masq,
  Match,
  MATCH_METHODS,
  Nflog,
  NoTrack,
  type Policy,
  policyForFamily,
  type PolicyRule,
  policyToTypeScript,
  Reject,
  RestoreConnMark,
  Return,
  RuleError,
  SaveConnMark,
  SetConnMark,
  SetMark,
  SetMaskedMark,
  Snat,
  tablePolicy,
} from "../../mod.ts";
import {
  loadPolicyFile,
  parsePolicy,
  PolicyFileError,
  savePolicyFile,
  sourcePositionOf,
  stringifyPolicy,
} from "../../yaml.ts";
import { isMap, isScalar, isSeq, parseDocument } from "yaml";
import { FakeDataplane } from "../../testing.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import { YamlDocument } from "../../src/yaml/document.ts";
import { ACTION_SPECS, ACTION_SPECS_BY_KIND, MATCH_SPECS } from "../../dsl/rule_schema.ts";

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
  assert.ok(badCases().length >= 20, `only ${badCases().length} files in tests/yaml/yaml_bad`);
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

function errorOf(fn: () => unknown): PolicyFileError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolicyFileError) return e;
    throw e;
  }
  throw new Error("no error");
}

async function asyncErrorOf(p: Promise<unknown>): Promise<PolicyFileError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PolicyFileError) return e;
    throw e;
  }
  throw new Error("no error");
}

Deno.test("yaml: a billion-laughs alias bomb is refused where the aliases expand", () => {
  const lines = ["tables:", "  filter:", "    chains:", "      rp-x:", "        - comment:"];
  lines.push("            &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]");
  for (let i = 1; i < 10; i++) {
    lines.push(`        - comment: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
  }
  const e = errorOf(() => parsePolicy(lines.join("\n") + "\n", { file: "bomb.yaml" }));
  assert.match(
    e.message,
    /^bomb\.yaml:\d+:\d+: Invalid YAML: Too many nodes: aliases expand the file beyond/,
  );
  assert.equal(e.field, "");
});

Deno.test("yaml: recursive aliases and unknown tags are refused", () => {
  assert.match(
    errorOf(() => parsePolicy("a: &x [1, *x]\n")).message,
    /^<string>:1:11: Invalid YAML: Alias \*x refers to a collection that contains it/,
  );
  assert.match(
    errorOf(() => parsePolicy("tables: !custom {}\n")).message,
    /^<string>:1:9: Invalid YAML: Unsupported tag !custom/,
  );
  assert.match(
    errorOf(() => parsePolicy("tables: {}\n---\ntables: {}\n")).message,
    /^<string>:2:1: Invalid YAML: A policy file holds one YAML document/,
  );
});

Deno.test("yaml: deep nesting is an error, not a crash", () => {
  for (
    const text of [
      "tables: " + "[".repeat(10_000) + "]".repeat(10_000) + "\n",
      "tables:\n" + Array.from({ length: 1_000 }, (_, i) => `${" ".repeat(i + 1)}- \n`).join(""),
      "tables:\n" + Array.from({ length: 1_000 }, (_, i) => `${" ".repeat(i + 1)}a:\n`).join(""),
    ]
  ) {
    const e = errorOf(() => parsePolicy(text, { file: "deep.yaml" }));
    assert.match(e.message, /^deep\.yaml:\d+:\d+: Invalid YAML: Nested deeper than 64 levels/);
  }
});

Deno.test("yaml: YAML 1.2 scalars (yes/no/on are strings, 0x10 a number, 1000:2000 a string)", () => {
  const p = parsePolicy(`
tables:
  mangle:
    chains:
      rp-a:
        - comment: [yes, no, on, off, y, "0x10"]
          protocol: tcp
          destPortRanges: [1000:2000]
          markClear: 0x10
          action: accept
`);
  const rule = p.tables[0]!.chains[0]!.rules[0]!;
  assert.deepEqual(rule.comment, ["yes", "no", "on", "off", "y", "0x10"]);
  assert.deepEqual(rule.match!.clauses[1]!.args, [[{ first: 1000, last: 2000 }]]);
  assert.deepEqual(rule.match!.clauses[2]!.args, [16]);
  // a number or boolean comment is kept as written
  const q = parsePolicy("tables:\n  filter:\n    chains:\n      rp-a:\n        - comment: 0x10\n");
  assert.equal(q.tables[0]!.chains[0]!.rules[0]!.comment, "0x10");
});

Deno.test("yaml: a 50,000-rule file without aliases loads", () => {
  let text = "family: ipv4\ntables:\n  filter:\n    chains:\n";
  const rules = 50_000, perChain = 500;
  for (let c = 0; c < rules / perChain; c++) {
    text += `      rp-c${c}:\n`;
    for (let r = 0; r < perChain; r++) {
      const i = c * perChain + r;
      text += `        - comment: rule ${i}\n          protocol: tcp\n` +
        `          sourceNet: 10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32\n` +
        `          destPorts: [${1000 + (i % 5000)}, 443]\n          action: accept\n`;
    }
  }
  const policy = parsePolicy(text, { file: "big.yaml" });
  const chains = policy.tables[0]!.chains;
  assert.equal(chains.reduce((n, c) => n + c.rules.length, 0), rules);
  const last = chains.at(-1)!.rules.at(-1)!;
  assert.equal(last.comment, `rule ${rules - 1}`);
  assert.equal(
    last.match!.render(),
    "-p tcp --source 10.0.195.79/32 -m multiport --destination-ports 5999,443",
  );
  assert.equal(sourcePositionOf(last)?.line, text.split("\n").length - 5);
});

Deno.test("yaml: node positions agree with npm:yaml's on mutated files", () => {
  // The loader's parser (js-yaml's events) and npm:yaml (the saver's library,
  // and the loader's before) must place every node at the same offset and
  // give every scalar the same value, so that errors keep their line:column.
  const sources = [...Deno.readDirSync(BAD_DIR)].map((e) =>
    Deno.readTextFileSync(new URL(e.name, BAD_DIR))
  ).concat(Deno.readTextFileSync(RULES_YAML), stringifyPolicy(everyCallPolicy()));
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  // Not "? ": npm:yaml places a compact mapping inside an explicit key at its ":".
  const pieces = [
    " ",
    "\n",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "'",
    '"',
    "&a ",
    "*a",
    "!!str ",
  ];
  let compared = 0;
  for (let t = 0; t < 600; t++) {
    let text = sources[random(sources.length)]!;
    for (let k = 0; k <= random(3); k++) {
      const at = random(text.length);
      text = random(2) === 0
        ? text.slice(0, at) + pieces[random(pieces.length)] + text.slice(at)
        : text.slice(0, at) + text.slice(at + 1 + random(3));
    }
    const reference = parseDocument(text, { uniqueKeys: true });
    let ours: YamlDocument | undefined;
    try {
      ours = YamlDocument.parse(text);
    } catch {
      ours = undefined;
    }
    // The two parsers disagree on a few broken texts (e.g. a key line
    // starting with ":"): only texts both accept are compared.
    if (ours === undefined || reference.errors.length > 0) continue;
    const walk = (a: unknown, b: number | undefined): void => {
      if (a === null || a === undefined || b === undefined) return;
      compared++;
      assert.equal(ours!.offset(b), (a as { range: number[] }).range[0], `offset in:\n${text}`);
      if (isScalar(a)) assert.ok(Object.is(ours!.value(b), a.value), `value in:\n${text}`);
      else if (isSeq(a)) a.items.forEach((item, i) => walk(item, ours!.items(b)[i]));
      else if (isMap(a)) {
        a.items.forEach((pair, i) => {
          walk(pair.key, ours!.pairs(b)[i]?.[0]);
          walk(pair.value, ours!.pairs(b)[i]?.[1]);
        });
      }
    };
    walk(reference.contents, ours.root);
  }
  assert.ok(compared > 4_000, `only ${compared} nodes compared`);
});

Deno.test("yaml: loadPolicyFile refuses oversized, endless and non-UTF-8 input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = `${dir}/big.yaml`;
    await Deno.writeTextFile(big, "tables: {}\n" + "#".repeat(2000) + "\n");
    const e = await asyncErrorOf(loadPolicyFile(big, { maxBytes: 1000 }));
    assert.match(e.message, /big\.yaml:1:1: File larger than 1000 bytes: .*--max-file-size/);
    assert.deepEqual((await loadPolicyFile(big, { maxBytes: 4000 })).tables, []);
    const zero = await asyncErrorOf(loadPolicyFile("/dev/zero", { maxBytes: 4 * 1024 * 1024 }));
    assert.match(zero.message, /^\/dev\/zero:1:1: File larger than 4 MiB/);
    const latin1 = `${dir}/latin1.yaml`;
    await Deno.writeFile(
      latin1,
      new Uint8Array([...new TextEncoder().encode("a: 1\nb: caf"), 0xe9]),
    );
    assert.match(
      (await asyncErrorOf(loadPolicyFile(latin1))).message,
      /latin1\.yaml:2:7: Invalid text: expected UTF-8/,
    );
    const bad = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      bad,
      Deno.readTextFileSync(new URL("01_syntax_unclosed_list.yaml", BAD_DIR)),
    );
    // syntax errors read from a file are worded as parsePolicy words them
    assert.match(
      (await asyncErrorOf(loadPolicyFile(bad))).message,
      /bad\.yaml:9:11: Invalid YAML: Flow sequence in block collection must be/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
    { match: m.notInInterface("docker0") },
    { match: m.notOutInterface("docker+") },
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
    // Issue 16
    { match: m.protocol("tcp").tcp() },
    {
      match: m.protocol("tcp").tcp({
        sourcePort: { first: 1024, last: 65535 },
        notDestPort: 22,
        notOption: 2,
        flags: { mask: ["SYN", "RST"], set: ["SYN"] },
      }),
    },
    { match: m.protocol("tcp").tcp({ syn: true, notSourcePort: 53 }) },
    { match: m.protocol("udp").udp({ sourcePort: 68, destPort: 67 }) },
    { match: m.exactComment("k8s 'portals'") },
    { match: m.state(["RELATED", "ESTABLISHED"]) },
    { match: m.notState("NEW") },
    { match: m.ttl("lt", 5), ipVersion: V4 },
    { match: m.hopLimit("eq", 255), ipVersion: V6 },
    { match: m.recent({ mode: "update", name: "ssh", seconds: 60, hitcount: 4, rttl: true }) },
    { match: m.notRecent({ mode: "rcheck", mask: "255.255.255.0", dest: true }), ipVersion: V4 },
    { match: m.statistic({ mode: "random", probability: 0.25 }) },
    { match: m.statistic({ mode: "nth", every: 3, packet: 1 }) },
    { match: m.owner({ uid: { first: 0, last: 999 }, notGid: 5, socketExists: true }) },
    { match: m.packetType("broadcast") },
    { match: m.notPacketType("multicast") },
    { match: m.sourceMac("52:54:00:12:34:56") },
    { match: m.notSourceMac("52:54:00:12:34:57") },
    {
      match: m.ipRange({ source: "10.0.0.1-10.0.0.9", notDest: "10.1.0.1-10.1.0.2" }),
      ipVersion: V4,
    },
    { match: m.length(0, 28) },
    { match: m.notLength(100) },
    { match: m.protocol("tcp").tcpMss(1400, 65495) },
    { match: m.protocol("tcp").notTcpMss(536) },
    { match: m.connLimit({ above: 16, mask: 24, dest: true }) },
    { match: m.routingHeaderType(0), ipVersion: V6 },
    { match: m.notRoutingHeaderType(2), ipVersion: V6 },
    { match: m.packetDscp(46) },
    { match: m.notPacketDscp(0) },
    { match: m.tos(0x10, 0x3f) },
    { match: m.notTos(0x8) },
    { match: m.helper("ftp") },
    { match: m.physDev({ in: "vnet0", isBridged: true, notIsOut: true }) },
    { match: m.fragment(), ipVersion: V4 },
    { match: m.notFragment(), ipVersion: V4 },
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
    {
      action: DslActions.Masq("1024-65535", { random: true, randomFully: false }),
      match: m.protocol("tcp"),
    },
    { action: DslActions.Masq(undefined, { randomFully: true }) },
    {
      action: DslActions.Snat("10.0.0.1", { persistent: true, randomFully: false }),
      ipVersion: V4,
    },
    { action: DslActions.LogPacket() },
    { action: DslActions.LogPacket({ prefix: "[UFW BLOCK] ", level: 7, uid: true }) },
    { action: DslActions.XorMark(0x4000) },
    { action: DslActions.Ct({ notrack: true }) },
    { action: DslActions.Ct({ helper: "ftp", zone: 5 }) },
    { action: DslActions.Redirect() },
    { action: DslActions.Redirect("3128", { random: true }), match: m.protocol("tcp") },
    { action: DslActions.ClampMssToPmtu() },
    { action: DslActions.SetMss(1360) },
    { action: DslActions.ChecksumFill() },
    { action: DslActions.ChangeTtl("set", 64), ipVersion: V4 },
    { action: DslActions.ChangeHopLimit("dec", 1), ipVersion: V6 },
    { action: DslActions.Classify(1, 0x10) },
    { action: DslActions.Audit("reject") },
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
  // an action is located at its value
  const j = parsePolicy("tables:\n  filter:\n    chains:\n      rp-a:\n        - jump: rp-b\n", {
    file: "j.yaml",
  });
  assert.deepEqual(sourcePositionOf(j.tables[0]!.chains[0]!.rules[0]!.action!), {
    file: "j.yaml",
    line: 5,
    column: 17,
    field: "tables.filter.chains.rp-a[0].jump",
  });
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

// ---- hostile text in every value of a file ------------------------------------------------

/** What a firewall of the policy would write (on the fake), table by table. */
async function plannedScripts(policy: Policy): Promise<string[]> {
  const fake = new FakeDataplane();
  fake.ipsets.add("rp-set");
  const firewall = new Firewall({ runner: fake.runner, ipVersions: policy.ipVersions });
  firewall.setPolicy(policy);
  return (await firewall.plan()).tables.map((t) => t.script);
}

const HOSTILE_VALUES = [
  'x" -j DROP -m comment --comment "rampart:AAAAAAAAAAAAAAAA',
  "x -j DROP",
  "x\n-A INPUT -j DROP",
  "x\r\n:INPUT DROP [0:0]",
  'x\\" -j DROP \\',
  "x\u0000y",
  "-j rp-x",
  "\u00e4 -g rp-x",
  "x'; reboot; '",
  "rp-x -j DROP",
];

Deno.test("yaml: hostile text in any value or chain name of a file is refused, or what is written keeps its lines and arguments", async () => {
  // examples/rules.yaml, and the string-valued keys it does not use.
  const example = parseDocument(await Deno.readTextFile(RULES_YAML));
  example.setIn(
    ["tables", "filter", "chains", "rp-extra"],
    example.createNode([
      { sourceIpSet: "rp-set", nflog: { group: 5, prefix: "blocked" } },
      { notInInterface: "docker0", destAddrType: "LOCAL", log: "extra: " },
      { notSourceIpSet: "rp-set", notConntrackState: ["INVALID"], action: "return" },
    ]),
  );
  example.addIn(["tables", "filter", "kernelChains", "INPUT", "insert"], { jump: "rp-extra" });
  example.addIn(["tables", "nat", "kernelChains", "POSTROUTING", "append"], {
    protocol: "tcp",
    outInterface: "eth1",
    masq: "1024-65535",
  });
  const base = example.toString();
  const shape = (scripts: string[]) =>
    scripts.map((s) => s.split("\n").map((l) => tokenizeRestoreLine(l).length).join(","));
  const loaded = parsePolicy(base, { chainPrefixes: ["rp-"] });
  const baseline = shape(await plannedScripts(loaded));
  // Every scalar value, and every owned chain's name (a mapping key), by its place in the text.
  const targets: { path: string; range: [number, number]; key: boolean; value: unknown }[] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const k = pair.key as { value: unknown; range: [number, number] };
        const at = [...path, String(k.value)];
        if (path.at(-1) === "chains") {
          targets.push({
            path: at.join("."),
            range: [k.range[0], k.range[1]],
            key: true,
            value: k.value,
          });
        }
        walk(pair.value, at);
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
    else if (isScalar(node)) {
      targets.push({
        path: path.join("."),
        range: [node.range![0], node.range![1]],
        key: false,
        value: node.value,
      });
    }
  };
  walk(parseDocument(base).contents, []);
  let refused = 0, kept = 0;
  for (const { path, range, key, value: original } of targets) {
    // The place is right: the value written back the same way loads the same policy.
    const same = base.slice(0, range[0]) + JSON.stringify(original) + base.slice(range[1]);
    assert.deepStrictEqual(parsePolicy(same, { chainPrefixes: ["rp-"] }), loaded, path);
    for (const value of HOSTILE_VALUES) {
      const why = `${path}${key ? " (name)" : ""} = ${JSON.stringify(value)}`;
      const text = base.slice(0, range[0]) + JSON.stringify(key ? `rp-${value}` : value) +
        base.slice(range[1]);
      let scripts: string[];
      try {
        scripts = await plannedScripts(parsePolicy(text, { chainPrefixes: ["rp-"] }));
      } catch (e) {
        assert.ok(
          e instanceof PolicyFileError || e instanceof DanglingReferenceError,
          `${why}: ${e}`,
        );
        refused++;
        continue;
      }
      kept++;
      for (const s of scripts) {
        assert.ok(!s.includes("\r") && !s.includes("\u0000"), `${why}: ${JSON.stringify(s)}`);
      }
      assert.deepEqual(
        shape(scripts),
        baseline,
        `${why} changes what is written:\n${scripts.join("")}`,
      );
    }
  }
  assert.ok(targets.length > 140, `${targets.length} values`);
  assert.ok(refused > 1000 && kept > 0, `${refused} refused, ${kept} kept as one argument`);
});

Deno.test("yaml: a chain named like the record of chain policies is an error at its name", () => {
  const text = "tables:\n  filter:\n    chains:\n      rp-policy: []\n";
  assert.throws(
    () => parsePolicy(text, { chainPrefixes: ["rp-"] }),
    (e) =>
      e instanceof PolicyFileError && e.line === 4 && e.column === 7 &&
      /reserved for Rampart's record/.test(e.message),
  );
  // Only the first prefix's: `<prefix>policy`.
  parsePolicy(text.replace("rp-policy", "fw-policy"), { chainPrefixes: ["rp-", "fw-"] });
});
