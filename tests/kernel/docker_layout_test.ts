/**
 * Docker's nat layout, applied by an operator through the `rampart` CLI (a
 * whole process) on both backends, beside Docker's own rules: owned chains
 * jumped to from PREROUTING and OUTPUT whose rules match `inInterface`, and
 * `! -o docker0` MASQUERADE. Issue 13 measured that Rampart refused it
 * ("inInterface() cannot match in OUTPUT") though both restore binaries
 * accept it.
 *
 * Checked: the apply succeeds; the only warning is the one about a rule that
 * really can never match (in a chain reached only from OUTPUT), located in the
 * file, in words, on stderr and in `--json`; iptables-save shows exactly the
 * rules, as the fake prints them too; Docker's own rules are untouched byte
 * for byte, counters included; `remove` takes ours away and leaves theirs.
 */
import assert from "assert";
import { Firewall } from "../../mod.ts";
import { loadPolicyFile } from "../../yaml.ts";
import { FakeDataplane } from "../../testing.ts";
import { BACKENDS, binary, kernelTest, nsExec, saveTable, type Variant } from "./netns.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** Docker's own nat and filter rules (as `dockerd` writes them for one published port). */
const DOCKER_NAT = `*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
`;

/** The same layout as Rampart's own (both families), and one rule that can never match. */
const POLICY = `tables:
  nat:
    kernelChains:
      PREROUTING:
        insert:
          - destAddrType: LOCAL
            jump: rp-docker
      OUTPUT:
        insert:
          - notDestNet: 127.0.0.0/8
            destAddrType: LOCAL
            jump: rp-docker
            family: ipv4
          - notDestNet: ::1
            destAddrType: LOCAL
            jump: rp-docker
            family: ipv6
          - jump: rp-local
      POSTROUTING:
        insert:
          - sourceNet: 172.17.0.0/16
            notOutInterface: docker0
            action: masq
            family: ipv4
          - sourceNet: fd00:d0c::/64
            notOutInterface: docker0
            action: masq
            family: ipv6
    chains:
      rp-docker:
        - inInterface: docker0
          action: return
        - notInInterface: docker0
          protocol: tcp
          destPorts: [8081]
          dnat: {destAddr: 172.17.0.3, destPort: 80}
          family: ipv4
        - notInInterface: docker0
          protocol: tcp
          destPorts: [8081]
          dnat: {destAddr: "fd00:d0c::3", destPort: 80}
          family: ipv6
      rp-local:
        - inInterface: docker0
          action: return
  filter:
    kernelChains:
      FORWARD:
        insert:
          - jump: rp-docker-fwd
    chains:
      rp-docker-fwd:
        - outInterface: docker0
          conntrackState: [RELATED, ESTABLISHED]
          action: accept
        - inInterface: docker0
          notOutInterface: docker0
          action: accept
        - inInterface: docker0
          outInterface: docker0
          action: accept
`;

/** The line of the `rp-local` rule in POLICY (the one that can never match). */
const LOCAL_RULE_LINE = POLICY.split("\n").indexOf("      rp-local:") + 2;

/** `-A` lines without our ID comments (the IDs are checked by other tests). */
function lines(save: string): string[] {
  return save.split("\n").filter((l) => l.startsWith("-A ")).map((l) =>
    l.replace(/ -m comment --comment "?rampart:[\w-]{16}"?/, "")
  );
}

/** Docker's chain and rules in `iptables-save -c` text (everything not ours), with counters. */
function dockerLines(save: string): string[] {
  return save.split("\n").filter((l) =>
    (l.startsWith(":DOCKER ") || /^\[\d+:\d+\] -A /.test(l)) && !/rampart:|rp-/.test(l)
  );
}

const EXPECTED_NAT: Record<4 | 6, string[]> = {
  4: [
    "-A PREROUTING -m addrtype --dst-type LOCAL -j rp-docker",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j rp-docker",
    "-A OUTPUT -j rp-local",
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    // Ours (MASQUERADE gets --random-fully where the host supports it), then Docker's.
    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE --random-fully",
    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
    "-A DOCKER -i docker0 -j RETURN",
    "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
    "-A rp-docker -i docker0 -j RETURN",
    "-A rp-docker ! -i docker0 -p tcp -m multiport --dports 8081 -j DNAT --to-destination 172.17.0.3:80",
    "-A rp-local -i docker0 -j RETURN",
  ],
  6: [
    "-A PREROUTING -m addrtype --dst-type LOCAL -j rp-docker",
    "-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j rp-docker",
    "-A OUTPUT -j rp-local",
    "-A POSTROUTING -s fd00:d0c::/64 ! -o docker0 -j MASQUERADE --random-fully",
    "-A rp-docker -i docker0 -j RETURN",
    "-A rp-docker ! -i docker0 -p tcp -m multiport --dports 8081 -j DNAT --to-destination [fd00:d0c::3]:80",
    "-A rp-local -i docker0 -j RETURN",
  ],
};

