import assert from "assert";
import {
  Accept,
  calculateRuleHashes,
  calculateStableRuleHashes,
  Drop,
  Jump,
  Match,
  type Rule,
} from "../../mod.ts";
import {
  type HashedRules,
  type OwnedRules,
  type PlanInput,
  planTable,
  streamTablePlan,
} from "../../src/engine/planner.ts";
import type { DataplaneState } from "../../src/engine/dataplane.ts";
import { OLD_INSERT_RULE } from "../../src/host/save_parser.ts";

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

Deno.test("planner: the streamed plan is the same script, computing the IDs of new chains only as they are written", () => {
  const rulesOf = (n: number) => Array.from({ length: n }, (_, i) => r(1000 + i));
  const kept = hashed("rp-kept", rulesOf(3));
  const dataplane = () => kernel([["rp-kept", { hashes: [...kept.hashes] }]]);
  const plan = planTable(input({
    ruleIds: "chained",
    owned: new Map([
      ["rp-a", hashed("rp-a", rulesOf(300))],
      ["rp-b", hashed("rp-b", rulesOf(2))],
      ["rp-kept", kept],
    ]),
    dataplane: dataplane(),
  }));
  // The chains the kernel lacks come without IDs: the planner computes them.
  const owned = new Map<string, OwnedRules>([
    ["rp-a", { rules: rulesOf(300) }],
    ["rp-b", { rules: rulesOf(2) }],
    ["rp-kept", kept],
  ]);
  const stream = streamTablePlan(input({ ruleIds: "chained", owned, dataplane: dataplane() }));
  assert.deepEqual(stream.createdChains, []);
  assert.equal(stream.empty, false);
  assert.deepEqual([...stream.writtenChains].sort(), ["rp-a", "rp-b"]);
  const chunks: string[] = [];
  for (const chunk of stream.chunks) {
    chunks.push(chunk);
    if (chunks.length === 1) break; // leaving early does not end the stream
  }
  assert.deepEqual(stream.createdChains, [
    { name: "rp-a", hashes: calculateRuleHashes("rp-a", rulesOf(300)) },
  ]);
  assert.ok(chunks[0]!.endsWith("\n"));
  const whole = stream.finish();
  assert.deepEqual(stream.createdChains.map((c) => c.name), ["rp-a", "rp-b"]);
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

function stableHashed(chain: string, rules: Rule[]): HashedRules {
  return { rules, hashes: calculateStableRuleHashes(chain, rules) };
}

/** The script's body lines with the ID comments replaced by the rule's index in `ids`. */
function body(script: string, ids: readonly string[]): string[] {
  const index = new Map(ids.map((id, i) => [id, i]));
  return script.trim().split("\n").slice(1, -1).map((l) =>
    l.replace(/-m comment --comment "rp:([\w-]{16})" /, (_, id) => `#${index.get(id) ?? -1} `)
  );
}

Deno.test("planner (stable IDs): one changed rule in the middle of a chain writes one line", () => {
  const rules = Array.from({ length: 1000 }, (_, i) => r(1000 + i));
  const before = stableHashed("rp-a", rules);
  const changed = [...rules];
  changed[500] = r(9);
  const after = stableHashed("rp-a", changed);
  for (const backend of ["nft", "legacy"] as const) {
    const plan = planTable(input({
      backend,
      owned: new Map([["rp-a", after]]),
      dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
    }));
    assert.deepEqual(body(plan.script, after.hashes), [
      "-R rp-a 501 #500 -p tcp -m multiport --destination-ports 9 --jump ACCEPT",
    ]);
    assert.deepEqual(plan.next.get("rp-a")?.hashes, after.hashes);
  }
});

Deno.test("planner (stable IDs): scattered changes, inserts and deletes at positions in the chain being edited", () => {
  const before = stableHashed("rp-a", [r(1), r(2), r(3), r(4), r(5), r(6)]);
  // r(2) deleted, r(20) inserted after r(3), r(5) changed to r(50), r(7) appended.
  const after = stableHashed("rp-a", [r(1), r(3), r(20), r(4), r(50), r(6), r(7)]);
  const plan = planTable(input({
    owned: new Map([["rp-a", after]]),
    dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
  }));
  assert.deepEqual(body(plan.script, after.hashes), [
    "-D rp-a 2",
    "-I rp-a 3 #2 -p tcp -m multiport --destination-ports 20 --jump ACCEPT",
    "-R rp-a 5 #4 -p tcp -m multiport --destination-ports 50 --jump ACCEPT",
    "-A rp-a #6 -p tcp -m multiport --destination-ports 7 --jump ACCEPT",
  ]);
});

Deno.test("planner (stable IDs): a moved rule is deleted and inserted; other rules stay", () => {
  const before = stableHashed("rp-a", [r(1), r(2), r(3), r(4)]);
  const after = stableHashed("rp-a", [r(2), r(3), r(1), r(4)]);
  const plan = planTable(input({
    owned: new Map([["rp-a", after]]),
    dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
  }));
  assert.deepEqual(body(plan.script, after.hashes), [
    "-D rp-a 1",
    "-I rp-a 3 #2 -p tcp -m multiport --destination-ports 1 --jump ACCEPT",
  ]);
});

Deno.test("planner (stable IDs): identical rules are numbered by occurrence", () => {
  const d = { action: Drop() };
  const before = stableHashed("rp-a", [r(1), d, r(2), d, r(3), d]);
  // A copy added at the end is one append; one changed in the middle, one -R.
  const more = stableHashed("rp-a", [r(1), d, r(2), d, r(3), d, d]);
  const changed = stableHashed("rp-a", [r(1), d, r(2), r(4), r(3), d]);
  const plan = (after: HashedRules) =>
    body(
      planTable(input({
        owned: new Map([["rp-a", after]]),
        dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
      })).script,
      after.hashes,
    );
  assert.deepEqual(plan(more), ["-A rp-a #6 --jump DROP"]);
  // The copy after the changed one is now the second copy, not the third:
  // it takes the second copy's ID. A common subsequence as long as any keeps
  // that copy where it is, so r(3) after it is written again too.
  assert.deepEqual(plan(changed), [
    "-I rp-a 4 #3 -p tcp -m multiport --destination-ports 4 --jump ACCEPT",
    "-I rp-a 5 #4 -p tcp -m multiport --destination-ports 3 --jump ACCEPT",
    "-D rp-a 7",
    "-D rp-a 7",
  ]);
  // The first copy deleted: the later copies are renumbered (two lines of four
  // for the copies, as an equally long common subsequence keeps them).
  const fewer = stableHashed("rp-a", [r(1), r(2), d, r(3), d]);
  assert.deepEqual(plan(fewer), [
    "-I rp-a 2 #1 -p tcp -m multiport --destination-ports 2 --jump ACCEPT",
    "-R rp-a 4 #3 -p tcp -m multiport --destination-ports 3 --jump ACCEPT",
    "-D rp-a 6",
    "-D rp-a 6",
  ]);
});

Deno.test("planner (chained IDs): a change in the middle rewrites every later rule, as before", () => {
  const rules = [r(1), r(2), r(3), r(4), r(5)];
  const before = hashed("rp-a", rules);
  const after = hashed("rp-a", [r(1), r(2), r(9), r(4), r(5), r(6)]);
  const plan = planTable(input({
    ruleIds: "chained",
    owned: new Map([["rp-a", after]]),
    dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
  }));
  assert.deepEqual(body(plan.script, after.hashes), [
    "-R rp-a 3 #2 -p tcp -m multiport --destination-ports 9 --jump ACCEPT",
    "-R rp-a 4 #3 -p tcp -m multiport --destination-ports 4 --jump ACCEPT",
    "-R rp-a 5 #4 -p tcp -m multiport --destination-ports 5 --jump ACCEPT",
    "-A rp-a #5 -p tcp -m multiport --destination-ports 6 --jump ACCEPT",
  ]);
});

Deno.test("planner: a chain replaced as a whole is flushed and rewritten; a small one is edited", () => {
  const long = (base: number) =>
    Array.from({ length: 20_000 }, (_, i) => r(1 + ((base + i) % 65535)));
  for (const backend of ["nft", "legacy"] as const) {
    for (const ruleIds of ["stable", "chained"] as const) {
      const ids = ruleIds === "stable" ? stableHashed : hashed;
      const before = ids("rp-a", long(0)), after = ids("rp-a", long(30_000));
      const plan = planTable(input({
        backend,
        ruleIds,
        owned: new Map([["rp-a", after]]),
        dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
      }));
      const lines = body(plan.script, after.hashes);
      assert.equal(lines[0], ":rp-a - [0:0]", `${backend} ${ruleIds}`);
      assert.equal(lines.length, 20_001);
      assert.ok(lines.slice(1).every((l, i) => l.startsWith(`-A rp-a #${i} `)));
      assert.deepEqual(plan.next.get("rp-a")?.hashes, after.hashes);
      // Three rules replaced as a whole: three -R (a rewrite would save nothing).
      const small = planTable(input({
        backend,
        ruleIds,
        owned: new Map([["rp-b", ids("rp-b", [r(7), r(8), r(9)])]]),
        dataplane: kernel([["rp-b", { hashes: [...ids("rp-b", [r(1), r(2), r(3)]).hashes] }]]),
      }));
      assert.deepEqual(small.script.split("\n").slice(1, 4).map((l) => l.slice(0, 9)), [
        "-R rp-b 1",
        "-R rp-b 2",
        "-R rp-b 3",
      ]);
    }
  }
});

Deno.test("planner: a long chain with a few scattered changes is edited, with many it is rewritten", () => {
  const rules = Array.from({ length: 20_000 }, (_, i) => r(1 + (i % 60_000)));
  const before = stableHashed("rp-a", rules);
  const changedEvery = (step: number) =>
    stableHashed("rp-a", rules.map((x, i) => i % step === 0 ? { ...x, comment: "x" } : x));
  const plan = (after: HashedRules, backend: "nft" | "legacy") =>
    planTable(input({
      backend,
      owned: new Map([["rp-a", after]]),
      dataplane: kernel([["rp-a", { hashes: [...before.hashes] }]]),
    })).script.split("\n");
  for (const backend of ["nft", "legacy"] as const) {
    const few = plan(changedEvery(2000), backend);
    assert.equal(few.length, 13, backend);
    assert.ok(few.slice(1, -2).every((l) => l.startsWith("-R rp-a ")));
    const many = plan(changedEvery(2), backend);
    assert.equal(many[1], ":rp-a - [0:0]", backend);
  }
});

Deno.test("planner (stable IDs): our rules in INPUT are edited in place, foreign rules untouched", () => {
  const ins = (ports: number[]) => stableHashed("INPUT", ports.map(r));
  const app = (ports: number[]) => stableHashed("INPUT*appends*", ports.map(r));
  const none = { rules: [], hashes: [] };
  const before = ins([1, 2, 3, 4]);
  const lines = (h: HashedRules, chain = "INPUT") =>
    h.rules.map((rule, i) =>
      `-A ${chain} -m comment --comment "rp:${h.hashes[i]}" -p tcp -m tcp --dport ${
        (rule.match!.render().match(/ports (\d+)/) ?? [])[1]
      } -j ACCEPT`
    );
  const plan = (
    after: HashedRules,
    appends: HashedRules = none,
    insertMode: "insert" | "append" = "insert",
  ) =>
    planTable(input({
      insertMode,
      foreign: new Map([["INPUT", { inserts: after, appends }]]),
      dataplane: kernel([["INPUT", {
        hashes: [...before.hashes, "", ""],
        lines: [...lines(before), "", ""],
      }]]),
    }));
  // One insert changed in the middle: one delete (by the text we write) and one insert.
  const changed = ins([1, 2, 9, 4]);
  const p1 = plan(changed);
  assert.deepEqual(body(p1.script, [...before.hashes, ...changed.hashes]), [
    // Not in the new list: deleted by its saved text.
    "-D INPUT #2 -p tcp -m tcp --dport 3 -j ACCEPT",
    "-I INPUT 3 #6 -p tcp -m multiport --destination-ports 9 --jump ACCEPT",
  ]);
  assert.deepEqual(p1.next.get("INPUT")?.hashes, [...changed.hashes, "", ""]);
  // One added at the top, one appended below the foreign rules.
  const top = ins([0, 1, 2, 3, 4]), bottom = app([5]);
  const p2 = plan(top, bottom);
  assert.deepEqual(body(p2.script, [...top.hashes, ...bottom.hashes]), [
    "-I INPUT #0 -p tcp -m multiport --destination-ports 0 --jump ACCEPT",
    "-A INPUT #5 -p tcp -m multiport --destination-ports 5 --jump ACCEPT",
  ]);
  // The same in append mode: ours move below the foreign rules (all deleted, then appended).
  const p3 = plan(before, none, "append");
  assert.equal(p3.script.split("\n").filter((l) => l.startsWith("-D INPUT ")).length, 4);
  assert.equal(p3.script.split("\n").filter((l) => l.startsWith("-A INPUT ")).length, 4);
  assert.deepEqual(p3.next.get("INPUT")?.hashes, ["", "", ...before.hashes]);
  // With a failed delete by value before: deletes by number, bottom up.
  const p4 = planTable(input({
    foreign: new Map([["INPUT", { inserts: ins([1, 3]), appends: none }]]),
    dataplane: kernel([["INPUT", {
      hashes: [...before.hashes, "", ""],
      lines: [...lines(before), "", ""],
    }]]),
    deleteByPosition: new Set(["INPUT"]),
  }));
  assert.deepEqual(body(p4.script, []), ["-D INPUT 4", "-D INPUT 2"]);
});

Deno.test("planner (stable IDs): a rule of ours the kernel holds twice makes INPUT written again", () => {
  const ins = stableHashed("INPUT", [r(1), r(2)]);
  const line = (i: number) =>
    `-A INPUT -m comment --comment "rp:${ins.hashes[i]}" -p tcp -m tcp --dport ${i + 1} -j ACCEPT`;
  const plan = planTable(input({
    foreign: new Map([["INPUT", { inserts: ins, appends: { rules: [], hashes: [] } }]]),
    dataplane: kernel([["INPUT", {
      hashes: [ins.hashes[0]!, ins.hashes[1]!, "", ins.hashes[0]!],
      lines: [line(0), line(1), "", line(0)],
    }]]),
  }));
  const heads = plan.script.trim().split("\n").map((l) => l.slice(0, 8));
  assert.deepEqual(heads, [
    "*filter",
    "-D INPUT",
    "-D INPUT",
    "-D INPUT",
    "-I INPUT",
    "-I INPUT",
    "COMMIT",
  ]);
  assert.deepEqual(plan.next.get("INPUT")?.hashes, [...ins.hashes, ""]);
});
