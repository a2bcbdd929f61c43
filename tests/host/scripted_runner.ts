/**
 * Test helpers: a scripted CommandRunner and a collecting logger.
 *
 * @module
 */
import type { LogFields, Logger, LogLevel } from "../../src/host/logger.ts";
import type { CommandResult, CommandRunner } from "../../src/host/runner.ts";

/** A response: a result, or a function of the arguments. */
export type Script = Record<
  string,
  CommandResult | ((args: string[]) => CommandResult) | undefined
>;

/** A runner answering from `script` keyed by `"cmd args…"` first, then by `cmd`; else 127. */
export class ScriptedRunner implements CommandRunner {
  readonly calls: string[] = [];
  constructor(public script: Script = {}) {}
  run(cmd: string, args: string[]): Promise<CommandResult> {
    const key = [cmd, ...args].join(" ");
    this.calls.push(key);
    const entry = this.script[key] ?? this.script[cmd];
    if (entry === undefined) {
      return Promise.resolve({ code: 127, stdout: "", stderr: `${cmd}: command not found` });
    }
    return Promise.resolve(typeof entry === "function" ? entry(args) : entry);
  }
}

/** A successful result printing `stdout`. */
export function ok(stdout: string): CommandResult {
  return { code: 0, stdout, stderr: "" };
}

/** A logger that keeps its records. */
export class CollectingLogger implements Logger {
  readonly records: { level: LogLevel; message: string; fields: LogFields | undefined }[] = [];
  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.records.push({ level, message, fields });
  }
  at(level: LogLevel): string[] {
    return this.records.filter((r) => r.level === level).map((r) => r.message);
  }
}
