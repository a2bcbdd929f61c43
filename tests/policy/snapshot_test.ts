/**
 * `src/policy/snapshot.ts` on its own: what a snapshot records of a table
 * (only our rules, and where they sat among other programs' rules), the
 * script that puts them back, reading and restoring through a runner on the
 * fake dataplane (both backends), and the JSON form a second process reads.
 */
import assert from "assert";
import {
  Accept,
  Jump,
  Match,
  parseSnapshotTable,
  PrefixError,
  readSnapshotTable,
  restoreSnapshotTable,
  saveTableText,
  type Snapshot,
  SNAPSHOT_VERSION,
  SnapshotError,
  snapshotFromJson,
  snapshotRestoreScript,
  type SnapshotTable,
  snapshotToJson,
  Table,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";

const OWNERSHIP = { hashPrefix: "rampart:", chainPrefixes: ["rp-"] };

/** Our ID comment, with a recognisable 16-character ID. */
function id(letter: string): string {
  return `-m comment --comment "rampart:${letter.repeat(16)}"`;
}

/**
 * A filter table as another program and an earlier apply of ours left it:
 * our rules around other programs' rules in INPUT (one of theirs imitates
 * our ID), two owned chains (one holding a rule without an ID), another
 * program's chain, and INPUT's policy set to DROP.
 */
const TABLE = [
  "*filter",
  ":INPUT DROP [0:0]",
  ":FORWARD ACCEPT [0:0]",
  ":OUTPUT ACCEPT [0:0]",
  ":DOCKER-USER - [0:0]",
  ":rp-in - [0:0]",
  ":rp-web - [0:0]",
  "-A INPUT -i lo -j ACCEPT",
  `-A INPUT ${id("A")} -j rp-in`,
  "-A INPUT -s 192.0.2.1/32 -j DROP",
  `-A INPUT -p tcp ${id("B")} -j ACCEPT`,
  '-A INPUT -m comment --comment "see rampart:CCCCCCCCCCCCCCCC" -j ACCEPT',
  "-A DOCKER-USER -j RETURN",
  `-A rp-in ${id("D")} -j rp-web`,
  "-A rp-in -p udp -j ACCEPT",
  `-A rp-web -p tcp ${id("E")} -m tcp --dport 80 -j ACCEPT`,
  "COMMIT",
  "",
].join("\n");

const EXPECTED: SnapshotTable = {
  table: "filter",
  ipVersion: 4,
  backend: "nft",
  chains: [
    { name: "rp-in", rules: [`${id("D")} -j rp-web`, "-p udp -j ACCEPT"] },
    { name: "rp-web", rules: [`-p tcp ${id("E")} -m tcp --dport 80 -j ACCEPT`] },
  ],
  foreignChainRules: {
    INPUT: [
      { rule: `${id("A")} -j rp-in`, foreignBefore: 1, foreignAfter: 2 },
      { rule: `-p tcp ${id("B")} -j ACCEPT`, foreignBefore: 2, foreignAfter: 1 },
    ],
  },
  policies: { INPUT: "DROP" },
};

function where(backend: "nft" | "legacy", ipVersion: 4 | 6 = 4) {
  return { table: "filter", ipVersion, backend } as const;
}

// ---- parseSnapshotTable --------------------------------------------------------------------------

Deno.test("snapshot: a table's snapshot holds our chains, our rules among the others, and the policies asked for", () => {
  const t = parseSnapshotTable(TABLE, { ...where("nft"), ...OWNERSHIP, policyChains: ["INPUT"] });
  assert.deepEqual(t, EXPECTED);
});

Deno.test("snapshot: no policy is recorded unless asked for (or changed by Rampart)", () => {
  assert.deepEqual(parseSnapshotTable(TABLE, { ...where("nft"), ...OWNERSHIP }).policies, {});
});

Deno.test("snapshot: a policy Rampart changed earlier is recorded from its record in the kernel", async () => {
  const fake = new FakeDataplane();
  const table = new Table("filter", { runner: fake.runner, backend: "nft" });
  table.setChainPolicy("FORWARD", "DROP");
  await table.apply();
  const text = await saveTableText(where("nft"), { runner: fake.runner });
  assert.match(text, /^:rp-policy - \[0:0\]$/m);
  const t = parseSnapshotTable(text, { ...where("nft"), ...OWNERSHIP });
  assert.deepEqual(t.policies, { FORWARD: "DROP" });
  // The record chain is ours, so it is part of the snapshot like any owned chain.
  assert.deepEqual(t.chains.map((c) => c.name), ["rp-policy"]);
});

Deno.test("snapshot: text inside other programs' values never makes a rule ours", () => {
  const text = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    `-A INPUT -m comment --comment "x" ${id("A")} -j ACCEPT`, // our ID as a second comment
    '-A INPUT -m comment --comment "see -j rp-in for details" -j ACCEPT',
    '-A INPUT -j LOG --log-prefix "a --goto rp-z"',
    '-A INPUT -j NFLOG --nflog-prefix "x --comment rampart:AAAAAAAAAAAAAAAA"',
    "COMMIT",
    "",
  ].join("\n");
  const t = parseSnapshotTable(text, { ...where("nft"), ...OWNERSHIP, policyChains: ["INPUT"] });
  assert.deepEqual(t.foreignChainRules, {});
  assert.deepEqual(t.chains, []);
  assert.deepEqual(t.policies, { INPUT: "ACCEPT" });
});

