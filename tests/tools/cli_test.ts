import assert from "assert";
import {
  type CliEnvironment,
  COMMAND_NAMES,
  EXIT_CODES,
  mergePolicies,
  parseCliArgs,
  parseDuration,
  runCli,
  UsageError,
} from "../../cli.ts";
import {
  Accept,
  diffTable,
  Drop,
  emptyPolicy,
  Jump,
  Match,
  parseKernelTable,
  renderDiff,
  tablePolicy,
} from "../../mod.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";

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
  ];
  for (const [argv, message] of bad) {
    assert.throws(() => parseCliArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${argv.join(" ")}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
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
    assert.match(env.out, /Exit codes: 0 ok, 1 failure, 2 usage/, command);
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

Deno.test("runCli: apply and remove refuse without a terminal or --yes (exit 2)", async () => {
  const env = fakeEnv();
  assert.equal(await runCli(["apply", "r.yaml", "--netns", "x"], env), EXIT_CODES.USAGE);
  assert.match(env.err, /no terminal to ask on; pass --yes/);
  const remove = fakeEnv();
  assert.equal(await runCli(["remove"], remove), EXIT_CODES.USAGE);
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

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function cliCommand(args: string[], options: { stdin?: "piped" | "null" } = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, CLI, ...args],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await cliCommand(args).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

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
  await withRules(async (file) => {
    await nsExec(netns, "iptables-nft", ["-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP"]);
    const foreign = "-A INPUT -s 192.0.2.1/32 -j DROP";
    const ns = ["--netns", netns, "--backend", "nft"];

    const plan = await cli(["plan", file, ...ns]);
    assert.equal(plan.code, 0, plan.err);
    assert.match(plan.out, /^# filter \(IPv4\)\n\*filter\n/);
    assert.match(plan.out, /-m comment --comment "rampart:[\w-]{16}" -m comment --comment "ssh"/);

    const planJson = await cli(["plan", file, ...ns, "--json"]);
    const doc = JSON.parse(planJson.out);
    assert.equal(doc.ok, true);
    assert.equal(doc.changed, true);
    assert.ok(
      doc.tables.some((t: { table: string; script: string }) =>
        t.table === "filter" && t.script !== ""
      ),
    );

    const diff = await cli(["diff", file, ...ns]);
    assert.equal(diff.code, 0, diff.err);
    assert.match(diff.out, /chain rp-input \(new\)/);
    assert.match(diff.out, /· -A INPUT -s 192\.0\.2\.1\/32 -j DROP/);

    const refused = await cli(["apply", file, ...ns]);
    assert.equal(refused.code, EXIT_CODES.USAGE);
    assert.equal(ruleLines(await saveFilter(netns)).some((l) => l.includes("rampart:")), false);

    const apply = await cli(["apply", file, ...ns, "--yes"]);
    assert.equal(apply.code, 0, apply.err);
    assert.match(apply.err, /\[\d+\/\d+\] filter IPv4: \d+ lines written/);
    assert.match(apply.out, /Applied to network namespace/);
    const applied = await saveFilter(netns);
    assert.match(applied, /-A rp-input -p tcp .*--dports 22 -j ACCEPT/);

    const again = await cli(["plan", file, ...ns]);
    assert.match(again.out, /Nothing to do/);
    const inSync = await cli(["diff", file, ...ns]);
    assert.match(inSync.out, /filter \(IPv4\): in sync/);

    const show = await cli(["show", ...ns, "-4"]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /chain rp-input \(2 rules\)/);
    const showJson = JSON.parse((await cli(["show", ...ns, "-4", "--json"])).out);
    assert.equal(showJson.source, "kernel");
    const desired = await cli(["show", file]);
    assert.match(desired.out, /filter \(IPv4\)\n {2}INPUT insertions \(1 rule\)/);

    const remove = await cli(["remove", ...ns, "--yes", "-4"]);
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
        const ns = ["--netns", netns, "--backend", backend, "--color", "never"];
        const apply = await cli(["apply", file, ...ns, "--yes"]);
        assert.equal(apply.code, 0, apply.err);
        const saved = await nsExec(netns, `iptables-${backend}-save`, []);
        assert.match(saved, /-j MASQUERADE --random-fully/, "the host has the features");
        assert.match(saved, /--nflog-size 64/);
        assert.match((await cli(["plan", file, ...ns])).out, /Nothing to do/);
        const diff = await cli(["diff", file, ...ns]);
        assert.equal(diff.code, 0, diff.err);
        assert.match(diff.out, /nat \(IPv4\): in sync/);
        assert.match(diff.out, /filter \(IPv4\): in sync/);
        assert.doesNotMatch(diff.out, /^ *[-+] /m);
        const ids = (text: string) =>
          [...text.matchAll(/rampart:([\w-]{16})/g)].map((m) => m[1]).sort();
        const shown = await cli(["show", file, "--netns", netns, "--color", "never"]);
        assert.equal(shown.code, 0, shown.err);
        assert.match(shown.out, /--jump MASQUERADE --random-fully/);
        assert.deepEqual(ids(shown.out), ids(saved), "show FILES prints the IDs the kernel has");
        const remove = await cli(["remove", ...ns, "--yes", "-4"]);
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
      const child = cliCommand([
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
      const log = await Deno.readTextFile(`${dir}/pending-netns-${netns}/watchdog.log`);
      assert.match(log, /reverted: the previous rules are back/);
    });
  },
);

kernelTest(
  "rampart apply --confirm-timeout, confirmed from another session with rampart confirm",
  async (netns) => {
    await withRules(async (file, dir) => {
      const child = cliCommand([
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
      const confirm = await cli(["confirm", "--netns", netns, "--state-dir", dir]);
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
      const none = await cli(["confirm", "--netns", netns, "--state-dir", dir]);
      assert.equal(none.code, EXIT_CODES.FAILURE);
    });
  },
);

kernelTest(
  "rampart watch re-applies a clobbered rule and stops cleanly on SIGTERM",
  async (netns) => {
    await withRules(async (file) => {
      const child = cliCommand(["watch", file, "--netns", netns, "--backend", "nft"]).spawn();
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
