/**
 * The REPL's trace() and graph() (and .trace, .graph): the desired state as
 * apply() would write it, or the target's live tables; the packet fields of
 * `rampart trace`'s flags; packetFromFlags itself.
 */
import assert from "assert";
import { DOT_COMMANDS, parseTraceDotArgs, ReplSession } from "../../repl.ts";
import { packetFromFlags, TracePacketError } from "../../trace.ts";
import { FakeDataplane } from "../../testing.ts";

function session(fake: FakeDataplane) {
  const io = { out: "", write: (t: string) => void (io.out += t), ask: () => Promise.resolve("y") };
  const s = new ReplSession({ io, runner: fake.runner, backend: "nft" });
  return { s, io };
}

Deno.test("REPL trace(): the desired state, with the CLI's field names", async () => {
  const fake = new FakeDataplane();
  const { s, io } = session(fake);
  assert.equal(await s.run('filter.setChainPolicy("INPUT", "DROP")'), "ok");
  await s.run(
    'filter.setRuleInsertions("INPUT", [rule(Match().protocol("tcp").destPorts(22).sourceNet("198.51.100.0/24"), Accept(), "office ssh")])',
  );
  io.out = "";
  assert.equal(
    await s.run(
      'trace({ in: "eth0", src: "198.51.100.7", dst: "10.0.0.1", proto: "tcp", dport: 22 })',
    ),
    "ok",
  );
  assert.match(io.out, /^rules: the desired state \(IPv4, as apply\(\) would write it\)$/m);
  assert.match(io.out, /^verdict: ACCEPT by filter INPUT rule 1 \(rule ID [\w-]{16}\)$/m);
  assert.match(io.out, /-A INPUT -s 198\.51\.100\.0\/24 -p tcp -m comment --comment "office ssh"/);
  io.out = "";
  await s.run(".trace --in eth0 --src 203.0.113.7 --dst 10.0.0.1 --dport 22");
  assert.match(io.out, /^verdict: DROP by filter INPUT policy DROP$/m);
  // The library's packet form works too; json prints the document.
  io.out = "";
  await s.run(
    'trace({ source: "203.0.113.7", destination: "10.0.0.1", destPort: 22 }, { json: true })',
  );
  assert.equal(JSON.parse(io.out).verdict, "DROP");
  // Nothing was written to the "kernel".
  assert.ok(!fake.calls.some((c) => /restore/.test(c.cmd)));
});

Deno.test("REPL trace({ live: true }) and .trace --live read the target's tables", async () => {
  const fake = new FakeDataplane();
  await fake.load(
    "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
  );
  const { s, io } = session(fake);
  await s.run(
    'trace({ src: "203.0.113.7", dst: "10.0.0.1", dport: 80 }, { live: true, localAddresses: ["10.0.0.1/24"], ipSets: {} })',
  );
  assert.match(io.out, /^rules: the live IPv4 tables of this host \(iptables-nft\)$/m);
  assert.match(io.out, /^verdict: ACCEPT by filter INPUT rule 1$/m);
  io.out = "";
  await s.run(
    ".trace --src 203.0.113.7 --dst 10.0.0.1 --dport 81 --live --local-address 10.0.0.1/24",
  );
  assert.match(io.out, /^verdict: DROP by filter INPUT policy DROP$/m);
});

