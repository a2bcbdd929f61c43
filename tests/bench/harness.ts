/**
 * Helpers of the benchmark script: namespaces with the workload's IP sets, a
 * process-counting runner, timing and statistics.
 *
 * @module
 */
import {
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
  type RunOptions,
  type StdinSource,
} from "../../mod.ts";
import { withNetns } from "../kernel/netns.ts";
import { ipSetScript } from "./workload.ts";

/** A runner that counts (and remembers) every process it starts. */
export class CountingRunner implements CommandRunner {
  /** Processes started so far. */
  count = 0;
  /** The commands started, in order. */
  readonly commands: string[] = [];
  /**
   * Record the standard input of `*-restore` calls in `lastRestoreInput`.
   * Off by default: keeping a copy of a large script alive costs the engine
   * garbage-collector time that the raw runs do not pay.
   */
  record = false;
  /** The standard input of the last `*-restore` call (when `record` is on). */
  lastRestoreInput = "";
  readonly #inner: CommandRunner;

  /** Streams like the wrapped runner (chunks are recorded as they pass). */
  get streamsStdin(): boolean {
    return this.#inner.streamsStdin === true;
  }

  /**
   * Wraps a runner.
   *
   * @param inner The runner that really starts the processes.
   */
  constructor(inner: CommandRunner) {
    this.#inner = inner;
  }

  /** Counts, then delegates to the wrapped runner. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
    this.count++;
    this.commands.push(cmd);
    if (this.record && cmd.endsWith("-restore") && opts?.stdin !== undefined) {
      this.lastRestoreInput = "";
      return this.#inner.run(cmd, args, { ...opts, stdin: this.#record(opts.stdin) });
    }
    return this.#inner.run(cmd, args, opts);
  }

  /** Passes `stdin` on, appending what passes to `lastRestoreInput`. */
  #record(stdin: StdinSource): StdinSource {
    if (typeof stdin === "string") {
      this.lastRestoreInput = stdin;
      return stdin;
    }
    if (Symbol.asyncIterator in stdin) {
      return (async function* (self: CountingRunner) {
        for await (const chunk of stdin) {
          self.lastRestoreInput += chunk;
          yield chunk;
        }
      })(this);
    }
    const iterator = stdin[Symbol.iterator]();
    return {
      [Symbol.iterator]: () => ({
        next: () => {
          const r = iterator.next();
          if (!r.done) this.lastRestoreInput += r.value;
          return r;
        },
      }),
    };
  }
}

/** Runs a command in the namespace (via `ip netns exec`, as the engine does); throws on failure. */
export async function exec(
  runner: CommandRunner,
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<string> {
  const r = await runner.run(cmd, args, stdin === undefined ? {} : { stdin });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.slice(0, 500)}`);
  }
  return r.stdout;
}

/** Runs `fn` in a fresh namespace that already holds the workload's IP sets. */
export function withBenchNetns<T>(
  fn: (netns: string, runner: DenoCommandRunner) => Promise<T>,
): Promise<T> {
  return withNetns(async (netns) => {
    const runner = new DenoCommandRunner({ netns });
    await exec(runner, "ipset", ["restore"], ipSetScript());
    return await fn(netns, runner);
  });
}

/**
 * Runs the two halves of one round of a comparison, alternating which goes
 * first from round to round, so that drift of a noisy machine and any effect
 * of going first or second fall on both sides alike.
 */
export async function pair(
  round: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<void> {
  if (round % 2 === 0) {
    await a();
    await b();
  } else {
    await b();
    await a();
  }
}

/** Milliseconds taken by `fn`. */
export async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** The median of some numbers. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Formats milliseconds for the table. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x < 1) return `${x.toFixed(3)} ms`;
  if (x < 100) return `${x.toFixed(1)} ms`;
  if (x < 10_000) return `${Math.round(x)} ms`;
  return `${(x / 1000).toFixed(1)} s`;
}

/** Formats a ratio. */
export function ratio(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return x >= 10 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`;
}

/** Splits a rendered iptables line into arguments (double-quoted words keep their spaces). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (line[i] === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new Error(`Unterminated quote in ${line}`);
      out.push(line.slice(i + 1, end));
      i = end + 1;
    } else {
      let end = line.indexOf(" ", i);
      if (end < 0) end = line.length;
      out.push(line.slice(i, end));
      i = end;
    }
  }
  return out;
}
