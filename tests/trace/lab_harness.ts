/**
 * Running the packet lab in tests: registration (a test that needs the
 * kernel fails in CI when it cannot run), and one packet's comparison of
 * the kernel with the tracer.
 */
import { parseIpSetSave, tracePacket, type TraceResult } from "../../trace.ts";
import {
  type Backend,
  compareWithTrace,
  labAvailability,
  type LabPacket,
  type LabResult,
  LOCAL_ADDRESSES,
  PacketLab,
  tracePacketOf,
} from "./packet_lab.ts";

let warned = false;

/**
 * Registers a test that runs in a fresh packet lab for each backend (nft,
 * then legacy). Without root, scapy or conntrack it is skipped loudly, and
 * fails under `CI=true`.
 */
export function labTest(name: string, fn: (lab: PacketLab) => Promise<void>): void {
  Deno.test({
    name: `[kernel] ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const a = await labAvailability();
      if (!a.ok) {
        if (Deno.env.get("CI") === "true") {
          throw new Error(`Kernel test cannot run in CI: ${a.reason}`);
        }
        if (!warned) {
          warned = true;
          console.error(`\n!!! PACKET LAB TESTS NOT RUN: ${a.reason}\n`);
        }
        await t.step({ name: `SKIPPED: ${a.reason}`, ignore: true, fn() {} });
        return;
      }
      for (const backend of ["nft", "legacy"] as Backend[]) {
        await t.step(backend, async () => {
          const lab = await PacketLab.open(backend);
          try {
            await fn(lab);
          } finally {
            await lab.close();
          }
        });
      }
    },
  });
}

/** One packet: what the kernel did, what the tracer says, and how they differ. */
export interface Checked {
  /** The packet. */
  packet: LabPacket;
  /** What the lab saw. */
  seen: LabResult;
  /** The tracer's answer, through the rules as the kernel printed them. */
  trace: TraceResult;
  /** The differences (none when they agree). */
  problems: string[];
}

/**
 * Sends a packet through the lab and traces it through the rules the
 * kernel holds (its `iptables-save -c` output before the packet), with the
 * host's addresses and IP sets. When they disagree, the kernel is given
 * more time (a late arrival, counters not yet moved) before the answer.
 */
export async function checkPacket(lab: PacketLab, packet: LabPacket): Promise<Checked> {
  let seen = await lab.probe(packet);
  const trace = tracePacket(seen.before, tracePacketOf(packet, lab, seen.length), {
    backend: lab.backend,
    localAddresses: LOCAL_ADDRESSES,
    ipSets: parseIpSetSave(lab.ipSetSave),
  });
  let problems = compareWithTrace(trace, seen);
  if (problems.length > 0) {
    seen = await lab.recheck(packet, seen);
    const absentChains = await lab.absentChains(packet.family, seen.before);
    problems = compareWithTrace(trace, seen, { absentChains });
  }
  return { packet, seen, trace, problems };
}

/** A divergence report: the packet, the differences, the rules and the trace's path. */
export function describeDivergence(c: Checked, rules: string): string {
  const path = c.trace.path.map((s) =>
    `    ${s.kind} ${s.table} ${s.chain}${
      s.position === undefined ? "" : ` #${s.position}`
    } ${s.action}`
  );
  return [
    `packet ${JSON.stringify(c.packet)}`,
    ...c.problems.map((p) => `  ${p}`),
    "  tracer path:",
    ...path,
    `  arrived: ${c.seen.arrived} ${JSON.stringify(c.seen.header)}`,
    "  rules:",
    ...rules.trimEnd().split("\n").map((l) => `    ${l}`),
  ].join("\n");
}