Deno.test("REPL graph() and .graph; errors are printed, never thrown", async () => {
  const fake = new FakeDataplane();
  const { s, io } = session(fake);
  await s.run(
    'filter.updateChain(chain("rp-in", rule(Match().protocol("tcp").destPorts(22), Accept())))',
  );
  await s.run('filter.setRuleInsertions("INPUT", [rule(undefined, Jump("rp-in"))])');
  io.out = "";
  await s.run("graph()");
  assert.match(io.out, /^flowchart LR$/m);
  assert.match(io.out, /\["rp-in<br\/>1 rule"\]/);
  io.out = "";
  await s.run(".graph --format dot --src 10.0.0.9 --dst 10.0.0.1 --dport 22");
  assert.match(io.out, /^digraph rampart \{$/m);
  assert.match(io.out, /verdict \[label="ACCEPT by filter rp-in #1"/);
  io.out = "";
  assert.equal(await s.run(".trace --src 10.0.0.9"), "error");
  assert.match(io.out, /Missing --dst/);
  io.out = "";
  assert.equal(await s.run('trace({ src: "10.0.0.9", dst: "10.0.0.1", port: 22 })'), "error");
  assert.match(io.out, /Unknown packet field "port"/);
  io.out = "";
  assert.equal(await s.run('graph({ format: "png" })'), "error");
  assert.match(io.out, /Invalid format "png"/);
  assert.ok(DOT_COMMANDS.includes(".trace") && DOT_COMMANDS.includes(".graph"));
  await s.run("help()");
  assert.match(io.out, /trace\(\{ in: "eth0"/);
});

Deno.test("packetFromFlags: every flag, strings or numbers, and errors that name the flag", () => {
  assert.deepEqual(
    packetFromFlags({
      in: "eth0",
      out: "eth1",
      src: "203.0.113.7",
      dst: "10.0.0.1",
      proto: "udp",
      sport: "5353",
      dport: 53,
      state: "established",
      mark: "0x10",
      "conn-mark": "7",
      direction: "forward",
      length: "84",
      ttl: "3",
      dscp: "46",
      "src-mac": "02:00:00:00:00:01",
    }),
    {
      source: "203.0.113.7",
      destination: "10.0.0.1",
      inInterface: "eth0",
      outInterface: "eth1",
      protocol: "udp",
      sourcePort: 5353,
      destPort: 53,
      state: "ESTABLISHED",
      mark: 16,
      connMark: 7,
      direction: "forward",
      length: 84,
      ttl: 3,
      dscp: 46,
      sourceMac: "02:00:00:00:00:01",
    },
  );
  assert.deepEqual(
    packetFromFlags({ src: "10.0.0.9", dst: "10.0.0.1", proto: "icmp", icmpType: "3/4" }),
    { source: "10.0.0.9", destination: "10.0.0.1", protocol: "icmp", icmpType: 3, icmpCode: 4 },
  );
  assert.deepEqual(
    packetFromFlags({
      src: "10.0.0.9",
      dst: "10.0.0.1",
      "tcp-flags": "syn, ack",
      uid: 0,
      gid: "1",
    }),
    { source: "10.0.0.9", destination: "10.0.0.1", tcpFlags: ["syn", "ack"], uid: 0, gid: 1 },
  );
  assert.equal(packetFromFlags({ src: "10.0.0.9", dst: "10.0.0.1", proto: "47" }).protocol, 47);
  for (
    const [values, field, message] of [
      [{ dst: "10.0.0.1" }, "src", /Missing --src/],
      [{ src: "10.0.0.9", dst: "10.0.0.1", dport: "ssh" }, "dport", /--dport "ssh"/],
      [{ src: "10.0.0.9", dst: "10.0.0.1", mark: "-1" }, "mark", /--mark/],
      [{ src: "10.0.0.9", dst: "10.0.0.1", direction: "up" }, "direction", /in, forward or out/],
      [{ src: "10.0.0.9", dst: "10.0.0.1", dscp: "64" }, "dscp", /0 to 63/],
      [{ src: "10.0.0.9", dst: "10.0.0.1", sport: {} }, "sport", /a string or a number/],
    ] as const
  ) {
    assert.throws(() => packetFromFlags(values), (e: unknown) => {
      assert.ok(e instanceof TracePacketError);
      assert.equal(e.field, field);
      assert.match(e.message, message);
      return true;
    });
  }
  const { fields, options } = parseTraceDotArgs(
    "--src 10.0.0.9  --dst 10.0.0.1 --assume limit=match --json --format dot",
  );
  assert.deepEqual(fields, { src: "10.0.0.9", dst: "10.0.0.1" });
  assert.deepEqual(options, {
    json: true,
    format: "dot",
    assume: { limit: true },
    packet: { src: "10.0.0.9", dst: "10.0.0.1" },
  });
  assert.throws(() => parseTraceDotArgs("--src"), /argument missing|--src/);
});
