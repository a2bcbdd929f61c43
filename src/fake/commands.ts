/**
 * The commands of the restore protocol (and of plain `iptables`), applied to
 * a working copy of one table: each command is a function whose name says
 * what it does, {@linkcode applyCommand} picks it by its option.
 *
 * @module
 */
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import {
  Failure,
  type Invocation,
  kernelError,
  KernelReject,
  lineFailed,
  usage,
} from "./invocation.ts";
import {
  type ChainState,
  cloneTable,
  type FakeTableName,
  hooksByChain,
  referenceCount,
  type RuleState,
  type TableState,
} from "./state.ts";
import { kernelHookCheck, kernelRuleCheck } from "./kernel_checks.ts";
import { chainNameProblem, checkTarget, parseRuleArgs, reachableFrom } from "./checks.ts";
import type { ParsedRule } from "./normalise.ts";

/** Where a command runs: the table's working copy, the input line, and the kernel's facts. */
export interface CommandContext {
  /** The binary that runs it. */
  inv: Invocation;
  /** The table. */
  table: FakeTableName;
  /** The table's working copy (the transaction's). */
  work: TableState;
  /** The line of the input (1 for a plain `iptables` command). */
  line: number;
  /** The counters given before the command (`[p:b] -A …` with `--counters`). */
  lineCounters: [bigint, bigint] | undefined;
  /** The line of the table's COMMIT, if there is one. */
  commitLine: () => number | undefined;
  /** The IP sets that exist. */
  ipsets: ReadonlySet<string>;
  /** Match extensions the kernel lacks. */
  unsupported: ReadonlySet<string>;
}

/** One command: its option as written (`-A`, `--append`, …) and its arguments. */
interface Command {
  option: string;
  args: string[];
}

type CommandFunction = (ctx: CommandContext, command: Command) => void;

const COMMANDS: ReadonlyMap<string, CommandFunction> = new Map([
  ["-A", appendRule],
  ["--append", appendRule],
  ["-I", insertRule],
  ["--insert", insertRule],
  ["-R", replaceRule],
  ["--replace", replaceRule],
  ["-D", deleteRule],
  ["--delete", deleteRule],
  ["-N", newChain],
  ["--new-chain", newChain],
  ["-X", deleteChains],
  ["--delete-chain", deleteChains],
  ["-F", flushChains],
  ["--flush", flushChains],
  ["-Z", zeroCounters],
  ["--zero", zeroCounters],
  ["-P", setPolicy],
  ["--policy", setPolicy],
  ["-E", renameChain],
  ["--rename-chain", renameChain],
]);

/**
 * Applies one command line (its tokens) to the table's working copy.
 *
 * @throws {Failure} what the binary answers (a {@linkcode KernelReject} for
 * what nf_tables refuses at COMMIT).
 */
export function applyCommand(ctx: CommandContext, tokens: readonly string[]): void {
  const [option, ...args] = tokens;
  const run = option === undefined ? undefined : COMMANDS.get(option);
  if (run === undefined) {
    throw new Failure(2, usage(ctx.inv, `Bad argument \`${option ?? ""}'`, ctx.line, true));
  }
  run(ctx, { option: option!, args });
}

const NO_CHAIN = "No chain/target/match by that name.";

/** `line N failed: <reason>`. */
function failed(ctx: CommandContext, reason: string): Failure {
  return new Failure(1, lineFailed(ctx.inv, ctx.line, reason));
}

/** `option "-X" requires an argument`. */
function missingArgument(ctx: CommandContext, command: Command): Failure {
  return new Failure(
    2,
    usage(ctx.inv, `option "${command.option}" requires an argument`, ctx.line),
  );
}

/** The chain a command names; it must exist. */
function chainOf(ctx: CommandContext, command: Command, name: string | undefined): ChainState {
  if (name === undefined) throw missingArgument(ctx, command);
  const c = ctx.work.get(name);
  if (!c) throw failed(ctx, NO_CHAIN);
  return c;
}

/** A rule number (`-I chain 2`, `-R chain 1`, `-D chain 3`), refused below 1. */
function ruleNumber(ctx: CommandContext, text: string): number {
  const pos = Number(text);
  if (pos < 1) throw new Failure(2, usage(ctx.inv, `Invalid rule number \`${pos}'`, ctx.line));
  return pos;
}

/** `-A chain rule…`. */
function appendRule(ctx: CommandContext, command: Command): void {
  const [chain, ...ruleArgs] = command.args;
  const c = chainOf(ctx, command, chain);
  c.rules.push(buildRule(ctx, ruleArgs, { op: "RULE_APPEND", chain: chain! }));
}