Deno.test("snapshot: an empty chain with our prefix that nothing shows to be ours is left out", () => {
  const text = "*filter\n:INPUT ACCEPT [0:0]\n:rp-empty - [0:0]\nCOMMIT\n";
  assert.deepEqual(parseSnapshotTable(text, { ...where("nft"), ...OWNERSHIP }).chains, []);
});

Deno.test("snapshot: a chain with our prefix holding another program's rules is refused", () => {
  const text = "*filter\n:INPUT ACCEPT [0:0]\n:rp-theirs - [0:0]\n-A rp-theirs -j ACCEPT\nCOMMIT\n";
  assert.throws(
    () => parseSnapshotTable(text, { ...where("nft"), ...OWNERSHIP }),
    (e) => e instanceof PrefixError && e.chain === "rp-theirs" && /not Rampart's/.test(e.message),
  );
});

// ---- snapshotRestoreScript -----------------------------------------------------------------------

Deno.test("snapshot: nothing to restore when the kernel holds the snapshot", () => {
  assert.equal(snapshotRestoreScript(EXPECTED, TABLE, OWNERSHIP), "");
});

Deno.test("snapshot: the restore script touches only our chains, our rules and the recorded policies", () => {
  // After an apply: our INPUT rules replaced by one new rule at the top, rp-web
  // changed, rp-new added, rp-in untouched, the policy back to ACCEPT.
  const now = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":DOCKER-USER - [0:0]",
    ":rp-in - [0:0]",
    ":rp-new - [0:0]",
    ":rp-web - [0:0]",
    `-A INPUT ${id("N")} -j rp-new`,
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -s 192.0.2.1/32 -j DROP",
    '-A INPUT -m comment --comment "see rampart:CCCCCCCCCCCCCCCC" -j ACCEPT',
    "-A DOCKER-USER -j RETURN",
    `-A rp-in ${id("D")} -j rp-web`,
    "-A rp-in -p udp -j ACCEPT",
    `-A rp-new ${id("F")} -j DROP`,
    `-A rp-web ${id("G")} -j DROP`,
    "COMMIT",
    "",
  ].join("\n");
  assert.equal(
    snapshotRestoreScript(EXPECTED, now, OWNERSHIP),
    [
      "*filter",
      ":rp-new - [0:0]", // flushed, then deleted
      ":rp-web - [0:0]", // flushed, then filled again
      ":INPUT DROP [0:0]",
      `-D INPUT ${id("N")} -j rp-new`,
      "-X rp-new",
      `-A rp-web -p tcp ${id("E")} -m tcp --dport 80 -j ACCEPT`,
      `-I INPUT 2 ${id("A")} -j rp-in`, // after 1 foreign rule
      `-I INPUT 4 -p tcp ${id("B")} -j ACCEPT`, // after 2 foreign rules (and A)
      "COMMIT",
      "",
    ].join("\n"),
  );
});

