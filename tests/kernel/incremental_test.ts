/**
 * Scenario 2: an incremental change of one rule in a large chain writes only
 * the lines that must change, and every untouched rule keeps its packet and
 * byte counters (`iptables-save -c`).
 *
 * With chained rule IDs (`ruleIds: "chained"`: each depends on every rule
 * before it), changing rule k changes the IDs of rules k..n-1: those are
 * replaced with `-R`; the rules before k are untouched. Stable IDs (the
 * default) are tested in `stable_ids_test.ts`.
 */
import assert from "assert";
import { Jump, Match, type Rule } from "../../mod.ts";
import {
  chainLinesWithCounters,
  kernelTable,
  kernelTest,
  saveTable,
  tcpTraffic,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const SIZE = 400;

function bigChain(change: { at?: number; extra?: boolean; drop?: number } = {}): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < SIZE; i++) {
    if (i === change.drop) continue;
    const port = i === change.at ? 60000 : 1000 + i;
    // Counting rules (no action): every TCP packet on lo passes through all of them.
    rules.push({ match: Match().protocol("tcp").notDestPorts(port) });
  }
  if (change.extra) rules.push({ match: Match().protocol("tcp").destPorts(9) });
  return rules;
}

async function incremental(netns: string, v: Variant): Promise<void> {
  const table = kernelTable(netns, "filter", v, { ruleIds: "chained" });
  table.updateChain({ name: "rp-big", rules: bigChain() });
  table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-big") }]);
  await table.apply();
  await tcpTraffic(netns, v);
  const before = chainLinesWithCounters(
    await saveTable(netns, v, "filter", { counters: true }),
    "rp-big",
  );
  assert.equal(before.length, SIZE);
  assert.ok(before.every((r) => r.counters !== "[0:0]"), "counters are non-zero");

  async function step(rules: Rule[], expected: RegExp[], untouched: number, label: string) {
    await tcpTraffic(netns, v);
    const prev = chainLinesWithCounters(
      await saveTable(netns, v, "filter", { counters: true }),
      "rp-big",
    );
    table.updateChain({ name: "rp-big", rules });
    const script = await table.plan();
    const lines = script.trimEnd().split("\n");
    assert.equal(lines[0], "*filter", label);
    assert.equal(lines.at(-1), "COMMIT", label);
    const body = lines.slice(1, -1);
    assert.equal(body.length, expected.length, `${label}: ${script}`);
    body.forEach((l, i) => assert.match(l, expected[i]!, label));
    await table.apply();
    assert.equal(await table.plan(), "", `${label}: in sync`);
    const after = chainLinesWithCounters(
      await saveTable(netns, v, "filter", { counters: true }),
      "rp-big",
    );
    assert.equal(after.length, rules.length, label);
    assert.ok(prev.every((r) => r.counters !== "[0:0]"), `${label}: counters are non-zero`);
    for (let i = 0; i < untouched; i++) {
      assert.deepEqual(after[i], prev[i], `${label}: rule ${i} untouched, counters kept`);
    }
    const jump = chainLinesWithCounters(
      await saveTable(netns, v, "filter", { counters: true }),
      "OUTPUT",
    );
    assert.equal(jump.length, 1);
    assert.notEqual(jump[0]!.counters, "[0:0]", `${label}: the OUTPUT jump keeps its counters`);
  }

  // Change the last rule: one -R.
  await step(
    bigChain({ at: SIZE - 1 }),
    [/^-R rp-big 400 .*! --destination-ports 60000$/],
    SIZE - 1,
    "last",
  );
  // Append one rule: one -A.
  await step(
    bigChain({ at: SIZE - 1, extra: true }),
    [/^-A rp-big .*-p tcp -m multiport --destination-ports 9$/],
    SIZE,
    "append",
  );
  // Change rule 300: -R for 300..400 (the chained IDs of the rules after it change too).
  const r300 = bigChain({ at: 300, extra: true });
  await step(
    r300,
    Array.from({ length: SIZE + 1 - 300 }, (_, i) => new RegExp(`^-R rp-big ${301 + i} `)),
    300,
    "middle",
  );
  // Remove the last rule: one -D.
  await step(bigChain({ at: 300 }), [/^-D rp-big 401$/], SIZE, "truncate");
  assert.equal(table.metrics().restoreErrors, 0);
}

for (const v of VARIANTS) {
  kernelTest(
    `incremental change keeps counters, chained IDs (${variantName(v)})`,
    (netns) => incremental(netns, v),
  );
}
