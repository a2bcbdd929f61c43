/**
 * `deno task install`: a `rampart` command in `$DENO_INSTALL_ROOT/bin` with
 * the README's narrow permissions, and those permissions are enough for what
 * the command does (in a namespace, as "this host" inside one, and the
 * confirm-timeout watchdog it starts).
 */
import assert from "assert";
import { installCommandArgs } from "../../src/cli/install.ts";
import { RAMPART_V8_FLAGS } from "../../src/cli/v8_flags.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";

const CHECKOUT = new URL("../../", import.meta.url).pathname;

interface Installed {
  root: string;
  bin: string;
  stateDir: string;
}

/** Runs `deno task install` from the checkout into a temporary install root. */
async function withInstalled(fn: (installed: Installed) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "rp-install-" });
  const stateDir = `${root}/state`;
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install"],
      cwd: CHECKOUT,
      env: { DENO_INSTALL_ROOT: root, RAMPART_STATE_DIR: stateDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, err);
    await fn({ root, bin: `${root}/bin/rampart`, stateDir });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The state directory the command runs with (the one it was installed for). */
let runtimeStateDir: Record<string, string> = {};

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...runtimeStateDir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("installCommandArgs: narrow permissions, only binaries on PATH", () => {
  const args = installCommandArgs({
    entry: "/co/cli.ts",
    config: "/co/deno.json",
    stateDir: "/var/lib/rp",
    onPath: (name) => !name.startsWith("ip6tables-legacy"),
    extraRun: ["/opt/deno/bin/deno"],
  });
  assert.deepEqual(args.slice(0, 5), ["install", "-g", "-f", "-n", "rampart"]);
  assert.equal(args.at(-1), "/co/cli.ts");
  assert.ok(args.includes("--allow-write=/var/lib/rp"));
  assert.ok(args.includes("--allow-sys=uid"));
  assert.ok(args.includes(`--v8-flags=${RAMPART_V8_FLAGS}`));
  assert.ok(!args.some((a) => a === "-A" || a === "--allow-all" || a === "--allow-write"));
  const run = args.find((a) => a.startsWith("--allow-run="))!.slice("--allow-run=".length)
    .split(",");
  assert.ok(run.includes("iptables-nft-restore") && run.includes("ip") && run.includes("deno"));
  assert.ok(run.includes("/opt/deno/bin/deno"));
  assert.ok(!run.some((n) => n.startsWith("ip6tables-legacy")));
});

Deno.test("deno task install: a rampart command in $DENO_INSTALL_ROOT/bin that runs --help", async () => {
  await withInstalled(async ({ bin, stateDir }) => {
    const shim = await Deno.readTextFile(bin);
    assert.match(shim, new RegExp(`--allow-write=${stateDir}(?= )`));
    assert.doesNotMatch(shim, / -A | --allow-all /);
    assert.match(shim, /--allow-run=[^ ]*iptables-nft-restore/);
    const help = await run(bin, ["--help"]);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /^Usage: rampart <command>/);
    const planHelp = await run(bin, ["plan", "--help"]);
    assert.match(planHelp.out, /--exit-code/);
    // A state directory the install did not allow is refused by Deno, plainly.
    const elsewhere = await run(bin, ["remove", "--yes", "--state-dir", "/nonexistent/rp"]);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.err, /write access to "\/nonexistent\/rp"/);
  });
});

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - {protocol: tcp, destPorts: [22], action: accept, comment: ssh}
`;

kernelTest(
  "the installed rampart's permissions are enough: --netns, this host in a namespace, the watchdog",
  async (netns) => {
    await withInstalled(async ({ root, bin, stateDir }) => {
      runtimeStateDir = { RAMPART_STATE_DIR: stateDir };
      const file = `${root}/rules.yaml`;
      await Deno.writeTextFile(file, RULES);
      // --netns: everything runs through `ip netns exec`.
      const ns = ["--netns", netns];
      const plan = await run(bin, ["plan", file, ...ns, "--exit-code"]);
      assert.equal(plan.code, 5, plan.err);
      const apply = await run(bin, ["apply", file, ...ns, "--yes"]);
      assert.equal(apply.code, 0, apply.err);
      assert.match(apply.out, /Applied to network namespace/);
      // Host features are read although Deno refuses /proc/version without -A.
      assert.doesNotMatch(apply.err, /warning/);
      assert.equal((await run(bin, ["diff", file, ...ns, "--exit-code"])).code, 0);
      const show = await run(bin, ["show", ...ns, "-4"]);
      assert.equal(show.code, 0, show.err);
      assert.match(show.out, /chain rp-in \(1 rule\)/);
      const remove = await run(bin, ["remove", ...ns, "--yes"]);
      assert.equal(remove.code, 0, remove.err);
      // This host, as seen from inside the namespace: the iptables binaries
      // themselves (and backend detection's) run directly.
      const host = await run("ip", ["netns", "exec", netns, bin, "apply", file, "--yes"]);
      assert.equal(host.code, 0, host.err);
      assert.match(host.out, /Applied to this host/);
      assert.doesNotMatch(host.err, /warning/);
      assert.match(
        await nsExec(netns, "iptables-save", ["-t", "filter"]),
        /-A rp-in .*--dports 22 -j ACCEPT/,
      );
      const hostRemove = await run("ip", ["netns", "exec", netns, bin, "remove", "--yes"]);
      assert.equal(hostRemove.code, 0, hostRemove.err);
      // The confirm-timeout watchdog is started (deno itself) with its own permissions.
      const child = new Deno.Command(bin, {
        args: ["apply", file, ...ns, "--yes", "--confirm-timeout", "60s"],
        env: { NO_COLOR: "1", RAMPART_STATE_DIR: stateDir },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let err = "";
      while (!err.includes("Confirm within")) {
        const { value, done } = await reader.read();
        if (done) break;
        err += value;
      }
      assert.match(err, /Watchdog \d+ armed/);
      const confirm = await run(bin, ["confirm", ...ns]);
      assert.equal(confirm.code, 0, confirm.err);
      const out = new Response(child.stdout).text();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        err += value;
      }
      const status = await child.status;
      assert.equal(status.code, 0, err);
      assert.match(await out, /Confirmed: the new rules stay/);
      assert.equal((await run(bin, ["remove", ...ns, "--yes"])).code, 0);
    });
  },
);
