/**
 * iptables-save is lossy for some rules: `--icmp-type 255/3` is printed as
 * `--icmp-type any` (both backends, 1.8.9), and a `-D` with that text matches
 * nothing. Our rules in chains we do not own are deleted by value, so the
 * engine deletes with the text it wrote (same process, or a rule still in the
 * desired state), and falls back to deleting by number after a failed delete
 * by value (a rule left by an earlier run).
 */
import assert from "assert";
import { Accept, Drop, Jump, Match, type Rule, Table } from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import {
  chainLines,
  kernelTable,
  kernelTest,
  saveTable,
  type Variant,
  variantName,
} from "./netns.ts";

const LOSSY: Rule = { match: Match().protocol("icmp").icmpTypeAndCode(255, 3), action: Accept() };
const FAST_CLOCK = { now: () => performance.now(), sleep: () => Promise.resolve() };

async function lossy(netns: string, v: Variant): Promise<void> {
  const first = kernelTable(netns, "filter", v, { clock: FAST_CLOCK });
  first.setRuleInsertions("FORWARD", [LOSSY, { action: Drop() }]);
  await first.apply();
  const saved = chainLines(await saveTable(netns, v, "filter"), "FORWARD");
  assert.match(saved[0]!, /--icmp-type any -j ACCEPT$/, "the saved text is lossy");

  // Same process: the table deletes with the text it wrote.
  first.setRuleInsertions("FORWARD", [{ action: Drop() }, LOSSY]);
  await first.apply();
  assert.equal(first.metrics().restoreErrors, 0);
  assert.equal(chainLines(await saveTable(netns, v, "filter"), "FORWARD").length, 2);

  // A restarted program whose desired state no longer has the rule: the delete
  // by value fails once, the retry deletes by number.
  const second = kernelTable(netns, "filter", v, { clock: FAST_CLOCK });
  second.updateChain({ name: "rp-fw", rules: [{ action: Accept() }] });
  second.setRuleInsertions("FORWARD", [{ action: Jump("rp-fw") }]);
  await second.apply();
  const lines = chainLines(await saveTable(netns, v, "filter"), "FORWARD");
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /-j rp-fw$/);
  assert.equal(second.metrics().restoreErrors, 1, "one failed delete by value, then by number");
  assert.equal(await second.plan(), "");
}

for (const backend of ["nft", "legacy"] as const) {
  const v: Variant = { backend, ipVersion: 4 };
  kernelTest(`lossy saved rules are still deleted (${variantName(v)})`, (netns) => lossy(netns, v));
}

for (const backend of ["nft", "legacy"] as const) {
  Deno.test(`FakeDataplane: a lossy saved rule cannot be deleted by its saved text (${backend})`, async () => {
    const fake = new FakeDataplane({ backend });
    const make = () =>
      new Table("filter", {
        runner: fake.runner,
        backend,
        clock: FAST_CLOCK,
        hashPrefix: "rampart:",
      });
    const first = make();
    first.setRuleInsertions("FORWARD", [LOSSY, { action: Drop() }]);
    await first.apply();
    assert.match(fake.rules("filter", "FORWARD")[0]!, /--icmp-type any -j ACCEPT$/);
    const second = make();
    second.setRuleInsertions("FORWARD", [{ action: Accept() }]);
    await second.apply();
    assert.equal(second.metrics().restoreErrors, 1, "as on the kernel");
    assert.equal(fake.rules("filter", "FORWARD").length, 1);
  });
}
