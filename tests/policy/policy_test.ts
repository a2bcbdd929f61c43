/**
 * `src/policy/policy.ts` on its own: building a policy, the chain-name and
 * policy checks (each problem reported at its path), splitting a policy per
 * family, and the chains it jumps to. The per-family split is checked where
 * it matters, on the fake: each family's tables, applied, hold exactly the
 * rules meant for that family.
 */
import assert from "assert";
import {
  Accept,
  chainNameProblem,
  Drop,
  emptyPolicy,
  type FamilyTablePolicy,
  Goto,
  Jump,
  Match,
  MAX_CHAIN_NAME_LENGTH,
  type Policy,
  PolicyError,
  policyForFamily,
  referencedChains,
  Reject,
  RuleError,
  Table,
  tablePolicy,
  validatePolicy,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";

Deno.test("policy: tablePolicy fills every list, and names a family only when given one", () => {
  assert.deepEqual(tablePolicy("nat"), {
    table: "nat",
    chains: [],
    insertions: {},
    appends: {},
    policies: {},
  });
  assert.equal("ipVersion" in tablePolicy("nat"), false);
  assert.equal(tablePolicy("raw", { ipVersion: 6 }).ipVersion, 6);
  const chains = [{ name: "rp-x", rules: [] }];
  assert.equal(tablePolicy("filter", { chains }).chains, chains);
});

Deno.test("policy: emptyPolicy has no table, for both families unless told, and copies its argument", () => {
  assert.deepEqual(emptyPolicy(), { ipVersions: [4, 6], tables: [] });
  const families: (4 | 6)[] = [6];
  const p = emptyPolicy(families);
  families.push(4);
  assert.deepEqual(p.ipVersions, [6]);
  validatePolicy(emptyPolicy());
});

Deno.test("policy: chainNameProblem accepts exactly the user chains the DSL can jump to", () => {
  for (const ok of ["rp-input", "a", "x".repeat(MAX_CHAIN_NAME_LENGTH), "rp_2.web:1"]) {
    assert.equal(chainNameProblem(ok), undefined, ok);
    Jump(ok);
  }
  const refused = [
    "",
    "x".repeat(MAX_CHAIN_NAME_LENGTH + 1),
    "rp in",
    "rp\tin",
    "rp\nin",
    'rp"in',
    "rp'in",
    "-rp",
    "!rp",
    "DROP",
    "LOG",
    "MASQUERADE",
    "INPUT",
    "PREROUTING",
    // Refused by the DSL's Jump too, so a loaded chain could not be reached.
    "rp\\in",
    "rp`in",
    "#rp",
    "rp-é",
  ];
  for (const bad of refused) {
    assert.match(
      chainNameProblem(bad) ?? "",
      /^1 to 28 printable ASCII characters/,
      JSON.stringify(bad),
    );
    assert.throws(() => Jump(bad), RuleError, JSON.stringify(bad));
  }
});

/** A policy that passes validation, to break one thing at a time. */
function goodPolicy(): Policy {
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("filter", {
        chains: [{ name: "rp-in", rules: [{ action: Accept() }] }],
        insertions: { INPUT: [{ action: Jump("rp-in") }] },
        policies: { INPUT: "DROP" },
      }),
      tablePolicy("nat", { ipVersion: 4, policies: { POSTROUTING: "ACCEPT" } }),
    ],
  };
}

