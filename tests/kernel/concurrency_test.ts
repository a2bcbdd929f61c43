/**
 * Scenario 6: concurrency. Another program adds and deletes its own rules
 * with `iptables -w` in a loop (separate processes, via `ip netns exec`)
 * while 200 applies of a changing policy run: no rule of either side is lost
 * or duplicated, and no lock error goes unrecovered.
 */
import assert from "assert";
import {
  Accept,
  calculateRuleIds,
  Drop,
  type Features,
  Jump,
  Match,
  type Rule,
} from "../../mod.ts";
import { FeatureDetector } from "../../src/host/feature_detector.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import {
  binary,
  chainIds,
  chainLines,
  kernelTable,
  kernelTest,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const APPLIES = 200;

async function concurrency(netns: string, v: Variant): Promise<void> {
  const runner = new DenoCommandRunner({ netns });
  const features: Features = await new FeatureDetector({ runner }).getFeatures();
  const table = kernelTable(netns, "filter", v);
  const ipt = binary(v, "");

  // The other program: appends its own rules to INPUT and FORWARD and deletes
  // the oldest, one `iptables -w` process at a time, until told to stop.
  const present: string[] = [];
  const failures: string[] = [];
  let stop = false;
  let ops = 0;
  const other = (async () => {
    let k = 0;
    while (!stop) {
      const chain = k % 2 === 0 ? "INPUT" : "FORWARD";
      const spec = ["-m", "comment", "--comment", `other-${k}`, "-j", "ACCEPT"];
      let r = await runner.run(ipt, ["-w", "-A", chain, ...spec]);
      if (r.code === 0) present.push(`${chain} other-${k}`);
      else failures.push(`-A ${chain} other-${k}: ${r.stderr.trim()}`);
      if (present.length > 20) {
        const [oldChain, oldName] = present.shift()!.split(" ");
        r = await runner.run(ipt, [
          "-w",
          "-D",
          oldChain!,
          "-m",
          "comment",
          "--comment",
          oldName!,
          "-j",
          "ACCEPT",
        ]);
        if (r.code !== 0) failures.push(`-D ${oldChain} ${oldName}: ${r.stderr.trim()}`);
      }
      k++;
      ops++;
    }
  })();

  let inserts: Rule[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < APPLIES; i++) {
      inserts = [
        { action: Jump("rp-input") },
        ...Array.from({ length: i % 4 }, (_, j) => ({
          match: Match().protocol("tcp").destPorts(10000 + i * 10 + j),
          action: Accept(),
        })),
      ];
      table.updateChain({
        name: "rp-input",
        rules: [
          { match: Match().protocol("udp").destPorts(20000 + i), action: Drop() },
          { match: Match().conntrackState("INVALID"), action: Drop() },
        ],
      });
      table.setRuleInsertions("INPUT", inserts);
      table.setRuleAppends("FORWARD", i % 2 === 0 ? [{ action: Drop() }] : []);
      try {
        await table.apply();
      } catch (e) {
        errors++;
        throw new Error(`apply ${i} failed after its retries: ${e}`);
      }
    }
  } finally {
    stop = true;
    await other;
  }
  assert.equal(errors, 0);
  assert.deepEqual(failures, [], "the other program never failed");
  assert.ok(ops > 5, `the other program ran concurrently (${ops} ops)`);

  table.invalidateDataplaneCache("final check");
  await table.apply();
  const save = await saveTable(netns, v, "filter");
  // Ours: exactly once each, in order, on top of INPUT; nothing of ours elsewhere.
  const ours = calculateRuleIds("INPUT", inserts, { features });
  assert.deepEqual(chainIds(save, "INPUT").filter((id) => id !== ""), ours);
  assert.deepEqual(chainIds(save, "INPUT").slice(0, ours.length), ours);
  assert.deepEqual(chainIds(save, "FORWARD").filter((id) => id !== ""), [
    ...calculateRuleIds(
      "FORWARD*appends*",
      (APPLIES - 1) % 2 === 0 ? [{ action: Drop() }] : [],
      { features },
    ),
  ]);
  // Theirs: exactly the rules they think are present, once each, in their order.
  for (const chain of ["INPUT", "FORWARD"]) {
    const theirs = chainLines(save, chain).filter((l) => l.includes("other-")).map((l) =>
      /other-\d+/.exec(l)![0]
    );
    const expected = present.filter((p) => p.startsWith(`${chain} `)).map((p) => p.split(" ")[1]!);
    assert.deepEqual(theirs, expected, chain);
  }
  const m = table.metrics();
  if (m.restoreErrors > 0) {
    console.log(`${variantName(v)}: ${m.restoreErrors} restore errors recovered by retries`);
  }
}

for (const v of VARIANTS) {
  kernelTest(
    `${APPLIES} applies while another program uses iptables -w (${variantName(v)})`,
    (netns) => concurrency(netns, v),
  );
}
