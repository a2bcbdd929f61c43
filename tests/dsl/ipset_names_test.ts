import assert from "assert";
import { Accept, Match, MatchCriteria } from "../../mod.ts";
import { addIpSetNames } from "../../dsl/ipset_names.ts";
import { MATCH_SPECS } from "../../dsl/rule_schema.ts";

function call(method: string, name: string): MatchCriteria {
  const m = Match() as unknown as Record<string, (name: string) => MatchCriteria>;
  return m[method]!.call(Match(), name);
}

Deno.test("ipset names: the set methods are the rule schema's ipSet entries", () => {
  const flagged = [...MATCH_SPECS.values()].filter((s) => s.ipSet === true).map((s) => s.name);
  const byName = [...MATCH_SPECS.keys()].filter((k) => /Ip(?:Port)?Set$/.test(k));
  assert.deepEqual(flagged, byName);
  assert.equal(flagged.length, 8);
  for (const method of flagged) {
    const match = call(method, "rp-set-1");
    assert.match(match.render(), /--match-set rp-set-1 /, method);
    const names = new Set<string>();
    addIpSetNames({ match, action: Accept() }, names);
    assert.deepEqual([...names], ["rp-set-1"], method);
  }
});

Deno.test("ipset names: every set a rule names, in order, without repeats", () => {
  const names = new Set<string>(["rp-first"]);
  const match = Match().sourceIpSet("rp-a").notDestIpPortSet("rp-b").destIpSet("rp-a")
    .protocol("tcp");
  addIpSetNames({ match, action: Accept() }, names);
  assert.deepEqual([...names], ["rp-first", "rp-a", "rp-b"]);
  const none = new Set<string>();
  addIpSetNames({ action: Accept() }, none);
  assert.deepEqual([...none], []);
});

Deno.test("ipset names: a clause of another method is scanned for --match-set", () => {
  const raw = new MatchCriteria([
    {
      method: "raw",
      args: [],
      fragment: "-m set --match-set rp-raw src -m set ! --match-set rp-two dst",
    },
  ]);
  const names = new Set<string>();
  addIpSetNames({ match: raw, action: Accept() }, names);
  assert.deepEqual([...names], ["rp-raw", "rp-two"]);
});
