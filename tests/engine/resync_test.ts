/**
 * `src/engine/resync.ts` on its own, through a scripted dataplane: when the
 * kernel is read again, how a read is retried and interpreted, and what it
 * reports of a clobber.
 */
import assert from "assert";
import { changedChains, Resync } from "../../src/engine/resync.ts";
import {
  AmbiguousSaveError,
  OLD_INSERT_RULE,
  PrefixError,
  RestoreError,
  SaveError,
} from "../../mod.ts";
import { CollectingLogger } from "../host/scripted_runner.ts";
import { filterState, manualClock, metrics, ScriptedDataplane } from "./scripted_dataplane.ts";

function setup(options: { refreshIntervalMs?: number; postWriteIntervalMs?: number } = {}) {
  const clock = manualClock();
  const dataplane = new ScriptedDataplane({ clock });
  const logger = new CollectingLogger();
  const m = metrics();
  const resync = new Resync(dataplane, {
    table: "filter",
    ownership: { hashPrefix: "rp:", chainPrefixes: ["rp-"] },
    refreshIntervalMs: options.refreshIntervalMs ?? 90_000,
    postWriteIntervalMs: options.postWriteIntervalMs ?? 1_000,
    metrics: m,
    clock,
    logger,
  });
  return { clock, dataplane, logger, metrics: m, resync };
}

const owned = (name: string) => name.startsWith("rp-");

Deno.test("resync: changedChains lists the chains of ours whose IDs or policy changed", () => {
  const before = filterState({
    "INPUT": { hashes: ["a", ""] },
    "rp-in": { hashes: ["x", "y"] },
    "rp-gone": { hashes: [] },
    "DOCKER": { hashes: [""] },
  });
  const after = filterState({
    "INPUT": { hashes: ["a", "", ""] }, // a foreign rule added beside ours
    "rp-in": { hashes: ["x", "z"] }, // one of our rules replaced
    "DOCKER": { hashes: ["", ""] }, // another program's chain: not ours to report
    "rp-new": { hashes: [] },
  });
  after.get("OUTPUT")!.policy = "DROP"; // holds no rule of ours
  assert.deepEqual(changedChains(before, after, owned), ["INPUT", "rp-gone", "rp-in", "rp-new"]);
  assert.deepEqual(changedChains(before, before, owned), []);
});

Deno.test("resync: a read retries a failed save with a backoff and counts it", async () => {
  const { clock, dataplane, logger, metrics, resync } = setup();
  const failed = () => new SaveError("save failed", { command: "x-save", stderr: "", code: 1 });
  dataplane.reads.push(failed(), failed(), filterState());
  await resync.read();
  assert.equal(resync.inSync, true);
  assert.deepEqual(clock.sleeps, [100, 200]);
  assert.equal(metrics.saveCalls, 3);
  assert.equal(metrics.saveErrors, 2);
  assert.deepEqual(
    logger.records.filter((r) => r.level === "warn").map((r) => r.message),
    ["iptables-save failed; retrying", "iptables-save failed; retrying"],
  );
});

Deno.test("resync: a read gives up after three retries, and never retries an ambiguous save", async () => {
  const a = setup();
  a.dataplane.reads.push(new SaveError("save failed", { command: "x-save", stderr: "", code: 1 }));
  await assert.rejects(() => a.resync.read(), SaveError);
  assert.deepEqual(a.clock.sleeps, [100, 200, 400]);
  assert.equal(a.metrics.saveErrors, 4);
  assert.equal(a.resync.inSync, false);

  const b = setup();
  b.dataplane.reads.push(new AmbiguousSaveError(":INPUT DROP [0:0]", 4, "forged"));
  await assert.rejects(() => b.resync.read(), AmbiguousSaveError);
  assert.deepEqual(b.clock.sleeps, []);
  assert.equal(b.metrics.saveErrors, 1);

  // Anything else is not a refused read: not counted, not retried.
  const c = setup();
  c.dataplane.reads.push(new Error("spawn failed"));
  await assert.rejects(() => c.resync.read(), /spawn failed/);
  assert.deepEqual(c.clock.sleeps, []);
  assert.deepEqual([c.metrics.saveCalls, c.metrics.saveErrors], [1, 0]);
});

Deno.test("resync: a chain under our prefix that is another program's refuses the table", async () => {
  const { dataplane, resync } = setup();
  const state = filterState({ "rp-docker": { hashes: [""] } });
  state.get("rp-docker")!.ownership = "foreign";
  dataplane.reads.push(state);
  await assert.rejects(
    () => resync.read(),
    (e) =>
      e instanceof PrefixError && e.chain === "rp-docker" && e.prefix === "rp-" &&
      /\(IPv4, nft\)/.test(e.message),
  );
  assert.equal(resync.inSync, false);
});

Deno.test("resync: the features of a read are kept; a change is reported once", async () => {
  const { dataplane, logger, resync } = setup();
  dataplane.features = { nflogSize: true };
  assert.deepEqual(await resync.read(), { featuresChanged: true });
  assert.deepEqual(resync.features, { nflogSize: true });
  assert.deepEqual(await resync.read(), { featuresChanged: false });
  dataplane.features = { nflogSize: false };
  assert.deepEqual(await resync.read(), { featuresChanged: true });
  assert.deepEqual(
    logger.records.filter((r) => r.level === "info").map((r) => r.message),
    ["host features changed; rule IDs recomputed"],
  );
});

