/**
 * What the CLI needs from the outside world, injectable for tests.
 *
 * @module
 */
import { type CommandRunner, DenoCommandRunner } from "../host/runner.ts";
import { networkNamespaces } from "../host/network_namespaces.ts";
import type { ArmWatchdogOptions } from "./watchdog.ts";
import { denoTopTerminal, type TopTerminal } from "./top.ts";

/** The CLI's view of its process. */
export interface CliEnvironment {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error (progress, prompts, human messages under `--json`). */
  stderr(text: string): void;
  /** Whether questions can be asked (standard input and standard error are a terminal). */
  readonly interactive: boolean;
  /** Whether standard output is a terminal (for `--color auto`). */
  readonly stdoutIsTerminal: boolean;
  /**
   * Prints a question on standard error and reads one line from standard
   * input; `undefined` at end of input or when `timeoutMs` passes.
   */
  ask(question: string, timeoutMs?: number): Promise<string | undefined>;
  /** The runner for a namespace (or the host). */
  runnerFor(netns: string | undefined): CommandRunner;
  /**
   * Whether a named network namespace exists (`undefined`, or no such
   * method: unknown). `recover` clears what is recorded for one that no
   * longer does, since its rules went with it.
   */
  namespaceExists?(netns: string): boolean | undefined;
  /**
   * The runners start processes that see this process's files: a save may
   * write its output to a file in the (private) state directory.
   */
  readonly localProcesses?: boolean;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** The user ID (for the default state directory). */
  readonly uid: number;
  /** Starts the watchdog (tests replace it). */
  spawnWatchdog?: ArmWatchdogOptions["spawn"];
  /** Ends `watch` and `top` (in addition to SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** The terminal `top` draws on (absent: `top` is refused). */
  terminal?: TopTerminal;
}

/**
 * Reads one line from standard input, giving up after `timeoutMs`.
 *
 * @param timeoutMs Give up after this long (`undefined`: wait).
 * @returns The line, or `undefined` at end of input or on timeout.
 */
export async function readStdinLine(timeoutMs?: number): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    if (timeoutMs !== undefined) timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const read = (async () => {
    const buffer = new Uint8Array(1);
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) return text === "" ? undefined : text;
      const c = decoder.decode(buffer.subarray(0, n), { stream: true });
      if (c === "\n") return text.replace(/\r$/, "");
      text += c;
    }
  })();
  try {
    return await Promise.race([read, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * The real process: stdout/stderr, a terminal prompt on stdin, and
 * `DenoCommandRunner` (with `ip netns exec` for a namespace).
 *
 * @returns The environment.
 */
export function denoCliEnvironment(): CliEnvironment {
  const encoder = new TextEncoder();
  const write = (file: typeof Deno.stdout | typeof Deno.stderr, text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
  };
  return {
    stdout: (text) => write(Deno.stdout, text),
    stderr: (text) => write(Deno.stderr, text),
    interactive: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    async ask(question, timeoutMs) {
      write(Deno.stderr, question);
      const answer = await readStdinLine(timeoutMs);
      if (answer === undefined) write(Deno.stderr, "\n");
      return answer;
    },
    // A namespace that does not exist is refused before anything runs in it
    // (after the policy files are read: their errors come first).
    runnerFor: (netns) =>
      new DenoCommandRunner(netns === undefined ? {} : { netns, checkNetns: true }),
    namespaceExists: (netns) => networkNamespaces()?.includes(netns),
    localProcesses: true,
    env(name) {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined;
      }
    },
    uid: Deno.uid() ?? 0,
    terminal: denoTopTerminal(),
  };
}
