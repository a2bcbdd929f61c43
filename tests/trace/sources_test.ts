/**
 * The tracer's sources: a policy (YAML file or DSL), a Firewall, a Table,
 * and the "kernel" (here the fake dataplane behind the same runner a real
 * host uses), other programs' rules included.
 */
import assert from "assert";
import { Accept, Drop, Firewall, Jump, Match, Table, tablePolicy } from "../../mod.ts";
import { loadPolicyFile, sourcePositionOf } from "../../yaml.ts";
import { addressesFromJson, readKernelRuleset, traceKernel, tracePolicy } from "../../trace.ts";
import { FakeDataplane } from "../../testing.ts";

const EXAMPLE = new URL("../../examples/rules.yaml", import.meta.url).pathname;

Deno.test("a YAML policy: steps name their rule ID and file:line", async () => {
  const policy = await loadPolicyFile(EXAMPLE);
  const web = await tracePolicy(policy, {
    inInterface: "eth0",
    source: "203.0.113.7",
    destination: "192.0.2.10",
    protocol: "tcp",
    sourcePort: 50000,
    destPort: 443,
  }, { locate: sourcePositionOf, assume: { rpfilter: false } });
  assert.equal(web.verdict, "ACCEPT");
  assert.equal(web.decided, true);
  const by = web.decidedBy!;
  assert.equal(by.chain, "rp-input");
  assert.equal(by.source?.file, EXAMPLE);
  const lines = (await Deno.readTextFile(EXAMPLE)).split("\n");
  assert.match(lines[by.source!.line - 1]!, /comment: web/);
  assert.ok(by.ruleId !== undefined && by.ruleId.length > 0);
  // The jump from INPUT is located too.
  const jump = web.path.find((s) => s.chain === "INPUT" && s.kind === "rule")!;
  assert.match(lines[jump.source!.line - 1]!, /jump: rp-input/);

  // SSH from outside 10/8 meets connlimit and limit: undecided, both branches shown.
  const ssh = await tracePolicy(policy, {
    inInterface: "eth0",
    source: "203.0.113.7",
    destination: "192.0.2.10",
    protocol: "tcp",
    destPort: 22,
  }, { locate: sourcePositionOf, assume: { rpfilter: false } });
  assert.equal(ssh.decided, false);
  assert.deepEqual([...new Set(ssh.outcomes.map((o) => o.verdict))].sort(), [
    "ACCEPT",
    "DROP",
    "REJECT",
  ]);
  // From 10/8: decided before any undecidable match.
  const inside = await tracePolicy(policy, {
    inInterface: "eth0",
    source: "10.1.2.3",
    destination: "192.0.2.10",
    protocol: "tcp",
    destPort: 22,
  }, { assume: { rpfilter: false } });
  assert.equal(inside.verdict, "ACCEPT");
  assert.equal(inside.decidedBy?.chain, "rp-ssh");
});

Deno.test("a YAML policy: DNAT to the container is forwarded and masqueraded; IPv6 has no nat", async () => {
  const policy = await loadPolicyFile(EXAMPLE);
  const r = await tracePolicy(policy, {
    inInterface: "eth1",
    outInterface: "docker0",
    source: "203.0.113.7",
    destination: "192.0.2.10",
    protocol: "tcp",
    destPort: 8080,
  }, { localAddresses: ["192.0.2.10/24"], locate: sourcePositionOf });
  // The raw PREROUTING rpfilter rule is undecidable; in the branch where it
  // does not match, the DNAT and the FORWARD rule decide.
  const passed = r.outcomes.find((o) => o.assumptions.every((a) => !a.matched))!;
  assert.equal(passed.verdict, "ACCEPT");
  assert.equal(passed.packet.direction, "forward");
  assert.equal(passed.packet.destination, "172.17.0.2");
  assert.equal(passed.packet.destPort, "80");
  assert.equal(passed.decidedBy?.chain, "rp-forward");
  const v6 = await tracePolicy(policy, {
    inInterface: "eth0",
    source: "2001:db8::7",
    destination: "2001:db8::10",
    protocol: "ipv6-icmp",
    icmpType: "neighbour-solicitation",
  }, { localAddresses: ["2001:db8::10/64"] });
  assert.equal(v6.outcomes.find((o) => o.assumptions.every((a) => !a.matched))!.verdict, "ACCEPT");
});

