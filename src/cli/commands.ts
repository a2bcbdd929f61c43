/**
 * The `rampart` commands.
 *
 * @module
 */
import type { Logger } from "../host/logger.ts";
import type { RuleIds } from "../../dsl/hash.ts";
import { FeatureDetector } from "../host/feature_detector.ts";
import {
  Firewall,
  type FirewallApplyResult,
  type FirewallOptions,
  type FirewallPlan,
  type TablePlanEntry,
} from "../policy/firewall.ts";
import type { ApplyJournal } from "../policy/journal.ts";
import { TABLE_NAMES, type TableName } from "../../dsl/kernel_chains.ts";
import { diffTable, readKernelTable, renderDiff, type TableDiff } from "../policy/plan_diff.ts";
import {
  type FamilyTablePolicy,
  type IpFamily,
  type Policy,
  policyForFamily,
} from "../policy/policy.ts";
import { describePolicy } from "../policy/describe.ts";
import { type Snapshot, snapshotFromJson, snapshotToJson } from "../policy/snapshot.ts";
import { policyToTypeScript } from "../policy/ts_export.ts";
import { type EngineWarning, warningKey } from "../engine/warnings.ts";
import {
  type CliArgs,
  type CommandName,
  EXIT_CODES,
  type OwnParserCommandName,
  parseCliArgs,
  UsageError,
} from "./args.ts";
import { type CliEnvironment, denoCliEnvironment } from "./environment.ts";
import { helpText } from "./help.ts";
import { locateRuleError } from "./policy_errors.ts";
import { CommandExit, errorData, errorMessage, exitCodeOf } from "./command_errors.ts";
import { loadPolicyFiles, selectPolicy } from "./policy_files.ts";
import { lockoutWarning, type PlannedDrop, plannedDrops } from "./lockout.ts";
import { progressLine } from "../policy/progress.ts";
import { procFileReader } from "../host/proc_files.ts";
import { UnknownNamespaceError } from "../host/network_namespaces.ts";
import { completionScript } from "./completions.ts";
import { readCounters, ruleSources, type TableCounters } from "./counters.ts";
import { renderCounters } from "./counters_view.ts";
import { runTop } from "./top.ts";
import { autoDetectBackend } from "../host/backend_detector.ts";
import { warningJson, warningLine } from "./warnings.ts";
import { removeDurable, writeDurable } from "./durable.ts";
import { FileApplyJournal, type IntentRecord, readIntentRecord } from "./intent_file.ts";
import { type TargetFiles, targetFiles } from "./state_dir.ts";
import { lockTarget, TargetBusyError, type TargetLock } from "./target_lock.ts";
import { ReadReuse } from "./read_reuse.ts";
import type { CommandRunner } from "../host/runner.ts";
import { SharedReads } from "../host/shared_reads.ts";
import type { BackendDetector } from "../engine/table.ts";
import { familyHint, prefetchReads } from "./prefetch.ts";
import {
  inspectTarget,
  type TargetState,
  targetStateJson,
  targetStateNotes,
} from "./target_state.ts";
import {
  armWatchdog,
  confirmPending,
  defaultStateDir,
  liveWatchdog,
  PendingApplyError,
  type PendingConfirmation,
  revertPending,
  watchdogLogger,
  type WatchdogOutcome,
} from "./watchdog.ts";

/**
 * The first post-write re-read of a one-shot `apply` (the longest the engine
 * takes): it exits after its write, so that check would only re-read what
 * its plan has just read.
 */
const ONE_SHOT_POST_WRITE_MS = 3_600_000;

interface Context {
  args: CliArgs;
  env: CliEnvironment;
  color: boolean;
  /** The command line, for the lock holder and the intent record. */
  commandLine: string;
  /** The state directory and the target's files in it. */
  stateDir: string;
  files: TargetFiles;
  /** Merged into every JSON document: what the command found in the state files. */
  report: Record<string, unknown>;
  /** Human text: stdout normally, stderr under --json. */
  say(text: string): void;
  /** Progress and notes: always stderr. */
  note(text: string): void;
  /**
   * A warning: `warning: …` on stderr at once, and in the `warnings` list of
   * the next JSON document under `--json`.
   */
  warn(message: string, fields?: Record<string, unknown>): void;
  json(value: Record<string, unknown>): void;
}

/**
 * The engine's logger for the CLI: its warnings go to `ctx.warn`, the rest is
 * dropped. Typed engine warnings (a `kind` field, see `EngineWarning`) are
 * logged too, but the CLI reports those itself, located in the policy file
 * (`reportWarnings`), so they are not printed twice.
 */
