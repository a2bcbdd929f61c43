/**
 * The xtables lock: taking it ourselves when `iptables-restore` cannot, and
 * the `--wait` arguments when it can.
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { IptablesVariant } from "./iptables_variant.ts";

/** The iptables ≥ 1.6 lock file. */
export const DEFAULT_LOCK_FILE_PATH = "/run/xtables.lock";
/** The iptables 1.4 lock: an abstract Unix socket (`@` = abstract namespace). */
export const DEFAULT_LOCK_SOCKET_NAME = "@xtables";

/** Which style of xtables lock: `"1.6"` is the flock'ed file, `"1.4"` the abstract socket. */
export type LockVersion = "1.4" | "1.6";

/** Options of {@linkcode grabIptablesLocks}. */
export interface GrabIptablesLocksOptions {
  /** The lock file flock'ed by iptables ≥ 1.6. @default {"/run/xtables.lock"} */
  lockFilePath?: string;
  /**
   * The Unix socket iptables 1.4 binds as its lock; a leading `@` means the
   * abstract namespace (which is per network namespace). @default {"@xtables"}
   */
  socketName?: string;
  /** Give up on each lock after this long. */
  timeoutMs: number;
  /** Pause between attempts. */
  probeIntervalMs: number;
  /** Time source for the probe loop. Defaults to the system clock. */
  clock?: Clock;
  /** Called before each retry, e.g. to count `lock_retries{version}`. */
  onRetry?: (version: LockVersion) => void;
}

/** Held xtables locks; `close()` releases them. */
export interface Locker {
  /** Releases the 1.6 file lock, then the 1.4 socket. Throws the first failure (1.6 first). */
  close(): void;
}

/**
 * An xtables lock was not free within the timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LockTimeoutError } from "@rampart/iptables";
 * const e = new LockTimeoutError({ version: "1.6", target: "/run/xtables.lock", timeoutMs: 10_000 });
 * assert.equal(e.version, "1.6");
 * assert.equal(
 *   e.message,
 *   'Timed out after 10000 ms waiting for the iptables 1.6 lock "/run/xtables.lock": ' +
 *     "expected another program to release it",
 * );
 * ```
 */
export class LockTimeoutError extends Error {
  /** Which lock: `"1.6"` (file) or `"1.4"` (socket). */
  readonly version: LockVersion;
  /** The lock file path or socket name. */
  readonly target: string;
  /** The timeout that passed. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param options The lock, its path or socket name, and the timeout.
   */
  constructor(options: { version: LockVersion; target: string; timeoutMs: number }) {
    super(
      `Timed out after ${options.timeoutMs} ms waiting for the iptables ${options.version} lock ${
        JSON.stringify(options.target)
      }: expected another program to release it`,
    );
    this.name = "LockTimeoutError";
    this.version = options.version;
    this.target = options.target;
    this.timeoutMs = options.timeoutMs;
  }
}

/**
 * Takes both xtables locks, as the reference did when `iptables-restore`
 * could not lock itself: first an exclusive `flock` on `lockFilePath`
 * (iptables ≥ 1.6; created with mode 0600), then the Unix socket
 * `socketName` (iptables 1.4). Each is probed without blocking every
 * `probeIntervalMs` until `timeoutMs` has passed. On failure everything
 * already taken is released.
 *
 * The abstract socket belongs to the caller's network namespace, so it only
 * excludes iptables 1.4 processes of that namespace; the lock file is
 * shared by every process that sees the same file.
 *
 * @param options Paths, timeout and probe interval.
 * @returns The held locks.
 * @throws {LockTimeoutError} When a lock stays taken for `timeoutMs`.
 *
 * @example Taking a private lock (never the host's /run/xtables.lock in tests)
 * ```ts
 * import assert from "node:assert/strict";
 * import { grabIptablesLocks, LockTimeoutError } from "@rampart/iptables";
 * const lockFilePath = await Deno.makeTempFile();
 * const options = {
 *   lockFilePath,
 *   socketName: `@rampart-doc-${crypto.randomUUID()}`,
 *   timeoutMs: 1_000,
 *   probeIntervalMs: 10,
 * };
 * const locker = await grabIptablesLocks(options);
 * await assert.rejects(grabIptablesLocks({ ...options, timeoutMs: 50 }), LockTimeoutError); // held
 * locker.close();
 * (await grabIptablesLocks(options)).close(); // free again
 * await Deno.remove(lockFilePath);
 * ```
 */
