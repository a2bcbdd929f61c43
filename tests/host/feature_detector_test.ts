import assert from "assert";
import type { Features } from "../../dsl/features.ts";
import { FeatureDetector } from "../../src/feature_detector.ts";
import { CollectingLogger, ok, ScriptedRunner } from "./scripted_runner.ts";

/** A detector whose `iptables --version` prints `ipt` and whose /proc/version is `kernel`; "error" fails. */
function detector(
  ipt: string,
  kernel: string,
  overrides: Record<string, string> = {},
  logger = new CollectingLogger(),
) {
  const runner = new ScriptedRunner({
    iptables: ipt === "error" ? { code: 1, stdout: "", stderr: "boom" } : ok(`${ipt}\n`),
  });
  const readFile = (path: string) => {
    assert.equal(path, "/proc/version");
    return kernel === "error"
      ? Promise.reject(new Deno.errors.NotFound("no /proc"))
      : Promise.resolve(kernel);
  };
  return new FeatureDetector({ runner, readFile, overrides, logger });
}

type Expected = Pick<
  Features,
  | "restoreSupportsLock"
  | "snatFullyRandom"
  | "masqFullyRandom"
  | "checksumOffloadBroken"
  | "nflogSize"
  | "ipipDeviceIsL3"
>;

function pick(f: Features): Expected {
  return {
    restoreSupportsLock: f.restoreSupportsLock ?? false,
    snatFullyRandom: f.snatFullyRandom ?? false,
    masqFullyRandom: f.masqFullyRandom ?? false,
    checksumOffloadBroken: f.checksumOffloadBroken ?? false,
    nflogSize: f.nflogSize ?? false,
    ipipDeviceIsL3: f.ipipDeviceIsL3 ?? false,
  };
}

function f(
  lock: boolean,
  snat: boolean,
  masq: boolean,
  csum: boolean,
  nflog: boolean,
  ipip = false,
): Expected {
  return {
    restoreSupportsLock: lock,
    snatFullyRandom: snat,
    masqFullyRandom: masq,
    checksumOffloadBroken: csum,
    nflogSize: nflog,
    ipipDeviceIsL3: ipip,
  };
}

// The reference's TestFeatureDetection table (feature_detect_test.go, [head]).
//                                 lock   snat   masq   csum   nflog
const DETECTION: [string, string, Expected][] = [
  ["iptables v1.6.2", "Linux version 3.14.0", f(true, true, true, true, false)],
  ["iptables v1.6.1", "Linux version 3.14.0", f(false, true, false, true, false)],
  ["iptables v1.5.0", "Linux version 3.14.0", f(false, false, false, true, false)],
  ["iptables v1.6.2", "Linux version 3.13.0", f(true, false, false, true, false)],
  ["garbage", "Linux version 3.14.0", f(false, false, false, true, false)],
  ["garbage", "Linux version 3.12.0", f(false, false, false, true, false)],
  ["iptables v1.6.2", "garbage", f(true, false, false, true, false)],
  ["error", "Linux version 3.14.0", f(false, false, false, true, false)],
  ["iptables v1.6.2", "Linux version 4.20.0", f(true, true, true, true, true)],
  ["iptables v1.6.2", "error", f(true, false, false, true, false)],
  ["iptables v1.8.4", "Linux version 4.8.0", f(true, true, true, true, true)],
  ["iptables v1.8.4", "Linux version 5.7.0", f(true, true, true, true, true)],
  ["iptables v1.8.4", "Linux version 5.8.0", f(true, true, true, false, true)],
];

for (const [ipt, kernel, expected] of DETECTION) {
  Deno.test(`feature detection: ${ipt} / ${kernel}`, async () => {
    assert.deepEqual(pick(await detector(ipt, kernel).getFeatures()), expected);
  });
}

// The reference's TestFeatureDetectionOverride table.
const OVERRIDES: [string, string, Record<string, string>, Expected][] = [
  ["iptables v1.6.2", "Linux version 3.14.0", {}, f(true, true, true, true, false)],
  [
    "iptables v1.6.1",
    "Linux version 3.14.0",
    { restoreSupportsLock: "true" },
    f(true, true, false, true, false),
  ],
  ["error", "error", {
    restoreSupportsLock: "true",
    snatFullyRandom: "true",
    masqFullyRandom: "false",
    checksumOffloadBroken: "true",
    nflogSize: "true",
  }, f(true, true, false, true, true)],
];

for (const [ipt, kernel, overrides, expected] of OVERRIDES) {
  Deno.test(`feature overrides: ${ipt} / ${kernel} / ${JSON.stringify(overrides)}`, async () => {
    assert.deepEqual(pick(await detector(ipt, kernel, overrides).getFeatures()), expected);
  });
}