Deno.test("a DSL policy, a Firewall and a Table give the same answer", async () => {
  const policy = {
    ipVersions: [4] as (4 | 6)[],
    tables: [tablePolicy("filter", {
      chains: [{
        name: "rp-in",
        rules: [{
          match: Match().protocol("tcp").destPorts(22).sourceNet("198.51.100.0/24"),
          action: Accept(),
        }],
      }],
      insertions: { INPUT: [{ action: Jump("rp-in") }, { action: Drop() }] },
    })],
  };
  const packet = {
    inInterface: "eth0",
    source: "198.51.100.4",
    destination: "10.0.0.1",
    protocol: "tcp",
    destPort: 22,
  };
  const a = await tracePolicy(policy, packet);
  const firewall = new Firewall({ runner: new FakeDataplane().runner, ipVersions: [4] });
  firewall.setPolicy(policy);
  const b = await tracePolicy(firewall, packet);
  const table = new Table("filter", { runner: new FakeDataplane().runner });
  table.updateChain(policy.tables[0]!.chains[0]!);
  table.setRuleInsertions("INPUT", policy.tables[0]!.insertions.INPUT!);
  const c = await tracePolicy(table, packet);
  for (const r of [a, b, c]) {
    assert.equal(r.verdict, "ACCEPT");
    assert.equal(r.decidedBy?.chain, "rp-in");
  }
  assert.equal(a.decidedBy?.ruleId, b.decidedBy?.ruleId);
  assert.equal(a.decidedBy?.ruleId, c.decidedBy?.ruleId);
  const other = await tracePolicy(table, { ...packet, source: "203.0.113.9" });
  assert.equal(other.verdict, "DROP");
  assert.equal(other.decidedBy?.position, 2);
});

Deno.test("a policy beside other programs' rules: ours above theirs (insert) or below (append)", async () => {
  const policy = {
    ipVersions: [4] as (4 | 6)[],
    tables: [tablePolicy("filter", { insertions: { INPUT: [{ action: Accept() }] } })],
  };
  const foreign =
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n";
  const packet = { source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 22 };
  assert.equal((await tracePolicy(policy, packet, { foreign })).verdict, "ACCEPT");
  const below = await tracePolicy(policy, packet, { foreign, insertMode: "append" });
  assert.equal(below.verdict, "DROP");
  assert.equal(below.decidedBy?.ruleId, undefined);
});

Deno.test("the kernel source reads every table of the family with the chosen backend", async () => {
  const fake = new FakeDataplane({ backend: "legacy" });
  await fake.load(
    "*nat\n-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.9:8080\nCOMMIT\n" +
      "*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set trusted src -j ACCEPT\nCOMMIT\n",
    { backend: "legacy" },
  ).catch(async () => {
    fake.addIpSet("trusted");
    await fake.load(
      "*nat\n-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.9:8080\nCOMMIT\n" +
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set trusted src -j ACCEPT\nCOMMIT\n",
      { backend: "legacy" },
    );
  });
  const read = await readKernelRuleset(4, {
    runner: fake.runner,
    backend: "legacy",
    localAddresses: ["10.0.0.9/24"],
    ipSets: { trusted: ["203.0.113.0/24"] },
  });
  assert.equal(read.backend, "legacy");
  assert.deepEqual(Object.keys(read.ruleset.tables).sort(), ["filter", "mangle", "nat", "raw"]);
  const r = await traceKernel(
    {
      inInterface: "eth0",
      source: "203.0.113.7",
      destination: "10.0.0.1",
      protocol: "tcp",
      destPort: 80,
    },
    {
      runner: fake.runner,
      backend: "legacy",
      localAddresses: ["10.0.0.1/24", "10.0.0.9/24"],
      ipSets: { trusted: ["203.0.113.0/24"] },
    },
  );
  assert.equal(r.verdict, "ACCEPT");
  assert.equal(r.outcomes[0]!.packet.destination, "10.0.0.9");
  assert.equal(r.outcomes[0]!.packet.destPort, "8080");
  // The nft backend of the same fake holds nothing: everything is accepted by default.
  const nft = await traceKernel(
    {
      inInterface: "eth0",
      source: "192.0.2.1",
      destination: "10.0.0.1",
      protocol: "udp",
      destPort: 53,
    },
    { runner: fake.runner, backend: "nft", localAddresses: [], ipSets: {} },
  );
  assert.equal(nft.verdict, "ACCEPT");
});

Deno.test("addresses from ip -j address", () => {
  const json = JSON.stringify([
    { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
    { ifname: "eth0", addr_info: [{ family: "inet6", local: "2001:db8::1", prefixlen: 64 }] },
    { ifname: "eth1" },
  ]);
  assert.deepEqual(addressesFromJson(json), ["127.0.0.1/8", "2001:db8::1/64"]);
});
