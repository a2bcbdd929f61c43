/**
 * Command-line parsing for `rampart` (with `node:util` `parseArgs`).
 *
 * @module
 */
import { backendProblem, netnsProblem, tableProblem } from "./flag_checks.ts";
import { parseArgs } from "parse-args";
import type { RuleIds } from "../../dsl/hash.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import { chainPrefixProblem, hashPrefixProblem } from "../host/ownership.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** The CLI's commands. */
export type CommandName =
  | "plan"
  | "apply"
  | "show"
  | "diff"
  | "export"
  | "watch"
  | "remove"
  | "confirm"
  | "recover"
  | "top"
  | "completions"
  | "import"
  | "adopt"
  | "trace"
  | "graph"
  | "help";

/** Every command name, in the order `rampart --help` lists them. */
export const COMMAND_NAMES: readonly CommandName[] = Object.freeze([
  "plan",
  "apply",
  "show",
  "diff",
  "export",
  "watch",
  "remove",
  "confirm",
  "recover",
  "top",
  "completions",
  "import",
  "adopt",
  "trace",
  "graph",
  "help",
]);

/**
 * The commands whose own module parses their command line (`import`,
 * `adopt`, `trace`, `graph`): `runCli` hands them their arguments as they are, and
 * {@linkcode parseCliArgs} refuses them.
 */
export type OwnParserCommandName = "import" | "adopt" | "trace" | "graph";

/**
 * The commands whose own module parses their command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMAND_NAMES, OWN_PARSER_COMMANDS } from "@rampart/iptables/cli";
 * assert.ok(OWN_PARSER_COMMANDS.every((c) => COMMAND_NAMES.includes(c)));
 * ```
 */
export const OWN_PARSER_COMMANDS: readonly OwnParserCommandName[] = Object.freeze([
  "import",
  "adopt",
  "trace",
  "graph",
]);

/** Whether a command's own module parses its command line. */
function hasOwnParser(command: string | undefined): command is OwnParserCommandName {
  return (OWN_PARSER_COMMANDS as readonly (string | undefined)[]).includes(command);
}

/** Exit codes of the CLI. */
export const EXIT_CODES: Readonly<{
  OK: 0;
  FAILURE: 1;
  USAGE: 2;
  NOT_CONFIRMED: 3;
  INVALID_POLICY: 4;
  CHANGES_PENDING: 5;
  INTERRUPTED: 130;
}> = Object.freeze(
  {
    /** Success (for `apply`: applied and, with a confirm timeout, confirmed). */
    OK: 0,
    /** Failure: iptables failed, a file could not be read, the kernel refused the rules. */
    FAILURE: 1,
    /** Usage error: unknown command or flag, bad value, or a question with no terminal to ask on. */
    USAGE: 2,
    /** Not confirmed: the operator declined, or the confirm timeout passed and the rules were rolled back. */
    NOT_CONFIRMED: 3,
    /** The policy files are invalid (`file:line:col` errors). */
    INVALID_POLICY: 4,
    /** `plan`/`diff --exit-code`: the kernel differs from the policy (0 means in sync). */
    CHANGES_PENDING: 5,
    /** Interrupted by SIGINT/SIGTERM before finishing (`watch` exits 0 on a signal instead). */
    INTERRUPTED: 130,
  } as const,
);

