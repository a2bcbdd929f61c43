/**
 * A REPL session: the DSL in scope, a firewall per target, and the commands
 * (`show()`, `plan()`, `apply()`, `undo()`, `load()`, `save()`,
 * `exportTs()`, `netns()`, `help()` and their `.dot` forms).
 *
 * @module
 */
import { importTables } from "./import_tables.ts";
import * as rampart from "../../mod.ts";
import * as rampartYaml from "../../yaml.ts";
import type { Action } from "../../dsl/action.ts";
import { MatchCriteria } from "../../dsl/match.ts";
import type { RuleIds } from "../../dsl/hash.ts";
import type { Chain, Rule } from "../../dsl/rule.ts";
import { Firewall, FirewallRollbackError } from "../policy/firewall.ts";
import { isTableName, TABLE_NAMES, type TableName } from "../../dsl/kernel_chains.ts";
import type { IpFamily } from "../policy/policy.ts";
import { diffTable, readKernelTable, renderDiff, type TableDiff } from "../policy/plan_diff.ts";
import {
  emptyPolicy,
  type FamilyTablePolicy,
  type Policy,
  policyForFamily,
} from "../policy/policy.ts";
import { type CommandRunner, DenoCommandRunner } from "../host/runner.ts";
import type { Snapshot } from "../policy/snapshot.ts";
import type { Table } from "../engine/table.ts";
import { policyToTypeScript } from "../policy/ts_export.ts";
import { loadPolicyFile } from "../yaml/load.ts";
import { checkJumpTargets } from "../yaml/jump_targets.ts";
import { savePolicyFile } from "../yaml/save.ts";
import { Evaluator, isIncomplete } from "./evaluator.ts";
import { describePolicy, describeValue, isAction, isRule } from "../policy/describe.ts";
import { PermissionRunner, requiredBinaries } from "./permissions.ts";
import { desiredPolicy } from "./desired_state.ts";
import { progressLine } from "../policy/progress.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";
import { procFileReader } from "../host/proc_files.ts";
import { FeatureDetector } from "../host/feature_detector.ts";
import { REPL_HELP } from "./help.ts";
import { InterruptibleRunner, isInterruption } from "./interrupt.ts";
import { namespaceProblem, networkNamespaces } from "./namespaces.ts";
import { parseTraceDotArgs, replGraph, replTrace, type ReplTraceOptions } from "./trace.ts";

/** How a session talks to the operator. */
export interface ReplIo {
  /** Prints text (results, plans, errors). */
  write(text: string): void;
  /** Asks a question and reads one line (`undefined` on end of input or Ctrl-C). */
  ask(question: string): Promise<string | undefined>;
}

/** Options of {@linkcode ReplSession}. */
export interface ReplSessionOptions {
  /** How to talk to the operator. */
  io: ReplIo;
  /** Start in this network namespace (`undefined`: the host). */
  netns?: string | undefined;
  /** The iptables backend. @default {"auto"} */
  backend?: IptablesVariant | "auto";
  /** Prefix of rule-ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Prefixes of owned chains. @default {["rp-"]} */
  chainPrefixes?: string[];
  /**
   * How rule IDs are computed (`load()` of a file with a `ruleIds` key
   * switches to the file's). @default {"stable"}
   */
  ruleIds?: RuleIds;
  /**
   * Runs the iptables binaries (e.g. `new FakeDataplane().runner` to try the
   * REPL without a kernel). When absent, real binaries run and Deno's `run`
   * permission is requested for each binary that is not already allowed.
   */
  runner?: CommandRunner;
  /** Makes the runner for a namespace (used by `netns()`); defaults as above. */
  runnerFor?: (netns: string | undefined) => CommandRunner;
  /**
   * The network namespaces that exist (`netns("name")` refuses others at
   * once). @default {the entries of /run/netns, unless `runner` or
   * `runnerFor` is given (then every name is taken)}
   */
  namespaces?: () => readonly string[] | undefined;
  /** ANSI colours. @default {false} */
  color?: boolean;
}

/** The `.dot` commands. */
export const DOT_COMMANDS: readonly string[] = Object.freeze([
  ".apply",
  ".clear",
  ".exit",
  ".export",
  ".graph",
  ".help",
  ".history",
  ".import",
  ".load",
  ".netns",
  ".plan",
  ".reset",
  ".save",
  ".show",
  ".trace",
  ".undo",
]);

