import assert from "assert";
import { BackendConflictError, detectBackend } from "../../src/host/backend_detector.ts";
import { TableConfigError } from "../../src/engine/errors.ts";
import type { CommandResult } from "../../src/host/runner.ts";
import { CollectingLogger, ok, ScriptedRunner } from "./scripted_runner.ts";

const lookPathAll = (name: string) => Promise.resolve(`/usr/sbin/${name}`);
const allLegacyLoaded = () => Promise.resolve("mangle\nfilter\nnat\n");

/**
 * The reference's ipOutputFactory: per save binary, `out` lines of which the
 * first `kube` are KUBE-IPTABLES-HINT lines and the rest rule lines; -1 (or
 * kube > out) fails the command. Same output with and without `-t mangle`.
 */
interface Outputs {
  ip6Legacy: number;
  ip4Legacy: number;
  ip6Nft: number;
  ip4Nft: number;
  ip6LegacyKube?: number;
  ip4LegacyKube?: number;
  ip6NftKube?: number;
  ip4NftKube?: number;
}

function output(out: number, kube = 0): CommandResult {
  if (out < 0 || kube > out) return { code: 1, stdout: "", stderr: "iptables command failed" };
  const lines: string[] = [];
  for (let i = 0; i < kube; i++) lines.push(`KUBE-IPTABLES-HINT - [0:0] ${i}`);
  for (let i = 0; i < out - kube; i++) lines.push(`-Output line ${i}`);
  return ok(lines.map((l) => l + "\n").join(""));
}

function runnerFor(o: Outputs): ScriptedRunner {
  return new ScriptedRunner({
    "iptables-legacy-save": output(o.ip4Legacy, o.ip4LegacyKube),
    "ip6tables-legacy-save": output(o.ip6Legacy, o.ip6LegacyKube),
    "iptables-nft-save": output(o.ip4Nft, o.ip4NftKube),
    "ip6tables-nft-save": output(o.ip6Nft, o.ip6NftKube),
  });
}

const o = (ip6Legacy: number, ip4Legacy: number, ip6Nft: number, ip4Nft: number): Outputs => ({
  ip6Legacy,
  ip4Legacy,
  ip6Nft,
  ip4Nft,
});

// The reference's TestIptablesBackendDetection table.
const VECTORS: [string, "auto" | "nft" | "legacy", Outputs, "nft" | "legacy"][] = [
  ["No output from cmds", "auto", o(0, 0, 0, 0), "legacy"],
  ["Output from legacy cmds", "auto", o(10, 10, 0, 0), "legacy"],
  ["Output from nft cmds", "auto", o(0, 0, 10, 10), "nft"],
  ["Detected and Specified backend of nft match", "nft", o(0, 0, 10, 10), "nft"],
  ["Detected and Specified backend of legacy match", "legacy", o(10, 10, 0, 0), "legacy"],
  ["Backend detected as nft does not match Specified legacy", "legacy", o(0, 0, 10, 10), "legacy"],
  ["Backend detected as legacy does not match Specified nft", "nft", o(10, 10, 0, 0), "nft"],
  ["Errors from commands still causes legacy detection", "auto", o(-1, -1, -1, -1), "legacy"],
  ["Only ipv4 output from legacy cmds", "auto", o(-1, 15, 10, 10), "nft"],
  ["Only ipv6 output from legacy cmds", "auto", o(15, -1, 10, 10), "nft"],
  ["Only ipv6 output from nft cmds still detects nft", "auto", o(4, 4, 15, -1), "nft"],
  ["Output from nft with kube chains", "auto", {
    ...o(0, 0, 64, 123),
    ip6NftKube: 2,
    ip4NftKube: 2,
  }, "nft"],
  ["Output from nft with kube chains and has legacy chains", "auto", {
    ...o(20, 20, 2, 2),
    ip6NftKube: 2,
    ip4NftKube: 2,
  }, "nft"],
  ["Output from legacy with kube chains and has nft chains", "auto", {
    ...o(20, 20, 30, 30),
    ip6LegacyKube: 2,
    ip4LegacyKube: 2,
  }, "legacy"],
];

