/**
 * Issue 13 item 9: the adversarial regression suite, as an operator runs
 * Rampart (whole `rampart` processes) on the kernel, both backends and both
 * families. Every case asserts every other program's line of every table
 * byte for byte, counters included (`foreign_rules.ts`, which decides what
 * is Rampart's without the engine's code).
 *
 * - foreign rules whose comments, LOG and NFLOG prefixes imitate our markers,
 *   and chains named like ours, through a whole policy's life: apply, one
 *   rule changed, many changed and a chain removed, the rule-ID scheme and
 *   the insert mode switched and back, remove; one rule changed keeps the
 *   counters of every unchanged rule, ours and theirs;
 * - line breaks in foreign comments and interface names that make
 *   iptables-save print lines that look like ours, a policy or a chain, and
 *   interface names that iptables prints unquoted and that read as jumps;
 * - chains under our prefix that another program made (`rp-policy`),
 *   prefixes that collide, files that claim foreign or reserved chains;
 * - backends and prefixes switched between runs, `remove` after
 *   `iptables -F` and after `rp-policy` was deleted.
 *
 * Elsewhere, on the same foreign rules: `kill -9` of large applies and
 * removes (`crash_test.ts`), the watchdog or the CLI killed
 * (`confirm_test.ts`), concurrent commands and two namespaces at once
 * (`races_test.ts`); other programs' real rule sets (`neighbours_test.ts`)
 * and real ufw and ferm (`programs_test.ts`).
 */
import assert from "assert";
import { BACKENDS, kernelTest, rampart, saveTable, tcpTraffic, type Variant } from "./netns.ts";
import {
  assertForeignKept,
  comparable,
  iptables,
  isOurLine,
  saveAll,
  seedHostile,
  withTempDir,
} from "./foreign_rules.ts";
import {
  REALISTIC_CHAINS,
  REALISTIC_V1,
  REALISTIC_V2,
  REALISTIC_V3,
  realisticPolicy,
  type RealisticVersion,
} from "../fixtures/neighbours.ts";

// ---- a policy's life beside hostile foreign rules ----------------------------------------

const FORWARD_POLICY: ReadonlySet<string> = new Set(["filter/FORWARD"]);
const OURS_WITH_POLICY = { ourChains: REALISTIC_CHAINS, ourPolicies: FORWARD_POLICY };

for (const backend of BACKENDS) {
  kernelTest(
    `hostile foreign rules survive a policy's life byte for byte, counters included (${backend}, IPv4 and IPv6)`,
    async (netns) => {
      await seedHostile(netns, backend);
      const saved = await saveAll(netns, backend);
      const before = comparable(saved, { backend });
      const whileOurs = comparable(saved, { backend, ourPolicies: FORWARD_POLICY });
      const counted = before.filter((l) => /^\[[1-9]\d*:\d+\] -A /.test(l));
      // Every foreign rule but those of FORWARD (no traffic; ip6tables-nft ignores -c) counts.
      assert.ok(counted.length >= 70, `foreign rules with counters:\n${counted.join("\n")}`);
      await withTempDir(async (dir) => {
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        const file = `${dir}/rules.yaml`;
        const steps: [string, RealisticVersion, string[]][] = [
          ["apply", REALISTIC_V1, []],
          ["one rule changed", REALISTIC_V2, []],
          ["many rules changed, a chain removed", REALISTIC_V3, []],
          ["rule IDs switched to chained", REALISTIC_V3, ["--rule-ids", "chained"]],
          ["insert mode switched to append", REALISTIC_V1, ["--insert-mode", "append"]],
          ["rule IDs switched back to stable, insert mode back to insert", REALISTIC_V2, []],
        ];
        for (const [step, version, flags] of steps) {
          await Deno.writeTextFile(file, realisticPolicy(version));
          const apply = await rampart(["apply", file, "--yes", ...flags, ...ns]);
          assert.equal(apply.code, 0, `${step}: ${apply.err}`);
          await assertForeignKept(netns, backend, whileOurs, OURS_WITH_POLICY, step);
          const plan = await rampart(["plan", file, ...flags, ...ns]);
          assert.equal(plan.code, 0, `${step}: ${plan.err}`);
          assert.match(plan.out, /Nothing to do/, `${step}: ${plan.out}`);
          for (const ipVersion of [4, 6] as const) {
            assert.match(
              await saveTable(netns, { backend, ipVersion }, "filter"),
              /^:FORWARD DROP /m,
              step,
            );
          }
        }
        const remove = await rampart(["remove", "--yes", ...ns]);
        assert.equal(remove.code, 0, remove.err);
        // Nothing of ours is left: the namespace is as it was.
        assert.deepEqual(comparable(await saveAll(netns, backend), { backend }), before);
      });
    },
  );
}

