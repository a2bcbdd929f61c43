/**
 * The CLI on ownership, policies and backends, in-process on the fake
 * dataplane (`runnerFor` returns the fake's runner): prefixes that are usage
 * errors, chain policies put back, and warnings on stderr and in `--json`.
 * The same cases run as whole processes on the kernel in
 * `tests/kernel/ownership_test.ts`.
 */
import assert from "assert";
import { type CliEnvironment, EXIT_CODES, parseCliArgs, runCli, UsageError } from "../../cli.ts";
import { FakeDataplane } from "../../testing.ts";
import { dropInputPolicy } from "../fixtures/neighbours.ts";

/** A CLI environment whose every command runs against `fake`. */
function fakeCli(
  fake: FakeDataplane,
  options: { env?: Record<string, string> } = {},
): CliEnvironment & { out: string; err: string } {
  const env = {
    out: "",
    err: "",
    stdout(t: string) {
      env.out += t;
    },
    stderr(t: string) {
      env.err += t;
    },
    interactive: false,
    stdoutIsTerminal: false,
    ask: () => Promise.resolve(undefined),
    runnerFor: () => fake.runner,
    env: (name: string) => options.env?.[name],
    uid: 0,
  };
  return env;
}

async function withFile<T>(text: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, text);
    return await fn(`${dir}/rules.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - action: accept
`;

Deno.test("cli: prefixes that claim built-in chains or targets are usage errors", () => {
  const bad: [string[], RegExp][] = [
    [
      ["remove", "--chain-prefix", "INPUT"],
      /Invalid --chain-prefix "INPUT": it is the built-in chain name INPUT/,
    ],
    [
      ["remove", "--chain-prefix", "D"],
      /Invalid --chain-prefix "D": it is the start of the target name DROP/,
    ],
    [["plan", "r.yaml", "--chain-prefix", "rp-", "--chain-prefix", "A"], /"A".*ACCEPT/],
    [["plan", "r.yaml", "--chain-prefix", "R"], /RETURN/],
    [["plan", "r.yaml", "--chain-prefix=-x"], /not starting with '-'/],
    [["remove", "--hash-prefix", "rp-"], /Invalid --hash-prefix "rp-": expected it to end with/],
    [["remove", "--hash-prefix", ""], /Invalid --hash-prefix "": expected 1 to 32/],
    [["remove", "--hash-prefix", "a b:"], /Invalid --hash-prefix/],
  ];
  for (const [argv, message] of bad) {
    assert.throws(() => parseCliArgs(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${argv.join(" ")}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("cli: remove --chain-prefix D exits 2 with a message, and touches nothing", async () => {
  const fake = new FakeDataplane();
  await fake.load(
    "*filter\n:DOCKER - [0:0]\n-A FORWARD -o docker0 -j DOCKER\n-A FORWARD -j DROP\nCOMMIT\n",
  );
  const before = fake.dump("filter", { counters: true });
  for (const prefix of ["D", "DOCKER", "INPUT"]) {
    const env = fakeCli(fake);
    assert.equal(
      await runCli(["remove", "--yes", "--chain-prefix", prefix, "--ipv4"], env),
      EXIT_CODES.USAGE,
    );
    assert.match(env.err, new RegExp(`prefix "${prefix}"`));
    assert.match(env.err, /Run 'rampart remove --help' for usage/);
  }
  const json = fakeCli(fake);
  assert.equal(
    await runCli(["remove", "--yes", "--chain-prefix", "DOCKER", "--json", "--ipv4"], json),
    EXIT_CODES.USAGE,
  );
  const doc = JSON.parse(json.out);
  assert.equal(doc.ok, false);
  assert.equal(doc.exitCode, 2);
  assert.deepEqual(
    { name: doc.error.name, prefix: doc.error.prefix, chain: doc.error.chain },
    { name: "PrefixError", prefix: "DOCKER", chain: "DOCKER" },
  );
  assert.equal(fake.calls.filter((c) => c.cmd.includes("restore")).length, 0);
  assert.equal(fake.dump("filter", { counters: true }), before);
});

Deno.test("cli: plan with a prefix matching another program's chain exits 2", async () => {
  const fake = new FakeDataplane();
  await fake.load("*filter\n:rp-docker - [0:0]\n-A rp-docker -j RETURN\nCOMMIT\n");
  await withFile(RULES, async (file) => {
    const env = fakeCli(fake);
    assert.equal(await runCli(["plan", file, "--backend", "nft"], env), EXIT_CODES.USAGE);
    assert.match(env.err, /matches the chain rp-docker of table filter \(IPv4, nft\)/);
  });
});

const DROP_INPUT = dropInputPolicy({ port: 22, family: "ipv4" });

function inputPolicy(fake: FakeDataplane): string {
  return fake.dump("filter").split("\n").find((l) => l.startsWith(":INPUT "))!.split(" ")[1]!;
}

Deno.test("cli: remove puts back the policy apply changed (no lock-out)", async () => {
  const fake = new FakeDataplane();
  await withFile(DROP_INPUT, async (file) => {
    const apply = fakeCli(fake);
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], apply), 0);
    assert.equal(inputPolicy(fake), "DROP");
    const remove = fakeCli(fake);
    assert.equal(await runCli(["remove", "--yes", "--backend", "nft"], remove), 0, remove.err);
    assert.equal(inputPolicy(fake), "ACCEPT");
    assert.deepEqual(fake.rules("filter", "INPUT"), []);
    assert.deepEqual(fake.chains("filter"), ["INPUT", "FORWARD", "OUTPUT"]);
  });
});

Deno.test("cli: a policy line deleted from the file shows in diff and plan, and apply puts it back", async () => {
  const fake = new FakeDataplane();
  await withFile(DROP_INPUT, async (file) => {
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], fakeCli(fake)), 0);
    await Deno.writeTextFile(file, DROP_INPUT.replace("        policy: DROP\n", ""));
    const diff = fakeCli(fake);
    assert.equal(await runCli(["diff", file, "--backend", "nft", "--color", "never"], diff), 0);
    assert.match(
      diff.out,
      /chain INPUT\n {4}~ policy DROP → ACCEPT \(put back: its policy before Rampart changed it\)/,
    );
    assert.match(diff.out, /chain rp-policy \(deleted\)/);
    const plan = fakeCli(fake);
    assert.equal(await runCli(["plan", file, "--backend", "nft", "--color", "never"], plan), 0);
    assert.match(plan.out, /^:INPUT ACCEPT \[0:0\]$/m);
    assert.doesNotMatch(plan.out, /Nothing to do/);
    const apply = fakeCli(fake);
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], apply), 0);
    assert.equal(inputPolicy(fake), "ACCEPT");
    const again = fakeCli(fake);
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], again), 0);
    assert.match(again.out, /Nothing to do/);
  });
});

