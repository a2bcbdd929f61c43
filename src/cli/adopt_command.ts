/**
 * `rampart adopt`: takes over chosen chains of a live host (or namespace).
 * Their rules are replaced by Rampart's (with IDs, counters carried over
 * where the backend keeps them) in one `iptables-restore --noflush
 * --counters` transaction per table and family, and the policy that keeps
 * them is written (`-o FILE`, for later `rampart apply FILE`). With
 * `--confirm-timeout` a watchdog undoes it exactly unless `rampart confirm`
 * (or the prompt) confirms in time. Refused, with nothing written, when an
 * adopted chain holds a rule the importer cannot express.
 *
 * @module
 */
import { UnknownNamespaceError } from "../host/network_namespaces.ts";
import { backendProblem, netnsProblem, tableProblem } from "./flag_checks.ts";
import { parseArgs } from "parse-args";
import { autoDetectBackend } from "../host/backend_detector.ts";
import { IptablesCommands } from "../host/iptables_commands.ts";
import { silentLogger } from "../host/logger.ts";
import type { CommandRunner } from "../host/runner.ts";
import type { IpFamily } from "../policy/policy.ts";
import { stringifyPolicy } from "../yaml/save.ts";
import { policyFromText } from "../yaml/load.ts";
import {
  AdoptChainError,
  type AdoptionPolicy,
  adoptionPolicy,
  adoptionTransactions,
  type AdoptSource,
  type AdoptTransaction,
  type AdoptUndo,
  restoreAdoptScript,
  restoreAdoptUndo,
} from "../import/adopt.ts";
import { ChainNameError } from "../import/chain_names.ts";
import { EXIT_CODES, flagParseError, parseDuration, UsageError } from "./args.ts";
import { pathExists, removeDurable, writeDurable } from "./durable.ts";
import type { CliEnvironment } from "./environment.ts";
import { targetFiles } from "./state_dir.ts";
import { inspectTarget } from "./target_state.ts";
import { lockTarget, type TargetLock } from "./target_lock.ts";
import {
  armWatchdog,
  defaultStateDir,
  PendingApplyError,
  type PendingConfirmation,
  watchdogLogger,
  type WatchdogOutcome,
} from "./watchdog.ts";

export { ADOPT_HEADER, ADOPT_HELP } from "./adopt_help.ts";
import { ADOPT_HEADER, ADOPT_HELP } from "./adopt_help.ts";

interface AdoptArgs {
  help: boolean;
  netns?: string;
  chains: string[];
  ipVersions: IpFamily[];
  tables: string[];
  backend: "nft" | "legacy" | "auto";
  output?: string;
  yes: boolean;
  confirmTimeoutMs?: number;
  chainPrefix: string;
  hashPrefix: string;
  stateDir?: string;
}

const CHAIN_PATTERN = /^[A-Za-z0-9_.*-]{1,28}$/;

function parse(argv: readonly string[]): AdoptArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv as string[],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h", default: false },
        netns: { type: "string", short: "n" },
        chain: { type: "string", short: "c", multiple: true },
        ipv4: { type: "boolean", short: "4", default: false },
        ipv6: { type: "boolean", short: "6", default: false },
        table: { type: "string", short: "t", multiple: true },
        backend: { type: "string", default: "auto" },
        output: { type: "string", short: "o" },
        yes: { type: "boolean", short: "y", default: false },
        "confirm-timeout": { type: "string" },
        "chain-prefix": { type: "string", default: "rp-" },
        "hash-prefix": { type: "string", default: "rampart:" },
        "state-dir": { type: "string" },
      },
    });
  } catch (e) {
    throw flagParseError(e);
  }
  const v = parsed.values;
  const args: AdoptArgs = {
    help: v.help === true,
    chains: v.chain ?? [],
    ipVersions: [],
    tables: v.table ?? [],
    backend: "auto",
    yes: v.yes === true,
    chainPrefix: v["chain-prefix"]!,
    hashPrefix: v["hash-prefix"]!,
  };
  if (args.help) return args;
  if (v.netns !== undefined) {
    const problem = netnsProblem(v.netns);
    if (problem !== undefined) throw new UsageError(problem);
    args.netns = v.netns;
  }
  if (args.chains.length === 0) throw new UsageError("Give the chains to adopt: --chain CHAIN");
  for (const c of args.chains) {
    if (!CHAIN_PATTERN.test(c)) {
      throw new UsageError(
        `Invalid --chain ${
          JSON.stringify(c)
        }: expected a chain name (letters, digits, '_', '.', '-'; '*' matches any)`,
      );
    }
  }
  if (v.ipv4) args.ipVersions.push(4);
  if (v.ipv6) args.ipVersions.push(6);
  for (const t of args.tables) {
    const problem = tableProblem(t);
    if (problem !== undefined) throw new UsageError(problem);
  }
  const backendError = backendProblem(v.backend!);
  if (backendError !== undefined) throw new UsageError(backendError);
  args.backend = v.backend as AdoptArgs["backend"];
  if (v.output !== undefined) args.output = v.output;
  if (v["state-dir"] !== undefined) args.stateDir = v["state-dir"];
  if (v["confirm-timeout"] !== undefined) {
    try {
      args.confirmTimeoutMs = parseDuration(v["confirm-timeout"]);
    } catch (e) {
      throw new UsageError(`Invalid --confirm-timeout: ${(e as Error).message}`);
    }
  }
  return args;
}