for (const backend of BACKENDS) {
  kernelTest(
    `one rule changed through the CLI: every unchanged rule of ours keeps its counters, every foreign one too (${backend})`,
    async (netns) => {
      await seedHostile(netns, backend);
      await withTempDir(async (dir) => {
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V1));
        assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
        for (const ipVersion of [4, 6] as const) await tcpTraffic(netns, { backend, ipVersion });
        const counted = (save: string) => {
          const lines = comparable(save, { backend, ourPolicies: FORWARD_POLICY });
          const ours = new Map<string, string>();
          let family = "";
          for (const l of lines) {
            if (l.startsWith("# IPv")) family = l.slice(2);
            const m = /^(\[\d+:\d+\]) (.*)$/.exec(l);
            if (m !== null && isOurLine(l, REALISTIC_CHAINS)) ours.set(`${family} ${m[2]}`, m[1]!);
          }
          return { foreign: lines.filter((l) => !isOurLine(l, REALISTIC_CHAINS)), ours };
        };
        const before = counted(await saveAll(netns, backend));
        await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V2));
        const apply = await rampart(["apply", file, "--yes", ...ns]);
        assert.equal(apply.code, 0, apply.err);
        await assertForeignKept(netns, backend, before.foreign, OURS_WITH_POLICY, "one rule");
        const after = counted(await saveAll(netns, backend));
        let kept = 0, busy = 0;
        for (const [rule, counters] of before.ours) {
          const now = after.ours.get(rule);
          if (now === undefined) continue; // the changed rule
          assert.equal(now, counters, rule);
          kept++;
          if (counters !== "[0:0]") busy++;
        }
        // Both families: rp-in's jump, its RELATED,ESTABLISHED and lo rules count TCP over lo.
        assert.ok(kept >= 40 && busy >= 6, `${kept} unchanged rules, ${busy} with counters`);
      });
    },
  );
}

// ---- line breaks that forge lines of iptables-save ------------------------------------------

const DROP_INPUT = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        policy: DROP
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - {protocol: tcp, destPorts: [22], action: accept}
`;

for (const backend of BACKENDS) {
  kernelTest(
    `a line break in a foreign comment that forges a policy, a chain or a rule of ours: refused, nothing written (${backend})`,
    async (netns) => {
      const v: Variant = { backend, ipVersion: 4 };
      const comment = (text: string) => ["-m", "comment", "--comment", text];
      const forgeries = [
        // iptables-save prints the comment's second line as a line of its own.
        comment("x\n:INPUT DROP [0:0]"),
        comment("x\n:rp-in - [0:0]"),
        comment(`x\n-A INPUT -m comment --comment rampart:${"A".repeat(16)} -j ACCEPT`),
        comment("x\n-A INPUT -j rp-in"),
        // iptables prints interface names as they are (with a warning, and exit 0).
        ["-i", "x\n:INPUT DROP"],
      ];
      await withTempDir(async (dir) => {
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(file, DROP_INPUT);
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`, "-4"];
        for (const forged of forgeries) {
          await iptables(netns, v, ["-F", "INPUT"]);
          await iptables(netns, v, ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
          await iptables(netns, v, ["-A", "INPUT", ...forged]);
          await iptables(netns, v, ["-A", "INPUT", "-s", "10.9.9.9", "-j", "DROP"]);
          const before = await saveAll(netns, backend);
          for (const args of [["plan", file], ["apply", file, "--yes"], ["remove", "--yes"]]) {
            const r = await rampart([...args, ...ns]);
            const why = `${JSON.stringify(forged)}, ${args[0]}: ${r.out}${r.err}`;
            assert.equal(r.code, 1, why);
            assert.match(r.err, /line break/, why);
            assert.equal(await saveAll(netns, backend), before, why);
          }
        }
      });
    },
  );
}

