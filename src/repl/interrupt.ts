/**
 * Ctrl-C in the REPL: the running input's `AbortSignal` reaches the
 * processes it runs.
 *
 * @module
 */
import type { CommandResult, CommandRunner, RunOptions } from "../host/runner.ts";

/**
 * A {@linkcode CommandRunner} whose commands stop when the signal of the
 * input being run aborts: running ones are killed (the signal goes to the
 * inner runner, and a runner that ignores it is not waited for), and later
 * ones fail at once without starting. With no current signal it runs as the
 * inner runner does. A command killed half-way is reported as interrupted,
 * never as done: iptables-restore writes a table whole at `COMMIT` or not at
 * all, and the caller reads the kernel again before trusting what it knows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InterruptibleRunner } from "@rampart/iptables/repl";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const stop = new AbortController();
 * const runner = new InterruptibleRunner(new FakeDataplane().runner, { signal: () => stop.signal });
 * assert.equal((await runner.run("iptables-nft-save", ["-t", "filter"])).code, 0);
 * stop.abort();
 * await assert.rejects(runner.run("iptables-nft-save", ["-t", "filter"]), { name: "AbortError" });
 * ```
 */
export class InterruptibleRunner implements CommandRunner {
  readonly #inner: CommandRunner;
  readonly #signal: () => AbortSignal | undefined;

  /**
   * Wraps a runner.
   *
   * @param inner The runner that starts the processes.
   * @param options `signal` gives the signal of the input being run (if any).
   */
  constructor(inner: CommandRunner, options: { signal: () => AbortSignal | undefined }) {
    this.#inner = inner;
    this.#signal = options.signal;
  }

  /** As the inner runner's. */
  get streamsStdin(): boolean {
    return this.#inner.streamsStdin === true;
  }

  /** The runner that starts the processes. */
  get inner(): CommandRunner {
    return this.#inner;
  }

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
    const signal = this.#signal();
    if (signal === undefined) return await this.#inner.run(cmd, args, opts);
    signal.throwIfAborted();
    const running = this.#inner.run(cmd, args, { ...opts, signal });
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([running, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      running.catch(() => {});
      aborted.catch(() => {});
    }
  }
}

/**
 * Tells whether an error is an interruption (the `AbortError` a signal's
 * `abort()` gives, or one that wraps it).
 *
 * @param e The error.
 * @returns True for an interruption.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isInterruption } from "@rampart/iptables/repl";
 * const stop = new AbortController();
 * stop.abort();
 * assert.ok(isInterruption(stop.signal.reason));
 * assert.ok(!isInterruption(new Error("x")));
 * ```
 */
export function isInterruption(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; depth++) {
    if (x.name === "AbortError") return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}