function formatError(e: unknown): string {
  if (e instanceof Error) {
    const name = e.name === "Error" ? "Error" : e.name;
    return `${name}: ${e.message}`;
  }
  return `Error: ${String(e)}`;
}

function toRule(item: unknown, where: string): Rule {
  if (isRule(item)) return item;
  if (isAction(item)) return { action: item };
  if (item instanceof MatchCriteria) return { match: item };
  throw new TypeError(
    `Invalid ${where} ${Deno.inspect(item)}: expected a rule ({ match, action, comment }), ` +
      "an action or a match",
  );
}

/**
 * Builds a chain: `chain(name, ...rules)`, where each rule is a rule object,
 * an action (a rule that only acts) or a match, and arrays are flattened.
 *
 * @param name The chain's name.
 * @param rules The rules.
 * @returns The chain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Drop, Match } from "@rampart/iptables";
 * import { chain } from "@rampart/iptables/repl";
 * const c = chain("rp-in", { match: Match().protocol("tcp").destPorts(22), action: Accept() }, Drop());
 * assert.equal(c.rules.length, 2);
 * ```
 */
export function chain(name: string, ...rules: unknown[]): Chain {
  if (typeof name !== "string") {
    throw new TypeError(`Invalid chain name ${Deno.inspect(name)}: expected a string`);
  }
  return { name, rules: rules.flat().map((r, i) => toRule(r, `rule ${i + 1} of chain "${name}"`)) };
}

/**
 * Builds a rule: `rule(match?, action?, comment?)`.
 *
 * @param match What to match (`undefined` for every packet).
 * @param action What to do.
 * @param comment A comment.
 * @returns The rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match } from "@rampart/iptables";
 * import { rule } from "@rampart/iptables/repl";
 * assert.equal(rule(Match().protocol("tcp"), Accept(), "web").comment, "web");
 * ```
 */
export function rule(
  match?: MatchCriteria | Action,
  action?: Action,
  comment?: string | string[],
): Rule {
  const r: Rule = {};
  if (isAction(match) && action === undefined) r.action = match;
  else {
    if (match !== undefined) {
      if (!(match instanceof MatchCriteria)) {
        throw new TypeError(
          `Invalid match ${Deno.inspect(match)}: expected Match()… or undefined`,
        );
      }
      r.match = match;
    }
    if (action !== undefined) {
      if (!isAction(action)) {
        throw new TypeError(
          `Invalid action ${Deno.inspect(action)}: expected an action such as Accept()`,
        );
      }
      r.action = action;
    }
  }
  if (comment !== undefined) r.comment = comment;
  return r;
}

/**
 * One interactive session. Feed it inputs with {@linkcode ReplSession.run};
 * it prints results and errors through its {@linkcode ReplIo} and never
 * throws, so a mistake never ends the session.
 *
 * @example A session on the fake dataplane
 * ```ts
 * import assert from "node:assert/strict";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import { ReplSession } from "@rampart/iptables/repl";
 * let out = "";
 * const session = new ReplSession({
 *   io: { write: (t) => void (out += t), ask: () => Promise.resolve("yes") },
 *   runner: new FakeDataplane().runner,
 *   backend: "nft",
 * });
 * await session.run('Match().protocol("tcp").destPorts(22)');
 * assert.equal(out, "-p tcp -m multiport --destination-ports 22\n");
 * ```
 */
export class ReplSession {
  readonly #io: ReplIo;
  readonly #options: ReplSessionOptions;
  readonly #evaluator: Evaluator;
  #netns: string | undefined;
  /** The rule-ID scheme: the option's, or the last loaded file's (`undefined`: the default). */
  #ruleIds: RuleIds | undefined;
  #runner!: CommandRunner;
  #firewall!: Firewall;
  /** The signal of the input being run (Ctrl-C aborts it); see `InterruptibleRunner`. */
  #signal: AbortSignal | undefined;
  readonly #undo: { snapshot: Snapshot; takenAt: Date; netns: string | undefined }[] = [];
  #history: readonly string[] = [];
  readonly #used = new Map<string, { table: TableName; ipVersion: IpFamily }>();

