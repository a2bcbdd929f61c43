import assert from "assert";
import { BinaryNotFoundError, defaultLookPath, findBestBinary } from "../../src/host/binaries.ts";

function lookPathOf(names: string[]) {
  const set = new Set(names);
  return (name: string) => Promise.resolve(set.has(name) ? `/sbin/${name}` : undefined);
}

Deno.test("findBestBinary prefers ip[6]tables-<backend>-<op>, then ip[6]tables-<op>", async () => {
  const cases: [string[], 4 | 6, "nft" | "legacy", "save" | "restore", string][] = [
    [["iptables-nft-save", "iptables-save"], 4, "nft", "save", "iptables-nft-save"],
    [["iptables-save"], 4, "nft", "save", "iptables-save"],
    [
      ["ip6tables-legacy-restore", "ip6tables-restore"],
      6,
      "legacy",
      "restore",
      "ip6tables-legacy-restore",
    ],
    [["ip6tables-restore", "iptables-legacy-restore"], 6, "legacy", "restore", "ip6tables-restore"],
    [["ip6tables-nft-save"], 6, "nft", "save", "ip6tables-nft-save"],
  ];
  for (const [onPath, ipVersion, backend, op, want] of cases) {
    const got = await findBestBinary(op, { ipVersion, backend, lookPath: lookPathOf(onPath) });
    assert.equal(got, want);
  }
});

Deno.test("findBestBinary throws BinaryNotFoundError naming the candidates", async () => {
  await assert.rejects(
    findBestBinary("restore", {
      ipVersion: 6,
      backend: "nft",
      lookPath: lookPathOf(["iptables-nft-restore"]),
    }),
    (e: unknown) =>
      e instanceof BinaryNotFoundError &&
      e.candidates.join() === "ip6tables-nft-restore,ip6tables-restore" &&
      e.message ===
        'No iptables binary found: expected one of "ip6tables-nft-restore", "ip6tables-restore" on PATH',
  );
});

Deno.test("defaultLookPath searches PATH for executables", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/rp-tool`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/rp-data`, "not executable", { mode: 0o644 });
    await Deno.mkdir(`${dir}/rp-dir`);
    const saved = Deno.env.get("PATH");
    Deno.env.set("PATH", `/nonexistent:${dir}`);
    try {
      assert.equal(await defaultLookPath("rp-tool"), `${dir}/rp-tool`);
      assert.equal(await defaultLookPath("rp-data"), undefined);
      assert.equal(await defaultLookPath("rp-dir"), undefined);
      assert.equal(await defaultLookPath("rp-missing"), undefined);
      assert.equal(await defaultLookPath(`${dir}/rp-tool`), `${dir}/rp-tool`);
      assert.equal(await defaultLookPath(""), undefined);
    } finally {
      if (saved === undefined) Deno.env.delete("PATH");
      else Deno.env.set("PATH", saved);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultLookPath finds the installed iptables binaries", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const found = await defaultLookPath("iptables-nft-save");
  if (found === undefined) return; // not installed here
  assert.match(found, /\/iptables-nft-save$/);
});