const EXPECTED_FORWARD = [
  "-A FORWARD -j rp-docker-fwd",
  "-A rp-docker-fwd -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  "-A rp-docker-fwd -i docker0 ! -o docker0 -j ACCEPT",
  "-A rp-docker-fwd -i docker0 -o docker0 -j ACCEPT",
];

for (const backend of BACKENDS) {
  kernelTest(
    `Docker's nat layout through the rampart CLI beside Docker's own rules (${backend})`,
    async (
      netns,
    ) => {
      const dir = await Deno.makeTempDir({ prefix: "rp-docker-" });
      try {
        const file = `${dir}/docker.yaml`;
        await Deno.writeTextFile(file, POLICY);
        const v4: Variant = { backend, ipVersion: 4 };
        const v6: Variant = { backend, ipVersion: 6 };
        await nsExec(netns, binary(v4, "restore"), ["--noflush"], DOCKER_NAT);
        const dockerBefore = dockerLines(await saveTable(netns, v4, "nat", { counters: true }));
        assert.equal(dockerBefore.length, 6);

        const ns = ["--netns", netns, "--backend", backend];
        const apply = await cli(["apply", file, ...ns, "--yes", "--json"]);
        assert.equal(apply.code, 0, apply.err + apply.out);
        const doc = JSON.parse(apply.out);
        assert.equal(doc.ok, true);
        // One warning per family: rp-local is reached only from OUTPUT, where
        // packets have no incoming interface. rp-docker (PREROUTING and OUTPUT)
        // and the `! -o docker0` MASQUERADE get none.
        assert.deepEqual(
          doc.warnings.map((w: Record<string, unknown>) => [
            w.kind,
            w.code,
            w.table,
            w.ipVersion,
            w.chain,
            w.ruleIndex,
            w.method,
            (w.source as { line: number }).line,
          ]),
          [
            ["placement", "never-matches", "nat", 4, "rp-local", 0, "inInterface", LOCAL_RULE_LINE],
            ["placement", "never-matches", "nat", 6, "rp-local", 0, "inInterface", LOCAL_RULE_LINE],
          ],
        );
        assert.match(
          apply.err,
          new RegExp(
            `${file}:${LOCAL_RULE_LINE}:\\d+: warning: Rule 1 of chain "rp-local" \\(nat, IPv4\\) ` +
              `never matches: inInterface\\("docker0"\\) matches no packet in OUTPUT`,
          ),
        );

        // What the kernel holds, as iptables-save prints it.
        assert.deepEqual(lines(await saveTable(netns, v4, "nat")), EXPECTED_NAT[4]);
        assert.deepEqual(lines(await saveTable(netns, v6, "nat")), EXPECTED_NAT[6]);
        for (const v of [v4, v6]) {
          const filter = lines(await saveTable(netns, v, "filter"));
          assert.deepEqual(filter, EXPECTED_FORWARD, `filter IPv${v.ipVersion}`);
        }
        const dockerAfter = dockerLines(await saveTable(netns, v4, "nat", { counters: true }));
        assert.deepEqual(dockerAfter, dockerBefore, "Docker's rules are untouched");

        // The fake writes and prints the same.
        const fake = new FakeDataplane({ backend });
        await fake.runner.run(binary(v4, "restore"), ["--noflush"], { stdin: DOCKER_NAT });
        const firewall = new Firewall({ runner: fake.runner, backend });
        firewall.setPolicy(await loadPolicyFile(file));
        await firewall.apply();
        for (const v of [v4, v6]) {
          for (const t of ["nat", "filter"]) {
            const faked = (await fake.runner.run(binary(v, "save"), ["-t", t])).stdout;
            assert.deepEqual(lines(faked), lines(await saveTable(netns, v, t)), `fake ${t}`);
          }
        }

        // In sync; the warnings are still reported (plan and diff, stderr and --json).
        const plan = await cli(["plan", file, ...ns]);
        assert.equal(plan.code, 0, plan.err);
        assert.match(plan.out, /Nothing to do/);
        assert.equal(plan.err.match(/warning: /g)?.length, 2, plan.err);
        const diff = await cli(["diff", file, ...ns, "--json"]);
        assert.equal(diff.code, 0, diff.err);
        const diffDoc = JSON.parse(diff.out);
        assert.equal(diffDoc.changed, false);
        assert.equal(diffDoc.warnings.length, 2);

        const remove = await cli(["remove", ...ns, "--yes"]);
        assert.equal(remove.code, 0, remove.err);
        assert.deepEqual(lines(await saveTable(netns, v4, "nat")), lines(DOCKER_NAT));
        assert.deepEqual(lines(await saveTable(netns, v6, "nat")), []);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
