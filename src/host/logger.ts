/**
 * One small injectable logger, quiet by default.
 *
 * @module
 */

/** Structured fields attached to a log record. */
export type LogFields = Record<string, unknown>;

/** Log levels, from most to least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Where the engine reports resyncs, retries and feature changes.
 *
 * @example A logger that collects records
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Logger, LogFields, LogLevel } from "@rampart/iptables";
 * const records: { level: LogLevel; message: string; fields: LogFields | undefined }[] = [];
 * const logger: Logger = {
 *   log: (level, message, fields) => void records.push({ level, message, fields }),
 * };
 * logger.log("info", "resync", { reason: "refresh timer" });
 * assert.deepEqual(records, [{ level: "info", message: "resync", fields: { reason: "refresh timer" } }]);
 * ```
 */
export interface Logger {
  /** Records one message with optional structured fields. */
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/**
 * A logger that drops everything (the default).
 *
 * @example
 * ```ts
 * import { silentLogger } from "@rampart/iptables";
 * silentLogger().log("info", "nobody hears this");
 * ```
 */
export function silentLogger(): Logger {
  return { log() {} };
}

/** Options of {@linkcode consoleLogger}. */
export interface ConsoleLoggerOptions {
  /** The least severe level printed. @default {"info"} */
  level?: LogLevel;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger that prints one line per record to standard error:
 * `level message key=value …`.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "@rampart/iptables";
 * const logger = consoleLogger({ level: "warn" });
 * logger.log("info", "not printed");
 * ```
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  return {
    log(level, message, fields) {
      if (ORDER[level] < min) return;
      const extra = fields === undefined ? "" : Object.entries(fields)
        .map(([k, v]) => ` ${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`)
        .join("");
      console.error(`${level} ${message}${extra}`);
    },
  };
}
