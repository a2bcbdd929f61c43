import assert from "assert";
import { createHash } from "node:crypto";
import {
  Accept,
  calculateRuleHashes,
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
