/**
 * `rampart trace` and `rampart graph`: explain what the rules do to a
 * packet, and draw them. The rules are those of YAML policy files (as
 * `apply` would write them) or, without files, the live tables of a
 * namespace (or this host), every program's rules included.
 *
 * @module
 */
import { netnsProblem, tableProblem } from "./flag_checks.ts";
import { UnknownNamespaceError } from "../host/network_namespaces.ts";
import { parseArgs } from "parse-args";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { Policy } from "../policy/policy.ts";
import { hashPrefixProblem } from "../host/ownership.ts";
import { packetState, type TracePacket, TracePacketError } from "../trace/packet.ts";
import {
  hasPacketFlags,
  PACKET_FLAG_OPTIONS,
  PACKET_FLAGS,
  packetFromFlags,
  parseAssumeFlags,
} from "../trace/flags.ts";
import { parseIpSetSave, type TraceIpSets } from "../trace/ipsets.ts";
import { readHostState, readKernelRuleset } from "../trace/kernel_source.ts";
import { renderPolicyRuleset } from "../trace/policy_source.ts";
import { describePacket, renderTrace } from "../trace/render.ts";
import type { TraceResult } from "../trace/result.ts";
import type { TraceRuleset } from "../trace/ruleset.ts";
import { type TraceOptions, tracePacket } from "../trace/walk.ts";
import { renderGraph } from "../trace/graph.ts";
import { sourcePositionOf } from "../yaml/load.ts";
import { DEFAULT_MAX_BYTES } from "../yaml/read_text.ts";
import { EXIT_CODES, flagParseError, parseMaxFileSize, UsageError } from "./args.ts";
import { CommandExit, errorData, errorMessage, exitCodeOf } from "./command_errors.ts";
import type { CliEnvironment } from "./environment.ts";
import { loadPolicyFiles } from "./policy_files.ts";

export { PACKET_COMMAND_HELP, type PacketCommandName } from "./trace_help.ts";
import { PACKET_COMMAND_HELP, type PacketCommandName } from "./trace_help.ts";

interface PacketArgs {
  command: PacketCommandName;
  files: string[];
  values: Record<string, unknown>;
  netns: string | undefined;
  ipVersions: (4 | 6)[];
  backend: "nft" | "legacy" | "auto";
  json: boolean;
  color: boolean;
  hashPrefix: string;
  chainPrefixes: string[];
  ruleIds: "stable" | "chained" | undefined;
  insertMode: "insert" | "append";
  maxFileBytes: number;
  localAddresses: string[] | undefined;
  ipSetsFile: string | undefined;
  assume: Record<string, boolean>;
  format: "mermaid" | "dot";
  trace: boolean;
  tables: TableName[] | undefined;
  branch: number;
}

function choice<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `Invalid --${flag} ${JSON.stringify(value)}: expected ${allowed.join(", ")}`,
    );
  }
  return value as T;
}

