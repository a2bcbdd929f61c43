/**
 * Scenario 5: atomic failure. A rule referencing a missing ipset, a dangling
 * jump, an IPv4 address in an IPv6 table (and rules only the kernel rejects):
 * `apply()` throws the typed error naming the offending rule, and
 * iptables-save is byte-identical before and after. Removing the bad rule
 * lets the next apply succeed.
 */
import assert from "assert";
import {
  Accept,
  ChainLoopError,
  type CommandRunner,
  DanglingReferenceError,
  Drop,
  Jump,
  LimitNumConnections,
  Match,
  PlacementError,
  RestoreError,
  type Rule,
  RuleError,
  type Table,
} from "../../mod.ts";
import { MissingIpSetError } from "../../src/host/ipset_check.ts";
import {
  chainIds,
  kernelTable,
  kernelTest,
  nsExec,
  nsRunner,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const GOOD: Rule[] = [
  { match: Match().conntrackState("RELATED,ESTABLISHED"), action: Accept() },
  { match: Match().protocol("tcp").destPorts(22), action: Accept() },
  { action: Drop() },
];

async function snapshot(netns: string, v: Variant): Promise<string> {
  const parts: string[] = [];
  for (const t of ["filter", "nat", "mangle", "raw"]) parts.push(await saveTable(netns, v, t));
  return parts.join("");
}

async function atomic(netns: string, v: Variant): Promise<void> {
  const other = v.ipVersion === 6 ? "inet" : "inet6";
  await nsExec(netns, "ipset", ["create", "rp-wrong-family", "hash:net", "family", other]);
  // Restore retries back off with the table's clock: skip the waits.
  const table = kernelTable(netns, "filter", v, {
    clock: { now: () => performance.now(), sleep: () => Promise.resolve() },
  });
  table.updateChain({ name: "rp-input", rules: GOOD });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
  await table.apply();
  const before = await snapshot(netns, v);

  async function expectFailure<E extends Error>(
    label: string,
    bad: Rule,
    type: new (...args: never[]) => E,
    check: (e: E) => void,
    where: (t: Table, bad: Rule | undefined) => void = (t, bad) =>
      t.updateChain({
        name: "rp-input",
        rules: bad === undefined ? GOOD : [...GOOD.slice(0, 2), bad, GOOD[2]!],
      }),
  ) {
    where(table, bad);
    const error = await table.apply().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof type, `${label}: expected ${type.name}, got ${error}`);
    check(error as E);
    if (Deno.env.get("RP_DEBUG")) console.log(label, (error as Error).message);
    assert.equal(await snapshot(netns, v), before, `${label}: nothing was written`);
    // Recovery: without the bad rule, the next apply succeeds (and is a no-op).
    where(table, undefined);
    await table.apply();
    assert.equal(await snapshot(netns, v), before, `${label}: recovered`);
  }

  await expectFailure(
    "missing ipset",
    { match: Match().sourceIpSet("rp-missing"), action: Accept() },
    MissingIpSetError,
    (e) => {
      assert.equal(e.setName, "rp-missing");
      assert.equal(e.chain, "rp-input");
      assert.equal(e.ruleIndex, 2);
    },
  );
  await expectFailure(
    "dangling jump to an owned chain",
    { action: Jump("rp-nowhere") },
    DanglingReferenceError,
    (e) => {
      assert.equal(e.fromChain, "rp-input");
      assert.equal(e.toChain, "rp-nowhere");
      assert.equal(e.ruleIndex, 2);
      assert.match(e.message, /"rp-input".*"rp-nowhere"/);
    },
  );
  const wrongFamily = v.ipVersion === 6 ? "10.0.0.1/32" : "2001:db8::1/128";
  await expectFailure(
    "address of the other family",
    { match: Match().sourceNet(wrongFamily), action: Accept() },
    PlacementError,
    (e) => {
      assert.equal(e.chain, "rp-input");
      assert.equal(e.ruleIndex, 2);
      assert.match(
        e.message,
        new RegExp(`IPv${v.ipVersion === 6 ? 4 : 6} address in an IPv${v.ipVersion} table`),
      );
    },
  );
  await expectFailure(
    "address of the other family in a kernel chain",
    { match: Match().destNet(wrongFamily), action: Drop() },
    PlacementError,
    (e) => {
      assert.equal(e.chain, "INPUT");
      assert.equal(e.list, "insert");
      assert.equal(e.ruleIndex, 3);
    },
    (t, bad) =>
      t.setRuleInsertions("INPUT", [
        { action: Jump("rp-input") },
        ...(bad === undefined ? [] : [...GOOD.slice(0, 2), bad]),
      ]),
  );
  if (v.ipVersion === 6) {
    await expectFailure(
      "address type the kernel refuses for IPv6",
      { match: Match().destAddrType("BROADCAST"), action: Drop() },
      PlacementError,
      (e) => assert.match(e.message, /rule 3 of chain "rp-input".*BROADCAST.*IPv6/),
    );
  }
  // LimitNumConnections renders its own `-p tcp` after the match: ports before it
  // would have no protocol, which iptables refuses.
  await expectFailure(
    "ports before LimitNumConnections' own -p tcp",
    { match: Match().destPorts(80), action: LimitNumConnections(10, "tcp-reset") },
    PlacementError,
    (e) => assert.match(e.message, /destPorts\(\) needs a positive protocol match/),
  );
  // A jump to a chain nobody created: the plan reads the kernel's chains.
  await expectFailure(
    "jump to a missing foreign chain",
    { action: Jump("NO-SUCH-CHAIN") },
    DanglingReferenceError,
    (e) => {
      assert.deepEqual([e.fromChain, e.toChain, e.ruleIndex, e.list], [
        "rp-input",
        "NO-SUCH-CHAIN",
        2,
        "chain",
      ]);
      assert.match(e.message, /^Rule 3 of chain "rp-input" jumps to chain "NO-SUCH-CHAIN"/);
    },
  );
  // Only the kernel knows this one: an ipset of the other family. The error
  // maps the failing line back to the rule (numbered from 1, as the line shows it).
  await expectFailure(
    "ipset of the other family",
    { match: Match().destIpSet("rp-wrong-family"), action: Accept() },
    RestoreError,
    (e) => {
      if (e.location !== undefined) {
        assert.deepEqual(e.location, { chain: "rp-input", ruleIndex: 2, list: "chain" });
        assert.match(e.message, /rule 3 of chain "rp-input"/);
      } else {
        assert.equal(e.atCommit, true, e.message);
        assert.ok(e.addedRules.some((l) => l.includes("rp-wrong-family")), e.message);
      }
    },
  );
  // A loop of jumps: the legacy kernel refuses it at COMMIT, nft at the rule
  // ("Too many links"); the engine refuses it before writing.
  await expectFailure(
    "jump loop",
    { action: Jump("rp-loop") },
    ChainLoopError,
    (e) => assert.deepEqual(e.chains, ["rp-input", "rp-loop", "rp-input"]),
    (t, bad) => {
      t.updateChain({ name: "rp-loop", rules: [{ action: Jump("rp-input") }] });
      t.updateChain({
        name: "rp-input",
        rules: bad === undefined ? GOOD : [...GOOD.slice(0, 2), bad, GOOD[2]!],
      });
    },
  );
  // The legacy kernel refuses `--limit 1/day` (its credit counter overflows) at
  // COMMIT; the DSL refuses it at the call, so it never reaches a table.
  assert.throws(() => Match().limit("1/day"), RuleError);
  assert.equal(table.backend, v.backend);
}

