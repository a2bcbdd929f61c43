/**
 * One writer per target: every command that writes a target's rules (apply,
 * remove, recover, watch) holds an exclusive `flock` on the target's lock file
 * in the state directory for as long as it runs. A second one is refused with
 * a message naming the holder, instead of waiting: it planned (and the
 * operator approved) its changes against rules the first is changing, and an
 * apply waiting for confirmation holds the target for minutes. The kernel
 * releases the lock when the holder dies, even by `kill -9`.
 *
 * @module
 */

/** Who holds a target's lock (written into the lock file by the holder). */
export interface LockHolder {
  /** Its process ID. */
  pid: number;
  /** What it runs, e.g. `apply rules.yaml`. */
  command: string;
  /** Since when (ISO 8601). */
  since: string;
}

/**
 * Another command holds the target.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TargetBusyError } from "@rampart/iptables/cli";
 * const e = new TargetBusyError("this host", { pid: 42, command: "apply rules.yaml", since: "2025-01-01T00:00:00.000Z" });
 * assert.equal(
 *   e.message,
 *   "Another rampart command is changing this host (pid 42, 'rampart apply rules.yaml', since 2025-01-01T00:00:00.000Z): nothing was changed; run this again once it has finished",
 * );
 * ```
 */
export class TargetBusyError extends Error {
  /** The holder, when it could be read. */
  readonly holder: LockHolder | undefined;

  /**
   * Creates the error.
   *
   * @param target The target in words (`this host`, `network namespace "lab"`).
   * @param holder Who holds it, if known.
   * @param options What the holder is doing, in words.
   */
  constructor(
    target: string,
    holder: LockHolder | undefined,
    options: { detail?: string } = {},
  ) {
    super(
      `Another rampart command is changing ${target}${
        holder === undefined
          ? ""
          : ` (pid ${holder.pid}, 'rampart ${holder.command}', since ${holder.since})`
      }${
        options.detail === undefined ? "" : `; ${options.detail}`
      }: nothing was changed; run this again once it has finished`,
    );
    this.name = "TargetBusyError";
    this.holder = holder;
  }
}

/** A held target lock. */
export interface TargetLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock (idempotent). */
  release(): void;
}

/** Options of {@linkcode lockTarget}. */
export interface LockTargetOptions {
  /** What the holder runs (shown to a refused command). */
  command: string;
  /** The target in words, for the error. */
  target: string;
  /**
   * Keep trying this long before refusing (a read-only command probing the
   * lock holds it for an instant). @default {1000}
   */
  graceMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads who holds a lock file.
 *
 * @param path The lock file.
 * @returns The holder it names, if any.
 */
export async function readLockHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(path));
    if (typeof raw?.pid === "number" && typeof raw.command === "string") {
      return { pid: raw.pid, command: raw.command, since: String(raw.since) };
    }
  } catch { /* empty, being written, or not ours */ }
  return undefined;
}

/**
 * Takes a target's lock (creating the file, mode 0600), or refuses.
 *
 * @param path The lock file.
 * @param options What the holder runs, the target in words, and the grace period.
 * @returns The held lock.
 * @throws {TargetBusyError} When another process holds it past the grace period.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockTarget, TargetBusyError } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * const lock = await lockTarget(`${dir}/host.lock`, { command: "apply a.yaml", target: "this host" });
 * await assert.rejects(
 *   lockTarget(`${dir}/host.lock`, { command: "apply b.yaml", target: "this host", graceMs: 0 }),
 *   (e) => e instanceof TargetBusyError && e.holder?.command === "apply a.yaml",
 * );
 * lock.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function lockTarget(path: string, options: LockTargetOptions): Promise<TargetLock> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  const grace = options.graceMs ?? 1000;
  const start = Date.now();
  try {
    // tryLockSync: the async variant keeps the descriptor on a worker thread.
    while (!file.tryLockSync(true)) {
      if (Date.now() - start >= grace) {
        throw new TargetBusyError(options.target, await readLockHolder(path));
      }
      await sleep(20);
    }
    const holder: LockHolder = {
      pid: Deno.pid,
      command: options.command,
      since: new Date().toISOString(),
    };
    file.truncateSync(0);
    const bytes = new TextEncoder().encode(JSON.stringify(holder) + "\n");
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
  } catch (e) {
    file.close();
    throw e;
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        file.truncateSync(0);
      } catch { /* the holder's name is only informative */ }
      file.close();
    },
  };
}

/**
 * Tells whether a target's lock is held, without holding it for more than
 * an instant (a shared-lock probe; a missing file is free).
 *
 * @param path The lock file.
 * @returns Whether another process holds it.
 */
export async function isTargetLocked(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return false;
  }
  try {
    return !file.tryLockSync(false);
  } finally {
    file.close();
  }
}
