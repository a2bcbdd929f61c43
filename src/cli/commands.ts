/**
 * The `rampart` commands.
 *
 * @module
 */
import { RuleError } from "../../dsl/errors.ts";
import type { RuleIds } from "../../dsl/hash.ts";
import { FeatureDetector } from "../feature_detector.ts";
import { Firewall, type FirewallApplyResult } from "../firewall.ts";
import { TABLE_NAMES, type TableName } from "../kernel_chains.ts";
import { diffTable, readKernelTable, renderDiff, type TableDiff } from "../plan_diff.ts";
import {
  type FamilyTablePolicy,
  type IpFamily,
  type Policy,
  PolicyError,
  policyForFamily,
} from "../policy.ts";
import { describePolicy } from "../repl/inspect.ts";
import { snapshotToJson } from "../snapshot.ts";
import { policyToTypeScript } from "../ts_export.ts";
import { PolicyFileError } from "../yaml/errors.ts";
import { type CliArgs, type CommandName, EXIT_CODES, parseCliArgs, UsageError } from "./args.ts";
import { type CliEnvironment, denoCliEnvironment } from "./environment.ts";
import { helpText } from "./help.ts";
import { loadPolicyFiles, selectPolicy } from "./policy_files.ts";
import { progressLine } from "./progress.ts";
import {
  armWatchdog,
  confirmPending,
  defaultStateDir,
  PendingApplyError,
  type WatchdogOutcome,
} from "./watchdog.ts";

/** Thrown inside a command to end it with an exit code and a message. */
class Exit extends Error {
  constructor(readonly code: number, message: string, readonly data: Record<string, unknown> = {}) {
    super(message);
  }
}

interface Context {
  args: CliArgs;
  env: CliEnvironment;
  color: boolean;
  /** Human text: stdout normally, stderr under --json. */
  say(text: string): void;
  /** Progress and notes: always stderr. */
  note(text: string): void;
  json(value: Record<string, unknown>): void;
}