function parsePacketArgs(
  command: PacketCommandName,
  argv: readonly string[],
  env: CliEnvironment,
): PacketArgs | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        ...PACKET_FLAG_OPTIONS,
        help: { type: "boolean", short: "h", default: false },
        netns: { type: "string", short: "n" },
        ipv4: { type: "boolean", short: "4", default: false },
        ipv6: { type: "boolean", short: "6", default: false },
        backend: { type: "string", default: "auto" },
        json: { type: "boolean", default: false },
        color: { type: "string", default: "auto" },
        "hash-prefix": { type: "string", default: "rampart:" },
        "chain-prefix": { type: "string", multiple: true },
        "rule-ids": { type: "string" },
        "insert-mode": { type: "string", default: "insert" },
        "max-file-size": { type: "string" },
        "local-address": { type: "string", multiple: true },
        ipsets: { type: "string" },
        assume: { type: "string", multiple: true },
        ...(command === "graph"
          ? {
            format: { type: "string", default: "mermaid" },
            trace: { type: "boolean", default: false },
            table: { type: "string", short: "t", multiple: true },
            branch: { type: "string" },
          }
          : {}),
      },
    });
  } catch (e) {
    throw flagParseError(e);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help === true) return "help";
  const netns = v.netns as string | undefined;
  const netnsError = netns === undefined ? undefined : netnsProblem(netns);
  if (netnsError !== undefined) throw new UsageError(netnsError);
  const colorFlag = choice("color", v.color as string, ["auto", "always", "never"] as const);
  const json = v.json === true;
  const hashPrefix = v["hash-prefix"] as string;
  const hashProblem = hashPrefixProblem(hashPrefix);
  if (hashProblem !== undefined) {
    throw new UsageError(`Invalid --hash-prefix ${JSON.stringify(hashPrefix)}: ${hashProblem}`);
  }
  const ruleIds = v["rule-ids"] === undefined
    ? undefined
    : choice("rule-ids", v["rule-ids"] as string, ["stable", "chained"] as const);
  let assume: Record<string, boolean>;
  try {
    assume = parseAssumeFlags((v.assume as string[] | undefined) ?? []);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const tables = (v.table as string[] | undefined)?.map((t) => {
    const problem = tableProblem(t);
    if (problem !== undefined) throw new UsageError(problem);
    return t as TableName;
  });
  let branch = 0;
  if (v.branch !== undefined) {
    const n = Number(v.branch);
    if (!/^\d+$/.test(v.branch as string) || n < 1) {
      throw new UsageError(`Invalid --branch ${JSON.stringify(v.branch)}: expected 1, 2, …`);
    }
    branch = n - 1;
  }
  const values: Record<string, unknown> = {};
  for (const k of Object.keys(PACKET_FLAGS)) if (v[k] !== undefined) values[k] = v[k];
  const ipVersions: (4 | 6)[] = [];
  if (v.ipv4 === true) ipVersions.push(4);
  if (v.ipv6 === true) ipVersions.push(6);
  return {
    command,
    files: parsed.positionals,
    values,
    netns,
    ipVersions,
    backend: choice("backend", v.backend as string, ["nft", "legacy", "auto"] as const),
    json,
    color: colorFlag === "always" ||
      (colorFlag === "auto" && !json && env.stdoutIsTerminal && env.env("NO_COLOR") === undefined),
    hashPrefix,
    chainPrefixes: (v["chain-prefix"] as string[] | undefined) ?? ["rp-"],
    ruleIds,
    insertMode: choice("insert-mode", v["insert-mode"] as string, ["insert", "append"] as const),
    maxFileBytes: v["max-file-size"] === undefined
      ? DEFAULT_MAX_BYTES
      : parseMaxFileSize(v["max-file-size"] as string, command),
    localAddresses: v["local-address"] as string[] | undefined,
    ipSetsFile: v.ipsets as string | undefined,
    assume,
    format: command === "graph"
      ? choice("format", v.format as string, ["mermaid", "dot"] as const)
      : "mermaid",
    trace: v.trace === true,
    tables,
    branch,
  };
}

/** The packet of the flags, checked against the family flags. */
function packetOf(args: PacketArgs): { packet: TracePacket; ipVersion: 4 | 6 } {
  let packet: TracePacket;
  let ipVersion: 4 | 6;
  try {
    packet = packetFromFlags(args.values);
    ipVersion = packetState(packet).ipVersion;
  } catch (e) {
    if (e instanceof TracePacketError) throw new UsageError(e.message);
    throw e;
  }
  if (args.ipVersions.length > 0 && !args.ipVersions.includes(ipVersion)) {
    throw new UsageError(
      `The packet is IPv${ipVersion} but --ipv${args.ipVersions[0]} was given`,
    );
  }
  return { packet, ipVersion };
}

/** Where the rules came from, for the report. */
type RulesOrigin =
  | { kind: "files"; files: string[]; backend: "nft" | "legacy" }
  | { kind: "kernel"; netns: string | null; backend: "nft" | "legacy" };

interface Loaded {
  rulesets: Map<4 | 6, TraceRuleset>;
  trace: TraceOptions;
  origin: RulesOrigin;
  notes: string[];
}

async function readIpSets(file: string): Promise<TraceIpSets> {
  try {
    return parseIpSetSave(await Deno.readTextFile(file));
  } catch (e) {
    throw new CommandExit(
      EXIT_CODES.FAILURE,
      `Cannot read --ipsets ${file}: ${(e as Error).message}`,
    );
  }
}