/** The parsed command line. */
export interface CliArgs {
  /** The command (never one whose own module parses its command line). */
  command: Exclude<CommandName, OwnParserCommandName>;
  /** Policy files (YAML). */
  files: string[];
  /** `--help` was given. */
  help: boolean;
  /** `--netns`: the network namespace to work in. */
  netns?: string;
  /** Families from `--ipv4`/`--ipv6`; empty means the policy's (or both). */
  ipVersions: (4 | 6)[];
  /** Tables from `--table` (repeatable); empty means all. */
  tables: TableName[];
  /** `--backend`. */
  backend: IptablesVariant | "auto";
  /** `--yes`: do not ask. */
  yes: boolean;
  /** `--confirm-timeout` in milliseconds. */
  confirmTimeoutMs?: number;
  /** `--json`: machine-readable output on stdout. */
  json: boolean;
  /** `--color`. */
  color: "auto" | "always" | "never";
  /** `--hash-prefix`. */
  hashPrefix: string;
  /** `--chain-prefix` (repeatable). */
  chainPrefixes: string[];
  /** `--state-dir`: where locks, intent records and pending confirmations live. */
  stateDir?: string;
  /** `--insert-mode`. */
  insertMode: "insert" | "append";
  /** `--max-file-size` in bytes: larger policy files are refused. */
  maxFileBytes?: number;
  /** `--rule-ids`; absent: the policy files' `ruleIds`, else `"stable"`. */
  ruleIds?: RuleIds;
  /** `--exit-code` (`plan`, `diff`): exit 5 when changes are pending, 0 when in sync. */
  exitCode: boolean;
  /** `show --counters`: packets and bytes of our rules and of the chain policies. */
  counters: boolean;
  /** `completions SHELL`: the shell to print the completion script of. */
  shell?: "bash" | "zsh" | "fish";
}

/**
 * A command line that cannot be run: exit code 2 with the message and a
 * pointer to `--help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCliArgs, UsageError } from "@rampart/iptables/cli";
 * assert.throws(
 *   () => parseCliArgs(["plan", "--backend", "iptables"]),
 *   (e) =>
 *     e instanceof UsageError &&
 *     e.message === 'Invalid --backend "iptables": expected nft, legacy or auto',
 * );
 * ```
 */
export class UsageError extends TypeError {
  /** The command the error is about, if known. */
  readonly command: CommandName | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong and what is expected.
   * @param options The command.
   */
  constructor(message: string, options: { command?: CommandName | undefined } = {}) {
    super(message);
    this.name = "UsageError";
    this.command = options.command;
  }
}

/**
 * A flag parser's error (`node:util` `parseArgs`) as a {@linkcode UsageError}:
 * its first line, without the final period, as every command words it.
 *
 * @param e What the parser threw.
 * @param command The command whose flags were parsed, if known.
 * @returns The usage error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flagParseError } from "@rampart/iptables/cli";
 * const e = flagParseError(new TypeError("Unknown option '--nope'.\nTo specify …"), "plan");
 * assert.equal(e.message, "Unknown option '--nope'");
 * assert.equal(e.command, "plan");
 * ```
 */
export function flagParseError(e: unknown, command?: CommandName): UsageError {
  const message = e instanceof Error ? e.message.split("\n")[0]! : String(e);
  return new UsageError(message.replace(/\.$/, ""), { command });
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `30s`, `2m`, `1m30s`, `500ms` or a bare number of
 * seconds.
 *
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {UsageError} When the text is not a positive duration of at most 24 hours.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "@rampart/iptables/cli";
 * assert.deepEqual([parseDuration("30s"), parseDuration("1m30s"), parseDuration("45")], [30000, 90000, 45000]);
 * ```
 */
export function parseDuration(text: string): number {
  const bad = () =>
    new UsageError(
      `Invalid duration ${JSON.stringify(text)}: expected a positive duration such as 30s, 2m, ` +
        "1m30s or 500ms (at most 24h)",
    );
  let ms: number;
  if (/^\d+(?:\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)) throw bad();
    ms = 0;
    for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
      ms += Number(n) * UNITS[unit!]!;
    }
  }
  ms = Math.round(ms);
  if (!(ms > 0) || ms > 86_400_000) throw bad();
  return ms;
}

/**
 * Parses the value of `--max-file-size`: a size such as `64M`, `1G`, `512K`
 * or a bare number of bytes (binary units, an optional `B` or `iB`).
 *
 * @param text The flag's value.
 * @param command The command the flag was given to (named by the error).
 * @returns The size in bytes.
 * @throws {UsageError} When the text is not a positive size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMaxFileSize, UsageError } from "@rampart/iptables/cli";
 * assert.equal(parseMaxFileSize("64M"), 64 * 2 ** 20);
 * assert.equal(parseMaxFileSize("500000"), 500000);
 * assert.throws(() => parseMaxFileSize("0"), UsageError);
 * ```
 */
export function parseMaxFileSize(text: string, command?: CommandName): number {
  const m = /^(\d{1,15})(?:([KMG])(?:i?B)?)?$/i.exec(text);
  const unit = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[(m?.[2] ?? "").toUpperCase()] ?? 1;
  const bytes = m === null ? NaN : Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(
      `Invalid --max-file-size ${JSON.stringify(text)}: expected a size such as 64M, 1G or ` +
        "500000 (bytes)",
      { command },
    );
  }
  return bytes;
}

