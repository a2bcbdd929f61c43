/**
 * The live kernel as a trace source: `iptables-save` of every table of one
 * family in a network namespace (or this host), every program's rules
 * included, read with the chosen backend's binaries; and, unless given, the
 * host's addresses (`ip -j address`) and the IP sets (`ipset save`) of the
 * same namespace.
 *
 * @module
 */
import { autoDetectBackend } from "../host/backend_detector.ts";
import { IptablesCommands } from "../host/iptables_commands.ts";
import { silentLogger } from "../host/logger.ts";
import { type CommandRunner, DenoCommandRunner } from "../host/runner.ts";
import { parseIpSetSave, type TraceIpSets } from "./ipsets.ts";
import { packetState, type TracePacket } from "./packet.ts";
import type { TraceResult } from "./result.ts";
import { parseTraceRuleset, type TraceRuleset } from "./ruleset.ts";
import { type TraceOptions, tracePacket } from "./walk.ts";

/** Options of {@linkcode readKernelRuleset} and {@linkcode traceKernel}. */
export interface KernelSourceOptions {
  /** Read inside this network namespace. */
  netns?: string;
  /** Runs the binaries. @default {new DenoCommandRunner({ netns })} */
  runner?: CommandRunner;
  /** The backend whose rules are live. @default {"auto"} */
  backend?: "nft" | "legacy" | "auto";
  /** Prefix of the comment carrying a rule ID. @default {"rampart:"} */
  hashPrefix?: string;
  /** The host's addresses; `"read"` reads them with `ip -j address`. @default {"read"} */
  localAddresses?: readonly string[] | "read";
  /** IP set contents; `"read"` reads them with `ipset save`. @default {"read"} */
  ipSets?: TraceIpSets | "read";
  /** At most this many branches. @default {64} */
  maxBranches?: number;
  /** Outcomes for undecidable match modules (see `TraceOptions.assume`). */
  assume?: Readonly<Record<string, boolean>>;
}

/** What was read from the kernel. */
export interface KernelRuleset {
  /** The backend read. */
  backend: "nft" | "legacy";
  /** The save text (all tables of the family). */
  save: string;
  /** The parsed rule set. */
  ruleset: TraceRuleset;
  /** The host's addresses (undefined when they could not be read). */
  localAddresses: string[] | undefined;
  /** The IP sets (undefined when they could not be read). */
  ipSets: TraceIpSets | undefined;
  /** What could not be read, in words. */
  notes: string[];
}

/**
 * Reads what the tracer needs from the kernel for one family.
 *
 * @param ipVersion The family.
 * @param options Namespace, runner, backend, what to read.
 * @returns The save text, rule set, addresses and sets.
 * @throws {Error} When iptables-save fails.
 *
 * @example
 * ```ts
 * import { readKernelRuleset } from "@rampart/iptables/trace";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const fake = new FakeDataplane();
 * await fake.load("*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
 * const read = await readKernelRuleset(4, {
 *   runner: fake.runner, backend: "nft", localAddresses: ["10.0.0.1/24"], ipSets: {},
 * });
 * assert.equal(read.ruleset.tables.filter?.get("INPUT")?.rules.length, 1);
 * ```
 */
export async function readKernelRuleset(
  ipVersion: 4 | 6,
  options: KernelSourceOptions = {},
): Promise<KernelRuleset> {
  const runner = options.runner ??
    new DenoCommandRunner(options.netns === undefined ? {} : { netns: options.netns });
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const requested = options.backend ?? "auto";
  const backend = requested === "auto"
    ? await autoDetectBackend({ runner, ipVersion, hashPrefix, logger: silentLogger() })
    : requested;
  const r = await new IptablesCommands(runner, { ipVersion, backend }).run("save", []);
  if (r.code !== 0) {
    throw new Error(
      `Cannot read the IPv${ipVersion} rules: ${r.cmd} exited with ${r.code}${
        r.stderr.trim() === "" ? "" : `: ${r.stderr.trim()}`
      }`,
    );
  }
  const host = await readHostState(runner, options);
  return {
    backend,
    save: r.stdout,
    ruleset: parseTraceRuleset(r.stdout, { ipVersion, backend, hashPrefix }),
    ...host,
  };
}

