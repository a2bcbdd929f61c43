/**
 * `IptablesDataplane` on its own, against the fake's emulated binaries (and a
 * scripted runner where a binary must be missing): which binaries it runs,
 * what it reads, how a script reaches iptables-restore, and the variant it
 * detects.
 */
import assert from "assert";
import {
  type CommandRunner,
  IptablesDataplane,
  type LockRunner,
  SaveError,
  TableConfigError,
} from "../../mod.ts";
import type { PlanScript } from "../../src/engine/dataplane.ts";
import { FakeDataplane } from "../../testing.ts";
import { CollectingLogger } from "./scripted_runner.ts";

const ours = { hashPrefix: "rp:", chainPrefixes: ["rp-"] };

function script(text: string, chunks?: string[]): PlanScript {
  return {
    chunks: chunks === undefined ? undefined : (async function* () {
      yield* chunks;
    })(),
    whole: () => Promise.resolve(text),
  };
}

Deno.test("iptables dataplane: reads a table with the variant's save binary, ours told apart", async () => {
  const fake = new FakeDataplane({ backend: "legacy" });
  await fake.runner.run("iptables-legacy-restore", ["--noflush"], {
    stdin:
      '*filter\n:rp-in - [0:0]\n-A rp-in -m comment --comment "rp:AAAAAAAAAAAAAAAA" -j ACCEPT\n' +
      "-A INPUT -j rp-in\n-A INPUT -j DROP\nCOMMIT\n",
  });
  fake.calls.length = 0;
  const dataplane = new IptablesDataplane({
    runner: fake.runner,
    variant: "legacy",
    ipVersion: 4,
    featureDetector: {
      getFeatures: () => Promise.resolve({}),
      refreshFeatures: () => Promise.resolve({ nflogSize: true }),
    },
  });
  await dataplane.prepare("filter", ours);
  const { state, features } = await dataplane.read("filter", ours);
  assert.deepEqual(features, { nflogSize: true });
  assert.deepEqual(state.get("rp-in")?.hashes, ["AAAAAAAAAAAAAAAA"]);
  assert.deepEqual(state.get("INPUT")?.hashes, ["OLD INSERT RULE", ""]);
  assert.equal(fake.calls[0]!.cmd, "iptables-legacy-save");
  assert.deepEqual(fake.calls[0]!.args, ["-t", "filter"]);
  await dataplane.settled();
});

Deno.test("iptables dataplane: a failed save is a SaveError naming the binary and the table", async () => {
  const fake = new FakeDataplane();
  fake.failNextSave({ stderr: "boom" });
  const dataplane = new IptablesDataplane({ runner: fake.runner, variant: "nft", ipVersion: 6 });
  await assert.rejects(
    () => dataplane.read("raw", ours),
    (e) =>
      e instanceof SaveError && e.command === "ip6tables-nft-save" &&
      /^ip6tables-nft-save -t raw failed with exit code 1: boom/.test(e.message),
  );
  await dataplane.settled();
});

Deno.test("iptables dataplane: a streamed write reaches iptables-restore as chunks; the fallback binary gets the whole script", async () => {
  const fake = new FakeDataplane();
  const text = "*filter\n:rp-a - [0:0]\n-A rp-a -j ACCEPT\nCOMMIT\n";
  const dataplane = new IptablesDataplane({ runner: fake.runner, variant: "nft" });
  assert.equal(dataplane.streamsScripts, true);
  const done = await dataplane.write(
    "filter",
    script(text, ["*filter\n:rp-a - [0:0]\n", "-A rp-a -j ACCEPT\nCOMMIT\n"]),
  );
  assert.deepEqual(done, { command: "iptables-nft-restore", code: 0, stderr: "", timedOut: false });
  assert.deepEqual(fake.rules("filter", "rp-a"), ["-A rp-a -j ACCEPT"]);
  assert.deepEqual(fake.calls.at(-1)!.args, ["--noflush"]);

  // Without iptables-nft-restore, plain iptables-restore takes the whole script.
  const calls: { cmd: string; stdin: unknown }[] = [];
  const runner: CommandRunner = {
    streamsStdin: true,
    run(cmd, args, opts) {
      calls.push({ cmd, stdin: opts?.stdin });
      if (cmd === "iptables-nft-restore") {
        return Promise.resolve({ code: 127, stdout: "", stderr: "not found" });
      }
      return fake.runner.run(cmd, args, opts);
    },
  };
  const fallback = new IptablesDataplane({ runner, variant: "nft" });
  const refused = await fallback.write(
    "filter",
    script("*filter\nCOMMIT\n", ["*filter\nCOMMIT\n"]),
  );
  assert.equal(refused.command, "iptables-restore");
  assert.equal(refused.code, 0);
  assert.deepEqual(calls.map((c) => c.cmd), ["iptables-nft-restore", "iptables-restore"]);
  assert.equal(typeof calls[1]!.stdin, "object", "a one-chunk stream of the whole script");
});

