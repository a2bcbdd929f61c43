/**
 * `rampart adopt` and its library functions on the fake dataplane: the exact
 * transaction (flushes, the engine's rules with the saved counters, deletes)
 * and its undo, both backends; the whole command (policy file written,
 * `plan` of it in sync, other chains untouched); and every refusal (a rule
 * the importer cannot express, jumps across the edge of the adopted chains,
 * a table Rampart already manages, an unknown chain), which writes nothing.
 */
import assert from "assert";
import { runCli } from "../../cli.ts";
import {
  adoptionPolicy,
  adoptionTransactions,
  ChainNameError,
  parseAdoptUndo,
  restoreAdoptScript,
  restoreAdoptUndo,
} from "../../import.ts";
import { FakeDataplane } from "../../testing.ts";
import { recordingEnv } from "../cli/fake_env.ts";

const SAVE = `*filter
:INPUT DROP [10:600]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [20:1200]
:ssh - [0:0]
:other - [0:0]
[7:420] -A INPUT -i lo -j ACCEPT
[5:300] -A INPUT -p tcp -j ssh
[1:60] -A INPUT -j other
[3:180] -A OUTPUT -o eth0 -j ACCEPT
[2:120] -A ssh -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT
[4:240] -A other -s 192.0.2.1/32 -j DROP
COMMIT
`;

const ID = '"rampart:[\\w-]{16}"';

function loaded(backend: "nft" | "legacy", text = SAVE): Promise<FakeDataplane> {
  const fake = new FakeDataplane({ backend });
  return fake.load(text, { flush: true, counters: true }).then(() => fake);
}

Deno.test("adoptionTransactions: the engine's rules with the saved counters, in one transaction (nft)", async () => {
  const sources = [{ ipVersion: 4 as const, backend: "nft" as const, text: SAVE }];
  const adoption = adoptionPolicy(sources, { chains: ["INPUT", "ssh", "other"] });
  assert.deepEqual(adoption.problems, []);
  assert.deepEqual(
    adoption.adopted.map((a) => `${a.saved}>${a.name}:${a.rules}`),
    ["INPUT>INPUT:3", "ssh>rp-ssh:1", "other>rp-other:1"],
  );
  const [t, ...rest] = await adoptionTransactions(sources, adoption.policy, {
    adopted: adoption.adopted,
  });
  assert.equal(rest.length, 0);
  // The engine's lines (its long options), each with the saved rule's counters.
  assert.equal(
    t!.script.replace(/"rampart:[\w-]{16}"/g, "ID"),
    `*filter
:rp-other - [0:0]
:rp-ssh - [0:0]
:INPUT DROP [10:600]
-F INPUT
-F ssh
-F other
[4:240] -A rp-other -m comment --comment ID --source 192.0.2.1/32 --jump DROP
[2:120] -A rp-ssh -m comment --comment ID --source 10.0.0.0/8 -p tcp -m tcp --dport 22 --jump ACCEPT
[7:420] -I INPUT -m comment --comment ID --in-interface lo --jump ACCEPT
[5:300] -A INPUT -m comment --comment ID -p tcp --jump rp-ssh
[1:60] -A INPUT -m comment --comment ID --jump rp-other
-X ssh
-X other
COMMIT
`,
  );
  // The undo: the saved chains back with their counters, ours deleted.
  assert.equal(
    t!.undo,
    `*filter
:ssh - [0:0]
:other - [0:0]
:rp-other - [0:0]
:rp-ssh - [0:0]
:INPUT DROP [10:600]
-F INPUT
[7:420] -A INPUT -i lo -j ACCEPT
[5:300] -A INPUT -p tcp -j ssh
[1:60] -A INPUT -j other
[2:120] -A ssh -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT
[4:240] -A other -s 192.0.2.1/32 -j DROP
-X rp-other
-X rp-ssh
COMMIT
`,
  );
});

