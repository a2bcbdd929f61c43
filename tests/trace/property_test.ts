/**
 * Property test: the tracer agrees with the kernel. On each backend (nft,
 * legacy), random rule sets (random_rules.ts) are loaded in the lab's host
 * namespace and random packets (TCP, UDP, ICMP; IPv4 and IPv6; arriving,
 * forwarded and sent) are sent through it (packet_lab.ts); for every packet
 * the rules whose counters moved, the chain policies taken, whether and how
 * the packet arrived must be what the tracer says. Zero divergences.
 *
 * The namespaces are made once per backend and reused by every rule set.
 * The suite runs a fixed seed, so that CI is the same test every time;
 * `RP_SEED=random` draws a new one (to explore), `RP_SEED=<seed>` reproduces a
 * run (the seed is printed); `RP_TRACE_POLICIES` changes the number of rule sets
 * per backend (default 100), `RP_TRACE_PACKETS` the packets per rule set
 * (default 20); `RP_TRACE_REPORT=<file>` writes every divergence to `<file>.<backend>`.
 */
import assert from "assert";
import { parseTraceRuleset, tracePacket } from "../../trace.ts";
import { checkPacket, describeDivergence, labTest } from "./lab_harness.ts";
import { compareWithTrace, type LabResult } from "./packet_lab.ts";
import { LAB_IPSETS, PacketSource, randomRuleset, Rng } from "./random_rules.ts";

const SEED_TEXT = Deno.env.get("RP_SEED") ?? "801647973";
const SEED = SEED_TEXT === "random" ? Math.floor(Math.random() * 2 ** 31) : Number(SEED_TEXT);
const POLICIES = Number(Deno.env.get("RP_TRACE_POLICIES") ?? 100);
const PACKETS = Number(Deno.env.get("RP_TRACE_PACKETS") ?? 20);

console.log(
  `tracer property test: seed ${SEED}, ${POLICIES} rule sets × ${PACKETS} packets per backend ` +
    `(reproduce with RP_SEED=${SEED})`,
);

/** Targets and modules every run must see matched at least once (either spelling). */
const EXPECTED = [
  "-j ACCEPT",
  "-j DROP",
  "-j REJECT",
  "-j RETURN",
  "jump",
  "goto",
  "-j MARK",
  "-j CONNMARK",
  "-j DNAT",
  "-j SNAT",
  "-j MASQUERADE",
  "-j REDIRECT",
  "-j CT|-j NOTRACK",
  "-j DSCP",
  "-j TOS",
  "-j TTL|-j HL",
  "-j LOG",
  "-m conntrack",
  "-m state",
  "-m mark",
  "-m connmark",
  "-m addrtype",
  "-m iprange",
  "-m length",
  "-m pkttype",
  "-m dscp",
  "-m tos",
  "-m ttl|-m hl",
  "-m set",
  "-m owner",
  "-m mac",
  "-m multiport",
  "-m tcp",
  "-m udp",
  "-m icmp|-m icmp6",
  "-m comment",
];

