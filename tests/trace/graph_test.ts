/**
 * `renderGraph`: chains, rule counts, jumps and gotos as Mermaid and DOT;
 * the traced path highlighted; hostile chain names and comments cannot
 * break out of a label; both families side by side.
 */
import assert from "assert";
import { parseTraceRuleset, renderGraph, tracePacket } from "../../trace.ts";

const SAVE = [
  "*nat",
  ":PREROUTING ACCEPT [0:0]",
  "-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80",
  "COMMIT",
  "*filter",
  ":INPUT DROP [0:0]",
  ":FORWARD ACCEPT [0:0]",
  ":OUTPUT ACCEPT [0:0]",
  ":rp-in - [0:0]",
  ":rp-ssh - [0:0]",
  ":rp-unused - [0:0]",
  "-A INPUT -j rp-in",
  "-A INPUT -p udp -j rp-in",
  "-A rp-in -p tcp -m tcp --dport 22 -j rp-ssh",
  "-A rp-in -p icmp -g rp-ssh",
  "-A rp-ssh -s 198.51.100.0/24 -j ACCEPT",
  "-A rp-ssh -j DROP",
  "COMMIT",
].join("\n");

Deno.test("graph: nodes with rule counts and policies, grouped jump and goto edges", () => {
  const set = parseTraceRuleset(SAVE, { ipVersion: 4 });
  const m = renderGraph([set]);
  assert.equal(m.split("\n")[0], "flowchart LR");
  assert.match(
    m,
    /subgraph c4_nat\["nat"\]\n {4}n1\["PREROUTING<br\/>1 rule · policy ACCEPT"\]\n {2}end/,
  );
  assert.match(m, /\["INPUT<br\/>2 rules · policy DROP"\]/);
  assert.match(m, /\["rp-unused<br\/>0 rules"\]/);
  // Built-in chains without rules and with policy ACCEPT are left out.
  assert.doesNotMatch(m, /FORWARD|OUTPUT/);
  // Two rules of INPUT jump to rp-in: one edge with both positions.
  assert.match(m, /n\d+ -->\|"#35;1, #35;2 jump"\| n\d+/);
  assert.match(m, /n\d+ -\.->\|"#35;2 goto"\| n\d+/);
  assert.doesNotMatch(m, /classDef|linkStyle/);
  const d = renderGraph([set], { format: "dot" });
  assert.match(d, /^digraph rampart \{\n {2}rankdir=LR;/);
  assert.match(d, /subgraph cluster_c4_filter \{\n {4}label="filter";/);
  assert.match(d, /n\d+ -> n\d+ \[label="#2 goto", style=dashed\];/);
  assert.ok(d.endsWith("}\n"));
});

Deno.test("graph: the traced path, from the packet through the hooks to the verdict", () => {
  const set = parseTraceRuleset(SAVE, { ipVersion: 4 });
  const trace = tracePacket(set, {
    source: "203.0.113.7",
    destination: "10.0.0.1",
    protocol: "tcp",
    destPort: 22,
  });
  assert.equal(trace.verdict, "DROP");
  const m = renderGraph([set], { trace, packetLabel: 'ssh <from> "home"' });
  assert.match(m, /packet\(\["ssh #60;from#62; #34;home#34;"\]\)/);
  assert.match(m, /verdict\(\["DROP by filter rp-ssh #35;2"\]\)/);
  const ids = Object.fromEntries(
    [...m.matchAll(/(n\d+)\["([^<]+)<br/g)].map((x) => [x[2]!, x[1]!]),
  );
  // raw/mangle are absent; nat PREROUTING then filter INPUT, then the drop in rp-ssh.
  assert.match(m, new RegExp(`packet ==>\\|"1"\\| ${ids.PREROUTING}\\n`));
  assert.match(m, new RegExp(`${ids.PREROUTING} ==>\\|"2"\\| ${ids.INPUT}\\n`));
  assert.match(m, new RegExp(`${ids["rp-ssh"]} ==> verdict\\n`));
  assert.match(
    m,
    new RegExp(
      `class ${[ids.PREROUTING, ids.INPUT, ids["rp-in"], ids["rp-ssh"]].sort().join(",")} visited`,
    ),
  );
  assert.match(m, /classDef verdict fill:#fee2e2/);
  // The taken jumps (INPUT #1 → rp-in, rp-in #1 → rp-ssh) and the path edges are highlighted.
  const edges = m.split("\n").filter((l) => / (-->|-\.->|==>)/.test(l));
  const styled = /linkStyle ([\d,]+) /.exec(m)![1]!.split(",").map(Number);
  assert.deepEqual(
    styled.map((i) => edges[i]!.trim()),
    edges.filter((l) =>
      l.includes("==>") || l.includes('"#35;1, #35;2 jump"') || l.includes('"#35;1 jump"')
    ).map((l) => l.trim()),
  );
  assert.ok(!styled.some((i) => edges[i]!.includes("goto")));
  const accepted = tracePacket(set, {
    source: "198.51.100.7",
    destination: "10.0.0.1",
    protocol: "tcp",
    destPort: 22,
  });
  const a = renderGraph([set], { trace: accepted, format: "dot" });
  assert.match(
    a,
    /verdict \[label="ACCEPT by filter rp-ssh #1", shape=oval, style=filled, fillcolor="#dcfce7"/,
  );
});

Deno.test("graph: hostile chain names and labels stay inside their strings", () => {
  const save = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ':x"];evil["y - [0:0]',
    ":a\\b<br> - [0:0]",
    "-A INPUT -j a\\b<br>",
    "COMMIT",
  ].join("\n");
  const set = parseTraceRuleset(save, { ipVersion: 4 });
  const m = renderGraph([set]).split("\n");
  assert.ok(m.includes('    n2["x#34;];evil[#34;y<br/>0 rules"]'), m.join("\n"));
  assert.ok(m.includes('    n3["a\\b#60;br#62;<br/>0 rules"]'), m.join("\n"));
  assert.ok(m.includes('  n1 -->|"#35;1 jump"| n3'), m.join("\n"));
  const d = renderGraph([set], { format: "dot" }).split("\n");
  assert.ok(d.includes('    n2 [label="x\\"];evil[\\"y\\n0 rules"];'), d.join("\n"));
  assert.ok(d.includes('    n3 [label="a\\\\b<br>\\n0 rules"];'), d.join("\n"));
  const trace = tracePacket(set, { source: "10.0.0.9", destination: "10.0.0.1" });
  const label = renderGraph([set], { trace, packetLabel: 'a"\nb' }).split("\n");
  assert.ok(label.includes('  packet(["a#34;<br/>b"])'), label.join("\n"));
});

Deno.test("graph: both families side by side, IPv6 labelled", () => {
  const v4 = parseTraceRuleset("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", { ipVersion: 4 });
  const v6 = parseTraceRuleset("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", { ipVersion: 6 });
  const m = renderGraph([v4, v6]);
  assert.match(m, /subgraph c4_filter\["filter \(IPv4\)"\]/);
  assert.match(m, /subgraph c6_filter\["filter \(IPv6\)"\]/);
  assert.match(renderGraph([v6]), /subgraph c6_filter\["filter \(IPv6\)"\]/);
  assert.doesNotMatch(renderGraph([v4, v6], { tables: ["nat"] }), /subgraph/);
});