// ---- values iptables prints unquoted ------------------------------------------------------

for (const backend of BACKENDS) {
  kernelTest(
    `foreign rules whose interface names read as jumps to our chains are left alone (${backend})`,
    async (netns) => {
      const ours = { ourChains: new Set(["rp-in", "rp-policy"]) };
      for (const ipVersion of [4, 6] as const) {
        const v: Variant = { backend, ipVersion };
        // iptables warns that the kernel allows no space in an interface name, and adds the
        // rule; iptables-save prints `-A INPUT -i x -j rp-in`.
        await iptables(netns, v, ["-A", "INPUT", "-c", "3", "180", "-i", "x -j rp-in"]);
        await iptables(netns, v, ["-A", "INPUT", "-c", "4", "240", "-i", "y -g rp-in"]);
        await iptables(netns, v, [
          "-A",
          "INPUT",
          "-c",
          "5",
          "300",
          "-s",
          ipVersion === 4 ? "10.9.9.9" : "2001:db8::9",
          "-j",
          "DROP",
        ]);
      }
      const before = comparable(await saveAll(netns, backend), { backend });
      await withTempDir(async (dir) => {
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(
          file,
          DROP_INPUT.replace("family: ipv4\n", "").replace("        policy: DROP\n", ""),
        );
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        const apply = await rampart(["apply", file, "--yes", ...ns]);
        assert.equal(apply.code, 0, apply.err);
        assert.match(
          apply.err,
          /warning: filter IPv4: left alone a rule of chain INPUT that reads as a jump to one of our chains but is not one .*: -i x -j rp-in/,
        );
        await assertForeignKept(netns, backend, before, ours, "apply");
        // A new process learns it again: the same apply changes nothing.
        assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
        await assertForeignKept(netns, backend, before, ours, "apply again");
        const remove = await rampart(["remove", "--yes", ...ns]);
        assert.equal(remove.code, 0, remove.err);
        assert.deepEqual(comparable(await saveAll(netns, backend), { backend }), before);
      });
    },
  );
}

// ---- chains under our prefix that are not ours, prefixes that collide, a file that claims ----

