/**
 * Issue 13's measured cases 2, 3 and 9 (case 1 is in `adversary_test.ts`), as
 * an operator meets them: whole `rampart` processes against the kernel in a
 * namespace, both backends, both families. Foreign rules (that imitate our markers, or Docker's) must
 * survive byte for byte, counters included; a DROP policy must not outlive
 * `remove`; rules in the other backend must be reported.
 */
import assert from "assert";
import { dockerScripts, dropInputPolicy } from "../fixtures/neighbours.ts";
import { rampart, withLink } from "./cli_process.ts";
import {
  BACKENDS,
  binary,
  kernelTest,
  nsExec,
  restoreScript,
  saveTable,
  type Variant,
} from "./netns.ts";

const TABLES = ["raw", "mangle", "nat", "filter"] as const;

/** `iptables-save -c` of every table of both families of a backend (dates dropped). */
async function saveAll(netns: string, backend: "nft" | "legacy"): Promise<string> {
  let out = "";
  for (const ipVersion of [4, 6] as const) {
    for (const table of TABLES) {
      out += await saveTable(netns, { backend, ipVersion }, table, { counters: true });
    }
  }
  return out;
}

async function withFile<T>(text: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-own-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, text);
    return await fn(`${dir}/rules.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RULES = `tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
        append:
          - protocol: tcp
            destPorts: [9]
            action: drop
    chains:
      rp-in:
        - protocol: tcp
          destPorts: [22]
          action: accept
`;

// ---- 1. foreign rules whose text mentions our markers ----------------------------
// In `adversary_test.ts`: every imitation of the issue and many more, in every table of both
// families, through a policy's whole life (`foreign_rules.ts`).

// ---- 2. prefixes that capture targets and foreign chains ----------------------------

for (const backend of BACKENDS) {
  kernelTest(
    `measured case 2: prefixes that would take Docker's chains or targets are refused; Docker's rules survive (${backend})`,
    async (netns) => {
      for (const ipVersion of [4, 6] as const) {
        for (const script of Object.values(dockerScripts(ipVersion))) {
          await restoreScript(netns, { backend, ipVersion }, script, { counters: true });
        }
      }
      const before = await saveAll(netns, backend);
      const ns = ["--netns", netns, "--backend", backend];
      for (const prefix of ["D", "A", "R", "INPUT", "DOCKER", "DOCKER-", "DOCKER-USER"]) {
        const r = await rampart(["remove", "--yes", "--chain-prefix", prefix, ...ns]);
        assert.equal(r.code, 2, `${prefix}: ${r.err}`);
        assert.match(r.err, new RegExp(`prefix "${prefix}"`), prefix);
        assert.match(r.err, /Run 'rampart remove --help' for usage/);
      }
      const json = await rampart(["remove", "--yes", "--chain-prefix", "DOCKER", "--json", ...ns]);
      const doc = JSON.parse(json.out);
      assert.deepEqual([doc.ok, doc.exitCode, doc.error.name], [false, 2, "PrefixError"]);
      assert.match(doc.error.chain, /^DOCKER/);
      await withFile(RULES.replaceAll("rp-in", "DOCKER-x"), async (file) => {
        const plan = await rampart(["plan", file, "--chain-prefix", "DOCKER", ...ns]);
        assert.equal(plan.code, 2, plan.err);
      });
      assert.equal(await saveAll(netns, backend), before, "nothing was touched");
      // Our own rules beside Docker's: apply and remove leave Docker's byte for byte.
      await withFile(RULES, async (file) => {
        const apply = await rampart(["apply", file, "--yes", ...ns]);
        assert.equal(apply.code, 0, apply.err);
      });
      const remove = await rampart(["remove", "--yes", ...ns]);
      assert.equal(remove.code, 0, remove.err);
      assert.equal(await saveAll(netns, backend), before);
    },
  );
}

for (const backend of BACKENDS) {
  kernelTest(
    `measured case 2: another program's chain named like ours is refused, not deleted (${backend})`,
    async (netns) => {
      for (const ipVersion of [4, 6] as const) {
        await restoreScript(
          netns,
          { backend, ipVersion },
          [
            "*filter",
            ":rp-x - [0:0]",
            ":rp-empty - [0:0]",
            "[5:300] -A INPUT -j rp-x",
            "[6:360] -A FORWARD -j rp-empty",
            "[7:420] -A rp-x -p tcp -m tcp --dport 25 -j DROP",
            "COMMIT",
            "",
          ].join("\n"),
          { counters: true },
        );
      }
      const before = await saveAll(netns, backend);
      const ns = ["--netns", netns, "--backend", backend];
      await withFile(RULES, async (file) => {
        for (const args of [["apply", file, "--yes"], ["plan", file], ["remove", "--yes"]]) {
          const r = await rampart([...args, ...ns]);
          assert.equal(r.code, 2, `${args[0]}: ${r.err}`);
          assert.match(r.err, /prefix "rp-" matches the chain rp-(x|empty) of table filter/);
        }
      });
      assert.equal(await saveAll(netns, backend), before);
    },
  );
}

// ---- 3. lock-out: a DROP policy outliving remove -------------------------------------

const DROP_POLICY = dropInputPolicy({ port: 2222, icmpV6: true });

