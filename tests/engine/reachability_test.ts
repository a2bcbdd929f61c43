/**
 * Reachability of owned chains: hooks, dangling jumps, loops, and the
 * per-list jump cache the table passes in.
 */
import assert from "assert";
import {
  Accept,
  ChainLoopError,
  DanglingReferenceError,
  Goto,
  Jump,
  type Rule,
} from "../../mod.ts";
import { computeReachability, type OwnedJump, ownedJumps } from "../../src/engine/reachability.ts";

const isOwned = (c: string) => c.startsWith("rp-");

function chains(spec: Record<string, Rule[]>) {
  return new Map(Object.entries(spec).map(([name, rules]) => [name, { name, rules }]));
}

Deno.test("reachability: ownedJumps lists jumps and gotos to owned chains only", () => {
  const rules: Rule[] = [
    { action: Accept() },
    { action: Jump("rp-a") },
    { action: Jump("DOCKER-USER") },
    { action: Goto("rp-b") },
  ];
  assert.deepEqual(ownedJumps(rules, isOwned), [
    { ruleIndex: 1, target: "rp-a" },
    { ruleIndex: 3, target: "rp-b" },
  ]);
});

Deno.test("reachability: hooks flow along jumps; a cached jump list gives the same result", () => {
  const defined = chains({
    "rp-a": [{ action: Jump("rp-b") }, { action: Accept() }],
    "rp-b": [{ action: Accept() }],
    "rp-unused": [{ action: Jump("rp-b") }],
  });
  const roots = new Map([
    ["INPUT", [[{ action: Jump("rp-a") }]]],
    ["OUTPUT", [[{ action: Jump("rp-b") }]]],
  ]);
  const plain = computeReachability({
    table: "filter",
    chains: defined,
    roots,
    isOwnedChain: isOwned,
  });
  const asked: string[] = [];
  const cache = new Map<string, OwnedJump[]>();
  const cached = computeReachability({
    table: "filter",
    chains: defined,
    roots,
    isOwnedChain: isOwned,
    jumpsOf: (name) => {
      asked.push(name);
      let jumps = cache.get(name);
      if (jumps === undefined) {
        cache.set(name, jumps = ownedJumps(defined.get(name)!.rules, isOwned));
      }
      return jumps;
    },
  });
  for (const result of [plain, cached]) {
    assert.deepEqual([...result.keys()].sort(), ["rp-a", "rp-b"]);
    assert.deepEqual([...result.get("rp-a")!], ["INPUT"]);
    assert.deepEqual([...result.get("rp-b")!].sort(), ["INPUT", "OUTPUT"]);
  }
  assert.ok(!asked.includes("rp-unused"), "unreachable chains are not walked");
});

Deno.test("reachability: dangling jumps and loops are errors naming the rule or the cycle", () => {
  assert.throws(
    () =>
      computeReachability({
        table: "filter",
        chains: chains({ "rp-a": [{ action: Accept() }, { action: Jump("rp-gone") }] }),
        roots: new Map([["INPUT", [[{ action: Jump("rp-a") }]]]]),
        isOwnedChain: isOwned,
      }),
    (e) => e instanceof DanglingReferenceError && e.fromChain === "rp-a" && e.ruleIndex === 1,
  );
  assert.throws(
    () =>
      computeReachability({
        table: "filter",
        chains: chains({ "rp-a": [{ action: Jump("rp-b") }], "rp-b": [{ action: Goto("rp-a") }] }),
        roots: new Map([["INPUT", [[{ action: Jump("rp-a") }]]]]),
        isOwnedChain: isOwned,
      }),
    (e) => e instanceof ChainLoopError && e.chains.join(" ") === "rp-a rp-b rp-a",
  );
});
