import assert from "assert";
import {
  Accept,
  type ApplyIntent,
  type ApplyJournal,
  calculateRuleHashes,
  type CommandRunner,
  DenoCommandRunner,
  Dnat,
  Drop,
  Firewall,
  type FirewallProgressEvent,
  FirewallRollbackError,
  Jump,
  Masq,
  Match,
  NoTrack,
  type Policy,
  PolicyError,
  Reject,
  SetMaskedMark,
  type Snapshot,
  SnapshotError,
  snapshotFromJson,
  snapshotToJson,
  tablePolicy,
} from "../../mod.ts";
import { loadPolicyFile } from "../../yaml.ts";
import { FakeDataplane } from "../../testing.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";

const RULES_YAML = new URL("../../examples/rules.yaml", import.meta.url).pathname;
const TABLES = ["raw", "mangle", "nat", "filter"] as const;
type Backend = "nft" | "legacy";

// ---- environments: the fake dataplane and a private network namespace ---------------------------

interface Env {
  backend: Backend;
  runner: CommandRunner;
  /** Whether the kernel is real (ipsets can be missing, etc.). */
  kernel: boolean;
}

async function restore(env: Env, family: 4 | 6, script: string): Promise<void> {
  const bin = `${family === 6 ? "ip6tables" : "iptables"}-${env.backend}-restore`;
  const r = await env.runner.run(bin, ["--noflush"], { stdin: script });
  assert.equal(r.code, 0, `${bin} failed: ${r.stderr}\n${script}`);
}

