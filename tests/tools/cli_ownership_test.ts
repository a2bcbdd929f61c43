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
