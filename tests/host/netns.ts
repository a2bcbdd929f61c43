/**
 * Test helper: run a test body inside a private, throw-away network namespace.
 *
 * @module
 */

function canUseNetns(): boolean {
  try {
    if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
    return new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** True when this process may create network namespaces (root on Linux with `ip`). */
export const NETNS_AVAILABLE: boolean = canUseNetns();

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Creates `rp-<purpose>-<random>`, runs `fn` with its name, and always deletes it. */
export async function withNetns<T>(purpose: string, fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `rp-${purpose}-${crypto.randomUUID().slice(0, 8)}`;
  await ip(["netns", "add", ns]);
  try {
    return await fn(ns);
  } finally {
    await ip(["netns", "del", ns]);
  }
}
