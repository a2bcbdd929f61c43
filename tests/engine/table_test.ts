/**
 * The reference's table scenarios, on the fake dataplane: exact scripts where
 * the reference asserts them, final kernel state everywhere.
 */
import assert from "assert";
import type { Features, FeatureSource } from "../../mod.ts";
import {
  Accept,
  ChainLoopError,
  type CommandRunner,
  DanglingReferenceError,
  Drop,
  Jump,
  Masq,
  Match,
  MissingIpSetError,
  PlacementError,
  RestoreError,
  type Rule,
  RuleError,
  Table,
  type TableOptions,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { manualClock } from "./scripted_dataplane.ts";

function setup(
  options: TableOptions & { fakeBackend?: "nft" | "legacy" } = {},
) {
  const fake = new FakeDataplane({
    backend: options.fakeBackend ?? options.backend === "legacy" ? "legacy" : "nft",
  });
  const clock = manualClock();
  const table = new Table("filter", {
    runner: fake.runner,
    backend: "nft",
    hashPrefix: "rp:",
    clock,
    featureDetector: {
      getFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
      refreshFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
    },
    ...options,
  });
  return { fake, table, clock };
}

async function seed(fake: FakeDataplane, script: string, cmd = "iptables-restore"): Promise<void> {
  const r = await fake.runner.run(cmd, ["--noflush"], { stdin: script });
  assert.equal(r.code, 0, r.stderr);
}

async function rulesOf(fake: FakeDataplane, table = "filter"): Promise<string[]> {
  const r = await fake.runner.run("iptables-save", ["-t", table]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) =>
    l.startsWith("-A ") ||
    (l.startsWith(":") && !/^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l))
  );
}

function restores(fake: FakeDataplane): string[] {
  return fake.calls.filter((c) => c.cmd.includes("restore")).map((c) => c.stdin ?? "");
}

const tcp = (port: number): Rule => ({
  match: Match().protocol("tcp").destPorts(port),
  action: Accept(),
});

Deno.test("table: nothing runs before the first apply", () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(22)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  table.invalidateDataplaneCache("test");
  assert.equal(fake.calls.length, 0);
});

Deno.test("table: first apply programs chains and insertions; second apply runs nothing", async () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(22), { action: Drop() }] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  const rules = await rulesOf(fake);
  assert.equal(rules.filter((l) => l.startsWith("-A rp-in")).length, 2);
  assert.ok(rules.some((l) => /^-A INPUT .*rp:.* -j rp-in$/.test(l)), rules.join("\n"));
  const before = fake.calls.length;
  await table.apply();
  assert.equal(fake.calls.length, before, "an in-sync apply spawns no process");
  assert.equal(await table.plan(), "");
});

Deno.test("table: extend, replace and truncate write only what changed (chained IDs)", async () => {
  const { fake, table } = setup({ ruleIds: "chained" });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(2)] });
  await table.apply();
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(2), tcp(3)] });
  await table.apply();
  let last = restores(fake).at(-1)!.trim().split("\n");
  assert.equal(last.length, 3);
  assert.match(
    last[1]!,
    /^-A rp-in -m comment --comment "rp:[\w-]{16}" -p tcp -m multiport --destination-ports 3 --jump ACCEPT$/,
  );
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(9), tcp(3)] });
  await table.apply();
  last = restores(fake).at(-1)!.trim().split("\n");
  assert.deepEqual(last.map((l) => l.split(" ").slice(0, 3).join(" ")), [
    "*filter",
    "-R rp-in 2",
    "-R rp-in 3",
    "COMMIT",
  ]);
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  await table.apply();
  last = restores(fake).at(-1)!.trim().split("\n");
  assert.deepEqual(last, ["*filter", "-D rp-in 2", "-D rp-in 2", "COMMIT"]);
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in")).length, 1);
});

Deno.test("table: extend, replace, insert, move and truncate write one line per rule (stable IDs)", async () => {
  const { fake, table } = setup();
  const last = () => restores(fake).at(-1)!.trim().split("\n");
  const heads = () => last().map((l) => l.split(" ").slice(0, 3).join(" "));
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(2), tcp(3), tcp(4), tcp(5)] });
  await table.apply();
  // One rule in the middle changed: one -R.
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(2), tcp(9), tcp(4), tcp(5)] });
  await table.apply();
  assert.deepEqual(last().slice(1, -1).map((l) => l.replace(/"rp:[\w-]{16}"/, "ID")), [
    "-R rp-in 3 -m comment --comment ID -p tcp -m multiport --destination-ports 9 --jump ACCEPT",
  ]);
  // One inserted at the top, one appended.
  table.updateChain({
    name: "rp-in",
    rules: [tcp(0), tcp(1), tcp(2), tcp(9), tcp(4), tcp(5), tcp(6)],
  });
  await table.apply();
  assert.deepEqual(heads(), ["*filter", "-I rp-in 1", "-A rp-in -m", "COMMIT"]);
  // tcp(0) moved to the end: a delete and an append.
  table.updateChain({
    name: "rp-in",
    rules: [tcp(1), tcp(2), tcp(9), tcp(4), tcp(5), tcp(6), tcp(0)],
  });
  await table.apply();
  assert.deepEqual(heads(), ["*filter", "-D rp-in 1", "-A rp-in -m", "COMMIT"]);
  // Three deleted from the middle.
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(5), tcp(6), tcp(0)] });
  await table.apply();
  assert.deepEqual(heads(), ["*filter", "-D rp-in 2", "-D rp-in 2", "-D rp-in 2", "COMMIT"]);
  const kept = (await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in"));
  assert.deepEqual(kept.map((l) => l.split(" ").at(-3)), ["1", "5", "6", "0"]);
  assert.equal(await table.plan(), "");
});