/** Reads the rules of the chosen families, and what the tracer should know of the host. */
async function loadRules(
  args: PacketArgs,
  env: CliEnvironment,
  families: readonly (4 | 6)[] | "policy",
): Promise<Loaded> {
  const trace: TraceOptions = { hashPrefix: args.hashPrefix };
  if (Object.keys(args.assume).length > 0) trace.assume = args.assume;
  if (args.localAddresses !== undefined) trace.localAddresses = args.localAddresses;
  if (args.ipSetsFile !== undefined) trace.ipSets = await readIpSets(args.ipSetsFile);
  const notes: string[] = [];
  const rulesets: Loaded["rulesets"] = new Map();
  if (args.files.length > 0) {
    const policy: Policy = await loadPolicyFiles(args.files, {
      chainPrefixes: args.chainPrefixes,
      maxBytes: args.maxFileBytes,
    });
    if (args.netns !== undefined) {
      const host = await readHostState(env.runnerFor(args.netns), {
        ...(trace.localAddresses === undefined ? {} : { localAddresses: trace.localAddresses }),
        ...(trace.ipSets === undefined ? {} : { ipSets: trace.ipSets }),
      });
      if (host.localAddresses !== undefined) trace.localAddresses = host.localAddresses;
      if (host.ipSets !== undefined) trace.ipSets = host.ipSets;
      notes.push(...host.notes);
    }
    const backend = args.backend === "legacy" ? "legacy" : "nft";
    let wanted = families === "policy" ? policy.ipVersions : families;
    if (args.ipVersions.length > 0) wanted = wanted.filter((v) => args.ipVersions.includes(v));
    for (const v of wanted) {
      if (!policy.ipVersions.includes(v)) {
        throw new CommandExit(
          EXIT_CODES.USAGE,
          `The policy is for ${
            policy.ipVersions.map((x) => `IPv${x}`).join(" and ")
          } only: it has no rules for an IPv${v} packet`,
        );
      }
      const rendered = await renderPolicyRuleset(policy, {
        ipVersion: v,
        backend,
        hashPrefix: args.hashPrefix,
        chainPrefixes: args.chainPrefixes,
        insertMode: args.insertMode,
        ...(args.ruleIds === undefined ? {} : { ruleIds: args.ruleIds }),
        ...(trace.ipSets === undefined ? {} : { ipSets: trace.ipSets }),
        locate: sourcePositionOf,
      });
      rulesets.set(v, rendered.ruleset);
      trace.ruleSources = new Map([...(trace.ruleSources ?? []), ...rendered.ruleSources]);
    }
    return { rulesets, trace, origin: { kind: "files", files: args.files, backend }, notes };
  }
  const runner = env.runnerFor(args.netns);
  let backend: "nft" | "legacy" = "nft";
  const wanted = families === "policy"
    ? (args.ipVersions.length > 0 ? args.ipVersions : [4, 6] as const)
    : families;
  let first = true;
  for (const v of wanted) {
    let read;
    try {
      read = await readKernelRuleset(v, {
        runner,
        backend: args.backend,
        hashPrefix: args.hashPrefix,
        localAddresses: first ? (trace.localAddresses ?? "read") : (trace.localAddresses ?? []),
        ipSets: first ? (trace.ipSets ?? "read") : (trace.ipSets ?? {}),
      });
    } catch (e) {
      if (e instanceof UnknownNamespaceError) throw e;
      throw new CommandExit(EXIT_CODES.FAILURE, (e as Error).message);
    }
    if (first) {
      if (read.localAddresses !== undefined) trace.localAddresses = read.localAddresses;
      if (read.ipSets !== undefined) trace.ipSets = read.ipSets;
      notes.push(...read.notes);
      first = false;
    }
    backend = read.backend;
    rulesets.set(v, read.ruleset);
  }
  return {
    rulesets,
    trace,
    origin: { kind: "kernel", netns: args.netns ?? null, backend },
    notes,
  };
}

function originText(origin: RulesOrigin): string {
  return origin.kind === "files"
    ? `rules: ${origin.files.join(", ")} (as apply would write them, ${origin.backend})`
    : `rules: the live tables of ${
      origin.netns === null ? "this host" : `network namespace ${origin.netns}`
    } (iptables-${origin.backend}, every program's rules)`;
}