for (const backend of BACKENDS) {
  kernelTest(
    `measured case 3: remove and a deleted policy line put INPUT's policy back (${backend})`,
    async (netns) => {
      await withLink(netns, async (link) => {
        const ns = ["--netns", netns, "--backend", backend];
        await withFile(DROP_POLICY, async (file) => {
          const apply = await rampart(["apply", file, "--yes", ...ns]);
          assert.equal(apply.code, 0, apply.err);
          assert.doesNotMatch(apply.err, /THIS HOST/, "a namespace is not this host");
          for (const ipVersion of [4, 6] as const) {
            assert.match(
              await saveTable(netns, { backend, ipVersion }, "filter"),
              /^:INPUT DROP /m,
            );
            assert.equal(
              await link.reachable(ipVersion),
              true,
              `IPv${ipVersion}: port 2222 accepted`,
            );
          }
          // With our rules gone and the policy left at DROP, 2222 would be dropped.
          const remove = await rampart(["remove", "--yes", ...ns]);
          assert.equal(remove.code, 0, remove.err);
          for (const ipVersion of [4, 6] as const) {
            const save = await saveTable(netns, { backend, ipVersion }, "filter");
            assert.match(save, /^:INPUT ACCEPT /m, `IPv${ipVersion}`);
            assert.doesNotMatch(save, /^-A /m);
            assert.equal(await link.reachable(ipVersion), true, `IPv${ipVersion} after remove`);
          }

          // The policy line deleted from the file: diff and plan say so, apply puts ACCEPT back.
          assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
          await Deno.writeTextFile(file, DROP_POLICY.replace("        policy: DROP\n", ""));
          const diff = await rampart(["diff", file, ...ns]);
          assert.match(
            diff.out,
            /~ policy DROP → ACCEPT \(put back: its policy before Rampart changed it\)/,
          );
          assert.doesNotMatch(diff.out, /filter \(IPv\d\): in sync/);
          const plan = await rampart(["plan", file, ...ns]);
          assert.match(plan.out, /^:INPUT ACCEPT \[0:0\]$/m);
          assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
          for (const ipVersion of [4, 6] as const) {
            assert.match(
              await saveTable(netns, { backend, ipVersion }, "filter"),
              /^:INPUT ACCEPT /m,
            );
          }
          assert.match((await rampart(["plan", file, ...ns])).out, /Nothing to do/);
        });
      });
    },
  );
}

kernelTest(
  "measured case 3: a policy that was DROP before Rampart is DROP after remove",
  async (netns) => {
    for (const backend of BACKENDS) {
      const v: Variant = { backend, ipVersion: 4 };
      await nsExec(netns, binary(v, ""), ["-w", "-P", "FORWARD", "DROP"]);
      await withFile(
        "family: ipv4\ntables:\n  filter:\n    kernelChains:\n      FORWARD:\n        policy: ACCEPT\n",
        async (file) => {
          const ns = ["--netns", netns, "--backend", backend];
          assert.equal((await rampart(["apply", file, "--yes", ...ns])).code, 0);
          assert.match(await saveTable(netns, v, "filter"), /^:FORWARD ACCEPT /m);
          assert.equal((await rampart(["remove", "--yes", ...ns])).code, 0);
          assert.match(await saveTable(netns, v, "filter"), /^:FORWARD DROP /m);
        },
      );
    }
  },
);

// ---- 9. two rule sets at once ------------------------------------------------------------

const FERM = `domain (ip ip6) table filter {
  chain INPUT {
    policy DROP;
    mod state state (ESTABLISHED RELATED) ACCEPT;
    proto tcp dport ssh ACCEPT;
  }
}
`;

/** Runs ferm in the namespace with \`iptables*\` resolving to the legacy binaries. */
async function fermLegacy(netns: string, conf: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rp-ferm-" });
  try {
    for (const family of ["iptables", "ip6tables"]) {
      for (const op of ["", "-save", "-restore"]) {
        await Deno.symlink(`/usr/sbin/${family}-legacy${op}`, `${dir}/${family}${op}`);
      }
    }
    await Deno.writeTextFile(`${dir}/ferm.conf`, conf);
    const r = await new Deno.Command("ip", {
      args: ["netns", "exec", netns, "ferm", `${dir}/ferm.conf`],
      env: { PATH: `${dir}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin"}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "measured case 9: rules ferm wrote with iptables-legacy are reported when auto picks nft",
  async (netns) => {
    await withFile(RULES, async (file) => {
      const ns = ["--netns", netns];
      // Our rules are in nft (a first apply); then ferm writes legacy tables.
      assert.equal((await rampart(["apply", file, "--yes", "--backend", "nft", ...ns])).code, 0);
      await fermLegacy(netns, FERM);
      assert.match(
        await saveTable(netns, { backend: "legacy", ipVersion: 4 }, "filter"),
        /--dport 22/,
      );
      const plan = await rampart(["plan", file, "--backend", "auto", ...ns]);
      assert.equal(plan.code, 0, plan.err);
      assert.match(plan.out, /Nothing to do/, "auto chose nft, where our rules are");
      for (const [family, v] of [["iptables", 4], ["ip6tables", 6]] as const) {
        const line = new RegExp(
          `^warning: filter IPv${v}: ${family}-legacy also holds 2 rules \\(none of them Rampart's\\), ` +
            `policy INPUT DROP in this table, while Rampart uses ${family}-nft`,
          "gm",
        );
        assert.equal(plan.err.match(line)?.length, 1, plan.err);
      }
      const json = await rampart(["plan", file, "--backend", "auto", "--json", ...ns]);
      const doc = JSON.parse(json.out);
      assert.deepEqual(
        doc.warnings.map((w: Record<string, unknown>) =>
          `${w.table}/${w.ipVersion}: ${w.otherBackend} ${w.rules}`
        ).sort(),
        ["filter/4: legacy 2", "filter/6: legacy 2"],
      );
      // The other way round: legacy in use, our old rules still in nft.
      const legacy = await rampart(["plan", file, "--backend", "legacy", "-4", ...ns]);
      assert.match(
        legacy.err,
        /warning: filter IPv4: iptables-nft also holds 3 rules \(3 of them Rampart's\), chain rp-in in this table, while Rampart uses iptables-legacy/,
      );
    });
  },
);