/** Thrown to end the command with an exit code and a message. */
class Stop extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** One `iptables-save -c` per family (counters included). */
async function readSources(
  runner: CommandRunner,
  args: AdoptArgs,
  where: string,
): Promise<AdoptSource[]> {
  const sources: AdoptSource[] = [];
  for (const ipVersion of args.ipVersions.length > 0 ? args.ipVersions : [4, 6] as const) {
    const backend = args.backend !== "auto" ? args.backend : await autoDetectBackend({
      runner,
      ipVersion,
      hashPrefix: args.hashPrefix,
      logger: silentLogger(),
    });
    const r = await new IptablesCommands(runner, { ipVersion, backend }).run("save", ["-c"]);
    if (r.code !== 0) {
      throw new Stop(EXIT_CODES.FAILURE, `${r.cmd} failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
    sources.push({ ipVersion, backend, text: r.stdout, name: `${where} IPv${ipVersion}` });
  }
  return sources;
}

/** The rules of a save without counters and comment lines: what must not change while asking. */
function rulesOf(text: string): string {
  return text.split("\n").filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, "")).join("\n");
}

function describe(adoption: AdoptionPolicy): string {
  let text = "";
  for (const p of adoption.problems) {
    text +=
      `${p.source}:${p.line}: ${p.table} ${p.chain}: cannot adopt: ${p.reason}\n  ${p.text}\n`;
  }
  return text;
}

function outcomeText(o: WatchdogOutcome | undefined): string {
  if (o === undefined) return "The watchdog stopped without reporting: check the rules";
  if (o.outcome === "confirmed") return "Confirmed: the adopted chains stay Rampart's";
  if (o.outcome === "reverted") {
    return o.reason === "deadline"
      ? "Not confirmed in time: the chains are as they were before the adopt"
      : "Not confirmed: the chains are as they were before the adopt";
  }
  return `Undoing the adopt FAILED: ${o.error ?? "unknown error"}`;
}

/**
 * Runs `rampart adopt` with the arguments after `adopt`.
 *
 * @param argv The arguments after the command name.
 * @param env The process (tests inject a fake one).
 * @returns The exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runAdopt } from "@rampart/iptables/cli";
 * const code = await runAdopt(["--table", "filter"], {
 *   stdout: () => {}, stderr: () => {}, interactive: false, stdoutIsTerminal: false,
 *   ask: () => Promise.resolve(undefined), runnerFor: () => { throw new Error("unused"); },
 *   env: () => undefined, uid: 0,
 * });
 * assert.equal(code, 2); // no --chain: a usage error
 * ```
 */
export async function runAdopt(argv: readonly string[], env: CliEnvironment): Promise<number> {
  let args: AdoptArgs;
  try {
    args = parse(argv);
    if (!args.help && !args.yes && !env.interactive) {
      throw new UsageError(
        "Refusing to adopt without confirmation: no terminal to ask on; pass --yes to adopt anyway",
      );
    }
  } catch (e) {
    env.stderr(
      `rampart adopt: ${(e as Error).message}\nRun 'rampart adopt --help' for usage.\n`,
    );
    return EXIT_CODES.USAGE;
  }
  if (args.help) {
    env.stdout(ADOPT_HELP + "\n");
    return EXIT_CODES.OK;
  }
  const stateDir = args.stateDir ?? defaultStateDir((n) => env.env(n), env.uid);
  let lock: TargetLock | undefined;
  try {
    if (args.output !== undefined && await pathExists(args.output)) {
      throw new Stop(
        EXIT_CODES.FAILURE,
        `${args.output} exists: adopt writes a new policy file (choose another -o)`,
      );
    }
    const files = targetFiles(stateDir, args.netns);
    const target = args.netns === undefined ? "this host" : `network namespace "${args.netns}"`;
    await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
    lock = await lockTarget(files.lock, { command: ["adopt", ...argv].join(" "), target });
    const state = await inspectTarget(stateDir, { netns: args.netns, holding: true });
    if (state.watchdog !== undefined) throw new PendingApplyError(files.pending);
    if (state.interrupted !== undefined || state.unconfirmed !== undefined) {
      throw new Stop(
        EXIT_CODES.FAILURE,
        `An interrupted or unconfirmed apply is recorded for ${target}: settle it first ` +
          "('rampart recover', or 'rampart apply FILES'); nothing was changed",
      );
    }
    return await adoptHolding(args, env, { stateDir, target });
  } catch (e) {
    const code = e instanceof Stop
      ? e.code
      : e instanceof AdoptChainError || e instanceof UnknownNamespaceError
      ? EXIT_CODES.USAGE
      : EXIT_CODES.FAILURE;
    const known = e instanceof Error || e instanceof ChainNameError;
    env.stderr(`rampart adopt: ${known ? (e as Error).message : String(e)}\n`);
    return code;
  } finally {
    lock?.release();
  }
}

async function adoptHolding(
  args: AdoptArgs,
  env: CliEnvironment,
  where: { stateDir: string; target: string },
): Promise<number> {
  const runner = env.runnerFor(args.netns);
  const name = args.netns === undefined ? "this host" : `netns ${args.netns}`;
  let sources = await readSources(runner, args, name);
  const options = {
    chains: args.chains,
    chainPrefix: args.chainPrefix,
    hashPrefix: args.hashPrefix,
    ...(args.tables.length > 0 ? { tables: args.tables } : {}),
  };
  const adoption = adoptionPolicy(sources, options);
  if (adoption.problems.length > 0) {
    env.stderr(describe(adoption));
    throw new Stop(
      EXIT_CODES.FAILURE,
      `${adoption.problems.length} rule(s) or chain(s) stand in the way; nothing adopted, ` +
        "nothing written",
    );
  }
  for (const [at, chains] of adoption.skipped) {
    env.stderr(
      `rampart adopt: note: ${at}: ${chains.join(", ")} left as they are: no rule of a ` +
        "built-in chain reaches them (Rampart writes a chain only once a rule jumps to it)\n",
    );
  }
  if (adoption.adopted.length === 0) {
    throw new Stop(EXIT_CODES.FAILURE, "Nothing to adopt: the chosen chains are all left alone");
  }
  const yaml = stringifyPolicy(adoption.policy, { header: ADOPT_HEADER });
  // What is applied is what the file says, as it loads.
  const policy = policyFromText(yaml, { file: args.output ?? "<adopt>" });
  const txOptions = {
    adopted: adoption.adopted,
    chainPrefix: args.chainPrefix,
    hashPrefix: args.hashPrefix,
  };
  let transactions = await adoptionTransactions(sources, policy, txOptions);
  const summary = adoption.adopted.map((a) =>
    `${a.table} IPv${a.ipVersion} ${a.saved}${a.name === a.saved ? "" : ` → ${a.name}`} ` +
    `(${a.rules} rule${a.rules === 1 ? "" : "s"})`
  ).join("\n  ");
  if (!args.yes) {
    env.stderr(
      transactions.map((t) => `# ${t.table} (IPv${t.ipVersion}, ${t.backend})\n${t.script}`)
        .join("") + `\nChains to adopt:\n  ${summary}\n`,
    );
    const answer = (await env.ask(`Adopt them in ${where.target}? [y/N] `))?.trim()
      .toLowerCase();
    if (answer !== "y" && answer !== "yes") {
      env.stderr("Nothing adopted\n");
      return EXIT_CODES.NOT_CONFIRMED;
    }
    // The kernel may have changed while the question waited: read it again.
    const again = await readSources(runner, args, name);
    if (again.some((s, i) => rulesOf(s.text) !== rulesOf(sources[i]!.text))) {
      throw new Stop(
        EXIT_CODES.FAILURE,
        "The rules changed while asking: nothing adopted; run 'rampart adopt' again",
      );
    }
    sources = again;
    transactions = await adoptionTransactions(sources, policy, txOptions);
  }
  if (args.output !== undefined) await writeDurable(args.output, yaml);
  const undo: AdoptUndo = {
    kind: "rampart-adopt-undo",
    version: 1,
    tables: transactions.map(({ table, ipVersion, backend, undo }) => ({
      table,
      ipVersion,
      backend,
      undo,
    })),
  };
  let pending: PendingConfirmation | undefined;
  if (args.confirmTimeoutMs !== undefined) {
    pending = await armWatchdog({
      stateDir: where.stateDir,
      snapshotJson: JSON.stringify(undo),
      timeoutMs: args.confirmTimeoutMs,
      firewall: {
        ...(args.netns === undefined ? {} : { netns: args.netns }),
        backend: args.backend,
        hashPrefix: args.hashPrefix,
        chainPrefixes: [args.chainPrefix],
        insertMode: "insert",
        ipVersions: [...new Set(transactions.map((t) => t.ipVersion))],
      },
      ...(env.spawnWatchdog === undefined ? {} : { spawn: env.spawnWatchdog }),
    });
    env.stderr(`Watchdog ${pending.pid} armed: it undoes the adopt unless confirmed\n`);
  }
  const done: AdoptTransaction[] = [];
  try {
    for (const t of transactions) {
      env.stderr(`Adopting ${t.table} IPv${t.ipVersion}…\n`);
      await restoreAdoptScript(runner, t);
      done.push(t);
    }
  } catch (e) {
    if (pending !== undefined) {
      await pending.applied();
      await pending.revertNow();
      const outcome = await settle(pending, runner, undo, where.stateDir, args.netns);
      await pending.finish();
      env.stderr(outcomeText(outcome) + "\n");
    } else {
      await restoreAdoptUndo({ ...undo, tables: undo.tables.slice(0, done.length) }, runner);
      env.stderr("The adopt failed: the tables adopted so far are as they were again\n");
    }
    if (args.output !== undefined) await removeDurable(args.output);
    throw e;
  }
  if (pending !== undefined) {
    await pending.applied();
    const seconds = Math.max(1, Math.round((pending.deadline - Date.now()) / 1000));
    env.stderr(
      `Adopted. Confirm within ${seconds}s or the chains come back as they were (answer here, ` +
        `or run 'rampart confirm${args.netns === undefined ? "" : ` --netns ${args.netns}`}` +
        `${args.stateDir === undefined ? "" : ` --state-dir ${args.stateDir}`}')\n`,
    );
    const stop = new AbortController();
    const outcomeP = settle(pending, runner, undo, where.stateDir, args.netns, stop.signal);
    if (env.interactive) {
      const answer = env.ask(
        `Keep the adopted chains? Type "yes" within ${seconds}s: `,
        pending.deadline - Date.now(),
      ).then((a) => ({ answer: a }));
      const first = await Promise.race([answer, outcomeP.then((o) => ({ outcome: o }))]);
      if ("answer" in first) {
        const yes = ["y", "yes"].includes((first.answer ?? "").trim().toLowerCase());
        if (yes) await pending.confirm();
        else if (first.answer !== undefined) await pending.revertNow();
      }
    }
    const outcome = await outcomeP;
    stop.abort();
    await pending.finish();
    if (outcome?.outcome !== "confirmed") {
      if (outcome?.outcome === "reverted" && args.output !== undefined) {
        await removeDurable(args.output);
      }
      env.stderr(
        outcomeText(outcome) +
          (outcome?.outcome === "reverted" && args.output !== undefined
            ? ` (${args.output} removed)`
            : "") +
          "\n",
      );
      return outcome?.outcome === "reverted" ? EXIT_CODES.NOT_CONFIRMED : EXIT_CODES.FAILURE;
    }
    env.stderr(outcomeText(outcome) + "\n");
  }
  if (args.output === undefined) env.stdout(yaml);
  env.stderr(
    `Adopted in ${where.target}:\n  ${summary}\n` +
      (args.output === undefined
        ? "Keep the policy printed above: 'rampart apply' of it keeps these chains\n"
        : `Wrote ${args.output}: 'rampart apply ${args.output}' keeps these chains\n`),
  );
  return EXIT_CODES.OK;
}

/** Waits for the watchdog's outcome; if it died, undoes the adopt in its place. */
async function settle(
  pending: PendingConfirmation,
  runner: CommandRunner,
  undo: AdoptUndo,
  stateDir: string,
  netns: string | undefined,
  signal?: AbortSignal,
): Promise<WatchdogOutcome | undefined> {
  const outcome = await pending.outcome(signal);
  if (outcome !== undefined || signal?.aborted) return outcome;
  return await pending.takeOver({
    restore: () => restoreAdoptUndo(undo, runner),
    log: watchdogLogger(targetFiles(stateDir, netns).log),
  });
}