function cliLogger(ctx: Context): Logger {
  return {
    log(level, message, fields) {
      if (level === "warn" && fields?.kind === undefined) ctx.warn(message, fields);
    },
  };
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
    throw new CommandExit(
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

function makeFirewall(
  ctx: Context,
  policy?: Policy,
  options: {
    journal?: ApplyJournal;
    runner?: CommandRunner;
    tableOptions?: FirewallOptions["tableOptions"];
  } = {},
): Firewall {
  const { args, env } = ctx;
  const ipVersions = families(args, policy);
  const ruleIds = ruleIdsOf(args, policy);
  const runner = options.runner ?? env.runnerFor(args.netns);
  const firewall = new Firewall({
    ...(args.netns === undefined ? {} : { netns: args.netns }),
    ...(options.journal === undefined ? {} : { journal: options.journal }),
    ...(options.tableOptions === undefined ? {} : { tableOptions: options.tableOptions }),
    backend: args.backend,
    hashPrefix: args.hashPrefix,
    ruleIds,
    chainPrefixes: args.chainPrefixes,
    insertMode: args.insertMode,
    runner,
    ipVersions,
    logger: cliLogger(ctx),
    featureDetector: featureDetector(ctx, runner),
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

/** Host features, read under narrow permissions too (`proc_files.ts`). */
function featureDetector(ctx: Context, runner: CommandRunner): FeatureDetector {
  return new FeatureDetector({ runner, readFile: procFileReader(runner), logger: cliLogger(ctx) });
}

/**
 * Prints the warnings of the firewall's last plan or apply on stderr (also
 * under --json) and returns them as --json reports them.
 */
function reportWarnings(ctx: Context, firewall: Firewall): Record<string, unknown>[] {
  const policy = firewall.policy();
  const warnings = firewall.warnings();
  for (const w of warnings) {
    ctx.note(warningLine(policy, w, (t) => paint(ctx, "33", t)) + "\n");
  }
  return warnings.map((w) => warningJson(policy, w));
}

async function loadPolicy(
  ctx: Context,
  beforeParse?: (texts: readonly string[]) => Promise<void> | void,
): Promise<Policy> {
  return await loadPolicyFiles(ctx.args.files, {
    chainPrefixes: ctx.args.chainPrefixes,
    maxBytes: ctx.args.maxFileBytes,
    ...(beforeParse === undefined ? {} : { beforeParse }),
  });
}

/**
 * Loads the files while the kernel is read (`prefetch.ts`): once every file
 * is read, `ready` runs (it takes the target's lock for a command that
 * writes; `false` reads nothing early), then the reads start in an open
 * operation of `reads`, and the files are parsed.
 */
async function loadReading(
  ctx: Context,
  reads: SharedReads,
  ready: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<{ policy: Policy; backendDetector: BackendDetector | undefined }> {
  let backendDetector: BackendDetector | undefined;
  const policy = await loadPolicy(ctx, async (texts) => {
    if (!(await ready())) return;
    const wanted = ctx.args.ipVersions;
    reads.open();
    backendDetector = prefetchReads(reads, {
      backend: ctx.args.backend,
      ipVersions: familyHint(texts).filter((v) => wanted.length === 0 || wanted.includes(v)),
      hashPrefix: ctx.args.hashPrefix,
      logger: cliLogger(ctx),
    });
  });
  return { policy, backendDetector };
}

/**
 * The command's shared reads. Full saves write to a file in the state
 * directory when the runner's processes see it and it is private (ours,
 * writable by nobody else: `iptables-save -f` follows links).
 */
function sharedReads(ctx: Context, options: { createStateDir?: boolean } = {}): SharedReads {
  const runner = ctx.env.runnerFor(ctx.args.netns);
  if (ctx.env.localProcesses !== true) return new SharedReads(runner);
  try {
    // `apply` creates it anyway (its lock is there); `plan` and `diff` use it if it exists.
    if (options.createStateDir === true) {
      Deno.mkdirSync(ctx.stateDir, { recursive: true, mode: 0o700 });
    }
    const st = Deno.statSync(ctx.stateDir);
    const mode = st.mode ?? 0o777;
    if (st.isDirectory && st.uid === Deno.uid() && (mode & 0o022) === 0) {
      return new SharedReads(runner, { fileDir: ctx.stateDir });
    }
  } catch { /* not ours to write: the saves print to a pipe */ }
  return new SharedReads(runner);
}

/** Table options that use the backend detections `loadReading` started. */
function detecting(detector: BackendDetector | undefined): FirewallOptions["tableOptions"] {
  return detector === undefined ? {} : { backendDetector: detector };
}

function target(args: CliArgs): string {
  return args.netns === undefined ? "this host" : `network namespace "${args.netns}"`;
}

/**
 * `firewall.plan()`, table by table (in its order), so that an error about a
 * rule is reported at the rule in its file.
 */
async function planTables(ctx: Context, firewall: Firewall): Promise<FirewallPlan> {
  const tables: TablePlanEntry[] = [];
  const warnings: EngineWarning[] = [];
  const selected = (t: TableName) => ctx.args.tables.length === 0 || ctx.args.tables.includes(t);
  for (const ipVersion of firewall.ipVersions) {
    for (const table of TABLE_NAMES.filter(selected)) {
      const t = firewall.table(table, ipVersion);
      try {
        tables.push({ table, ipVersion, script: await t.plan() });
      } catch (e) {
        throw locateRuleError(e, firewall.policy(), { table, ipVersion });
      }
      warnings.push(...t.warnings());
    }
  }
  return { tables, warnings };
}

/**
 * The diff of every planned table (of `planned`, or of a plan made now)
 * against the kernel's table, read through the firewall's runner (a
 * `ReadReuse` serves the plan's own read).
 */
async function diffs(
  ctx: Context,
  firewall: Firewall,
  planned?: readonly TablePlanEntry[],
): Promise<TableDiff[]> {
  const tables = planned ?? (await planTables(ctx, firewall)).tables;
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

/**
 * `table.check()` for every table in apply order: everything `plan()`
 * checks, without producing the scripts (the apply that follows produces
 * each while iptables-restore reads it). An error about a rule is located
 * at the rule in its file.
 */
async function checkTables(
  ctx: Context,
  firewall: Firewall,
): Promise<{ changed: { table: TableName; ipVersion: IpFamily }[]; drops: PlannedDrop[] }> {
  const changed: { table: TableName; ipVersion: IpFamily }[] = [];
  const drops: PlannedDrop[] = [];
  const selected = (t: TableName) => ctx.args.tables.length === 0 || ctx.args.tables.includes(t);
  for (const ipVersion of firewall.ipVersions) {
    for (const table of TABLE_NAMES.filter(selected)) {
      let check;
      try {
        check = await firewall.table(table, ipVersion).check();
      } catch (e) {
        throw locateRuleError(e, firewall.policy(), { table, ipVersion });
      }
      if (check.changed) changed.push({ table, ipVersion });
      if (table !== "filter") continue;
      for (const [chain, policy] of check.policies) {
        if (policy === "DROP" && (chain === "INPUT" || chain === "OUTPUT")) {
          drops.push({ chain, ipVersion });
        }
      }
    }
  }
  return { changed, drops };
}

async function planText(
  ctx: Context,
  firewall: Firewall,
): Promise<{ text: string; tables: { table: TableName; ipVersion: IpFamily; script: string }[] }> {
  const { tables } = await planTables(ctx, firewall);
  let text = "";
  for (const t of tables) {
    if (t.script === "") continue;
    text += paint(ctx, "1", `# ${t.table} (IPv${t.ipVersion})`) + "\n" + t.script;
    if (!t.script.endsWith("\n")) text += "\n";
  }
  return { text, tables };
}

async function cmdPlan(ctx: Context): Promise<number> {
  const reads = sharedReads(ctx);
  try {
    return await planReading(ctx, reads);
  } finally {
    reads.close();
  }
}

async function planReading(ctx: Context, reads: SharedReads): Promise<number> {
  const { policy, backendDetector } = await loadReading(ctx, reads);
  const firewall = makeFirewall(ctx, policy, {
    runner: reads,
    tableOptions: detecting(backendDetector),
  });
  const { text, tables } = await planText(ctx, firewall);
  const changed = text !== "";
  const warnings = reportWarnings(ctx, firewall);
  const exitCode = inSyncCode(ctx, changed);
  if (ctx.args.json) {
    ctx.json({
      command: "plan",
      changed,
      inSync: !changed,
      exitCode,
      tables: tables.map((t) => ({ ...t, changed: t.script !== "" })),
      warnings,
    });
  } else {
    ctx.say(changed ? text : `Nothing to do: ${target(ctx.args)} already matches the policy\n`);
  }
  return exitCode;
}

/** The exit code of `plan`/`diff`: 5 for pending changes under `--exit-code`, else 0. */
function inSyncCode(ctx: Context, changed: boolean): number {
  return ctx.args.exitCode && changed ? EXIT_CODES.CHANGES_PENDING : EXIT_CODES.OK;
}

async function cmdDiff(ctx: Context): Promise<number> {
  const reads = sharedReads(ctx);
  try {
    return await diffReading(ctx, reads);
  } finally {
    reads.close();
  }
}

async function diffReading(ctx: Context, reads: SharedReads): Promise<number> {
  const { policy, backendDetector } = await loadReading(ctx, reads);
  // The diff reads each table once: its plan's read (`read_reuse.ts`).
  const runner = new ReadReuse(reads);
  const firewall = makeFirewall(ctx, policy, {
    runner,
    tableOptions: detecting(backendDetector),
  });
  const d = await diffs(ctx, firewall);
  const warnings = reportWarnings(ctx, firewall);
  const changed = d.some((t) => t.changed);
  const exitCode = inSyncCode(ctx, changed);
  if (ctx.args.json) {
    ctx.json({ command: "diff", changed, inSync: !changed, exitCode, tables: d, warnings });
  } else ctx.say(renderDiff(d, { color: ctx.color }));
  return exitCode;
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
  if (ctx.args.counters) return await showCounters(ctx);
  if (ctx.args.files.length > 0) {
    const policy = selectPolicy(await loadPolicy(ctx), {
      tables: ctx.args.tables,
      ipVersions: ctx.args.ipVersions,
    });
    // The IDs this host gives the rules: MASQUERADE, SNAT and NFLOG render
    // (so hash) by its features, as `apply` and `diff` see them.
    const detector = featureDetector(ctx, ctx.env.runnerFor(ctx.args.netns));
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

/**
 * What `show --counters` and `top` read: the counters of every selected
 * family (one `iptables-save -c` each), with the `file:line` of each rule
 * when policy files are given.
 */
async function counterReader(ctx: Context): Promise<{
  read: () => Promise<TableCounters[]>;
  backends: Partial<Record<IpFamily, string>>;
  withSources: boolean;
}> {
  const { args } = ctx;
  const policy = args.files.length === 0 ? undefined : await loadPolicy(ctx);
  const runner = ctx.env.runnerFor(args.netns);
  const ipVersions = families(args, policy);
  const backends: Partial<Record<IpFamily, "nft" | "legacy">> = {};
  for (const ipVersion of ipVersions) {
    backends[ipVersion] = args.backend !== "auto" ? args.backend : await autoDetectBackend({
      runner,
      ipVersion,
      hashPrefix: args.hashPrefix,
      logger: cliLogger(ctx),
    });
  }
  const sources = policy === undefined ? undefined : ruleSources(policy, {
    ruleIds: ruleIdsOf(args, policy),
    features: await featureDetector(ctx, runner).getFeatures(),
  });
  const read = async () => {
    const out: TableCounters[] = [];
    for (const ipVersion of ipVersions) {
      const tables = await readCounters(runner, {
        ipVersion,
        backend: backends[ipVersion]!,
        tables: args.tables,
        hashPrefix: args.hashPrefix,
        chainPrefixes: args.chainPrefixes,
      });
      for (const t of tables) {
        for (const r of t.rules) {
          const at = r.id === undefined
            ? undefined
            : sources?.get(`${t.table}/${ipVersion}/${r.id}`);
          if (at !== undefined) r.source = at;
        }
      }
      out.push(...tables);
    }
    return out;
  };
  return { read, backends, withSources: sources !== undefined };
}

async function showCounters(ctx: Context): Promise<number> {
  const { read, backends, withSources } = await counterReader(ctx);
  const tables = (await read()).filter((t) => t.rules.length > 0);
  if (ctx.args.json) {
    ctx.json({
      command: "show",
      source: "kernel",
      counters: tables.map((t) => ({ ...t, backend: backends[t.ipVersion] })),
    });
    return EXIT_CODES.OK;
  }
  const text = renderCounters(tables, {
    backends,
    hashPrefix: ctx.args.hashPrefix,
    withSources,
    color: ctx.color,
  });
  ctx.say(text === "" ? `No Rampart rules in ${target(ctx.args)}\n` : text + "\n");
  return EXIT_CODES.OK;
}

async function askYes(ctx: Context, question: string, timeoutMs?: number): Promise<boolean> {
  const answer = (await ctx.env.ask(question, timeoutMs))?.trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

function requireAnswer(ctx: Context, what: string): void {
  if (!ctx.args.yes && !ctx.env.interactive) {
    throw new CommandExit(
      EXIT_CODES.USAGE,
      `Refusing to ${what} without confirmation: no terminal to ask on; pass --yes to ${what} anyway`,
    );
  }
}

function describeOutcome(o: WatchdogOutcome | undefined): string {
  if (o === undefined) {
    return "The watchdog stopped without reporting: check the rules with 'rampart show'";
  }
  const cli = o.by === "cli" ? " by this command (the watchdog had stopped)" : "";
  if (o.outcome === "confirmed") return "Confirmed: the new rules stay";
  if (o.outcome === "reverted") {
    if (o.reason === "deadline") {
      return `Not confirmed in time: the previous rules were restored${cli}`;
    }
    if (o.reason === "watchdog-stopped") {
      return o.by === "recover"
        ? "The unconfirmed rules were rolled back by 'rampart recover'"
        : "The watchdog stopped without reporting, so this command restored the previous " +
          "rules itself (the safety net was gone)";
    }
    return `Declined: the previous rules were restored${cli}`;
  }
  return `Restoring the previous rules FAILED: ${o.error ?? "unknown error"}`;
}

function outcomeCode(o: WatchdogOutcome | undefined): number {
  if (o?.outcome === "confirmed") return EXIT_CODES.OK;
  if (o?.outcome === "reverted") return EXIT_CODES.NOT_CONFIRMED;
  return EXIT_CODES.FAILURE;
}

function confirmCommand(args: CliArgs): string {
  return `rampart confirm${args.netns === undefined ? "" : ` --netns ${args.netns}`}` +
    (args.stateDir === undefined ? "" : ` --state-dir ${args.stateDir}`);
}

/** Puts what a command found in the state files on stderr and into its JSON. */
function reportState(
  ctx: Context,
  state: TargetState,
  remedy: "apply" | "remove" | "recover" | "none",
): void {
  for (const n of targetStateNotes(state, { target: target(ctx.args), remedy })) {
    ctx.note(paint(ctx, "33", n));
  }
  Object.assign(ctx.report, targetStateJson(state));
}

/**
 * Takes the target's lock for a command that writes (refused when another
 * holds it, or when an apply waits for confirmation), and reports what it
 * finds in the state files.
 */
async function holdTarget(
  ctx: Context,
  remedy: "apply" | "remove" | "recover",
): Promise<{ lock: TargetLock; state: TargetState }> {
  const held = await takeTarget(ctx);
  reportState(ctx, held.state, remedy);
  return held;
}

/** Takes the target's lock and reads its state (refusing while a watchdog waits). */
async function takeTarget(ctx: Context): Promise<{ lock: TargetLock; state: TargetState }> {
  await Deno.mkdir(ctx.stateDir, { recursive: true, mode: 0o700 });
  let lock: TargetLock;
  try {
    lock = await lockTarget(ctx.files.lock, {
      command: ctx.commandLine,
      target: target(ctx.args),
    });
  } catch (e) {
    if (!(e instanceof TargetBusyError) || await liveWatchdog(ctx.files.pending) === undefined) {
      throw e;
    }
    throw new TargetBusyError(target(ctx.args), e.holder, {
      detail: `it waits for confirmation ('${confirmCommand(ctx.args)}' keeps its rules; ` +
        "otherwise its watchdog restores the previous ones at the deadline)",
    });
  }
  try {
    const state = await inspectTarget(ctx.stateDir, { netns: ctx.args.netns, holding: true });
    if (state.watchdog !== undefined) throw new PendingApplyError(ctx.files.pending);
    return { lock, state };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** After a write that brought every table to a chosen state: forget what the state files held. */
/** The journal of a write: an earlier interrupted record comes back on rollback, or stays when not covered. */
function journalFor(ctx: Context, state: TargetState, scope: Scope): FileApplyJournal {
  const record = state.interrupted;
  return new FileApplyJournal(ctx.files.intent, {
    command: ctx.commandLine,
    ...(record === undefined
      ? {}
      : { previous: record.text, previousStays: !coversRecord(scope, record) }),
  });
}

function coversRecord(scope: Scope, record: IntentRecord): boolean {
  if (record.intent === undefined) {
    return TABLE_NAMES.every((t) => scope.tables.includes(t)) &&
      ([4, 6] as const).every((v) => scope.ipVersions.includes(v));
  }
  return record.intent.tables.every((t) =>
    scope.tables.includes(t.table) && scope.ipVersions.includes(t.ipVersion)
  );
}

/** The tables and families a command brought in line. */
interface Scope {
  tables: readonly TableName[];
  ipVersions: readonly IpFamily[];
}

function scopeOf(args: CliArgs, ipVersions: readonly IpFamily[]): Scope {
  return { tables: args.tables.length === 0 ? TABLE_NAMES : args.tables, ipVersions };
}

/**
 * After a write brought the tables of `scope` to a state the operator chose:
 * an interrupted record or unconfirmed apply it covers is settled (removed);
 * one naming tables outside it stays (put back if the write replaced it).
 */
async function settleState(ctx: Context, state: TargetState, scope: Scope): Promise<void> {
  const inScope = (t: { table: TableName; ipVersion: IpFamily }) =>
    scope.tables.includes(t.table) && scope.ipVersions.includes(t.ipVersion);
  const settled: string[] = [];
  const record = state.interrupted;
  if (record !== undefined) {
    if (coversRecord(scope, record)) {
      await removeDurable(record.path);
      settled.push(`the record of the interrupted ${record.intent?.operation ?? "apply"}`);
    } else {
      await writeDurable(record.path, record.text);
      ctx.note(
        "The record of the interrupted apply stays: this command did not bring all of its " +
          "tables in line\n",
      );
    }
  }
  const unconfirmed = state.unconfirmed;
  if (unconfirmed !== undefined) {
    const versions = unconfirmed.ipVersions ?? [4, 6];
    if (TABLE_NAMES.every((t) => versions.every((v) => inScope({ table: t, ipVersion: v })))) {
      await Deno.remove(unconfirmed.dir, { recursive: true }).catch(() => {});
      settled.push("the unconfirmed apply");
    }
  }
  if (settled.length > 0) ctx.note(`Settled and cleared: ${settled.join(" and ")}\n`);
}

function restoreThrough(firewall: Firewall): (snapshotJson: string) => Promise<void> {
  return async (json) => {
    // An unconfirmed `rampart adopt` left its undo instead of a snapshot.
    const { parseAdoptUndo, restoreAdoptUndo } = await import("../import/adopt.ts");
    const undo = parseAdoptUndo(json);
    if (undo !== undefined) return await restoreAdoptUndo(undo, firewall.runner);
    return await firewall.restoreSnapshot(snapshotFromJson(json));
  };
}

/** Waits for the pending apply's outcome; if the watchdog died, restores in its place. */
async function settlePending(
  ctx: Context,
  pending: PendingConfirmation,
  firewall: Firewall,
  snapshot: Snapshot,
  signal?: AbortSignal,
): Promise<WatchdogOutcome | undefined> {
  const outcome = await pending.outcome(signal);
  if (outcome !== undefined || signal?.aborted) return outcome;
  return await pending.takeOver({
    restore: () => firewall.restoreSnapshot(snapshot),
    log: watchdogLogger(ctx.files.log),
  });
}

async function cmdApply(ctx: Context): Promise<number> {
  requireAnswer(ctx, "apply");
  // The target's lock is taken once the files are read, before the kernel
  // is: the reads started while the files are parsed are under it. Errors
  // keep their order: the files', then the lock's.
  const shared = sharedReads(ctx, { createStateDir: true });
  let held: { lock: TargetLock; state: TargetState } | undefined;
  let refused: unknown;
  const take = async () => {
    try {
      held = await takeTarget(ctx);
      return true;
    } catch (e) {
      refused = e;
      return false;
    }
  };
  let loaded: Awaited<ReturnType<typeof loadReading>>;
  try {
    loaded = await loadReading(ctx, shared, take);
    if (refused !== undefined) throw refused;
    held ??= await takeTarget(ctx);
    reportState(ctx, held.state, "apply");
  } catch (e) {
    shared.close();
    held?.lock.release();
    throw e;
  }
  try {
    return await applyHolding(ctx, loaded.policy, held.state, {
      shared,
      backendDetector: loaded.backendDetector,
    });
  } finally {
    shared.close();
    held.lock.release();
  }
}

async function applyHolding(
  ctx: Context,
  policy: Policy,
  state: TargetState,
  early: { shared: SharedReads; backendDetector: BackendDetector | undefined },
): Promise<number> {
  const { args, env } = ctx;
  const journal = journalFor(ctx, state, scopeOf(args, families(args, policy)));
  // The snapshot, and any read before the first write, come from the plan's
  // read (`read_reuse.ts`): the write is computed from it, under our lock.
  const reads = new ReadReuse(early.shared);
  // One write follows the plan: no post-write re-read before it (a question
  // in between invalidates the plan's read instead), so it writes that plan.
  const firewall = makeFirewall(ctx, policy, {
    journal,
    runner: reads,
    tableOptions: {
      postWriteIntervalMs: ONE_SHOT_POST_WRITE_MS,
      ...detecting(early.backendDetector),
    },
  });
  // Under --yes nothing is shown before the write: the tables are checked
  // (nothing is written when a check fails, as after a plan), and the apply
  // produces each script while iptables-restore reads it.
  const { text, tables } = args.yes ? { text: "", tables: [] } : await planText(ctx, firewall);
  const checked = args.yes ? await checkTables(ctx, firewall) : undefined;
  const changed = checked?.changed ?? tables.filter((t) => t.script !== "");
  const drops = checked?.drops ?? plannedDrops(tables);
  // Shown before the question: the operator decides knowing them.
  const warnings = reportWarnings(ctx, firewall);
  if (args.netns === undefined && args.confirmTimeoutMs === undefined) {
    const warning = lockoutWarning(drops, {
      policy: firewall.policy(),
      sshConnection: env.env("SSH_CONNECTION"),
    });
    if (warning !== undefined) ctx.warn(warning, { lockout: drops });
  }
  if (changed.length === 0) {
    await settleState(ctx, state, scopeOf(args, firewall.ipVersions));
    if (args.json) {
      ctx.json({ command: "apply", applied: false, changed: false, tables: [], warnings });
    } else ctx.say(`Nothing to do: ${target(args)} already matches the policy\n`);
    return EXIT_CODES.OK;
  }
  if (!args.yes) {
    ctx.note(
      text + "\n" + renderDiff((await diffs(ctx, firewall, tables)).filter((d) => d.changed), {
        color: ctx.color,
      }),
    );
    if (args.netns === undefined) {
      ctx.note(paint(ctx, "33", "This changes the firewall of THIS HOST.") + "\n");
    }
    const yes = await askYes(ctx, `Apply to ${target(args)}? [y/N] `);
    // The kernel may have changed while the question waited: read it again.
    reads.forget();
    early.shared.forget();
    for (const t of tables) {
      firewall.table(t.table, t.ipVersion).invalidateDataplaneCache("asked before applying");
    }
    if (!yes) {
      if (args.json) {
        ctx.json({ command: "apply", applied: false, changed: true, declined: true });
      } else ctx.note("Not applied\n");
      return EXIT_CODES.NOT_CONFIRMED;
    }
  }
  let pending: PendingConfirmation | undefined;
  let snapshot: Snapshot | undefined;
  if (args.confirmTimeoutMs !== undefined) {
    snapshot = await firewall.snapshot();
    pending = await armWatchdog({
      stateDir: ctx.stateDir,
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
      ...(state.interrupted === undefined ? {} : { interruptedRecord: state.interrupted.text }),
      ...(env.spawnWatchdog === undefined ? {} : { spawn: env.spawnWatchdog }),
    });
    ctx.note(`Watchdog ${pending.pid} armed: it restores the current rules unless confirmed\n`);
  }
  let result: FirewallApplyResult;
  try {
    result = await firewall.apply({ onProgress: (e) => ctx.note(progressLine(e) + "\n") });
  } catch (e) {
    if (pending !== undefined && snapshot !== undefined) {
      await pending.applied();
      await pending.revertNow();
      const outcome = await settlePending(ctx, pending, firewall, snapshot);
      ctx.note(
        (outcome?.outcome === "reverted"
          ? "The apply failed: the previous rules are back"
          : describeOutcome(outcome)) + "\n",
      );
      await pending.finish();
    }
    throw e;
  }
  const applied = result.tables.filter((t) => t.changed);
  const summary = {
    command: "apply",
    applied: true,
    changed: applied.length > 0,
    tables: result.tables,
    planned: changed.map((t) => ({ table: t.table, ipVersion: t.ipVersion })),
    warnings,
  };
  if (pending === undefined || snapshot === undefined) {
    await settleState(ctx, state, scopeOf(args, firewall.ipVersions));
    if (args.json) ctx.json(summary);
    else {ctx.say(`Applied to ${target(args)}: ${
        applied.map((t) => `${t.table} IPv${t.ipVersion}`).join(", ")
      }\n`);}
    return EXIT_CODES.OK;
  }
  await pending.applied();
  const seconds = Math.max(1, Math.round((pending.deadline - Date.now()) / 1000));
  ctx.note(
    `Applied. Confirm within ${seconds}s or the previous rules come back ` +
      `(answer here, or run '${confirmCommand(args)}')\n`,
  );
  const stop = new AbortController();
  const outcomeP = settlePending(ctx, pending, firewall, snapshot, stop.signal);
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
  await pending.finish();
  const code = outcomeCode(outcome);
  let message = describeOutcome(outcome);
  if (outcome === undefined) message += ` (watchdog log: ${ctx.files.log})`;
  if (code === EXIT_CODES.OK) await settleState(ctx, state, scopeOf(args, firewall.ipVersions));
  else if (outcome?.outcome === "reverted" && state.interrupted !== undefined) {
    // Back to the interrupted state: so is its record.
    await writeDurable(state.interrupted.path, state.interrupted.text);
  }
  if (args.json) {
    ctx.json({
      ...summary,
      ...(code === EXIT_CODES.OK ? {} : { ok: false, exitCode: code }),
      confirmation: outcome ?? null,
    });
  }
  // A revert is news the operator must see, with or without a terminal: stderr.
  if (code === EXIT_CODES.OK && !args.json) ctx.say(message + "\n");
  else ctx.note(message + "\n");
  return code;
}

async function cmdConfirm(ctx: Context): Promise<number> {
  const { args } = ctx;
  const result = await confirmPending(ctx.stateDir, args.netns);
  const { decision, outcome } = result;
  if (result.pending) {
    let message = describeOutcome(outcome);
    if (result.unfinished) {
      message += "; but the apply did not finish (its command is gone): the record of it stays";
    }
    if (args.json) ctx.json({ command: "confirm", confirmed: true, ...outcome });
    ctx.say(message + "\n");
    return EXIT_CODES.OK;
  }
  let code: number = EXIT_CODES.FAILURE;
  let message: string;
  if (decision?.decision === "confirm") {
    message = `Nothing is waiting for confirmation in ${target(args)}: the apply was already ` +
      `confirmed at ${decision.at} (by pid ${decision.pid})`;
  } else if (decision !== undefined) {
    code = EXIT_CODES.NOT_CONFIRMED;
    const what = {
      deadline: "its confirm timeout passed",
      revert: "it was declined",
      takeover: "its watchdog stopped",
      confirm: "",
    }[decision.decision];
    message = `Too late to confirm in ${target(args)}: ${what} at ${decision.at}` +
      (outcome === undefined
        ? ", and the previous rules are being restored"
        : `. ${describeOutcome(outcome)}`);
  } else if (result.stale) {
    message = `Nothing can be confirmed in ${target(args)}: the apply was left unconfirmed ` +
      "(neither its watchdog nor its command runs any more) and its rules are still in place; " +
      "'rampart apply FILES' keeps your policy, 'rampart recover' restores the rules from before it";
  } else {
    message = `No apply is waiting for confirmation in ${target(args)}` +
      (outcome === undefined
        ? ""
        : ` (the last one ended at ${outcome.at}: ${describeOutcome(outcome)})`);
  }
  throw new CommandExit(code, message, {
    confirmed: false,
    ...(decision === undefined ? {} : { decision }),
    ...(outcome === undefined ? {} : { outcome }),
  });
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
  const { lock, state } = await holdTarget(ctx, "remove");
  const journal = { current: undefined as FileApplyJournal | undefined };
  try {
    return await removeHolding(ctx, state, journal);
  } catch (e) {
    // Some tables may be emptied, others not: the record stays, with the error.
    await journal.current?.fail(errorMessage(e)).catch(() => {});
    throw e;
  } finally {
    lock.release();
  }
}

/** `remove` holding the target; its intent is recorded like an apply's. */
async function removeHolding(
  ctx: Context,
  state: TargetState,
  journal: { current: FileApplyJournal | undefined },
): Promise<number> {
  const { args } = ctx;
  const firewall = makeFirewall(ctx);
  const tables: readonly TableName[] = args.tables.length === 0 ? TABLE_NAMES : args.tables;
  const record = journalFor(ctx, state, scopeOf(args, firewall.ipVersions));
  const order = firewall.ipVersions.flatMap((v) => tables.map((t) => ({ table: t, ipVersion: v })));
  const snapshot = await firewall.snapshot();
  const wanted = new Set(order.map((o) => `${o.table}/${o.ipVersion}`));
  snapshot.tables = snapshot.tables.filter((t) => wanted.has(`${t.table}/${t.ipVersion}`));
  await record.begin({
    operation: "remove",
    startedAt: new Date().toISOString(),
    tables: order,
    snapshot,
  });
  journal.current = record;
  const done: { table: TableName; ipVersion: IpFamily }[] = [];
  for (const v of firewall.ipVersions) {
    for (const t of tables) {
      ctx.note(`Removing our rules from ${t} IPv${v}…\n`);
      await firewall.table(t, v).cleanUp();
      done.push({ table: t, ipVersion: v });
      await record.tableDone({ table: t, ipVersion: v });
    }
  }
  await record.end("applied");
  await settleState(ctx, state, scopeOf(args, firewall.ipVersions));
  if (args.json) ctx.json({ command: "remove", removed: true, tables: done });
  else ctx.say(`Removed Rampart's rules and chains from ${target(args)}\n`);
  return EXIT_CODES.OK;
}

async function cmdRecover(ctx: Context): Promise<number> {
  const { args } = ctx;
  requireAnswer(ctx, "recover");
  const { lock, state } = await holdTarget(ctx, "recover");
  try {
    if (state.unconfirmed === undefined && state.interrupted === undefined) {
      if (args.json) ctx.json({ command: "recover", recovered: false, done: [] });
      else {
        ctx.say(
          `Nothing to recover: no interrupted or unconfirmed apply is recorded for ${
            target(args)
          }\n`,
        );
      }
      return EXIT_CODES.OK;
    }
    const gone = args.netns !== undefined && ctx.env.namespaceExists?.(args.netns) === false;
    const question = gone
      ? `Network namespace "${args.netns}" no longer exists, and its rules with it: clear ` +
        "what is recorded for it? [y/N] "
      : `Roll ${target(args)} back to Rampart's rules from before it? [y/N] `;
    if (!args.yes && !await askYes(ctx, question)) {
      ctx.note(gone ? "Nothing cleared\n" : "Nothing rolled back\n");
      return EXIT_CODES.NOT_CONFIRMED;
    }
    if (gone) return await clearForGoneNamespace(ctx, state);
    const firewall = makeFirewall(ctx);
    const log = watchdogLogger(ctx.files.log);
    const done: string[] = [];
    if (state.unconfirmed !== undefined) {
      ctx.note(`Restoring the rules from before the unconfirmed apply…\n`);
      const outcome = await revertPending(state.unconfirmed.dir, {
        restore: restoreThrough(firewall),
        reason: "watchdog-stopped",
        by: "recover",
        ownsTarget: true,
        log: (line) => log(`recover (pid ${Deno.pid}): ${line}`),
      });
      if (outcome.outcome !== "reverted") {
        throw new CommandExit(EXIT_CODES.FAILURE, describeOutcome(outcome), { outcome });
      }
      done.push("the unconfirmed apply was rolled back");
    }
    // The unconfirmed apply's revert may have put back the record of an earlier one.
    const record = state.unconfirmed === undefined
      ? state.interrupted
      : await readIntentRecord(ctx.files.intent);
    if (record !== undefined) {
      const snapshot = record.intent?.snapshot;
      if (snapshot === undefined) {
        throw new CommandExit(
          EXIT_CODES.FAILURE,
          `Cannot roll back the interrupted ${record.intent?.operation ?? "apply"}: its record ` +
            `holds no snapshot (${record.problem ?? "a re-apply of 'rampart watch'"}). ` +
            "'rampart apply FILES' brings every table to your policy instead",
        );
      }
      ctx.note(
        `Restoring Rampart's rules as they were before ${
          record.intent?.operation === "remove" ? "the remove" : "the apply"
        } (${snapshot.tables.map((t) => `${t.table} IPv${t.ipVersion}`).join(", ")})…\n`,
      );
      await firewall.restoreSnapshot(snapshot);
      await removeDurable(record.path);
      done.push(`the interrupted ${record.intent?.operation ?? "apply"} was rolled back`);
    }
    if (args.json) ctx.json({ command: "recover", recovered: true, done });
    else ctx.say(`Recovered ${target(args)}: ${done.join("; ")}\n`);
    return EXIT_CODES.OK;
  } finally {
    lock.release();
  }
}

/**
 * `recover` for a namespace that no longer exists: the rules its records
 * would put back went with it, so the records are cleared (nothing else
 * could ever settle them).
 */
async function clearForGoneNamespace(ctx: Context, state: TargetState): Promise<number> {
  const done: string[] = [];
  if (state.unconfirmed !== undefined) {
    await Deno.remove(state.unconfirmed.dir, { recursive: true }).catch(() => {});
    done.push("the unconfirmed apply");
  }
  const record = state.interrupted;
  if (record !== undefined) {
    await removeDurable(record.path);
    done.push(`the record of the interrupted ${record.intent?.operation ?? "apply"}`);
  }
  if (ctx.args.json) {
    ctx.json({ command: "recover", recovered: true, namespaceGone: true, done });
  } else {
    ctx.say(
      `Network namespace "${ctx.args.netns}" no longer exists: the rules to put back went with ` +
        `it. Cleared: ${done.join(" and ")}\n`,
    );
  }
  return EXIT_CODES.OK;
}

async function cmdWatch(ctx: Context): Promise<number> {
  const policy = await loadPolicy(ctx);
  const { lock, state } = await holdTarget(ctx, "apply");
  try {
    return await watchHolding(ctx, policy, state);
  } finally {
    lock.release();
  }
}

async function watchHolding(ctx: Context, policy: Policy, state: TargetState): Promise<number> {
  const { args, env } = ctx;
  const journal = journalFor(ctx, state, scopeOf(args, families(args, policy)));
  let unsettled = state.unconfirmed !== undefined || state.interrupted !== undefined;
  let firewall = makeFirewall(ctx, policy, { journal });
  let fresh = true;
  /** The warnings last reported (each is reported when it appears). */
  let warned = new Set<string>();
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
  /** No apply was tried yet: a namespace that does not exist is a usage error, not a retry. */
  let first = true;
  try {
    while (!stop.signal.aborted) {
      let delay: number;
      if (reload) {
        reload = false;
        try {
          const policy = await loadPolicy(ctx);
          firewall = makeFirewall(ctx, policy, { journal });
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
        if (unsettled) {
          await settleState(ctx, state, scopeOf(args, firewall.ipVersions));
          unsettled = false;
        }
        const keys = new Set<string>();
        for (const w of result.warnings) {
          const key = warningKey(w);
          keys.add(key);
          if (warned.has(key)) continue;
          const policy = firewall.policy();
          log(warningLine(policy, w), { event: "warning", warning: warningJson(policy, w) });
        }
        warned = keys;
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
        if (first && e instanceof UnknownNamespaceError) throw e;
        log(`apply failed (retrying in 5s): ${errorMessage(e)}`, {
          event: "error",
          error: errorMessage(e),
        });
        delay = 5_000;
      }
      first = false;
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

/** Commands that read a target without writing: they report an interrupted apply and go on. */
const READ_ONLY: readonly CommandName[] = ["plan", "diff", "show", "confirm", "top"];

async function cmdTop(ctx: Context): Promise<number> {
  const terminal = ctx.env.terminal;
  if (ctx.args.json || terminal === undefined || !terminal.isTerminal) {
    throw new CommandExit(
      EXIT_CODES.USAGE,
      "rampart top draws on a terminal (standard input and output): " +
        "'rampart show --counters' prints the counters once" +
        (ctx.args.json ? ", as JSON with --json" : ""),
    );
  }
  const { read } = await counterReader(ctx);
  const stop = new AbortController();
  const onStop = () => stop.abort();
  ctx.env.signal?.addEventListener("abort", onStop);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) {
    try {
      Deno.addSignalListener(s, onStop);
    } catch { /* not supported here */ }
  }
  try {
    await runTop({
      terminal,
      read,
      target: target(ctx.args),
      hashPrefix: ctx.args.hashPrefix,
      signal: stop.signal,
    });
  } finally {
    for (const s of signals) {
      try {
        Deno.removeSignalListener(s, onStop);
      } catch { /* not supported here */ }
    }
    ctx.env.signal?.removeEventListener("abort", onStop);
  }
  return EXIT_CODES.OK;
}

function cmdCompletions(ctx: Context): Promise<number> {
  ctx.env.stdout(completionScript(ctx.args.shell ?? "bash"));
  return Promise.resolve(EXIT_CODES.OK);
}

const COMMANDS: Record<
  Exclude<CommandName, "help" | OwnParserCommandName>,
  (ctx: Context) => Promise<number>
> = {
  plan: cmdPlan,
  apply: cmdApply,
  show: cmdShow,
  diff: cmdDiff,
  export: cmdExport,
  watch: cmdWatch,
  remove: cmdRemove,
  confirm: cmdConfirm,
  recover: cmdRecover,
  top: cmdTop,
  completions: cmdCompletions,
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
 * import assert from "node:assert/strict";
 * import { runCli } from "@rampart/iptables/cli";
 * const code = await runCli(["plan", "--backend", "bogus", "rules.yaml"], {
 *   stdout: () => {}, stderr: () => {}, interactive: false, stdoutIsTerminal: false,
 *   ask: () => Promise.resolve(undefined), runnerFor: () => { throw new Error("unused"); },
 *   env: () => undefined, uid: 0,
 * });
 * assert.equal(code, 2);
 * ```
 */
export async function runCli(
  argv: readonly string[],
  env: CliEnvironment = denoCliEnvironment(),
): Promise<number> {
  // `import`, `adopt`, `trace` and `graph` have command lines of their own
  // (import_command.ts, adopt_command.ts, trace_command.ts); `help` shows their help texts.
  if (argv[0] === "import") {
    return await (await import("./import_command.ts")).runImport(argv.slice(1), env);
  }
  if (argv[0] === "trace" || argv[0] === "graph") {
    return await (await import("./trace_command.ts")).runPacketCommand(argv, env);
  }
  if (argv[0] === "adopt") {
    return await (await import("./adopt_command.ts")).runAdopt(argv.slice(1), env);
  }
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
  const stateDir = args.stateDir ?? defaultStateDir((n) => env.env(n), env.uid);
  const report: Record<string, unknown> = {};
  let warnings: Record<string, unknown>[] = [];
  /**
   * Adds the warnings not yet in a JSON document to `value` (each goes in
   * one), after the engine warnings a command put there itself.
   */
  const withWarnings = (value: Record<string, unknown>): Record<string, unknown> => {
    const taken = warnings;
    warnings = [];
    if (taken.length === 0) return value;
    const own = Array.isArray(value.warnings) ? value.warnings : [];
    return { ...value, warnings: [...own, ...taken] };
  };
  const ctx: Context = {
    args,
    env,
    color,
    commandLine: argv.join(" "),
    stateDir,
    files: targetFiles(stateDir, args.netns),
    report,
    say: (text) => args!.json ? env.stderr(text) : env.stdout(text),
    note: (text) => env.stderr(text),
    warn(message, fields = {}) {
      const where = typeof fields.table === "string" && typeof fields.ipVersion === "number"
        ? `${fields.table} IPv${fields.ipVersion}: `
        : "";
      env.stderr(`${paint(ctx, "33", "warning:")} ${where}${message}\n`);
      warnings.push({ message, ...fields });
    },
    json: (value) =>
      env.stdout(JSON.stringify({ ok: true, ...report, ...withWarnings(value) }) + "\n"),
  };
  try {
    if (READ_ONLY.includes(args.command)) {
      const state = await inspectTarget(stateDir, { netns: args.netns, holding: false });
      reportState(ctx, state, "none");
    }
    return await COMMANDS[args.command](ctx);
  } catch (e) {
    const code = exitCodeOf(e);
    if (args.json) {
      env.stdout(
        JSON.stringify({
          ok: false,
          command: args.command,
          exitCode: code,
          ...withWarnings({
            ...report,
            ...(e instanceof CommandExit ? e.data : {}),
            error: errorData(e),
          }),
        }) + "\n",
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