Deno.test("snapshot: our rules go back to the top or the bottom when that is where they were", () => {
  const snapshot: SnapshotTable = {
    ...EXPECTED,
    chains: [],
    policies: {},
    foreignChainRules: {
      INPUT: [
        { rule: `${id("A")} -j ACCEPT`, foreignBefore: 0, foreignAfter: 2 },
        { rule: `${id("B")} -j DROP`, foreignBefore: 2, foreignAfter: 0 },
      ],
    },
  };
  const now =
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -i eth0 -j ACCEPT\nCOMMIT\n";
  assert.equal(
    snapshotRestoreScript(snapshot, now, OWNERSHIP),
    `*filter\n-I INPUT 1 ${id("A")} -j ACCEPT\n-A INPUT ${id("B")} -j DROP\nCOMMIT\n`,
  );
  // A chain that is gone has nowhere to take our rules back: they are left out.
  const gone = {
    ...snapshot,
    foreignChainRules: {
      "DOCKER-USER": [{ rule: `${id("A")} -j ACCEPT`, foreignBefore: 0, foreignAfter: 0 }],
    },
  };
  assert.equal(snapshotRestoreScript(gone, now, OWNERSHIP), "");
});

// ---- reading and restoring on the fake -----------------------------------------------------------

for (const backend of ["nft", "legacy"] as const) {
  for (const ipVersion of [4, 6] as const) {
    const label = `fake ${backend}, IPv${ipVersion}`;
    const text = ipVersion === 4 ? TABLE : TABLE.replace("192.0.2.1/32", "2001:db8::1/128");

    Deno.test(`snapshot (${label}): read, overwritten by an apply, restored byte for byte`, async () => {
      const fake = new FakeDataplane({ backend });
      await fake.load(text, { ipVersion });
      const before = fake.dump("filter", { ipVersion });
      const snapshot = await readSnapshotTable(
        { ...where(backend, ipVersion), policyChains: ["INPUT"] },
        { runner: fake.runner, ...OWNERSHIP },
      );
      assert.deepEqual(snapshot.chains, EXPECTED.chains);
      assert.equal(snapshot.backend, backend);

      // An apply of another policy rewrites our rules: chains, INPUT rules, policy.
      const table = new Table("filter", { runner: fake.runner, backend, ipVersion });
      table.updateChain({
        name: "rp-new",
        rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }],
      });
      table.setRuleInsertions("INPUT", [{ action: Jump("rp-new") }]);
      table.setChainPolicy("INPUT", "ACCEPT");
      await table.apply();
      assert.notEqual(fake.dump("filter", { ipVersion }), before);

      const script = await restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP });
      assert.match(script, /^-X rp-new$/m);
      // Everything is back, the other programs' rules never moved: the table is
      // as it was, except the record of the policy the apply changed.
      const after = fake.dump("filter", { ipVersion });
      assert.equal(after.replace(/^(:rp-policy .*|-A rp-policy .*)\n/gm, ""), before);
      assert.equal(await restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP }), "");
    });
  }
}

Deno.test("snapshot (fake): another program's rule added meanwhile stays; ours go back by their count of foreign rules before", async () => {
  const fake = new FakeDataplane();
  await fake.load(TABLE);
  const snapshot = await readSnapshotTable(
    { ...where("nft"), policyChains: ["INPUT"] },
    { runner: fake.runner, ...OWNERSHIP },
  );
  await fake.load(
    `*filter\n-D INPUT ${id("A")} -j rp-in\n-I INPUT 1 -s 198.51.100.7/32 -j DROP\nCOMMIT\n`,
  );
  await restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP });
  assert.deepEqual(fake.rules("filter", "INPUT"), [
    // A rule of ours goes back after as many foreign rules as it sat after:
    "-A INPUT -s 198.51.100.7/32 -j DROP",
    `-A INPUT ${id("A")} -j rp-in`, // after 1 (it was deleted: put back)
    "-A INPUT -i lo -j ACCEPT",
    `-A INPUT -p tcp ${id("B")} -j ACCEPT`, // after 2 (it moved down by one: moved back)
    "-A INPUT -s 192.0.2.1/32 -j DROP",
    '-A INPUT -m comment --comment "see rampart:CCCCCCCCCCCCCCCC" -j ACCEPT',
  ]);
});

