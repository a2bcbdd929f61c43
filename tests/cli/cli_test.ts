import assert from "assert";
import {
  type CliEnvironment,
  COMMAND_NAMES,
  EXIT_CODES,
  FileApplyJournal,
  lockTarget,
  mergePolicies,
  parseCliArgs,
  parseDuration,
  runCli,
  runWatchdog,
  targetFiles,
  UsageError,
} from "../../cli.ts";
import {
  Accept,
  diffTable,
  Drop,
  emptyPolicy,
  Firewall,
  Jump,
  Match,
  parseKernelTable,
  renderDiff,
  snapshotFromJson,
  tablePolicy,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { kernelTest, nsExec, rampart, rampartCommand } from "../kernel/netns.ts";

// ---- argument parsing ----------------------------------------------------------

Deno.test("parseCliArgs: commands, files and flags", () => {
  const a = parseCliArgs([
    "apply",
    "a.yaml",
    "b.yaml",
    "-n",
    "lab",
    "-6",
    "--table",
    "nat",
    "-t",
    "filter",
    "--backend",
    "legacy",
    "-y",
    "--confirm-timeout",
    "1m30s",
    "--json",
    "--chain-prefix",
    "fw-",
  ]);
  assert.equal(a.command, "apply");
  assert.deepEqual(a.files, ["a.yaml", "b.yaml"]);
  assert.equal(a.netns, "lab");
  assert.deepEqual(a.ipVersions, [6]);
  assert.deepEqual(a.tables, ["nat", "filter"]);
  assert.equal(a.backend, "legacy");
  assert.equal(a.yes, true);
  assert.equal(a.confirmTimeoutMs, 90_000);
  assert.equal(a.json, true);
  assert.deepEqual(a.chainPrefixes, ["fw-"]);
  assert.equal(a.ruleIds, undefined);
  assert.equal(parseCliArgs(["plan", "r.yaml", "--rule-ids", "chained"]).ruleIds, "chained");
  assert.equal(parseCliArgs(["plan", "r.yaml", "--rule-ids", "stable"]).ruleIds, "stable");
  assert.equal(parseCliArgs([]).command, "help");
  assert.equal(parseCliArgs(["remove", "--help"]).help, true);
  assert.equal(parseCliArgs(["show"]).files.length, 0);
});

Deno.test("parseCliArgs: usage errors say what was expected", () => {
  const bad: [string[], RegExp][] = [
    [["frobnicate"], /Unknown command "frobnicate": expected one of plan/],
    [["plan", "r.yaml", "--bogus"], /bogus/],
    [
      ["plan", "r.yaml", "--backend", "iptables"],
      /Invalid --backend "iptables": expected nft, legacy or auto/,
    ],
    [["plan", "r.yaml", "--table", "security"], /Invalid --table "security"/],
    [["plan", "r.yaml", "--netns", "a b"], /Invalid --netns "a b"/],
    [["plan", "r.yaml", "--netns", "x;rm"], /Invalid --netns/],
    [["plan", "r.yaml", "--confirm-timeout", "30s"], /only valid for apply/],
    [["apply", "r.yaml", "--confirm-timeout", "soon"], /Invalid duration "soon"/],
    [["apply", "r.yaml", "--confirm-timeout", "0s"], /Invalid duration "0s"/],
    [["plan"], /Missing policy file/],
    [["remove", "r.yaml"], /remove takes no files/],
    [["plan", "r.yaml", "--color", "pink"], /Invalid --color "pink"/],
    [["plan", "r.yaml", "--insert-mode", "middle"], /Invalid --insert-mode "middle"/],
    [["plan", "r.yaml", "--rule-ids", "felix"], /Invalid --rule-ids "felix": expected stable/],
    [["help", "nope"], /Unknown command "nope"/],
    [["trace", "--src", "10.0.0.1"], /rampart trace has a command line of its own/],
  ];
  for (const [argv, message] of bad) {
    assert.throws(() => parseCliArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${argv.join(" ")}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("an unknown command is told every command, import, trace and graph included", async () => {
  for (const argv of [["frobnicate"], ["help", "frobnicate"]]) {
    const r = await rampart(argv);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /^rampart: Unknown command "frobnicate": expected one of plan, apply, show, diff, export, watch, remove, confirm, recover, top, completions, import, adopt, trace, graph, help\n/,
    );
  }
  const help = await rampart(["--help"]);
  assert.equal(help.code, 0, help.err);
  for (const name of COMMAND_NAMES) {
    if (name !== "help") assert.match(help.out, new RegExp(`^  ${name}\\b`, "m"), name);
  }
  for (const name of ["import", "trace", "graph"]) {
    const r = await rampart(["help", name]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^Usage: rampart ${name} `));
  }
});

Deno.test("parseDuration", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("10"), 10_000);
  for (const bad of ["", "-1s", "1d", "s", "25h", "1 s"]) {
    assert.throws(() => parseDuration(bad), UsageError, bad);
  }
});

// ---- runCli in-process (no kernel) ----------------------------------------------

function fakeEnv(answers: string[] = []): CliEnvironment & { out: string; err: string } {
  const env = {
    out: "",
    err: "",
    stdout(t: string) {
      env.out += t;
    },
    stderr(t: string) {
      env.err += t;
    },
    interactive: answers.length > 0,
    stdoutIsTerminal: false,
    ask(q: string) {
      env.err += q;
      return Promise.resolve(answers.shift());
    },
    runnerFor(): never {
      throw new Error("no kernel in this test");
    },
    env: () => undefined,
    uid: 0,
  };
  return env;
}

Deno.test("runCli: --help on every command, usage errors exit 2", async () => {
  for (const command of COMMAND_NAMES) {
    const env = fakeEnv();
    assert.equal(await runCli([command, "--help"], env), EXIT_CODES.OK, command);
    assert.match(env.out, /^Usage: rampart/, command);
    assert.match(env.out, /Exit codes: 0 [^]*\b2 usage error/, command);
  }
  const env = fakeEnv();
  assert.equal(await runCli(["--help"], env), 0);
  assert.match(env.out, /Commands:/);
  const bad = fakeEnv();
  assert.equal(await runCli(["plan", "--nope", "r.yaml"], bad), EXIT_CODES.USAGE);
  assert.match(bad.err, /Run 'rampart plan --help' for usage/);
  const json = fakeEnv();
  assert.equal(await runCli(["plan", "--json"], json), EXIT_CODES.USAGE);
  const doc = JSON.parse(json.out);
  assert.equal(doc.ok, false);
  assert.equal(doc.error.name, "UsageError");
});

Deno.test("runCli: invalid policy files exit 4 with file:line:col; a missing file exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      file,
      "tables:\n  filter:\n    chains:\n      rp-in:\n        - protocol: tcp\n          destPorts: [70000]\n",
    );
    const env = fakeEnv();
    assert.equal(await runCli(["export", file], env), EXIT_CODES.INVALID_POLICY);
    assert.match(env.err, new RegExp(`${file}:6:\\d+: `));
    const json = fakeEnv();
    assert.equal(await runCli(["export", file, "--json"], json), EXIT_CODES.INVALID_POLICY);
    const doc = JSON.parse(json.out);
    assert.equal(doc.error.line, 6);
    assert.equal(doc.error.file, file);
    const missing = fakeEnv();
    assert.equal(await runCli(["export", `${dir}/none.yaml`], missing), EXIT_CODES.FAILURE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli recover: a namespace that no longer exists has what is recorded for it cleared, after asking", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-cli-test-" });
  try {
    const files = targetFiles(`${dir}/state`, "gone");
    await Deno.mkdir(`${dir}/state`, { recursive: true });
    await new FileApplyJournal(files.intent, { command: "apply a.yaml" }).begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: [{ table: "filter", ipVersion: 4 }],
    });
    const run = async (args: string[], answers: string[] = []) => {
      const env = Object.assign(fakeEnv(answers), { namespaceExists: () => false });
      const code = await runCli(
        ["recover", ...args, "--netns", "gone", "--state-dir", `${dir}/state`],
        env,
      );
      return { code, out: env.out, err: env.err };
    };
    const declined = await run([], ["n"]);
    assert.equal(declined.code, EXIT_CODES.NOT_CONFIRMED);
    assert.match(
      declined.err,
      /Network namespace "gone" no longer exists, and its rules with it: clear what is recorded for it\? \[y\/N\]/,
    );
    assert.match(declined.err, /Nothing cleared/);
    const cleared = await run([], ["y"]);
    assert.equal(cleared.code, 0, cleared.err);
    assert.equal(
      cleared.out,
      'Network namespace "gone" no longer exists: the rules to put back went with it. ' +
        "Cleared: the record of the interrupted apply\n",
    );
    await assert.rejects(Deno.stat(files.intent), Deno.errors.NotFound);
    assert.match((await run(["--yes"])).out, /Nothing to recover/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli: apply and remove refuse without a terminal or --yes (exit 2)", async () => {
  const env = fakeEnv();
  assert.equal(await runCli(["apply", "r.yaml", "--netns", "x"], env), EXIT_CODES.USAGE);
  assert.match(env.err, /no terminal to ask on; pass --yes/);
  const remove = fakeEnv();
  assert.equal(await runCli(["remove"], remove), EXIT_CODES.USAGE);
});

Deno.test("runCli on the fake: an interrupted apply is reported by every command, rolled back by recover, completed by apply", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-cli-test-" });
  try {
    const fake = new FakeDataplane({ backend: "nft" });
    const envWithFake = (answers: string[] = []) =>
      Object.assign(fakeEnv(answers), { runnerFor: () => fake.runner });
    const rules = (port: number) =>
      `family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n` +
      `          - jump: rp-in\n    chains:\n      rp-in:\n        - {protocol: tcp, destPorts: [${port}], action: accept}\n`;
    await Deno.writeTextFile(`${dir}/a.yaml`, rules(22));
    await Deno.writeTextFile(`${dir}/b.yaml`, rules(2222));
    const common = ["--backend", "nft", "--state-dir", `${dir}/state`, "--netns", "lab"];
    const run = async (args: string[], answers?: string[]) => {
      const env = envWithFake(answers);
      const code = await runCli([...args, ...common], env);
      return { code, out: env.out, err: env.err };
    };
    const filter = async () =>
      (await fake.runner.run("iptables-nft-save", ["-t", "filter"])).stdout.split("\n")
        .filter((l) => l.includes("rp-in")).join("\n");

    assert.equal((await run(["apply", `${dir}/a.yaml`, "--yes"])).code, 0);
    const before = await filter();
    const firewall = new Firewall({ runner: fake.runner, backend: "nft", ipVersions: [4] });
    const snapshot = await firewall.snapshot();
    // An apply to b.yaml that crashed after nat IPv4, while filter IPv4 was
    // written (and got written): its record stays behind.
    assert.equal((await run(["apply", `${dir}/b.yaml`, "--yes"])).code, 0);
    const mixed = await filter();
    assert.notEqual(mixed, before);
    const files = targetFiles(`${dir}/state`, "lab");
    const journal = new FileApplyJournal(files.intent, { command: "apply b.yaml" });
    await journal.begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: [{ table: "nat", ipVersion: 4 }, { table: "filter", ipVersion: 4 }],
      snapshot,
    });
    await journal.tableDone({ table: "nat", ipVersion: 4 });

    const plan = await run(["plan", `${dir}/a.yaml`, "--json"]);
    assert.equal(plan.code, 0, plan.err);
    assert.match(
      plan.err,
      /INTERRUPTED: An earlier 'rampart apply b\.yaml' on network namespace "lab" \(pid \d+, started .*\) did not finish: it brought nat IPv4 in line; it was writing filter IPv4 when it stopped/,
    );
    const doc = JSON.parse(plan.out);
    assert.deepEqual(doc.interrupted.tablesDone, [{ table: "nat", ipVersion: 4 }]);
    assert.equal(doc.interrupted.record, files.intent);

    assert.equal((await run(["recover"])).code, EXIT_CODES.USAGE, "asks first");
    assert.equal((await run(["recover"], ["n"])).code, EXIT_CODES.NOT_CONFIRMED);
    const recover = await run(["recover"], ["y"]);
    assert.equal(recover.code, 0, recover.err);
    assert.match(
      recover.out,
      /Recovered network namespace "lab": the interrupted apply was rolled back/,
    );
    assert.equal(await filter(), before);
    assert.match((await run(["recover", "--yes"])).out, /Nothing to recover/);

    // Interrupted again: an apply limited to fewer tables keeps the record…
    await journal.begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: [{ table: "nat", ipVersion: 4 }, { table: "filter", ipVersion: 4 }],
      snapshot,
    });
    const partial = await run(["apply", `${dir}/b.yaml`, "--yes", "--table", "filter"]);
    assert.equal(partial.code, 0, partial.err);
    assert.match(partial.err, /The record of the interrupted apply stays/);
    assert.match((await run(["show"])).err, /INTERRUPTED/);
    // …and a whole apply completes it with the policy.
    await journal.begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: [{ table: "filter", ipVersion: 4 }],
    });
    const apply = await run(["apply", `${dir}/b.yaml`, "--yes", "--json"]);
    assert.equal(apply.code, 0, apply.err);
    assert.match(apply.err, /INTERRUPTED: .*This apply brings every table to the policy/);
    assert.equal(JSON.parse(apply.out).interrupted.canRollBack, false);
    assert.equal(await filter(), mixed);
    const after = await run(["show"]);
    assert.doesNotMatch(after.err, /INTERRUPTED/);

    // Another command holds the target: refused, nothing written.
    const lock = await lockTarget(files.lock, { command: "apply other.yaml", target: "lab" });
    const busy = await run(["apply", `${dir}/a.yaml`, "--yes", "--json"]);
    lock.release();
    assert.equal(busy.code, EXIT_CODES.FAILURE);
    const error = JSON.parse(busy.out);
    assert.equal(error.ok, false);
    assert.equal(error.error.name, "TargetBusyError");
    assert.match(error.error.message, /'rampart apply other\.yaml'.*nothing was changed/);
    assert.equal(await filter(), mixed);

    const confirm = await run(["confirm"]);
    assert.equal(confirm.code, EXIT_CODES.FAILURE);
    assert.match(confirm.err, /No apply is waiting for confirmation in network namespace "lab"/);

    // Over an interrupted record, an apply --confirm-timeout that is not confirmed brings back
    // the interrupted state, and its record with it.
    await journal.begin({
      operation: "apply",
      startedAt: new Date().toISOString(),
      tables: [{ table: "filter", ipVersion: 4 }],
      snapshot,
    });
    const record = await Deno.readTextFile(files.intent);
    const env = envWithFake();
    env.spawnWatchdog = (dir, applyId) => {
      runWatchdog(dir, {
        applyId,
        log: () => {},
        restore: (json) =>
          new Firewall({ runner: fake.runner, backend: "nft" }).restoreSnapshot(
            snapshotFromJson(json),
          ),
      });
      return { pid: Deno.pid, status: new Promise(() => {}) };
    };
    const code = await runCli(
      ["apply", `${dir}/a.yaml`, "--yes", "--confirm-timeout", "200ms", "--json", ...common],
      env,
    );
    assert.equal(code, EXIT_CODES.NOT_CONFIRMED, env.err);
    assert.match(env.err, /INTERRUPTED: /);
    assert.match(env.err, /Not confirmed in time: the previous rules were restored/);
    const reverted = JSON.parse(env.out);
    assert.equal(reverted.ok, false);
    assert.equal(reverted.confirmation.outcome, "reverted");
    assert.equal(await filter(), mixed);
    assert.equal(await Deno.readTextFile(files.intent), record);
    assert.match((await run(["recover", "--yes"])).out, /the interrupted apply was rolled back/);

    // A remove that fails half way keeps its record, with the error; recover puts our rules back.
    const full = await filter();
    fake.failNextRestore({ count: 20, stderr: "iptables-restore: no\n" });
    const remove = await run(["remove", "--yes"]);
    assert.equal(remove.code, EXIT_CODES.FAILURE);
    const shown = await run(["show"]);
    assert.match(
      shown.err,
      /INTERRUPTED: An earlier 'rampart remove .*' on network namespace "lab" \(pid \d+, started .*\) failed and could not be rolled back \(.*no.*\): it emptied raw IPv4, mangle IPv4 and nat IPv4; it was writing filter IPv4 when it failed/,
    );
    assert.equal((await run(["recover", "--yes"])).code, 0);
    assert.equal(await filter(), full);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli export: TypeScript from merged files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/a.yaml`,
      "family: ipv4\ntables:\n  filter:\n    chains:\n      rp-a:\n        - protocol: tcp\n          destPorts: [22]\n          action: accept\n",
    );
    await Deno.writeTextFile(
      `${dir}/b.yaml`,
      "family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n          - jump: rp-a\n",
    );
    const env = fakeEnv();
    assert.equal(await runCli(["export", `${dir}/a.yaml`, `${dir}/b.yaml`], env), 0);
    assert.match(env.out, /Match\(\)\.protocol\("tcp"\)\.destPorts\(22\)/);
    assert.match(env.out, /Jump\("rp-a"\)/);
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      "family: ipv4\ntables:\n  filter:\n    chains:\n      rp-a: []\n",
    );
    const dup = fakeEnv();
    assert.equal(
      await runCli(["export", `${dir}/a.yaml`, `${dir}/c.yaml`], dup),
      EXIT_CODES.INVALID_POLICY,
    );
    assert.match(
      dup.err,
      /Chain "rp-a" of table filter is defined in .*c\.yaml and in an earlier file/,
    );
    // Located at the second definition, naming the first.
    assert.match(dup.err, /c\.yaml:5:7: Chain "rp-a" .* earlier file \(.*a\.yaml:5:7\)/);
    // The same file named twice says so.
    const twice = fakeEnv();
    assert.equal(
      await runCli(["export", `${dir}/a.yaml`, `${dir}/a.yaml`], twice),
      EXIT_CODES.INVALID_POLICY,
    );
    assert.match(
      twice.err,
      /a\.yaml:5:7: .* the file .*a\.yaml is given twice: expected each file once/,
    );
    // A directory is named as the file it is not.
    const asDir = fakeEnv();
    assert.equal(await runCli(["export", dir], asDir), EXIT_CODES.INVALID_POLICY);
    assert.match(asDir.err, /:1:1: Is a directory: expected a YAML rule file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mergePolicies: families, kernel-chain rules in file order, policy conflicts", () => {
  const a = {
    ipVersions: [4 as const],
    tables: [
      tablePolicy("filter", {
        insertions: { INPUT: [{ action: Accept() }] },
        policies: { INPUT: "DROP" },
      }),
    ],
  };
  const b = {
    ipVersions: [6 as const],
    tables: [
      tablePolicy("filter", {
        insertions: { INPUT: [{ action: Drop() }] },
        policies: { INPUT: "ACCEPT" },
      }),
    ],
  };
  assert.throws(
    () => mergePolicies([{ file: "a", policy: a }, { file: "b", policy: b }]),
    /policy ACCEPT in b but DROP/,
  );
  b.tables[0]!.policies = {};
  const m = mergePolicies([{ file: "a", policy: a }, { file: "b", policy: b }, {
    file: "c",
    policy: emptyPolicy([4]),
  }]);
  assert.deepEqual(m.ipVersions, [4, 6]);
  assert.deepEqual(m.tables[0]!.insertions.INPUT!.map((r) => r.action?.kind), ["Accept", "Drop"]);
});

// ---- the diff by rule ID ---------------------------------------------------------

Deno.test("diffTable matches by rule ID, not text; foreign rules are context", () => {
  const desired = {
    table: "filter" as const,
    ipVersion: 4 as const,
    chains: [{
      name: "rp-in",
      rules: [
        { match: Match().protocol("tcp").destPorts(22), action: Accept() },
        { match: Match().protocol("tcp").destPorts(443), action: Accept() },
      ],
    }],
    insertions: { INPUT: [{ action: Jump("rp-in") }] },
    appends: {},
    policies: { INPUT: "DROP" as const },
  };
  // First: an empty kernel with one foreign rule.
  const empty =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n";
  const first = diffTable(desired, empty);
  assert.equal(first.changed, true);
  const input = first.chains.find((c) => c.chain === "INPUT")!;
  assert.deepEqual(input.policy, { from: "ACCEPT", to: "DROP" });
  assert.deepEqual(input.lines.map((l) => l.kind), ["add", "foreign"]);
  const chain = first.chains.find((c) => c.chain === "rp-in")!;
  assert.equal(chain.status, "new");
  assert.deepEqual(chain.lines.map((l) => l.kind), ["add", "add"]);
  // The kernel holds the same rules in its own normalised text, plus a stale rule: only IDs count.
  const [jumpId] = [input.lines[0]!.id!];
  const [id22, id443] = chain.lines.map((l) => l.id!);
  const kernel = [
    "*filter",
    ":INPUT DROP [0:0]",
    ":rp-in - [0:0]",
    ":rp-old - [0:0]",
    `-A INPUT -m comment --comment "rampart:${jumpId}" -j rp-in`,
    "-A INPUT -i lo -j ACCEPT",
    `-A rp-in -p tcp -m comment --comment "rampart:${id22}" -m multiport --dports 22 -j ACCEPT`,
    `-A rp-in -p tcp -m comment --comment "rampart:${id443}" -m multiport --dports 443 -j ACCEPT`,
    '-A rp-old -m comment --comment "rampart:AAAAAAAAAAAAAAAA" -j DROP',
    "COMMIT",
  ].join("\n");
  const second = diffTable(desired, kernel, { all: true });
  assert.deepEqual(
    second.chains.map((c) => `${c.chain}:${c.status}`),
    ["INPUT:unchanged", "rp-in:unchanged", "rp-old:deleted"],
  );
  const text = renderDiff([second]);
  assert.match(text, /chain rp-old \(deleted\)\n {4}- AAAAAAAAAAAAAAAA {2}-A rp-old/);
  assert.match(
    text,
    /= [\w-]{16} {2}-A rp-in -m comment --comment "rampart:[\w-]{16}" -p tcp -m multiport --destination-ports 22/,
  );
  assert.match(text, /· -A INPUT -i lo -j ACCEPT/);
  assert.equal(parseKernelTable(kernel, "rampart:").get("rp-in")!.rules[1]!.id, id443);
  // A changed second rule: the first is kept, the second replaced.
  const changed = diffTable({
    ...desired,
    chains: [{ name: "rp-in", rules: [desired.chains[0]!.rules[0]!, { action: Drop() }] }],
  }, kernel);
  const rp = changed.chains.find((c) => c.chain === "rp-in")!;
  assert.deepEqual(rp.lines.map((l) => l.kind), ["keep", "remove", "add"]);
  assert.ok(renderDiff([changed], { color: true }).includes("\x1b[32m+ "));
});

Deno.test("mergePolicies: one ruleIds setting among the files", () => {
  const chained = { ...emptyPolicy([4]), ruleIds: "chained" as const };
  assert.equal(
    mergePolicies([{ file: "a.yaml", policy: chained }, {
      file: "b.yaml",
      policy: emptyPolicy([4]),
    }]).ruleIds,
    "chained",
  );
  assert.equal(
    mergePolicies([{ file: "a.yaml", policy: emptyPolicy([4]) }, {
      file: "b.yaml",
      policy: emptyPolicy([6]),
    }]).ruleIds,
    undefined,
  );
  assert.throws(
    () =>
      mergePolicies([{ file: "a.yaml", policy: chained }, {
        file: "b.yaml",
        policy: { ...emptyPolicy([4]), ruleIds: "stable" },
      }]),
    /b\.yaml asks for stable rule IDs but a\.yaml for chained ones/,
  );
});

Deno.test("diffTable (stable IDs): a change in the middle is one removed and one added line", () => {
  const rules = [1, 2, 3, 4].map((p) => ({
    match: Match().protocol("tcp").destPorts(p),
    action: Accept(),
  }));
  const desired = (rs: typeof rules) => ({
    table: "filter" as const,
    ipVersion: 4 as const,
    chains: [{ name: "rp-in", rules: rs }],
    insertions: { INPUT: [{ action: Jump("rp-in") }] },
    appends: {},
    policies: {},
  });
  const first = diffTable(desired(rules), "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
  const ids = first.chains.find((c) => c.chain === "rp-in")!.lines.map((l) => l.id!);
  const jump = first.chains.find((c) => c.chain === "INPUT")!.lines[0]!.id!;
  const kernel = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":rp-in - [0:0]",
    `-A INPUT -m comment --comment "rampart:${jump}" -j rp-in`,
    ...ids.map((id, i) =>
      `-A rp-in -p tcp -m comment --comment "rampart:${id}" -m multiport --dports ${
        i + 1
      } -j ACCEPT`
    ),
    "COMMIT",
  ].join("\n");
  const changed = [...rules];
  changed[1] = { match: Match().protocol("tcp").destPorts(9), action: Accept() };
  const stable = diffTable(desired(changed), kernel).chains.find((c) => c.chain === "rp-in")!;
  assert.deepEqual(stable.lines.map((l) => l.kind), ["keep", "remove", "add", "keep", "keep"]);
  // With chained IDs (and a kernel written with them), every later rule changes.
  const chainedFirst = diffTable(desired(rules), "*filter\nCOMMIT\n", { ruleIds: "chained" });
  const chainedIds = chainedFirst.chains.find((c) => c.chain === "rp-in")!.lines.map((l) => l.id!);
  assert.equal(chainedIds[0], ids[0], "a chain's first rule has the same ID in both schemes");
  assert.notEqual(chainedIds[1], ids[1]);
  const chainedKernel = ids.reduce((k, id, i) => k.replace(id, chainedIds[i]!), kernel);
  const chained = diffTable(desired(changed), chainedKernel, { ruleIds: "chained" }).chains
    .find((c) => c.chain === "rp-in")!;
  assert.deepEqual(chained.lines.map((l) => l.kind), [
    "keep",
    "remove",
    "remove",
    "remove",
    "add",
    "add",
    "add",
  ]);
});

// ---- the real CLI on the kernel, in a private namespace -------------------------

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-input
    chains:
      rp-input:
        - comment: ssh
          protocol: tcp
          destPorts: [22]
          action: accept
        - protocol: tcp
          destPorts: [80, 443]
          action: accept
`;

async function saveFilter(netns: string): Promise<string> {
  return await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
}

function ruleLines(save: string): string[] {
  return save.split("\n").filter((l) => l.startsWith("-A") || l.startsWith(":"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
}

async function withRules<T>(fn: (file: string, dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-cli-test-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    return await fn(`${dir}/rules.yaml`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

kernelTest("rampart plan, diff, apply, show, remove: outputs and exit codes", async (netns) => {
  await withRules(async (file, dir) => {
    await nsExec(netns, "iptables-nft", ["-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP"]);
    const foreign = "-A INPUT -s 192.0.2.1/32 -j DROP";
    const ns = ["--netns", netns, "--backend", "nft", "--state-dir", dir];

    const plan = await rampart(["plan", file, ...ns]);
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.out, /^# filter \(IPv4\)\n\*filter\n/);
    assert.match(plan.out, /-m comment --comment "rampart:[\w-]{16}" -m comment --comment "ssh"/);

    const planJson = await rampart(["plan", file, ...ns, "--json"]);
    const doc = JSON.parse(planJson.out);
    assert.equal(doc.ok, true);
    assert.equal(doc.changed, true);
    assert.ok(
      doc.tables.some((t: { table: string; script: string }) =>
        t.table === "filter" && t.script !== ""
      ),
    );

    const diff = await rampart(["diff", file, ...ns]);
    assert.equal(diff.code, 0, diff.err);
    assert.match(diff.out, /chain rp-input \(new\)/);
    assert.match(diff.out, /· -A INPUT -s 192\.0\.2\.1\/32 -j DROP/);

    const refused = await rampart(["apply", file, ...ns]);
    assert.equal(refused.code, EXIT_CODES.USAGE);
    assert.equal(ruleLines(await saveFilter(netns)).some((l) => l.includes("rampart:")), false);

    const apply = await rampart(["apply", file, ...ns, "--yes"]);
    assert.equal(apply.code, 0, apply.err);
    assert.match(apply.err, /\[\d+\/\d+\] filter IPv4: \d+ lines written/);
    assert.match(apply.out, /Applied to network namespace/);
    const applied = await saveFilter(netns);
    assert.match(applied, /-A rp-input -p tcp .*--dports 22 -j ACCEPT/);

    const again = await rampart(["plan", file, ...ns]);
    assert.match(again.out, /Nothing to do/);
    const inSync = await rampart(["diff", file, ...ns]);
    assert.match(inSync.out, /filter \(IPv4\): in sync/);

    const show = await rampart(["show", ...ns, "-4"]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /chain rp-input \(2 rules\)/);
    const showJson = JSON.parse((await rampart(["show", ...ns, "-4", "--json"])).out);
    assert.equal(showJson.source, "kernel");
    const desired = await rampart(["show", file]);
    assert.match(desired.out, /filter \(IPv4\)\n {2}INPUT insertions \(1 rule\)/);

    const remove = await rampart(["remove", ...ns, "--yes", "-4"]);
    assert.equal(remove.code, 0, remove.err);
    const after = ruleLines(await saveFilter(netns));
    assert.equal(after.some((l) => l.includes("rampart") || l.includes("rp-input")), false);
    assert.ok(after.includes(foreign), "other programs' rules stay");
  });
});

kernelTest(
  "rampart diff and show FILES use the host's features: applied MASQUERADE/SNAT/NFLOG rules match",
  async (netns) => {
    // Their fragments (so their IDs) depend on the detected features
    // (`--random-fully`, `--nflog-size`): a diff with default features saw
    // each applied rule as removed and added again.
    const rules = `family: ipv4
tables:
  nat:
    kernelChains:
      POSTROUTING:
        insert:
          - outInterface: eth0
            action: masq
          - outInterface: eth1
            snat: 192.0.2.1
  filter:
    kernelChains:
      INPUT:
        insert:
          - nflog: { group: 5, prefix: seen, size: 64 }
`;
    const dir = await Deno.makeTempDir({ prefix: "rp-cli-test-" });
    try {
      const file = `${dir}/rules.yaml`;
      await Deno.writeTextFile(file, rules);
      for (const backend of ["nft", "legacy"]) {
        const ns = ["--netns", netns, "--backend", backend, "--color", "never", "--state-dir", dir];
        const apply = await rampart(["apply", file, ...ns, "--yes"]);
        assert.equal(apply.code, 0, apply.err);
        const saved = await nsExec(netns, `iptables-${backend}-save`, []);
        assert.match(saved, /-j MASQUERADE --random-fully/, "the host has the features");
        assert.match(saved, /--nflog-size 64/);
        assert.match((await rampart(["plan", file, ...ns])).out, /Nothing to do/);
        const diff = await rampart(["diff", file, ...ns]);
        assert.equal(diff.code, 0, diff.err);
        assert.match(diff.out, /nat \(IPv4\): in sync/);
        assert.match(diff.out, /filter \(IPv4\): in sync/);
        assert.doesNotMatch(diff.out, /^ *[-+] /m);
        const ids = (text: string) =>
          [...text.matchAll(/rampart:([\w-]{16})/g)].map((m) => m[1]).sort();
        const shown = await rampart([
          "show",
          file,
          "--netns",
          netns,
          "--color",
          "never",
          "--state-dir",
          dir,
        ]);
        assert.equal(shown.code, 0, shown.err);
        assert.match(shown.out, /--jump MASQUERADE --random-fully/);
        assert.deepEqual(ids(shown.out), ids(saved), "show FILES prints the IDs the kernel has");
        const remove = await rampart(["remove", ...ns, "--yes", "-4"]);
        assert.equal(remove.code, 0, remove.err);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "rampart apply --confirm-timeout: killing the CLI leaves the watchdog to revert",
  async (netns) => {
    await withRules(async (file, dir) => {
      await nsExec(netns, "iptables-nft", ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
      const before = ruleLines(await saveFilter(netns));
      const child = rampartCommand([
        "apply",
        file,
        "--netns",
        netns,
        "--backend",
        "nft",
        "--yes",
        "--confirm-timeout",
        "3s",
        "--state-dir",
        dir,
      ]).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let err = "";
      while (!err.includes("Applied. Confirm within")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`CLI ended early: ${err}`);
        err += value;
      }
      assert.match(ruleLines(await saveFilter(netns)).join("\n"), /rp-input/);
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
      await child.stdout.cancel();
      // The watchdog, not the CLI, puts the previous rules back.
      await waitFor("the watchdog to revert", async () => {
        const lines = ruleLines(await saveFilter(netns));
        return !lines.some((l) => l.includes("rp-input"));
      });
      assert.deepEqual(ruleLines(await saveFilter(netns)), before);
      await waitFor("the watchdog's outcome", async () => {
        const log = await Deno.readTextFile(`${dir}/netns-${netns}.watchdog.log`);
        return log.includes("reverted: the previous rules are back");
      });
    });
  },
);

kernelTest(
  "rampart apply --confirm-timeout, confirmed from another session with rampart confirm",
  async (netns) => {
    await withRules(async (file, dir) => {
      const child = rampartCommand([
        "apply",
        file,
        "--netns",
        netns,
        "--backend",
        "nft",
        "--yes",
        "--confirm-timeout",
        "5m",
        "--state-dir",
        dir,
        "--json",
      ]).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let err = "";
      while (!err.includes("Applied. Confirm within")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`CLI ended early: ${err}`);
        err += value;
      }
      const confirm = await rampart(["confirm", "--netns", netns, "--state-dir", dir]);
      if (confirm.code !== 0) {
        const pending = `${dir}/pending-netns-${netns}`;
        const files = await Array.fromAsync(Deno.readDir(pending)).then(
          (l) => l.map((e) => e.name).join(","),
          (e) => String(e),
        );
        const cliOut = await new Response(child.stdout).text();
        const log = await Deno.readTextFile(`${pending}/watchdog.log`).catch(() => "");
        const pid = await Deno.readTextFile(`${pending}/watchdog.pid`).catch(() => "");
        assert.fail(
          `confirm failed: ${confirm.err} files=${files} pid=${pid} log=${log} cli=${err} out=${cliOut}`,
        );
      }
      assert.match(confirm.out, /Confirmed: the new rules stay/);
      const out = new TextDecoder().decode(await new Response(child.stdout).arrayBuffer());
      await reader.cancel();
      const status = await child.status;
      assert.equal(status.code, 0);
      const doc = JSON.parse(out);
      assert.equal(doc.confirmation.outcome, "confirmed");
      assert.match(await saveFilter(netns), /rp-input/);
      const none = await rampart(["confirm", "--netns", netns, "--state-dir", dir]);
      assert.equal(none.code, EXIT_CODES.FAILURE);
    });
  },
);

kernelTest(
  "rampart watch re-applies a clobbered rule and stops cleanly on SIGTERM",
  async (netns) => {
    await withRules(async (file, dir) => {
      const child = rampartCommand([
        "watch",
        file,
        "--netns",
        netns,
        "--backend",
        "nft",
        "--state-dir",
        dir,
      ]).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let err = "";
      const readUntil = async (text: string, from: number) => {
        while (!err.slice(from).includes(text)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`watch ended early: ${err}`);
          err += value;
        }
      };
      await readUntil("applied filter IPv4", 0);
      // watch holds the target: an apply meanwhile is refused.
      const refused = await rampart(["apply", file, "--netns", netns, "--state-dir", dir, "--yes"]);
      assert.equal(refused.code, EXIT_CODES.FAILURE);
      assert.match(refused.err, /Another rampart command is changing .* 'rampart watch /);
      // Another program deletes our jump rule.
      const jump = (await saveFilter(netns)).split("\n").find((l) =>
        l.startsWith("-A INPUT") && l.includes("rampart:")
      )!;
      await nsExec(netns, "iptables-nft", [
        "-D",
        ...jump.slice(3).split(" ").map((w) => w.replaceAll('"', "")),
      ]);
      assert.doesNotMatch(await saveFilter(netns), /-A INPUT .*rampart:/);
      const mark = err.length;
      await readUntil("applied filter IPv4", mark);
      assert.match(await saveFilter(netns), /-A INPUT .*rampart:/);
      child.kill("SIGTERM");
      await readUntil("stopped", mark);
      await reader.cancel();
      await child.stdout.cancel();
      assert.equal((await child.status).code, 0);
    });
  },
);

// ---- errors a file can cause: all found by plan, as file:line:col, exit 4 ----------

/** A rules file whose last rule of rp-in is `last` (YAML lines of a list item's keys). */
function rulesEnding(last: string, more = ""): string {
  return `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - protocol: tcp
          destPorts: [22]
          action: accept
        - ${last}
${more}`;
}

async function withFile<T>(text: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-cli-test-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, text);
    return await fn(`${dir}/rules.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("rampart plan: file errors found before the kernel is read exit 4 with file:line:col", async () => {
  // None of these reach the kernel: they fail while the files are read.
  const cases: [string, RegExp, string][] = [
    [
      rulesEnding("jump: rp-dorp", "      rp-drop:\n        - action: drop\n"),
      /rules\.yaml:13:17: Invalid jump "rp-dorp": no chain of table filter has that name \(did you mean "rp-drop"\?\)/,
      "tables.filter.chains.rp-in[1].jump",
    ],
    [
      rulesEnding('comment: "it\'s web\\nserver"\n          action: accept'),
      /rules\.yaml:13:20: Invalid comment "it's web\\nserver": it would be stored as "it_s web_server"/,
      "tables.filter.chains.rp-in[1].comment",
    ],
    [
      "tables: " + "[".repeat(10_000) + "]".repeat(10_000) + "\n",
      /rules\.yaml:1:\d+: Invalid YAML: Nested deeper than 64 levels/,
      "",
    ],
  ];
  for (const [text, message, field] of cases) {
    await withFile(text, async (file) => {
      const r = await rampart(["plan", file, "--netns", "rp-never-created"]);
      assert.equal(r.code, EXIT_CODES.INVALID_POLICY, r.err);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /RangeError|at .*\.ts:\d+/);
      const json = JSON.parse(
        (await rampart(["plan", file, "--netns", "rp-never-created", "--json"])).out,
      );
      assert.equal(json.error.field, field);
      assert.equal(json.exitCode, EXIT_CODES.INVALID_POLICY);
    });
  }
});

Deno.test("rampart plan: endless and oversized input stop with a clear error (--max-file-size raises the limit)", async () => {
  const zero = await rampart(["plan", "/dev/zero", "--netns", "rp-never-created"]);
  assert.equal(zero.code, EXIT_CODES.INVALID_POLICY);
  assert.match(
    zero.err,
    /^rampart plan: \/dev\/zero:1:1: File larger than 64 MiB: .*--max-file-size/,
  );
  await withFile(rulesEnding("action: drop") + "#".repeat(2048) + "\n", async (file) => {
    const small = await rampart(["export", file, "--max-file-size", "1K"]);
    assert.equal(small.code, EXIT_CODES.INVALID_POLICY);
    assert.match(small.err, /File larger than 1 KiB|File larger than 1024 bytes/);
    const ok = await rampart(["export", file, "--max-file-size", "1M"]);
    assert.equal(ok.code, 0, ok.err);
  });
  assert.equal(parseCliArgs(["plan", "a.yaml", "--max-file-size", "2G"]).maxFileBytes, 2 ** 31);
  assert.throws(() => parseCliArgs(["plan", "a.yaml", "--max-file-size", "lots"]), UsageError);
});

kernelTest(
  "rampart plan finds what apply would refuse: a jump to a chain the kernel lacks, a missing IP set",
  async (netns) => {
    const ns = ["--netns", netns, "--backend", "nft"];
    await withFile(rulesEnding("jump: MISSING"), async (file) => {
      const plan = await rampart(["plan", file, ...ns]);
      assert.equal(plan.code, EXIT_CODES.INVALID_POLICY, plan.err);
      assert.match(
        plan.err,
        /rules\.yaml:13:17: Invalid jump "MISSING": the filter table \(IPv4\) has no chain of that name/,
      );
      const apply = await rampart(["apply", file, ...ns, "--yes"]);
      assert.equal(apply.code, EXIT_CODES.INVALID_POLICY, apply.err);
      assert.doesNotMatch(await saveFilter(netns), /rp-in/, "nothing was written");
      // Once another program has created the chain, the same file applies.
      await nsExec(netns, "iptables-nft", ["-N", "MISSING"]);
      const again = await rampart(["apply", file, ...ns, "--yes"]);
      assert.equal(again.code, 0, again.err);
      assert.match(await saveFilter(netns), /-A rp-in .*-j MISSING/);
    });
    await withFile(
      rulesEnding("sourceIpSet: rp-no-such-set\n          action: drop"),
      async (file) => {
        const plan = await rampart(["plan", file, ...ns, "--json"]);
        assert.equal(plan.code, EXIT_CODES.INVALID_POLICY, plan.out);
        const doc = JSON.parse(plan.out);
        assert.deepEqual([doc.error.line, doc.error.column, doc.error.field], [
          13,
          11,
          "tables.filter.chains.rp-in[1]",
        ]);
        assert.match(
          doc.error.message,
          /IP set "rp-no-such-set" used by rule 2 of chain "rp-in" does not exist/,
        );
        await nsExec(netns, "ipset", ["create", "rp-no-such-set", "hash:ip"]);
        try {
          const ok = await rampart(["plan", file, ...ns]);
          assert.equal(ok.code, 0, ok.err);
          assert.match(ok.out, /--match-set rp-no-such-set src/);
        } finally {
          await nsExec(netns, "ipset", ["destroy", "rp-no-such-set"]).catch(() => "");
        }
      },
    );
    // A rule that cannot be placed, and a loop of jumps, are located the same way.
    const placed = rulesEnding("dscp: 46");
    const loop = rulesEnding("jump: rp-b", "      rp-b:\n        - jump: rp-in\n");
    for (
      const [text, message] of [
        [placed, /rules\.yaml:13:11: Cannot place rule 2 of chain "rp-in" \(filter, IPv4\)/],
        [loop, /rules\.yaml:1[35]:1[57]: Chains jump to each other in a loop/],
      ] as const
    ) {
      await withFile(text, async (file) => {
        const plan = await rampart(["plan", file, ...ns]);
        assert.equal(plan.code, EXIT_CODES.INVALID_POLICY, plan.err);
        assert.match(plan.err, message);
      });
    }
  },
);
