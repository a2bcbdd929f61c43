/**
 * Policy unit tests for users (`@rampart/iptables/testing`): assertVerdict
 * and assertVerdicts pass and fail as documented, and a failure shows the
 * packet's path with file:line.
 */
import assert from "assert";
import { Accept, Drop, Firewall, Match, Reject, tablePolicy } from "../../mod.ts";
import { loadPolicyFile } from "../../yaml.ts";
import { parseTraceRuleset } from "../../trace.ts";
import {
  assertVerdict,
  assertVerdicts,
  FakeDataplane,
  TraceAssertionError,
  traceSubject,
} from "../../testing.ts";

const OFFICE = new URL("../../examples/office.yaml", import.meta.url).pathname;
const ssh = { inInterface: "eth0", destination: "192.0.2.10", protocol: "tcp", destPort: 22 };

Deno.test("assertVerdict: passes with the verdict and returns the trace", async () => {
  const policy = await loadPolicyFile(OFFICE);
  const r = await assertVerdict(policy, { ...ssh, source: "198.51.100.4" }, "ACCEPT", {
    decidedBy: { table: "filter", chain: "rp-input", position: 3, comment: "ssh from the office" },
  });
  assert.equal(r.decidedBy?.source?.file, OFFICE);
  await assertVerdict(policy, { ...ssh, source: "198.51.100.4" }, "ACCEPT", {
    decidedBy: { comment: /office/, kind: "rule" },
  });
});

Deno.test("assertVerdict: a wrong verdict fails with the path and file:line", async () => {
  const policy = await loadPolicyFile(OFFICE);
  const e = await assert.rejects(
    assertVerdict(policy, { ...ssh, source: "203.0.113.9" }, "ACCEPT", { name: "ssh from home" }),
    (e: unknown) => {
      assert.ok(e instanceof TraceAssertionError);
      const lines = e.message.split("\n");
      assert.equal(
        lines[0],
        "ssh from home (tcp 203.0.113.9 → 192.0.2.10:22 in eth0, NEW): expected ACCEPT, got DROP",
      );
      assert.match(e.message, /^ {2}verdict: DROP by filter INPUT policy DROP$/m);
      assert.match(e.message, /filter INPUT #1 {2}-A INPUT -j rp-input {2}→ jump rp-input/);
      assert.match(e.message, /office\.yaml:10/);
      assert.equal(e.result.verdict, "DROP");
      return true;
    },
  );
  assert.equal(e, undefined);
});

Deno.test("assertVerdict: the deciding step must match every field given", async () => {
  const policy = await loadPolicyFile(OFFICE);
  await assert.rejects(
    assertVerdict(policy, { ...ssh, source: "203.0.113.9", destPort: 23 }, "REJECT", {
      decidedBy: { comment: "web" },
    }),
    /expected REJECT decided by comment web, but it was decided by filter rp-input rule 5 \(.*office\.yaml:27\)/,
  );
  await assert.rejects(
    assertVerdict(policy, { ...ssh, source: "203.0.113.9" }, "DROP", {
      decidedBy: { kind: "rule" },
    }),
    /decided by rule, but it was decided by the filter INPUT policy/,
  );
});

Deno.test("assertVerdict: branches that agree pass; that disagree fail with a hint", async () => {
  const policy = {
    ipVersions: [4] as (4 | 6)[],
    tables: [tablePolicy("filter", {
      insertions: {
        INPUT: [
          { match: Match().limit("5/second"), action: Accept() },
          { match: Match().protocol("tcp").destPorts(22), action: Accept() },
          { action: Drop() },
        ],
      },
    })],
  };
  const packet = { source: "203.0.113.9", destination: "10.0.0.1", protocol: "tcp", destPort: 22 };
  await assertVerdict(policy, packet, "ACCEPT");
  await assert.rejects(
    assertVerdict(policy, packet, "ACCEPT", { allowBranches: false }),
    /some matches could not be decided/,
  );
  await assert.rejects(
    assertVerdict(policy, { ...packet, destPort: 80 }, "DROP"),
    /depends on matches the tracer cannot decide \(the branches end in ACCEPT, DROP\); pass assume/,
  );
  await assertVerdict(policy, { ...packet, destPort: 80 }, "DROP", { assume: { limit: false } });
});

Deno.test("assertVerdicts: every failing case is reported together", async () => {
  const save = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n";
  const to = (destPort: number) => ({ source: "203.0.113.7", destination: "10.0.0.1", destPort });
  await assertVerdicts(save, [{ packet: to(443), verdict: "ACCEPT" }]);
  await assert.rejects(
    assertVerdicts(save, [
      { name: "https", packet: to(443), verdict: "ACCEPT" },
      { name: "ssh", packet: to(22), verdict: "ACCEPT" },
      { name: "smtp", packet: to(25), verdict: "REJECT" },
    ]),
    (e: unknown) => {
      assert.ok(e instanceof TraceAssertionError);
      assert.match(e.message, /^2 of 3 cases failed:/);
      assert.match(e.message, /^ssh \(tcp .*\): expected ACCEPT, got DROP$/m);
      assert.match(e.message, /^smtp \(tcp .*\): expected REJECT, got DROP$/m);
      assert.doesNotMatch(e.message, /^https/m);
      return true;
    },
  );
});

Deno.test("every subject: DSL policy, Firewall, Table, save text, parsed rule set", async () => {
  const policy = {
    ipVersions: [4] as (4 | 6)[],
    tables: [tablePolicy("filter", {
      insertions: {
        INPUT: [{
          match: Match().protocol("tcp").destPorts(25),
          action: Reject("tcp-reset"),
        }],
      },
    })],
  };
  const packet = { source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 25 };
  const firewall = new Firewall({ runner: new FakeDataplane().runner, ipVersions: [4] });
  firewall.setPolicy(policy);
  const table = firewall.table("filter", 4);
  for (const subject of [policy, firewall, table]) {
    const r = await assertVerdict(subject, packet, "REJECT");
    assert.equal(r.rejectWith, "tcp-reset");
  }
  const fake = new FakeDataplane();
  await fake.load(
    "*filter\n-A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset\nCOMMIT\n",
  );
  const save = (await fake.runner.run("iptables-save", [])).stdout;
  await assertVerdict(save, packet, "REJECT", { backend: "nft" });
  assert.equal((await traceSubject(save, packet)).verdict, "REJECT");
  await assertVerdict(parseTraceRuleset(save, { ipVersion: 4 }), packet, "REJECT");
});
