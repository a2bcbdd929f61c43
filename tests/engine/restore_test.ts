/**
 * `src/engine/restore.ts` on its own, through a scripted dataplane: how a
 * plan's script reaches the dataplane, what holds its COMMIT back, and how a
 * failure is mapped to its line, chain and rule.
 */
import assert from "assert";
import {
  Accept,
  calculateRuleHashes,
  Jump,
  Match,
  MissingIpSetError,
  RestoreError,
} from "../../mod.ts";
import type { Rule } from "../../mod.ts";
import { IpSetGuard } from "../../src/engine/ipset_guard.ts";
import { type PlanInput, planTable, streamTablePlan } from "../../src/engine/planner.ts";
import {
  checkedScript,
  finishedStream,
  guardedChunks,
  PlanWriter,
  restoreError,
} from "../../src/engine/restore.ts";
import { CollectingLogger } from "../host/scripted_runner.ts";
import { filterState, manualClock, metrics, ScriptedDataplane } from "./scripted_dataplane.ts";

const r = (n: number): Rule => ({ match: Match().protocol("tcp").destPorts(n), action: Accept() });

function input(rules: Rule[], name = "rp-a"): PlanInput {
  return {
    table: "filter",
    backend: "nft",
    positionalEdits: true,
    insertMode: "insert",
    hashPrefix: "rp:",
    features: {},
    owned: new Map([[name, { rules, hashes: calculateRuleHashes(name, rules) }]]),
    foreign: new Map(),
    policies: new Map(),
    dataplane: filterState(),
    isOwnedChain: (c) => c.startsWith("rp-"),
  };
}

function writer(dataplane: ScriptedDataplane) {
  const m = metrics();
  const logger = new CollectingLogger();
  const clock = manualClock();
  return {
    m,
    logger,
    w: new PlanWriter(dataplane, { table: "filter", metrics: m, logger, clock }),
  };
}

const many = (n: number) => Array.from({ length: n }, (_, i) => r(1000 + i));

Deno.test("restore: a streamed write hands the script over in chunks, the state it leaves returned", async () => {
  const dataplane = new ScriptedDataplane();
  const { m, w } = writer(dataplane);
  const expected = planTable(input(many(600)));
  const stream = streamTablePlan(input(many(600)), { keepScript: false });
  const done = await w.write(stream, {
    guard: new IpSetGuard(() => dataplane.ipSets()),
    streamed: true,
  });
  const [written] = dataplane.writes;
  assert.ok(written!.chunks!.length > 1, "several chunks");
  assert.equal(written!.script, expected.script);
  assert.equal(done.lineCount, expected.lineCount);
  assert.deepEqual([...done.next], [...expected.next]);
  assert.deepEqual([m.restoreCalls, m.restoreErrors, m.linesExecuted], [1, 0, expected.lineCount]);
  // No rule names an IP set: nothing was listed.
  assert.deepEqual(dataplane.calls, ["write filter"]);
});

Deno.test("restore: a write that is not streamed hands the whole script over", async () => {
  const dataplane = new ScriptedDataplane({ streams: false });
  const { w } = writer(dataplane);
  const stream = streamTablePlan(input([r(22)]));
  await w.write(stream, { guard: new IpSetGuard(() => dataplane.ipSets()), streamed: false });
  assert.equal(dataplane.writes[0]!.chunks, undefined);
  assert.equal(dataplane.writes[0]!.script, planTable(input([r(22)])).script);
});

Deno.test("restore: the chunk with COMMIT waits for the IP-set check, and a missing set stops it", async () => {
  const rules: Rule[] = [...many(600), { match: Match().sourceIpSet("rp-gone"), action: Accept() }];
  const stream = streamTablePlan(input(rules), { keepScript: false });
  const guard = new IpSetGuard(() => Promise.resolve(new Set<string>()));
  guard.add({ name: "rp-a", rules }, ["rp-gone"]);
  const taken: string[] = [];
  await assert.rejects(async () => {
    for await (const chunk of guardedChunks(stream, guard)) taken.push(chunk);
  }, MissingIpSetError);
  assert.ok(taken.length > 0);
  assert.ok(!taken.join("").includes("COMMIT"), "the COMMIT chunk was held back");
  // The whole script is refused the same way.
  await assert.rejects(
    () => checkedScript(streamTablePlan(input(rules)), guard),
    MissingIpSetError,
  );
});