Deno.test("table: a table written with chained IDs is taken over with stable ones, and back", async () => {
  const { fake, table } = setup({ ruleIds: "chained" });
  const rules = [tcp(1), tcp(2), tcp(3)];
  table.updateChain({ name: "rp-in", rules });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }, { action: Drop() }]);
  await table.apply();
  const stable = new Table("filter", {
    runner: fake.runner,
    backend: "nft",
    hashPrefix: "rp:",
    featureDetector: {
      getFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
      refreshFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
    },
  });
  stable.updateChain({ name: "rp-in", rules });
  stable.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }, { action: Drop() }]);
  // Each list's first rule has the same ID in both schemes: only the others are written.
  const heads = (await stable.plan()).trim().split("\n").map((l) =>
    l.split(" ").slice(0, 3).join(" ")
  );
  assert.deepEqual(heads, [
    "*filter",
    "-R rp-in 2",
    "-R rp-in 3",
    "-D INPUT -m",
    "-A INPUT -m",
    "COMMIT",
  ]);
  await stable.apply();
  assert.equal(await stable.plan(), "");
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A ")).length, 5);
  // And back: two -R, and (chained IDs) both INPUT rules deleted and inserted again.
  assert.deepEqual(
    (await table.plan()).trim().split("\n").map((l) => l.split(" ").slice(0, 2).join(" ")),
    ["*filter", "-R rp-in", "-R rp-in", "-D INPUT", "-D INPUT", "-I INPUT", "-I INPUT", "COMMIT"],
  );
});

for (const backend of ["nft", "legacy"] as const) {
  for (const insertMode of ["insert", "append"] as const) {
    Deno.test(`table: dirty start cleans stale rules, keeps foreign ones (${backend}, ${insertMode})`, async () => {
      const { fake, table } = setup({
        backend,
        insertMode,
        extraCleanupRegexPattern: "-j OLD-STYLE",
      });
      await seed(
        fake,
        [
          "*filter",
          ":rp-stale - [0:0]",
          ":OLD-STYLE - [0:0]",
          ":foreign - [0:0]",
          "-A rp-stale -j DROP",
          "-A INPUT -s 10.9.9.9/32 -j ACCEPT",
          '-A INPUT -m comment --comment "rp:AAAAAAAAAAAAAAAA" -j rp-stale',
          "-A INPUT -j OLD-STYLE",
          "-A INPUT -j foreign",
          "-A FORWARD -j rp-stale",
          "COMMIT",
          "",
        ].join("\n"),
        `iptables-${backend}-restore`,
      );
      table.updateChain({ name: "rp-in", rules: [tcp(22)] });
      table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
      table.setRuleAppends("INPUT", [{ action: Drop() }]);
      await table.apply();
      const rules = await rulesOf(fake);
      assert.ok(!rules.some((l) => l.includes("rp-stale")), rules.join("\n"));
      assert.ok(!rules.some((l) => l.includes("-j OLD-STYLE")), rules.join("\n"));
      const input = rules.filter((l) => l.startsWith("-A INPUT"));
      const foreign = ["-A INPUT -s 10.9.9.9/32 -j ACCEPT", "-A INPUT -j foreign"];
      const ours = input.filter((l) => !foreign.includes(l));
      assert.equal(ours.length, 2);
      assert.match(ours[0]!, /-j rp-in$/);
      assert.match(ours[1]!, /-j DROP$/);
      const expected = insertMode === "insert"
        ? [ours[0], ...foreign, ours[1]]
        : [...foreign, ...ours];
      assert.deepEqual(input, expected);
      assert.equal(await table.plan(), "");
    });
  }
}

Deno.test("table: reachability decides which chains exist", async () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-a", rules: [{ action: Jump("rp-b") }] });
  table.updateChain({ name: "rp-b", rules: [tcp(80)] });
  await table.apply();
  assert.deepEqual(await rulesOf(fake), [], "unreachable chains are not written");
  table.setRuleInsertions("FORWARD", [{ action: Jump("rp-a") }]);
  await table.apply();
  let rules = await rulesOf(fake);
  assert.ok(rules.includes(":rp-a - [0:0]") && rules.includes(":rp-b - [0:0]"), rules.join("\n"));
  table.setRuleInsertions("FORWARD", []);
  await table.apply();
  rules = await rulesOf(fake);
  assert.deepEqual(rules, [], "chains that became unreachable are deleted");
});

