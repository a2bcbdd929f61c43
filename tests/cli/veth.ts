/**
 * Two namespaces joined by a veth pair, for tests that need traffic between
 * them: the test's namespace (`10.199.0.1/24` on `rpa`) and a peer namespace
 * made here (`10.199.0.2/24` and `10.199.0.3/24` on `rpb`), deleted
 * afterwards with its end of the pair. Nothing is made in this machine's own
 * namespace: each link is created from inside a namespace.
 */
async function ip(args: string[]): Promise<void> {
  const r = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`ip ${args.join(" ")} failed: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** The addresses of the pair. */
export const VETH = {
  /** The test's namespace. */
  local: "10.199.0.1",
  /** The peer's first address. */
  peer: "10.199.0.2",
  /** The peer's second address. */
  peer2: "10.199.0.3",
} as const;

/** Runs `fn` with a peer namespace joined to `netns` by a veth pair. */
export async function withVethPeer<T>(
  netns: string,
  fn: (peer: string) => Promise<T>,
): Promise<T> {
  const peer = `${netns}-peer`;
  await ip(["netns", "add", peer]);
  try {
    await ip(["-n", peer, "link", "set", "lo", "up"]);
    await ip([
      "-n",
      netns,
      "link",
      "add",
      "rpa",
      "type",
      "veth",
      "peer",
      "name",
      "rpb",
      "netns",
      peer,
    ]);
    await ip(["-n", netns, "addr", "add", `${VETH.local}/24`, "dev", "rpa"]);
    await ip(["-n", peer, "addr", "add", `${VETH.peer}/24`, "dev", "rpb"]);
    await ip(["-n", peer, "addr", "add", `${VETH.peer2}/24`, "dev", "rpb"]);
    await ip(["-n", netns, "link", "set", "rpa", "up"]);
    await ip(["-n", peer, "link", "set", "rpb", "up"]);
    return await fn(peer);
  } finally {
    await ip(["netns", "del", peer]).catch(() => {});
  }
}

/** A running `ping` from the peer namespace (from `source`, every `interval` seconds). */
export function startPing(peer: string, source: string, interval: string): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", peer, "ping", "-q", "-n", "-i", interval, "-I", source, VETH.local],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Stops a ping started by {@linkcode startPing}. */
export async function stopPing(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}