async function save(env: Env, family: 4 | 6, table: string): Promise<string> {
  const bin = `${family === 6 ? "ip6tables" : "iptables"}-${env.backend}-save`;
  const r = await env.runner.run(bin, ["-t", table]);
  assert.equal(r.code, 0, `${bin} -t ${table} failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("#")).join("\n");
}

/** Every table of both families, without comment lines. */
async function saveAll(env: Env): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const family of [4, 6] as const) {
    for (const t of TABLES) out[`${t}/${family}`] = await save(env, family, t);
  }
  return out;
}

/** The lines other programs own: rules without our ID that do not touch our chains, and chain names. */
function foreignOnly(saves: Record<string, string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, text] of Object.entries(saves)) {
    out[k] = text.split("\n").filter((l) =>
      !l.includes("rampart:") && !/^-A rp-|^:rp-| -[jg] rp-/.test(l)
    ).map((l) => l.startsWith(":") ? l.split(" ")[0]! : l);
  }
  return out;
}

/** Foreign rules in every table, as iptables-save prints them. */
async function seedForeign(env: Env): Promise<void> {
  for (const family of [4, 6] as const) {
    const host = family === 4 ? "192.0.2.1/32" : "2001:db8::1/128";
    await restore(
      env,
      family,
      [
        "*filter",
        ":DOCKER-USER - [0:0]",
        `-A INPUT -s ${host} -j ACCEPT`,
        "-A FORWARD -j DOCKER-USER",
        "-A DOCKER-USER -j RETURN",
        "COMMIT",
        "*raw",
        `-A PREROUTING -s ${host} -j ACCEPT`,
        "COMMIT",
        "*mangle",
        "-A PREROUTING -i eth9 -j ACCEPT",
        "COMMIT",
        ...(family === 4
          ? ["*nat", "-A POSTROUTING -s 172.18.0.0/16 -j MASQUERADE", "COMMIT"]
          : []),
        "",
      ].join("\n"),
    );
  }
}

function policyA(): Policy {
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("raw", {
        insertions: {
          PREROUTING: [{ match: Match().protocol("udp").destPorts(53), action: NoTrack() }],
        },
      }),
      tablePolicy("mangle", {
        insertions: {
          PREROUTING: [{
            match: Match().inInterface("eth1"),
            action: SetMaskedMark(0x100, 0xff00),
          }],
        },
      }),
      tablePolicy("nat", {
        ipVersion: 4,
        insertions: {
          PREROUTING: [{
            match: Match().protocol("tcp").destPorts(8080),
            action: Dnat("10.0.0.5", 80),
          }],
        },
        appends: { POSTROUTING: [{ match: Match().outInterface("eth0"), action: Masq() }] },
      }),
      tablePolicy("filter", {
        policies: { INPUT: "DROP" },
        chains: [{
          name: "rp-input",
          rules: [
            { match: Match().conntrackState(["RELATED", "ESTABLISHED"]), action: Accept() },
            { match: Match().protocol("tcp").destPorts(22), action: Accept(), comment: "ssh" },
          ],
        }],
        insertions: { INPUT: [{ action: Jump("rp-input") }] },
        appends: {
          OUTPUT: [{ match: Match().protocol("tcp").destPorts(25), action: Reject("tcp-reset") }],
        },
      }),
    ],
  };
}

/** Changes every table of A; with `missingSet`, filter names an IP set that does not exist. */
function policyB(missingSet?: string): Policy {
  const web = [
    { match: Match().protocol("tcp").destPorts(80, 443), action: Accept() },
    ...(missingSet === undefined
      ? []
      : [{ match: Match().sourceIpSet(missingSet), action: Drop(), ipVersion: 4 as const }]),
  ];
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("raw", {
        insertions: {
          PREROUTING: [{ match: Match().protocol("udp").destPorts(123), action: NoTrack() }],
        },
      }),
      tablePolicy("mangle", {
        insertions: {
          PREROUTING: [{
            match: Match().inInterface("eth2"),
            action: SetMaskedMark(0x200, 0xff00),
          }],
        },
      }),
      tablePolicy("nat", {
        ipVersion: 4,
        insertions: {
          PREROUTING: [{
            match: Match().protocol("tcp").destPorts(8443),
            action: Dnat("10.0.0.6", 443),
          }],
        },
      }),
      tablePolicy("filter", {
        chains: [{ name: "rp-web", rules: web }],
        insertions: { INPUT: [{ action: Jump("rp-web") }] },
      }),
    ],
  };
}

/** A runner that fails `iptables-restore` of one table while `armed`. */
function faulty(inner: CommandRunner, table: string): CommandRunner & { armed: boolean } {
  const r = {
    armed: true,
    run(cmd: string, args: string[], opts?: { stdin?: string; timeoutMs?: number }) {
      if (r.armed && cmd.includes("restore") && opts?.stdin?.startsWith(`*${table}\n`)) {
        return Promise.resolve({
          code: 1,
          stdout: "",
          stderr: `iptables-restore: line 2 failed\n`,
        });
      }
      return inner.run(cmd, args, opts);
    },
  };
  return r;
}

function fakeEnv(backend: Backend = "nft"): Env {
  return { backend, runner: new FakeDataplane({ backend }).runner, kernel: false };
}

function kernelEnv(netns: string, backend: Backend): Env {
  return { backend, runner: new DenoCommandRunner({ netns }), kernel: true };
}

function firewall(env: Env, runner = env.runner): Firewall {
  return new Firewall({
    runner,
    backend: env.backend,
    tableOptions: { postWriteIntervalMs: 60_000 },
  });
}

/** Our rules in a snapshot: chains sorted by name, kernel-chain rules with top/bottom placement. */
function ourRules(s: Snapshot): unknown {
  return s.tables.map((t) => ({
    table: t.table,
    ipVersion: t.ipVersion,
    chains: [...t.chains].sort((a, b) => a.name < b.name ? -1 : 1),
    foreignChainRules: Object.fromEntries(
      Object.entries(t.foreignChainRules).map((
        [k, rules],
      ) => [k, rules.map((r) => ({ rule: r.rule, top: r.foreignBefore === 0 }))]),
    ),
  }));
}

// ---- scenarios ----------------------------------------------------------------------------------

async function multiTableApply(env: Env): Promise<void> {
  await seedForeign(env);
  const seeded = await saveAll(env);
  const fw = firewall(env);
  fw.setPolicy(await loadPolicyFile(RULES_YAML));
  const plan = await fw.plan();
  assert.deepEqual(
    plan.tables.map((t) => `${t.table}/${t.ipVersion}`),
    ["raw/4", "mangle/4", "nat/4", "filter/4", "raw/6", "mangle/6", "filter/6"],
  );
  assert.ok(plan.tables.every((t) => t.script.startsWith(`*${t.table}\n`)));
  const events: FirewallProgressEvent[] = [];
  const result = await fw.apply({ onProgress: (e) => events.push(e) });
  assert.deepEqual(
    events.filter((e) => e.type === "table-start").map((e) =>
      "table" in e ? `${e.table}/${e.ipVersion}` : ""
    ),
    plan.tables.map((t) => `${t.table}/${t.ipVersion}`),
  );
  assert.ok(result.tables.every((t) => t.changed && t.linesWritten > 0));
  assert.ok(result.previous !== undefined);
  assert.ok((await fw.plan()).tables.every((t) => t.script === ""), "in sync after apply");
  const after = await saveAll(env);
  assert.match(after["nat/4"]!, /--to-destination 172\.17\.0\.2:80/);
  assert.match(after["raw/6"]!, /rpfilter/);
  assert.match(after["filter/6"]!, /^:rp-icmpv6 /m);
  assert.doesNotMatch(after["filter/4"]!, /rp-icmpv6/);
  assert.match(after["filter/4"]!, /^:INPUT DROP/m);
  assert.deepEqual(foreignOnly(after), foreignOnly(seeded));
  // a second apply writes nothing
  const again = await fw.apply();
  assert.ok(again.tables.every((t) => !t.changed));
  await fw.cleanUp();
  assert.deepEqual(await saveAll(env), seeded, "clean-up leaves exactly the foreign rules");
}

async function rollbackOnFailure(
  env: Env,
  failing: { runner?: CommandRunner; missingSet?: string },
) {
  await seedForeign(env);
  const fw = firewall(env, failing.runner ?? env.runner);
  fw.setPolicy(policyA());
  await fw.apply();
  const beforeB = await saveAll(env);
  fw.setPolicy(policyB(failing.missingSet));
  const events: string[] = [];
  await assert.rejects(
    () => fw.apply({ onProgress: (e) => events.push(e.type) }),
    (e: unknown) => e instanceof Error && !(e instanceof FirewallRollbackError),
  );
  assert.ok(events.includes("table-failed") && events.at(-1) === "rollback-done", events.join(","));
  const afterFailure = await saveAll(env);
  assert.deepEqual(sortLines(afterFailure), sortLines(beforeB), "every table is back as before");
  return fw;
}

/** Saves with the lines of each table sorted (nft may list recreated chains in a new order). */
function sortLines(saves: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(saves).map(([k, v]) => [k, v.split("\n").sort()]));
}

async function snapshotRoundTrip(env: Env): Promise<void> {
  await seedForeign(env);
  const fw = firewall(env);
  fw.setPolicy(policyA());
  await fw.apply();
  const snapA = snapshotFromJson(snapshotToJson(await fw.snapshot()));
  // Another program inserts a rule above ours, then we apply B.
  await restore(env, 4, "*filter\n-I INPUT 1 -s 198.51.100.1/32 -j DROP\nCOMMIT\n");
  fw.setPolicy(policyB());
  const result = await fw.apply();
  assert.ok(result.previous !== undefined);
  const foreignBefore = foreignOnly(await saveAll(env));
  await fw.restoreSnapshot(snapA);
  const restored = await saveAll(env);
  assert.deepEqual(foreignOnly(restored), foreignBefore, "foreign rules untouched, byte for byte");
  assert.deepEqual(ourRules(await fw.snapshot()), ourRules(snapA));
  assert.match(restored["filter/4"]!, /^:INPUT DROP/m, "the chain policy A set is back");
  const input = restored["filter/4"]!.split("\n").filter((l) => l.startsWith("-A INPUT"));
  assert.match(input[0]!, /rampart:.* -j rp-input$/, "our rule is back on top");
  assert.equal(input[1], "-A INPUT -s 198.51.100.1/32 -j DROP");
  // Restoring again is a no-op; the firewall re-applies B on the next apply.
  const unchanged = await saveAll(env);
  await fw.restoreSnapshot(snapA);
  assert.deepEqual(await saveAll(env), unchanged);
  // Restoring the snapshot taken before B's apply gives the same state too.
  await fw.apply();
  await fw.restoreSnapshot(result.previous!);
  assert.deepEqual(sortLines(await saveAll(env)), sortLines(unchanged));
}

// ---- fake dataplane -----------------------------------------------------------------------------

for (const backend of ["nft", "legacy"] as const) {
  Deno.test(`firewall (fake ${backend}): multi-table apply, in sync, clean-up`, async () => {
    await multiTableApply(fakeEnv(backend));
  });

  Deno.test(`firewall (fake ${backend}): a failing nat restore rolls back raw and mangle`, async () => {
    const env = fakeEnv(backend);
    const runner = faulty(env.runner, "nat");
    runner.armed = false;
    const fw = await (async () => {
      await seedForeign(env);
      const fw = firewall(env, runner);
      fw.setPolicy(policyA());
      await fw.apply();
      const beforeB = await saveAll(env);
      fw.setPolicy(policyB());
      runner.armed = true;
      const events: FirewallProgressEvent[] = [];
      await assert.rejects(() => fw.apply({ onProgress: (e) => events.push(e) }));
      const failed = events.find((e) => e.type === "table-failed");
      assert.ok(failed !== undefined && failed.type === "table-failed" && failed.table === "nat");
      const rolled = events.find((e) => e.type === "rollback-start");
      assert.ok(rolled?.type === "rollback-start");
      assert.deepEqual(rolled.tables.map((t) => t.table), ["raw", "mangle", "nat"]);
      assert.deepEqual(sortLines(await saveAll(env)), sortLines(beforeB));
      return fw;
    })();
    runner.armed = false;
    await fw.apply();
    assert.match((await saveAll(env))["nat/4"]!, /--to-destination 10\.0\.0\.6:443/);
  });

  Deno.test(`firewall (fake ${backend}): snapshot and restore leave foreign rules intact`, async () => {
    await snapshotRoundTrip(fakeEnv(backend));
  });
}

/** A runner whose every iptables-restore after the first fails. */
function failingAfterFirstRestore(inner: CommandRunner): CommandRunner {
  let restores = 0;
  return {
    run(cmd, args, opts) {
      if (cmd.includes("restore") && ++restores > 1) {
        return Promise.resolve({
          code: 1,
          stdout: "",
          stderr: "iptables-restore: line 2 failed\n",
        });
      }
      return inner.run(cmd, args, opts);
    },
  };
}

Deno.test("firewall (fake): a failed rollback is reported with both errors", async () => {
  const env = fakeEnv();
  const fw = firewall(env, failingAfterFirstRestore(env.runner));
  fw.setPolicy(policyA());
  await assert.rejects(() => fw.apply(), (e: unknown) => {
    assert.ok(e instanceof FirewallRollbackError);
    assert.ok(e.cause instanceof Error && e.rollbackError instanceof Error);
    return true;
  });
});

/** A journal that records every call, and can refuse to begin. */
function recordingJournal(options: { refuseBegin?: boolean } = {}) {
  const calls: string[] = [];
  let intent: ApplyIntent | undefined;
  const journal: ApplyJournal = {
    begin(i) {
      if (options.refuseBegin) return Promise.reject(new Error("disk full"));
      intent = i;
      calls.push(
        `begin ${i.operation} ${i.tables.map((t) => `${t.table}/${t.ipVersion}`).join(",")}`,
      );
      return Promise.resolve();
    },
    tableDone(t) {
      calls.push(`done ${t.table}/${t.ipVersion}`);
      return Promise.resolve();
    },
    end(outcome) {
      calls.push(`end ${outcome}`);
      return Promise.resolve();
    },
    fail(error) {
      calls.push(`fail ${error.split(" (")[0]}`);
      return Promise.resolve();
    },
  };
  return { journal, calls, intent: () => intent };
}

/** policyA's tables in apply order (its nat table is IPv4 only). */
const ALL_TABLES = "raw/4,mangle/4,nat/4,filter/4,raw/6,mangle/6,filter/6";

Deno.test("firewall (fake): the journal records the intent before writing, each table, and the end", async () => {
  const env = fakeEnv();
  const { journal, calls, intent } = recordingJournal();
  let writesBeforeBegin = -1;
  const runner: CommandRunner = {
    run(cmd, args, opts) {
      if (cmd.includes("restore") && calls.length === 0) writesBeforeBegin++;
      return env.runner.run(cmd, args, opts);
    },
  };
  const fw = new Firewall({ runner, backend: "nft", journal });
  fw.setPolicy(policyA());
  await fw.apply();
  assert.equal(writesBeforeBegin, -1, "nothing is written before the intent is recorded");
  assert.deepEqual(calls, [
    `begin apply ${ALL_TABLES}`,
    ...ALL_TABLES.split(",").map((t) => `done ${t}`),
    "end applied",
  ]);
  // The intent holds the snapshot taken before: restoring it undoes the apply.
  const snapshot = intent()!.snapshot!;
  assert.equal(snapshot.tables.length, 7);
  assert.ok(snapshot.tables.every((t) => t.chains.length === 0));
  const applied = await saveAll(env);
  await fw.restoreSnapshot(snapshot);
  assert.doesNotMatch(Object.values(await saveAll(env)).join("\n"), /rampart:/);
  assert.match(applied["filter/4"]!, /rampart:/);
});

Deno.test("firewall (fake): a journal that cannot record aborts the apply with nothing written", async () => {
  const env = fakeEnv();
  const before = await saveAll(env);
  const { journal } = recordingJournal({ refuseBegin: true });
  const fw = new Firewall({ runner: env.runner, backend: "nft", journal });
  fw.setPolicy(policyA());
  await assert.rejects(() => fw.apply(), /disk full/);
  assert.deepEqual(await saveAll(env), before);
});

Deno.test("firewall (fake): a rolled-back apply ends the journal; a failed rollback keeps it", async () => {
  const env = fakeEnv();
  const runner = faulty(env.runner, "nat");
  const { journal, calls } = recordingJournal();
  const fw = new Firewall({ runner, backend: "nft", journal });
  fw.setPolicy(policyA());
  await assert.rejects(() => fw.apply());
  assert.deepEqual(calls, [
    `begin apply ${ALL_TABLES}`,
    "done raw/4",
    "done mangle/4",
    "end rolled-back",
  ]);

  const second = recordingJournal();
  const fw2 = new Firewall({
    runner: failingAfterFirstRestore(env.runner),
    backend: "nft",
    journal: second.journal,
  });
  fw2.setPolicy(policyA());
  await assert.rejects(() => fw2.apply(), FirewallRollbackError);
  assert.deepEqual(second.calls, [
    `begin apply ${ALL_TABLES}`,
    "done raw/4",
    "fail Apply failed",
  ]);

  const third = recordingJournal();
  const fw3 = new Firewall({
    runner: faulty(env.runner, "filter"),
    backend: "nft",
    journal: third.journal,
  });
  fw3.setPolicy(policyA());
  await assert.rejects(() => fw3.apply({ snapshot: false }));
  assert.equal(third.intent()?.snapshot, undefined, "no snapshot, nothing to roll back to");
  assert.match(third.calls.at(-1)!, /^fail .*line 2 failed/, "kept: the tables are mixed");
});

Deno.test("firewall (fake): a table left out of the policy loses our rules; policies go back to ACCEPT", async () => {
  const env = fakeEnv();
  await seedForeign(env);
  const seeded = await saveAll(env);
  const fw = firewall(env);
  fw.setPolicy(policyA());
  await fw.apply();
  fw.setPolicy({
    ipVersions: [4, 6],
    tables: [policyA().tables[3]!].map((t) => ({ ...t, policies: {} })),
  });
  await fw.apply();
  const now = await saveAll(env);
  for (const t of ["raw/4", "mangle/4", "nat/4", "raw/6", "mangle/6"]) {
    assert.equal(now[t], seeded[t], t);
  }
  assert.match(now["filter/4"]!, /^:INPUT ACCEPT/m);
  assert.match(now["filter/4"]!, /-j rp-input/);
  fw.setPolicy({ ipVersions: [6], tables: [policyA().tables[3]!] });
  await fw.apply();
  assert.doesNotMatch((await saveAll(env))["filter/4"]!, /rampart:/);
  assert.deepEqual(fw.policy().ipVersions, [6]);
});

Deno.test("firewall: setPolicy validates the policy", () => {
  const fw = new Firewall({ runner: new FakeDataplane().runner, backend: "nft" });
  assert.throws(
    () =>
      fw.setPolicy({
        ipVersions: [4],
        tables: [tablePolicy("filter", { chains: [{ name: "mine", rules: [] }] })],
      }),
    (e: unknown) => e instanceof PolicyError && e.path === "tables[0].chains[0].name",
  );
  assert.throws(
    () => fw.setPolicy({ ipVersions: [4], tables: [tablePolicy("filter"), tablePolicy("filter")] }),
    PolicyError,
  );
  assert.throws(
    () =>
      fw.setPolicy({
        ipVersions: [4],
        tables: [tablePolicy("nat", { policies: { PREROUTING: "DROP" } })],
      }),
    PolicyError,
  );
  assert.deepEqual(fw.policy(), { ipVersions: [4, 6], tables: [] });
});

Deno.test("snapshot JSON: malformed or injected snapshots are refused", async () => {
  const env = fakeEnv();
  const fw = firewall(env);
  fw.setPolicy(policyA());
  await fw.apply();
  const good = JSON.parse(snapshotToJson(await fw.snapshot()));
  // deno-lint-ignore no-explicit-any
  type Json = any;
  const variants: [string, (s: Json, filter: Json) => void][] = [
    ["version", (s) => void (s.version = 2)],
    ["newline in a rule", (_, f) => void (f.chains[0].rules[0] = "-j ACCEPT\n-A INPUT -j DROP")],
    [
      "foreign rule in a kernel chain",
      (_, f) => void (f.foreignChainRules.INPUT[0].rule = "-s 1.2.3.4/32 -j ACCEPT"),
    ],
    ["unknown table", (s) => void (s.tables[0].table = "security")],
    ["chain without our prefix", (_, f) => void (f.chains[0].name = "INPUT")],
    ["policy of a user chain", (_, f) => void (f.policies["rp-input"] = "DROP")],
    ["negative position", (_, f) => void (f.foreignChainRules.INPUT[0].foreignBefore = -1)],
    ["bad hash prefix", (s) => void (s.hashPrefix = 'x" -j ACCEPT')],
  ];
  for (const [name, mutate] of variants) {
    const copy = JSON.parse(JSON.stringify(good));
    const filter = copy.tables.find((t: Json) => t.table === "filter" && t.ipVersion === 4);
    mutate(copy, filter);
    assert.throws(() => snapshotFromJson(JSON.stringify(copy)), SnapshotError, name);
  }
  assert.throws(() => snapshotFromJson("not json"), SnapshotError);
  assert.deepEqual(snapshotFromJson(snapshotToJson(good)), good);
});

// ---- the real kernel, in a private network namespace ---------------------------------------------

for (const backend of ["nft", "legacy"] as const) {
  kernelTest(`firewall (${backend}): multi-table apply of examples/rules.yaml`, async (netns) => {
    await multiTableApply(kernelEnv(netns, backend));
  });

  kernelTest(
    `firewall (${backend}): a rule naming a missing ipset rolls back the tables before it`,
    async (netns) => {
      const env = kernelEnv(netns, backend);
      const fw = await rollbackOnFailure(env, { missingSet: "rp-missing" });
      await nsExec(netns, "ipset", ["create", "rp-missing", "hash:net"]);
      await fw.apply();
      assert.match((await saveAll(env))["filter/4"]!, /--match-set rp-missing src/);
    },
  );

  kernelTest(
    `firewall (${backend}): snapshot and restore leave foreign rules intact`,
    async (netns) => {
      await snapshotRoundTrip(kernelEnv(netns, backend));
    },
  );
}

Deno.test("firewall (fake): ruleIds reaches every table, and a policy asking for the other scheme is refused", async () => {
  const fake = new FakeDataplane();
  const policy: Policy = {
    ipVersions: [4],
    tables: [tablePolicy("filter", {
      chains: [{ name: "rp-in", rules: [{ action: Drop() }, { action: Accept() }] }],
      insertions: { INPUT: [{ action: Jump("rp-in") }] },
    })],
  };
  const chained = new Firewall({ runner: fake.runner, ipVersions: [4], ruleIds: "chained" });
  assert.equal(chained.ruleIds, "chained");
  assert.equal(chained.table("nat", 4).ruleIds, "chained");
  chained.setPolicy({ ...policy, ruleIds: "chained" });
  await chained.apply();
  const saved = (await fake.runner.run("iptables-save", ["-t", "filter"])).stdout;
  const ids = [...saved.matchAll(/-A rp-in -m comment --comment "?rampart:([\w-]{16})/g)].map((m) =>
    m[1]
  );
  assert.deepEqual(ids, calculateRuleHashes("rp-in", policy.tables[0]!.chains[0]!.rules));
  assert.throws(
    () => chained.setPolicy({ ...policy, ruleIds: "stable" }),
    (e: unknown) =>
      e instanceof PolicyError && e.path === "ruleIds" &&
      /asks for stable rule IDs but this firewall computes chained ones/.test(e.message),
  );
  const stable = new Firewall({ runner: fake.runner, ipVersions: [4] });
  assert.equal(stable.ruleIds, "stable");
  assert.equal(stable.table("filter", 4).ruleIds, "stable");
  assert.throws(() => stable.setPolicy({ ...policy, ruleIds: "chained" }), PolicyError);
  // The same policy with stable IDs: only the chain's second rule gets a new ID.
  stable.setPolicy(policy);
  const plan = (await stable.plan()).tables.find((t) => t.table === "filter")!.script;
  assert.deepEqual(plan.trim().split("\n").map((l) => l.slice(0, 10)), [
    "*filter",
    "-R rp-in 2",
    "COMMIT",
  ]);
});