// The reference's kernel-only table (TestBPFFeatureDetection; iptables v1.4.4).
//                                                    nflog  ipipL3 csum
const KERNELS: [string, Record<string, string>, boolean, boolean, boolean][] = [
  ["Linux version 5.10.0 - ubuntu", {}, true, false, false],
  ["Linux version 5.14.0 - something else", {}, true, true, false],
  ["Linux version 5.15.0", {}, true, true, false],
  ["Linux version 5.10.0 - Default", { ipipDeviceIsL3: "true" }, true, true, false],
  ["Linux version 5.14.0", { ipipDeviceIsL3: "false" }, true, false, false],
  ["Linux version 5.16.0 - Ubuntu", { ipipDeviceIsL3: "false" }, true, false, false],
  ["Linux version 4.18.0 - Red Hat", {}, true, false, true],
  ["Linux version 4.18.0-330 - Red Hat", {}, true, true, true],
  ["Linux version 4.18.0-420 - Red hat", {}, true, true, true],
  ["Linux version 4.17.0 - el8_3", { ipipDeviceIsL3: "true" }, true, true, true],
  ["Linux version 4.18.0-330 - el8_5", { ipipDeviceIsL3: "false" }, true, false, true],
  ["Linux version 4.18.0-390 - el9_7", { ipipDeviceIsL3: "false" }, true, false, true],
  ["Linux version 4.18.0-390.el8_7.x86_64 (mockbuild@x86-vm-07)", {}, true, true, true],
  ["Linux version 6.15.0", {}, true, true, false],
  ["Linux version 6.16.0", {}, true, true, false],
];

for (const [kernel, overrides, nflog, ipip, csum] of KERNELS) {
  Deno.test(`kernel features: ${kernel} / ${JSON.stringify(overrides)}`, async () => {
    const got = await detector("iptables v1.4.4", kernel, overrides).getFeatures();
    assert.deepEqual(
      [got.nflogSize, got.ipipDeviceIsL3, got.checksumOffloadBroken],
      [nflog, ipip, csum],
    );
    assert.equal(got.snatFullyRandom, false);
    assert.equal(got.restoreSupportsLock, false);
  });
}

// Fields beyond the reference: --wait-interval (deprecated in 1.8.8, verified
// against 1.8.9 in a netns) and nft positional edits (fixed in 1.8.3).
const IPTABLES_ONLY: [string, boolean, boolean][] = [
  //                                   waitInterval nftPositionalEdits
  ["iptables v1.4.21", false, false],
  ["iptables v1.6.1", false, false],
  ["iptables v1.6.2", true, false],
  ["iptables v1.8.0 (nf_tables)", true, false],
  ["iptables v1.8.2 (legacy)", true, false],
  ["iptables v1.8.3 (legacy)", true, true],
  ["iptables v1.8.7 (nf_tables)", true, true],
  ["iptables v1.8.8 (legacy)", false, true],
  ["iptables v1.8.9 (nf_tables)", false, true],
  ["iptables v1.8.11 (nf_tables)", false, true],
];

for (const [ipt, waitInterval, positional] of IPTABLES_ONLY) {
  Deno.test(`iptables features: ${ipt}`, async () => {
    const got = await detector(ipt, "Linux version 6.1.0").getFeatures();
    assert.equal(got.restoreSupportsWaitInterval, waitInterval);
    assert.equal(got.nftPositionalEdits, positional);
  });
}

Deno.test("getVersions reports the parsed versions and the reported variant", async () => {
  const cases: [string, string, { iptables: string; kernel: string; backendReported?: string }][] =
    [
      ["iptables v1.8.9 (nf_tables)", "Linux version 6.18.44-fc (builder)", {
        iptables: "1.8.9",
        kernel: "6.18.44",
        backendReported: "nft",
      }],
      ["iptables v1.8.9 (legacy)", "Linux version 4.18.0-330.el8.x86_64", {
        iptables: "1.8.9",
        kernel: "4.18.0-330",
        backendReported: "legacy",
      }],
      ["iptables v1.6.1", "garbage", { iptables: "1.6.1", kernel: "3.10.0" }],
      ["error", "error", { iptables: "1.4.7", kernel: "3.10.0" }],
    ];
  for (const [ipt, kernel, want] of cases) {
    const got = await detector(ipt, kernel).getVersions();
    assert.deepEqual(got, { backendReported: undefined, ...want });
  }
});