for (const [name, requested, outputs, expected] of VECTORS) {
  Deno.test(`detectBackend: ${name}`, async () => {
    for (const spec of [requested, requested.toUpperCase() as typeof requested]) {
      const got = await detectBackend({
        runner: runnerFor(outputs),
        readFile: allLegacyLoaded,
        lookPath: lookPathAll,
        requested: spec,
      });
      assert.equal(got, expected, `requested ${spec}`);
    }
  });
}

Deno.test("detectBackend warns when the requested backend differs from detection", async () => {
  const logger = new CollectingLogger();
  const got = await detectBackend({
    runner: runnerFor(o(0, 0, 10, 10)),
    readFile: allLegacyLoaded,
    lookPath: lookPathAll,
    requested: "legacy",
    logger,
  });
  assert.equal(got, "legacy");
  assert.deepEqual(logger.at("warn"), [
    "Requested iptables backend differs from the detected one; using it",
  ]);
  assert.equal(logger.records.find((r) => r.level === "info")?.fields?.detected, "nft");
});

Deno.test("detectBackend rejects an unknown requested backend", async () => {
  await assert.rejects(
    detectBackend({
      runner: runnerFor(o(0, 0, 0, 0)),
      lookPath: lookPathAll,
      requested: "iptables" as "auto",
    }),
    (e: unknown) => e instanceof TableConfigError && e.field === "backend",
  );
});

Deno.test("detectBackend does not run legacy binaries when their modules are not loaded", async () => {
  // The reference's TestIptablesBackendDetectionSkipsUnloadedLegacy.
  const runner = runnerFor(o(20, 20, 10, 10));
  const read: string[] = [];
  const got = await detectBackend({
    runner,
    lookPath: lookPathAll,
    readFile: (path) => {
      read.push(path);
      return Promise.reject(new Deno.errors.NotFound(path));
    },
    requested: "auto",
  });
  assert.equal(got, "nft");
  assert.ok(runner.calls.every((c) => !c.includes("legacy")), runner.calls.join("; "));
  assert.deepEqual(read.sort(), ["/proc/net/ip6_tables_names", "/proc/net/ip_tables_names"]);
});

Deno.test("detectBackend only probes legacy tables the namespace has instantiated", async () => {
  const runner = runnerFor({ ...o(20, 20, 10, 10), ip4LegacyKube: 2, ip6LegacyKube: 2 });
  const got = await detectBackend({
    runner,
    lookPath: lookPathAll,
    readFile: (path) => Promise.resolve(path.includes("ip6") ? "" : "filter\n"),
    requested: "auto",
  });
  // No mangle table in legacy → the kube hint can't be there; v4 filter is counted.
  assert.ok(!runner.calls.includes("iptables-legacy-save -t mangle"));
  assert.ok(!runner.calls.some((c) => c.startsWith("ip6tables-legacy-save")));
  assert.ok(runner.calls.includes("iptables-legacy-save"));
  assert.equal(got, "nft"); // 18 legacy rule lines (20 - 2 hint lines) vs 20 nft
});

Deno.test("detectBackend breaks a tie with the variant iptables --version reports", async () => {
  for (const reportedBackend of ["nft", "legacy"] as const) {
    const got = await detectBackend({
      runner: runnerFor(o(3, 2, 1, 4)),
      readFile: allLegacyLoaded,
      lookPath: lookPathAll,
      requested: "auto",
      reportedBackend,
    });
    assert.equal(got, reportedBackend);
  }
});

Deno.test("detectBackend falls back to unsuffixed binaries and skips missing ones", async () => {
  const onPath = new Set(["iptables-save", "ip6tables-save"]);
  const runner = new ScriptedRunner({ "iptables-save": output(5), "ip6tables-save": output(0) });
  const got = await detectBackend({
    runner,
    readFile: allLegacyLoaded,
    lookPath: (n) => Promise.resolve(onPath.has(n) ? n : undefined),
    requested: "auto",
    hashPrefix: "rampart:",
  });
  assert.equal(got, "legacy"); // same binary both ways: a tie
  assert.ok(
    runner.calls.every((c) => c.startsWith("iptables-save") || c.startsWith("ip6tables-save")),
  );
});

