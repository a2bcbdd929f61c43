import assert from "assert";
import { MatchCriteria } from "../../dsl/match.ts";
import type { Rule } from "../../dsl/rule.ts";
import {
  assertIpSetsExist,
  checkIpSets,
  findMissingIpSetRule,
  IpSetListError,
  ipSetNames,
  listIpSets,
  MissingIpSetError,
} from "../../src/host/ipset_check.ts";
import { ok, ScriptedRunner } from "./scripted_runner.ts";

const METHODS: [string, string][] = [
  ["sourceIpSet", "src"],
  ["notSourceIpSet", "src"],
  ["destIpSet", "dst"],
  ["notDestIpSet", "dst"],
  ["sourceIpPortSet", "src,src"],
  ["notSourceIpPortSet", "src,src"],
  ["destIpPortSet", "dst,dst"],
  ["notDestIpPortSet", "dst,dst"],
];

function clause(method: string, name: string, dir: string) {
  const not = method.startsWith("not") ? "! " : "";
  return { method, args: [name], fragment: `-m set ${not}--match-set ${name} ${dir}` };
}

Deno.test("ipSetNames reads every set method's first argument", () => {
  for (const [method, dir] of METHODS) {
    const rule: Rule = {
      match: new MatchCriteria([
        { method: "protocol", args: ["tcp"], fragment: "-p tcp" },
        clause(method, "rp-s", dir),
      ]),
    };
    assert.deepEqual(ipSetNames(rule), ["rp-s"], method);
  }
});

Deno.test("ipSetNames also finds --match-set in other clauses, deduplicated, in order", () => {
  const rule: Rule = {
    match: new MatchCriteria([
      clause("destIpSet", "b", "dst"),
      { method: "raw", args: [], fragment: "-m set --match-set a src -m set ! --match-set b dst" },
    ]),
  };
  assert.deepEqual(ipSetNames(rule), ["b", "a"]);
  assert.deepEqual(ipSetNames({}), []);
});

Deno.test("checkIpSets runs `ipset list -n` and returns the missing names", async () => {
  const runner = new ScriptedRunner({ "ipset list -n": ok("rp-a\nrp-b\n\n") });
  assert.deepEqual(await checkIpSets({ runner, names: ["rp-c", "rp-a", "rp-c", "rp-d"] }), [
    "rp-c",
    "rp-d",
  ]);
  assert.deepEqual(runner.calls, ["ipset list -n"]);
});

Deno.test("checkIpSets runs nothing when no set is needed", async () => {
  const runner = new ScriptedRunner();
  assert.deepEqual(await checkIpSets({ runner, names: [] }), []);
  assert.deepEqual(runner.calls, []);
});

Deno.test("checkIpSets throws IpSetListError when ipset fails", async () => {
  const runner = new ScriptedRunner({
    ipset: {
      code: 1,
      stdout: "",
      stderr: "ipset v7.17: Kernel error received: Operation not permitted\n",
    },
  });
  await assert.rejects(
    checkIpSets({ runner, names: ["x"] }),
    (e: unknown) =>
      e instanceof IpSetListError && e.code === 1 && /Operation not permitted/.test(e.message),
  );
  await assert.rejects(checkIpSets({ runner: new ScriptedRunner(), names: ["x"] }), IpSetListError);
});

Deno.test("findMissingIpSetRule names the first rule using a missing set", () => {
  const withSet = (name: string): Rule => ({
    match: new MatchCriteria([clause("sourceIpSet", name, "src")]),
  });
  const chains = [
    { name: "rp-a", rules: [{}, withSet("ok")] },
    { name: "INPUT", rules: [withSet("ok"), withSet("ok"), withSet("gone2"), withSet("gone1")] },
    { name: "rp-b", rules: [withSet("gone1")] },
  ];
  const e = findMissingIpSetRule(chains, ["gone1", "gone2"]);
  assert.ok(e instanceof MissingIpSetError);
  assert.deepEqual([e.setName, e.chain, e.ruleIndex], ["gone2", "INPUT", 2]);
  assert.equal(
    e.message,
    'IP set "gone2" used by rule 3 of chain "INPUT" does not exist: expected it to be created (ipset create) before the rules are applied',
  );
  assert.equal(findMissingIpSetRule(chains, []), undefined);
  assert.equal(findMissingIpSetRule(chains, ["other"]), undefined);
});

Deno.test("assertIpSetsExist checks in one call", async () => {
  const withSet = (name: string): Rule => ({
    match: new MatchCriteria([clause("destIpSet", name, "dst")]),
  });
  const runner = new ScriptedRunner({ "ipset list -n": ok("a\n") });
  await assertIpSetsExist([{ name: "rp-x", rules: [withSet("a")] }], { runner });
  await assert.rejects(
    assertIpSetsExist([{ name: "rp-x", rules: [withSet("a"), withSet("b")] }], { runner }),
    (e: unknown) => e instanceof MissingIpSetError && e.setName === "b" && e.ruleIndex === 1,
  );
  const idle = new ScriptedRunner();
  await assertIpSetsExist([{ name: "rp-x", rules: [{}] }], { runner: idle });
  assert.deepEqual(idle.calls, []);
});

Deno.test("listIpSets passes its timeout to the runner and fails like checkIpSets", async () => {
  const seen: (number | undefined)[] = [];
  const runner = {
    run(_cmd: string, _args: string[], opts?: { timeoutMs?: number }) {
      seen.push(opts?.timeoutMs);
      return Promise.resolve({ code: 137, stdout: "", stderr: "", timedOut: true });
    },
  };
  await assert.rejects(listIpSets(runner, { timeoutMs: 1234 }), IpSetListError);
  assert.deepEqual(seen, [1234]);
  const listing = new ScriptedRunner({ "ipset list -n": ok("rp-a\n rp-b \n\n") });
  assert.deepEqual([...await listIpSets(listing)], ["rp-a", "rp-b"]);
});