Deno.test("iptables dataplane: a runner that takes strings only gets the whole script", async () => {
  const fake = new FakeDataplane();
  const seen: unknown[] = [];
  const runner: CommandRunner = {
    run(cmd, args, opts) {
      seen.push(opts?.stdin);
      return fake.runner.run(cmd, args, opts);
    },
  };
  const dataplane = new IptablesDataplane({ runner, variant: "nft" });
  assert.equal(dataplane.streamsScripts, false);
  await dataplane.write("filter", script("*filter\nCOMMIT\n", ["*filter\n", "COMMIT\n"]));
  assert.deepEqual(seen, ["*filter\nCOMMIT\n"]);
});

Deno.test("iptables dataplane: a legacy restore that cannot lock itself runs under the lock", async () => {
  const fake = new FakeDataplane({ backend: "legacy" });
  let held = 0;
  const lock: LockRunner = async (fn) => {
    held++;
    try {
      return await fn();
    } finally {
      held--;
    }
  };
  let heldDuringRestore = -1;
  fake.onBeforeRestore(() => {
    heldDuringRestore = held;
  });
  const dataplane = new IptablesDataplane({
    runner: fake.runner,
    variant: "legacy",
    lock,
    featureDetector: {
      getFeatures: () => Promise.resolve({ restoreSupportsLock: false }),
      refreshFeatures: () => Promise.resolve({ restoreSupportsLock: false }),
    },
  });
  await dataplane.read("filter", ours);
  await dataplane.write("filter", script("*filter\nCOMMIT\n"));
  assert.equal(heldDuringRestore, 1);
  assert.deepEqual(fake.calls.at(-1)!.args, ["--noflush"]);
  await dataplane.settled();
});

Deno.test("iptables dataplane: detects its variant once, even when tables ask at once", async () => {
  const fake = new FakeDataplane();
  let detections = 0;
  const logger = new CollectingLogger();
  const dataplane = new IptablesDataplane({
    runner: fake.runner,
    logger,
    backendDetector: async () => {
      detections++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      return "legacy";
    },
  });
  assert.equal(dataplane.variant, undefined);
  await Promise.all([dataplane.prepare("filter", ours), dataplane.prepare("nat", ours)]);
  await dataplane.prepare("raw", ours);
  assert.equal(dataplane.variant, "legacy");
  assert.equal(detections, 1);
  assert.deepEqual(logger.records.map((r) => [r.message, r.fields?.table]), [
    ["iptables backend chosen", "filter"],
  ]);
});

Deno.test("iptables dataplane: the other variant's rules are read once per table and warned of before settled() resolves", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  await fake.runner.run("iptables-legacy-restore", ["--noflush"], {
    stdin: "*filter\n-A INPUT -j DROP\nCOMMIT\n",
  });
  const logger = new CollectingLogger();
  const dataplane = new IptablesDataplane({ runner: fake.runner, variant: "nft", logger });
  await dataplane.read("filter", ours);
  await dataplane.settled();
  await dataplane.read("filter", ours);
  await dataplane.settled();
  const warnings = logger.records.filter((r) => r.level === "warn");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, /iptables-legacy also holds 1 rule/);
  assert.equal(fake.calls.filter((c) => c.cmd === "iptables-legacy-save").length, 1);
});

Deno.test("iptables dataplane: options are checked", () => {
  assert.throws(
    () => new IptablesDataplane({ variant: "iptables" as "nft" }),
    (e) => e instanceof TableConfigError && e.field === "variant",
  );
  assert.throws(
    () => new IptablesDataplane({ ipVersion: 5 as 4 }),
    (e) => e instanceof TableConfigError && e.field === "ipVersion",
  );
});
