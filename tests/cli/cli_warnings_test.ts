/**
 * How `rampart plan`/`diff`/`apply` report the engine's warnings: on stderr,
 * located in the policy file (`file:line:col: warning: …`), and in `--json`.
 * In process, on the fake dataplane (the kernel test with the real binaries is
 * tests/kernel/docker_layout_test.ts).
 */
import assert from "assert";
import { type CliEnvironment, EXIT_CODES, runCli } from "../../cli.ts";
import { FakeDataplane } from "../../testing.ts";

const POLICY = `family: ipv4
tables:
  nat:
    kernelChains:
      OUTPUT:
        insert:
          - jump: rp-local
      POSTROUTING:
        append:
          - sourceNet: 172.17.0.0/16
            notOutInterface: docker0
            action: masq
    chains:
      rp-local:
        - action: accept
        - inInterface: docker0
          action: return
  filter:
    kernelChains:
      INPUT:
        append:
          - protocol: icmpv6
            action: accept
`;

function env(fake: FakeDataplane): CliEnvironment & { out: string; err: string } {
  const e = {
    out: "",
    err: "",
    stdout(t: string) {
      e.out += t;
    },
    stderr(t: string) {
      e.err += t;
    },
    interactive: false,
    stdoutIsTerminal: false,
    ask: () => Promise.resolve(undefined),
    runnerFor: () => fake.runner,
    env: () => undefined,
    uid: 0,
  };
  return e;
}

async function withPolicy(fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rp-cli-warn-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, POLICY);
    await fn(`${dir}/rules.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli: plan, diff and apply print the warnings with file:line:col and put them in --json", async () => {
  await withPolicy(async (file) => {
    const fake = new FakeDataplane();
    const args = [file, "--backend", "nft"];
    const lines = [
      `${file}:16:11: warning: Rule 2 of chain "rp-local" (nat, IPv4) never matches: ` +
      `inInterface("docker0") matches no packet in OUTPUT, where packets have no incoming ` +
      `interface and the chain is reached only from there`,
      `${file}:22:13: warning: Rule 1 of the append list of chain "INPUT" (filter, IPv4) never ` +
      `matches: protocol "icmpv6" is IPv6's ICMP (protocol 58), which IPv4 packets do not ` +
      `carry; use "icmp" in an IPv4 table`,
    ];
    for (const command of ["plan", "diff"]) {
      const e = env(fake);
      assert.equal(await runCli([command, ...args], e), EXIT_CODES.OK, e.err);
      assert.deepEqual(e.err.split("\n").filter((l) => l.includes("warning:")), lines, command);
      const j = env(fake);
      assert.equal(await runCli([command, ...args, "--json"], j), EXIT_CODES.OK, j.err);
      const doc = JSON.parse(j.out);
      assert.deepEqual(
        doc.warnings.map((w: { chain: string; code: string; source: { line: number } }) => [
          w.chain,
          w.code,
          w.source.line,
        ]),
        [["rp-local", "never-matches", 16], ["INPUT", "never-matches", 22]],
      );
      assert.equal(doc.warnings[0].source.field, "tables.nat.chains.rp-local[1]");
    }
    const a = env(fake);
    assert.equal(await runCli(["apply", ...args, "--yes", "--json"], a), EXIT_CODES.OK, a.err);
    const applied = JSON.parse(a.out);
    assert.equal(applied.applied, true);
    assert.equal(applied.warnings.length, 2);
    assert.equal(a.err.split("\n").filter((l) => l.includes("warning:")).length, 2);
    // Written as iptables writes it.
    assert.match(fake.rules("nat", "rp-local").at(-1)!, /^-A rp-local -i docker0 .*-j RETURN$/);
    // In sync: still reported.
    const again = env(fake);
    assert.equal(await runCli(["apply", ...args, "--yes", "--json"], again), EXIT_CODES.OK);
    const doc = JSON.parse(again.out);
    assert.equal(doc.applied, false);
    assert.equal(doc.warnings.length, 2);
  });
});

Deno.test("cli: watch logs each warning once, when it appears", async () => {
  await withPolicy(async (file) => {
    const fake = new FakeDataplane();
    const e = env(fake);
    const stop = new AbortController();
    e.signal = stop.signal;
    const running = runCli(["watch", file, "--backend", "nft", "--json"], e);
    const saves = () => fake.calls.filter((c) => c.cmd.endsWith("save")).length;
    const events = () =>
      e.out.split("\n").filter((l) => l !== "").map((l) =>
        JSON.parse(l) as Record<string, unknown>
      );
    // Until the warnings are out, then until a later apply (a drift check) read the kernel again.
    while (!events().some((x) => x.event === "warning")) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const after = saves();
    while (saves() <= after) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    assert.equal(await running, EXIT_CODES.OK);
    const warnings = events().filter((x) => x.event === "warning");
    assert.deepEqual(
      warnings.map((x) => (x.warning as { chain: string }).chain),
      ["rp-local", "INPUT"],
    );
    assert.deepEqual((warnings[0]!.warning as { source: { line: number } }).source.line, 16);
  });
});
