/**
 * The faults a test injects into the fake dataplane: failing and hanging
 * calls.
 *
 * @module
 */
import type { CommandResult } from "../host/runner.ts";

/** Options of the fault injectors. */
export interface FakeFaultOptions {
  /** Standard error of the failing call. */
  stderr?: string;
  /** Standard output of the failing call (default empty). */
  stdout?: string;
  /** Exit code (default 1). */
  code?: number;
  /** How many consecutive calls fail (default 1). */
  count?: number;
}

/** A failure waiting for the next calls of one kind. */
export interface Fault {
  /** What the calls return. */
  result: CommandResult;
  /** How many more calls fail. */
  count: number;
}

/** The fault the options describe (`stderr` unless they give one). */
export function fault(options: FakeFaultOptions, stderr: string): Fault {
  return {
    result: {
      code: options.code ?? 1,
      stdout: options.stdout ?? "",
      stderr: options.stderr ?? stderr,
    },
    count: options.count ?? 1,
  };
}

/** The result of the first waiting fault, if any (counting it down). */
export function takeFault(queue: Fault[]): CommandResult | undefined {
  const f = queue[0];
  if (!f) return undefined;
  if (--f.count <= 0) queue.shift();
  return { ...f.result };
}

/** A call that never returns, or returns as killed when `timeoutMs` passes. */
export function hang(timeoutMs: number | undefined): Promise<CommandResult> {
  if (timeoutMs === undefined) return new Promise<CommandResult>(() => {});
  return new Promise((resolve) =>
    setTimeout(() => resolve({ code: 137, stdout: "", stderr: "", timedOut: true }), timeoutMs)
  );
}
