import assert from "assert";
import { Accept, calculateRuleHashes, Drop, Jump, Match, type Rule } from "../../mod.ts";
import { type HashedRules, type PlanInput, planTable, streamTablePlan } from "../../src/planner.ts";
import { type DataplaneState, OLD_INSERT_RULE } from "../../src/save_parser.ts";

function hashed(chain: string, rules: Rule[]): HashedRules {
  return { rules, hashes: calculateRuleHashes(chain, rules) };
}

function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    table: "filter",
    backend: "legacy",
    positionalEdits: true,
    insertMode: "insert",
    hashPrefix: "rp:",
    features: {},
    owned: new Map(),
    foreign: new Map(),
    policies: new Map(),
    dataplane: kernel(),
    isOwnedChain: (c) => c.startsWith("rp-"),
    ...overrides,
  };
}

function kernel(extra: [string, { hashes: string[]; lines?: string[] }][] = []): DataplaneState {
  const state: DataplaneState = new Map();
  for (const c of ["INPUT", "FORWARD", "OUTPUT"]) {
    state.set(c, { policy: "ACCEPT", hashes: [], lines: [] });
  }
  for (const [name, { hashes, lines }] of extra) {
    state.set(name, {
      policy: ["INPUT", "FORWARD", "OUTPUT"].includes(name) ? "ACCEPT" : "-",
      hashes,
      lines: lines ?? (name.startsWith("rp-") ? [] : hashes.map(() => "")),
    });
  }
  return state;
}

const r = (n: number): Rule => ({ match: Match().protocol("tcp").destPorts(n), action: Accept() });

Deno.test("planner: a new owned chain is declared then appended", () => {
  const chain = hashed("rp-a", [r(22), { action: Drop() }]);
  const plan = planTable(input({ owned: new Map([["rp-a", chain]]) }));
  assert.equal(
    plan.script,
    [
      "*filter",
      ":rp-a - [0:0]",
      `-A rp-a -m comment --comment "rp:${
        chain.hashes[0]
      }" -p tcp -m multiport --destination-ports 22 --jump ACCEPT`,
      `-A rp-a -m comment --comment "rp:${chain.hashes[1]}" --jump DROP`,
      "COMMIT",
      "",
    ].join("\n"),
  );
  assert.deepEqual(plan.next.get("rp-a")?.hashes, chain.hashes);
  assert.deepEqual(plan.origins[2], { chain: "rp-a", ruleIndex: 0, list: "chain" });
});

Deno.test("planner: in sync gives an empty script", () => {
  const chain = hashed("rp-a", [r(22)]);
  const plan = planTable(
    input({
      owned: new Map([["rp-a", chain]]),
      dataplane: kernel([["rp-a", { hashes: [...chain.hashes] }]]),
    }),
  );
  assert.equal(plan.script, "");
  assert.equal(plan.lineCount, 0);
});

Deno.test("planner: changing the last rule writes one -R", () => {
  const before = hashed("rp-a", [r(1), r(2), r(3)]);
  const after = hashed("rp-a", [r(1), r(2), r(4)]);
  const plan = planTable(
    input({
      owned: new Map([["rp-a", after]]),
      dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
    }),
  );
  assert.deepEqual(plan.script.trim().split("\n"), [
    "*filter",
    `-R rp-a 3 -m comment --comment "rp:${
      after.hashes[2]
    }" -p tcp -m multiport --destination-ports 4 --jump ACCEPT`,
    "COMMIT",
  ]);
});

Deno.test("planner: truncating deletes at the same position", () => {
  const before = hashed("rp-a", [r(1), r(2), r(3), r(4)]);
  const after = hashed("rp-a", [r(1), r(2)]);
  const plan = planTable(
    input({
      owned: new Map([["rp-a", after]]),
      dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
    }),
  );
  assert.deepEqual(plan.script.trim().split("\n"), ["*filter", "-D rp-a 3", "-D rp-a 3", "COMMIT"]);
});

Deno.test("planner: a foreign rule inserted into our chain costs one -D", () => {
  const chain = hashed("rp-a", [r(1), r(2), r(3)]);
  const plan = planTable(input({
    owned: new Map([["rp-a", chain]]),
    dataplane: kernel([["rp-a", {
      hashes: [chain.hashes[0]!, "", chain.hashes[1]!, chain.hashes[2]!],
    }]]),
  }));
  assert.deepEqual(plan.script.trim().split("\n"), ["*filter", "-D rp-a 2", "COMMIT"]);
});

