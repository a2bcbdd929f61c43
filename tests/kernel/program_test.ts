/**
 * Scenario 1: a full program of a realistic policy in all four tables, read
 * back with iptables-save: every rule is there, with its ID, in order.
 */
import assert from "assert";
import {
  Accept,
  calculateRuleIds,
  ClearMark,
  Dnat,
  Drop,
  Dscp,
  type Features,
  Goto,
  Jump,
  Log,
  Masq,
  Match,
  Nflog,
  NoTrack,
  Reject,
  RestoreConnMark,
  Return,
  type Rule,
  SaveConnMark,
  SetConnMark,
  SetMark,
  Snat,
  type Table,
} from "../../mod.ts";
import { FeatureDetector } from "../../src/host/feature_detector.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import {
  chainIds,
  chainLines,
  kernelTable,
  kernelTest,
  nsExec,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

interface Expect {
  /** Chain → [hash key, rules, a regexp each saved line must match]. */
  chains: Map<string, { key: string; rules: Rule[]; shapes: RegExp[] }>;
}

function policy(v: Variant) {
  const six = v.ipVersion === 6;
  const net = six ? "2001:db8:1::/64" : "10.65.0.0/16";
  const host = six ? "2001:db8::5" : "10.0.0.5";
  const icmp = six
    ? Match().protocol("icmpv6").icmpV6Type(128)
    : Match().protocol("icmp").icmpType(8);
  const filter = {
    chains: [
      {
        name: "rp-input",
        rules: [
          { match: Match().conntrackState("RELATED,ESTABLISHED"), action: Accept() },
          { match: Match().conntrackState("INVALID"), action: Drop() },
          {
            match: Match().protocol("tcp").destPorts(22).sourceIpSet("rp-admins"),
            action: Accept(),
            comment: "ssh from admins",
          },
          { match: icmp, action: Accept() },
          { match: Match().inInterface("rpw+"), action: Jump("rp-from-wl") },
          { action: Goto("rp-drop") },
        ],
      },
      {
        name: "rp-from-wl",
        rules: [
          { action: ClearMark(0x10000) },
          { match: Match().sourceNet(net), action: SetMark(0x10000) },
          { match: Match().markClear(0x10000), action: Goto("rp-drop") },
          { action: Return() },
        ],
      },
      {
        name: "rp-fwd",
        rules: [
          { match: Match().markSingleBitSet(0x20000), action: Accept() },
          {
            match: Match().outInterface("rpw+").destIpSet("rp-admins"),
            action: Jump("rp-from-wl"),
          },
          {
            match: Match().protocol("udp").destPortRanges([{ first: 7000, last: 7999 }]),
            action: Accept(),
          },
        ],
      },
      {
        name: "rp-drop",
        rules: [
          { action: Log("rp-drop") },
          { action: Nflog(20, "DRP|rp") },
          { match: Match().protocol("tcp"), action: Reject("tcp-reset") },
          { action: Drop() },
        ],
      },
      { name: "rp-unreferenced", rules: [{ action: Drop() }] },
    ],
    inserts: new Map<string, Rule[]>([
      ["INPUT", [{ action: Jump("rp-input") }]],
      ["FORWARD", [{ action: Jump("rp-fwd") }]],
      ["OUTPUT", []],
    ]),
    appends: new Map<string, Rule[]>([
      ["FORWARD", [{ match: Match().markSingleBitSet(0x20000), action: Accept() }]],
    ]),
  };
  const nat = {
    chains: [
      {
        name: "rp-nat-pre",
        rules: [{
          match: Match().protocol("tcp").destPorts(8080),
          action: Dnat(host, 80),
        }],
      },
      {
        name: "rp-nat-post",
        rules: [
          { match: Match().sourceNet(net).outInterface("eth0"), action: Masq() },
          { match: Match().sourceIpSet("rp-admins"), action: Snat(host) },
        ],
      },
    ],
    inserts: new Map<string, Rule[]>([
      ["PREROUTING", [{ action: Jump("rp-nat-pre") }]],
      ["OUTPUT", [{ action: Jump("rp-nat-pre") }]],
      ["POSTROUTING", [{ action: Jump("rp-nat-post") }]],
    ]),
    appends: new Map<string, Rule[]>(),
  };
  const raw = {
    chains: [
      {
        name: "rp-raw-pre",
        rules: [
          { match: Match().protocol("udp").destPorts(53), action: NoTrack() },
          { match: Match().rpfCheckFailed(), action: Drop() },
        ],
      },
    ],
    inserts: new Map<string, Rule[]>([
      ["PREROUTING", [{ action: Jump("rp-raw-pre") }]],
      ["OUTPUT", [{ match: Match().protocol("udp").sourcePorts(53), action: NoTrack() }]],
    ]),
    appends: new Map<string, Rule[]>(),
  };
  const mangle = {
    chains: [
      {
        name: "rp-mangle-pre",
        rules: [
          { action: RestoreConnMark(0xff) },
          { match: Match().markMatchesWithMask(0, 0xff), action: SetConnMark(0x1, 0xff) },
          { action: SaveConnMark(0xff) },
          { match: Match().protocol("tcp").destPorts(443), action: Dscp(20) },
        ],
      },
    ],
    inserts: new Map<string, Rule[]>([["PREROUTING", [{ action: Jump("rp-mangle-pre") }]]]),
    appends: new Map<string, Rule[]>(),
  };
  return { filter, nat, raw, mangle };
}