export async function grabIptablesLocks(options: GrabIptablesLocksOptions): Promise<Locker> {
  const clock = options.clock ?? systemClock();
  const lockFilePath = options.lockFilePath ?? DEFAULT_LOCK_FILE_PATH;
  const socketName = options.socketName ?? DEFAULT_LOCK_SOCKET_NAME;
  const file = await grabFileLock(lockFilePath, options, clock);
  let socket: SocketLock;
  try {
    socket = await grabSocketLock(socketName, options, clock);
  } catch (e) {
    try {
      file.close();
    } catch { /* keep the original error */ }
    throw e;
  }
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      let fileError: unknown;
      let socketError: unknown;
      try {
        file.close();
      } catch (e) {
        fileError = e;
      }
      try {
        socket.close();
      } catch (e) {
        socketError = e;
      }
      if (fileError !== undefined) throw fileError;
      if (socketError !== undefined) throw socketError;
    },
  };
}

async function grabFileLock(
  path: string,
  options: GrabIptablesLocksOptions,
  clock: Clock,
): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  const start = clock.now();
  try {
    // tryLockSync, not tryLock: the async variant keeps a reference to the
    // descriptor on a worker thread, so close() could release the flock a
    // moment late. A non-blocking probe costs nothing synchronously.
    while (!file.tryLockSync(true)) {
      if (clock.now() - start > options.timeoutMs) {
        throw new LockTimeoutError({ version: "1.6", target: path, timeoutMs: options.timeoutMs });
      }
      await clock.sleep(options.probeIntervalMs);
      options.onRetry?.("1.6");
    }
  } catch (e) {
    file.close();
    throw e;
  }
  return file;
}

interface SocketLock {
  close(): void;
}