Deno.test("planner: a rule deleted from our chain is inserted back in place", () => {
  const chain = hashed("rp-a", [r(1), r(2), r(3)]);
  const plan = planTable(input({
    owned: new Map([["rp-a", chain]]),
    dataplane: kernel([["rp-a", { hashes: [chain.hashes[0]!, chain.hashes[2]!] }]]),
  }));
  assert.deepEqual(plan.script.trim().split("\n"), [
    "*filter",
    `-I rp-a 2 -m comment --comment "rp:${
      chain.hashes[1]
    }" -p tcp -m multiport --destination-ports 2 --jump ACCEPT`,
    "COMMIT",
  ]);
});

Deno.test("planner: nft without positional edits flushes and rewrites the chain", () => {
  const before = hashed("rp-a", [r(1), r(2)]);
  const after = hashed("rp-a", [r(1), r(3)]);
  const plan = planTable(input({
    backend: "nft",
    positionalEdits: false,
    owned: new Map([["rp-a", after]]),
    dataplane: kernel([["rp-a", { hashes: [...before.hashes] }], ["rp-old", { hashes: ["x"] }]]),
  }));
  const lines = plan.script.trim().split("\n");
  assert.deepEqual(lines.slice(0, 3), ["*filter", ":rp-a - [0:0]", ":rp-old - [0:0]"]);
  assert.equal(lines.filter((l) => l.startsWith("-A rp-a")).length, 2);
  // Deletions go in a second transaction that declares the chain again.
  assert.deepEqual(lines.slice(-5), [
    "COMMIT",
    "*filter",
    ":rp-old - [0:0]",
    "-X rp-old",
    "COMMIT",
  ]);
});

Deno.test("planner: kernel chain insertions keep foreign rules and delete ours by value", () => {
  const ins = hashed("INPUT", [{ action: Jump("rp-a") }]);
  const chain = hashed("rp-a", [r(1)]);
  const dataplane = kernel([
    ["INPUT", {
      hashes: ["", "oldid0000000000a", OLD_INSERT_RULE],
      lines: [
        "",
        '-A INPUT -m comment --comment "rp:oldid0000000000a" -j rp-a',
        "-A INPUT -j rp-x",
      ],
    }],
    ["rp-a", { hashes: [...chain.hashes] }],
  ]);
  const plan = planTable(input({
    owned: new Map([["rp-a", chain]]),
    foreign: new Map([["INPUT", { inserts: ins, appends: { rules: [], hashes: [] } }]]),
    dataplane,
  }));
  assert.deepEqual(plan.script.trim().split("\n"), [
    "*filter",
    '-D INPUT -m comment --comment "rp:oldid0000000000a" -j rp-a',
    "-D INPUT -j rp-x",
    `-I INPUT -m comment --comment "rp:${ins.hashes[0]}" --jump rp-a`,
    "COMMIT",
  ]);
  assert.deepEqual(plan.next.get("INPUT")?.hashes, [ins.hashes[0], ""]);
});

Deno.test("planner: append mode puts our rules after foreign ones, appends last", () => {
  const ins = hashed("INPUT", [{ action: Jump("rp-a") }]);
  const app = hashed("INPUT*appends*", [{ action: Drop() }]);
  const plan = planTable(input({
    insertMode: "append",
    owned: new Map([["rp-a", hashed("rp-a", [])]]),
    foreign: new Map([["INPUT", { inserts: ins, appends: app }]]),
    dataplane: kernel([["INPUT", { hashes: [""] }], ["rp-a", { hashes: [] }]]),
  }));
  assert.deepEqual(plan.script.trim().split("\n"), [
    "*filter",
    `-A INPUT -m comment --comment "rp:${ins.hashes[0]}" --jump rp-a`,
    `-A INPUT -m comment --comment "rp:${app.hashes[0]}" --jump DROP`,
    "COMMIT",
  ]);
  assert.notEqual(
    ins.hashes[0],
    calculateRuleHashes("INPUT*appends*", [{ action: Jump("rp-a") }])[0],
  );
});

Deno.test("planner: stale owned chains are flushed then deleted; policies are set", () => {
  const plan = planTable(input({
    dataplane: kernel([["rp-old", { hashes: ["abc"] }]]),
    policies: new Map([["INPUT", "DROP"]]),
  }));
  assert.deepEqual(plan.script.trim().split("\n"), [
    "*filter",
    ":rp-old - [0:0]",
    ":INPUT DROP [0:0]",
    "-X rp-old",
    "COMMIT",
  ]);
  assert.equal(plan.next.has("rp-old"), false);
  assert.equal(plan.next.get("INPUT")?.policy, "DROP");
});