for (const backend of BACKENDS) {
  kernelTest(
    `another program's rp- chains, colliding prefixes and a file that claims foreign rules change nothing (${backend})`,
    async (netns) => {
      await seedHostile(netns, backend);
      await withTempDir(async (dir) => {
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V1));
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        const unchanged = async (args: string[], code: number, pattern: RegExp) => {
          const before = await saveAll(netns, backend);
          const r = await rampart([...args, ...ns]);
          const why = `${args.join(" ")}: ${r.out}${r.err}`;
          assert.equal(r.code, code, why);
          assert.match(r.err, pattern, why);
          assert.equal(await saveAll(netns, backend), before, why);
        };

        // Prefixes that take built-in targets or chains, or the lookalike chains in the
        // namespace (rp_x, RP-x, xrp-in, FOREIGN-RET), or that mark no ID safely. (The first
        // and last kinds are refused before the kernel is read: once is enough.)
        const once = backend === "nft";
        for (const prefix of once ? ["L", "N", "PRE", "SNA"] : []) {
          await unchanged(["remove", "--yes", "--chain-prefix", prefix], 2, /built-in|target/);
        }
        for (const prefix of ["rp_", "RP-", "xrp-", "FOREIGN"]) {
          await unchanged(["remove", "--yes", "--chain-prefix", prefix], 2, /matches the chain/);
          const renamed = `${dir}/renamed.yaml`;
          await Deno.writeTextFile(
            renamed,
            realisticPolicy(REALISTIC_V1).replaceAll("rp-", prefix),
          );
          await unchanged(["plan", renamed, "--chain-prefix", prefix], 2, /matches the chain/);
        }
        for (const prefix of once ? ["rp-", "a b:", "x".repeat(33) + ":"] : []) {
          await unchanged(["remove", "--yes", "--hash-prefix", prefix], 2, /Invalid --hash-prefix/);
        }

        // A file that names other programs' chains as its own is an error at the name.
        for (
          const [claim, pattern] of [
            ["      FOREIGN-RET: []\n", /FOREIGN-RET.*rp-/],
            ["      rp-policy: []\n", /rp-policy.*reserved/],
          ] as const
        ) {
          const claiming = `${dir}/claim.yaml`;
          await Deno.writeTextFile(
            claiming,
            realisticPolicy(REALISTIC_V1).replace(
              "    chains:\n      rp-in:",
              `    chains:\n${claim}      rp-in:`,
            ),
          );
          await unchanged(["apply", claiming, "--yes"], 4, pattern);
        }

        // Another program's chains under our prefix: rp-policy with a rule, then one that
        // another rule jumps to: refused, nothing written. Empty, with nothing jumping to
        // it: nothing says whose it is; left alone with a warning when not wanted.
        for (const v of [{ backend, ipVersion: 4 }, { backend, ipVersion: 6 }] as const) {
          await iptables(netns, v, ["-N", "rp-policy"]);
          await iptables(netns, v, [
            "-A",
            "rp-policy",
            "-m",
            "comment",
            "--comment",
            "INPUT policy before Rampart: DROP",
          ]);
        }
        await unchanged(["apply", file, "--yes"], 2, /matches the chain rp-policy/);
        await unchanged(["remove", "--yes"], 2, /matches the chain rp-policy/);
        for (const v of [{ backend, ipVersion: 4 }, { backend, ipVersion: 6 }] as const) {
          await iptables(netns, v, ["-F", "rp-policy"]);
          await iptables(netns, v, ["-I", "OUTPUT", "-p", "sctp", "-j", "rp-policy"]);
        }
        await unchanged(["apply", file, "--yes"], 2, /matches the chain rp-policy/);
        for (const v of [{ backend, ipVersion: 4 }, { backend, ipVersion: 6 }] as const) {
          await iptables(netns, v, ["-D", "OUTPUT", "-p", "sctp", "-j", "rp-policy"]);
        }
        const noPolicy = `${dir}/no-policy.yaml`;
        await Deno.writeTextFile(
          noPolicy,
          realisticPolicy(REALISTIC_V1).replace("        policy: DROP\n", ""),
        );
        const before = comparable(await saveAll(netns, backend), { backend });
        const apply = await rampart(["apply", noPolicy, "--yes", ...ns]);
        assert.equal(apply.code, 0, apply.err);
        assert.match(apply.err, /left chain rp-policy alone/);
        const ours = { ourChains: new Set([...REALISTIC_CHAINS].filter((c) => c !== "rp-policy")) };
        await assertForeignKept(netns, backend, before, ours, "beside an empty rp-policy");
        assert.equal((await rampart(["remove", "--yes", ...ns])).code, 0);
        assert.deepEqual(comparable(await saveAll(netns, backend), { backend }), before);
      });
    },
  );
}

// ---- an operator switching backends and prefixes, flushing, deleting the record -----------

