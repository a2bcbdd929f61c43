/**
 * Scenario 8: fault drills. iptables-restore missing from PATH, a hung
 * restore (killed at the timeout), and a table native `nft` rules made
 * incompatible: a typed error or safe handling, nothing half-written, and the
 * next apply recovers.
 */
import assert from "assert";
import {
  Accept,
  type CommandResult,
  type CommandRunner,
  Drop,
  Jump,
  Match,
  RestoreError,
  type RunOptions,
} from "../../mod.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import { IncompatibleTableError } from "../../src/host/save_parser.ts";
import {
  chainLines,
  kernelTable,
  kernelTest,
  nsExec,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

/** A clock whose sleeps return at once (retries and backoffs without waiting). */
const FAST_CLOCK = { now: () => performance.now(), sleep: () => Promise.resolve() };

/** A runner whose faults can be switched on and off; it records every result. */
class FaultyRunner implements CommandRunner {
  mode: "ok" | "no-restore" | "hang" = "ok";
  readonly results: { cmd: string; result: CommandResult }[] = [];
  readonly #ok: DenoCommandRunner;
  readonly #noRestore: DenoCommandRunner;

  constructor(netns: string, pathWithoutRestore: string) {
    this.#ok = new DenoCommandRunner({ netns });
    this.#noRestore = new DenoCommandRunner({ netns, env: { PATH: pathWithoutRestore } });
  }

  async run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
    let result: CommandResult;
    if (this.mode === "no-restore") result = await this.#noRestore.run(cmd, args, opts);
    else if (this.mode === "hang" && cmd.endsWith("-restore")) {
      result = await this.#ok.run("sleep", ["30"], opts);
    } else result = await this.#ok.run(cmd, args, opts);
    this.results.push({ cmd, result });
    return result;
  }
}

/** A directory of symlinks to every binary on PATH except the `*-restore` ones. */
async function pathWithoutRestore(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rp-norestore-" });
  for (
    const from of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
  ) {
    try {
      for await (const e of Deno.readDir(from)) {
        if (e.name.endsWith("-restore")) continue;
        try {
          await Deno.symlink(`${from}/${e.name}`, `${dir}/${e.name}`);
        } catch { /* first one on PATH wins */ }
      }
    } catch { /* directory missing */ }
  }
  return dir;
}

const POLICY = [
  { match: Match().conntrackState("RELATED,ESTABLISHED"), action: Accept() },
  { match: Match().protocol("tcp").destPorts(22), action: Accept() },
];

async function faults(netns: string, v: Variant): Promise<void> {
  const path = await pathWithoutRestore();
  try {
    const runner = new FaultyRunner(netns, path);
    const table = kernelTable(netns, "filter", v, {
      runner,
      clock: FAST_CLOCK,
      // Generous: legacy restores wait on the host-wide xtables lock, which the
      // suite's other legacy tests hold at the same time on a loaded machine.
      commandTimeoutMs: 15_000,
    });
    table.updateChain({ name: "rp-input", rules: POLICY });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
    await table.apply();
    const good = await saveTable(netns, v, "filter");

    // 1. iptables-restore missing from PATH (iptables-save still there).
    table.updateChain({ name: "rp-input", rules: [...POLICY, { action: Drop() }] });
    runner.mode = "no-restore";
    let error = await table.apply().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof RestoreError, `missing restore: ${error}`);
    assert.equal(error.code, 127, error.message);
    assert.match(error.message, /restore/);
    assert.equal(await saveTable(netns, v, "filter"), good, "nothing written");
    runner.mode = "ok";
    await table.apply();
    const withDrop = await saveTable(netns, v, "filter");
    assert.equal(chainLines(withDrop, "rp-input").length, 3, "recovered once restore is back");

    // 2. A hung restore is killed at the timeout; nothing is committed. (Its own
    //    table: every retry waits for the timeout.)
    const hung = kernelTable(netns, "filter", v, {
      runner,
      clock: FAST_CLOCK,
      commandTimeoutMs: 300,
    });
    hung.updateChain({ name: "rp-input", rules: POLICY });
    hung.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }]);
    runner.mode = "hang";
    runner.results.length = 0;
    error = await hung.apply().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof RestoreError, `hung restore: ${error}`);
    assert.match(error.message, /killed after its timeout/);
    const killed = runner.results.filter((r) => r.cmd.endsWith("-restore"));
    assert.ok(
      killed.length > 0 && killed.every((r) => r.result.timedOut === true && r.result.code !== 0),
    );
    assert.equal(await saveTable(netns, v, "filter"), withDrop, "nothing written");
    runner.mode = "ok";
    await hung.apply();
    assert.equal(await saveTable(netns, v, "filter"), good, "recovered once restore answers");
    table.updateChain({ name: "rp-input", rules: POLICY });
    table.invalidateDataplaneCache("the other table wrote");
    assert.equal(await table.plan(), "");

    // 3. Native nft rules in the table iptables-nft uses.
    await nativeNft(netns, v, table, runner);
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

