/**
 * Chain policies owned like rules (`src/engine/policy_record.ts`) and the warning
 * about the other backend (`src/host/other_backend.ts`), on the fake dataplane.
 */
import assert from "assert";
import {
  Accept,
  diffTable,
  Firewall,
  Jump,
  type LogFields,
  type Logger,
  type LogLevel,
  renderDiff,
  Table,
  TableConfigError,
  type TableOptions,
  tablePolicy,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import {
  planPolicies,
  policyRecordRules,
  readPolicyRecord,
} from "../../src/engine/policy_record.ts";

const FEATURES = {
  getFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
  refreshFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
};

function table(fake: FakeDataplane, options: TableOptions = {}): Table {
  return new Table("filter", {
    runner: fake.runner,
    backend: fake.backend,
    featureDetector: FEATURES,
    ...options,
  });
}

function policyOf(fake: FakeDataplane, chain: string, ipVersion: 4 | 6 = 4): string {
  const line = fake.dump("filter", { ipVersion }).split("\n").find((l) =>
    l.startsWith(`:${chain} `)
  );
  return line!.split(" ")[1]!;
}

for (const backend of ["nft", "legacy"] as const) {
  for (const ipVersion of [4, 6] as const) {
    const name = `${backend}, IPv${ipVersion}`;

    Deno.test(`policy record: DROP then cleanUp puts ACCEPT back (${name})`, async () => {
      const fake = new FakeDataplane({ backend });
      const t = table(fake, { ipVersion });
      t.updateChain({ name: "rp-in", rules: [{ action: Accept() }] });
      t.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
      t.setChainPolicy("INPUT", "DROP");
      const plan = await t.plan();
      assert.match(plan, /^:INPUT DROP \[0:0\]$/m);
      assert.match(
        plan,
        /^-A rp-policy -m comment --comment "rampart:[\w-]{16}" -m comment --comment "INPUT policy before Rampart: ACCEPT"$/m,
      );
      await t.apply();
      assert.equal(policyOf(fake, "INPUT", ipVersion), "DROP");
      assert.equal(fake.rules("filter", "rp-policy", { ipVersion }).length, 1);
      // A later process (a new Table, nothing in memory) finds the record.
      await table(fake, { ipVersion }).cleanUp();
      assert.equal(policyOf(fake, "INPUT", ipVersion), "ACCEPT");
      assert.deepEqual(fake.chains("filter", { ipVersion }), ["INPUT", "FORWARD", "OUTPUT"]);
    });

    Deno.test(`policy record: an original DROP comes back; an unchanged one is not recorded (${name})`, async () => {
      const fake = new FakeDataplane({ backend });
      await fake.load("*filter\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n", { ipVersion });
      const t = table(fake, { ipVersion });
      t.setChainPolicy("FORWARD", "ACCEPT");
      t.setChainPolicy("OUTPUT", "DROP"); // already so: nothing to record
      await t.apply();
      assert.equal(policyOf(fake, "FORWARD", ipVersion), "ACCEPT");
      const record = fake.rules("filter", "rp-policy", { ipVersion });
      assert.equal(record.length, 1);
      assert.match(record[0]!, /FORWARD policy before Rampart: DROP/);
      // The desired state stops setting FORWARD: the record puts DROP back and goes.
      t.setChainPolicy("FORWARD", undefined);
      await t.apply();
      assert.equal(policyOf(fake, "FORWARD", ipVersion), "DROP");
      assert.equal(fake.chains("filter", { ipVersion }).includes("rp-policy"), false);
      await t.cleanUp();
      assert.equal(policyOf(fake, "OUTPUT", ipVersion), "DROP", "the admin's own DROP stays");
    });
  }
}

Deno.test("policy record: the first policy found is kept while we change it again and again", async () => {
  const fake = new FakeDataplane();
  const t = table(fake);
  t.setChainPolicy("INPUT", "DROP");
  await t.apply();
  // Drift: another program sets ACCEPT; we put DROP back, the record still says ACCEPT.
  await fake.load("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
  t.invalidateDataplaneCache("test");
  assert.deepEqual((await t.plan()).trim().split("\n"), ["*filter", ":INPUT DROP [0:0]", "COMMIT"]);
  await t.apply();
  t.setChainPolicy("INPUT", "ACCEPT"); // back to the original: the record goes
  await t.apply();
  assert.equal(fake.chains("filter").includes("rp-policy"), false);
  assert.equal(policyOf(fake, "INPUT"), "ACCEPT");
});

Deno.test("policy record: the record chain's name is reserved", () => {
  const t = new Table("filter", { chainPrefixes: ["fw-", "rp-"] });
  assert.throws(() => t.updateChain({ name: "fw-policy", rules: [] }), TableConfigError);
  t.updateChain({ name: "rp-policy", rules: [] }); // only the first prefix's
});

Deno.test("policy record: planPolicies and the record round trip", () => {
  const record = new Map([["INPUT", "ACCEPT" as const], ["OUTPUT", "DROP" as const]]);
  const { hashes } = policyRecordRules("rp-policy", "filter", record);
  assert.deepEqual(readPolicyRecord("rp-policy", "filter", [...hashes, "", "junk"]), record);
  const plan = planPolicies({
    table: "filter",
    desired: new Map([["FORWARD", "DROP" as const]]),
    kernel: new Map([["INPUT", "DROP"], ["FORWARD", "ACCEPT"], ["OUTPUT", "ACCEPT"]]),
    recorded: record,
  });
  assert.deepEqual(
    [...plan.policies],
    [["INPUT", "ACCEPT"], ["FORWARD", "DROP"], ["OUTPUT", "DROP"]],
  );
  assert.deepEqual([...plan.record], [["FORWARD", "ACCEPT"]]);
  assert.deepEqual([...plan.restored], ["INPUT", "OUTPUT"]);
});

Deno.test("policy record: the diff shows policies planned and put back", async () => {
  const fake = new FakeDataplane();
  const fw = new Firewall({ runner: fake.runner, backend: "nft", ipVersions: [4] });
  const withDrop = tablePolicy("filter", {
    chains: [{ name: "rp-in", rules: [{ action: Accept() }] }],
    insertions: { INPUT: [{ action: Jump("rp-in") }] },
    policies: { INPUT: "DROP" },
  });
  const planned = diffTable({ ...withDrop, ipVersion: 4 }, fake.dump("filter"));
  const input = planned.chains.find((c) => c.chain === "INPUT")!;
  assert.deepEqual(input.policy, { from: "ACCEPT", to: "DROP" });
  assert.deepEqual(
    planned.chains.find((c) => c.chain === "rp-policy")?.lines.map((l) => l.kind),
    ["add"],
  );
  fw.setPolicy({ ipVersions: [4], tables: [withDrop] });
  await fw.apply();
  // The file drops the `policy: DROP` line: not in sync any more.
  const without = { ...withDrop, policies: {} };
  const diff = diffTable({ ...without, ipVersion: 4 }, fake.dump("filter"));
  assert.equal(diff.changed, true);
  assert.deepEqual(diff.chains.find((c) => c.chain === "INPUT")!.policy, {
    from: "DROP",
    to: "ACCEPT",
    restored: true,
  });
  assert.equal(diff.chains.find((c) => c.chain === "rp-policy")!.status, "deleted");
  assert.match(
    renderDiff([diff]),
    /~ policy DROP → ACCEPT \(put back: its policy before Rampart changed it\)/,
  );
  fw.setPolicy({ ipVersions: [4], tables: [without] });
  assert.match(
    (await fw.plan()).tables.find((t) => t.table === "filter")!.script,
    /^:INPUT ACCEPT/m,
  );
  await fw.apply();
  assert.equal(policyOf(fake, "INPUT"), "ACCEPT");
  assert.equal(diffTable({ ...without, ipVersion: 4 }, fake.dump("filter")).changed, false);
});

function collect(): Logger & { warnings: { message: string; fields: LogFields | undefined }[] } {
  const warnings: { message: string; fields: LogFields | undefined }[] = [];
  return {
    warnings,
    log(level: LogLevel, message: string, fields?: LogFields) {
      if (level === "warn") warnings.push({ message, fields });
    },
  };
}

for (const inUse of ["nft", "legacy"] as const) {
  const other = inUse === "nft" ? "legacy" : "nft";
  for (const ipVersion of [4, 6] as const) {
    Deno.test(`other backend: rules in ${other} are reported once per table (${inUse} in use, IPv${ipVersion})`, async () => {
      const fake = new FakeDataplane({ backend: inUse });
      const addr = ipVersion === 6 ? "2001:db8::1/128" : "10.0.0.1/32";
      await fake.load(
        `*filter\n:INPUT DROP [0:0]\n:ferm-in - [0:0]\n-A INPUT -j ferm-in\n-A ferm-in -s ${addr} -j ACCEPT\nCOMMIT\n`,
        { backend: other, ipVersion },
      );
      const logger = collect();
      const t = table(fake, { ipVersion, logger });
      t.setRuleInsertions("INPUT", [{ action: Accept() }]);
      await t.apply();
      await t.plan();
      await t.cleanUp();
      assert.equal(logger.warnings.length, 1, JSON.stringify(logger.warnings));
      const { message, fields } = logger.warnings[0]!;
      const family = ipVersion === 6 ? "ip6tables" : "iptables";
      assert.equal(
        message,
        `${family}-${other} also holds 2 rules (none of them Rampart's), chain ferm-in, policy ` +
          `INPUT DROP in this table, while Rampart uses ${family}-${inUse}: the kernel runs both ` +
          `rule sets, so a packet must pass both (inspect them with '${family}-${other}-save')`,
      );
      assert.deepEqual(fields, {
        table: "filter",
        ipVersion,
        backend: inUse,
        otherBackend: other,
        rules: 2,
        ourRules: 0,
        chains: ["ferm-in"],
        policies: { INPUT: "DROP" },
      });
      // Another table of the same family, with nothing in the other backend: no warning.
      const nat = new Table("nat", {
        runner: fake.runner,
        backend: inUse,
        ipVersion,
        logger,
        featureDetector: FEATURES,
      });
      await nat.apply();
      assert.equal(logger.warnings.length, 1);
    });
  }
}

Deno.test("other backend: nothing there, nothing said; an unread legacy table is never created", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  const logger = collect();
  await table(fake, { logger }).apply();
  assert.deepEqual(logger.warnings, []);
  assert.equal(fake.calls.some((c) => c.cmd.startsWith("iptables-legacy")), false);
});