labTest(`tracer = kernel: random rule sets × random packets (seed ${SEED})`, async (lab) => {
  const rng = new Rng(SEED ^ (lab.backend === "nft" ? 0 : 0x5bd1e995));
  const source = new PacketSource();
  await lab.ipsets(LAB_IPSETS);
  const started = performance.now();
  const divergences: string[] = [];
  let packets = 0;
  const verdicts = new Map<string, number>();
  /** How often a matched rule had each target and match module (what the test exercised). */
  const exercised = new Map<string, number>();
  for (let i = 0; i < POLICIES; i++) {
    const family = rng.chance(0.5) ? 4 : 6;
    const script = randomRuleset(rng, family).replaceAll("$OUTSIDE_MAC", lab.macs.outside);
    try {
      await lab.load(family, script);
    } catch (e) {
      throw new Error(
        `seed ${SEED}: rule set ${i + 1} was refused: ${(e as Error).message}\n${script}`,
      );
    }
    for (let j = 0; j < PACKETS; j++) {
      const c = await checkPacket(lab, source.next(rng, family));
      packets++;
      const key = `${c.trace.verdict}${c.seen.arrived === null ? "" : ` (${c.seen.arrived})`}`;
      verdicts.set(key, (verdicts.get(key) ?? 0) + 1);
      for (const step of c.trace.path) {
        if (step.kind !== "rule" || step.rule === undefined) continue;
        const used = [
          ...[...step.rule.matchAll(/ -m (\S+)/g)].map((m) => `-m ${m[1]}`),
          /^(jump|goto) /.test(step.action)
            ? step.action.split(" ")[0]!
            : step.action === "continue"
            ? "(no target)"
            : `-j ${step.action}`,
        ];
        for (const u of new Set(used)) exercised.set(u, (exercised.get(u) ?? 0) + 1);
      }
      if (c.problems.length > 0) {
        divergences.push(
          `rule set ${i + 1}, packet ${j + 1}: ${describeDivergence(c, c.seen.before)}`,
        );
      }
    }
  }
  const report = Deno.env.get("RP_TRACE_REPORT");
  if (report !== undefined && divergences.length > 0) {
    await Deno.writeTextFile(`${report}.${lab.backend}`, divergences.join("\n\n") + "\n");
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `tracer property test, ${lab.backend}: ${POLICIES} rule sets, ${packets} packets, ` +
      `${divergences.length} divergences, ${seconds} s (seed ${SEED}); outcomes: ${
        [...verdicts].sort().map(([k, n]) => `${k} ${n}`).join(", ")
      }`,
  );
  console.log(
    `  matched rules by target and module: ${
      [...exercised].sort().map(([k, n]) => `${k} ${n}`).join(", ")
    }`,
  );
  const missing = EXPECTED.filter((e) => !e.split("|").some((x) => (exercised.get(x) ?? 0) > 0));
  assert.deepEqual(missing, [], `seed ${SEED}: never exercised on ${lab.backend}`);
  assert.equal(
    divergences.length,
    0,
    `seed ${SEED} (reproduce with RP_SEED=${SEED}): ${divergences.length} divergences; the first:\n\n` +
      divergences.slice(0, 3).join("\n\n"),
  );
});

Deno.test("the comparison catches a wrong trace", () => {
  // What the kernel reported for a packet accepted by INPUT rule 2, and a trace
  // that took the wrong rule: the comparison must fail.
  const before = "*filter\n:INPUT DROP [0:0]\n[0:0] -A INPUT -p udp -j ACCEPT\n" +
    "[0:0] -A INPUT -p tcp -j ACCEPT\nCOMMIT\n";
  const after = "*filter\n:INPUT DROP [0:0]\n[0:0] -A INPUT -p udp -j ACCEPT\n" +
    "[1:60] -A INPUT -p tcp -j ACCEPT\nCOMMIT\n";
  const seen: LabResult = {
    before,
    after,
    arrived: "host",
    header: { destination: "10.1.0.1", destPort: 22 },
    length: 60,
  };
  const packet = { source: "203.0.113.7", destination: "10.1.0.1", destPort: 22 };
  assert.deepEqual(compareWithTrace(tracePacket(before, packet), seen), []);
  const wrong = parseTraceRuleset(before.replace("-p udp", "-p tcp"), { ipVersion: 4 });
  assert.deepEqual(compareWithTrace(tracePacket(wrong, packet), seen), [
    "filter INPUT #1: tracer 1, kernel 0",
    "filter INPUT #2: tracer 0, kernel 1",
  ]);
  const dropped = { ...seen, arrived: null, header: null };
  assert.match(
    compareWithTrace(tracePacket(before, packet), dropped).join(),
    /verdict ACCEPT \(host\), but the packet did not arrive/,
  );
  const moved = { ...seen, header: { destination: "10.1.0.9", destPort: 22 } };
  assert.deepEqual(compareWithTrace(tracePacket(before, packet), moved), [
    "arrived with destination 10.1.0.9, tracer 10.1.0.1",
  ]);
});