Deno.test("cli: a DROP policy on this host's filter INPUT is warned about, with --confirm-timeout", async () => {
  await withFile(DROP_INPUT, async (file) => {
    const host = fakeCli(new FakeDataplane());
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], host), 0);
    assert.match(
      host.err,
      /warning: this sets the policy of filter INPUT \(IPv4\) to DROP on THIS HOST/,
    );
    assert.match(host.err, /Apply with --confirm-timeout/);
    const ns = fakeCli(new FakeDataplane());
    assert.equal(
      await runCli(["apply", file, "--yes", "--backend", "nft", "--netns", "lab"], ns),
      0,
    );
    assert.doesNotMatch(ns.err, /warning/);
    const json = fakeCli(new FakeDataplane());
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft", "--json"], json), 0);
    const doc = JSON.parse(json.out);
    assert.deepEqual(doc.warnings[0].lockout, [{ chain: "INPUT", ipVersion: 4 }]);
  });
  // Over SSH, with rules that accept nothing in INPUT: it says the connection is cut.
  const nothing = DROP_INPUT.replace("          action: accept\n", "          action: drop\n");
  await withFile(nothing, async (file) => {
    const env = fakeCli(new FakeDataplane(), {
      env: { SSH_CONNECTION: "192.0.2.7 50000 192.0.2.1 22" },
    });
    assert.equal(await runCli(["apply", file, "--yes", "--backend", "nft"], env), 0);
    assert.match(env.err, /You are connected over SSH from 192\.0\.2\.7 to 192\.0\.2\.1 port 22\./);
    assert.match(env.err, /applying this cuts that connection/);
  });
});

Deno.test("cli: rules in the other backend are warned about on stderr and in --json", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  await fake.load("*filter\n:ferm-in - [0:0]\n-A INPUT -j ferm-in\nCOMMIT\n", {
    backend: "legacy",
  });
  await withFile(RULES, async (file) => {
    const env = fakeCli(fake);
    assert.equal(await runCli(["plan", file, "--backend", "nft"], env), 0);
    assert.match(
      env.err,
      /^warning: filter IPv4: iptables-legacy also holds 1 rule \(none of them Rampart's\), chain ferm-in in this table/m,
    );
    assert.equal(env.err.match(/iptables-legacy also holds/g)!.length, 1, "once per table/family");
    const json = fakeCli(fake);
    assert.equal(await runCli(["plan", file, "--backend", "nft", "--json"], json), 0);
    const doc = JSON.parse(json.out);
    assert.equal(doc.ok, true);
    assert.deepEqual(
      doc.warnings.map((w: Record<string, unknown>) => [w.table, w.ipVersion, w.otherBackend]),
      [["filter", 4, "legacy"]],
    );
  });
});
