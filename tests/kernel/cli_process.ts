/**
 * Running `rampart` as an operator does: a whole `deno run -A cli.ts …`
 * process, Deno start-up included, and TCP reachability between namespaces
 * (with Deno itself, so the tests need no other tool).
 */

const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** What one `rampart` process did. */
export interface RampartRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/**
 * Runs `rampart <args>` as a process (no terminal, no colour).
 *
 * @param args The arguments after `rampart`.
 * @param env Extra environment variables.
 */
export async function rampart(
  args: string[],
  env: Record<string, string> = {},
): Promise<RampartRun> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function ip(args: string[]): Promise<void> {
  const r = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/** A second namespace linked to the first by a veth pair, with a TCP listener in the first. */
export interface Link {
  /** The client namespace. */
  client: string;
  /** The server's IPv4 address. */
  server4: string;
  /** The server's IPv6 address. */
  server6: string;
  /** The port the server listens on. */
  port: number;
  /** Whether a TCP connection from the client to the server succeeds within 1.5 s. */
  reachable(ipVersion: 4 | 6): Promise<boolean>;
}

/**
 * Links `server` (a test's namespace) to a new client namespace, starts a TCP
 * listener on port 2222 in `server`, runs `fn`, then stops the listener (by
 * its process ID) and deletes the client namespace.
 */
export async function withLink<T>(server: string, fn: (link: Link) => Promise<T>): Promise<T> {
  const client = `${server}-c`;
  await ip(["netns", "add", client]);
  let listener: Deno.ChildProcess | undefined;
  try {
    await ip([
      "link",
      "add",
      "rpv-s",
      "netns",
      server,
      "type",
      "veth",
      "peer",
      "name",
      "rpv-c",
      "netns",
      client,
    ]);
    for (
      const [ns, dev, v4, v6] of [
        [server, "rpv-s", "10.77.0.1/24", "fd77::1/64"],
        [client, "rpv-c", "10.77.0.2/24", "fd77::2/64"],
      ]
    ) {
      await ip(["-n", ns!, "addr", "add", v4!, "dev", dev!]);
      await ip(["-n", ns!, "addr", "add", v6!, "dev", dev!, "nodad"]);
      await ip(["-n", ns!, "link", "set", dev!, "up"]);
      await ip(["-n", ns!, "link", "set", "lo", "up"]);
    }
    const port = 2222;
    listener = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        server,
        Deno.execPath(),
        "eval",
        `for await (const c of Deno.listen({ hostname: "::", port: ${port} })) c.close();`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const link: Link = {
      client,
      server4: "10.77.0.1",
      server6: "fd77::1",
      port,
      async reachable(ipVersion) {
        const host = ipVersion === 6 ? "fd77::1" : "10.77.0.1";
        const code = `setTimeout(() => Deno.exit(1), 1500);
          try { (await Deno.connect({ hostname: "${host}", port: ${port} })).close(); Deno.exit(0); }
          catch { Deno.exit(2); }`;
        const r = await new Deno.Command("ip", {
          args: ["netns", "exec", client, Deno.execPath(), "eval", code],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        return r.code === 0;
      },
    };
    // The listener is up once the first connection succeeds.
    for (let i = 0; i < 50 && !(await link.reachable(4)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return await fn(link);
  } finally {
    if (listener !== undefined) {
      try {
        listener.kill("SIGKILL");
      } catch { /* already gone */ }
      await listener.status;
    }
    await ip(["netns", "del", client]).catch(() => {});
  }
}