/** What {@linkcode readHostState} read. */
export interface HostState {
  /** The host's addresses (undefined when they could not be read). */
  localAddresses: string[] | undefined;
  /** The IP sets (undefined when they could not be read). */
  ipSets: TraceIpSets | undefined;
  /** What could not be read, in words. */
  notes: string[];
}

/**
 * Reads the host's addresses (`ip -j address show`) and IP sets (`ipset
 * save`) through a runner (of a namespace), unless they are given. What
 * cannot be read is left undefined, with a note.
 *
 * @param runner Runs `ip` and `ipset`.
 * @param options Addresses or sets given instead (`"read"`, the default, reads them).
 * @returns The addresses, the sets and the notes.
 *
 * @example
 * ```ts
 * import { readHostState } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const host = await readHostState({
 *   run: () => Promise.resolve({ code: 1, stdout: "", stderr: "no" }),
 * }, { localAddresses: ["10.0.0.1/24"] });
 * assert.deepEqual(host.localAddresses, ["10.0.0.1/24"]);
 * assert.equal(host.ipSets, undefined);
 * ```
 */
export async function readHostState(
  runner: CommandRunner,
  options: Pick<KernelSourceOptions, "localAddresses" | "ipSets"> = {},
): Promise<HostState> {
  const notes: string[] = [];
  let localAddresses: string[] | undefined;
  if (options.localAddresses === "read" || options.localAddresses === undefined) {
    const a = await runner.run("ip", ["-j", "address", "show"], { timeoutMs: 30_000 });
    try {
      if (a.code !== 0) throw new Error(a.stderr.trim() || `exit ${a.code}`);
      localAddresses = addressesFromJson(a.stdout);
    } catch (e) {
      notes.push(`the host's addresses could not be read (${(e as Error).message})`);
    }
  } else localAddresses = [...options.localAddresses];
  let ipSets: TraceIpSets | undefined;
  if (options.ipSets === "read" || options.ipSets === undefined) {
    const s = await runner.run("ipset", ["save"], { timeoutMs: 30_000 });
    if (s.code === 0) ipSets = parseIpSetSave(s.stdout);
    else notes.push(`the IP sets could not be read (${s.stderr.trim() || `exit ${s.code}`})`);
  } else ipSets = options.ipSets;
  return { localAddresses, ipSets, notes };
}

/** The addresses of `ip -j address show`, as `address/prefix`. */
export function addressesFromJson(text: string): string[] {
  const out: string[] = [];
  const links = JSON.parse(text) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (typeof a.local === "string") {
        out.push(`${a.local}/${a.prefixlen ?? ""}`.replace(/\/$/, ""));
      }
    }
  }
  return out;
}

/**
 * Traces a packet through the live tables of a namespace (or this host):
 * every program's rules, the host's addresses and IP sets as they are now.
 *
 * @param packet The packet.
 * @param options Namespace, runner, backend, addresses and sets.
 * @returns The trace.
 *
 * @example
 * ```ts
 * import { traceKernel } from "@rampart/iptables/trace";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import assert from "node:assert/strict";
 * const fake = new FakeDataplane();
 * await fake.load("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
 * const result = await traceKernel(
 *   { source: "203.0.113.7", destination: "10.0.0.1", protocol: "tcp", destPort: 80 },
 *   { runner: fake.runner, backend: "nft", localAddresses: ["10.0.0.1/24"], ipSets: {} },
 * );
 * assert.equal(result.verdict, "DROP");
 * ```
 */
export async function traceKernel(
  packet: TracePacket,
  options: KernelSourceOptions = {},
): Promise<TraceResult> {
  const { ipVersion } = packetState(packet);
  const read = await readKernelRuleset(ipVersion, options);
  const trace: TraceOptions = {};
  if (read.localAddresses !== undefined) trace.localAddresses = read.localAddresses;
  if (read.ipSets !== undefined) trace.ipSets = read.ipSets;
  if (options.maxBranches !== undefined) trace.maxBranches = options.maxBranches;
  if (options.hashPrefix !== undefined) trace.hashPrefix = options.hashPrefix;
  if (options.assume !== undefined) trace.assume = options.assume;
  const result = tracePacket(read.ruleset, packet, trace);
  for (const o of result.outcomes) o.notes.push(...read.notes);
  return result;
}