Deno.test("policy: validatePolicy reports each problem at its path, with the value", () => {
  validatePolicy(goodPolicy());
  validatePolicy(goodPolicy(), { chainPrefixes: ["rp-"] });
  const cases: [string, (p: Policy) => void, string, unknown, ValidateOptions?][] = [
    ["not an array", (p) => (p.ipVersions = 4 as never), "ipVersions", 4],
    ["IP version 5", (p) => (p.ipVersions = [4, 5 as 4]), "ipVersions[1]", 5],
    ["a family twice", (p) => (p.ipVersions = [6, 6]), "ipVersions[1]", 6],
    ["ruleIds", (p) => (p.ruleIds = "random" as never), "ruleIds", "random"],
    [
      "unknown table",
      (p) => (p.tables[1]!.table = "security" as never),
      "tables[1].table",
      "security",
    ],
    ["table twice", (p) => p.tables.push(tablePolicy("filter")), "tables[2].table", "filter"],
    ["table family", (p) => (p.tables[0]!.ipVersion = 5 as 4), "tables[0].ipVersion", 5],
    [
      "chain name",
      (p) => (p.tables[0]!.chains[0]!.name = "rp in"),
      "tables[0].chains[0].name",
      "rp in",
    ],
    [
      "chain twice",
      (p) => p.tables[0]!.chains.push({ name: "rp-in", rules: [] }),
      "tables[0].chains[1].name",
      "rp-in",
    ],
    [
      "chain family",
      (p) => (p.tables[0]!.chains[0]!.ipVersion = 0 as 4),
      "tables[0].chains[0].ipVersion",
      0,
    ],
    [
      "a chain without our prefix",
      (p) => (p.tables[0]!.chains[0]!.name = "mine"),
      "tables[0].chains[0].name",
      "mine",
      { chainPrefixes: ["rp-"] },
    ],
    [
      "the policy record's name",
      (p) => (p.tables[0]!.chains[0]!.name = "rp-policy"),
      "tables[0].chains[0].name",
      "rp-policy",
      { chainPrefixes: ["rp-"] },
    ],
    [
      "a chain of another table",
      (p) => (p.tables[0]!.insertions.PREROUTING = []),
      "tables[0].insertions.PREROUTING",
      "PREROUTING",
    ],
    [
      "an append to a user chain",
      (p) => (p.tables[0]!.appends["rp-in"] = []),
      "tables[0].appends.rp-in",
      "rp-in",
    ],
    [
      "policy value",
      (p) => (p.tables[0]!.policies.INPUT = "REJECT" as never),
      "tables[0].policies.INPUT",
      "REJECT",
    ],
    [
      "DROP in nat",
      (p) => (p.tables[1]!.policies.POSTROUTING = "DROP"),
      "tables[1].policies.POSTROUTING",
      "DROP",
    ],
    [
      "policy of a user chain",
      (p) => (p.tables[0]!.policies["rp-in"] = "DROP"),
      "tables[0].policies.rp-in",
      "rp-in",
    ],
  ];
  for (const [name, change, path, value, options] of cases) {
    const p = goodPolicy();
    change(p);
    assert.throws(
      () => validatePolicy(p, options),
      (e) => e instanceof PolicyError && e.path === path && e.value === value,
      name,
    );
  }
  // Without chain prefixes, any valid name is fine, the record's name too.
  const p = goodPolicy();
  p.tables[0]!.chains[0]!.name = "mine";
  validatePolicy(p);
});

type ValidateOptions = Parameters<typeof validatePolicy>[1];

/** A policy with rules, chains and tables for one family or both. */
function mixedPolicy(): Policy {
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("filter", {
        chains: [
          {
            name: "rp-in",
            rules: [
              { match: Match().sourceNet("10.0.0.0/8"), action: Accept(), ipVersion: 4 },
              { match: Match().sourceNet("2001:db8::/32"), action: Accept(), ipVersion: 6 },
              { match: Match().protocol("tcp").destPorts(22), action: Accept(), comment: "ssh" },
              { action: Drop() },
            ],
          },
          {
            name: "rp-v6",
            ipVersion: 6,
            rules: [{ match: Match().protocol("icmpv6"), action: Accept() }],
          },
        ],
        insertions: {
          INPUT: [
            { action: Jump("rp-in") },
            { match: Match().protocol("icmpv6"), action: Jump("rp-v6"), ipVersion: 6 },
          ],
        },
        appends: { FORWARD: [{ action: Reject(), ipVersion: 4 }] },
        policies: { FORWARD: "DROP" },
      }),
      tablePolicy("nat", {
        ipVersion: 4,
        appends: {
          POSTROUTING: [{ match: Match().outInterface("eth0"), action: Goto("rp-masq") }],
        },
        chains: [{ name: "rp-masq", rules: [] }],
      }),
    ],
  };
}