/**
 * A first apply streams new chains into iptables-restore while their rules are
 * checked: a bad rule far into the script (after thousands of lines already
 * sent) must still stop the restore before its COMMIT.
 */
async function streamedFailure(netns: string, v: Variant): Promise<void> {
  const filler: Rule[] = Array.from({ length: 2000 }, (_, i) => ({
    match: Match().protocol("tcp").destPorts(1000 + i),
    action: Accept(),
  }));
  const wrongFamily = v.ipVersion === 6 ? "10.0.0.1/32" : "2001:db8::1/128";
  const cases: [string, Rule, (e: unknown) => boolean][] = [
    [
      "missing ipset",
      { match: Match().sourceIpSet("rp-missing"), action: Accept() },
      (e) => e instanceof MissingIpSetError && e.chain === "rp-z" && e.ruleIndex === 2000,
    ],
    [
      "address of the other family",
      { match: Match().sourceNet(wrongFamily), action: Accept() },
      (e) => e instanceof PlacementError && e.chain === "rp-z" && e.ruleIndex === 2000,
    ],
  ];
  const before = await snapshot(netns, v);
  for (const [label, bad, expected] of cases) {
    // Records how much of the script reached iptables-restore.
    const inner = nsRunner(netns);
    let sent = "";
    const runner: CommandRunner = {
      streamsStdin: true,
      run(cmd, args, opts) {
        const stdin = opts?.stdin;
        if (!cmd.endsWith("-restore") || stdin === undefined || typeof stdin === "string") {
          return inner.run(cmd, args, opts);
        }
        return inner.run(cmd, args, {
          ...opts,
          stdin: (async function* () {
            for await (const chunk of stdin) {
              sent += chunk;
              yield chunk;
            }
          })(),
        });
      },
    };
    const table = kernelTable(netns, "filter", v, {
      runner,
      clock: { now: () => performance.now(), sleep: () => Promise.resolve() },
    });
    // Chains are written in name order: rp-a (good) streams before rp-z (bad).
    table.updateChain({ name: "rp-a", rules: filler });
    table.updateChain({ name: "rp-z", rules: [...filler, bad] });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }, { action: Jump("rp-z") }]);
    await assert.rejects(table.apply(), expected, label);
    assert.ok(sent.includes("-A rp-a "), `${label}: the restore had started`);
    assert.ok(!sent.includes("COMMIT"), `${label}: it never saw a COMMIT`);
    assert.equal(await snapshot(netns, v), before, `${label}: nothing was written`);
    // Without the bad rule the same table applies.
    table.updateChain({ name: "rp-z", rules: filler });
    await table.apply();
    assert.equal(chainIds(await saveTable(netns, v, "filter"), "rp-z").length, 2000, label);
    await table.cleanUp();
    assert.equal(await snapshot(netns, v), before, `${label}: cleaned up`);
  }
}

for (const v of VARIANTS) {
  kernelTest(`failed applies write nothing (${variantName(v)})`, (netns) => atomic(netns, v));
  kernelTest(
    `a bad rule found while a first apply streams writes nothing (${variantName(v)})`,
    (netns) => streamedFailure(netns, v),
  );
}