Deno.test("planner: output is deterministic whatever the insertion order", () => {
  const a = hashed("rp-a", [r(1)]), b = hashed("rp-b", [r(2)]);
  const p1 = planTable(input({ owned: new Map([["rp-a", a], ["rp-b", b]]) }));
  const p2 = planTable(input({ owned: new Map([["rp-b", b], ["rp-a", a]]) }));
  assert.equal(p1.script, p2.script);
});

Deno.test("planner: the streamed plan is the same script, hashing new chains only as they are written", () => {
  const rulesOf = (n: number) => Array.from({ length: n }, (_, i) => r(1000 + i));
  const kept = hashed("rp-kept", rulesOf(3));
  const calls: string[] = [];
  const lazy = (name: string, rules: Rule[]) => ({
    rules,
    hash: () => {
      calls.push(name);
      return calculateRuleHashes(name, rules);
    },
  });
  const owned = new Map([
    ["rp-a", lazy("rp-a", rulesOf(300))],
    ["rp-b", lazy("rp-b", rulesOf(2))],
    ["rp-kept", { rules: kept.rules, hash: () => (calls.push("rp-kept"), kept.hashes) }],
  ]);
  const plan = planTable(input({
    owned: new Map([
      ["rp-a", hashed("rp-a", rulesOf(300))],
      ["rp-b", hashed("rp-b", rulesOf(2))],
      ["rp-kept", kept],
    ]),
    dataplane: kernel([["rp-kept", { hashes: [...kept.hashes] }]]),
  }));
  const stream = streamTablePlan(input({
    owned,
    dataplane: kernel([["rp-kept", { hashes: [...kept.hashes] }]]),
  }));
  // The chain the kernel has is compared now; new chains are hashed later.
  assert.deepEqual(calls, ["rp-kept"]);
  assert.equal(stream.empty, false);
  assert.deepEqual([...stream.writtenChains].sort(), ["rp-a", "rp-b"]);
  const chunks: string[] = [];
  for (const chunk of stream.chunks) {
    chunks.push(chunk);
    if (chunks.length === 1) break; // leaving early does not end the stream
  }
  assert.deepEqual(calls, ["rp-kept", "rp-a"]);
  assert.ok(chunks[0]!.endsWith("\n"));
  const whole = stream.finish();
  assert.deepEqual(calls, ["rp-kept", "rp-a", "rp-b"]);
  assert.equal(whole.script, plan.script);
  assert.deepEqual(whole.origins, plan.origins);
  assert.equal(whole.lineCount, plan.lineCount);
  assert.deepEqual([...whole.next], [...plan.next]);
  assert.ok(whole.script.startsWith(chunks[0]!));
  assert.equal(stream.finish(), whole);
});

Deno.test("planner: a stream that keeps no script drains cheaply and plans again for finish()", () => {
  const rulesOf = (n: number) => Array.from({ length: n }, (_, i) => r(2000 + i));
  const owned = () => new Map([["rp-a", hashed("rp-a", rulesOf(600))]]);
  const plan = planTable(input({ owned: owned() }));
  const stream = streamTablePlan(input({ owned: owned() }), { keepScript: false });
  const streamed = [...stream.chunks].join("");
  assert.equal(streamed, plan.script);
  const drained = stream.drain();
  assert.equal(drained.lineCount, plan.lineCount);
  assert.deepEqual([...drained.next], [...plan.next]);
  // For an error report: the same script and origins, planned again.
  const whole = stream.finish();
  assert.equal(whole.script, plan.script);
  assert.deepEqual(whole.origins, plan.origins);
  assert.equal(whole.lineCount, plan.lineCount);
  assert.equal(stream.finish(), whole);
});

Deno.test("planner: an in-sync stream is empty and writes no chunk", () => {
  const kept = hashed("rp-kept", [r(1)]);
  const stream = streamTablePlan(input({
    owned: new Map([["rp-kept", kept]]),
    dataplane: kernel([["rp-kept", { hashes: [...kept.hashes] }]]),
  }));
  assert.equal(stream.empty, true);
  assert.deepEqual([...stream.chunks], []);
  assert.equal(stream.finish().script, "");
});