Deno.test("policy: policyForFamily keeps each family's tables, chains and rules, without the family marks", () => {
  const v4 = policyForFamily(mixedPolicy(), 4);
  assert.deepEqual(v4.map((t) => [t.table, t.ipVersion]), [["filter", 4], ["nat", 4]]);
  const filter4 = v4[0]!;
  assert.deepEqual(filter4.chains.map((c) => [c.name, c.rules.length]), [["rp-in", 3]]);
  assert.equal(filter4.chains[0]!.rules[0]!.match!.render(), "--source 10.0.0.0/8");
  assert.ok(filter4.chains[0]!.rules.every((r) => !("ipVersion" in r)));
  assert.equal(filter4.chains[0]!.rules[1]!.comment, "ssh");
  assert.equal(filter4.insertions.INPUT!.length, 1);
  assert.equal(filter4.appends.FORWARD!.length, 1);
  assert.deepEqual(filter4.policies, { FORWARD: "DROP" });

  const v6 = policyForFamily(mixedPolicy(), 6);
  assert.deepEqual(v6.map((t) => t.table), ["filter"]);
  assert.deepEqual(v6[0]!.chains.map((c) => [c.name, c.rules.length]), [["rp-in", 3], [
    "rp-v6",
    1,
  ]]);
  assert.deepEqual(v6[0]!.appends, { FORWARD: [] });
  assert.equal(v6[0]!.insertions.INPUT!.length, 2);

  // A family the policy is not for has no tables at all.
  assert.deepEqual(policyForFamily({ ...mixedPolicy(), ipVersions: [6] }, 4), []);
  // The policies are copied: changing one family's leaves the policy alone.
  const p = mixedPolicy();
  policyForFamily(p, 4)[0]!.policies.FORWARD = "ACCEPT";
  assert.equal(p.tables[0]!.policies.FORWARD, "DROP");
});

/** Gives a Table what a FamilyTablePolicy describes, as Firewall does. */
function setDesired(table: Table, desired: FamilyTablePolicy): void {
  for (const c of desired.chains) table.updateChain(c);
  for (const [chain, rules] of Object.entries(desired.insertions)) {
    table.setRuleInsertions(chain, rules);
  }
  for (const [chain, rules] of Object.entries(desired.appends)) table.setRuleAppends(chain, rules);
  for (const [chain, policy] of Object.entries(desired.policies)) {
    table.setChainPolicy(chain, policy);
  }
}

Deno.test("policy (fake): each family's tables, applied, hold exactly that family's rules", async () => {
  const fake = new FakeDataplane();
  for (const ipVersion of [4, 6] as const) {
    for (const desired of policyForFamily(mixedPolicy(), ipVersion)) {
      const table = new Table(desired.table, { runner: fake.runner, backend: "nft", ipVersion });
      setDesired(table, desired);
      await table.apply();
    }
  }
  const strip = (lines: string[]) =>
    lines.map((l) => l.replace(/ -m comment --comment "?rampart:[\w-]{16}"?/, ""));
  assert.deepEqual(strip(fake.rules("filter", "rp-in")), [
    "-A rp-in -s 10.0.0.0/8 -j ACCEPT",
    "-A rp-in -p tcp -m comment --comment ssh -m multiport --dports 22 -j ACCEPT",
    "-A rp-in -j DROP",
  ]);
  assert.deepEqual(strip(fake.rules("filter", "rp-in", { ipVersion: 6 })), [
    "-A rp-in -s 2001:db8::/32 -j ACCEPT",
    "-A rp-in -p tcp -m comment --comment ssh -m multiport --dports 22 -j ACCEPT",
    "-A rp-in -j DROP",
  ]);
  assert.deepEqual(fake.chains("filter"), ["INPUT", "FORWARD", "OUTPUT", "rp-in", "rp-policy"]);
  assert.deepEqual(fake.chains("filter", { ipVersion: 6 }), [
    "INPUT",
    "FORWARD",
    "OUTPUT",
    "rp-in",
    "rp-policy",
    "rp-v6",
  ]);
  assert.deepEqual(strip(fake.rules("filter", "FORWARD")), [
    "-A FORWARD -j REJECT --reject-with icmp-port-unreachable",
  ]);
  assert.deepEqual(fake.rules("filter", "FORWARD", { ipVersion: 6 }), []);
  assert.deepEqual(strip(fake.rules("nat", "POSTROUTING")), ["-A POSTROUTING -o eth0 -g rp-masq"]);
  assert.deepEqual(fake.rules("nat", "POSTROUTING", { ipVersion: 6 }), []);
  assert.match(fake.dump("filter", { ipVersion: 6 }), /^:FORWARD DROP /m);
});

Deno.test("policy: referencedChains lists each jump and goto target once, in order", () => {
  const filter = mixedPolicy().tables[0]!;
  assert.deepEqual(referencedChains(filter), ["rp-in", "rp-v6"]); // chains first, then INPUT
  assert.deepEqual(referencedChains(mixedPolicy().tables[1]!), ["rp-masq"]);
  assert.deepEqual(
    referencedChains(tablePolicy("filter", {
      chains: [{ name: "rp-a", rules: [{ action: Jump("rp-b") }, { action: Jump("rp-b") }] }],
      appends: { OUTPUT: [{ action: Goto("rp-c") }, { action: Accept() }] },
    })),
    ["rp-b", "rp-c"],
  );
  assert.deepEqual(referencedChains(tablePolicy("raw")), []);
});