Deno.test("getFeatures caches; refreshFeatures re-detects and logs only on change", async () => {
  const logger = new CollectingLogger();
  let version = "iptables v1.8.9 (nf_tables)";
  const runner = new ScriptedRunner({ iptables: () => ok(version) });
  const d = new FeatureDetector({
    runner,
    readFile: () => Promise.resolve("Linux version 6.1.0"),
    logger,
  });
  const first = await d.getFeatures();
  await d.getFeatures();
  assert.equal(runner.calls.length, 1);
  assert.ok(Object.isFrozen(first));
  assert.deepEqual(logger.at("info"), ["Detected iptables features"]);

  await d.refreshFeatures();
  assert.equal(runner.calls.length, 2);
  assert.deepEqual(logger.at("info"), ["Detected iptables features"], "no change, no log");

  version = "iptables v1.6.1";
  const changed = await d.refreshFeatures();
  assert.equal(changed.restoreSupportsLock, false);
  assert.deepEqual(logger.at("info"), ["Detected iptables features", "Detected iptables features"]);
  assert.equal((logger.records.at(-1)?.fields?.previous as Features).restoreSupportsLock, true);
  assert.equal((await d.getVersions()).iptables, "1.6.1");
});

Deno.test("concurrent getFeatures calls share one detection", async () => {
  const runner = new ScriptedRunner({ iptables: ok("iptables v1.8.9 (legacy)") });
  const d = new FeatureDetector({ runner, readFile: () => Promise.resolve("Linux version 6.1.0") });
  const all = await Promise.all([d.getFeatures(), d.getFeatures(), d.refreshFeatures()]);
  assert.equal(runner.calls.length, 1);
  assert.ok(all.every((x) => x === all[0]));
});

Deno.test("overrides parse like Go ParseBool; bad ones are warned once and ignored", async () => {
  const logger = new CollectingLogger();
  const d = detector("iptables v1.8.9", "Linux version 6.1.0", {
    nflogSize: "F",
    snatFullyRandom: "0",
    masqFullyRandom: "yes",
    NFLogSize: "true",
    bogus: "true",
    checksumOffloadBroken: "T",
  }, logger);
  for (let i = 0; i < 3; i++) {
    const got = await d.refreshFeatures();
    assert.equal(got.nflogSize, false);
    assert.equal(got.snatFullyRandom, false);
    assert.equal(got.masqFullyRandom, true, "unparsable value ignored");
    assert.equal(got.checksumOffloadBroken, true);
  }
  assert.deepEqual(logger.at("warn"), [
    "Ignoring feature override with an unparsable value",
    "Ignoring unknown feature override",
    "Ignoring unknown feature override",
  ]);
  for (const good of ["1", "t", "T", "TRUE", "true", "True"]) {
    const got = await detector("error", "error", { nflogSize: good }).getFeatures();
    assert.equal(got.nflogSize, true, good);
  }
  for (const bad of ["yes", "on", "tRUE", " true", ""]) {
    const got = await detector("error", "error", { nflogSize: bad }).getFeatures();
    assert.equal(got.nflogSize, false, `${JSON.stringify(bad)} is ignored`);
  }
});

Deno.test("a runner that throws falls back to iptables 1.4.7", async () => {
  const d = new FeatureDetector({
    runner: { run: () => Promise.reject(new Error("spawn failed")) },
    readFile: () => Promise.resolve("Linux version 6.1.0"),
  });
  assert.equal((await d.getVersions()).iptables, "1.4.7");
  assert.equal((await d.getFeatures()).restoreSupportsLock, false);
});

Deno.test("FeatureDetector: the version comes from the save's header when there is one, else from iptables --version", async () => {
  const kernel = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)";
  const readFile = () => Promise.resolve(kernel);
  const cases: [string, string, "nft" | "legacy"][] = [
    [
      "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Fri Dec  4 21:19:31 2026",
      "1.8.9",
      "nft",
    ],
    ["# Generated by iptables-save v1.8.7 on Fri Dec  4 21:19:31 2026", "1.8.7", "legacy"],
    ["# Generated by ip6tables-legacy-save v1.6.1 on Fri Dec  4 21:19:31 2026", "1.6.1", "legacy"],
  ];
  for (const [saveHeader, iptables, backendReported] of cases) {
    // The unsuffixed binary is another version (calico#8857): the header wins, and it is not run.
    const runner = new ScriptedRunner({ iptables: ok("iptables v1.4.21\n") });
    const d = new FeatureDetector({ runner, readFile });
    const f = await d.refreshFeatures({ saveHeader });
    assert.deepEqual(await d.getVersions(), { iptables, kernel: "6.1.0-18", backendReported });
    assert.equal(f.restoreSupportsLock, iptables !== "1.6.1");
    assert.deepEqual(runner.calls, []);
  }
  // No header (a save of no table prints none), or one without a version: iptables --version.
  for (const hint of [{}, { saveHeader: "# Generated by something else" }]) {
    const runner = new ScriptedRunner({ iptables: ok("iptables v1.8.4 (legacy)\n") });
    const d = new FeatureDetector({ runner, readFile });
    await d.refreshFeatures(hint);
    assert.deepEqual(await d.getVersions(), {
      iptables: "1.8.4",
      kernel: "6.1.0-18",
      backendReported: "legacy",
    });
    assert.equal(runner.calls.length, 1);
  }
});
