/**
 * Asking for Deno `run` permission for exactly the binaries a firewall runs.
 *
 * @module
 */
import type { CommandResult, CommandRunner, RunOptions } from "../host/runner.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** The operator (or `--no-prompt`) refused to let Rampart run a binary. */
export class RunPermissionError extends Error {
  /** The binaries that may not run. */
  readonly commands: readonly string[];

  /**
   * Creates the error.
   *
   * @param commands The binaries refused.
   */
  constructor(commands: readonly string[]) {
    super(
      `Permission to run ${commands.map((c) => `"${c}"`).join(", ")} was not granted: ` +
        `expected --allow-run=${commands.join(",")} or a "yes" at Deno's prompt`,
    );
    this.name = "RunPermissionError";
    this.commands = Object.freeze([...commands]);
  }
}

/** Options of {@linkcode requiredBinaries}. */
export interface RequiredBinariesOptions {
  /** The families. */
  ipVersions: readonly (4 | 6)[];
  /** The backend in use. */
  backend: IptablesVariant;
  /** `save` to read, `restore` to write. */
  ops: readonly ("save" | "restore")[];
  /** With a namespace, only `ip` runs (`ip netns exec …`). */
  netns?: string | undefined;
}

/**
 * The binaries a firewall runs to read or write the given families with a
 * backend: `ip[6]tables-<backend>-<op>` (the engine falls back to the plain
 * `ip[6]tables-<op>` only when the variant is not installed). In a namespace
 * every command is started as `ip netns exec …`, so only `ip` is needed.
 *
 * @param options Families, backend, operations and namespace.
 * @returns The binary names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requiredBinaries } from "@rampart/iptables/repl";
 * assert.deepEqual(
 *   requiredBinaries({ ipVersions: [4, 6], backend: "nft", ops: ["restore"] }),
 *   ["iptables-nft-restore", "ip6tables-nft-restore"],
 * );
 * ```
 */
export function requiredBinaries(options: RequiredBinariesOptions): string[] {
  if (options.netns !== undefined) return ["ip"];
  const out: string[] = [];
  for (const op of options.ops) {
    for (const v of options.ipVersions) {
      out.push(`${v === 6 ? "ip6tables" : "iptables"}-${options.backend}-${op}`);
    }
  }
  return out;
}

/** Options of {@linkcode PermissionRunner}. */
export interface PermissionRunnerOptions {
  /** The namespace the inner runner works in (then only `ip` is spawned). */
  netns?: string | undefined;
  /** Called before Deno's prompt is shown, with the binaries about to be asked for. */
  onRequest?: (commands: readonly string[]) => void;
}

/**
 * A {@linkcode CommandRunner} that makes sure Deno may run each binary before
 * running it: already granted binaries run at once; for the others Deno's
 * permission prompt asks the operator (`Deno.permissions.request`), so the
 * REPL works under `deno run` without `--allow-run` and asks only for the
 * binaries it really starts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PermissionRunner } from "@rampart/iptables/repl";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const runner = new PermissionRunner(new FakeDataplane().runner); // or new DenoCommandRunner()
 * await runner.ensure(["iptables-nft-save"]); // Deno prompts unless --allow-run covers it
 * assert.equal((await runner.run("iptables-nft-save", ["-t", "filter"])).code, 0);
 * ```
 */
export class PermissionRunner implements CommandRunner {
  readonly #inner: CommandRunner;
  readonly #netns: string | undefined;
  readonly #onRequest: ((commands: readonly string[]) => void) | undefined;
  readonly #granted = new Set<string>();
  #queue: Promise<void> = Promise.resolve();

  /**
   * Wraps a runner.
   *
   * @param inner The runner that spawns the binaries.
   * @param options Namespace and prompt notice.
   */
  constructor(inner: CommandRunner, options: PermissionRunnerOptions = {}) {
    this.#inner = inner;
    this.#netns = options.netns;
    this.#onRequest = options.onRequest;
  }

  /**
   * Makes sure Deno may run each binary, asking for the missing ones together.
   *
   * @param commands Binary names.
   * @throws {RunPermissionError} When one is refused.
   */
  ensure(commands: readonly string[]): Promise<void> {
    // One question at a time: concurrent runs wait for the same answer.
    const next = this.#queue.then(() => this.#ensure(commands));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #ensure(commands: readonly string[]): Promise<void> {
    const missing: string[] = [];
    for (const command of new Set(commands)) {
      if (this.#granted.has(command)) continue;
      const status = await Deno.permissions.query({ name: "run", command });
      if (status.state === "granted") this.#granted.add(command);
      else missing.push(command);
    }
    if (missing.length === 0) return;
    this.#onRequest?.(missing);
    const refused: string[] = [];
    for (const command of missing) {
      const status = await Deno.permissions.request({ name: "run", command });
      if (status.state === "granted") this.#granted.add(command);
      else refused.push(command);
    }
    if (refused.length > 0) throw new RunPermissionError(refused);
  }

  async run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
    await this.ensure([this.#netns === undefined ? cmd : "ip"]);
    return await this.#inner.run(cmd, args, opts);
  }
}