Deno.test("restore: a refused write is a RestoreError naming the command, the line and the rule", async () => {
  const dataplane = new ScriptedDataplane();
  dataplane.outcomes.push({
    command: "iptables-nft-restore",
    code: 2,
    stderr: "iptables-restore: line 4 failed\n",
    timedOut: false,
  });
  const { m, w } = writer(dataplane);
  const stream = streamTablePlan(input([r(1), r(2), r(3)]), { keepScript: false });
  const error = await w.write(stream, {
    guard: new IpSetGuard(() => dataplane.ipSets()),
    streamed: true,
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof RestoreError);
  assert.equal(error.command, "iptables-nft-restore");
  assert.equal(error.failedLine, 4);
  assert.deepEqual(error.location, { chain: "rp-a", ruleIndex: 1, list: "chain" });
  assert.match(error.message, /rejected line 4 \(rule 2 of chain "rp-a"\)/);
  // The script was planned again for the report (the stream kept none).
  assert.equal(error.script, planTable(input([r(1), r(2), r(3)])).script);
  assert.deepEqual([m.restoreCalls, m.restoreErrors, m.linesExecuted], [1, 1, 0]);
});

Deno.test("restore: restoreError maps a missing chain at COMMIT to the rule that jumps there, and a timeout", () => {
  const plan = planTable(
    input([r(1), { action: Jump("rp-x") }]),
  );
  const lines = plan.script.split("\n");
  const commit = lines.indexOf("COMMIT") + 1;
  const missing = restoreError({
    command: "iptables-nft-restore",
    code: 1,
    stderr:
      `iptables-nft-restore: Chain 'rp-x' does not exist\nError occurred at line: ${commit}\n`,
    timedOut: false,
  }, plan);
  assert.equal(missing.failedLine, 4);
  assert.deepEqual(missing.location, { chain: "rp-a", ruleIndex: 1, list: "chain" });

  const atCommit = restoreError({
    command: "iptables-nft-restore",
    code: 1,
    stderr: `Error occurred at line: ${commit}\n`,
    timedOut: false,
  }, plan);
  assert.equal(atCommit.atCommit, true);
  assert.equal(atCommit.addedRules.length, 2);

  const hung = restoreError(
    { command: "iptables-restore", code: 137, stderr: "", timedOut: true },
    plan,
  );
  assert.equal(hung.timedOut, true);
  assert.match(hung.message, /killed after its timeout/);
});

Deno.test("restore: the slowest recent write is kept, decaying", async () => {
  const clock = manualClock();
  const dataplane = new ScriptedDataplane();
  const slow: ScriptedDataplane["write"] = dataplane.write.bind(dataplane);
  dataplane.write = async (table, script) => {
    clock.advance(500);
    return await slow(table, script);
  };
  const w = new PlanWriter(dataplane, {
    table: "filter",
    metrics: metrics(),
    logger: new CollectingLogger(),
    clock,
  });
  const guard = () => new IpSetGuard(() => dataplane.ipSets());
  await w.write(streamTablePlan(input([r(1)])), { guard: guard(), streamed: true });
  assert.equal(w.peakMs, 500);
  dataplane.write = slow;
  await w.write(streamTablePlan(input([r(2)])), { guard: guard(), streamed: true });
  assert.equal(w.peakMs, 495);
});

Deno.test("restore: finishedStream writes a produced plan in one chunk", () => {
  const stream = finishedStream(streamTablePlan(input([r(1), r(2)])));
  const plan = planTable(input([r(1), r(2)]));
  assert.deepEqual([...stream.chunks], [plan.script]);
  assert.equal(stream.finish().script, plan.script);
  assert.equal(stream.drain().lineCount, plan.lineCount);
});