Deno.test("snapshot (fake): a restore refused three times is a SnapshotError with the script", async () => {
  const fake = new FakeDataplane();
  await fake.load(TABLE);
  const snapshot = await readSnapshotTable(where("nft"), { runner: fake.runner, ...OWNERSHIP });
  await fake.load("*filter\n-F rp-web\nCOMMIT\n");
  for (let i = 0; i < 3; i++) fake.failNextRestore({ stderr: "iptables-restore: line 2 failed\n" });
  await assert.rejects(
    restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP }),
    (e) =>
      e instanceof SnapshotError && /table filter \(IPv4\)/.test(e.message) &&
      e.message.includes("line 2 failed") && e.message.includes(`-A rp-web -p tcp ${id("E")}`),
  );
  // Two refusals: the third attempt, after a fresh read, restores.
  for (let i = 0; i < 2; i++) fake.failNextRestore();
  await restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP });
  assert.equal(fake.rules("filter", "rp-web").length, 1);
});

Deno.test("snapshot (fake): a failed save is a SnapshotError naming the binary", async () => {
  const fake = new FakeDataplane();
  fake.failNextSave({ stderr: "iptables-nft-save: boom\n" });
  await assert.rejects(
    saveTableText(where("nft"), { runner: fake.runner }),
    (e) =>
      e instanceof SnapshotError && /^iptables-nft-save -t filter failed .*boom$/.test(e.message),
  );
});

Deno.test("snapshot (fake): legacy restores wait for the xtables lock, nft ones do not", async () => {
  for (const backend of ["nft", "legacy"] as const) {
    const fake = new FakeDataplane({ backend });
    await fake.load(TABLE);
    const snapshot = await readSnapshotTable(where(backend), { runner: fake.runner, ...OWNERSHIP });
    await fake.load("*filter\n-F rp-web\nCOMMIT\n");
    await restoreSnapshotTable(snapshot, { runner: fake.runner, ...OWNERSHIP });
    const restore = fake.calls.find((c) =>
      c.cmd.endsWith("-restore") && c.args.includes("--noflush")
    );
    assert.deepEqual(
      restore?.args,
      backend === "legacy" ? ["--noflush", "--wait", "10"] : ["--noflush"],
    );
  }
});

// ---- JSON ----------------------------------------------------------------------------------------

function snapshotOf(table: SnapshotTable): Snapshot {
  return {
    version: SNAPSHOT_VERSION,
    takenAt: "2025-01-01T00:00:00.000Z",
    ...OWNERSHIP,
    tables: [table],
  };
}

Deno.test("snapshot JSON: a snapshot survives the round trip exactly", () => {
  const s = snapshotOf(EXPECTED);
  const text = snapshotToJson(s);
  assert.ok(text.endsWith("}\n"));
  assert.deepEqual(snapshotFromJson(text), s);
});

Deno.test("snapshot JSON: anything that could write a rule that is not ours is refused", () => {
  // Malformed snapshots, so the JSON is edited without its types.
  // deno-lint-ignore no-explicit-any
  const cases: [string, (s: Record<string, any>) => void][] = [
    [
      "a rule with a line break",
      (s) => (s.tables[0].chains[0].rules[0] = "-j ACCEPT\n-A INPUT -j DROP"),
    ],
    ["a rule with NUL", (s) => (s.tables[0].chains[0].rules[0] = "-j ACCEPT\0")],
    [
      "a foreign-chain rule that is not ours",
      (s) => (s.tables[0].foreignChainRules.INPUT[0].rule = "-j DROP"),
    ],
    ["a chain without our prefix", (s) => (s.tables[0].chains[0].name = "DOCKER")],
    [
      "an owned chain given as a foreign chain",
      (s) => (s.tables[0].foreignChainRules["rp-x"] = []),
    ],
    ["a policy of a chain that is not built in", (s) => (s.tables[0].policies["rp-in"] = "DROP")],
    ["a policy other than ACCEPT or DROP", (s) => (s.tables[0].policies.INPUT = "QUEUE")],
    ["a negative position", (s) => (s.tables[0].foreignChainRules.INPUT[0].foreignBefore = -1)],
    ["an unknown table", (s) => (s.tables[0].table = "security")],
    ["an unknown backend", (s) => (s.tables[0].backend = "nftables")],
    ["another version", (s) => (s.version = 2)],
    ["a hash prefix with a space", (s) => (s.hashPrefix = "ramp art:")],
  ];
  for (const [name, change] of cases) {
    const s = JSON.parse(snapshotToJson(snapshotOf(EXPECTED)));
    change(s);
    assert.throws(() => snapshotFromJson(JSON.stringify(s)), SnapshotError, name);
  }
  assert.throws(() => snapshotFromJson("{"), /not JSON/);
  assert.throws(() => snapshotFromJson("[]"), /expected an object/);
});
