import assert from "assert";
import { type CliEnvironment, readIntentRecord, runCli, targetFiles } from "../../cli.ts";
import { ReadReuse } from "../../src/cli/read_reuse.ts";
import type { CommandRunner } from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";

Deno.test("ReadReuse: a repeated save is served until a command that may write runs", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  const reads = new ReadReuse(fake.runner);
  const saves = () => fake.calls.filter((c) => c.cmd.endsWith("-save")).length;
  const first = await reads.run("iptables-nft-save", ["-t", "filter"]);
  assert.equal((await reads.run("iptables-nft-save", ["-t", "filter"])).stdout, first.stdout);
  assert.equal(saves(), 1);
  // Reads of something else, and other read-only commands, keep it.
  await reads.run("iptables-nft-save", ["-t", "nat"]);
  await reads.run("iptables-nft", ["--version"]);
  await reads.run("ipset", ["list", "-n"]);
  await reads.run("iptables-nft-save", ["-t", "filter"]);
  assert.equal(saves(), 2);
  // A restore forgets every read: the next save reads the kernel.
  const script = "*filter\n:rp-x - [0:0]\n-A rp-x -j DROP\nCOMMIT\n";
  assert.equal((await reads.run("iptables-nft-restore", ["--noflush"], { stdin: script })).code, 0);
  const after = await reads.run("iptables-nft-save", ["-t", "filter"]);
  assert.match(after.stdout, /-A rp-x -j DROP/);
  assert.equal(saves(), 3);
  reads.forget();
  await reads.run("iptables-nft-save", ["-t", "filter"]);
  assert.equal(saves(), 4);
});

Deno.test("ReadReuse: a save that a write overlapped is not kept", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  const slow: CommandRunner = {
    async run(cmd, args, opts) {
      const r = await fake.runner.run(cmd, args, opts);
      if (cmd.endsWith("-save")) await gate;
      return r;
    },
  };
  const reads = new ReadReuse(slow);
  const save = reads.run("iptables-nft-save", ["-t", "filter"]);
  await reads.run("iptables-nft-restore", ["--noflush"], { stdin: "*filter\nCOMMIT\n" });
  release();
  await save;
  await reads.run("iptables-nft-save", ["-t", "filter"]);
  assert.equal(fake.calls.filter((c) => c.cmd.endsWith("-save")).length, 2);
});

Deno.test("rampart apply and diff read each table once; the record and snapshot are on disk before the first write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-reads-test-" });
  try {
    const fake = new FakeDataplane({ backend: "nft" });
    const rules = (port: number) =>
      `family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n` +
      `          - jump: rp-in\n    chains:\n      rp-in:\n        - {protocol: tcp, destPorts: [${port}], action: accept}\n`;
    await Deno.writeTextFile(`${dir}/a.yaml`, rules(22));
    await Deno.writeTextFile(`${dir}/b.yaml`, rules(2222));
    const files = targetFiles(`${dir}/state`, "lab");
    const seen: string[] = [];
    // At each restore: what the intent record on disk holds.
    const runner: CommandRunner = {
      streamsStdin: true,
      async run(cmd, args, opts) {
        if (cmd.endsWith("-restore")) {
          const record = await readIntentRecord(files.intent);
          const filter = record?.intent?.snapshot?.tables.find((t) =>
            t.table === "filter" && t.ipVersion === 4
          );
          seen.push(JSON.stringify(filter?.chains ?? null));
        }
        return await fake.runner.run(cmd, args, opts);
      },
    };
    const env: CliEnvironment = {
      stdout: () => {},
      stderr: () => {},
      interactive: false,
      stdoutIsTerminal: false,
      ask: () => Promise.resolve(undefined),
      runnerFor: () => runner,
      env: () => undefined,
      uid: 0,
    };
    const common = ["--yes", "--backend", "nft", "--state-dir", `${dir}/state`, "--netns", "lab"];
    assert.equal(await runCli(["apply", `${dir}/a.yaml`, ...common], env), 0);
    fake.calls.length = 0;
    seen.length = 0;
    assert.equal(await runCli(["apply", `${dir}/b.yaml`, ...common], env), 0);
    // One read of the four tables (plan: one save without -t, shared by the
    // tables), none for the snapshot or the apply.
    const saves = fake.calls.filter((c) => c.cmd === "iptables-nft-save").map((c) => c.args);
    assert.deepEqual(saves, [[]]);
    // The record was durable before the write, with the rules from before it.
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /rp-in/);
    assert.match(seen[0]!, /--dports 22 -j ACCEPT/);
    assert.doesNotMatch(seen[0]!, /2222/);
    assert.equal(await readIntentRecord(files.intent), undefined);
    // diff: the diff is made from the plan's read, not from a second one.
    fake.calls.length = 0;
    assert.equal(await runCli(["diff", `${dir}/a.yaml`, ...common.slice(1)], env), 0);
    const diffSaves = fake.calls.filter((c) => c.cmd === "iptables-nft-save").map((c) => c.args);
    assert.deepEqual(diffSaves, [[]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