Deno.test("resync: a clobber of what we wrote is detected at the next read and logged with its chains", async () => {
  const { dataplane, logger, resync } = setup();
  await resync.read();
  resync.wrote(filterState({ "INPUT": { hashes: ["a"] }, "rp-in": { hashes: ["x", "y"] } }));
  // Another program's save/modify/restore dropped one rule of ours.
  dataplane.reads.push(filterState({ "INPUT": { hashes: ["a"] }, "rp-in": { hashes: ["x"] } }));
  await resync.read();
  const debug = logger.records.filter((r) =>
    r.message === "the kernel changed since it was last read or written"
  );
  assert.equal(debug.length, 1);
  assert.deepEqual(debug[0]!.fields?.chains, ["rp-in"]);
  // Read again, unchanged: nothing to report.
  await resync.read();
  assert.equal(
    logger.records.filter((r) =>
      r.message === "the kernel changed since it was last read or written"
    )
      .length,
    1,
  );
});

Deno.test("resync: the refresh timer and the post-write checks ask for a read; the delay keeps a floor", async () => {
  const { clock, dataplane, resync } = setup({
    refreshIntervalMs: 10_000,
    postWriteIntervalMs: 1_000,
  });
  await resync.read();
  const start = clock.now();
  resync.wrote(filterState());
  assert.equal(resync.nextCheckDelay(start, 0), 1_000);
  clock.advance(999);
  resync.checkTimers(clock.now());
  assert.equal(resync.inSync, true);
  clock.advance(1);
  resync.checkTimers(clock.now());
  assert.equal(resync.inSync, false, "post-write check due");
  await resync.read();
  // The next post-write check is twice as far from the write.
  assert.equal(resync.nextCheckDelay(clock.now(), 0), 1_000);
  clock.advance(1_000);
  resync.checkTimers(clock.now());
  assert.equal(resync.inSync, false);
  // A slow read (and write) raise the floor of the post-write interval.
  dataplane.readMs = 3_000;
  await resync.read();
  resync.wrote(filterState());
  assert.equal(resync.nextCheckDelay(clock.now(), 1_000), 8_000);
  // Without post-write checks pending, the refresh timer decides.
  const idle = setup({ refreshIntervalMs: 10_000, postWriteIntervalMs: 3_600_000 });
  await idle.resync.read();
  idle.clock.advance(4_000);
  assert.equal(idle.resync.nextCheckDelay(idle.clock.now(), 0), 6_000);
  idle.clock.advance(6_000);
  idle.resync.checkTimers(idle.clock.now());
  assert.equal(idle.resync.inSync, false, "refresh timer due");
});

Deno.test("resync: a failed delete by value of our rule deletes by number next; of a misread jump, leaves it alone", async () => {
  const jump = "-A INPUT -i x -j rp-in";
  const { dataplane, logger, resync } = setup();
  dataplane.reads.push(filterState({
    "INPUT": {
      hashes: [OLD_INSERT_RULE, "abc"],
      lines: [jump, '-A INPUT -m comment --comment "rp:abc" -j ACCEPT'],
    },
  }));
  await resync.read();
  const failure = (line: string) =>
    new RestoreError("restore failed", {
      command: "x-restore",
      script: "",
      stderr: "",
      code: 1,
      failedLine: 2,
      failedLineText: line,
    });
  resync.restoreFailed(failure('-D INPUT -m comment --comment "rp:abc" -j ACCEPT'));
  assert.equal(resync.inSync, false);
  assert.deepEqual([...resync.deleteByPosition], ["INPUT"]);
  resync.restoreFailed(failure("-D INPUT -i x -j rp-in"));
  assert.deepEqual([...resync.deleteByPosition], ["INPUT"]);
  assert.match(logger.records.at(-1)!.message, /left alone a rule of chain INPUT/);
  // From now on that rule reads as another program's.
  await resync.read();
  assert.deepEqual(resync.state.get("INPUT")!.hashes, ["", "abc"]);
  // A write that succeeds deletes by value again.
  resync.wrote(resync.state);
  assert.deepEqual([...resync.deleteByPosition], []);
});

Deno.test("resync: a chain with our prefix that nothing shows to be ours is left alone unless wanted, with one warning", async () => {
  const { dataplane, logger, resync } = setup();
  const state = filterState({ "rp-old": {} });
  state.get("rp-old")!.ownership = "unknown";
  dataplane.reads.push(state);
  await resync.read();
  const leave = resync.ownedChainsToChange(new Map());
  assert.equal(leave("rp-old"), false);
  assert.equal(leave("rp-in"), true);
  assert.equal(leave("INPUT"), false);
  resync.ownedChainsToChange(new Map());
  assert.equal(logger.records.filter((r) => r.level === "warn").length, 1);
  assert.equal(resync.ownedChainsToChange(new Map([["rp-old", {}]]))("rp-old"), true);
});