  /**
   * Creates a session (nothing touches the kernel until a command does).
   *
   * @param options IO, target and firewall options.
   */
  constructor(options: ReplSessionOptions) {
    this.#io = options.io;
    this.#options = options;
    this.#netns = options.netns;
    this.#ruleIds = options.ruleIds;
    this.#setTarget(options.netns, emptyPolicy());
    const scope: Record<string, unknown> = {};
    for (const namespace of [rampart, rampartYaml]) {
      for (const [name, value] of Object.entries(namespace)) scope[name] = value;
    }
    scope.chain = chain;
    scope.rule = rule;
    scope.table = (name: string, ipVersion: 4 | 6 = 4) => this.#table(name, ipVersion);
    for (const name of TABLE_NAMES) {
      Object.defineProperty(scope, name, { get: () => this.#table(name, 4), enumerable: true });
      Object.defineProperty(scope, `${name}6`, {
        get: () => this.#table(name, 6),
        enumerable: true,
      });
    }
    Object.defineProperty(scope, "firewall", { get: () => this.#firewall, enumerable: true });
    // Commands print their result and return nothing (so nothing more is echoed).
    const commands: Record<string, (...args: never[]) => void | Promise<void>> = {
      help: () => this.help(),
      show: () => this.show(),
      plan: async () => void await this.plan(),
      apply: async () => void await this.apply(),
      undo: async () => void await this.undo(),
      load: (path: string) => this.load(path),
      importTables: (path?: string) => this.importTables(path),
      save: (path: string) => this.save(path),
      exportTs: (path?: string) => this.exportTs(path),
      netns: (...args: (string | null)[]) => this.netns(...args),
      reset: () => this.reset(),
      trace: async (fields: Record<string, unknown>, options?: ReplTraceOptions) =>
        void await this.trace(fields, options),
      graph: async (options?: ReplTraceOptions) => void await this.graph(options),
    };
    Object.assign(scope, commands);
    this.#evaluator = new Evaluator(scope);
  }

  /** The names in scope (for completion). */
  get scope(): Record<string, unknown> {
    return this.#evaluator.scope;
  }

  /** The firewall of the current target. */
  get firewall(): Firewall {
    return this.#firewall;
  }

  /** The current namespace (`undefined`: the host). */
  get currentNetns(): string | undefined {
    return this.#netns;
  }

  /**
   * Gives the session the history (for `.history`).
   *
   * @param history Entries, oldest first.
   */
  setHistory(history: readonly string[]): void {
    this.#history = history;
  }

  /**
   * Tells whether the input needs more lines (open brackets, strings, comments).
   *
   * @param input The input so far.
   * @returns True when more lines are needed.
   */
  isIncomplete(input: string): boolean {
    return !input.trimStart().startsWith(".") && isIncomplete(input);
  }

  /**
   * Runs one input: a `.command` or JavaScript. Prints the result or the
   * error; never throws.
   *
   * @param input The input.
   * @returns `"exit"` after `.exit`, else `"ok"` or `"error"`.
   */
  async run(
    input: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<"ok" | "error" | "exit"> {
    const text = input.trim();
    if (text === "") return "ok";
    const signal = options.signal;
    this.#signal = signal;
    try {
      if (text.startsWith(".") && /^\.[a-z]/.test(text)) return await this.#dot(text);
      const value = await this.#evaluator.evaluate(input);
      const shown = describeValue(value, {
        hashPrefix: this.#options.hashPrefix ?? "rampart:",
        ruleIds: this.#firewall.ruleIds,
        color: this.#options.color === true,
      });
      if (shown !== "") this.#io.write(shown + "\n");
      return "ok";
    } catch (e) {
      if (signal?.aborted === true && isInterruption(e)) {
        // What the kernel holds is read again before it is trusted.
        this.#forgetKernel("interrupted");
        this.#io.write(
          this.#paint("33", "Interrupted: the command's iptables processes were stopped") + "\n",
        );
      } else this.#io.write(this.#paint("31", formatError(e)) + "\n");
      return "error";
    } finally {
      this.#signal = undefined;
    }
  }

  /** Every table of the session reads the kernel again before its next plan or apply. */
  #forgetKernel(reason: string): void {
    for (const { table, ipVersion } of this.#used.values()) {
      this.#firewall.table(table, ipVersion).invalidateDataplaneCache(reason);
    }
  }

  /** Runs `fn` with no signal: Ctrl-C does not stop it (putting rules back). */
  async #uninterrupted<T>(fn: () => Promise<T>): Promise<T> {
    const signal = this.#signal;
    this.#signal = undefined;
    try {
      return await fn();
    } finally {
      this.#signal = signal;
    }
  }

  async #dot(text: string): Promise<"ok" | "exit"> {
    const [command = "", ...rest] = text.split(/\s+/);
    const arg = rest.join(" ").trim().replace(/^(["'])(.*)\1$/, "$2");
    const need = (what: string) => {
      if (arg === "") throw new TypeError(`Missing argument: ${command} <${what}>`);
      return arg;
    };
    switch (command) {
      case ".exit":
        return "exit";
      case ".help":
        this.help();
        break;
      case ".show":
        this.show();
        break;
      case ".plan":
        await this.plan();
        break;
      case ".apply":
        await this.apply();
        break;
      case ".undo":
        await this.undo();
        break;
      case ".load":
        await this.load(need("file.yaml"));
        break;
      case ".import":
        await this.importTables(arg === "" ? undefined : arg);
        break;
      case ".save":
        await this.save(need("file.yaml"));
        break;
      case ".export":
        await this.exportTs(arg === "" ? undefined : arg);
        break;
      case ".netns":
        this.netns(...(arg === "" ? [] : [arg === "host" || arg === "-" ? null : arg]));
        break;
      case ".reset":
        this.reset();
        break;
      case ".trace": {
        const { fields, options } = parseTraceDotArgs(rest.join(" "));
        await this.trace(fields, options);
        break;
      }
      case ".graph":
        await this.graph(parseTraceDotArgs(rest.join(" ")).options);
        break;
      case ".clear":
        this.#io.write("\x1b[H\x1b[2J");
        break;
      case ".history":
        this.#io.write(this.#history.slice(-20).map((h) => `  ${h}`).join("\n") + "\n");
        break;
      default:
        throw new TypeError(
          `Unknown command ${JSON.stringify(command)}: expected one of ${DOT_COMMANDS.join(", ")}`,
        );
    }
    return "ok";
  }

  #paint(code: string, text: string): string {
    return this.#options.color === true ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  #runnerFor(netns: string | undefined): CommandRunner {
    if (this.#options.runnerFor !== undefined) return this.#options.runnerFor(netns);
    if (this.#options.runner !== undefined) return this.#options.runner;
    return new PermissionRunner(new DenoCommandRunner(netns === undefined ? {} : { netns }), {
      netns,
      onRequest: (commands) =>
        this.#io.write(`Rampart needs permission to run: ${commands.join(", ")}\n`),
    });
  }

  #setTarget(netns: string | undefined, policy: Policy): void {
    this.#netns = netns;
    this.#runner = new InterruptibleRunner(this.#runnerFor(netns), { signal: () => this.#signal });
    const o = this.#options;
    this.#firewall = new Firewall({
      ...(netns === undefined ? {} : { netns }),
      backend: o.backend ?? "auto",
      hashPrefix: o.hashPrefix ?? "rampart:",
      ...(this.#ruleIds === undefined ? {} : { ruleIds: this.#ruleIds }),
      chainPrefixes: o.chainPrefixes ?? ["rp-"],
      runner: this.#runner,
      ipVersions: [4, 6],
      // /proc/version through cat when Deno refuses it (it does without -A).
      featureDetector: new FeatureDetector({
        runner: this.#runner,
        readFile: procFileReader(this.#runner),
      }),
    });
    this.#firewall.setPolicy(policy);
  }

  #table(name: string, ipVersion: number): Table {
    if (!isTableName(name)) {
      throw new TypeError(
        `Invalid table ${JSON.stringify(name)}: expected filter, nat, mangle or raw`,
      );
    }
    if (ipVersion !== 4 && ipVersion !== 6) {
      throw new TypeError(`Invalid IP version ${JSON.stringify(ipVersion)}: expected 4 or 6`);
    }
    this.#used.set(`${name}/${ipVersion}`, { table: name, ipVersion });
    return this.#firewall.table(name, ipVersion);
  }

  #usePolicyTables(policy: Policy): void {
    for (const t of policy.tables) {
      for (const v of policy.ipVersions) {
        if (t.ipVersion === undefined || t.ipVersion === v) {
          this.#used.set(`${t.table}/${v}`, { table: t.table, ipVersion: v });
        }
      }
    }
  }

  /**
   * The desired state: the tables as edited in this session, as one policy.
   *
   * @returns The policy.
   */
  desiredPolicy(): Policy {
    const { policy, warnings } = desiredPolicy(this.#firewall, [...this.#used.values()]);
    for (const w of warnings) this.#io.write(this.#paint("33", `Warning: ${w}`) + "\n");
    if (this.#ruleIds !== undefined) policy.ruleIds = this.#ruleIds;
    return policy;
  }

  #target(): string {
    return this.#netns === undefined ? "the HOST" : `network namespace "${this.#netns}"`;
  }

  /** Prints the help text. */
  help(): void {
    this.#io.write(REPL_HELP + "\n");
  }

  /** Prints the desired state, every rule with its ID. */
  show(): void {
    this.#io.write(
      describePolicy(this.desiredPolicy(), {
        hashPrefix: this.#options.hashPrefix ?? "rampart:",
        ruleIds: this.#firewall.ruleIds,
        color: this.#options.color === true,
      }) + "\n",
    );
  }

  /** Clears the desired state (the kernel is untouched until `apply()`). */
  reset(): void {
    this.#firewall.setPolicy(emptyPolicy());
    this.#io.write("Desired state cleared (apply() would remove our rules)\n");
  }

  /**
   * Prints the scripts `apply()` would write and the diff against the kernel.
   *
   * @returns Whether anything would change.
   */
  async plan(): Promise<boolean> {
    const { tables, warnings } = await this.#firewall.plan();
    // Before the plan (and before apply() asks): rules the kernel accepts but that cannot work.
    for (const w of warnings) this.#io.write(`${this.#paint("33", "warning:")} ${w.message}\n`);
    let out = "";
    for (const t of tables) {
      if (t.script === "") continue;
      out += this.#paint("1", `# ${t.table} (IPv${t.ipVersion})`) + "\n" + t.script;
      if (!t.script.endsWith("\n")) out += "\n";
    }
    const changed = out !== "";
    if (!changed) {
      this.#io.write(`Nothing to do: ${this.#target()} already matches the desired state\n`);
      return false;
    }
    const diffs = await this.#diff(tables.map((t) => ({ table: t.table, ipVersion: t.ipVersion })));
    this.#io.write(
      out + "\n" + renderDiff(diffs.filter((d) => d.changed), {
        color: this.#options.color === true,
      }),
    );
    return true;
  }

  async #diff(pairs: { table: TableName; ipVersion: 4 | 6 }[]): Promise<TableDiff[]> {
    const policy = this.desiredPolicy();
    const desired = new Map<string, FamilyTablePolicy>();
    for (const v of [4, 6] as const) {
      for (const t of policyForFamily(policy, v)) desired.set(`${t.table}/${v}`, t);
    }
    const seen = new Set<string>();
    const out: TableDiff[] = [];
    const all = [
      ...pairs,
      ...[...desired.values()].map((t) => ({ table: t.table, ipVersion: t.ipVersion })),
    ];
    for (const { table, ipVersion } of all) {
      const key = `${table}/${ipVersion}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const engine = this.#firewall.table(table, ipVersion);
      const backend = engine.backend ?? (this.#options.backend === "legacy" ? "legacy" : "nft");
      const save = await readKernelTable(this.#runner, { table, ipVersion, backend });
      out.push(diffTable(
        desired.get(key) ??
          { table, ipVersion, chains: [], insertions: {}, appends: {}, policies: {} },
        save,
        {
          hashPrefix: this.#options.hashPrefix ?? "rampart:",
          chainPrefixes: this.#options.chainPrefixes ?? ["rp-"],
          // The features plan() detected: IDs of rules such as MASQUERADE depend on them.
          features: engine.features ?? {},
          ruleIds: engine.ruleIds,
        },
      ));
    }
    return out;
  }

  async #confirm(question: string): Promise<boolean> {
    const answer = (await this.#io.ask(question))?.trim().toLowerCase();
    return answer === "y" || answer === "yes";
  }

  /**
   * Shows the plan, asks for confirmation, requests run permission for the
   * binaries that write, snapshots our rules and applies.
   *
   * @returns Whether it applied.
   */
  async apply(): Promise<boolean> {
    if (!await this.plan()) return false;
    if (this.#netns === undefined) {
      this.#io.write(this.#paint("33", "Warning: this changes the firewall of THIS HOST") + "\n");
    }
    if (!await this.#confirm(`Apply these changes to ${this.#target()}? [y/N] `)) {
      this.#io.write("Not applied\n");
      return false;
    }
    const permissions = this.#runner instanceof InterruptibleRunner
      ? this.#runner.inner
      : this.#runner;
    if (permissions instanceof PermissionRunner) {
      const policy = this.desiredPolicy();
      const backend = this.#firewall.table("filter", policy.ipVersions[0] ?? 4).backend ??
        (this.#options.backend === "legacy" ? "legacy" : "nft");
      await permissions.ensure(
        requiredBinaries({
          ipVersions: policy.ipVersions,
          backend,
          ops: ["save", "restore"],
          netns: this.#netns,
        }),
      );
    }
    const started = Date.now();
    // Our rules as they are: what undo() and a failed or interrupted apply put back.
    const previous = await this.#firewall.snapshot();
    try {
      await this.#firewall.apply({
        snapshot: false,
        onProgress: (event) => this.#io.write(this.#paint("2", `  ${progressLine(event)}`) + "\n"),
      });
    } catch (e) {
      this.#io.write(
        this.#paint(
          "33",
          isInterruption(e)
            ? "Interrupted: putting back our rules from before the apply…"
            : "The apply failed: putting back our rules from before it…",
        ) + "\n",
      );
      this.#forgetKernel("apply failed");
      try {
        await this.#uninterrupted(() => this.#firewall.restoreSnapshot(previous));
      } catch (rollbackError) {
        throw new FirewallRollbackError(e, rollbackError);
      }
      this.#io.write("Our rules are as they were before the apply\n");
      throw e;
    }
    this.#undo.push({ snapshot: previous, takenAt: new Date(started), netns: this.#netns });
    this.#io.write(
      `Applied to ${this.#target()} in ${
        Date.now() - started
      } ms; undo() puts the previous rules back\n`,
    );
    return true;
  }

  /**
   * Puts back our rules as they were before the last `apply()` (other
   * programs' rules are not touched). The desired state is kept.
   *
   * @returns Whether it restored.
   */
  async undo(): Promise<boolean> {
    const last = this.#undo.at(-1);
    if (last === undefined) {
      this.#io.write("Nothing to undo: no apply() in this session\n");
      return false;
    }
    if (last.netns !== this.#netns) {
      throw new Error(
        `The last apply was in ${
          last.netns === undefined ? "the host" : `namespace "${last.netns}"`
        }: ` +
          `switch back with netns(${
            last.netns === undefined ? "null" : JSON.stringify(last.netns)
          }) first`,
      );
    }
    if (
      !await this.#confirm(
        `Restore the rules of ${this.#target()} from before the apply at ${last.takenAt.toLocaleTimeString()}? [y/N] `,
      )
    ) {
      this.#io.write("Not restored\n");
      return false;
    }
    await this.#firewall.restoreSnapshot(last.snapshot);
    this.#undo.pop();
    this.#io.write(
      "Restored; the desired state is unchanged (plan() shows what apply() would write)\n",
    );
    return true;
  }

  /**
   * Replaces the desired state with a YAML rule file.
   *
   * @param path The file.
   */
  async load(path: string): Promise<void> {
    const chainPrefixes = this.#options.chainPrefixes ?? ["rp-"];
    const policy = await loadPolicyFile(path, { chainPrefixes });
    // A jump to a chain the file does not define, at its file:line (as the CLI reports it).
    checkJumpTargets(policy, chainPrefixes);
    const ruleIds = policy.ruleIds ?? this.#options.ruleIds;
    if (ruleIds !== this.#ruleIds) {
      // The file's rule-ID scheme: a firewall computes IDs one way.
      this.#ruleIds = ruleIds;
      this.#setTarget(this.#netns, policy);
    } else this.#firewall.setPolicy(policy);
    this.#usePolicyTables(policy);
    const chains = policy.tables.reduce((n, t) => n + t.chains.length, 0);
    this.#io.write(
      `Loaded ${path}: ${policy.tables.length} table(s), ${chains} chain(s)` +
        (policy.ruleIds === undefined ? "" : `, ${policy.ruleIds} rule IDs`) + "\n",
    );
  }

  /**
   * Replaces the desired state with the target's live tables (or a saved
   * file), imported as `rampart import` does; rules that cannot be written
   * exactly are listed and left out.
   *
   * @param path An iptables-save file (absent: the target's tables).
   */
  async importTables(path?: string): Promise<void> {
    const { result, report } = await importTables({
      runner: this.#runner,
      where: this.#target(),
      ...(path === undefined ? {} : { path }),
      chainPrefix: (this.#options.chainPrefixes ?? ["rp-"])[0]!,
      hashPrefix: this.#options.hashPrefix ?? "rampart:",
      backend: this.#options.backend ?? "auto",
    });
    this.#firewall.setPolicy(result.policy);
    this.#usePolicyTables(result.policy);
    this.#io.write(report);
  }

  /**
   * Writes the desired state as a YAML rule file.
   *
   * @param path The file.
   */
  async save(path: string): Promise<void> {
    if (typeof path !== "string" || path === "") {
      throw new TypeError(`Invalid path ${Deno.inspect(path)}: expected a file name`);
    }
    await savePolicyFile(path, this.desiredPolicy());
    this.#io.write(`Saved ${path}\n`);
  }

  /**
   * Prints the desired state as TypeScript, or writes it to a file.
   *
   * @param path The file (absent: print).
   */
  async exportTs(path?: string): Promise<void> {
    const source = policyToTypeScript(this.desiredPolicy());
    if (path === undefined) this.#io.write(source);
    else {
      await Deno.writeTextFile(path, source);
      this.#io.write(`Wrote ${path}\n`);
    }
  }

  #traceContext() {
    const o = this.#options;
    return {
      policy: () => this.desiredPolicy(),
      runner: this.#runner,
      netns: this.#netns,
      backend: o.backend ?? "auto",
      hashPrefix: o.hashPrefix ?? "rampart:",
      ruleIds: this.#firewall.ruleIds,
      color: o.color === true,
    };
  }

  /**
   * Walks a packet through the desired state (as `apply()` would write it)
   * or, with `live`, through the target's live tables, and prints the
   * verdict and the path.
   *
   * @param fields The packet, with `rampart trace`'s flag names (`in`, `src`, `dst`, `dport`, …).
   * @param options `live`, `localAddresses`, `ipSets`, `assume`, `json`.
   */
  async trace(fields: Record<string, unknown>, options: ReplTraceOptions = {}): Promise<void> {
    this.#io.write((await replTrace(this.#traceContext(), fields, options)).text);
  }

  /**
   * Prints the chains and jumps as Mermaid or DOT, a packet's path highlighted.
   *
   * @param options `format`, `packet`, `live`, `assume`.
   */
  async graph(options: ReplTraceOptions = {}): Promise<void> {
    this.#io.write(await replGraph(this.#traceContext(), options));
  }

  /**
   * Shows or changes the target: `netns()` shows it, `netns("name")` works
   * in that namespace, `netns(null)` on the host. The desired state moves along.
   *
   * @param args Nothing, a name, or `null`.
   */
  netns(...args: (string | null)[]): void {
    if (args.length === 0) {
      this.#io.write(`Target: ${this.#target()}\n`);
      return;
    }
    const name = args[0];
    if (name !== null && (typeof name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(name))) {
      throw new TypeError(
        `Invalid namespace ${Deno.inspect(name)}: expected a name of 1 to 64 letters, digits, ` +
          "'_', '.' or '-', or null for the host",
      );
    }
    if (name !== null) {
      const problem = namespaceProblem(name, this.#namespaces());
      if (problem !== undefined) throw new TypeError(problem);
    }
    const policy = this.desiredPolicy();
    this.#setTarget(name ?? undefined, policy);
    this.#usePolicyTables(policy);
    this.#io.write(`Target: ${this.#target()}\n`);
  }

  /** The namespaces that exist (`undefined`: any name is taken). */
  #namespaces(): readonly string[] | undefined {
    const o = this.#options;
    if (o.namespaces !== undefined) return o.namespaces();
    if (o.runner !== undefined || o.runnerFor !== undefined) return undefined;
    return networkNamespaces();
  }
}
