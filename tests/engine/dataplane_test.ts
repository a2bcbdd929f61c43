/**
 * The seam (`src/engine/dataplane.ts`): a `Table` given a dataplane that is
 * not the iptables binaries reads, plans and writes through it alone; the
 * options that configure the default `IptablesDataplane` are refused beside
 * one.
 */
import assert from "assert";
import {
  Accept,
  IptablesDataplane,
  Jump,
  Match,
  MissingIpSetError,
  RestoreError,
  Table,
  TableConfigError,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { filterState, manualClock, ScriptedDataplane } from "./scripted_dataplane.ts";

function table(dataplane: ScriptedDataplane) {
  const t = new Table("filter", { dataplane, hashPrefix: "rp:", clock: manualClock() });
  t.updateChain({
    name: "rp-in",
    rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }],
  });
  t.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  return t;
}

Deno.test("dataplane seam: a table reads, plans and writes through a dataplane that is not iptables", async () => {
  const dataplane = new ScriptedDataplane();
  const t = table(dataplane);
  assert.equal(t.ipVersion, 4);
  assert.equal(t.backend, "nft");
  const script = await t.plan();
  assert.match(script, /^\*filter\n:rp-in - \[0:0\]\n/);
  assert.deepEqual(dataplane.calls, ["prepare filter", "read filter"]);
  // apply() right after plan() writes that plan, streamed.
  await t.apply();
  assert.equal(dataplane.writes.length, 1);
  assert.equal(dataplane.writes[0]!.script, script);
  assert.ok(dataplane.writes[0]!.chunks !== undefined);
  // In sync: nothing is read or written again.
  const calls = dataplane.calls.length;
  await t.apply();
  assert.deepEqual(dataplane.calls.slice(calls), ["prepare filter"]);
  assert.equal(t.metrics().restoreCalls, 1);
  assert.equal(t.metrics().backend, "nft");
});

Deno.test("dataplane seam: the dataplane's IP sets guard the write; its refusal is a RestoreError with its command", async () => {
  const dataplane = new ScriptedDataplane({ streams: false });
  const t = new Table("filter", { dataplane, hashPrefix: "rp:", clock: manualClock() });
  t.updateChain({
    name: "rp-in",
    rules: [{ match: Match().sourceIpSet("rp-allowed"), action: Accept() }],
  });
  t.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await assert.rejects(() => t.apply(), MissingIpSetError);
  assert.equal(dataplane.writes.length, 0, "nothing written");
  dataplane.sets.add("rp-allowed");
  dataplane.outcomes.push({ command: "other-restore", code: 1, stderr: "no", timedOut: true });
  await assert.rejects(
    () => t.apply(),
    (e) => e instanceof RestoreError && e.command === "other-restore" && e.timedOut,
  );
  await t.apply();
  assert.equal(dataplane.writes.at(-1)!.chunks, undefined, "not streamed: the whole script");
  assert.match(dataplane.writes.at(-1)!.script, /--match-set rp-allowed src/);
});

Deno.test("dataplane seam: a clobber is read back and written again", async () => {
  const dataplane = new ScriptedDataplane();
  const t = table(dataplane);
  await t.apply();
  // What the kernel holds now, as the dataplane reads it: another program
  // flushed our chain.
  const written = dataplane.writes[0]!.script;
  const ids = [...written.matchAll(/--comment "rp:([^"]+)"/g)].map((m) => m[1]!);
  dataplane.reads.push(filterState({ "INPUT": { hashes: [ids[1]!] }, "rp-in": { hashes: [] } }));
  t.invalidateDataplaneCache("test");
  await t.apply();
  assert.match(dataplane.writes[1]!.script, /-A rp-in .*--destination-ports 22/);
});

Deno.test("dataplane seam: the options of the default IptablesDataplane are refused beside a dataplane", () => {
  const dataplane = new ScriptedDataplane();
  for (
    const options of [
      { backend: "nft" as const },
      { runner: new FakeDataplane().runner },
      { netns: "x" },
      { lockTimeoutMs: 5 },
      { commandTimeoutMs: 5 },
    ]
  ) {
    assert.throws(
      () => new Table("filter", { dataplane, ...options }),
      (e) => e instanceof TableConfigError && e.field === Object.keys(options)[0],
    );
  }
  assert.throws(
    () => new Table("filter", { dataplane, ipVersion: 6 }),
    (e) => e instanceof TableConfigError && e.field === "ipVersion",
  );
  assert.equal(
    new Table("filter", { dataplane: new ScriptedDataplane({ ipVersion: 6 }) }).ipVersion,
    6,
  );
});

Deno.test("dataplane seam: one IptablesDataplane serves every table of its family", async () => {
  const fake = new FakeDataplane();
  const dataplane = new IptablesDataplane({ runner: fake.runner, variant: "nft" });
  const filter = new Table("filter", { dataplane });
  const raw = new Table("raw", { dataplane });
  filter.updateChain({ name: "rp-in", rules: [{ action: Accept() }] });
  filter.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  raw.setRuleInsertions("PREROUTING", [{ match: Match().protocol("udp"), action: Accept() }]);
  await Promise.all([filter.apply(), raw.apply()]);
  assert.equal(fake.rules("filter", "INPUT").length, 1);
  assert.equal(fake.rules("raw", "PREROUTING").length, 1);
  assert.equal(await filter.plan(), "");
  assert.equal(await raw.plan(), "");
});
