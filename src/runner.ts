/**
 * Running commands: the seam between the engine and the host.
 *
 * @module
 */

/** Options of {@linkcode CommandRunner.run}. */
export interface RunOptions {
  /** Text written to the command's standard input (closed afterwards). */
  stdin?: string;
  /** Kill the command (SIGKILL) when it runs longer than this. */
  timeoutMs?: number;
}

/** What a finished command produced. */
export interface CommandResult {
  /** Exit code; 127 when the binary was not found, 137 when killed. */
  code: number;
  /** Everything printed on standard output. */
  stdout: string;
  /** Everything printed on standard error. */
  stderr: string;
  /** True when the command was killed for outliving its timeout. */
  timedOut?: boolean;
}

/**
 * Runs one command with an argument array (never a shell). The engine,
 * feature detection and tools run every binary through this interface, so
 * tests substitute a fake.
 *
 * @example A runner that records calls
 * ```ts
 * import type { CommandRunner } from "@rampart/iptables";
 * const calls: string[] = [];
 * const runner: CommandRunner = {
 *   run(cmd, args) {
 *     calls.push([cmd, ...args].join(" "));
 *     return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 *   },
 * };
 * await runner.run("iptables", ["--version"]);
 * console.log(calls); // [ "iptables --version" ]
 * ```
 */
export interface CommandRunner {
  /** Runs `cmd` with `args` and resolves once it has exited. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult>;
}

/** Options of {@linkcode DenoCommandRunner}. */
export interface DenoCommandRunnerOptions {
  /** Run every command inside this network namespace (`ip netns exec <netns> …`). */
  netns?: string;
  /** Extra environment variables for every command. */
  env?: Record<string, string>;
}

/**
 * The default {@linkcode CommandRunner}: spawns real binaries with
 * `Deno.Command` (needs `--allow-run` for them), pipes `stdin`, and kills a
 * command that outlives its timeout. With `netns` every command runs as
 * `ip netns exec <netns> <cmd> …`.
 *
 * @example Asking iptables for its version (needs --allow-run=iptables)
 * ```ts ignore
 * import { DenoCommandRunner } from "@rampart/iptables";
 * const { stdout } = await new DenoCommandRunner().run("iptables", ["--version"]);
 * console.log(stdout); // iptables v1.8.9 (nf_tables)
 * ```
 */
export class DenoCommandRunner implements CommandRunner {
  readonly #netns: string | undefined;
  readonly #env: Record<string, string> | undefined;

  /**
   * Creates a runner.
   *
   * @param options Namespace and environment for every command.
   */
  constructor(options: DenoCommandRunnerOptions = {}) {
    this.#netns = options.netns;
    this.#env = options.env;
  }

  /** The namespace commands run in, if any. */
  get netns(): string | undefined {
    return this.#netns;
  }

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
    const [bin, argv] = this.#netns === undefined
      ? [cmd, args]
      : ["ip", ["netns", "exec", this.#netns, cmd, ...args]];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(bin, {
        args: argv,
        stdin: opts.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        ...(this.#env === undefined ? {} : { env: this.#env }),
      }).spawn();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        return { code: 127, stdout: "", stderr: `${bin}: command not found` };
      }
      throw e;
    }
    let timedOut = false;
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, opts.timeoutMs);
    try {
      if (opts.stdin !== undefined) {
        const writer = child.stdin.getWriter();
        try {
          await writer.write(new TextEncoder().encode(opts.stdin));
          await writer.close();
        } catch { /* the process exited early; its exit code tells why */ }
      }
      const out = await child.output();
      const dec = new TextDecoder();
      const result: CommandResult = {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
      };
      if (timedOut) result.timedOut = true;
      // `ip netns exec` exits 1 when it cannot exec the command: report it as
      // "not found" (127) like a direct spawn does.
      if (
        this.#netns !== undefined && result.code === 1 &&
        result.stderr.startsWith(`exec of "${cmd}" failed: No such file or directory`)
      ) {
        result.code = 127;
      }
      return result;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}
