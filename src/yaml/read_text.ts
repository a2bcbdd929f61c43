/**
 * Reading a policy file's text with a size limit, so that an endless stream
 * (`/dev/zero`, a pipe) or a huge file stops with a clear error.
 *
 * @module
 */
import { linePos } from "./document.ts";
import { PolicyFileError } from "./errors.ts";

/** The default size limit of a policy file: 64 MiB (about 400,000 rules). */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

function mebibytes(bytes: number): string {
  const m = bytes / (1024 * 1024);
  return Number.isInteger(m) ? `${m} MiB` : `${bytes} bytes`;
}

/**
 * Reads a file as UTF-8 text, refusing more than `maxBytes` bytes and text
 * that is not UTF-8.
 *
 * @param path The file.
 * @param maxBytes The size limit.
 * @returns The text.
 * @throws {PolicyFileError} when the file is larger or not UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPolicyText } from "./read_text.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "tables: {}\n");
 * assert.equal(await readPolicyText(path, 64 << 20), "tables: {}\n");
 * await assert.rejects(readPolicyText(path, 5), /:1:1: File larger than 5 bytes/);
 * await Deno.remove(path);
 * ```
 */
export async function readPolicyText(path: string, maxBytes: number): Promise<string> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`Invalid maxBytes ${maxBytes}: expected a non-negative integer`);
  }
  using file = await Deno.open(path);
  if ((await file.stat()).isDirectory) {
    throw new PolicyFileError(
      "Is a directory: expected a YAML rule file (name the files in it, e.g. DIR/*.yaml)",
      { file: path, line: 1, column: 1, field: "" },
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    total += n;
    if (total > maxBytes) {
      throw new PolicyFileError(
        `File larger than ${mebibytes(maxBytes)}: expected a YAML rule file ` +
          "(raise the limit with --max-file-size, or the maxBytes option)",
        { file: path, line: 1, column: 1, field: "" },
      );
    }
    chunks.push(buffer.slice(0, n));
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const text = new TextDecoder().decode(bytes);
    const { line, col } = linePos(text, Math.max(0, text.indexOf("\uFFFD")));
    throw new PolicyFileError("Invalid text: expected UTF-8 (save the file as UTF-8)", {
      file: path,
      line,
      column: col,
      field: "",
    });
  }
}
