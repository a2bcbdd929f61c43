/**
 * Stable rule IDs (the default) on the real kernel, all four backend ×
 * family variants: a change in the middle of an owned chain and of our
 * insertions into INPUT writes one line per changed rule, and every
 * unchanged rule (ours and the foreign one) keeps its packet and byte
 * counters (`iptables-save -c` before and after); a chain whose rules all
 * change is flushed and written again instead.
 */
import assert from "assert";
import { calculateStableRuleHashes, Jump, Match, type Rule } from "../../mod.ts";
import {
  chainIds,
  chainLinesWithCounters,
  kernelTable,
  kernelTest,
  nsExec,
  saveTable,
  tcpTraffic,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

/** Counting rules (no action): every TCP packet on lo passes through all of them. */
function counting(ports: readonly number[]): Rule[] {
  return ports.map((port) => ({ match: Match().protocol("tcp").notDestPorts(port) }));
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

async function countersOf(netns: string, v: Variant, chain: string) {
  return chainLinesWithCounters(await saveTable(netns, v, "filter", { counters: true }), chain);
}

async function middleChange(netns: string, v: Variant): Promise<void> {
  const iptables = v.ipVersion === 6 ? "ip6tables" : "iptables";
  // A foreign counting rule in INPUT, there before ours.
  await nsExec(netns, `${iptables}-${v.backend}`, [
    "-A",
    "INPUT",
    "-p",
    "tcp",
    "-m",
    "comment",
    "--comment",
    "foreign counter",
  ]);
  const table = kernelTable(netns, "filter", v);
  const ports = range(1000, 400);
  const inserts = range(2000, 5);
  table.updateChain({ name: "rp-big", rules: counting(ports) });
  table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-big") }]);
  table.setRuleInsertions("INPUT", counting(inserts));
  await table.apply();
  await tcpTraffic(netns, v);
  const bigBefore = await countersOf(netns, v, "rp-big");
  const inputBefore = await countersOf(netns, v, "INPUT");
  assert.equal(bigBefore.length, 400);
  assert.equal(inputBefore.length, 6);
  for (const r of [...bigBefore, ...inputBefore]) assert.notEqual(r.counters, "[0:0]", r.line);

  // Rule 200 of the chain and insert 2 (of 5) change.
  ports[200] = 60_000;
  inserts[2] = 60_001;
  table.updateChain({ name: "rp-big", rules: counting(ports) });
  table.setRuleInsertions("INPUT", counting(inserts));
  const script = await table.plan();
  const body = script.trimEnd().split("\n").slice(1, -1);
  assert.equal(body.length, 3, script);
  assert.match(body[0]!, /^-R rp-big 201 .* ! --destination-ports 60000$/);
  // The old insert is deleted by value, the new one inserted at its place.
  assert.match(body[1]!, /^-D INPUT -m comment --comment "rampart:[\w-]{16}" .* 2002$/);
  assert.match(body[2]!, /^-I INPUT 3 .* ! --destination-ports 60001$/);
  await table.apply();
  assert.equal(await table.plan(), "", "in sync");

  const bigAfter = await countersOf(netns, v, "rp-big");
  const inputAfter = await countersOf(netns, v, "INPUT");
  assert.equal(bigAfter.length, 400);
  assert.equal(bigAfter[200]!.counters, "[0:0]", "the changed rule starts from zero");
  for (let i = 0; i < 400; i++) {
    if (i !== 200) {
      assert.deepEqual(bigAfter[i], bigBefore[i], `rule ${i} untouched, counters kept`);
    }
  }
  assert.equal(inputAfter.length, 6);
  for (const i of [0, 1, 3, 4, 5]) {
    assert.deepEqual(inputAfter[i], inputBefore[i], `INPUT rule ${i} untouched, counters kept`);
  }
  assert.match(inputAfter[5]!.line, /foreign counter/);
  assert.match(inputAfter[2]!.line, /60001/);
  // The IDs in the kernel are exactly the stable IDs of the new rules.
  const save = await saveTable(netns, v, "filter");
  assert.deepEqual(chainIds(save, "rp-big"), calculateStableRuleHashes("rp-big", counting(ports)));
  assert.equal(table.metrics().restoreErrors, 0);
}

async function wholeChainChange(netns: string, v: Variant): Promise<void> {
  const table = kernelTable(netns, "filter", v);
  // Long enough that editing every rule costs more than a rewrite on legacy too.
  const n = 4000;
  table.updateChain({ name: "rp-big", rules: counting(range(1, n)) });
  table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-big") }]);
  await table.apply();
  await tcpTraffic(netns, v);
  const jumpBefore = await countersOf(netns, v, "OUTPUT");
  const next = counting(range(10_001, n));
  table.updateChain({ name: "rp-big", rules: next });
  const body = (await table.plan()).trimEnd().split("\n").slice(1, -1);
  assert.equal(body[0], ":rp-big - [0:0]", "the chain is flushed");
  assert.equal(body.length, n + 1);
  assert.ok(body.slice(1).every((l) => l.startsWith("-A rp-big ")));
  await table.apply();
  assert.equal(await table.plan(), "", "in sync");
  const save = await saveTable(netns, v, "filter");
  assert.deepEqual(chainIds(save, "rp-big"), calculateStableRuleHashes("rp-big", next));
  // The jump to the chain is not touched.
  assert.deepEqual(await countersOf(netns, v, "OUTPUT"), jumpBefore);
}

for (const v of VARIANTS) {
  kernelTest(
    `stable IDs: a change in the middle of a chain and of INPUT keeps every other counter (${
      variantName(v)
    })`,
    (netns) => middleChange(netns, v),
  );
  kernelTest(
    `stable IDs: a chain whose rules all change is flushed and rewritten (${variantName(v)})`,
    (netns) => wholeChainChange(netns, v),
  );
}
