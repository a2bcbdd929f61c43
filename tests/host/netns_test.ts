/**
 * Real-kernel tests; each runs in a private network namespace and never
 * touches the host's firewall or its /run/xtables.lock.
 */
import assert from "assert";
import { MatchCriteria } from "../../dsl/match.ts";
import type { Rule } from "../../dsl/rule.ts";
import {
  BackendConflictError,
  detectBackend,
  readFileWithRunner,
} from "../../src/host/backend_detector.ts";
import { FeatureDetector } from "../../src/host/feature_detector.ts";
import { assertIpSetsExist, checkIpSets, MissingIpSetError } from "../../src/host/ipset_check.ts";
import { grabIptablesLocks, LockTimeoutError } from "../../src/host/lock.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import { kernelTest } from "../kernel/netns.ts";

async function mustRun(runner: DenoCommandRunner, cmd: string, args: string[], stdin?: string) {
  const r = await runner.run(cmd, args, stdin === undefined ? {} : { stdin });
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r;
}

function restoreScript(table: string, lines: string[]): string {
  return [`*${table}`, ...lines, "COMMIT", ""].join("\n");
}

kernelTest("netns: FeatureDetector reads the real iptables and kernel versions", async (netns) => {
  const d = new FeatureDetector({ runner: new DenoCommandRunner({ netns }) });
  const v = await d.getVersions();
  assert.match(v.iptables, /^\d+\.\d+\.\d+$/);
  assert.notEqual(v.iptables, "1.4.7", "detected, not the fallback");
  assert.match(v.kernel, /^\d+\.\d+\.\d+/);
  assert.ok(v.backendReported === "nft" || v.backendReported === "legacy");
  const f = await d.getFeatures();
  assert.equal(f.restoreSupportsLock, true);
});

kernelTest("netns: detectBackend follows the rules in each backend", async (netns) => {
  const runner = new DenoCommandRunner({ netns });
  const detect = (extra: { hashPrefix?: string; reportedBackend?: "nft" | "legacy" } = {}) =>
    detectBackend({ runner, requested: "auto", ...extra });

  // Fresh namespace: no rules anywhere → a tie.
  assert.equal(await detect({ reportedBackend: "nft" }), "nft");
  assert.equal(await detect(), "legacy");
  // Detection must not instantiate legacy tables in the namespace.
  const names = await readFileWithRunner(runner)("/proc/net/ip_tables_names");
  assert.equal(names.trim(), "");

  // Rules only in nft.
  await mustRun(
    runner,
    "iptables-nft-restore",
    ["--noflush"],
    restoreScript("filter", [
      ":rp-a - [0:0]",
      "-A rp-a -j ACCEPT",
      "-A rp-a -j RETURN",
    ]),
  );
  assert.equal(await detect(), "nft");

  // More rules in legacy.
  await mustRun(
    runner,
    "iptables-legacy-restore",
    ["--noflush"],
    restoreScript("filter", [
      ":rp-b - [0:0]",
      "-A rp-b -j ACCEPT",
      "-A rp-b -j ACCEPT",
      "-A rp-b -j ACCEPT",
    ]),
  );
  assert.equal(await detect(), "legacy");
  assert.equal(
    (await readFileWithRunner(runner)("/proc/net/ip_tables_names")).trim(),
    "filter",
    "only the table we wrote",
  );

  // kube-proxy's hint chain in nft mangle outweighs the counts.
  await mustRun(
    runner,
    "ip6tables-nft-restore",
    ["--noflush"],
    restoreScript("mangle", [":KUBE-IPTABLES-HINT - [0:0]"]),
  );
  assert.equal(await detect(), "nft");

  // Our own rules in both backends → refused.
  const ours = (chain: string) =>
    `-A ${chain} -m comment --comment "rampart:0123456789abcdef" -j ACCEPT`;
  await mustRun(
    runner,
    "iptables-nft-restore",
    ["--noflush"],
    restoreScript("filter", [ours("rp-a")]),
  );
  assert.equal(await detect({ hashPrefix: "rampart:" }), "nft", "ours only in nft");
  await mustRun(
    runner,
    "iptables-legacy-restore",
    ["--noflush"],
    restoreScript("filter", [ours("rp-b")]),
  );
  await assert.rejects(detect({ hashPrefix: "rampart:" }), BackendConflictError);
  assert.equal(
    await detectBackend({ runner, requested: "legacy", hashPrefix: "rampart:" }),
    "legacy",
    "explicit backend only warns",
  );
});