/**
 * Parses `rampart <command> [files…] [flags]`.
 *
 * @param argv The arguments after the program name.
 * @returns The parsed command line.
 * @throws {UsageError} On an unknown command or flag, a bad value, or a command
 *   whose own module parses its command line (`import`, `trace`, `graph`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCliArgs } from "@rampart/iptables/cli";
 * const args = parseCliArgs(["apply", "rules.yaml", "--netns", "lab", "--confirm-timeout", "30s"]);
 * assert.equal(args.command, "apply");
 * assert.deepEqual(args.files, ["rules.yaml"]);
 * assert.equal(args.netns, "lab");
 * assert.equal(args.confirmTimeoutMs, 30000);
 * ```
 */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const first = argv[0];
  if (first === undefined || first === "--help" || first === "-h") {
    return defaults("help", [], true);
  }
  if (!(COMMAND_NAMES as readonly string[]).includes(first)) {
    throw new UsageError(
      `Unknown command ${JSON.stringify(first)}: expected one of ${COMMAND_NAMES.join(", ")}`,
    );
  }
  if (hasOwnParser(first)) {
    throw new UsageError(
      `rampart ${first} has a command line of its own: run it with runCli, not parseCliArgs`,
      { command: first },
    );
  }
  const command = first as Exclude<CommandName, OwnParserCommandName>;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1) as string[],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h", default: false },
        netns: { type: "string", short: "n" },
        ipv4: { type: "boolean", short: "4", default: false },
        ipv6: { type: "boolean", short: "6", default: false },
        table: { type: "string", short: "t", multiple: true },
        backend: { type: "string", default: "auto" },
        yes: { type: "boolean", short: "y", default: false },
        "confirm-timeout": { type: "string" },
        json: { type: "boolean", default: false },
        color: { type: "string", default: "auto" },
        "hash-prefix": { type: "string", default: "rampart:" },
        "chain-prefix": { type: "string", multiple: true },
        "state-dir": { type: "string" },
        "insert-mode": { type: "string", default: "insert" },
        "max-file-size": { type: "string" },
        "rule-ids": { type: "string" },
        "exit-code": { type: "boolean", default: false },
        counters: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    throw flagParseError(e, command);
  }
  const v = parsed.values;
  const args = defaults(command, parsed.positionals, v.help === true);
  if (command === "help") {
    const topic = parsed.positionals[0];
    if (topic !== undefined && !(COMMAND_NAMES as readonly string[]).includes(topic)) {
      throw new UsageError(
        `Unknown command ${JSON.stringify(topic)}: expected one of ${COMMAND_NAMES.join(", ")}`,
        { command },
      );
    }
    return args;
  }
  if (v.netns !== undefined) {
    const problem = netnsProblem(v.netns);
    if (problem !== undefined) throw new UsageError(problem, { command });
    args.netns = v.netns;
  }
  if (v.ipv4) args.ipVersions.push(4);
  if (v.ipv6) args.ipVersions.push(6);
  for (const t of v.table ?? []) {
    const problem = tableProblem(t);
    if (problem !== undefined) throw new UsageError(problem, { command });
    if (!args.tables.includes(t as TableName)) args.tables.push(t);
  }
  const backend = v.backend ?? "auto";
  const backendError = backendProblem(backend);
  if (backendError !== undefined) throw new UsageError(backendError, { command });
  args.backend = backend;
  const color = v.color ?? "auto";
  if (color !== "auto" && color !== "always" && color !== "never") {
    throw new UsageError(
      `Invalid --color ${JSON.stringify(color)}: expected auto, always or never`,
      { command },
    );
  }
  args.color = color;
  const insertMode = v["insert-mode"] ?? "insert";
  if (insertMode !== "insert" && insertMode !== "append") {
    throw new UsageError(
      `Invalid --insert-mode ${JSON.stringify(insertMode)}: expected insert or append`,
      { command },
    );
  }
  args.insertMode = insertMode;
  const ruleIds = v["rule-ids"];
  if (ruleIds !== undefined) {
    if (ruleIds !== "stable" && ruleIds !== "chained") {
      throw new UsageError(
        `Invalid --rule-ids ${JSON.stringify(ruleIds)}: expected stable or chained`,
        { command },
      );
    }
    args.ruleIds = ruleIds;
  }
  args.yes = v.yes === true;
  args.json = v.json === true;
  args.hashPrefix = v["hash-prefix"] ?? "rampart:";
  const hashProblem = hashPrefixProblem(args.hashPrefix);
  if (hashProblem !== undefined) {
    throw new UsageError(
      `Invalid --hash-prefix ${JSON.stringify(args.hashPrefix)}: ${hashProblem}`,
      { command },
    );
  }
  if (v["chain-prefix"] !== undefined) args.chainPrefixes = [...v["chain-prefix"]];
  for (const prefix of args.chainPrefixes) {
    const problem = chainPrefixProblem(prefix);
    if (problem !== undefined) {
      throw new UsageError(`Invalid --chain-prefix ${JSON.stringify(prefix)}: ${problem}`, {
        command,
      });
    }
  }
  if (v["state-dir"] !== undefined) args.stateDir = v["state-dir"];
  if (v["max-file-size"] !== undefined) {
    args.maxFileBytes = parseMaxFileSize(v["max-file-size"], command);
  }
  if (v["exit-code"] === true) {
    if (command !== "plan" && command !== "diff") {
      throw new UsageError(`--exit-code is only valid for plan and diff`, { command });
    }
    args.exitCode = true;
  }
  if (v.counters === true) {
    if (command !== "show") {
      throw new UsageError(`--counters is only valid for show`, { command });
    }
    args.counters = true;
  }
  if (v["confirm-timeout"] !== undefined) {
    if (command !== "apply") {
      throw new UsageError(`--confirm-timeout is only valid for apply`, { command });
    }
    try {
      args.confirmTimeoutMs = parseDuration(v["confirm-timeout"]);
    } catch (e) {
      throw new UsageError(`Invalid --confirm-timeout: ${(e as Error).message}`, { command });
    }
  }
  if (command === "completions" && !args.help) {
    const [shell, extra] = args.files;
    if (shell !== "bash" && shell !== "zsh" && shell !== "fish") {
      throw new UsageError(
        shell === undefined
          ? "Missing shell: rampart completions bash|zsh|fish"
          : `Unknown shell ${JSON.stringify(shell)}: expected bash, zsh or fish`,
        { command },
      );
    }
    if (extra !== undefined) {
      throw new UsageError(`Unexpected argument ${JSON.stringify(extra)}`, { command });
    }
    args.shell = shell;
    args.files = [];
  }
  const takesFiles = ["plan", "apply", "show", "diff", "export", "watch", "top"];
  if (!args.help) {
    if (!takesFiles.includes(command) && args.files.length > 0) {
      throw new UsageError(
        `Unexpected argument ${JSON.stringify(args.files[0])}: ${command} takes no files`,
        { command },
      );
    }
    const needsFiles = ["plan", "apply", "diff", "export", "watch"];
    if (needsFiles.includes(command) && args.files.length === 0) {
      throw new UsageError(`Missing policy file: rampart ${command} <rules.yaml>…`, { command });
    }
  }
  return args;
}

function defaults(command: CliArgs["command"], files: string[], help: boolean): CliArgs {
  return {
    command,
    files: [...files],
    help,
    ipVersions: [],
    tables: [],
    backend: "auto",
    yes: false,
    json: false,
    color: "auto",
    hashPrefix: "rampart:",
    chainPrefixes: ["rp-"],
    insertMode: "insert",
    exitCode: false,
    counters: false,
  };
}