function paint(ctx: Context, code: string, text: string): string {
  return ctx.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function families(args: CliArgs, policy?: Policy): IpFamily[] {
  const base: IpFamily[] = policy === undefined ? [4, 6] : [...policy.ipVersions];
  const chosen = args.ipVersions.length === 0
    ? base
    : base.filter((v) => args.ipVersions.includes(v));
  if (chosen.length === 0) {
    throw new Exit(
      EXIT_CODES.USAGE,
      `The policy is for ${base.map((v) => `IPv${v}`).join(" and ")} only: nothing to do for ` +
        args.ipVersions.map((v) => `--ipv${v}`).join(" "),
    );
  }
  return chosen;
}

/** The rule-ID scheme: `--rule-ids`, else the files' `ruleIds`, else stable. */
function ruleIdsOf(args: CliArgs, policy?: Policy): RuleIds {
  return args.ruleIds ?? policy?.ruleIds ?? "stable";
}

function makeFirewall(ctx: Context, policy?: Policy): Firewall {
  const { args, env } = ctx;
  const ipVersions = families(args, policy);
  const ruleIds = ruleIdsOf(args, policy);
  const firewall = new Firewall({
    ...(args.netns === undefined ? {} : { netns: args.netns }),
    backend: args.backend,
    hashPrefix: args.hashPrefix,
    ruleIds,
    chainPrefixes: args.chainPrefixes,
    insertMode: args.insertMode,
    runner: env.runnerFor(args.netns),
    ipVersions,
  });
  // Manage every selected table, so rules of ours that the files no longer
  // contain are removed too.
  const tables: readonly TableName[] = args.tables.length === 0 ? TABLE_NAMES : args.tables;
  for (const v of ipVersions) for (const t of tables) firewall.table(t, v);
  if (policy !== undefined) {
    // --rule-ids overrides the files' setting.
    const selected = selectPolicy(policy, { tables: args.tables, ipVersions });
    firewall.setPolicy({ ...selected, ruleIds });
  }
  return firewall;
}

async function loadPolicy(ctx: Context): Promise<Policy> {
  return await loadPolicyFiles(ctx.args.files, { chainPrefixes: ctx.args.chainPrefixes });
}

function target(args: CliArgs): string {
  return args.netns === undefined ? "this host" : `network namespace "${args.netns}"`;
}

async function diffs(ctx: Context, firewall: Firewall): Promise<TableDiff[]> {
  const { tables } = await firewall.plan();
  const policy = firewall.policy();
  const out: TableDiff[] = [];
  for (const { table, ipVersion } of tables) {
    const desired: FamilyTablePolicy = policyForFamily(policy, ipVersion)
      .find((t) => t.table === table) ??
      { table, ipVersion, chains: [], insertions: {}, appends: {}, policies: {} };
    const engine = firewall.table(table, ipVersion);
    const backend = engine.backend ?? (ctx.args.backend === "legacy" ? "legacy" : "nft");
    const save = await readKernelTable(firewall.runner, { table, ipVersion, backend });
    // The features plan() detected: IDs of rules such as MASQUERADE depend on them.
    out.push(diffTable(desired, save, {
      hashPrefix: ctx.args.hashPrefix,
      chainPrefixes: ctx.args.chainPrefixes,
      insertMode: ctx.args.insertMode,
      features: engine.features ?? {},
      ruleIds: firewall.ruleIds,
    }));
  }
  return out;
}

async function planText(
  ctx: Context,
  firewall: Firewall,
): Promise<{ text: string; tables: { table: TableName; ipVersion: IpFamily; script: string }[] }> {
  const { tables } = await firewall.plan();
  let text = "";
  for (const t of tables) {
    if (t.script === "") continue;
    text += paint(ctx, "1", `# ${t.table} (IPv${t.ipVersion})`) + "\n" + t.script;
    if (!t.script.endsWith("\n")) text += "\n";
  }
  return { text, tables };
}

async function cmdPlan(ctx: Context): Promise<number> {
  const firewall = makeFirewall(ctx, await loadPolicy(ctx));
  const { text, tables } = await planText(ctx, firewall);
  const changed = text !== "";
  if (ctx.args.json) {
    ctx.json({
      command: "plan",
      changed,
      tables: tables.map((t) => ({ ...t, changed: t.script !== "" })),
    });
  } else {
    ctx.say(changed ? text : `Nothing to do: ${target(ctx.args)} already matches the policy\n`);
  }
  return EXIT_CODES.OK;
}

async function cmdDiff(ctx: Context): Promise<number> {
  const firewall = makeFirewall(ctx, await loadPolicy(ctx));
  const d = await diffs(ctx, firewall);
  if (ctx.args.json) ctx.json({ command: "diff", changed: d.some((t) => t.changed), tables: d });
  else ctx.say(renderDiff(d, { color: ctx.color }));
  return EXIT_CODES.OK;
}

async function cmdExport(ctx: Context): Promise<number> {
  const policy = selectPolicy(await loadPolicy(ctx), {
    tables: ctx.args.tables,
    ipVersions: ctx.args.ipVersions,
  });
  const source = policyToTypeScript(policy);
  if (ctx.args.json) ctx.json({ command: "export", typescript: source });
  else ctx.say(source);
  return EXIT_CODES.OK;
}

async function cmdShow(ctx: Context): Promise<number> {
  if (ctx.args.files.length > 0) {
    const policy = selectPolicy(await loadPolicy(ctx), {
      tables: ctx.args.tables,
      ipVersions: ctx.args.ipVersions,
    });
    // The IDs this host gives the rules: MASQUERADE, SNAT and NFLOG render
    // (so hash) by its features, as `apply` and `diff` see them.
    const detector = new FeatureDetector({ runner: ctx.env.runnerFor(ctx.args.netns) });
    const text = describePolicy(policy, {
      hashPrefix: ctx.args.hashPrefix,
      ruleIds: ruleIdsOf(ctx.args, policy),
      color: ctx.color,
      features: await detector.getFeatures(),
    });
    if (ctx.args.json) {
      ctx.json({ command: "show", source: "files", text });
    } else ctx.say(text + "\n");
    return EXIT_CODES.OK;
  }
  const firewall = makeFirewall(ctx);
  const snapshot = await firewall.snapshot();
  const wanted = (t: TableName) => ctx.args.tables.length === 0 || ctx.args.tables.includes(t);
  snapshot.tables = snapshot.tables.filter((t) => wanted(t.table));
  if (ctx.args.json) {
    ctx.json({ command: "show", source: "kernel", snapshot: JSON.parse(snapshotToJson(snapshot)) });
    return EXIT_CODES.OK;
  }
  let text = "";
  for (const t of snapshot.tables) {
    const foreign = Object.entries(t.foreignChainRules).filter(([, r]) => r.length > 0);
    if (t.chains.length === 0 && foreign.length === 0) continue;
    text += paint(ctx, "1", `${t.table} (IPv${t.ipVersion}, ${t.backend})`) + "\n";
    for (const [chain, rules] of foreign) {
      text += `  ${chain} (our rules among ${chain}'s)\n`;
      for (const r of rules) text += `    -A ${chain} ${r.rule}\n`;
    }
    for (const c of t.chains) {
      text += `  chain ${c.name} (${c.rules.length} rule${c.rules.length === 1 ? "" : "s"})\n`;
      for (const r of c.rules) text += `    -A ${c.name} ${r}\n`;
    }
  }
  ctx.say(text === "" ? `No Rampart rules in ${target(ctx.args)}\n` : text);
  return EXIT_CODES.OK;
}

async function askYes(ctx: Context, question: string, timeoutMs?: number): Promise<boolean> {
  const answer = (await ctx.env.ask(question, timeoutMs))?.trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

function requireAnswer(ctx: Context, what: string): void {
  if (!ctx.args.yes && !ctx.env.interactive) {
    throw new Exit(
      EXIT_CODES.USAGE,
      `Refusing to ${what} without confirmation: no terminal to ask on; pass --yes to ${what} anyway`,
    );
  }
}

function describeOutcome(o: WatchdogOutcome | undefined): string {
  if (o === undefined) {
    return "The watchdog stopped without reporting: check the rules with 'rampart show'";
  }
  if (o.outcome === "confirmed") return "Confirmed: the new rules stay";
  if (o.outcome === "reverted") {
    return o.reason === "deadline"
      ? "Not confirmed in time: the previous rules were restored"
      : "Declined: the previous rules were restored";
  }
  return `Restoring the previous rules FAILED: ${o.error ?? "unknown error"}`;
}

function outcomeCode(o: WatchdogOutcome | undefined): number {
  if (o?.outcome === "confirmed") return EXIT_CODES.OK;
  if (o?.outcome === "reverted") return EXIT_CODES.NOT_CONFIRMED;
  return EXIT_CODES.FAILURE;
}

async function cmdApply(ctx: Context): Promise<number> {
  const { args, env } = ctx;
  requireAnswer(ctx, "apply");
  const firewall = makeFirewall(ctx, await loadPolicy(ctx));
  const { text, tables } = await planText(ctx, firewall);
  if (text === "") {
    if (args.json) ctx.json({ command: "apply", applied: false, changed: false, tables: [] });
    else ctx.say(`Nothing to do: ${target(args)} already matches the policy\n`);
    return EXIT_CODES.OK;
  }
  if (!args.yes) {
    ctx.note(
      text + "\n" + renderDiff((await diffs(ctx, firewall)).filter((d) => d.changed), {
        color: ctx.color,
      }),
    );
    if (args.netns === undefined) {
      ctx.note(paint(ctx, "33", "This changes the firewall of THIS HOST.") + "\n");
    }
    if (!await askYes(ctx, `Apply to ${target(args)}? [y/N] `)) {
      if (args.json) ctx.json({ command: "apply", applied: false, changed: true, declined: true });
      else ctx.note("Not applied\n");
      return EXIT_CODES.NOT_CONFIRMED;
    }
  }
  const stateDir = args.stateDir ?? defaultStateDir((n) => env.env(n), env.uid);
  let pending;
  if (args.confirmTimeoutMs !== undefined) {
    const snapshot = await firewall.snapshot();
    pending = await armWatchdog({
      stateDir,
      snapshotJson: snapshotToJson(snapshot),
      timeoutMs: args.confirmTimeoutMs,
      firewall: {
        ...(args.netns === undefined ? {} : { netns: args.netns }),
        backend: args.backend,
        hashPrefix: args.hashPrefix,
        chainPrefixes: args.chainPrefixes,
        insertMode: args.insertMode,
        ipVersions: [...firewall.ipVersions],
      },
      ...(env.spawnWatchdog === undefined ? {} : { spawn: env.spawnWatchdog }),
    });
    ctx.note(`Watchdog ${pending.pid} armed: it restores the current rules unless confirmed\n`);
  }
  let result: FirewallApplyResult;
  try {
    result = await firewall.apply({ onProgress: (e) => ctx.note(progressLine(e) + "\n") });
  } catch (e) {
    if (pending !== undefined) {
      await pending.revertNow();
      ctx.note(describeOutcome(await pending.outcome()) + "\n");
      await pending.remove();
    }
    throw e;
  }
  const applied = result.tables.filter((t) => t.changed);
  const summary = {
    command: "apply",
    applied: true,
    changed: applied.length > 0,
    tables: result.tables,
    planned: tables.filter((t) => t.script !== "").map((t) => ({
      table: t.table,
      ipVersion: t.ipVersion,
    })),
  };
  if (pending === undefined) {
    if (args.json) ctx.json(summary);
    else {ctx.say(`Applied to ${target(args)}: ${
        applied.map((t) => `${t.table} IPv${t.ipVersion}`).join(", ")
      }\n`);}
    return EXIT_CODES.OK;
  }
  const seconds = Math.max(1, Math.round((pending.deadline - Date.now()) / 1000));
  const confirmCommand =
    `rampart confirm${args.netns === undefined ? "" : ` --netns ${args.netns}`}` +
    (args.stateDir === undefined ? "" : ` --state-dir ${args.stateDir}`);
  ctx.note(
    `Applied. Confirm within ${seconds}s or the previous rules come back ` +
      `(answer here, or run '${confirmCommand}')\n`,
  );
  const stop = new AbortController();
  const outcomeP = pending.outcome(stop.signal);
  if (env.interactive) {
    const remaining = pending.deadline - Date.now();
    const answer = env.ask(`Keep the new rules? Type "yes" within ${seconds}s: `, remaining)
      .then((a) => ({ answer: a }));
    const first = await Promise.race([answer, outcomeP.then((o) => ({ outcome: o }))]);
    if ("answer" in first) {
      const yes = ["y", "yes"].includes((first.answer ?? "").trim().toLowerCase());
      if (yes) await pending.confirm();
      else if (first.answer !== undefined) await pending.revertNow();
    }
  }
  const outcome = await outcomeP;
  stop.abort();
  let message = describeOutcome(outcome);
  if (outcome === undefined) {
    // Keep the directory (and its log) for the operator.
    const log = await Deno.readTextFile(`${pending.dir}/watchdog.log`).catch(() => "");
    message += ` (watchdog log in ${pending.dir}: ${log.trim().split("\n").at(-1) ?? ""})`;
  } else await pending.remove();
  if (args.json) {
    ctx.json({ ...summary, confirmation: outcome ?? null });
  } else ctx.say(message + "\n");
  if (args.json) ctx.note(message + "\n");
  return outcomeCode(outcome);
}

async function cmdConfirm(ctx: Context): Promise<number> {
  const { args, env } = ctx;
  const stateDir = args.stateDir ?? defaultStateDir((n) => env.env(n), env.uid);
  const { pending, outcome } = await confirmPending(stateDir, args.netns);
  if (!pending) {
    throw new Exit(
      EXIT_CODES.FAILURE,
      `No apply is waiting for confirmation in ${target(args)}` +
        (outcome === undefined
          ? ""
          : ` (the last one ended at ${outcome.at}: ${describeOutcome(outcome)})`),
    );
  }
  if (args.json) ctx.json({ command: "confirm", ...outcome });
  else ctx.say(describeOutcome(outcome) + "\n");
  return outcomeCode(outcome);
}

async function cmdRemove(ctx: Context): Promise<number> {
  const { args } = ctx;
  requireAnswer(ctx, "remove");
  if (
    !args.yes &&
    !await askYes(ctx, `Remove all Rampart rules and chains from ${target(args)}? [y/N] `)
  ) {
    ctx.note("Nothing removed\n");
    return EXIT_CODES.NOT_CONFIRMED;
  }
  const firewall = makeFirewall(ctx);
  const tables: readonly TableName[] = args.tables.length === 0 ? TABLE_NAMES : args.tables;
  const done: { table: TableName; ipVersion: IpFamily }[] = [];
  for (const v of firewall.ipVersions) {
    for (const t of tables) {
      ctx.note(`Removing our rules from ${t} IPv${v}…\n`);
      await firewall.table(t, v).cleanUp();
      done.push({ table: t, ipVersion: v });
    }
  }
  if (args.json) ctx.json({ command: "remove", removed: true, tables: done });
  else ctx.say(`Removed Rampart's rules and chains from ${target(args)}\n`);
  return EXIT_CODES.OK;
}

async function cmdWatch(ctx: Context): Promise<number> {
  const { args, env } = ctx;
  let firewall = makeFirewall(ctx, await loadPolicy(ctx));
  let fresh = true;
  const stop = new AbortController();
  let wake: (() => void) | undefined;
  let reload = false;
  const onStop = () => {
    stop.abort();
    wake?.();
  };
  const onHup = () => {
    reload = true;
    wake?.();
  };
  env.signal?.addEventListener("abort", onStop);
  const signals: [Deno.Signal, () => void][] = [["SIGINT", onStop], ["SIGTERM", onStop], [
    "SIGHUP",
    onHup,
  ]];
  for (const [s, f] of signals) {
    try {
      Deno.addSignalListener(s, f);
    } catch { /* not supported here */ }
  }
  const log = (text: string, data: Record<string, unknown>) => {
    if (args.json) ctx.json({ command: "watch", at: new Date().toISOString(), ...data });
    else ctx.note(`${new Date().toISOString()} ${text}\n`);
  };
  log(`watching ${args.files.join(", ")} in ${target(args)}`, {
    event: "start",
    files: args.files,
  });
  try {
    while (!stop.signal.aborted) {
      let delay: number;
      if (reload) {
        reload = false;
        try {
          const policy = await loadPolicy(ctx);
          firewall = makeFirewall(ctx, policy);
          fresh = true;
          log("reloaded the policy files", { event: "reload" });
        } catch (e) {
          log(`reload failed, keeping the previous policy: ${errorMessage(e)}`, {
            event: "reload-failed",
            error: errorMessage(e),
          });
        }
      }
      try {
        // A snapshot (for rolling back a failed multi-table write) costs one
        // iptables-save per table: take it when the policy is new, not on
        // every drift check.
        const result = await firewall.apply({ snapshot: fresh });
        fresh = false;
        const changed = result.tables.filter((t) => t.changed);
        if (changed.length > 0) {
          log(
            `applied ${
              changed.map((t) => `${t.table} IPv${t.ipVersion} (${t.linesWritten} lines)`).join(
                ", ",
              )
            }`,
            { event: "applied", tables: changed },
          );
        }
        delay = result.rescheduleAfterMs > 0 ? result.rescheduleAfterMs : 90_000;
      } catch (e) {
        log(`apply failed (retrying in 5s): ${errorMessage(e)}`, {
          event: "error",
          error: errorMessage(e),
        });
        delay = 5_000;
      }
      if (stop.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    for (const [s, f] of signals) {
      try {
        Deno.removeSignalListener(s, f);
      } catch { /* not supported here */ }
    }
    env.signal?.removeEventListener("abort", onStop);
  }
  log("stopped (the rules stay in place; 'rampart remove' removes them)", { event: "stop" });
  return EXIT_CODES.OK;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function errorData(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const data: Record<string, unknown> = { name: e.name, message: e.message };
  if (e instanceof PolicyFileError) {
    Object.assign(data, { file: e.file, line: e.line, column: e.column, field: e.field });
  }
  if (e instanceof RuleError) Object.assign(data, { field: e.field });
  if (e instanceof PolicyError) Object.assign(data, { path: e.path });
  return data;
}

function exitCodeOf(e: unknown): number {
  if (e instanceof Exit) return e.code;
  if (e instanceof UsageError) return EXIT_CODES.USAGE;
  if (e instanceof PolicyFileError || e instanceof PolicyError || e instanceof RuleError) {
    return EXIT_CODES.INVALID_POLICY;
  }
  if (e instanceof PendingApplyError) return EXIT_CODES.FAILURE;
  return EXIT_CODES.FAILURE;
}

const COMMANDS: Record<Exclude<CommandName, "help">, (ctx: Context) => Promise<number>> = {
  plan: cmdPlan,
  apply: cmdApply,
  show: cmdShow,
  diff: cmdDiff,
  export: cmdExport,
  watch: cmdWatch,
  remove: cmdRemove,
  confirm: cmdConfirm,
};

/**
 * Runs `rampart` with command-line arguments and returns the exit code
 * (see `EXIT_CODES`). Never throws: errors are printed (as JSON on stdout
 * under `--json`) and mapped to exit codes.
 *
 * @param argv The arguments after the program name.
 * @param env The process (tests inject a fake one).
 * @returns The exit code.
 *
 * @example
 * ```ts
 * import { runCli } from "@rampart/iptables/cli";
 * const code = await runCli(["plan", "--backend", "bogus", "rules.yaml"], {
 *   stdout: () => {}, stderr: () => {}, interactive: false, stdoutIsTerminal: false,
 *   ask: () => Promise.resolve(undefined), runnerFor: () => { throw new Error("unused"); },
 *   env: () => undefined, uid: 0,
 * });
 * console.log(code); // 2
 * ```
 */
export async function runCli(
  argv: readonly string[],
  env: CliEnvironment = denoCliEnvironment(),
): Promise<number> {
  let args: CliArgs | undefined;
  const wantsJson = argv.includes("--json");
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    const message = errorMessage(e);
    const command = e instanceof UsageError ? e.command : undefined;
    if (wantsJson) {
      env.stdout(JSON.stringify({ ok: false, exitCode: 2, error: errorData(e) }) + "\n");
    } else {
      env.stderr(
        `rampart: ${message}\nRun 'rampart ${
          command === undefined ? "" : `${command} `
        }--help' for usage.\n`,
      );
    }
    return EXIT_CODES.USAGE;
  }
  if (args.help || args.command === "help") {
    const topic = args.command === "help"
      ? (args.files[0] as CommandName | undefined) ?? "help"
      : args.command;
    env.stdout(helpText(topic) + "\n");
    return EXIT_CODES.OK;
  }
  const color = args.color === "always" ||
    (args.color === "auto" && !args.json && env.stdoutIsTerminal &&
      env.env("NO_COLOR") === undefined);
  const ctx: Context = {
    args,
    env,
    color,
    say: (text) => args!.json ? env.stderr(text) : env.stdout(text),
    note: (text) => env.stderr(text),
    json: (value) => env.stdout(JSON.stringify({ ok: true, ...value }) + "\n"),
  };
  try {
    return await COMMANDS[args.command](ctx);
  } catch (e) {
    const code = exitCodeOf(e);
    if (args.json) {
      env.stdout(
        JSON.stringify({ ok: false, command: args.command, exitCode: code, error: errorData(e) }) +
          "\n",
      );
    } else {
      env.stderr(`rampart ${args.command}: ${errorMessage(e)}\n`);
      if (code === EXIT_CODES.USAGE) {
        env.stderr(`Run 'rampart ${args.command} --help' for usage.\n`);
      }
    }
    return code;
  }
}
