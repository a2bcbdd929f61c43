/**
 * The CLI's intent records: an {@linkcode ApplyJournal} kept as a file of
 * JSON lines in the state directory (`<state-dir>/<host|netns-NAME>.intent.jsonl`).
 *
 * The first line, written durably (temporary file, fsync, rename) before the
 * first table is written, holds who runs (pid, command) and the intent (the
 * tables in order and the snapshot that undoes them). Each table brought in
 * line appends a line (fsynced); a failure that is not rolled back appends
 * its error. The file is removed when every table is consistent again, so a
 * file left behind means an apply or remove was interrupted.
 *
 * @module
 */
import type { ApplyIntent, ApplyJournal, IntentTable } from "../policy/journal.ts";
import { snapshotFromJson } from "../policy/snapshot.ts";
import { appendDurable, removeDurable, writeDurable } from "./durable.ts";

/** An intent record read back from its file. */
export interface IntentRecord {
  /** The file. */
  path: string;
  /** Its whole text (to put it back after a rollback). */
  text: string;
  /** The process that wrote it. */
  pid?: number;
  /** What that process ran, e.g. `apply rules.yaml --netns lab`. */
  command?: string;
  /** The intent; absent when the file cannot be read (see `problem`). */
  intent?: ApplyIntent;
  /** The tables brought in line before it stopped, in order. */
  done: IntentTable[];
  /** The error of a write that failed and was not rolled back. */
  error?: string;
  /** Why the record cannot be used, when it cannot. */
  problem?: string;
}

/** Options of {@linkcode FileApplyJournal}. */
export interface FileApplyJournalOptions {
  /** What this process runs (recorded for the next run's message). */
  command: string;
  /**
   * The text of an earlier, interrupted record this write replaces: put back
   * when this write is rolled back (the kernel is then as that one left it).
   */
  previous?: string;
  /**
   * Put `previous` back after a successful write too: this write does not
   * cover every table the earlier record names. @default {false}
   */
  previousStays?: boolean;
}

function key(t: IntentTable): string {
  return `${t.table}/${t.ipVersion}`;
}

/**
 * An {@linkcode ApplyJournal} in a file (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileApplyJournal, readIntentRecord } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * const journal = new FileApplyJournal(`${dir}/host.intent.jsonl`, { command: "apply rules.yaml" });
 * await journal.begin({ operation: "apply", startedAt: "2025-01-01T00:00:00.000Z", tables: [
 *   { table: "filter", ipVersion: 4 }, { table: "filter", ipVersion: 6 },
 * ] });
 * await journal.tableDone({ table: "filter", ipVersion: 4 });
 * // A crash here leaves the record: the next run reads it.
 * const record = await readIntentRecord(`${dir}/host.intent.jsonl`);
 * assert.equal(record?.command, "apply rules.yaml");
 * assert.deepEqual(record?.done, [{ table: "filter", ipVersion: 4 }]);
 * await journal.end("applied");
 * assert.equal(await readIntentRecord(`${dir}/host.intent.jsonl`), undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileApplyJournal implements ApplyJournal {
  /** The record file. */
  readonly path: string;
  readonly #command: string;
  #previous: string | undefined;
  readonly #previousStays: boolean;

  /**
   * Creates the journal; nothing is written before `begin()`.
   *
   * @param path The record file.
   * @param options The command, and an earlier record to put back on rollback.
   */
  constructor(path: string, options: FileApplyJournalOptions) {
    this.path = path;
    this.#command = options.command;
    this.#previous = options.previous;
    this.#previousStays = options.previousStays ?? false;
  }

  /** Writes the record durably (replacing any earlier one). */
  async begin(intent: ApplyIntent): Promise<void> {
    const header = { version: 1, pid: Deno.pid, command: this.#command, intent };
    await writeDurable(this.path, JSON.stringify(header) + "\n");
  }

  /** Appends that a table is in line. */
  async tableDone(table: IntentTable): Promise<void> {
    await appendDurable(this.path, JSON.stringify({ done: table }));
  }

  /**
   * Removes the record, or puts back the earlier one after a rollback (the
   * kernel is then as that one left it), or when it stays. Otherwise, once an
   * apply succeeded, the earlier record is settled for good.
   */
  async end(outcome: "applied" | "rolled-back"): Promise<void> {
    if ((outcome === "rolled-back" || this.#previousStays) && this.#previous !== undefined) {
      await writeDurable(this.path, this.#previous);
      return;
    }
    if (outcome === "applied") this.#previous = undefined;
    await removeDurable(this.path);
  }

  /** Appends the error; the record stays. */
  async fail(error: string): Promise<void> {
    await appendDurable(this.path, JSON.stringify({ error }));
  }
}

/**
 * Reads an intent record.
 *
 * @param path The record file.
 * @returns The record, or `undefined` when there is none.
 */
export async function readIntentRecord(path: string): Promise<IntentRecord | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return { path, text: "", done: [], problem: e instanceof Error ? e.message : String(e) };
  }
  const record: IntentRecord = { path, text, done: [] };
  const lines = text.split("\n").filter((l) => l !== "");
  try {
    const header = JSON.parse(lines[0] ?? "");
    if (typeof header?.pid === "number") record.pid = header.pid;
    if (typeof header?.command === "string") record.command = header.command;
    const intent = header?.intent;
    if (
      typeof intent !== "object" || intent === null || !Array.isArray(intent.tables) ||
      (intent.operation !== "apply" && intent.operation !== "remove")
    ) {
      throw new Error("no intent in its first line");
    }
    const tables: IntentTable[] = intent.tables.map((t: IntentTable) => ({
      table: t.table,
      ipVersion: t.ipVersion,
    }));
    record.intent = {
      operation: intent.operation,
      startedAt: String(intent.startedAt),
      tables,
      // Validated like any snapshot that reaches iptables-restore.
      ...(intent.snapshot === undefined
        ? {}
        : { snapshot: snapshotFromJson(JSON.stringify(intent.snapshot)) }),
    };
  } catch (e) {
    record.problem = e instanceof Error ? e.message : String(e);
    return record;
  }
  for (const line of lines.slice(1)) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue; // torn by a crash
    }
    if (typeof entry?.error === "string") record.error = entry.error;
    const done = entry?.done;
    if (done !== undefined) {
      const t = record.intent.tables.find((t) => key(t) === key(done));
      if (t !== undefined && !record.done.some((d) => key(d) === key(t))) record.done.push(t);
    }
  }
  return record;
}

