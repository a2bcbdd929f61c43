/**
 * Kernel test harness: every test that touches iptables runs in a private,
 * uniquely named network namespace that is always deleted afterwards. The
 * machine's own namespace is never touched.
 *
 * When the kernel tests cannot run (not root, no `ip`/iptables), they are
 * reported loudly; with `CI=true` they fail instead of being skipped.
 */
import { DenoCommandRunner } from "../../src/runner.ts";

let counter = 0;
let availability: { ok: boolean; reason: string } | undefined;
let warned = false;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
  } catch (e) {
    return { code: 127, out: String(e) };
  }
}

/** Checks once whether namespaces and both iptables backends can be used. */
export async function kernelAvailability(): Promise<{ ok: boolean; reason: string }> {
  if (availability !== undefined) return availability;
  if (Deno.uid() !== 0) {
    availability = { ok: false, reason: "not running as root" };
    return availability;
  }
  for (const bin of ["ip", "iptables-nft-restore", "iptables-legacy-restore", "ipset"]) {
    const r = await run("sh", ["-c", `command -v ${bin}`]);
    if (r.code !== 0) {
      availability = {
        ok: false,
        reason: `${bin} is not installed (apt-get install iptables ipset iproute2)`,
      };
      return availability;
    }
  }
  const name = `rp-probe-${Deno.pid}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) {
    availability = { ok: false, reason: `cannot create a network namespace: ${add.out.trim()}` };
    return availability;
  }
  await run("ip", ["netns", "del", name]);
  availability = { ok: true, reason: "" };
  return availability;
}

/** Creates a fresh namespace, runs `fn` in it, and always deletes it. */
export async function withNetns<T>(fn: (netns: string) => Promise<T>): Promise<T> {
  const name = `rp-t${Deno.pid}-${++counter}-${Math.random().toString(36).slice(2, 7)}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) throw new Error(`ip netns add ${name} failed: ${add.out}`);
  try {
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    return await fn(name);
  } finally {
    // Destroy ipsets first: a set referenced by rules cannot go before the rules do,
    // and the namespace's rules go with it.
    await run("ip", ["netns", "del", name]);
  }
}

/** A runner for commands inside a namespace (for foreign programs and inspection). */
export function nsRunner(netns: string): DenoCommandRunner {
  return new DenoCommandRunner({ netns });
}

/** Runs a command inside the namespace and returns its stdout; throws on failure. */
export async function nsExec(
  netns: string,
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<string> {
  const r = await nsRunner(netns).run(cmd, args, stdin === undefined ? {} : { stdin });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Options of {@linkcode kernelTest}. */
export interface KernelTestOptions {
  /** Also run the test under `deno test --filter` groups. */
  sanitizeOps?: boolean;
}

/**
 * Registers a test that needs the real kernel. It gets a fresh namespace.
 * Without the kernel: outside CI it is ignored with a loud warning; in CI
 * (`CI=true`) it fails.
 */
export function kernelTest(name: string, fn: (netns: string) => Promise<void>): void {
  Deno.test({
    name: `[kernel] ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const a = await kernelAvailability();
      if (!a.ok) {
        if (Deno.env.get("CI") === "true") {
          throw new Error(`Kernel test cannot run in CI: ${a.reason}`);
        }
        if (!warned) {
          warned = true;
          console.error(
            `\n!!! KERNEL TESTS NOT RUN: ${a.reason}. Run as root with iptables, ipset and iproute2 installed.\n`,
          );
        }
        await t.step({ name: `SKIPPED: ${a.reason}`, ignore: true, fn() {} });
        return;
      }
      await withNetns(fn);
    },
  });
}
