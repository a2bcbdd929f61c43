/**
 * Scenario 4: another process clobbers our rules (flushes our chain, deletes
 * one of our kernel-chain rules, inserts a rule into our chain, or runs a
 * whole save/modify/restore cycle); the next due `apply()` (after
 * `invalidateDataplaneCache`, or once the refresh interval has passed)
 * restores the desired state exactly.
 */
import assert from "assert";
import { Accept, type Clock, Drop, Goto, Jump, Match, Return } from "../../mod.ts";
import {
  binary,
  kernelTable,
  kernelTest,
  nsExec,
  restoreScript,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

function manualClock(): Clock & { advance(ms: number): void } {
  let t = 1_000_000;
  return {
    now: () => t,
    sleep(ms) {
      t += ms;
      return Promise.resolve();
    },
    advance(ms) {
      t += ms;
    },
  };
}

async function clobber(netns: string, v: Variant): Promise<void> {
  const clock = manualClock();
  const table = kernelTable(netns, "filter", v, {
    clock,
    refreshIntervalMs: 10_000,
    postWriteIntervalMs: 1_000_000_000, // no post-write checks: only the refresh timer
  });
  const net = v.ipVersion === 6 ? "2001:db8::/32" : "10.0.0.0/8";
  table.updateChain({
    name: "rp-input",
    rules: [
      { match: Match().conntrackState("RELATED,ESTABLISHED"), action: Accept() },
      { match: Match().protocol("tcp").destPorts(22), action: Accept() },
      { match: Match().sourceNet(net), action: Jump("rp-sub") },
      { match: Match().protocol("udp").destPorts(53), action: Accept() },
      { action: Goto("rp-sub") },
    ],
  });
  table.updateChain({ name: "rp-sub", rules: [{ action: Drop() }, { action: Return() }] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
  table.setRuleAppends("FORWARD", [{ action: Drop() }]);
  // A foreign rule already in INPUT and FORWARD.
  const ipt = binary(v, "");
  await nsExec(netns, ipt, ["-w", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]);
  await nsExec(netns, ipt, ["-w", "-A", "FORWARD", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]);
  await table.apply();
  const baseline = await saveTable(netns, v, "filter");
  assert.match(baseline, /-A INPUT -m comment --comment "rampart:\S+ -j rp-input\n-A INPUT -p tcp/);

  async function expectRestored(label: string, via: "invalidate" | "timer", script?: string[]) {
    if (via === "invalidate") table.invalidateDataplaneCache(label);
    if (script !== undefined) {
      assert.deepEqual(
        (await table.plan()).trimEnd().split("\n"),
        ["*filter", ...script, "COMMIT"],
        label,
      );
    }
    if (via === "timer") {
      // Nothing tells the table; the refresh interval passing makes the next apply() re-read.
      clock.advance(10_001);
    }
    await table.apply();
    assert.equal(await saveTable(netns, v, "filter"), baseline, label);
  }

  // Without a reason to re-read, apply() trusts its cache and writes nothing.
  await nsExec(netns, ipt, ["-w", "-F", "rp-sub"]);
  const calls = table.metrics().restoreCalls;
  await table.apply();
  assert.equal(table.metrics().restoreCalls, calls, "no read, no write before the timer");
  // The refresh timer: the flushed chain comes back.
  clock.advance(10_001);
  await table.apply();
  assert.equal(
    await saveTable(netns, v, "filter"),
    baseline,
    "flush repaired by the refresh timer",
  );

  // 1. Flush our chain.
  await nsExec(netns, ipt, ["-w", "-F", "rp-input"]);
  await expectRestored("flush", "invalidate");
  // 2. Delete one of our kernel-chain rules (the jump in INPUT, and the FORWARD append).
  await nsExec(netns, ipt, ["-w", "-D", "INPUT", "1"]);
  await nsExec(netns, ipt, ["-w", "-D", "FORWARD", "2"]);
  await expectRestored("delete kernel-chain rules", "timer");
  // 3. Insert a rule into our chain: one -D, nothing else is rewritten.
  await nsExec(netns, ipt, ["-w", "-I", "rp-input", "3", "-j", "ACCEPT"]);
  await expectRestored("insert into our chain", "invalidate", ["-D rp-input 3"]);
  // 3b. Delete a rule from the middle of our chain: one positional insert.
  await nsExec(netns, ipt, ["-w", "-D", "rp-input", "2"]);
  await expectRestored("delete from our chain", "invalidate");
  // 3c. Replace a rule of ours in place (same ID, other text) is not detected
  //     (IDs only); replace it with a foreign rule instead.
  await nsExec(netns, ipt, ["-w", "-R", "rp-input", "4", "-j", "DROP"]);
  await expectRestored("replace a rule of ours", "invalidate");
  // 4. A whole save/modify/restore cycle: drop our rules and chains, reorder.
  const saved = await saveTable(netns, v, "filter");
  const modified = saved.split("\n").filter((l) =>
    !l.startsWith("-A rp-sub") && !l.startsWith(":rp-sub") && !/-A INPUT .*rampart:/.test(l) &&
    !l.includes("-j rp-sub") && !l.includes("-g rp-sub")
  ).join("\n");
  await restoreScript(netns, v, modified, { flush: true });
  assert.equal((await saveTable(netns, v, "filter")).includes("rp-sub"), false);
  await expectRestored("save/modify/restore", "timer");
  // 5. The whole table flushed and our chains deleted.
  await restoreScript(netns, v, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", {
    flush: true,
  });
  await nsExec(netns, ipt, ["-w", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]);
  await nsExec(netns, ipt, ["-w", "-A", "FORWARD", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]);
  await expectRestored("table flushed", "invalidate");
  // 6. A policy set by another program is put back.
  table.setChainPolicy("FORWARD", "DROP");
  await table.apply();
  const withPolicy = await saveTable(netns, v, "filter");
  await nsExec(netns, ipt, ["-w", "-P", "FORWARD", "ACCEPT"]);
  table.invalidateDataplaneCache("policy");
  assert.deepEqual((await table.plan()).trimEnd().split("\n"), [
    "*filter",
    ":FORWARD DROP [0:0]",
    "COMMIT",
  ]);
  await table.apply();
  assert.equal(await saveTable(netns, v, "filter"), withPolicy);
  assert.equal(table.metrics().restoreErrors, 0);
}

for (const v of VARIANTS) {
  kernelTest(
    `clobbered rules are restored exactly (${variantName(v)})`,
    (netns) => clobber(netns, v),
  );
}
