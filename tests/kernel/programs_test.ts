/**
 * Real ufw and ferm beside Rampart (issue 13 item 9), in the test's network
 * namespace and a private mount namespace (`tests/fixtures/private_mounts.ts`:
 * the host's rules and ufw's files are never touched): each writes its rules,
 * Rampart applies a realistic policy, and the program writes its rules again
 * (`ufw reload`; ferm, which restores its tables whole). The program's rules
 * must be exactly what it writes alone; Rampart's survive (ufw) or come back
 * with the next apply (ferm), which leaves the program's lines and counters
 * byte for byte; `remove` leaves exactly the program's.
 */
import assert from "assert";
import { REALISTIC_CHAINS, REALISTIC_V1, realisticPolicy } from "../fixtures/neighbours.ts";
import { PrivateMounts } from "../fixtures/private_mounts.ts";
import { assertForeignKept, comparable, isOurLine, saveAll, withTempDir } from "./foreign_rules.ts";
import { BACKENDS, kernelTest, rampart, tcpTraffic } from "./netns.ts";

/** The lines without counters (what a program that rewrites its rules keeps). */
function withoutCounters(lines: readonly string[]): string[] {
  return lines.map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, ""));
}

/**
 * Runs a program that re-applies its own rules while Rampart's are there,
 * then checks: its rules (text) are what it wrote alone; Rampart's are back
 * after the next apply (or survived), with the program's lines and counters
 * untouched; `remove` leaves exactly the program's.
 */
async function besideProgram(
  netns: string,
  backend: "nft" | "legacy",
  what: string,
  program: { write(): Promise<void>; policies?: ReadonlySet<string> },
): Promise<{ survived: boolean }> {
  const ours = { ourChains: REALISTIC_CHAINS, ourPolicies: program.policies ?? new Set<string>() };
  await program.write();
  for (const ipVersion of [4, 6] as const) await tcpTraffic(netns, { backend, ipVersion });
  const alone = comparable(await saveAll(netns, backend), { backend, ...ours });
  return await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V1));
    const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
    const apply = async (why: string) => {
      const r = await rampart(["apply", file, "--yes", ...ns]);
      assert.equal(r.code, 0, `${what}, ${why}: ${r.err}`);
      const plan = await rampart(["plan", file, ...ns]);
      assert.match(plan.out, /Nothing to do/, `${what}, ${why}: ${plan.out}${plan.err}`);
    };
    await apply("first apply");
    await assertForeignKept(netns, backend, alone, ours, `${what}, first apply`);

    // The program writes its rules again, as it does on a reload or a boot.
    await program.write();
    const rewritten = comparable(await saveAll(netns, backend), { backend, ...ours });
    const theirs = rewritten.filter((l) => !isOurLine(l, ours.ourChains));
    assert.deepEqual(withoutCounters(theirs), withoutCounters(alone), `${what}: its own rules`);
    const plan = await rampart(["plan", file, ...ns]);
    assert.equal(plan.code, 0, plan.err);
    const survived = /Nothing to do/.test(plan.out);
    await apply("apply after the program");
    await assertForeignKept(netns, backend, theirs, ours, `${what}, apply after the program`);
    const remove = await rampart(["remove", "--yes", ...ns]);
    assert.equal(remove.code, 0, `${what}: ${remove.err}`);
    assert.deepEqual(comparable(await saveAll(netns, backend), { backend, ...ours }), theirs);
    return { survived };
  });
}

const UFW: readonly string[][] = [
  ["default", "deny", "incoming"],
  ["default", "deny", "routed"],
  ["limit", "22/tcp"],
  ["allow", "80,443/tcp"],
  ["allow", "from", "192.168.1.0/24", "to", "any", "port", "3306", "proto", "tcp"],
  ["route", "allow", "in", "on", "eth1", "out", "on", "eth0"],
  ["--force", "enable"],
];

for (const backend of BACKENDS) {
  kernelTest(`real ufw reloads its rules beside ours (${backend})`, async (netns) => {
    const pm = await PrivateMounts.start(netns, backend, true);
    try {
      let enabled = false;
      const ufw = async (args: string[]) => {
        const r = await pm.exec("ufw", args);
        assert.equal(r.code, 0, `ufw ${args.join(" ")}: ${r.stderr}`);
      };
      const { survived } = await besideProgram(netns, backend, `ufw (${backend})`, {
        async write() {
          if (enabled) return await ufw(["reload"]);
          for (const args of UFW) await ufw([...args]);
          enabled = true;
        },
      });
      // ufw flushes and refills only its own chains: ours stay where they are.
      assert.equal(survived, true, "ufw reload kept Rampart's rules");
    } finally {
      await pm.stop();
    }
  });
}

const FERM = `domain (ip ip6) {
  table filter {
    chain INPUT {
      policy DROP;
      mod conntrack ctstate (ESTABLISHED RELATED) ACCEPT;
      interface lo ACCEPT;
      proto tcp dport (ssh http https) ACCEPT;
    }
    chain FORWARD policy DROP;
    chain OUTPUT policy ACCEPT;
  }
  table nat {
    chain POSTROUTING outerface eth0 MASQUERADE;
  }
}
`;

for (const backend of BACKENDS) {
  kernelTest(`real ferm re-applies its tables beside ours (${backend})`, async (netns) => {
    const pm = await PrivateMounts.start(netns, backend, false);
    try {
      await Deno.writeTextFile(`${pm.tmp}/ferm.conf`, FERM);
      const { survived } = await besideProgram(netns, backend, `ferm (${backend})`, {
        async write() {
          const r = await pm.exec("ferm", [`${pm.tmp}/ferm.conf`]);
          assert.equal(r.code, 0, `ferm: ${r.stderr}`);
        },
      });
      // ferm restores its tables whole (no --noflush): ours in filter and nat are gone
      // until the next apply, which the check above made.
      assert.equal(survived, false, "ferm replaced the filter and nat tables");
    } finally {
      await pm.stop();
    }
  });
}
