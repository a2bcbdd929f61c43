/**
 * Scenario 9: the two backends side by side. Legacy rules present while
 * using nft and vice versa; `backend: "auto"` picks the backend holding our
 * rules, and `table.backend` reports the choice.
 */
import assert from "assert";
import { Accept, BackendConflictError, Drop, Jump, Match, Table } from "../../mod.ts";
import {
  kernelTable,
  kernelTest,
  restoreScript,
  saveTable,
  TABLE_DEFAULTS,
  type Variant,
} from "./netns.ts";

function foreignRules(n: number): string {
  const lines = ["*filter"];
  for (let i = 0; i < n; i++) lines.push(`-A INPUT -p tcp -m tcp --dport ${3000 + i} -j ACCEPT`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

function program(table: Table): void {
  table.updateChain({
    name: "rp-input",
    rules: [
      { match: Match().protocol("tcp").destPorts(22), action: Accept() },
      { action: Drop() },
    ],
  });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
}

function autoTable(netns: string, ipVersion: 4 | 6): Table {
  return new Table("filter", { ...TABLE_DEFAULTS, netns, ipVersion, backend: "auto" });
}

async function sideBySide(netns: string, ipVersion: 4 | 6): Promise<void> {
  const nft: Variant = { backend: "nft", ipVersion };
  const legacy: Variant = { backend: "legacy", ipVersion };

  // No rules anywhere: a choice is made and reported.
  const fresh = autoTable(netns, ipVersion);
  assert.equal(fresh.backend, undefined, "unknown before the first plan/apply");
  await fresh.plan();
  assert.ok(fresh.backend === "nft" || fresh.backend === "legacy");
  assert.equal(fresh.metrics().backend, fresh.backend);

  // Many foreign rules in legacy, ours in nft.
  await restoreScript(netns, legacy, foreignRules(30));
  const legacyBefore = await saveTable(netns, legacy, "filter");
  const onNft = kernelTable(netns, "filter", nft);
  program(onNft);
  await onNft.apply();
  assert.equal(await saveTable(netns, legacy, "filter"), legacyBefore, "legacy untouched");
  let auto = autoTable(netns, ipVersion);
  program(auto);
  assert.equal(await auto.plan(), "", "auto found our rules in sync");
  assert.equal(auto.backend, "nft", "our rules (nft) beat the rule count (legacy)");
  assert.equal(auto.metrics().backend, "nft");
  await auto.apply();
  assert.equal(auto.metrics().restoreCalls, 0);

  // Move to legacy: clean up nft, program legacy; nft gets many foreign rules.
  await onNft.cleanUp();
  await restoreScript(netns, nft, foreignRules(50));
  const nftBefore = await saveTable(netns, nft, "filter");
  const onLegacy = kernelTable(netns, "filter", legacy);
  program(onLegacy);
  await onLegacy.apply();
  assert.equal(await saveTable(netns, nft, "filter"), nftBefore, "nft untouched");
  auto = autoTable(netns, ipVersion);
  program(auto);
  assert.equal(await auto.plan(), "");
  assert.equal(auto.backend, "legacy", "our rules (legacy) beat the rule count (nft)");
  await auto.apply();
  assert.equal(auto.metrics().restoreCalls, 0);

  // Ours in both: refused with a typed error, nothing written.
  // (cleanUp emptied onNft's desired state.)
  program(onNft);
  await onNft.apply();
  const both = [await saveTable(netns, nft, "filter"), await saveTable(netns, legacy, "filter")];
  auto = autoTable(netns, ipVersion);
  program(auto);
  const error = await auto.apply().then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof BackendConflictError, String(error));
  assert.ok(error.nftRules > 0 && error.legacyRules > 0);
  assert.deepEqual(
    [await saveTable(netns, nft, "filter"), await saveTable(netns, legacy, "filter")],
    both,
  );

  // Without our rules anywhere, the rule counts decide (nft has more now).
  await onNft.cleanUp();
  await onLegacy.cleanUp();
  auto = autoTable(netns, ipVersion);
  program(auto);
  await auto.apply();
  assert.equal(auto.backend, "nft");
  assert.match(await saveTable(netns, nft, "filter"), /rampart:/);
  assert.doesNotMatch(await saveTable(netns, legacy, "filter"), /rampart:/);
}

for (const ipVersion of [4, 6] as const) {
  kernelTest(
    `auto-detection picks the backend with our rules (IPv${ipVersion})`,
    (netns) => sideBySide(netns, ipVersion),
  );
}