kernelTest(
  "backends and prefixes switched between runs: each run keeps to what is its own, foreign rules byte for byte",
  async (netns) => {
    const saves: Record<string, string> = {};
    // The traffic of each seeding counts in both backends' tables: save after both.
    for (const backend of BACKENDS) await seedHostile(netns, backend);
    for (const backend of BACKENDS) saves[backend] = await saveAll(netns, backend);
    await withTempDir(async (dir) => {
      const file = `${dir}/rules.yaml`, fw = `${dir}/fw.yaml`;
      await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V1));
      // Where the rp- policy has no rules of its own at the top: two instances that both
      // keep rules at the top of one chain would move their blocks above each other in turn.
      await Deno.writeTextFile(
        fw,
        `tables:
  filter:
    kernelChains:
      OUTPUT:
        insert:
          - jump: fw-out
    chains:
      fw-out:
        - {protocol: tcp, destPorts: [25], action: reject, comment: "rampart:AAAAAAAAAAAAAAAA"}
  mangle:
    kernelChains:
      POSTROUTING:
        insert:
          - {protocol: tcp, sourcePorts: [22], dscp: 16}
`,
      );
      const fwChains = new Set(["fw-out", "fw-policy"]);
      const state = ["--state-dir", `${dir}/state`, "--netns", netns];
      const on = (backend: string) => [...state, "--backend", backend];
      const whileOurs = (backend: "nft" | "legacy") =>
        comparable(saves[backend]!, { backend, ourPolicies: FORWARD_POLICY });
      const nothingOurs = (backend: "nft" | "legacy") => comparable(saves[backend]!, { backend });

      // Applied with one backend, then the other: both hold our rules, and each says so.
      assert.equal((await rampart(["apply", file, "--yes", ...on("nft")])).code, 0);
      const legacy = await rampart(["apply", file, "--yes", ...on("legacy")]);
      assert.equal(legacy.code, 0, legacy.err);
      assert.match(
        legacy.err,
        /warning: filter IPv4: iptables-nft also holds \d+ rules \(\d+ of them Rampart's\)/,
      );
      for (const backend of BACKENDS) {
        await assertForeignKept(netns, backend, whileOurs(backend), OURS_WITH_POLICY, backend);
        assert.match((await rampart(["plan", file, ...on(backend)])).out, /Nothing to do/);
      }
      // remove on one backend leaves the other's rules.
      assert.equal((await rampart(["remove", "--yes", ...on("legacy")])).code, 0);
      assert.deepEqual(
        comparable(await saveAll(netns, "legacy"), { backend: "legacy" }),
        nothingOurs("legacy"),
      );
      await assertForeignKept(
        netns,
        "nft",
        whileOurs("nft"),
        OURS_WITH_POLICY,
        "nft after legacy's remove",
      );

      // Other prefixes: the rp- rules are another program's to this run, and the reverse.
      const prefixes = ["--chain-prefix", "fw-", "--hash-prefix", "fw:"];
      const other = await rampart(["apply", fw, "--yes", ...prefixes, ...on("nft")]);
      assert.equal(other.code, 0, other.err);
      const both = {
        ourChains: new Set([...REALISTIC_CHAINS, ...fwChains]),
        ourPolicies: FORWARD_POLICY,
        hashPrefixes: ["rampart:", "fw:"],
      };
      await assertForeignKept(netns, "nft", whileOurs("nft"), both, "two sets of prefixes");
      assert.match((await rampart(["plan", file, ...on("nft")])).out, /Nothing to do/);
      assert.match((await rampart(["plan", fw, ...prefixes, ...on("nft")])).out, /Nothing to do/);
      assert.equal((await rampart(["remove", "--yes", ...prefixes, ...on("nft")])).code, 0);
      await assertForeignKept(netns, "nft", whileOurs("nft"), OURS_WITH_POLICY, "fw- removed");
      assert.match((await rampart(["plan", file, ...on("nft")])).out, /Nothing to do/);
      assert.equal((await rampart(["remove", "--yes", ...on("nft")])).code, 0);
      assert.deepEqual(
        comparable(await saveAll(netns, "nft"), { backend: "nft" }),
        nothingOurs("nft"),
      );
    });
  },
);

