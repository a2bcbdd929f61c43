/**
 * One read of each table per write: `rampart apply` plans every table (one
 * `iptables-save` each), then takes the snapshot its intent record holds
 * (another `iptables-save` of every table), then applies (which may read
 * again). Between the plan and the first write nothing of ours can change
 * the kernel (the CLI holds the target's lock), and the write is computed
 * from the plan's read; so the snapshot, and any read before the first
 * write, is served from that read: the snapshot then is exactly the state
 * the write starts from, and on `iptables-nft` (where `iptables-nft-save -t
 * raw` reads the whole ruleset) a reload reads each table once instead of
 * two or three times.
 *
 * @module
 */
import type { CommandResult, CommandRunner, RunOptions } from "../host/runner.ts";
import { readsOnly } from "../host/shared_reads.ts";

/**
 * A runner that serves a repeated `*-save` command (same binary, same
 * arguments) with the output of its last run, until any command that may
 * write runs or {@linkcode ReadReuse.forget} is called.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReadReuse } from "./read_reuse.ts";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane(); // or new DenoCommandRunner()
 * const reads = new ReadReuse(fake.runner);
 * await reads.run("iptables-nft-save", ["-t", "filter"]); // runs
 * await reads.run("iptables-nft-save", ["-t", "filter"]); // served from the first
 * await reads.run("iptables-nft-restore", ["--noflush"], { stdin: "*filter\nCOMMIT\n" }); // runs, forgets
 * await reads.run("iptables-nft-save", ["-t", "filter"]); // runs again
 * assert.deepEqual(fake.calls.map((c) => c.cmd), [
 *   "iptables-nft-save",
 *   "iptables-nft-restore",
 *   "iptables-nft-save",
 * ]);
 * ```
 */
export class ReadReuse implements CommandRunner {
  readonly #inner: CommandRunner;
  readonly #saved = new Map<string, CommandResult>();
  /** Bumped when a command that may write starts and when it ends. */
  #generation = 0;

  /**
   * Wraps a runner.
   *
   * @param inner The runner that starts the processes.
   */
  constructor(inner: CommandRunner) {
    this.#inner = inner;
  }

  /** Streams like the wrapped runner. */
  get streamsStdin(): boolean {
    return this.#inner.streamsStdin === true;
  }

  /** Forgets every read (after a pause in which the kernel may have changed). */
  forget(): void {
    this.#generation++;
    this.#saved.clear();
  }

  /** Serves a repeated save from the last one; anything that may write forgets them all. */
  async run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
    if (!readsOnly(cmd, args)) {
      this.forget();
      try {
        return await this.#inner.run(cmd, args, opts);
      } finally {
        this.forget();
      }
    }
    if (!cmd.endsWith("-save")) return await this.#inner.run(cmd, args, opts);
    const key = JSON.stringify([cmd, ...args]);
    const served = this.#saved.get(key);
    if (served !== undefined) return served;
    // Kept only when nothing that may write ran meanwhile.
    const generation = this.#generation;
    const result = await this.#inner.run(cmd, args, opts);
    if (result.code === 0 && result.timedOut !== true && generation === this.#generation) {
      this.#saved.set(key, result);
    }
    return result;
  }
}