function tableList(tables: readonly IntentTable[]): string {
  const names = tables.map((t) => `${t.table} IPv${t.ipVersion}`);
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/**
 * Says in words what an interrupted record tells: who ran what, which tables
 * it brought in line, which one it was writing, which it did not reach.
 *
 * @param record The record.
 * @param options The target in words.
 * @returns One paragraph (without a final period).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeIntentRecord } from "@rampart/iptables/cli";
 * const text = describeIntentRecord({
 *   path: "/run/rampart/host.intent.jsonl", text: "", pid: 7, command: "apply rules.yaml",
 *   intent: { operation: "apply", startedAt: "2025-01-01T00:00:00.000Z", tables: [
 *     { table: "filter", ipVersion: 4 }, { table: "filter", ipVersion: 6 },
 *   ] },
 *   done: [],
 * }, { target: "this host" });
 * assert.equal(
 *   text,
 *   "An earlier 'rampart apply rules.yaml' on this host (pid 7, started 2025-01-01T00:00:00.000Z) " +
 *     "did not finish: it was writing filter IPv4 when it stopped (each table is one transaction: " +
 *     "it holds either all of its old rules or all of its new ones); filter IPv6 was not reached " +
 *     "(record: /run/rampart/host.intent.jsonl)",
 * );
 * ```
 */
export function describeIntentRecord(record: IntentRecord, options: { target: string }): string {
  const intent = record.intent;
  if (intent === undefined) {
    return `An intent record of an earlier apply on ${options.target} is there but cannot be ` +
      `read (${record.problem}): tables may hold a mix of old and new rules (record: ${record.path})`;
  }
  const who = `'rampart ${record.command ?? intent.operation}' on ${options.target} (pid ${
    record.pid ?? "?"
  }, started ${intent.startedAt})`;
  const done = new Set(record.done.map(key));
  const rest = intent.tables.filter((t) => !done.has(key(t)));
  const parts: string[] = [];
  if (record.done.length > 0) {
    parts.push(
      `${intent.operation === "remove" ? "it emptied" : "it brought"} ${tableList(record.done)}${
        intent.operation === "remove" ? "" : " in line"
      }`,
    );
  }
  const [current, ...notReached] = rest;
  if (current !== undefined) {
    parts.push(
      `it was writing ${tableList([current])} when it ${
        record.error === undefined ? "stopped" : "failed"
      } (each table is one transaction: it holds either all of its old rules or all of its new ones)`,
    );
  }
  if (current === undefined) parts.push("it stopped before clearing this record");
  let text = `An earlier ${who} ${
    record.error === undefined
      ? "did not finish"
      : `failed and could not be rolled back (${record.error})`
  }: ${parts.join("; ")}`;
  if (notReached.length > 0) {
    text += `; ${tableList(notReached)} ${notReached.length === 1 ? "was" : "were"} not reached`;
  }
  return `${text} (record: ${record.path})`;
}

/**
 * The record as the CLI reports it under `--json` (`interrupted`).
 *
 * @param record The record.
 * @returns A JSON-ready object (the snapshot is left out).
 */
export function intentRecordJson(record: IntentRecord): Record<string, unknown> {
  const done = new Set(record.done.map(key));
  return {
    record: record.path,
    ...(record.pid === undefined ? {} : { pid: record.pid }),
    ...(record.command === undefined ? {} : { command: record.command }),
    ...(record.intent === undefined ? {} : {
      operation: record.intent.operation,
      startedAt: record.intent.startedAt,
      tablesDone: record.done,
      tablesNotDone: record.intent.tables.filter((t) => !done.has(key(t))),
      canRollBack: record.intent.snapshot !== undefined,
    }),
    ...(record.error === undefined ? {} : { error: record.error }),
    ...(record.problem === undefined ? {} : { problem: record.problem }),
  };
}
