/**
 * Running the save and restore binaries of one backend and IP family.
 *
 * @module
 */
import type { CommandRunner, StdinSource } from "./runner.ts";
import type { IptablesVariant } from "./iptables_variant.ts";

/** What one save or restore run produced. */
export interface IptablesResult {
  /** The binary that ran (after the fallback). */
  cmd: string;
  /** Exit code (127: no binary of that name). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** True when the run was killed for outliving its timeout. */
  timedOut: boolean;
}

/**
 * The standard input of one attempt (0 for the first binary name tried, 1 for
 * the fallback): lets a caller stream to the first attempt and give a retry
 * the whole text.
 */
export type StdinForAttempt = (attempt: number) => StdinSource;

/** Options of {@linkcode IptablesCommands}. */
export interface IptablesCommandsOptions {
  /** The IP family (`ip6tables-…` for 6). */
  ipVersion: 4 | 6;
  /** The backend (`…-nft-…` or `…-legacy-…`). */
  backend: IptablesVariant;
  /** Kill a binary that runs longer than this. @default {60000} */
  timeoutMs?: number;
}

/**
 * Runs `ip[6]tables-<backend>-save|restore`, falling back to the plain
 * `ip[6]tables-save|restore` when the variant is not installed (the reference's
 * FindBestBinary), and remembers which name worked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IptablesCommands } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const commands = new IptablesCommands(new FakeDataplane().runner, { ipVersion: 6, backend: "nft" });
 * const r = await commands.run("save", ["-t", "raw"]);
 * assert.equal(r.cmd, "ip6tables-nft-save");
 * assert.equal(r.code, 0);
 * ```
 */
export class IptablesCommands {
  readonly #runner: CommandRunner;
  readonly #family: string;
  readonly #backend: IptablesVariant;
  readonly #timeoutMs: number;
  readonly #resolved = new Map<"save" | "restore", string>();

  /**
   * Creates the commands of one backend and family.
   *
   * @param runner Runs the binaries (in the right namespace).
   * @param options Family, backend and timeout.
   */
  constructor(runner: CommandRunner, options: IptablesCommandsOptions) {
    this.#runner = runner;
    this.#family = options.ipVersion === 6 ? "ip6tables" : "iptables";
    this.#backend = options.backend;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /**
   * Runs the save or restore binary.
   *
   * @param op Which binary.
   * @param args Its arguments.
   * @param stdin The script for restore, or a function giving it per attempt.
   */
  async run(
    op: "save" | "restore",
    args: string[],
    stdin?: StdinSource | StdinForAttempt,
  ): Promise<IptablesResult> {
    const known = this.#resolved.get(op);
    const candidates = known !== undefined
      ? [known]
      : [`${this.#family}-${this.#backend}-${op}`, `${this.#family}-${op}`];
    let last: IptablesResult | undefined;
    for (const [attempt, cmd] of candidates.entries()) {
      const input = typeof stdin === "function" ? stdin(attempt) : stdin;
      const opts = input === undefined
        ? { timeoutMs: this.#timeoutMs }
        : { stdin: input, timeoutMs: this.#timeoutMs };
      const r = await this.#runner.run(cmd, args, opts);
      last = {
        cmd,
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        timedOut: r.timedOut ?? false,
      };
      if (r.code !== 127) {
        this.#resolved.set(op, cmd);
        break;
      }
    }
    return last!;
  }
}