for (const backend of BACKENDS) {
  kernelTest(
    `remove after iptables -F, and after rp-policy was deleted: what is still ours goes, the rest is said (${backend})`,
    async (netns) => {
      await seedHostile(netns, backend);
      const seeded = comparable(await saveAll(netns, backend), { backend });
      const families = [{ backend, ipVersion: 4 }, { backend, ipVersion: 6 }] as const;
      await withTempDir(async (dir) => {
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(file, realisticPolicy(REALISTIC_V1));
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
        // An operator flushes the filter table (everyone's rules; the policies stay).
        for (const v of families) await iptables(netns, v, ["-F"]);
        const flushed = comparable(await saveAll(netns, backend), { backend });
        const remove = await rampart(["remove", "--yes", ...ns]);
        assert.equal(remove.code, 0, remove.err);
        // Our emptied chains show nothing of whose they are: left alone, and said.
        for (const chain of ["rp-in", "rp-fwd", "rp-policy"]) {
          assert.match(remove.err, new RegExp(`filter IPv4: left chain ${chain} alone`));
        }
        const after = comparable(await saveAll(netns, backend), { backend });
        // raw, mangle and nat lose our rules; filter stays as the flush left it (FORWARD DROP:
        // its record was flushed with the rest).
        const tableOf = (lines: string[], table: string) => {
          const out: string[] = [];
          let t = "";
          for (const l of lines) {
            if (l.startsWith("*")) t = l.slice(1);
            if (t === table) out.push(l);
          }
          return out;
        };
        assert.deepEqual(tableOf(after, "filter"), tableOf(flushed, "filter"));
        assert.match(tableOf(after, "filter").join("\n"), /^:FORWARD DROP/m);
        const before = comparable(await saveAll(netns, backend), { backend }); // the new normal
        for (const table of ["raw", "mangle", "nat"]) {
          assert.deepEqual(tableOf(after, table), tableOf(seeded, table), table);
        }
        // The next apply takes the emptied chains back and fills them; remove then takes
        // them away. FORWARD keeps DROP: nothing recorded what it was.
        assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
        assert.match((await rampart(["plan", file, ...ns])).out, /Nothing to do/);
        const removeAgain = await rampart(["remove", "--yes", ...ns]);
        assert.equal(removeAgain.code, 0, removeAgain.err);
        const empty = comparable(await saveAll(netns, backend), { backend });
        assert.deepEqual(
          empty.filter((l) => !/^:rp-/.test(l)),
          before.filter((l) => !/^:rp-/.test(l)),
        );
        // The apply needed no record (FORWARD was DROP already), so the emptied record chain
        // was not taken back: it stays, empty, and each command says so.
        assert.deepEqual(empty.filter((l) => /^:rp-/.test(l)), [
          ":rp-policy - [0:0]",
          ":rp-policy - [0:0]",
        ]);
        assert.match(removeAgain.err, /filter IPv6: left chain rp-policy alone/);
        for (const v of families) await iptables(netns, v, ["-X", "rp-policy"]);

        // The record deleted by someone: remove leaves the policy as it is.
        for (const v of families) await iptables(netns, v, ["-P", "FORWARD", "ACCEPT"]);
        assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
        for (const v of families) {
          await iptables(netns, v, ["-F", "rp-policy"]);
          await iptables(netns, v, ["-X", "rp-policy"]);
        }
        assert.equal((await rampart(["remove", "--yes", ...ns])).code, 0);
        const last = comparable(await saveAll(netns, backend), { backend });
        assert.match(last.join("\n"), /^:FORWARD DROP/m);
        assert.deepEqual(last.filter((l) => isOurLine(l, REALISTIC_CHAINS)), []);
      });
    },
  );
}
