import assert from "assert";
import { createHash } from "node:crypto";
import {
  Accept,
  calculateRuleHashes,
  calculateRuleIds,
  calculateStableRuleHashes,
  Drop,
  HASH_LENGTH,
  Jump,
  Log,
  Match,
  renderAppend,
  type Rule,
  Snat,
} from "../../mod.ts";

/** An independent implementation of section 3.3 with node:crypto. */
function referenceHashes(chain: string, rules: readonly Rule[]): string[] {
  let h = createHash("sha224").update(chain).digest();
  return rules.map((rule) => {
    h = createHash("sha224").update(h).update(renderAppend(rule, chain, { hash: "HASH" }))
      .digest();
    return h.toString("base64url").slice(0, HASH_LENGTH);
  });
}

/** An independent implementation of the stable IDs with node:crypto. */
function referenceStableHashes(chain: string, rules: readonly Rule[]): string[] {
  const h0 = createHash("sha224").update(chain).digest();
  const counts = new Map<string, number>();
  return rules.map((rule) => {
    const text = renderAppend(rule, chain, { hash: "HASH" });
    const n = counts.get(text) ?? 0;
    counts.set(text, n + 1);
    let d = createHash("sha224").update(h0).update(text).digest();
    if (n > 0) d = createHash("sha224").update(d).update(`\n${n}`).digest();
    return d.toString("base64url").slice(0, HASH_LENGTH);
  });
}

const RULES: Rule[] = [
  { match: Match().protocol("tcp").destPorts(22, 80, 443), action: Accept(), comment: "web" },
  { match: Match().sourceIpSet("rp-blocked"), action: Drop() },
  { match: Match().conntrackState("INVALID"), action: Log("invalid") },
  { action: Jump("rp-next") },
];

Deno.test("hash: Calico's known answers", () => {
  for (
    const [chain, id] of [
      ["INPUT", "Cz_u1IQiXIMmKD4c"],
      ["OUTPUT", "tVnHkvAo15HuiPy0"],
      ["PREROUTING", "6gwbT8clXdHdC1b1"],
      ["POSTROUTING", "O3lYWMrLQYEMJtB5"],
    ]
  ) {
    assert.deepEqual(calculateRuleHashes(chain!, [{ action: Jump(`cali-${chain}`) }]), [id]);
  }
});

Deno.test("hash: equals an independent node:crypto implementation", () => {
  assert.deepEqual(calculateRuleHashes("rp-x", RULES), referenceHashes("rp-x", RULES));
  assert.deepEqual(calculateRuleHashes("", []), []);
});

Deno.test("hash: IDs are 16 base64url characters", () => {
  assert.equal(HASH_LENGTH, 16);
  for (const id of calculateRuleHashes("rp-x", RULES)) assert.match(id, /^[A-Za-z0-9_-]{16}$/);
});

Deno.test("hash: identical rules in different chains get different IDs", () => {
  const a = calculateRuleHashes("rp-a", RULES);
  const b = calculateRuleHashes("rp-b", RULES);
  for (let i = 0; i < RULES.length; i++) assert.notEqual(a[i], b[i]);
});

Deno.test("hash: the same rule at different positions gets different IDs", () => {
  const ids = calculateRuleHashes("rp-x", [{ action: Accept() }, { action: Accept() }]);
  assert.notEqual(ids[0], ids[1]);
  assert.equal(new Set(calculateRuleHashes("rp-x", RULES)).size, RULES.length);
});

Deno.test("hash: a common prefix gives the same IDs, then everything diverges", () => {
  const a = calculateRuleHashes("rp-x", RULES);
  const changed = [...RULES];
  changed[1] = { match: Match().sourceIpSet("rp-blocked2"), action: Drop() };
  const b = calculateRuleHashes("rp-x", changed);
  assert.equal(a[0], b[0]);
  for (let i = 1; i < RULES.length; i++) assert.notEqual(a[i], b[i]);
  const prefix = calculateRuleHashes("rp-x", RULES.slice(0, 2));
  assert.deepEqual(prefix, a.slice(0, 2));
  const longer = calculateRuleHashes("rp-x", [...RULES, { action: Drop() }]);
  assert.deepEqual(longer.slice(0, RULES.length), a);
});

Deno.test("hash: different rules get different IDs", () => {
  assert.notDeepEqual(
    calculateRuleHashes("rp-x", [{ action: Accept() }]),
    calculateRuleHashes("rp-x", [{ action: Drop() }]),
  );
  assert.notDeepEqual(
    calculateRuleHashes("rp-x", [{ action: Accept(), comment: "a" }]),
    calculateRuleHashes("rp-x", [{ action: Accept(), comment: "b" }]),
  );
});

Deno.test("hash: features are part of the hashed text", () => {
  const rules = [{ action: Snat("10.0.0.1") }];
  assert.notDeepEqual(
    calculateRuleHashes("POSTROUTING", rules),
    calculateRuleHashes("POSTROUTING", rules, { snatFullyRandom: true }),
  );
  assert.deepEqual(
    calculateRuleHashes("POSTROUTING", rules),
    calculateRuleHashes("POSTROUTING", rules, { masqFullyRandom: true }),
  );
});