for (const backend of ["nft", "legacy"] as const) {
  Deno.test(`adoption on the fake (${backend}): applied, counters carried, undone exactly`, async () => {
    const fake = await loaded(backend);
    const before = fake.dump("filter", { counters: true });
    const sources = [{ ipVersion: 4 as const, backend, text: before }];
    const adoption = adoptionPolicy(sources, { chains: ["INPUT", "ssh", "other"] });
    const [t] = await adoptionTransactions(sources, adoption.policy, {
      adopted: adoption.adopted,
    });
    if (backend === "legacy") {
      // Its restore rewrites the whole table: every built-in chain keeps its counters.
      assert.match(t!.script, /\n:OUTPUT ACCEPT \[20:1200\]\n/);
    }
    await restoreAdoptScript(fake.runner, t!);
    const after = fake.dump("filter", { counters: true });
    assert.doesNotMatch(after, /:ssh |:other /);
    assert.match(
      after,
      new RegExp(`\\[2:120\\] -A rp-ssh -s 10.0.0.0/8 .*--comment ${ID}`),
    );
    assert.match(after, /\[3:180\] -A OUTPUT -o eth0 -j ACCEPT\n/, "OUTPUT untouched");
    assert.match(after, /:INPUT DROP \[10:600\]/);
    const undo = parseAdoptUndo(
      JSON.stringify({ kind: "rampart-adopt-undo", version: 1, tables: [t] }),
    )!;
    await restoreAdoptUndo(undo, fake.runner);
    assert.equal(fake.dump("filter", { counters: true }), before);
  });
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-adopt-fake-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("rampart adopt on the fake: writes the policy, plan of it is in sync, other chains untouched", async () => {
  await withDir(async (dir) => {
    const fake = await loaded("nft");
    const file = `${dir}/adopted.yaml`;
    const common = ["--backend", "nft", "--state-dir", `${dir}/state`, "-4"];
    const env = recordingEnv(fake.runner);
    const code = await runCli(
      [
        "adopt",
        ...common,
        "--chain",
        "INPUT",
        "--chain",
        "ssh",
        "-c",
        "other",
        "--yes",
        "-o",
        file,
      ],
      env,
    );
    assert.equal(code, 0, env.err);
    assert.match(env.err, /filter IPv4 ssh → rp-ssh \(1 rule\)/);
    const yaml = await Deno.readTextFile(file);
    assert.match(yaml, /^# Rampart policy written by 'rampart adopt'/);
    assert.match(yaml, /rp-ssh/);
    assert.match(
      fake.dump("filter", { counters: true }),
      /\n\[3:180\] -A OUTPUT -o eth0 -j ACCEPT\n/,
    );
    const plan = recordingEnv(fake.runner);
    assert.equal(await runCli(["plan", ...common, file], plan), 0, plan.err);
    assert.match(plan.out, /Nothing to do/);
  });
});

Deno.test("rampart adopt refuses jumps across the edge of the adopted chains, writing nothing", async () => {
  await withDir(async (dir) => {
    const fake = await loaded("nft");
    const before = fake.dump("filter", { counters: true });
    const file = `${dir}/adopted.yaml`;
    const env = recordingEnv(fake.runner);
    const code = await runCli(
      [
        "adopt",
        "--backend",
        "nft",
        "-4",
        "--state-dir",
        `${dir}/state`,
        "--chain",
        "INPUT",
        "--chain",
        "ssh",
        "--yes",
        "-o",
        file,
      ],
      env,
    );
    assert.equal(code, 1, env.err);
    assert.match(
      env.err,
      /^this host IPv4:10: filter INPUT: cannot adopt: it jumps to chain other, which is not adopted: adopt it too \(--chain other\)\n {2}-A INPUT -j other\n/,
    );
    assert.match(env.err, /nothing adopted, nothing written/);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
    assert.equal(fake.dump("filter", { counters: true }), before);
    assert.ok(!fake.calls.some((c) => c.cmd.includes("restore")), "no restore ran");

    const into = recordingEnv(fake.runner);
    assert.equal(
      await runCli(
        [
          "adopt",
          "--backend",
          "nft",
          "-4",
          "--state-dir",
          `${dir}/state`,
          "--chain",
          "ssh",
          "--yes",
          "-o",
          file,
        ],
        into,
      ),
      1,
    );
    assert.match(
      into.err,
      /filter INPUT: cannot adopt: it jumps to the adopted chain ssh from chain INPUT, which is not adopted/,
    );
  });
});

Deno.test("rampart adopt refuses a rule the importer cannot express, listing it", async () => {
  await withDir(async (dir) => {
    const text = SAVE.replace(
      "[1:60] -A INPUT -j other\n",
      "[1:60] -A INPUT -j other\n[0:0] -A INPUT -p tcp -m ecn --ecn-tcp-cwr -j DROP\n",
    );
    const fake = await loaded("nft", text);
    const before = fake.dump("filter", { counters: true });
    const file = `${dir}/adopted.yaml`;
    const env = recordingEnv(fake.runner);
    const code = await runCli(
      [
        "adopt",
        "--backend",
        "nft",
        "-4",
        "--state-dir",
        `${dir}/state`,
        "--chain",
        "INPUT",
        "--chain",
        "ssh",
        "--chain",
        "other",
        "--yes",
        "-o",
        file,
      ],
      env,
    );
    assert.equal(code, 1, env.err);
    assert.match(
      env.err,
      /^this host IPv4:11: filter INPUT: cannot adopt: -m ecn: the DSL has no method/,
    );
    assert.match(env.err, / {2}-A INPUT -p tcp -m ecn --ecn-tcp-cwr -j DROP\n/);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
    assert.equal(fake.dump("filter", { counters: true }), before);
  });
});

Deno.test("rampart adopt refuses a table Rampart already manages, and an unknown chain", async () => {
  await withDir(async (dir) => {
    const fake = await loaded("nft");
    const common = ["--backend", "nft", "-4", "--state-dir", `${dir}/state`, "--yes"];
    const first = recordingEnv(fake.runner);
    assert.equal(
      await runCli(
        ["adopt", ...common, "--chain", "ssh", "--chain", "INPUT", "--chain", "other"],
        first,
      ),
      0,
      first.err,
    );
    assert.match(first.out, /rp-ssh/, "without -o the policy is printed");
    const again = recordingEnv(fake.runner);
    assert.equal(await runCli(["adopt", ...common, "--chain", "OUTPUT"], again), 1);
    assert.match(again.err, /Rampart already manages rules in this table/);
    const unknown = recordingEnv(fake.runner);
    assert.equal(await runCli(["adopt", ...common, "--chain", "nope*"], unknown), 2);
    assert.match(unknown.err, /No chain "nope\*" in table\(s\) filter/);
    const usage = recordingEnv(fake.runner);
    assert.equal(await runCli(["adopt", "--chain", "INPUT"], usage), 2);
    assert.match(usage.err, /no terminal to ask on; pass --yes/);
    const help = recordingEnv(fake.runner);
    assert.equal(await runCli(["help", "adopt"], help), 0);
    assert.match(help.out, /^Usage: rampart adopt --chain CHAIN… \[flags\]\n/);
    const bad = recordingEnv(fake.runner);
    assert.equal(await runCli(["adopt", "--yes", "--chain", "a b"], bad), 2);
    assert.match(bad.err, /Invalid --chain "a b"/);
  });
});

Deno.test("rampart adopt asks after showing the transactions: no changes nothing, yes adopts", async () => {
  await withDir(async (dir) => {
    const fake = await loaded("nft");
    const before = fake.dump("filter", { counters: true });
    const args = ["adopt", "--backend", "nft", "-4", "--state-dir", `${dir}/state`];
    const chains = ["--chain", "INPUT", "--chain", "ssh", "--chain", "other"];
    const no = recordingEnv(fake.runner, ["n"]);
    assert.equal(await runCli([...args, ...chains], no), 3, no.err);
    assert.match(no.err, /# filter \(IPv4, nft\)\n\*filter\n/);
    assert.match(no.err, /Adopt them in this host\? \[y\/N\] Nothing adopted\n/);
    assert.equal(fake.dump("filter", { counters: true }), before);
    const yes = recordingEnv(fake.runner, ["y"]);
    assert.equal(await runCli([...args, ...chains], yes), 0, yes.err);
    assert.match(fake.dump("filter"), /:rp-ssh - /);
  });
});

Deno.test("rampart adopt: a failed transaction is undone, the tables adopted before it too", async () => {
  await withDir(async (dir) => {
    const fake = new FakeDataplane({ backend: "nft" });
    const v6 = SAVE.replace("10.0.0.0/8", "2001:db8::/32").replace(
      "192.0.2.1/32",
      "2001:db8::1/128",
    );
    await fake.load(SAVE, { flush: true, counters: true });
    await fake.load(v6, { flush: true, counters: true, ipVersion: 6 });
    const before = [4, 6].map((v) => fake.dump("filter", { ipVersion: v as 4 | 6 }));
    fake.onBeforeRestore((call, f) => {
      if (call.cmd.startsWith("ip6tables") && call.stdin?.includes("-X ssh")) {
        f.failNextRestore({ stderr: "ip6tables-restore: line 9 failed" });
      }
    });
    const file = `${dir}/adopted.yaml`;
    const env = recordingEnv(fake.runner);
    const code = await runCli(
      [
        "adopt",
        "--backend",
        "nft",
        "--state-dir",
        `${dir}/state`,
        "--yes",
        "-o",
        file,
        "--chain",
        "INPUT",
        "--chain",
        "ssh",
        "--chain",
        "other",
      ],
      env,
    );
    assert.equal(code, 1, env.err);
    assert.match(env.err, /Adopting filter IPv4…\nAdopting filter IPv6…\n/);
    assert.match(env.err, /The adopt failed: the tables adopted so far are as they were again/);
    assert.deepEqual([4, 6].map((v) => fake.dump("filter", { ipVersion: v as 4 | 6 })), before);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  });
});

Deno.test("adoptionPolicy refuses a chain name that is not a plain chain name (it would reach the scripts)", () => {
  const text = '*filter\n:INPUT ACCEPT [0:0]\n:x"y - [0:0]\nCOMMIT\n';
  assert.throws(
    () => adoptionPolicy([{ ipVersion: 4, backend: "nft", text }], { chains: ["x*"] }),
    ChainNameError,
  );
});