/** `-I chain [n] rule…`. */
function insertRule(ctx: CommandContext, command: Command): void {
  const [chain, ...rest] = command.args;
  const c = chainOf(ctx, command, chain);
  let pos = 1;
  let ruleArgs = rest;
  if (ruleArgs[0] !== undefined && /^[0-9]+$/.test(ruleArgs[0])) {
    pos = ruleNumber(ctx, ruleArgs[0]);
    ruleArgs = ruleArgs.slice(1);
  }
  if (pos > c.rules.length + 1) throw failed(ctx, "Index of insertion too big.");
  c.rules.splice(pos - 1, 0, buildRule(ctx, ruleArgs, { op: "RULE_INSERT", chain: chain! }));
}

/** `-R chain n rule…`. */
function replaceRule(ctx: CommandContext, command: Command): void {
  const [chain, num, ...ruleArgs] = command.args;
  const c = chainOf(ctx, command, chain);
  if (num === undefined || !/^[0-9]+$/.test(num) || Number(num) < 1) {
    throw new Failure(2, usage(ctx.inv, `Invalid rule number \`${num ?? ""}'`, ctx.line));
  }
  const pos = Number(num);
  if (pos > c.rules.length) throw failed(ctx, "Index of replacement too big.");
  c.rules[pos - 1] = buildRule(ctx, ruleArgs, { op: "RULE_REPLACE", chain: chain! });
}

/** `-D chain n` or `-D chain rule…` (the first rule equal to it). */
function deleteRule(ctx: CommandContext, command: Command): void {
  const rest = command.args;
  const c = chainOf(ctx, command, rest[0]);
  if (rest.length === 2 && /^[0-9]+$/.test(rest[1]!)) {
    const pos = ruleNumber(ctx, rest[1]!);
    if (pos > c.rules.length) throw failed(ctx, "Index of deletion too big.");
    c.rules.splice(pos - 1, 1);
    return;
  }
  const parsed = parseRuleArgs(ctx.inv, rest.slice(1), {
    line: ctx.line,
    ipsets: ctx.ipsets,
    where: { table: ctx.table, chain: rest[0]! },
  });
  if (parsed.target !== undefined && !parsed.targetIsExtension && !ctx.work.has(parsed.target)) {
    checkTarget(ctx.inv, ctx.work, parsed, ctx);
  }
  const i = c.rules.findIndex((r) => r.parsed.identity === parsed.identity);
  if (i === -1) throw failed(ctx, "Bad rule (does a matching rule exist in that chain?).");
  c.rules.splice(i, 1);
}

/** `-N chain`. */
function newChain(ctx: CommandContext, command: Command): void {
  const name = command.args[0];
  if (name === undefined) throw missingArgument(ctx, command);
  const bad = chainNameProblem(name);
  if (bad) throw new Failure(2, usage(ctx.inv, bad, ctx.line));
  if (ctx.work.has(name)) throw failed(ctx, "Chain already exists.");
  ctx.work.set(name, { builtin: false, policy: "-", packets: 0n, bytes: 0n, rules: [] });
}

/** `-X [chain]`: one empty, unreferenced user chain, or every user chain. */
function deleteChains(ctx: CommandContext, command: Command): void {
  const { inv, work } = ctx;
  const names = command.args[0] === undefined
    ? [...work].filter(([, c]) => !c.builtin).map(([k]) => k)
    : [command.args[0]];
  for (const name of names) {
    const c = work.get(name);
    if (!c || c.builtin) throw failed(ctx, NO_CHAIN);
    if (c.rules.length > 0 || referenceCount(work, name) > 0) {
      if (inv.backend === "nft") {
        throw new KernelReject(
          kernelError(ctx.line, "CHAIN_DEL", "Device or resource busy", `chain ${name}`),
          "",
        );
      }
      throw new Failure(1, lineFailed(inv, ctx.line));
    }
    work.delete(name);
  }
}

/** `-F [chain]`. */
function flushChains(ctx: CommandContext, command: Command): void {
  const chain = command.args[0];
  if (chain === undefined) { for (const c of ctx.work.values()) c.rules = []; }
  else chainOf(ctx, command, chain).rules = [];
}

/** `-Z [chain]`: the chains' and their rules' counters. */
function zeroCounters(ctx: CommandContext, command: Command): void {
  const chain = command.args[0];
  const list = chain === undefined ? [...ctx.work.values()] : [chainOf(ctx, command, chain)];
  for (const c of list) {
    c.packets = c.bytes = 0n;
    for (const r of c.rules) r.packets = r.bytes = 0n;
  }
}

