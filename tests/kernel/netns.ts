/**
 * Kernel test harness: every test that touches iptables runs in a private,
 * uniquely named network namespace that is always deleted afterwards. The
 * machine's own namespace is never touched.
 *
 * When the kernel tests cannot run (not root, no `ip`/iptables), they are
 * reported loudly; with `CI=true` they fail instead of being skipped.
 */
import { DenoCommandRunner } from "../../src/host/runner.ts";
import { Table, type TableOptions } from "../../src/engine/table.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";

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
  // Unique per call: with --parallel, test modules run as workers of one
  // process, so they share Deno.pid and may probe at the same moment.
  const name = `rp-probe-${crypto.randomUUID().slice(0, 8)}`;
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
  const name = `rp-t${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) throw new Error(`ip netns add ${name} failed: ${add.out}`);
  try {
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    return await fn(name);
  } finally {
    // Deleting the namespace takes its rules and ipsets with it.
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

// ---- Helpers shared by the kernel scenarios --------------------------------

/** The two iptables backends. */
export const BACKENDS: readonly ("nft" | "legacy")[] = ["nft", "legacy"];
/** The two IP families. */
export const FAMILIES: readonly (4 | 6)[] = [4, 6];

/** One backend and IP family. */
export interface Variant {
  /** The backend. */
  backend: "nft" | "legacy";
  /** The IP family. */
  ipVersion: 4 | 6;
}

/** Every backend × family combination. */
export const VARIANTS: readonly Variant[] = BACKENDS.flatMap((backend) =>
  FAMILIES.map((ipVersion) => ({ backend, ipVersion }))
);

/** `iptables-nft-save`, `ip6tables-legacy-restore`, … */
export function binary(v: Variant, op: "save" | "restore" | ""): string {
  const family = v.ipVersion === 6 ? "ip6tables" : "iptables";
  return op === "" ? `${family}-${v.backend}` : `${family}-${v.backend}-${op}`;
}

/**
 * Runs `iptables-save -t <table>` of a variant in the namespace and drops its
 * timestamped `#` comment lines (the "incompatible" warnings are kept).
 */
export async function saveTable(
  netns: string,
  v: Variant,
  table: string,
  options: { counters?: boolean } = {},
): Promise<string> {
  const args = options.counters ? ["-c", "-t", table] : ["-t", table];
  const out = await nsExec(netns, binary(v, "save"), args);
  return out.split("\n").filter((l) => !/^# (Generated|Completed) /.test(l)).join("\n");
}

/** The `-A` lines of one chain in iptables-save text. */
export function chainLines(save: string, chain: string): string[] {
  const prefix = `-A ${chain} `;
  return save.split("\n").filter((l) => l.startsWith(prefix) || l === `-A ${chain}`);
}

/** The `-A` lines of one chain in `iptables-save -c` text, counters separated. */
export function chainLinesWithCounters(
  save: string,
  chain: string,
): { counters: string; line: string }[] {
  const out: { counters: string; line: string }[] = [];
  for (const l of save.split("\n")) {
    const m = /^(\[\d+:\d+\]) (-A (\S+).*)$/.exec(l);
    if (m !== null && m[3] === chain) out.push({ counters: m[1]!, line: m[2]! });
  }
  return out;
}

/** The rule IDs (first comment with the prefix) of one chain, `""` for rules without one. */
export function chainIds(save: string, chain: string, hashPrefix = "rampart:"): string[] {
  const re = new RegExp(
    `--comment "?${hashPrefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([A-Za-z0-9_-]{16})`,
  );
  return chainLines(save, chain).map((l) => {
    const at = l.indexOf(" --comment ");
    if (at < 0) return "";
    return re.exec(l.slice(at))?.[1] ?? "";
  });
}

/** Restores a script in the namespace with the variant's restore binary (`--noflush` by default). */
export async function restoreScript(
  netns: string,
  v: Variant,
  script: string,
  options: { flush?: boolean; counters?: boolean } = {},
): Promise<void> {
  const args: string[] = [];
  if (!options.flush) args.push("--noflush");
  if (options.counters) args.push("--counters");
  await nsExec(netns, binary(v, "restore"), args, script);
}

/** Options shared by every kernel scenario's tables. */
export const TABLE_DEFAULTS: TableOptions = {
  chainPrefixes: ["rp-"],
  hashPrefix: "rampart:",
};

/** A Table running in the namespace with the given backend and family. */
export function kernelTable(
  netns: string,
  name: TableName,
  v: Variant,
  options: TableOptions = {},
): Table {
  return new Table(name, {
    ...TABLE_DEFAULTS,
    netns,
    backend: v.backend,
    ipVersion: v.ipVersion,
    ...options,
  });
}

/** `nft-ipv4`, `legacy-ipv6`, … */
export function variantName(v: Variant): string {
  return `${v.backend}-ipv${v.ipVersion}`;
}

// ---- The rampart CLI as a whole process ---------------------------------------

const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** `deno run -A src/cli/main.ts …`: the CLI as an operator runs it, Deno start-up included. */
export function rampartCommand(
  args: string[],
  options: { stdin?: "piped" | "null" } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, CLI, ...args],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

/** Runs the CLI to the end. */
export async function rampart(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await rampartCommand(args).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** A running CLI whose stderr is read as it comes. */
export class RunningCli {
  readonly child: Deno.ChildProcess;
  err = "";
  readonly #reader: ReadableStreamDefaultReader<string>;
  #ended = false;

  constructor(args: string[]) {
    this.child = rampartCommand(args).spawn();
    this.#reader = this.child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Reads stderr until it contains `text` (after `from`); `false` if the process ended first. */
  async waitFor(text: string, from = 0): Promise<boolean> {
    while (!this.err.slice(from).includes(text)) {
      if (this.#ended) return false;
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        return this.err.slice(from).includes(text);
      }
      this.err += value;
    }
    return true;
  }

  #finished?: Promise<{ code: number; signal: Deno.Signal | null; out: string; err: string }>;

  /** Waits for the end: exit code, stdout, and the rest of stderr (may be called again). */
  finish(): Promise<{ code: number; signal: Deno.Signal | null; out: string; err: string }> {
    this.#finished ??= this.#finish();
    return this.#finished;
  }

  async #finish(): Promise<{ code: number; signal: Deno.Signal | null; out: string; err: string }> {
    const out = new Response(this.child.stdout).text();
    while (!this.#ended) {
      const { value, done } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.err += value;
    }
    const status = await this.child.status;
    return { code: status.code, signal: status.signal, out: await out, err: this.err };
  }
}

/** Waits until no process runs inside the namespace (an orphaned iptables-restore finishes). */
export async function waitNamespaceIdle(netns: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const r = await run("ip", ["netns", "pids", netns]);
    if (r.out.trim() === "") return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `Processes still run in ${netns}: ${(await run("ip", ["netns", "pids", netns])).out}`,
  );
}

/**
 * Sends a few TCP connection attempts over lo inside the namespace (refused:
 * nothing listens on port 9), so that counting rules on OUTPUT and INPUT see
 * packets. Seeding counters with `--counters` does not work everywhere
 * (ip6tables-nft-restore 1.8.9 ignores it).
 */
export async function tcpTraffic(netns: string, v: Variant): Promise<void> {
  const host = v.ipVersion === 6 ? "::1" : "127.0.0.1";
  const code =
    `for (let i = 0; i < 3; i++) { try { (await Deno.connect({ hostname: "${host}", port: 9 })).close(); } catch { /* refused */ } }`;
  await nsExec(netns, Deno.execPath(), ["eval", code]);
}