const OURS = '-A rp-input -m comment --comment "rampart:0123456789abcdef" -j ACCEPT';
const OURS_UNQUOTED = "-A INPUT -m comment --comment rampart:0123456789abcdef -j rp-input";
const FOREIGN = '-A INPUT -m comment --comment "other:0123456789abcdef" -j ACCEPT';

function saves(v4nft: string[], v4legacy: string[], v6nft: string[] = [], v6legacy: string[] = []) {
  const text = (lines: string[]) => ok(["*filter", ...lines, "COMMIT", ""].join("\n"));
  return new ScriptedRunner({
    "iptables-nft-save": text(v4nft),
    "iptables-legacy-save": text(v4legacy),
    "ip6tables-nft-save": text(v6nft),
    "ip6tables-legacy-save": text(v6legacy),
  });
}

Deno.test("detectBackend refuses our rules in both backends (auto)", async () => {
  const error = await detectBackend({
    runner: saves([OURS, OURS_UNQUOTED], [OURS]),
    readFile: allLegacyLoaded,
    lookPath: lookPathAll,
    requested: "auto",
    hashPrefix: "rampart:",
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof BackendConflictError, String(error));
  assert.equal(error.nftRules, 2);
  assert.equal(error.legacyRules, 1);
  assert.match(error.message, /both iptables backends \(nft: 2, legacy: 1\)/);
  assert.match(error.message, /cleanUp\(\)/);
});

Deno.test("detectBackend with an explicit backend only warns about our rules in both", async () => {
  const logger = new CollectingLogger();
  const got = await detectBackend({
    runner: saves([OURS], [OURS]),
    readFile: allLegacyLoaded,
    lookPath: lookPathAll,
    requested: "legacy",
    hashPrefix: "rampart:",
    logger,
  });
  assert.equal(got, "legacy");
  assert.ok(logger.at("warn").some((m) => m.includes("exist in both iptables backends")));
});

Deno.test("detectBackend conflict check: foreign rules, one backend, other family", async () => {
  const cases: [ScriptedRunner, 4 | 6 | undefined, "nft" | "legacy"][] = [
    [saves([OURS], [FOREIGN, FOREIGN]), undefined, "nft"], // our rules decide (issue 5)
    [saves([OURS, OURS], []), undefined, "nft"],
    [saves([OURS, OURS], [], [], [OURS]), 4, "nft"],
    [saves([OURS, OURS], [], [OURS], [OURS]), 4, "nft"],
  ];
  for (const [runner, ipVersion, expected] of cases) {
    const got = await detectBackend({
      runner,
      readFile: allLegacyLoaded,
      lookPath: lookPathAll,
      requested: "auto",
      hashPrefix: "rampart:",
      ...(ipVersion === undefined ? {} : { ipVersion }),
    });
    assert.equal(got, expected);
  }
  await assert.rejects(
    detectBackend({
      runner: saves([OURS, OURS], [], [OURS], [OURS]),
      readFile: allLegacyLoaded,
      lookPath: lookPathAll,
      requested: "auto",
      hashPrefix: "rampart:",
      ipVersion: 6,
    }),
    BackendConflictError,
  );
});

Deno.test("detectBackend does not mistake a prefix with regex characters", async () => {
  const got = await detectBackend({
    runner: saves(['-A X -m comment --comment "rpXabcdefghijklmnop" -j ACCEPT', FOREIGN], [
      '-A X -m comment --comment "rp.abcdefghijklmnop" -j ACCEPT',
    ]),
    readFile: allLegacyLoaded,
    lookPath: lookPathAll,
    requested: "auto",
    hashPrefix: "rp.",
  });
  assert.equal(got, "legacy"); // the "." is literal: no conflict; our rule is in legacy only
});