Deno.test("hash: appended rules use the X*appends* pseudo-chain", () => {
  const rules = [{ action: Jump("rp-fw") }];
  assert.notDeepEqual(
    calculateRuleHashes("FORWARD", rules),
    calculateRuleHashes("FORWARD*appends*", rules),
  );
  assert.deepEqual(
    calculateRuleHashes("FORWARD*appends*", rules),
    referenceHashes("FORWARD*appends*", rules),
  );
});

Deno.test("hash: deterministic across calls (no state leaks between calls)", () => {
  const a = calculateRuleHashes("rp-x", RULES);
  calculateRuleHashes("rp-other", RULES.slice(1));
  assert.deepEqual(calculateRuleHashes("rp-x", RULES), a);
});

Deno.test("stable hash: equals an independent node:crypto implementation", () => {
  const rules = [...RULES, { action: Accept() }, RULES[0]!, { action: Accept() }, RULES[0]!];
  assert.deepEqual(calculateStableRuleHashes("rp-x", rules), referenceStableHashes("rp-x", rules));
  assert.deepEqual(calculateStableRuleHashes("rp-x", []), []);
  // A long rule (the shared buffer grows) and a chain of 1000 identical rules.
  const long = [{ action: Accept(), comment: "x".repeat(256) }, { action: Accept() }];
  assert.deepEqual(calculateStableRuleHashes("rp-x", long), referenceStableHashes("rp-x", long));
  const same = Array.from({ length: 1000 }, () => ({ action: Drop() }));
  const ids = calculateStableRuleHashes("rp-x", same);
  assert.deepEqual(ids, referenceStableHashes("rp-x", same));
  assert.equal(new Set(ids).size, 1000);
  // Many distinct rules share slots of the table that finds copies.
  const mixed = Array.from({ length: 600 }, (_, i) => ({
    match: Match().protocol("tcp").destPorts(1 + (i % 250)),
    action: i % 3 === 0 ? Drop() : Accept(),
  }));
  assert.deepEqual(
    calculateStableRuleHashes("rp-x", mixed),
    referenceStableHashes("rp-x", mixed),
  );
});

Deno.test("stable hash: an ID depends on the rule and its chain, not on its position", () => {
  const a = calculateStableRuleHashes("rp-x", RULES);
  for (const id of a) assert.match(id, /^[A-Za-z0-9_-]{16}$/);
  // Reversed, with a rule inserted in front and one changed: the others keep their IDs.
  const changed = [{ action: Drop() }, ...RULES].reverse();
  changed[0] = { action: Jump("rp-other") };
  const b = calculateStableRuleHashes("rp-x", changed);
  assert.deepEqual(b.slice(1, 4), [a[2], a[1], a[0]]);
  assert.ok(!a.includes(b[0]!));
  const other = calculateStableRuleHashes("rp-y", RULES);
  for (let i = 0; i < RULES.length; i++) assert.notEqual(other[i], a[i]);
});

Deno.test("stable hash: identical rules are numbered by occurrence", () => {
  const web = { match: Match().protocol("tcp").destPorts(80), action: Accept() };
  const ids = calculateStableRuleHashes("rp-x", [web, { action: Drop() }, web, web]);
  assert.equal(new Set(ids).size, 4);
  // Deleting the first copy renumbers the later ones: the second takes the first's ID.
  const after = calculateStableRuleHashes("rp-x", [{ action: Drop() }, web, web]);
  assert.deepEqual(after, [ids[1], ids[0], ids[2]]);
});

Deno.test("stable hash: a chain's first rule has the reference's ID", () => {
  for (const chain of ["INPUT", "OUTPUT", "rp-x"]) {
    const rules = [{ action: Jump(`cali-${chain}`) }, { action: Drop() }];
    assert.equal(
      calculateStableRuleHashes(chain, rules)[0],
      calculateRuleHashes(chain, rules)[0],
    );
    assert.notEqual(
      calculateStableRuleHashes(chain, rules)[1],
      calculateRuleHashes(chain, rules)[1],
    );
  }
});

Deno.test("stable hash: features are part of the hashed text", () => {
  const rules = [{ action: Snat("10.0.0.1") }];
  assert.notDeepEqual(
    calculateStableRuleHashes("POSTROUTING", rules),
    calculateStableRuleHashes("POSTROUTING", rules, { features: { snatFullyRandom: true } }),
  );
});

Deno.test("calculateRuleIds: stable by default, chained on request", () => {
  const features = { snatFullyRandom: true };
  const rules = [...RULES, { action: Snat("10.0.0.1") }];
  assert.deepEqual(
    calculateRuleIds("rp-x", rules, { features }),
    calculateStableRuleHashes("rp-x", rules, { features }),
  );
  assert.deepEqual(
    calculateRuleIds("rp-x", rules, { ruleIds: "stable", features }),
    calculateStableRuleHashes("rp-x", rules, { features }),
  );
  assert.deepEqual(
    calculateRuleIds("rp-x", rules, { ruleIds: "chained", features }),
    calculateRuleHashes("rp-x", rules, features),
  );
});
