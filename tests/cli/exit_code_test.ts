/**
 * `plan` and `diff` with `--exit-code`: 0 in sync, 5 with changes pending,
 * errors keep 1, 2 and 4; `--json` says the same.
 */
import assert from "assert";
import { EXIT_CODES, parseCliArgs, UsageError } from "../../cli.ts";
import type { CommandResult, RunOptions } from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { kernelTest, nsExec, rampart } from "../kernel/netns.ts";
import { runOn } from "./fake_env.ts";

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - {protocol: tcp, destPorts: [22], action: accept, comment: ssh}
`;

async function withFiles(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rp-exit-code-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await Deno.writeTextFile(
      `${dir}/bad.yaml`,
      "tables:\n  filter:\n    chains:\n      rp-in: [{destPorts: [x]}]\n",
    );
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseCliArgs: --exit-code for plan and diff only", () => {
  assert.equal(parseCliArgs(["plan", "r.yaml", "--exit-code"]).exitCode, true);
  assert.equal(parseCliArgs(["diff", "r.yaml", "--exit-code"]).exitCode, true);
  assert.equal(parseCliArgs(["plan", "r.yaml"]).exitCode, false);
  for (const command of ["apply", "show", "export", "watch"]) {
    assert.throws(
      () => parseCliArgs([command, "r.yaml", "--exit-code"]),
      (e: unknown) => e instanceof UsageError && /only valid for plan and diff/.test(e.message),
    );
  }
  assert.equal(EXIT_CODES.CHANGES_PENDING, 5);
});

Deno.test("plan/diff --exit-code on the fake: 5 pending, 0 in sync, JSON inSync and exitCode", async () => {
  await withFiles(async (dir) => {
    const fake = new FakeDataplane({ backend: "nft" });
    const common = ["--backend", "nft", "--state-dir", `${dir}/state`];
    const file = `${dir}/rules.yaml`;
    for (const command of ["plan", "diff"]) {
      // Without the flag: 0 either way (as before).
      assert.equal((await runOn(fake.runner, [command, file, ...common])).code, 0);
      const pending = await runOn(fake.runner, [command, file, ...common, "--exit-code"]);
      assert.equal(pending.code, EXIT_CODES.CHANGES_PENDING, pending.err);
      assert.notEqual(pending.out, "");
      const json = await runOn(fake.runner, [command, file, ...common, "--exit-code", "--json"]);
      assert.equal(json.code, 5);
      const doc = JSON.parse(json.out);
      assert.equal(doc.ok, true);
      assert.equal(doc.changed, true);
      assert.equal(doc.inSync, false);
      assert.equal(doc.exitCode, 5);
      // Without --exit-code the document still tells, and the exit code is 0.
      const plain = JSON.parse(
        (await runOn(fake.runner, [command, file, ...common, "--json"])).out,
      );
      assert.equal(plain.inSync, false);
      assert.equal(plain.exitCode, 0);
    }
    const apply = await runOn(fake.runner, ["apply", file, ...common, "--yes"]);
    assert.equal(apply.code, 0, apply.err);
    for (const command of ["plan", "diff"]) {
      const synced = await runOn(fake.runner, [command, file, ...common, "--exit-code"]);
      assert.equal(synced.code, 0, synced.err);
      const doc = JSON.parse(
        (await runOn(fake.runner, [command, file, ...common, "--exit-code", "--json"])).out,
      );
      assert.equal(doc.inSync, true);
      assert.equal(doc.changed, false);
      assert.equal(doc.exitCode, 0);
    }
  });
});

Deno.test("plan/diff --exit-code: errors keep their codes (4 invalid file, 2 usage, 1 failure)", async () => {
  await withFiles(async (dir) => {
    const fake = new FakeDataplane({ backend: "nft" });
    const common = ["--backend", "nft", "--state-dir", `${dir}/state`, "--exit-code"];
    for (const command of ["plan", "diff"]) {
      const bad = await runOn(fake.runner, [command, `${dir}/bad.yaml`, ...common, "--json"]);
      assert.equal(bad.code, EXIT_CODES.INVALID_POLICY);
      assert.equal(JSON.parse(bad.out).exitCode, 4);
      const usage = await runOn(fake.runner, [
        command,
        `${dir}/rules.yaml`,
        ...common,
        "--table",
        "x",
      ]);
      assert.equal(usage.code, EXIT_CODES.USAGE);
      const missing = await runOn(fake.runner, [command, `${dir}/none.yaml`, ...common]);
      assert.equal(missing.code, EXIT_CODES.FAILURE);
      // The kernel cannot be read: a failure, not "changes pending".
      const broken = {
        run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
          if (cmd.includes("save")) {
            return Promise.resolve({ code: 4, stdout: "", stderr: "no kernel\n" });
          }
          return fake.runner.run(cmd, args, opts);
        },
      };
      const failed = await runOn(broken, [command, `${dir}/rules.yaml`, ...common, "--json"]);
      assert.equal(failed.code, EXIT_CODES.FAILURE, failed.out + failed.err);
      assert.equal(JSON.parse(failed.out).exitCode, 1);
    }
  });
});

kernelTest(
  "rampart plan/diff --exit-code as a CI gate: 5 before apply, 0 after, 5 after drift",
  async (netns) => {
    await withFiles(async (dir) => {
      const file = `${dir}/rules.yaml`;
      const ns = [
        "--netns",
        netns,
        "--backend",
        "nft",
        "--state-dir",
        `${dir}/state`,
        "--exit-code",
      ];
      for (const command of ["plan", "diff"]) {
        const r = await rampart([command, file, ...ns]);
        assert.equal(r.code, 5, r.err);
      }
      const apply = await rampart([
        "apply",
        file,
        ...ns.filter((a) => a !== "--exit-code"),
        "--yes",
      ]);
      assert.equal(apply.code, 0, apply.err);
      for (const command of ["plan", "diff"]) {
        const r = await rampart([command, file, ...ns, "--json"]);
        assert.equal(r.code, 0, r.err);
        assert.equal(JSON.parse(r.out).inSync, true);
      }
      // Another program deletes our jump: the gate sees the drift.
      const save = await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
      const jump = save.split("\n").find((l) => l.startsWith("-A INPUT ") && l.includes("rp-in"));
      assert.ok(jump !== undefined, save);
      await nsExec(netns, "iptables-nft", ["-D", "INPUT", "1"]);
      for (const command of ["plan", "diff"]) {
        const r = await rampart([command, file, ...ns, "--json"]);
        assert.equal(r.code, 5, r.err);
        const doc = JSON.parse(r.out);
        assert.equal(doc.inSync, false);
        assert.equal(doc.exitCode, 5);
      }
      const bad = await rampart(["plan", `${dir}/bad.yaml`, ...ns]);
      assert.equal(bad.code, 4, bad.err);
    });
  },
);
