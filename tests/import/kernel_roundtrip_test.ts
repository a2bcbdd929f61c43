/**
 * The import round trip on the kernel (issue 16 item 4): for every fixture
 * of the import corpus and both backends, the imported policy applied into
 * an empty network namespace gives an iptables-save whose rules are those of
 * the original (apart from our ID comments, the renamed chains and the rules
 * the import reported), and importing the namespace again gives the same
 * file. One source also goes through whole `rampart` processes
 * (`import --from`, `apply`, `import --netns`).
 */
import assert from "assert";
import { DenoCommandRunner, Firewall } from "../../mod.ts";
import { parsePolicy, stringifyPolicy } from "../../yaml.ts";
import { importLive, importSaves, type ImportSource } from "../../import.ts";
import { IMPORT_HEADER } from "../../src/cli/import_command.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";
import { rampart } from "../kernel/cli_process.ts";
import { comparable, leftOut, withoutUnreachable } from "./save_compare.ts";

const ROOT = new URL("../fixtures/import/", import.meta.url);
const SOURCES = [...Deno.readDirSync(ROOT)].filter((e) => e.isDirectory).map((e) => e.name).sort();

function fixtures(source: string, backend: "nft" | "legacy"): ImportSource[] {
  const out: ImportSource[] = [];
  for (const ipVersion of [4, 6] as const) {
    const name = `${source}/${backend}_ipv${ipVersion}.save`;
    try {
      out.push({ ipVersion, backend, text: Deno.readTextFileSync(new URL(name, ROOT)), name });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

async function saveOf(netns: string, backend: string, ipVersion: 4 | 6): Promise<string> {
  return await nsExec(netns, `${ipVersion === 6 ? "ip6tables" : "iptables"}-${backend}-save`, []);
}

for (const source of SOURCES) {
  for (const backend of ["nft", "legacy"] as const) {
    kernelTest(`import round trip: ${source} (${backend})`, async (netns) => {
      const sources = fixtures(source, backend);
      const first = importSaves(sources);
      const yaml = stringifyPolicy(first.policy, { header: IMPORT_HEADER });
      const policy = parsePolicy(yaml, { file: `${source}.yaml` });
      const firewall = new Firewall({
        netns,
        backend,
        runner: new DenoCommandRunner({ netns }),
        ipVersions: policy.ipVersions,
      });
      firewall.setPolicy(policy);
      await firewall.apply();
      for (const s of sources) {
        const after = await saveOf(netns, backend, s.ipVersion);
        const { skip, skipPolicies } = leftOut(first, s.name!);
        assert.deepEqual(
          comparable(after, { skipPolicies, recordChain: "rp-policy" }),
          comparable(s.text, {
            rename: first.renamed,
            skip,
            skipPolicies,
            skipChains: first.unreachable,
          }),
          `${s.name}: the applied policy does not reproduce the original rules`,
        );
      }
      const again = await importLive({
        runner: new DenoCommandRunner({ netns }),
        ipVersions: sources.map((s) => s.ipVersion),
        backend,
      });
      assert.deepEqual(again.problems, [], `${source} ${backend}: the applied rules all import`);
      // A chain policy the first import left out is the kernel's default now.
      for (const p of first.problems) {
        if (p.text.startsWith(":")) {
          const t = again.policy.tables.find((t) => t.table === p.table);
          if (t?.policies[p.chain] === "ACCEPT") delete t.policies[p.chain];
        }
      }
      // The same file, but for the chains no rule reaches (the engine writes none of them).
      assert.equal(
        stringifyPolicy(again.policy, { header: IMPORT_HEADER }),
        stringifyPolicy(withoutUnreachable(first), { header: IMPORT_HEADER }),
        `${source} ${backend}: importing the namespace again gives another file`,
      );
    });
  }
}

kernelTest("import round trip through rampart processes: ufw, both backends", async (netns) => {
  const dir = await Deno.makeTempDir({ prefix: "rp-import-" });
  try {
    for (const backend of ["nft", "legacy"] as const) {
      const file = `${dir}/ufw-${backend}.yaml`;
      const from = ["ipv4", "ipv6"].map((v) => new URL(`ufw/${backend}_${v}.save`, ROOT).pathname);
      const imported = await rampart([
        "import",
        "--from",
        from[0]!,
        "--from",
        from[1]!,
        "-o",
        file,
      ]);
      assert.equal(imported.code, 0, imported.err);
      assert.match(imported.err, /imported 94 of 94 rules .* 125 of 125 rules/);
      const applied = await rampart([
        "apply",
        "--yes",
        "--netns",
        netns,
        "--backend",
        backend,
        file,
      ]);
      assert.equal(applied.code, 0, applied.err);
      const again = await rampart(["import", "--netns", netns, "--backend", backend]);
      assert.equal(again.code, 0, again.err);
      // The file again, but for ufw's spare chains no rule jumps to (written once one does).
      const expected = withoutUnreachable(importSaves(fixtures("ufw", backend)));
      assert.equal(again.out, stringifyPolicy(expected, { header: IMPORT_HEADER }));
      assert.match(imported.err, /note: filter chain\(s\) rp-ufw-logging-allow, /);
      const removed = await rampart(["remove", "--yes", "--netns", netns, "--backend", backend]);
      assert.equal(removed.code, 0, removed.err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