kernelTest(
  "netns: iptables-legacy -w sees our xtables lock file (XTABLES_LOCKFILE)",
  async (netns) => {
    const lockFilePath = await Deno.makeTempFile({ prefix: "rp-xtables-" });
    try {
      const runner = new DenoCommandRunner({ netns, env: { XTABLES_LOCKFILE: lockFilePath } });
      const socketName = `@rp-test-${crypto.randomUUID()}`;
      const locker = await grabIptablesLocks({
        lockFilePath,
        socketName,
        timeoutMs: 1000,
        probeIntervalMs: 10,
      });
      try {
        const r = await runner.run("iptables-legacy", ["-w", "1", "-n", "-L", "INPUT"]);
        assert.equal(r.code, 4, r.stderr);
        assert.match(r.stderr, /Another app is currently holding the xtables lock/);
      } finally {
        locker.close();
      }
      await mustRun(runner, "iptables-legacy", ["-w", "1", "-n", "-L", "INPUT"]);
    } finally {
      await Deno.remove(lockFilePath);
    }
  },
);

kernelTest(
  "netns: grabIptablesLocks waits while iptables-legacy-restore holds the lock",
  async (netns) => {
    const lockFilePath = await Deno.makeTempFile({ prefix: "rp-xtables-" });
    try {
      // iptables-legacy-restore takes the lock at "*filter" and keeps it until COMMIT.
      const child = new Deno.Command("ip", {
        args: ["netns", "exec", netns, "iptables-legacy-restore", "--noflush", "--wait", "5"],
        env: { XTABLES_LOCKFILE: lockFilePath },
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      const socketName = `@rp-test-${crypto.randomUUID()}`;
      try {
        await writer.write(new TextEncoder().encode("*filter\n:rp-x - [0:0]\n"));
        // Wait until it holds the lock (flock(1) sees it taken).
        for (let i = 0;; i++) {
          const probe = await new Deno.Command("flock", {
            args: ["-n", "-E", "75", lockFilePath, "true"],
          }).output();
          if (probe.code === 75) break;
          if (i > 500) throw new Error("iptables-legacy-restore never took the lock");
          await new Promise((r) => setTimeout(r, 10));
        }
        await assert.rejects(
          grabIptablesLocks({ lockFilePath, socketName, timeoutMs: 150, probeIntervalMs: 10 }),
          (e: unknown) => e instanceof LockTimeoutError && e.version === "1.6",
        );
        await writer.write(new TextEncoder().encode("COMMIT\n"));
      } finally {
        await writer.close().catch(() => {});
      }
      const status = await child.output();
      assert.equal(status.code, 0, new TextDecoder().decode(status.stderr));
      const locker = await grabIptablesLocks({
        lockFilePath,
        socketName,
        timeoutMs: 1000,
        probeIntervalMs: 10,
      });
      locker.close();
    } finally {
      await Deno.remove(lockFilePath);
    }
  },
);

function setRule(method: string, setName: string, dir: string): Rule {
  return {
    match: new MatchCriteria([{
      method,
      args: [setName],
      fragment: `-m set --match-set ${setName} ${dir}`,
    }]),
  };
}

kernelTest("netns: checkIpSets and assertIpSetsExist use the namespace's sets", async (netns) => {
  const runner = new DenoCommandRunner({ netns });
  await mustRun(runner, "ipset", ["create", "rp-present", "hash:ip"]);
  await mustRun(runner, "ipset", ["create", "rp-ports", "hash:ip,port", "family", "inet6"]);
  assert.deepEqual(
    await checkIpSets({
      runner,
      names: ["rp-present", "rp-missing", "rp-ports", "rp-missing"],
    }),
    ["rp-missing"],
  );
  const chains = [
    { name: "rp-input", rules: [setRule("sourceIpSet", "rp-present", "src"), {}] },
    {
      name: "rp-fw",
      rules: [
        {},
        setRule("destIpPortSet", "rp-ports", "dst,dst"),
        setRule("notDestIpSet", "rp-missing", "dst"),
      ],
    },
  ];
  await assert.rejects(
    assertIpSetsExist(chains, { runner }),
    (e: unknown) =>
      e instanceof MissingIpSetError && e.setName === "rp-missing" && e.chain === "rp-fw" &&
      e.ruleIndex === 2,
  );
  await mustRun(runner, "ipset", ["create", "rp-missing", "hash:net"]);
  await assertIpSetsExist(chains, { runner });
});