/** `-P chain ACCEPT|DROP` (built-in chains only). */
function setPolicy(ctx: CommandContext, command: Command): void {
  const [chain, policy] = command.args;
  const c = chainOf(ctx, command, chain);
  if (!c.builtin) throw failed(ctx, "Bad built-in chain name.");
  if (policy !== "ACCEPT" && policy !== "DROP") throw failed(ctx, "Bad policy name.");
  c.policy = policy;
}

/** `-E old new`: renames a user chain and the jumps to it. */
function renameChain(ctx: CommandContext, command: Command): void {
  const [from, to] = command.args;
  const { work } = ctx;
  const c = chainOf(ctx, command, from);
  if (to === undefined) throw missingArgument(ctx, command);
  if (c.builtin) throw failed(ctx, NO_CHAIN);
  if (work.has(to)) throw failed(ctx, "File exists.");
  work.delete(from!);
  work.set(to, c);
  for (const ch of work.values()) {
    for (const r of ch.rules) {
      if (r.parsed.target === from && !r.parsed.targetIsExtension) {
        const toks = [...(r.spec.split(" "))];
        const i = toks.lastIndexOf(from!);
        toks[i] = to;
        const parsed = parseRuleArgs(ctx.inv, tokenizeRestoreLine(toks.join(" ")), {
          line: ctx.line,
          ipsets: ctx.ipsets,
        });
        r.parsed = parsed;
        r.spec = parsed.spec;
      }
    }
  }
}

/**
 * Makes the rule an `-A`/`-I`/`-R` adds: parsed, its target checked, and
 * refused as the kernel refuses it (a missing extension, the table and
 * protocol checks, and on nft the hooks of the chains it makes reachable).
 */
function buildRule(
  ctx: CommandContext,
  ruleArgs: string[],
  at: { op: string; chain: string },
): RuleState {
  const { inv, table, work } = ctx;
  const n = ctx.line;
  const parsed = parseRuleArgs(inv, ruleArgs, {
    line: n,
    ipsets: ctx.ipsets,
    where: { table, chain: at.chain },
  });
  checkTarget(inv, work, parsed, ctx);
  checkExtensionsLoaded(ctx, parsed.matches, at);
  const why = kernelRuleCheck(table, parsed, inv.backend, inv.family);
  if (why) {
    if (inv.backend === "nft") {
      throw new KernelReject(
        kernelError(n, at.op, "Invalid argument", `rule in chain ${at.chain}`),
        "",
      );
    }
    throw new Failure(1, lineFailed(inv, ctx.commitLine() ?? n));
  }
  if (inv.backend === "nft") checkReachableHooks(ctx, parsed, at);
  const cnt = ctx.lineCounters ??
    (inv.backend === "nft" && inv.family === 6 ? undefined : parsed.counters) ?? [0n, 0n];
  return { spec: parsed.spec, parsed, packets: cnt[0], bytes: cnt[1], line: n };
}

/** Refuses a rule using a match extension the kernel lacks (with iptables' warning). */
function checkExtensionsLoaded(
  ctx: CommandContext,
  matches: ParsedRule["matches"],
  at: { op: string; chain: string },
): void {
  const { inv } = ctx;
  let warn = "";
  for (const mm of matches) {
    if (ctx.unsupported.has(mm.name)) {
      warn += `Warning: Extension ${mm.name} revision 0 not supported, missing kernel module?\n`;
      if (inv.backend === "nft") {
        throw new KernelReject(
          kernelError(ctx.line, at.op, "No such file or directory", `rule in chain ${at.chain}`),
          warn,
        );
      }
      throw new Failure(1, warn + lineFailed(inv, ctx.commitLine() ?? ctx.line));
    }
  }
}

/**
 * nf_tables validates the chains a new rule makes reachable, with the hooks
 * of its chain; checkentry() sees a hook mask only in a base chain.
 */
function checkReachableHooks(
  ctx: CommandContext,
  parsed: ParsedRule,
  at: { op: string; chain: string },
): void {
  const { work } = ctx;
  const chainName = at.chain;
  const hooks = hooksByChain(work).get(chainName);
  if (!hooks || hooks.size === 0) return;
  const probe = cloneTable(work);
  probe.get(chainName)!.rules.push({ spec: parsed.spec, parsed, packets: 0n, bytes: 0n });
  const reach = reachableFrom(probe, parsed, chainName);
  const base = work.get(chainName)!.builtin;
  for (const cname of reach) {
    const rules = cname === chainName ? [parsed] : probe.get(cname)!.rules.map((r) => r.parsed);
    const entry = base && cname === chainName;
    if (rules.some((r) => kernelHookCheck(r, hooks, entry))) {
      throw new KernelReject(
        kernelError(ctx.line, at.op, "Invalid argument", `rule in chain ${chainName}`),
        "",
      );
    }
  }
}
