/**
 * Durable file writes for the CLI's state directory: a file written here is
 * either wholly there with its new content or not at all, even if the process
 * or the machine dies in the middle (temporary file, fsync, rename, fsync of
 * the directory).
 *
 * @module
 */

function dirOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? (at === 0 ? "/" : ".") : path.slice(0, at);
}

/** Flushes a directory's entries (a rename or unlink in it) to disk. */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch { /* not every file system can sync a directory; the rename is still atomic */ }
}

function tmpName(path: string): string {
  // Unique per call, not per process: workers of one process share Deno.pid.
  return `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

async function writeSynced(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Replaces a file's content atomically and durably: writes a temporary file
 * beside it (mode 0600), fsyncs it, renames it over the file, and fsyncs the
 * directory.
 *
 * @param path The file.
 * @param text Its new content.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeDurable } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * await writeDurable(`${dir}/state.json`, "{}\n");
 * assert.equal(await Deno.readTextFile(`${dir}/state.json`), "{}\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeDurable(path: string, text: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    await writeSynced(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dirOf(path));
}

/**
 * Creates a file with its content only if it does not exist yet, atomically
 * (a synced temporary file hard-linked to the name): of two processes that
 * race, exactly one succeeds, and nobody ever sees the file empty.
 *
 * @param path The file.
 * @param text Its content.
 * @returns `true` when this call created it, `false` when it already existed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createExclusive } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await createExclusive(`${dir}/decision`, "a"), true);
 * assert.equal(await createExclusive(`${dir}/decision`, "b"), false); // already there
 * assert.equal(await Deno.readTextFile(`${dir}/decision`), "a");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = tmpName(path);
  try {
    await writeSynced(tmp, text);
    try {
      await Deno.link(tmp, path);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      throw e;
    }
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  await syncDir(dirOf(path));
  return true;
}

/**
 * Appends a line to a file and fsyncs it. A crash can leave the last line
 * torn; readers ignore a line that does not parse.
 *
 * @param path The file (created with mode 0600 when missing).
 * @param line The text to append (a newline is added when missing).
 */
export async function appendDurable(path: string, line: string): Promise<void> {
  const file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(line.endsWith("\n") ? line : `${line}\n`);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.syncData();
  } finally {
    file.close();
  }
}

/**
 * Removes a file durably (the unlink is synced to disk); a missing file is
 * not an error.
 *
 * @param path The file.
 */
export async function removeDurable(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  await syncDir(dirOf(path));
}

/**
 * Tells whether a path exists (without following a last symbolic link).
 *
 * @param path The path.
 * @returns Whether it exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathExists } from "@rampart/iptables/cli";
 * assert.equal(await pathExists("/"), true);
 * assert.equal(await pathExists("/no/such/path"), false);
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
