/**
 * The warning channel of `Table` and `Firewall`: placement warnings found by
 * plan() and apply(), kept while the desired state keeps them, logged once.
 */
import assert from "assert";
import {
  Accept,
  Dnat,
  Firewall,
  Jump,
  type LogFields,
  type Logger,
  type LogLevel,
  Masq,
  Match,
  Return,
  Table,
  tablePolicy,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";

function recorder(): { logger: Logger; records: [LogLevel, string, LogFields | undefined][] } {
  const records: [LogLevel, string, LogFields | undefined][] = [];
  return {
    records,
    logger: { log: (level, message, fields) => void records.push([level, message, fields]) },
  };
}

const DOCKER_RETURN = { match: Match().inInterface("docker0"), action: Return() };

Deno.test("warnings: a rule that can never match is written, warned about and logged once", async () => {
  const fake = new FakeDataplane();
  const { logger, records } = recorder();
  const table = new Table("nat", { runner: fake.runner, backend: "nft", logger });
  table.updateChain({ name: "rp-local", rules: [{ action: Accept() }, DOCKER_RETURN] });
  table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-local") }]);
  assert.notEqual(await table.plan(), "");
  const expected = [{
    kind: "placement",
    code: "never-matches",
    message: 'Rule 2 of chain "rp-local" (nat, IPv4) never matches: inInterface("docker0") ' +
      "matches no packet in OUTPUT, where packets have no incoming interface and the chain " +
      "is reached only from there",
    table: "nat",
    ipVersion: 4,
    chain: "rp-local",
    list: "chain",
    ruleIndex: 1,
    method: "inInterface",
    hooks: ["OUTPUT"],
  }];
  assert.deepEqual(table.warnings(), expected);
  await table.apply();
  assert.deepEqual(table.warnings(), expected);
  assert.match(
    fake.rules("nat", "rp-local").at(-1)!,
    /^-A rp-local -i docker0 -m comment --comment "rampart:\S+" -j RETURN$/,
  );
  // Again and again (cached placement, in sync): still reported, logged once.
  assert.equal(await table.plan(), "");
  await table.apply();
  assert.deepEqual(table.warnings(), expected);
  const warns = records.filter(([level]) => level === "warn");
  assert.deepEqual(warns, [[
    "warn",
    expected[0]!.message,
    {
      kind: "placement",
      code: "never-matches",
      table: "nat",
      ipVersion: 4,
      chain: "rp-local",
      list: "chain",
      ruleIndex: 1,
      method: "inInterface",
      hooks: "OUTPUT",
    },
  ]]);
});

Deno.test("warnings: follow the hooks that reach a chain, and go when the cause goes", async () => {
  const fake = new FakeDataplane();
  const { logger, records } = recorder();
  const table = new Table("nat", { runner: fake.runner, backend: "nft", logger });
  table.updateChain({ name: "rp-docker", rules: [DOCKER_RETURN] });
  table.setRuleInsertions("OUTPUT", [{ action: Jump("rp-docker") }]);
  await table.apply();
  assert.equal(table.warnings().length, 1);
  // Docker's layout: reached from PREROUTING too, the rule matches there.
  table.setRuleInsertions("PREROUTING", [{ action: Jump("rp-docker") }]);
  await table.apply();
  assert.deepEqual(table.warnings(), []);
  // The same rules set again (a reload): the cached placement is taken over.
  table.updateChain({ name: "rp-docker", rules: [DOCKER_RETURN] });
  await table.apply();
  assert.deepEqual(table.warnings(), []);
  // PREROUTING's jump goes: the warning is back, and logged again.
  table.setRuleInsertions("PREROUTING", []);
  await table.apply();
  assert.equal(table.warnings().length, 1);
  assert.equal(records.filter(([level]) => level === "warn").length, 2);
  // Rules of kernel chains are checked too.
  table.setRuleAppends("POSTROUTING", [
    { match: Match().sourceNet("172.17.0.0/16").notOutInterface("docker0"), action: Masq() },
  ]);
  table.setRuleAppends("PREROUTING", [
    { match: Match().protocol("icmpv6"), action: Dnat("10.0.0.2") },
  ]);
  await table.apply();
  assert.deepEqual(
    table.warnings().map((w) => [w.chain, w.list, w.ruleIndex, w.method, w.code]),
    [
      ["PREROUTING", "append", 0, "protocol", "never-matches"],
      ["rp-docker", "chain", 0, "inInterface", "never-matches"],
    ],
  );
  // cleanUp() empties the desired state: no warnings.
  await table.cleanUp();
  assert.deepEqual(table.warnings(), []);
});

Deno.test("warnings: limitIfaceOut reached from INPUT is a warning on nft, refused on legacy", async () => {
  const rules = [{ match: Match().srcAddrType("LOCAL", true), action: Accept() }];
  for (const backend of ["nft", "legacy"] as const) {
    const fake = new FakeDataplane({ backend });
    const table = new Table("filter", { runner: fake.runner, backend });
    table.updateChain({ name: "rp-in", rules });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
    if (backend === "nft") {
      await table.apply();
      assert.deepEqual(table.warnings().map((w) => w.code), ["no-effect"]);
      assert.match(table.warnings()[0]!.message, /nf_tables ignores the limit there/);
    } else {
      await assert.rejects(table.apply(), /valid only in OUTPUT, FORWARD and POSTROUTING/);
      assert.deepEqual(fake.rules("filter", "INPUT"), []);
    }
  }
});

Deno.test("warnings: Firewall.plan() and apply() collect every table's", async () => {
  const fake = new FakeDataplane();
  const firewall = new Firewall({ runner: fake.runner, backend: "nft" });
  firewall.setPolicy({
    ipVersions: [4, 6],
    tables: [
      tablePolicy("nat", {
        chains: [{ name: "rp-local", rules: [DOCKER_RETURN] }],
        insertions: { OUTPUT: [{ action: Jump("rp-local") }] },
      }),
      tablePolicy("filter", {
        insertions: { INPUT: [{ match: Match().protocol("icmp"), action: Accept() }] },
      }),
    ],
  });
  const plan = await firewall.plan();
  const where = (w: { table: string; ipVersion: number; chain: string }) =>
    `${w.table}/${w.ipVersion}/${w.chain}`;
  // Apply order: raw, mangle, nat, filter; IPv4 then IPv6.
  assert.deepEqual(plan.warnings.map(where), [
    "nat/4/rp-local",
    "nat/6/rp-local",
    "filter/6/INPUT",
  ]);
  const result = await firewall.apply();
  assert.deepEqual(result.warnings.map(where), plan.warnings.map(where));
});
