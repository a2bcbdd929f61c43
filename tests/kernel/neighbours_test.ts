/**
 * Rampart beside real programs (issue 13 item 9): the import corpus
 * (`tests/fixtures/import/<source>/`, what ufw, ferm, Docker, kube-proxy,
 * libvirt, firewalld, fail2ban and an iptables-persistent file left in the
 * kernel, per backend and family) is loaded into a namespace with counters
 * (`--counters`, and TCP over `lo`, which ip6tables-nft needs), then a
 * realistic policy goes through its life with whole `rampart` processes:
 * applied, one rule changed, many changed and a chain removed, removed.
 * After every step the other programs' lines are byte-identical to before,
 * counters included, and `plan` has nothing to do; after `remove` the
 * namespace is as it was.
 *
 * Sources that share a host in real life share a namespace (chain names do
 * not collide), which keeps the kernel time down: a container and VM host
 * (Docker, kube-proxy, libvirt, fail2ban), ufw, firewalld, and ferm's
 * examples with the iptables-persistent file.
 *
 * Real ufw and ferm re-applying their rules beside ours: `programs_test.ts`.
 */
import assert from "assert";
import { fixtureName } from "../fixtures/import_corpus.ts";
import {
  REALISTIC_CHAINS,
  REALISTIC_V1,
  REALISTIC_V2,
  REALISTIC_V3,
  realisticPolicy,
  type RealisticVersion,
} from "../fixtures/neighbours.ts";
import { assertForeignKept, comparable, saveAll, withTempDir } from "./foreign_rules.ts";
import { BACKENDS, kernelTest, rampart, restoreScript, tcpTraffic, type Variant } from "./netns.ts";

const IMPORT = new URL("../fixtures/import/", import.meta.url);

const GROUPS: readonly { name: string; sources: readonly string[] }[] = [
  { name: "a container and VM host", sources: ["docker", "kube-proxy", "libvirt", "fail2ban"] },
  { name: "ufw", sources: ["ufw"] },
  { name: "firewalld", sources: ["firewalld"] },
  {
    name: "ferm's examples and iptables-persistent",
    sources: [
      "ferm-antiddos",
      "ferm-dmz-router",
      "ferm-dsl-router",
      "ferm-fileserver",
      "ferm-ipv6",
      "ferm-mailserver",
      "ferm-webserver",
      "ferm-workstation",
      "debian-persistent",
    ],
  },
];

/** A saved file as a restore script whose rules carry distinct counters (`[n:60n]`). */
function withCounters(save: string, first: number): { script: string; next: number } {
  let n = first;
  const script = save.split("\n").map((l) => l.startsWith("-A ") ? `[${n}:${60 * n++}] ${l}` : l)
    .join("\n");
  return { script, next: n };
}

/** Loads the corpus files of the sources for a backend (both families), with counters. */
async function loadCorpus(
  netns: string,
  backend: "nft" | "legacy",
  sources: readonly string[],
): Promise<void> {
  let n = 1;
  for (const ipVersion of [4, 6] as const) {
    const v: Variant = { backend, ipVersion };
    for (const source of sources) {
      let save: string;
      try {
        save = await Deno.readTextFile(new URL(`${source}/${fixtureName(v)}`, IMPORT));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue; // the program does not write this family
        throw e;
      }
      const { script, next } = withCounters(save, n);
      n = next;
      await restoreScript(netns, v, script, { counters: true });
    }
    await tcpTraffic(netns, v);
  }
}

/** Rampart's policies on top of the other programs', with our FORWARD policy. */
const OURS = { ourChains: REALISTIC_CHAINS, ourPolicies: new Set(["filter/FORWARD"]) };

/**
 * A realistic policy's life beside the namespace's rules: after each step
 * the other programs' lines are as `before`, `plan` has nothing to do; after
 * `remove` the namespace is as it was.
 */
async function policyLife(netns: string, backend: "nft" | "legacy", what: string): Promise<void> {
  const saved = await saveAll(netns, backend);
  const before = comparable(saved, { backend });
  const whileOurs = comparable(saved, { backend, ourPolicies: OURS.ourPolicies });
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
    const steps: [string, RealisticVersion][] = [
      ["apply", REALISTIC_V1],
      ["one rule changed", REALISTIC_V2],
      ["many rules changed, a chain removed", REALISTIC_V3],
    ];
    for (const [step, version] of steps) {
      const why = `${what}, ${step}`;
      await Deno.writeTextFile(file, realisticPolicy(version));
      const apply = await rampart(["apply", file, "--yes", ...ns]);
      assert.equal(apply.code, 0, `${why}: ${apply.err}`);
      await assertForeignKept(netns, backend, whileOurs, OURS, why);
      const plan = await rampart(["plan", file, ...ns]);
      assert.equal(plan.code, 0, `${why}: ${plan.err}`);
      assert.match(plan.out, /Nothing to do/, `${why}: ${plan.out}`);
    }
    const remove = await rampart(["remove", "--yes", ...ns]);
    assert.equal(remove.code, 0, `${what}: ${remove.err}`);
    assert.deepEqual(comparable(await saveAll(netns, backend), { backend }), before, what);
  });
}

for (const group of GROUPS) {
  for (const backend of BACKENDS) {
    kernelTest(
      `beside ${group.name} (${
        group.sources.join(", ")
      }; ${backend}): a policy's life leaves their rules and counters byte for byte`,
      async (netns) => {
        await loadCorpus(netns, backend, group.sources);
        await policyLife(netns, backend, `${group.name} (${backend})`);
      },
    );
  }
}
