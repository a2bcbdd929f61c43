/**
 * Running commands: the seam between the engine and the host.
 *
 * @module
 */
import { checkNamespace, networkNamespaces } from "./network_namespaces.ts";

/** Options of {@linkcode CommandRunner.run}. */
export interface RunOptions {
  /**
   * Text written to the command's standard input (closed afterwards): one
   * string, or chunks written in order as they are produced (so the command
   * starts reading before the caller has produced everything). The engine
   * passes chunks only to runners whose {@linkcode CommandRunner.streamsStdin}
   * is true.
   */
  stdin?: StdinSource;
  /** Kill the command (SIGKILL) when it runs longer than this. */
  timeoutMs?: number;
  /**
   * Kill the command (SIGKILL) when this signal aborts; `run` then rejects
   * with the signal's reason (also when the command ended meanwhile: whether
   * it finished its work is not known). Aborted before: nothing is started.
   */
  signal?: AbortSignal;
}

/** What {@linkcode RunOptions.stdin} accepts: a string, or chunks of it in order. */
export type StdinSource = string | Iterable<string> | AsyncIterable<string>;

/**
 * Joins a {@linkcode StdinSource} into one string (for runners that need the
 * whole input at once).
 *
 * @param stdin The input, as a string or chunks.
 * @returns The whole input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readStdinSource } from "@rampart/iptables";
 * assert.equal(await readStdinSource(["*filter\n", "COMMIT\n"]), "*filter\nCOMMIT\n");
 * ```
 */
export async function readStdinSource(stdin: StdinSource): Promise<string> {
  if (typeof stdin === "string") return stdin;
  let text = "";
  if (Symbol.asyncIterator in stdin) {
    for await (const chunk of stdin) text += chunk;
  } else {
    for (const chunk of stdin) text += chunk;
  }
  return text;
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
 * import assert from "node:assert/strict";
 * import type { CommandRunner } from "@rampart/iptables";
 * const calls: string[] = [];
 * const runner: CommandRunner = {
 *   run(cmd, args) {
 *     calls.push([cmd, ...args].join(" "));
 *     return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 *   },
 * };
 * await runner.run("iptables", ["--version"]);
 * assert.deepEqual(calls, ["iptables --version"]);
 * ```
 */
export interface CommandRunner {
  /**
   * True when `run` accepts `stdin` as chunks (an iterable or async iterable
   * of strings) as well as a string. Callers pass chunks only to such runners,
   * so runners written for string input keep working.
   */
  readonly streamsStdin?: boolean;
  /** Runs `cmd` with `args` and resolves once it has exited. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult>;
}

/** Options of {@linkcode DenoCommandRunner}. */
export interface DenoCommandRunnerOptions {
  /** Run every command inside this network namespace (`ip netns exec <netns> …`). */
  netns?: string;
  /** Extra environment variables for every command. */
  env?: Record<string, string>;
  /**
   * Before the first command, check that `netns` exists (`/run/netns`), and
   * refuse every command with an `UnknownNamespaceError` if it does not. @default {false}
   */
  checkNetns?: boolean;
}

/**
 * The default {@linkcode CommandRunner}: spawns real binaries with
 * `Deno.Command` (needs `--allow-run` for them), pipes `stdin`, and kills a
 * command that outlives its timeout. With `netns` every command runs as
 * `ip netns exec <netns> <cmd> …`.
 *
 * @example Running a command (needs --allow-run for it)
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenoCommandRunner } from "@rampart/iptables";
 * // new DenoCommandRunner({ netns: "lab" }) runs it as `ip netns exec lab echo …`
 * const r = await new DenoCommandRunner().run("echo", ["iptables v1.8.9"], { timeoutMs: 5_000 });
 * assert.equal(r.code, 0);
 * assert.equal(r.stdout, "iptables v1.8.9\n");
 * ```
 */
export class DenoCommandRunner implements CommandRunner {
  /** Writes chunked `stdin` as it is produced (with the pipe's backpressure). */
  readonly streamsStdin = true;
  readonly #netns: string | undefined;
  readonly #env: Record<string, string> | undefined;
  /** The namespace still to be checked before the first command. */
  #unchecked: boolean;

  /**
   * Creates a runner.
   *
   * @param options Namespace and environment for every command.
   */
  constructor(options: DenoCommandRunnerOptions = {}) {
    this.#netns = options.netns;
    this.#env = options.env;
    this.#unchecked = options.checkNetns === true && options.netns !== undefined;
  }

  /** The namespace commands run in, if any. */
  get netns(): string | undefined {
    return this.#netns;
  }

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
    opts.signal?.throwIfAborted();
    if (this.#unchecked) {
      checkNamespace(this.#netns!, networkNamespaces());
      this.#unchecked = false;
    }
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
    let stop = () => {};
    // Resolves when the timeout kills the command: writing stops even if the
    // stdin producer is stuck (e.g. waiting on another command).
    const stopped = new Promise<void>((resolve) => stop = resolve);
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      stop();
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, opts.timeoutMs);
    const onAbort = () => {
      stop();
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    };
    opts.signal?.addEventListener("abort", onAbort);
    try {
      if (opts.stdin !== undefined) {
        const failed = await writeStdin(child.stdin, opts.stdin, stopped);
        if (failed !== undefined) {
          // The input could not be produced: kill the command before it sees
          // the end of a partial input, then report the producer's error.
          try {
            child.kill("SIGKILL");
          } catch { /* already exited */ }
          await child.output().catch(() => {});
          throw failed.error;
        }
      }
      const out = await child.output();
      opts.signal?.throwIfAborted();
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
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }
}

/**
 * Writes `stdin` to a child's standard input and closes it. Chunks are
 * encoded and written as they come, waiting while the pipe is full; a write
 * error (the process exited early; its exit code tells why) stops writing
 * without consuming the rest of the source. An error of the source itself is
 * returned (stdin is then left open, so nothing partial is ever closed).
 */
async function writeStdin(
  stream: WritableStream<Uint8Array>,
  stdin: StdinSource,
  stopped: Promise<void>,
): Promise<{ error: unknown } | undefined> {
  const writer = stream.getWriter();
  const encoder = new TextEncoder();
  try {
    if (typeof stdin === "string") {
      await writer.write(encoder.encode(stdin));
    } else {
      // Manual iteration: leaving early must not close the source (its
      // producer may still want to finish it, e.g. for error reporting).
      const iterator = Symbol.asyncIterator in stdin
        ? stdin[Symbol.asyncIterator]()
        : stdin[Symbol.iterator]();
      let pending: Promise<void> | undefined;
      for (;;) {
        let next: IteratorResult<string> | undefined;
        try {
          next = await Promise.race([iterator.next(), stopped.then(() => undefined)]);
        } catch (error) {
          return { error };
        }
        // Killed at its timeout: nothing more is written (and stdin stays
        // open, so the command never sees the end of a partial script).
        if (next === undefined) return undefined;
        if (next.done) break;
        if (next.value === "") continue;
        await writer.ready;
        // Not awaited: the next chunk is produced while this one is written.
        pending = writer.write(encoder.encode(next.value));
        pending.catch(() => {});
      }
      if (pending !== undefined) await pending;
    }
    await writer.close();
  } catch {
    /* the process exited early; its exit code tells why */
  }
  return undefined;
}