/** How the saved line of each rule must look (checked after the ID). */
const SHAPES: Record<string, RegExp[]> = {
  "rp-input": [
    /-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT$/,
    /-m conntrack --ctstate INVALID -j DROP$/,
    /^-A rp-input -p tcp .*--comment "?ssh from admins"? .*--dports? 22 .*--match-set rp-admins src -j ACCEPT$/,
    /-p (icmp|ipv6-icmp) .*--icmp(v6)?-type (8|128) -j ACCEPT$/,
    /^-A rp-input -i rpw\+ .* -j rp-from-wl$/,
    / -g rp-drop$/,
  ],
  "rp-from-wl": [
    /-j MARK --set-xmark 0x0\/0x10000$/,
    /^-A rp-from-wl -s (10\.65\.0\.0\/16|2001:db8:1::\/64) .* -j MARK --set-xmark 0x10000\/0x10000$/,
    /-m mark --mark 0x0\/0x10000 -g rp-drop$/,
    / -j RETURN$/,
  ],
  "rp-fwd": [
    /-m mark --mark 0x20000\/0x20000 -j ACCEPT$/,
    /^-A rp-fwd -o rpw\+ .*--match-set rp-admins dst -j rp-from-wl$/,
    /^-A rp-fwd -p udp .*--dports 7000:7999 -j ACCEPT$/,
  ],
  "rp-drop": [
    /-j LOG --log-prefix "rp-drop: " --log-level 5$/,
    /-j NFLOG --nflog-prefix +"?DRP\|rp"? --nflog-group 20( --nflog-size 80)?$/,
    /^-A rp-drop -p tcp .* -j REJECT --reject-with tcp-reset$/,
    / -j DROP$/,
  ],
  "rp-nat-pre": [
    /^-A rp-nat-pre -p tcp .*--dports 8080 -j DNAT --to-destination (10\.0\.0\.5:80|\[2001:db8::5\]:80)$/,
  ],
  "rp-nat-post": [
    /^-A rp-nat-post -s (10\.65\.0\.0\/16|2001:db8:1::\/64) -o eth0 .* -j MASQUERADE( --random-fully)?$/,
    /--match-set rp-admins src -j SNAT --to-source (10\.0\.0\.5|2001:db8::5)( --random-fully)?$/,
  ],
  "rp-raw-pre": [
    /^-A rp-raw-pre -p udp .*--dports 53 -j (NOTRACK|CT --notrack)$/,
    /-m rpfilter --validmark --invert -j DROP$/,
  ],
  "rp-mangle-pre": [
    /-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff$/,
    /-m mark --mark 0x0\/0xff -j CONNMARK --set-xmark 0x1\/0xff$/,
    /-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff$/,
    /^-A rp-mangle-pre -p tcp .*--dports 443 -j DSCP --set-dscp 0x14$/,
  ],
};