Deno.test("table: a rebuilt policy keeps IDs and jumps of rules that render the same, and follows changed jumps", async () => {
  const { fake, table } = setup();
  // Rebuilt from scratch each time, as reloading a policy file does.
  const load = (target: string) => {
    table.updateChains([
      { name: "rp-a", rules: [tcp(22), { match: Match().protocol("udp"), action: Jump(target) }] },
      { name: "rp-b", rules: [tcp(80)] },
      { name: "rp-c", rules: [tcp(443)] },
    ]);
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  };
  load("rp-b");
  await table.apply();
  const before = await rulesOf(fake);
  assert.ok(before.includes(":rp-b - [0:0]") && !before.includes(":rp-c - [0:0]"));
  const calls = fake.calls.length;
  load("rp-b");
  await table.apply();
  assert.deepEqual(
    fake.calls.slice(calls).map((c) => c.cmd),
    [],
    "identical rules: no process runs",
  );
  assert.equal(await table.plan(), "", "and the kernel is in sync");
  load("rp-c");
  await table.apply();
  const after = await rulesOf(fake);
  assert.ok(after.includes(":rp-c - [0:0]"), "the new jump target is programmed");
  assert.ok(!after.includes(":rp-b - [0:0]"), "the old one, now unreachable, is deleted");
  assert.deepEqual(
    after.filter((l) => l.startsWith("-A rp-a ")).slice(0, 1),
    before.filter((l) => l.startsWith("-A rp-a ")).slice(0, 1),
    "the unchanged first rule keeps its ID",
  );
});