async function runTrace(args: PacketArgs, env: CliEnvironment): Promise<number> {
  const { packet, ipVersion } = packetOf(args);
  const loaded = await loadRules(args, env, [ipVersion]);
  const ruleset = loaded.rulesets.get(ipVersion)!;
  const result: TraceResult = tracePacket(ruleset, packet, loaded.trace);
  for (const o of result.outcomes) o.notes.push(...loaded.notes);
  if (args.json) {
    env.stdout(
      JSON.stringify({
        ok: true,
        command: "trace",
        verdict: result.verdict,
        ...(result.rejectWith === undefined ? {} : { rejectWith: result.rejectWith }),
        ...(result.queue === undefined ? {} : { queue: result.queue }),
        decided: result.decided,
        ...(result.decidedBy === undefined ? {} : { decidedBy: result.decidedBy }),
        ipVersion: result.ipVersion,
        rules: loaded.origin,
        packet,
        path: result.path,
        outcomes: result.outcomes,
      }) + "\n",
    );
    return EXIT_CODES.OK;
  }
  const dim = (t: string) => args.color ? `\x1b[2m${t}\x1b[0m` : t;
  env.stdout(dim(originText(loaded.origin)) + "\n");
  env.stdout(renderTrace(result, { color: args.color, packet }));
  return EXIT_CODES.OK;
}

async function runGraph(args: PacketArgs, env: CliEnvironment): Promise<number> {
  const tracing = args.trace || hasPacketFlags(args.values);
  let traced: { packet: TracePacket; ipVersion: 4 | 6 } | undefined;
  if (tracing) traced = packetOf(args);
  const loaded = await loadRules(
    args,
    env,
    traced === undefined ? "policy" : [traced.ipVersion],
  );
  let trace: TraceResult | undefined;
  if (traced !== undefined) {
    trace = tracePacket(loaded.rulesets.get(traced.ipVersion)!, traced.packet, loaded.trace);
    if (args.branch >= trace.outcomes.length) {
      throw new UsageError(
        `Invalid --branch ${args.branch + 1}: the trace has ${trace.outcomes.length} branch(es)`,
      );
    }
  }
  const rulesets = [...loaded.rulesets.values()];
  const text = renderGraph(rulesets, {
    format: args.format,
    ...(trace === undefined ? {} : { trace, branch: args.branch }),
    ...(traced === undefined ? {} : { packetLabel: describePacket(traced.packet) }),
    ...(args.tables === undefined ? {} : { tables: args.tables }),
  });
  if (args.json) {
    env.stdout(
      JSON.stringify({
        ok: true,
        command: "graph",
        rules: loaded.origin,
        format: args.format,
        graph: text,
        ...(trace === undefined ? {} : { verdict: trace.verdict, trace }),
      }) + "\n",
    );
  } else env.stdout(text);
  return EXIT_CODES.OK;
}

/**
 * Runs `rampart trace …` or `rampart graph …` (the arguments after the
 * program name, the command first) and returns the exit code. Never throws:
 * errors are printed (as JSON on stdout under `--json`).
 *
 * @param argv The arguments, starting with `trace` or `graph`.
 * @param env The process (tests inject a fake one).
 * @returns The exit code.
 *
 * @example Tracing a packet through a policy file
 * ```ts ignore
 * import { runPacketCommand } from "@rampart/iptables/cli";
 * const code = await runPacketCommand([
 *   "trace", "examples/rules.yaml", "--in", "eth0", "--src", "203.0.113.7",
 *   "--dst", "192.0.2.10", "--proto", "tcp", "--dport", "443",
 * ]);
 * ```
 */
export async function runPacketCommand(
  argv: readonly string[],
  env: CliEnvironment,
): Promise<number> {
  const command = argv[0] as PacketCommandName;
  const wantsJson = argv.includes("--json");
  try {
    const args = parsePacketArgs(command, argv.slice(1), env);
    if (args === "help") {
      env.stdout(PACKET_COMMAND_HELP[command] + "\n");
      return EXIT_CODES.OK;
    }
    return command === "trace" ? await runTrace(args, env) : await runGraph(args, env);
  } catch (e) {
    const code = exitCodeOf(e);
    if (wantsJson) {
      env.stdout(
        JSON.stringify({ ok: false, command, exitCode: code, error: errorData(e) }) + "\n",
      );
    } else {
      env.stderr(`rampart ${command}: ${errorMessage(e)}\n`);
      if (code === EXIT_CODES.USAGE) env.stderr(`Run 'rampart ${command} --help' for usage.\n`);
    }
    return code;
  }
}
