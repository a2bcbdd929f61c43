import assert from "assert";
import { kernelAvailability } from "../kernel/netns.ts";

const EXAMPLE = new URL("../../examples/apply.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

async function runExample(
  args: string[],
  options: { stdin?: string; wrap?: string[] } = {},
): Promise<{ code: number; out: string; err: string }> {
  const argv = [Deno.execPath(), "run", "-A", EXAMPLE, ...args];
  const [cmd, ...rest] = [...(options.wrap ?? []), ...argv];
  const child = new Deno.Command(cmd!, {
    args: rest,
    cwd: ROOT,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function namespaces(): Promise<string[]> {
  const r = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
  return new TextDecoder().decode(r.stdout).split("\n").map((l) => l.split(" ")[0]!).filter(
    (l) => l !== "",
  );
}

/** What every successful run prints, whatever the dataplane. */
function assertDemoOutput(out: string): void {
  assert.match(out, /== Plan: the exact iptables-restore scripts/);
  for (const t of ["raw", "mangle", "nat", "filter"]) {
    assert.match(out, new RegExp(`^# ${t} \\(IPv4\\)\\n\\*${t}$`, "m"), `plan for ${t}`);
  }
  assert.match(out, /^# filter \(IPv6\)$/m);
  assert.match(out, /\[8\/8\] filter \(IPv6\): \d+ lines written/);
  assert.match(
    out,
    /== Plan after applying\n\(nothing to do: the kernel already matches the policy\)/,
  );
  // One rule changed: one line per family with stable rule IDs (the default).
  assert.match(
    out,
    /stable rule IDs\n# filter \(IPv4\)\n\*filter\n-R rp-input 5 .*8443 --jump ACCEPT\nCOMMIT\n# filter \(IPv6\)\n\*filter\n-R rp-input 5 /,
  );
  assert.match(out, /== iptables-save \(IPv4/);
  assert.match(out, /== ip6tables-save \(IPv6/);
  assert.match(out, /^:INPUT DROP/m);
  assert.match(out, /^-A INPUT -m comment --comment "?rampart:[A-Za-z0-9_-]{16}"? -j rp-input$/m);
  assert.match(out, /-j DNAT --to-destination 172\.17\.0\.2:80/);
  assert.match(out, /-j DNAT --to-destination \[fd00:17::2\]:80/);
  assert.match(out, /--match-set rp-blocklist src/);
  assert.match(out, /--match-set rp-blocklist6 src/);
}

Deno.test("examples/apply.ts --fake applies into the FakeDataplane", async () => {
  const r = await runExample(["--fake"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Notice: using the in-memory FakeDataplane/m);
  assertDemoOutput(r.out);
});

Deno.test({
  name: "examples/apply.ts applies into a throwaway namespace and deletes it",
  sanitizeResources: false,
  async fn(t) {
    const a = await kernelAvailability();
    if (!a.ok) {
      await t.step({ name: `SKIPPED: ${a.reason}`, ignore: true, fn() {} });
      return;
    }
    for (const backend of ["nft", "legacy"]) {
      await t.step(backend, async () => {
        const r = await runExample(["--backend", backend]);
        assert.equal(r.code, 0, r.err + r.out);
        assert.doesNotMatch(r.out, /Notice: using the in-memory FakeDataplane/);
        const ns = /^Using the throwaway network namespace (rp-demo-[0-9a-f]{8})/m.exec(r.out)?.[1];
        assert.ok(ns !== undefined, r.out);
        assert.match(r.out, new RegExp(`Deleted the network namespace ${ns}`));
        assert.ok(!(await namespaces()).includes(ns), `${ns} still exists`);
        assert.match(r.out, new RegExp(`iptables-save \\(IPv4, ${backend}\\)`));
        assertDemoOutput(r.out);
      });
    }
  },
});

Deno.test({
  name: "examples/apply.ts --host refuses without an interactive confirmation",
  sanitizeResources: false,
  async fn() {
    // Run in a private network namespace anyway (unshare -n), so that even a
    // bug here could never touch this machine's own tables.
    const a = await kernelAvailability();
    const wrap = a.ok ? ["unshare", "-n"] : [];
    const r = await runExample(["--host"], { stdin: "yes\n", wrap });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /--host needs an interactive confirmation/);
    assert.match(r.out, /Aborted: nothing was changed/);
    assert.doesNotMatch(r.out, /lines written/);
  },
});

Deno.test("examples/apply.ts rejects bad flags with usage", async () => {
  const bad = await runExample(["--backend", "iptables"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Invalid --backend "iptables": expected auto, nft or legacy/);
  const unknown = await runExample(["--frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /Usage: deno run -A examples\/apply.ts/);
  const help = await runExample(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /--host/);
});