async function program(netns: string, v: Variant): Promise<void> {
  const family = v.ipVersion === 6 ? "inet6" : "inet";
  await nsExec(netns, "ipset", ["create", "rp-admins", "hash:net", "family", family]);
  const features: Features = await new FeatureDetector({
    runner: new DenoCommandRunner({ netns }),
  }).getFeatures();
  const tables: Table[] = [];
  const p = policy(v);
  for (const name of ["raw", "mangle", "nat", "filter"] as const) {
    const spec = p[name];
    const table = kernelTable(netns, name, v);
    table.updateChains(spec.chains);
    for (const [chain, rules] of spec.inserts) table.setRuleInsertions(chain, rules);
    for (const [chain, rules] of spec.appends) table.setRuleAppends(chain, rules);
    if (name === "filter") table.setChainPolicy("FORWARD", "DROP");
    tables.push(table);
    assert.equal(await table.apply() > 0, true, "a drift check is scheduled");
    assert.equal(table.backend, v.backend);

    const save = await saveTable(netns, v, name);
    // Every reachable owned chain: IDs in order, shapes as expected.
    for (const chain of spec.chains) {
      const ids = chainIds(save, chain.name);
      if (chain.name === "rp-unreferenced") {
        assert.equal(save.includes(`:${chain.name} `), false, "unreachable chains are not written");
        continue;
      }
      assert.deepEqual(ids, calculateRuleIds(chain.name, chain.rules, { features }), chain.name);
      const lines = chainLines(save, chain.name);
      const shapes = SHAPES[chain.name]!;
      assert.equal(lines.length, shapes.length, chain.name);
      lines.forEach((line, i) =>
        assert.match(line, shapes[i]!, `${chain.name} rule ${i}: ${line}`)
      );
    }
    // Kernel chains: insertions on top, appends at the bottom.
    for (const [chain, rules] of spec.inserts) {
      const appends = spec.appends.get(chain) ?? [];
      assert.deepEqual(chainIds(save, chain), [
        ...calculateRuleIds(chain, rules, { features }),
        ...calculateRuleIds(`${chain}*appends*`, appends, { features }),
      ], chain);
    }
    if (name === "filter") assert.match(save, /^:FORWARD DROP /m);
    assert.equal(await table.plan(), "", `${name} is in sync after one apply`);
  }
  // Clean up leaves only the empty built-in chains (and the ACCEPT policy).
  for (const table of tables) {
    await table.cleanUp();
    const save = await saveTable(netns, v, table.name);
    assert.equal(save.split("\n").filter((l) => l.startsWith("-A ")).length, 0, save);
    assert.equal(save.includes(":rp-"), false, save);
    assert.equal(/^:\S+ DROP /m.test(save), false, save);
  }
}

for (const v of VARIANTS) {
  kernelTest(
    `full program of a realistic policy (${variantName(v)})`,
    (netns) => program(netns, v),
  );
}

/**
 * A `beforeWrite` hook reads the whole script before the write: the restore
 * then gets that script as one string (the stream is already consumed), and
 * the kernel holds exactly what the hook saw.
 */
async function hookedWrite(netns: string, v: Variant): Promise<void> {
  const seen: string[] = [];
  const table = kernelTable(netns, "filter", v, {
    beforeWrite: (plan) => {
      seen.push(plan.script);
      return Promise.resolve();
    },
  });
  const rules: Rule[] = Array.from({ length: 600 }, (_, i) => ({
    match: Match().protocol("tcp").destPorts(2000 + i),
    action: Accept(),
  }));
  table.updateChain({ name: "rp-hooked", rules });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-hooked") }]);
  await table.apply();
  assert.equal(seen.length, 1);
  const save = await saveTable(netns, v, "filter");
  assert.deepEqual(chainIds(save, "rp-hooked"), calculateRuleIds("rp-hooked", rules));
  assert.equal(await table.plan(), "");
  await table.cleanUp();
}

for (const v of VARIANTS) {
  kernelTest(
    `a beforeWrite hook sees the script that is written (${variantName(v)})`,
    (netns) => hookedWrite(netns, v),
  );
}