Deno.test("table: clobbers are repaired on the next due apply", async () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(1), tcp(2), tcp(3)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  const good = await rulesOf(fake);
  // Another program inserts a rule into our chain.
  await seed(fake, "*filter\n-I rp-in 2 -j ACCEPT\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.deepEqual(restores(fake).at(-1)!.trim().split("\n"), ["*filter", "-D rp-in 2", "COMMIT"]);
  assert.deepEqual(await rulesOf(fake), good);
  // … flushes our chain and deletes our kernel-chain rule.
  await seed(fake, "*filter\n-F rp-in\n-D INPUT 1\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.deepEqual(await rulesOf(fake), good);
});

Deno.test("table: a foreign insert between save and restore is kept", async () => {
  const { fake, table } = setup();
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  let injected = false;
  fake.onBeforeRestore(async () => {
    if (injected) return;
    injected = true;
    await fake.runner.run("iptables-restore", ["--noflush"], {
      stdin: "*filter\n-A INPUT -s 10.1.1.1/32 -j DROP\nCOMMIT\n",
    });
  });
  await table.apply();
  const rules = await rulesOf(fake);
  assert.ok(rules.includes("-A INPUT -s 10.1.1.1/32 -j DROP"), rules.join("\n"));
  table.invalidateDataplaneCache("test");
  assert.equal(await table.plan(), "");
});

Deno.test("table: a transient restore failure is retried after a fresh read", async () => {
  const { fake, table, clock } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  fake.failNextRestore({ stderr: "iptables-restore: line 2 failed\n" });
  await table.apply();
  assert.deepEqual(clock.sleeps, [1]);
  assert.equal(fake.calls.filter((c) => c.cmd.includes("save")).length, 2);
  assert.equal(table.metrics().restoreErrors, 1);
  assert.equal(await table.plan(), "");
});

Deno.test("table: a persistent failure throws RestoreError naming the rule", async () => {
  const { fake, table, clock } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  fake.failNextRestore({
    count: 100,
    stderr: "iptables-restore v1.8.9 (nf_tables): bad\nError occurred at line: 3\n",
  });
  const before = await rulesOf(fake);
  const err = await table.apply().then(() => undefined, (e) => e);
  assert.ok(err instanceof RestoreError, String(err));
  assert.equal(err.failedLine, 3);
  assert.deepEqual(err.location, { chain: "rp-in", ruleIndex: 0, list: "chain" });
  assert.match(err.message, /rule 1 of chain "rp-in"/);
  assert.deepEqual(clock.sleeps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
  assert.deepEqual(await rulesOf(fake), before);
});

Deno.test("table: save failures are retried three times, then thrown", async () => {
  const { fake, table, clock } = setup();
  fake.failNextSave({ count: 3 });
  await table.apply();
  assert.deepEqual(clock.sleeps, [100, 200, 400]);
  fake.failNextSave({ count: 4 });
  table.invalidateDataplaneCache("test");
  await assert.rejects(table.apply(), /failed/);
});

Deno.test("table: dangling references and bad placements fail before writing", async () => {
  const { fake, table } = setup();
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-missing") }]);
  await assert.rejects(
    table.apply(),
    (e) =>
      e instanceof DanglingReferenceError && e.fromChain === "INPUT" && e.toChain === "rp-missing",
  );
  table.setRuleInsertions("INPUT", [{ match: Match().destPorts(22), action: Accept() }]);
  await assert.rejects(
    table.apply(),
    (e) => e instanceof PlacementError && e.chain === "INPUT" && e.ruleIndex === 0,
  );
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  // A hook check on a rule of an owned chain: --limit-iface-out reached from
  // INPUT (the kernel refuses it through the jump).
  table.updateChain({
    name: "rp-a",
    rules: [{ match: Match().srcAddrType("LOCAL", true), action: Drop() }],
  });
  const legacy = new Table("filter", { runner: fake.runner, backend: "legacy" });
  legacy.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  legacy.updateChain({ name: "rp-a", rules: table.chains()[0]!.rules });
  await assert.rejects(
    legacy.apply(),
    (e) => e instanceof PlacementError && e.chain === "rp-a" && /INPUT/.test(e.message),
  );
  // -o reached only from INPUT: both binaries accept it (it never matches), so
  // it is written, with a warning (this was a PlacementError before issue 13).
  table.updateChain({
    name: "rp-a",
    rules: [{ match: Match().outInterface("eth0"), action: Drop() }],
  });
  await table.apply();
  assert.deepEqual(
    table.warnings().map((w) => [w.chain, w.ruleIndex, w.code, w.method]),
    [["rp-a", 0, "never-matches", "outInterface"]],
  );
  assert.deepEqual(fake.rules("filter", "rp-a").length, 1);
  table.updateChain({ name: "rp-a", rules: [] });
  table.removeChainByName("rp-a");
  await assert.rejects(
    table.apply(),
    (e) => e instanceof DanglingReferenceError && e.toChain === "rp-a",
  );
  // A chain we do not own must exist in the kernel's table: found by plan() too.
  table.setRuleInsertions("INPUT", [{ action: Jump("DOCKER-USER") }]);
  for (const run of [() => table.plan(), () => table.apply()]) {
    await assert.rejects(run(), (e) => {
      assert.ok(e instanceof DanglingReferenceError, String(e));
      assert.deepEqual([e.fromChain, e.toChain, e.ruleIndex, e.list], [
        "INPUT",
        "DOCKER-USER",
        0,
        "insert",
      ]);
      assert.match(
        e.message,
        /^Rule 1 of the insert list of chain "INPUT" jumps to chain "DOCKER-USER", which the filter table \(IPv4\) does not have/,
      );
      return true;
    });
  }
  // Only the write with the -o warning above.
  assert.equal(restores(fake).length, 1);
  await seed(fake, "*filter\n:DOCKER-USER - [0:0]\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.equal(restores(fake).length, 3); // the -o write, the seed, then the apply
  assert.match(restores(fake)[2]!, /-I INPUT .*--jump DOCKER-USER/);
});

Deno.test("table: chain policies are enforced and drift-checked", async () => {
  const { fake, table } = setup();
  table.setChainPolicy("FORWARD", "DROP");
  await table.apply();
  const save = async () => (await fake.runner.run("iptables-save", ["-t", "filter"])).stdout;
  assert.match(await save(), /^:FORWARD DROP/m);
  await seed(fake, "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.match(await save(), /^:FORWARD DROP/m);
  await table.cleanUp();
  assert.match(await save(), /^:FORWARD ACCEPT/m);
});

Deno.test("table: cleanUp removes only what we own", async () => {
  const { fake, table } = setup();
  await seed(fake, "*filter\n:other - [0:0]\n-A INPUT -j other\n-A other -j ACCEPT\nCOMMIT\n");
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  await table.cleanUp();
  assert.deepEqual(await rulesOf(fake), [
    ":other - [0:0]",
    "-A INPUT -j other",
    "-A other -j ACCEPT",
  ]);
});

Deno.test("table: post-write checks double from the write; refresh reschedules", async () => {
  const { fake, table, clock } = setup({ postWriteIntervalMs: 1000, refreshIntervalMs: 90_000 });
  table.updateChain({ name: "rp-in", rules: [tcp(1)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  assert.equal(await table.apply(), 1000);
  const saves = () => fake.calls.filter((c) => c.cmd.includes("save")).length;
  clock.advance(999);
  assert.equal(await table.apply(), 1);
  assert.equal(saves(), 1);
  clock.advance(1);
  assert.equal(await table.apply(), 1000, "checks at write+2000");
  assert.equal(saves(), 2);
  clock.advance(1000);
  assert.equal(await table.apply(), 2000);
  clock.advance(2000);
  assert.equal(await table.apply(), 4000);
  assert.equal(saves(), 4);
  // After the post-write checks pass an hour the refresh timer rules.
  for (let i = 0; i < 12; i++) {
    clock.advance(await table.apply());
  }
  const delay = await table.apply();
  assert.ok(delay > 0 && delay <= 90_000, String(delay));
});

Deno.test("table: output is deterministic for the same desired state", async () => {
  const scripts: string[] = [];
  for (const order of [["rp-a", "rp-b"], ["rp-b", "rp-a"]]) {
    const { table } = setup();
    for (const name of order) table.updateChain({ name, rules: [tcp(name.length)] });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }, { action: Jump("rp-b") }]);
    scripts.push(await table.plan());
  }
  assert.equal(scripts[0], scripts[1]);
});

/** A nat table on a fake nft dataplane (features detected from the host unless given). */
function natTable(featureDetector?: FeatureSource): { fake: FakeDataplane; table: Table } {
  const fake = new FakeDataplane();
  const table = new Table("nat", {
    runner: fake.runner,
    backend: "nft",
    hashPrefix: "rp:",
    clock: manualClock(),
    ...(featureDetector === undefined ? {} : { featureDetector }),
  });
  return { fake, table };
}

Deno.test("table: a deleted appended rule is restored and append-only chains are not flagged (calico#9380, #10087)", async () => {
  const { fake, table } = natTable();
  table.updateChain({ name: "rp-post", rules: [{ action: Masq() }] });
  table.setRuleAppends("POSTROUTING", [{ action: Jump("rp-post") }]);
  await table.apply();
  const saved = async () => (await fake.runner.run("iptables-save", ["-t", "nat"])).stdout;
  assert.match(await saved(), /^-A POSTROUTING .*-j rp-post$/m);
  table.invalidateDataplaneCache("test");
  assert.equal(await table.plan(), "", "appended rules in place are not a difference");
  await seed(fake, "*nat\n-D POSTROUTING 1\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.match(await saved(), /^-A POSTROUTING .*-j rp-post$/m);
});

Deno.test("table: features are those of the last read; when they change, IDs are recomputed", async () => {
  let detected: Features = { nftPositionalEdits: true };
  const { fake, table } = natTable({
    getFeatures: () => Promise.resolve(detected),
    refreshFeatures: () => Promise.resolve(detected),
  });
  table.updateChain({ name: "rp-post", rules: [{ action: Masq() }] });
  table.setRuleInsertions("POSTROUTING", [{ action: Jump("rp-post") }]);
  assert.equal(table.features, undefined, "nothing read yet");
  await table.apply();
  assert.deepEqual(table.features, { nftPositionalEdits: true });
  const masq = async () =>
    (await fake.runner.run("iptables-save", ["-t", "nat"])).stdout.split("\n")
      .filter((l) => l.startsWith("-A rp-post "));
  const before = await masq();
  assert.match(before[0]!, /-j MASQUERADE$/);
  detected = { nftPositionalEdits: true, masqFullyRandom: true };
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.deepEqual(table.features, detected);
  const after = await masq();
  assert.equal(after.length, 1);
  assert.match(after[0]!, /-j MASQUERADE --random-fully$/);
  assert.notEqual(after[0]!.match(/rp:[\w-]{16}/)![0], before[0]!.match(/rp:[\w-]{16}/)![0]);
});

Deno.test("table: nft before 1.8.3 flushes and rewrites changed chains, deletes in a second transaction", async () => {
  const { fake, table } = setup({
    featureDetector: {
      getFeatures: () => Promise.resolve({}),
      refreshFeatures: () => Promise.resolve({}),
    },
  });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  table.updateChain({ name: "rp-a", rules: [tcp(1), tcp(2)] });
  table.updateChain({ name: "rp-b", rules: [tcp(3)] });
  table.updateChain({ name: "rp-a", rules: [tcp(1), { action: Jump("rp-b") }] });
  await table.apply();
  table.updateChain({ name: "rp-a", rules: [tcp(1), tcp(5)] });
  await table.apply();
  const script = restores(fake).at(-1)!.trim().split("\n");
  assert.deepEqual(script.filter((l) => !l.startsWith("-A rp-a ")), [
    "*filter",
    ":rp-a - [0:0]",
    ":rp-b - [0:0]",
    "COMMIT",
    "*filter",
    ":rp-b - [0:0]",
    "-X rp-b",
    "COMMIT",
  ]);
  assert.equal(script.filter((l) => l.startsWith("-A rp-a ")).length, 2);
  assert.ok(!(await rulesOf(fake)).some((l) => l.includes("rp-b")));
});

Deno.test("table: an IPv6 table runs ip6tables and rejects IPv4 addresses before writing", async () => {
  const { fake, table } = setup({ ipVersion: 6 });
  table.setRuleInsertions("INPUT", [
    { match: Match().protocol("icmpv6").icmpV6Type(128), action: Accept() },
    { match: Match().sourceNet("2001:db8::/32"), action: Drop() },
  ]);
  await table.apply();
  assert.ok(fake.calls.every((c) => !c.cmd.includes("save") || c.cmd.startsWith("ip6tables")));
  const saved = (await fake.runner.run("ip6tables-save", ["-t", "filter"])).stdout;
  assert.match(saved, /-s 2001:db8::\/32 .*-j DROP/);
  table.setRuleInsertions("INPUT", [{ match: Match().sourceNet("10.0.0.0/8"), action: Drop() }]);
  await assert.rejects(
    table.apply(),
    (e) => e instanceof PlacementError && /IPv4 address in an IPv6 table/.test(e.message),
  );
});

Deno.test("table: a restore killed at its timeout is not retried", async () => {
  const { fake, table, clock } = setup({ commandTimeoutMs: 5 });
  table.setRuleInsertions("INPUT", [{ action: Drop() }]);
  fake.hangNextRestore();
  const err = await table.apply().then(() => undefined, (e) => e);
  assert.ok(err instanceof RestoreError && err.timedOut, String(err));
  assert.deepEqual(clock.sleeps, []);
  assert.equal(restores(fake).length, 1);
  await table.apply();
  assert.equal(await table.plan(), "");
});

Deno.test("table: a loop of jumps among owned chains fails before writing", async () => {
  const { fake, table } = setup();
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  table.updateChain({ name: "rp-a", rules: [tcp(1), { action: Jump("rp-b") }] });
  table.updateChain({ name: "rp-b", rules: [{ action: Jump("rp-c") }] });
  table.updateChain({ name: "rp-c", rules: [{ action: Jump("rp-a") }] });
  await assert.rejects(
    table.apply(),
    (e) => e instanceof ChainLoopError && e.chains.join(" ") === "rp-a rp-b rp-c rp-a",
  );
  assert.equal(restores(fake).length, 0);
  table.updateChain({ name: "rp-c", rules: [{ action: Drop() }] });
  await table.apply();
});

Deno.test("table: IP sets are listed once per write, only when written rules name one", async () => {
  const { fake, table } = setup();
  fake.addIpSet("rp-ok");
  const setRule: Rule = { match: Match().sourceIpSet("rp-ok"), action: Accept() };
  table.updateChain({ name: "rp-sets", rules: [setRule, tcp(1)] });
  table.updateChain({ name: "rp-plain", rules: [tcp(2)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-sets") }, { action: Jump("rp-plain") }]);
  await table.apply();
  const ipsetCalls = () => fake.calls.filter((c) => c.cmd === "ipset").length;
  assert.equal(ipsetCalls(), 1, "one listing for the first write");
  // A write to a chain without sets lists nothing.
  table.updateChain({ name: "rp-plain", rules: [tcp(3)] });
  await table.apply();
  assert.equal(ipsetCalls(), 1);
  // A write to the chain with the set lists nothing either: the rules it
  // replaces (still in the kernel) use that set, so it exists.
  table.updateChain({ name: "rp-sets", rules: [setRule, tcp(4)] });
  await table.apply();
  assert.equal(ipsetCalls(), 1);
  // A set the kernel's rules do not use yet is listed.
  fake.addIpSet("rp-new");
  const newSet: Rule = { match: Match().destIpSet("rp-new"), action: Drop() };
  table.updateChain({ name: "rp-sets", rules: [setRule, newSet] });
  await table.apply();
  assert.equal(ipsetCalls(), 2);
  // Once the cache is re-read, the chain's rules are in the kernel: no listing.
  table.invalidateDataplaneCache("test");
  table.updateChain({ name: "rp-sets", rules: [newSet, setRule] });
  await table.apply();
  assert.equal(ipsetCalls(), 2);
  // A missing set is still caught on a later write.
  table.updateChain({
    name: "rp-sets",
    rules: [newSet, { match: Match().destIpSet("rp-nope"), action: Drop() }],
  });
  await assert.rejects(table.apply(), MissingIpSetError);
});

/**
 * Two new chains of 600 rules each, the second ending with a rule that names
 * the IP set "rp-gone" (rule 600 of "rp-b"); returns the 600 good rules.
 */
function loadMissingSetPolicy(table: Table): Rule[] {
  const good = Array.from({ length: 600 }, (_, i) => tcp(1000 + i));
  table.updateChain({ name: "rp-a", rules: good });
  table.updateChain({
    name: "rp-b",
    rules: [...good, { match: Match().destIpSet("rp-gone"), action: Drop() }],
  });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }, { action: Jump("rp-b") }]);
  return good;
}

Deno.test("table: a missing IP set in a new chain fails the first apply; nothing is written", async () => {
  const { fake, table } = setup();
  loadMissingSetPolicy(table);
  await assert.rejects(
    table.apply(),
    (e) => e instanceof MissingIpSetError && e.chain === "rp-b" && e.ruleIndex === 600,
  );
  assert.deepEqual(restores(fake), [], "no restore completed");
  assert.ok(!(await rulesOf(fake)).some((l) => l.includes("rp-a")), "nothing was written");
  fake.addIpSet("rp-gone");
  await table.apply();
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-b ")).length, 601);
});

Deno.test("table: a misplaced rule in a new chain fails the first apply; nothing is written", async () => {
  const { fake, table } = setup();
  table.updateChain({
    name: "rp-a",
    rules: [...Array.from({ length: 600 }, (_, i) => tcp(1000 + i)), { action: Masq() }],
  });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
  await assert.rejects(
    table.apply(),
    (e) => e instanceof PlacementError && e.chain === "rp-a" && e.ruleIndex === 600,
  );
  assert.deepEqual(restores(fake), []);
  assert.deepEqual(await rulesOf(fake), []);
});

Deno.test("table: beforeWrite sees the exact script, which is then written; a throwing hook writes nothing", async () => {
  const seen: string[] = [];
  let refuse = false;
  const { fake, table } = setup({
    beforeWrite: (plan) => {
      seen.push(plan.script);
      return refuse ? Promise.reject(new Error("not now")) : Promise.resolve();
    },
  });
  table.updateChain({ name: "rp-in", rules: [tcp(22), tcp(80)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  assert.equal(seen.length, 1);
  assert.deepEqual(restores(fake), seen, "the streamed runner got the whole script");
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in ")).length, 2);
  refuse = true;
  table.updateChain({ name: "rp-in", rules: [tcp(22)] });
  await assert.rejects(table.apply(), /not now/);
  assert.equal(restores(fake).length, 1, "no restore after the hook refused");
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in ")).length, 2);
});

Deno.test("table: a change made while a write runs is written by the next apply()", async () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(22), tcp(80)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  const off = fake.onBeforeRestore(() => {
    off();
    table.updateChain({ name: "rp-in", rules: [tcp(22), tcp(80), tcp(443)] });
  });
  await table.apply();
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in ")).length, 2);
  // The cache is in sync: only the desired version says the change is pending.
  await table.apply();
  assert.equal(restores(fake).length, 2, "the next apply() wrote the change");
  assert.equal((await rulesOf(fake)).filter((l) => l.startsWith("-A rp-in ")).length, 3);
  assert.equal(await table.plan(), "");
});

Deno.test("table: apply(), plan() and cleanUp() of one table run one at a time", async () => {
  const { fake, table } = setup();
  table.updateChain({ name: "rp-in", rules: [tcp(22)] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await Promise.all([table.apply(), table.apply(), table.plan(), table.apply()]);
  const input = (await rulesOf(fake)).filter((l) => l.startsWith("-A INPUT "));
  assert.equal(input.length, 1, input.join("\n"));
  assert.equal(await table.plan(), "");
  await Promise.all([table.cleanUp(), table.plan()]);
  assert.deepEqual(await rulesOf(fake), []);
});

Deno.test("table: when restore stops early, a check failing on the rest of the script is reported", async () => {
  const fake = new FakeDataplane();
  // A restore that fails at a line of its own after reading one chunk.
  let restores = 0;
  const runner: CommandRunner = {
    streamsStdin: true,
    async run(cmd, args, opts) {
      const stdin = opts?.stdin;
      if (!cmd.includes("restore") || stdin === undefined || typeof stdin === "string") {
        return await fake.runner.run(cmd, args, opts);
      }
      restores++;
      const chunks = Symbol.asyncIterator in stdin
        ? stdin[Symbol.asyncIterator]()
        : stdin[Symbol.iterator]();
      await chunks.next();
      return { code: 1, stdout: "", stderr: "iptables-restore: line 3 failed\n" };
    },
  };
  const { table } = setup({ runner });
  const good = loadMissingSetPolicy(table);
  await assert.rejects(
    table.apply(),
    (e) => e instanceof MissingIpSetError && e.setName === "rp-gone" && e.chain === "rp-b",
  );
  assert.equal(restores, 1, "not retried");
  // A misplaced rule in the rest of the script is reported the same way.
  table.updateChain({ name: "rp-b", rules: [...good, { action: Masq() }] });
  await assert.rejects(
    table.apply(),
    (e) => e instanceof PlacementError && e.chain === "rp-b" && e.ruleIndex === 600,
  );
  assert.equal(restores, 2);
  assert.deepEqual(await rulesOf(fake), []);
});

Deno.test("table: malformed rules are refused when given, with a RuleError naming the field", () => {
  const { table } = setup();
  const bad: [() => void, string, RegExp][] = [
    [
      () => table.updateChain({ name: "rp-a", rules: [{}, { comment: 42 } as unknown as Rule] }),
      "chain.rules[1].comment",
      /^Invalid chain\.rules\[1\]\.comment 42: expected a string or a list of strings$/,
    ],
    [
      () => table.setRuleInsertions("INPUT", [{ comment: ["ok", "two\nlines"] }]),
      "rules[0].comment[1]",
      /expected no NUL, CR or LF/,
    ],
    [
      () => table.setRuleAppends("INPUT", [{ match: "-p tcp" } as unknown as Rule]),
      "rules[0].match",
      /expected match criteria built with Match\(\)/,
    ],
    [
      () => table.setRuleAppends("INPUT", [null as unknown as Rule]),
      "rules[0]",
      /expected a rule/,
    ],
  ];
  for (const [call, field, message] of bad) {
    assert.throws(call, (e: unknown) => {
      assert.ok(e instanceof RuleError, String(e));
      assert.equal(e.field, field);
      assert.match(e.message, message);
      return true;
    });
  }
  // Nothing was taken: the table holds none of them.
  assert.deepEqual(table.chains(), []);
  assert.deepEqual(table.insertions("INPUT"), []);
  // Other characters are escaped when rendered, as the reference does.
  table.setRuleInsertions("INPUT", [{ action: Accept(), comment: "it's" }]);
});

Deno.test("Table: apply() right after plan() writes that plan (no second read or plan); a change or a read in between plans again; the IP sets are listed again", async () => {
  const fake = new FakeDataplane({ backend: "nft", ipsets: ["rp-set"] });
  const table = new Table("filter", { runner: fake.runner, backend: "nft" });
  // A rule that counts how often its match is read (rendering, hashing, checks).
  let matchReads = 0;
  const match = Match().sourceIpSet("rp-set");
  const counted: Rule = {
    get match() {
      matchReads++;
      return match;
    },
    action: Drop(),
  };
  const rules = [tcp(22), counted];
  table.updateChain({ name: "rp-in", rules });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  const script = await table.plan();
  const planned = matchReads;
  fake.calls.length = 0;
  await table.apply();
  assert.deepEqual(fake.calls.map((c) => c.cmd), ["ipset", "iptables-nft-restore"]);
  assert.equal(fake.calls[1]!.stdin, script);
  assert.equal(matchReads, planned, "apply() rendered or checked the rules again");
  // Changed after the plan: planned again.
  table.updateChain({ name: "rp-in", rules: [tcp(2222), ...rules] });
  const next = await table.plan();
  table.updateChain({ name: "rp-in", rules: [tcp(2223), ...rules] });
  fake.calls.length = 0;
  await table.apply();
  assert.notEqual(fake.calls.at(-1)!.stdin, next);
  assert.match(fake.calls.at(-1)!.stdin!, /2223/);
  // Read again after the plan (the cache was invalidated): planned again from that read.
  table.updateChain({ name: "rp-in", rules });
  await table.plan();
  table.invalidateDataplaneCache("test");
  fake.calls.length = 0;
  await table.apply();
  assert.ok(fake.calls.some((c) => c.cmd === "iptables-nft-save"));
  // A set destroyed between the plan and the write: the write's own check refuses.
  table.updateChain({ name: "rp-in", rules: [tcp(2224), ...rules] });
  await table.plan();
  await fake.runner.run("iptables-nft-restore", ["--noflush"], {
    stdin: "*filter\n-F rp-in\nCOMMIT\n",
  });
  await fake.runner.run("ipset", ["destroy", "rp-set"]);
  await assert.rejects(table.apply(), MissingIpSetError);
});

Deno.test("table: a first apply takes the iptables version from its save's header; without one it asks iptables --version", async () => {
  for (const header of [true, false]) {
    const fake = new FakeDataplane({ backend: "nft" });
    const runner: CommandRunner = {
      streamsStdin: true,
      async run(cmd, args, opts) {
        const r = await fake.runner.run(cmd, args, opts);
        if (header || !cmd.endsWith("-save")) return r;
        return { ...r, stdout: r.stdout.replace(/^# (Generated by|Completed on) .*\n/gm, "") };
      },
    };
    const table = new Table("filter", { runner, backend: "nft", ipVersion: 4 });
    table.updateChain({ name: "rp-in", rules: [{ action: Accept() }] });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
    await table.apply();
    const commands = fake.calls.map((c) => [c.cmd, ...c.args].join(" "));
    assert.deepEqual(
      commands,
      [
        "iptables-nft-save -t filter",
        "cat -- /proc/net/ip_tables_names", // the other backend, for its warning
        ...(header ? [] : ["iptables --version"]),
        "iptables-nft-restore --noflush",
      ],
    );
  }
});

Deno.test("table: check() checks what plan() checks, writes nothing, and the apply after it writes the plan's script", async () => {
  const program = (t: Table) => {
    t.updateChain({
      name: "rp-in",
      rules: [
        { match: Match().protocol("tcp").destPorts(22), action: Accept() },
        { match: Match().sourceIpSet("rp-set"), action: Drop() },
      ],
    });
    t.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
    t.setChainPolicy("INPUT", "DROP");
  };
  const planned = new FakeDataplane({ backend: "nft" });
  await planned.runner.run("ipset", ["create", "rp-set", "hash:net"]);
  const reference = new Table("filter", { runner: planned.runner, backend: "nft", ipVersion: 4 });
  program(reference);
  const script = await reference.plan();

  const fake = new FakeDataplane({ backend: "nft" });
  const table = new Table("filter", { runner: fake.runner, backend: "nft", ipVersion: 4 });
  program(table);
  // A missing set is found by check(), before anything is written.
  await assert.rejects(() => table.check(), /rp-set/);
  assert.equal(fake.calls.filter((c) => c.cmd.endsWith("-restore")).length, 0);
  await fake.runner.run("ipset", ["create", "rp-set", "hash:net"]);
  const check = await table.check();
  assert.equal(check.changed, true);
  assert.deepEqual([...check.policies], [["INPUT", "DROP"]]);
  assert.equal(fake.calls.filter((c) => c.cmd.endsWith("-restore")).length, 0);
  const restores: string[] = [];
  fake.onBeforeRestore((call) => {
    restores.push(call.stdin ?? "");
  });
  await table.apply();
  assert.deepEqual(restores, [script]);
  assert.deepEqual(await table.check(), { changed: false, policies: new Map() });
});