async function grabSocketLock(
  name: string,
  options: GrabIptablesLocksOptions,
  clock: Clock,
): Promise<SocketLock> {
  const abstract = name.startsWith("@");
  const path = abstract ? `\0${name.slice(1)}` : name;
  const start = clock.now();
  while (true) {
    try {
      const listener = Deno.listen({ transport: "unix", path });
      return {
        close() {
          listener.close();
          if (!abstract) {
            try {
              Deno.removeSync(path);
            } catch { /* already gone */ }
          }
        },
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
    if (clock.now() - start > options.timeoutMs) {
      throw new LockTimeoutError({ version: "1.4", target: name, timeoutMs: options.timeoutMs });
    }
    await clock.sleep(options.probeIntervalMs);
    options.onRetry?.("1.4");
  }
}

/** Options of {@linkcode SharedLock}. */
export interface SharedLockOptions extends GrabIptablesLocksOptions {
  /** Takes the locks; defaults to {@linkcode grabIptablesLocks}. Injectable for tests. */
  grab?: (options: GrabIptablesLocksOptions) => Promise<Locker>;
}

/**
 * Runs a function while holding the xtables lock (used when restore cannot
 * lock itself): the `lock` option of `Table` and `IptablesDataplane`. Share
 * one among tables, e.g. `(fn) => shared.run(fn)` for a {@linkcode SharedLock}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LockRunner } from "@rampart/iptables";
 * const unlocked: LockRunner = (fn) => fn();
 * assert.equal(await unlocked(() => Promise.resolve(42)), 42);
 * ```
 */
export type LockRunner = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The xtables locks shared by every table of a process, reference-counted:
 * the first `lock()` takes them, the last `unlock()` releases them. Safe
 * because each table writes a different iptables table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Locker, SharedLock } from "@rampart/iptables";
 * let held = false;
 * const grab = (): Promise<Locker> => {
 *   held = true;
 *   return Promise.resolve({ close: () => void (held = false) });
 * };
 * const shared = new SharedLock({ timeoutMs: 1_000, probeIntervalMs: 50, grab });
 * await shared.lock();
 * await shared.lock();
 * shared.unlock();
 * assert.ok(held);
 * shared.unlock();
 * assert.equal(held, false);
 * ```
 */
export class SharedLock {
  readonly #options: GrabIptablesLocksOptions;
  readonly #grab: (options: GrabIptablesLocksOptions) => Promise<Locker>;
  #count = 0;
  #locker: Locker | undefined;
  #acquiring: Promise<Locker> | undefined;

  /**
   * Creates the lock; nothing is taken until `lock()`.
   *
   * @param options Where the locks are, timeouts, and the grab function.
   */
  constructor(options: SharedLockOptions) {
    const { grab, ...rest } = options;
    this.#options = rest;
    this.#grab = grab ?? grabIptablesLocks;
  }

  /** How many `lock()` calls are not yet matched by `unlock()`. */
  get count(): number {
    return this.#count;
  }

  /**
   * Takes the locks if nobody holds them yet, then counts one more holder.
   *
   * @returns Once held.
   * @throws {LockTimeoutError} When they could not be taken (the count is unchanged).
   */
  async lock(): Promise<void> {
    if (this.#locker === undefined) {
      this.#acquiring ??= this.#grab(this.#options).finally(() => {
        this.#acquiring = undefined;
      });
      this.#locker = await this.#acquiring;
    }
    this.#count++;
  }

  /**
   * Runs `fn` while holding the locks (`lock()`, then `unlock()` however
   * `fn` ends). Fits `Table`'s `lock` option: `lock: (fn) => shared.run(fn)`.
   *
   * @param fn The work to do under the lock.
   * @returns What `fn` resolves to.
   * @throws {LockTimeoutError} When the locks could not be taken (`fn` does not run).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SharedLock } from "@rampart/iptables";
   * const shared = new SharedLock({ timeoutMs: 1_000, probeIntervalMs: 50, grab: () => Promise.resolve({ close() {} }) });
   * assert.equal(await shared.run(() => Promise.resolve(shared.count)), 1);
   * assert.equal(shared.count, 0);
   * ```
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /**
   * Counts one holder less; the last one releases the locks.
   *
   * @throws {Error} On an `unlock()` without a matching `lock()`, or when releasing fails.
   */
  unlock(): void {
    if (this.#count <= 0) throw new Error("Unmatched unlock(): expected a preceding lock()");
    this.#count--;
    if (this.#count === 0) {
      const locker = this.#locker;
      this.#locker = undefined;
      locker?.close();
    }
  }
}

/** Options of {@linkcode restoreLockArgs}. */
export interface RestoreLockOptions {
  /** The backend of the restore binary. */
  backend: IptablesVariant;
  /** How long restore waits for the lock; `--wait` in whole seconds, 10 when ≤ 0. @default {10000} */
  lockTimeoutMs?: number;
  /** `--wait-interval` in microseconds (at most 999999). @default {50} */
  lockProbeIntervalMs?: number;
}

/** How a table coordinates with the xtables lock for one restore. */
export interface RestoreLockPlan {
  /** Extra `iptables-restore` arguments, e.g. `["--wait", "10"]`. */
  args: string[];
  /** True when the table must hold a {@linkcode SharedLock} around the restore itself. */
  tableTakesLock: boolean;
}

/**
 * Decides how `iptables-restore` meets the xtables lock:
 *
 * - nft backend: nothing; iptables-nft-restore ignores the xtables lock (it
 *   accepts `--wait` and drops it) because nftables transactions are atomic.
 * - legacy with `restoreSupportsLock` (iptables ≥ 1.6.2): `--wait <s>`, plus
 *   `--wait-interval <µs>` only when `restoreSupportsWaitInterval` (before
 *   1.8.8, which prints "Ignoring deprecated --wait-interval option.").
 * - legacy without it: no arguments, and the table takes the lock itself
 *   (unless `lockTimeoutMs` ≤ 0, the reference's "lock disabled").
 *
 * @param features The host's features.
 * @param options Backend, timeout and probe interval.
 * @returns The arguments and whether the table locks itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { restoreLockArgs } from "@rampart/iptables";
 * const legacy = { restoreSupportsLock: true, restoreSupportsWaitInterval: true };
 * assert.deepEqual(
 *   restoreLockArgs(legacy, { backend: "legacy" }),
 *   { args: ["--wait", "10", "--wait-interval", "50000"], tableTakesLock: false },
 * );
 * assert.deepEqual(
 *   restoreLockArgs({ restoreSupportsLock: true }, { backend: "nft" }),
 *   { args: [], tableTakesLock: false },
 * );
 * ```
 */
export function restoreLockArgs(features: Features, options: RestoreLockOptions): RestoreLockPlan {
  if (options.backend === "nft") return { args: [], tableTakesLock: false };
  const timeoutMs = options.lockTimeoutMs ?? 10_000;
  if (!features.restoreSupportsLock) return { args: [], tableTakesLock: timeoutMs > 0 };
  const seconds = timeoutMs > 0 ? Math.max(1, Math.round(timeoutMs / 1000)) : 10;
  const args = ["--wait", String(seconds)];
  if (features.restoreSupportsWaitInterval) {
    const micros = Math.min(
      999_999,
      Math.max(1, Math.round((options.lockProbeIntervalMs ?? 50) * 1000)),
    );
    args.push("--wait-interval", String(micros));
  }
  return { args, tableTakesLock: false };
}