async function nativeNft(
  netns: string,
  v: Variant,
  table: ReturnType<typeof kernelTable>,
  runner: FaultyRunner,
): Promise<void> {
  const family = v.ipVersion === 6 ? "ip6" : "ip";
  const nft = (...args: string[]) => nsExec(netns, "nft", args);
  // iptables-nft keeps its tables in `ip filter` / `ip6 filter`; make sure it exists.
  await nft("add", "table", family, "filter");
  await nft("add", "chain", family, "filter", "INPUT", "{ type filter hook input priority 0; }");
  const good = await saveTable(netns, v, "filter");
  const listing = () => nft("list", "table", family, "filter");

  async function expectSafe(label: string, change: boolean): Promise<void> {
    const before = await listing();
    table.updateChain({
      name: "rp-input",
      rules: change ? [...POLICY, { action: Drop() }] : POLICY,
    });
    table.invalidateDataplaneCache(label);
    const error = await table.apply().then(() => undefined, (e: unknown) => e);
    if (v.backend === "nft") {
      assert.ok(error instanceof IncompatibleTableError, `${label}: ${error}`);
      assert.match(error.message, /nft list ruleset/);
      assert.equal(await listing(), before, `${label}: nothing written`);
    } else {
      // The legacy backend does not share tables with nftables: it carries on.
      assert.equal(error, undefined, `${label}: ${error}`);
      assert.equal(await listing(), before, `${label}: the nft table is not touched`);
    }
  }

  // 3a. A native rule iptables-nft cannot represent: "# Table `filter' is incompatible".
  await nft("add", "rule", family, "filter", "INPUT", "ct", "mark", "set", "0x1");
  await expectSafe("incompatible rule", true);
  await nft("flush", "chain", family, "filter", "INPUT");
  await nft("delete", "chain", family, "filter", "INPUT");
  table.invalidateDataplaneCache("native rule removed");
  await table.apply();
  assert.equal(chainLines(await saveTable(netns, v, "filter"), "rp-input").length, 3, "recovered");

  // 3b. A native base chain: "# Table `filter' contains incompatible base-chains".
  await nft(
    "add",
    "chain",
    family,
    "filter",
    "rp-native",
    "{ type filter hook input priority 10; }",
  );
  await expectSafe("incompatible base chain", false);
  await nft("delete", "chain", family, "filter", "rp-native");
  table.invalidateDataplaneCache("native chain removed");
  await table.apply();
  const recovered = await saveTable(netns, v, "filter");
  assert.equal(recovered, good, "recovered");

  // 3c. A native rule that iptables-nft-save prints as a plain (wrong) `-A INPUT -p tcp -j DROP`:
  //     it is foreign, so it is never touched, and applies carry on.
  if (v.backend === "nft") {
    const addr = v.ipVersion === 6
      ? "ip6 saddr . tcp dport { 2001:db8::1 . 22 }"
      : "ip saddr . tcp dport { 10.0.0.1 . 22 }";
    await nft("add", "rule", family, "filter", "INPUT", ...addr.split(" "), "drop");
    const save = await saveTable(netns, v, "filter");
    assert.ok(chainLines(save, "INPUT").includes("-A INPUT -p tcp -j DROP"), save);
    table.updateChain({ name: "rp-input", rules: [...POLICY, { action: Drop() }] });
    table.setRuleInsertions("INPUT", [{ action: Jump("rp-input") }, { action: Accept() }]);
    await table.apply();
    assert.match(await listing(), /saddr \. tcp dport .* drop/, "the native rule is kept");
    assert.equal(await table.plan(), "");
  }
  assert.ok(runner.results.length > 0);
}

for (const v of VARIANTS) {
  kernelTest(`fault drills (${variantName(v)})`, (netns) => faults(netns, v));
}
