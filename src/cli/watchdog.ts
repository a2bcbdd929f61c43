/**
 * The confirm-timeout watchdog: a detached process that restores the rules
 * taken before an apply unless the operator confirms in time.
 *
 * The CLI snapshots our rules, writes the snapshot and the firewall's options
 * into a pending directory (`<stateDir>/pending-<netns|host>`), and starts the
 * watchdog (`deno run …/watchdog_main.ts <dir>`) in its own session with no
 * terminal, so it outlives the CLI, the terminal and the SSH connection. The
 * watchdog writes `watchdog.pid` once armed; then the CLI applies. Files in the
 * directory are the whole protocol:
 *
 * - `confirmed` (written by the CLI or `rampart confirm`): keep the new rules.
 * - `revert` (written by the CLI when the operator says no): restore now.
 * - `outcome.json` (written by the watchdog): `confirmed`, `reverted` or `failed`.
 *
 * At the deadline, without `confirmed`, the watchdog restores the snapshot
 * (`Firewall.restoreSnapshot`: our own rules and chains only).
 *
 * @module
 */

/** What the watchdog needs to rebuild the firewall and restore the snapshot. */
export interface WatchdogConfig {
  /** When to revert (milliseconds since the epoch). */
  deadline: number;
  /** Options of the `Firewall` to restore through. */
  firewall: {
    netns?: string;
    backend: "nft" | "legacy" | "auto";
    hashPrefix: string;
    chainPrefixes: string[];
    insertMode: "insert" | "append";
    ipVersions: (4 | 6)[];
  };
  /** The CLI process that started the watchdog (for the log). */
  cliPid: number;
}

/** The end of a pending confirmation. */
export interface WatchdogOutcome {
  /** `confirmed`: rules kept; `reverted`: snapshot restored; `failed`: the restore failed. */
  outcome: "confirmed" | "reverted" | "failed";
  /** Why: `deadline`, `operator` (declined or revert requested) or `confirmed`. */
  reason: "deadline" | "operator" | "confirmed";
  /** The error message when `failed`. */
  error?: string;
  /** When it ended (ISO 8601). */
  at: string;
}

const POLL_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The default directory for pending confirmations: `$RAMPART_STATE_DIR`, else
 * `/run/rampart` for root, else `$XDG_RUNTIME_DIR/rampart`, else
 * `/tmp/rampart-<uid>`.
 *
 * @param env Reads an environment variable.
 * @param uid The user ID.
 * @returns The directory.
 *
 * @example
 * ```ts
 * import { defaultStateDir } from "@rampart/iptables/cli";
 * console.log(defaultStateDir(() => undefined, 0)); // /run/rampart
 * ```
 */
export function defaultStateDir(env: (name: string) => string | undefined, uid: number): string {
  const explicit = env("RAMPART_STATE_DIR");
  if (explicit !== undefined && explicit !== "") return explicit;
  if (uid === 0) return "/run/rampart";
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime !== undefined && runtime.startsWith("/")) return `${runtime}/rampart`;
  return `/tmp/rampart-${uid}`;
}

/**
 * The pending directory of one target (a namespace, or the host).
 *
 * @param stateDir The state directory.
 * @param netns The namespace, or `undefined` for the host.
 * @returns The directory.
 *
 * @example
 * ```ts
 * import { pendingDir } from "@rampart/iptables/cli";
 * console.log(pendingDir("/run/rampart", "lab")); // /run/rampart/pending-netns-lab
 * ```
 */
export function pendingDir(stateDir: string, netns: string | undefined): string {
  return `${stateDir}/pending-${netns === undefined ? "host" : `netns-${netns}`}`;
}

function pidAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the watchdog's PID and tells whether it is still running.
 *
 * @param dir The pending directory.
 * @returns The PID when the watchdog runs, else `undefined`.
 */
export async function liveWatchdog(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/watchdog.pid`);
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return pidAlive(pid) ? pid : undefined;
}

/**
 * Reads the outcome, if the watchdog has written it.
 *
 * @param dir The pending directory.
 * @returns The outcome, or `undefined`.
 */
export async function readOutcome(dir: string): Promise<WatchdogOutcome | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/outcome.json`)) as WatchdogOutcome;
  } catch {
    return undefined;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  // Unique per call, not per process: workers of one process share Deno.pid.
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Options of {@linkcode runWatchdog}. */
export interface RunWatchdogOptions {
  /** Restores the snapshot (the JSON text written by the CLI). */
  restore(snapshotJson: string, config: WatchdogConfig): Promise<void>;
  /** The clock. @default {Date.now} */
  now?: () => number;
  /** Writes a log line. @default {appends to `<dir>/watchdog.log`} */
  log?: (line: string) => void;
}

/**
 * The watchdog's main loop: arms (writes `watchdog.pid`), then waits for
 * `confirmed`, `revert` or the deadline, restores when needed, and writes
 * `outcome.json`.
 *
 * @param dir The pending directory (holds `config.json` and `snapshot.json`).
 * @param options How to restore; clock and log for tests.
 * @returns The outcome.
 *
 * @example
 * ```ts
 * import { runWatchdog } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ deadline: 0, cliPid: 1,
 *   firewall: { backend: "auto", hashPrefix: "rampart:", chainPrefixes: ["rp-"], insertMode: "insert", ipVersions: [4] } }));
 * await Deno.writeTextFile(`${dir}/snapshot.json`, "{}");
 * const outcome = await runWatchdog(dir, { restore: () => Promise.resolve(), log: () => {} });
 * console.log(outcome.outcome, outcome.reason); // reverted deadline
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runWatchdog(
  dir: string,
  options: RunWatchdogOptions,
): Promise<WatchdogOutcome> {
  const now = options.now ?? Date.now;
  const log = options.log ?? ((line: string) => {
    try {
      Deno.writeTextFileSync(`${dir}/watchdog.log`, `${new Date().toISOString()} ${line}\n`, {
        append: true,
      });
    } catch { /* nowhere to log */ }
  });
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`)) as WatchdogConfig;
  const snapshot = await Deno.readTextFile(`${dir}/snapshot.json`);
  await writeAtomic(`${dir}/watchdog.pid`, `${Deno.pid}\n`);
  log(`armed: reverting at ${new Date(config.deadline).toISOString()} unless confirmed`);
  let reason: WatchdogOutcome["reason"];
  while (true) {
    if (await exists(`${dir}/confirmed`)) {
      reason = "confirmed";
      break;
    }
    if (await exists(`${dir}/revert`)) {
      reason = "operator";
      break;
    }
    if (now() >= config.deadline) {
      reason = "deadline";
      break;
    }
    await sleep(Math.min(POLL_MS, Math.max(1, config.deadline - now())));
  }
  let outcome: WatchdogOutcome;
  if (reason === "confirmed") {
    log("confirmed: keeping the new rules");
    outcome = { outcome: "confirmed", reason, at: new Date().toISOString() };
  } else {
    log(`reverting (${reason === "deadline" ? "no confirmation in time" : "operator declined"})`);
    try {
      await options.restore(snapshot, config);
      log("reverted: the previous rules are back");
      outcome = { outcome: "reverted", reason, at: new Date().toISOString() };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      log(`revert FAILED: ${error}`);
      outcome = { outcome: "failed", reason, error, at: new Date().toISOString() };
    }
  }
  await writeAtomic(`${dir}/outcome.json`, JSON.stringify(outcome) + "\n");
  return outcome;
}

/** Options of {@linkcode armWatchdog}. */
export interface ArmWatchdogOptions {
  /** The state directory. */
  stateDir: string;
  /** The snapshot taken before the apply (JSON text). */
  snapshotJson: string;
  /** The firewall options the watchdog rebuilds. */
  firewall: WatchdogConfig["firewall"];
  /** How long the operator has to confirm. */
  timeoutMs: number;
  /**
   * Starts the watchdog process for a directory. The default runs
   * `deno run …/watchdog_main.ts <dir>` detached (own session, no terminal)
   * and unrefs it.
   */
  spawn?: (dir: string) => { pid: number; status: Promise<Deno.CommandStatus> };
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/** A pending apply, between arming the watchdog and its outcome. */
export class PendingConfirmation {
  /** The pending directory. */
  readonly dir: string;
  /** The watchdog's PID. */
  readonly pid: number;
  /** When the watchdog reverts (milliseconds since the epoch). */
  readonly deadline: number;

  /**
   * Wraps an armed watchdog.
   *
   * @param dir The pending directory.
   * @param options The PID and deadline.
   */
  constructor(dir: string, options: { pid: number; deadline: number }) {
    this.dir = dir;
    this.pid = options.pid;
    this.deadline = options.deadline;
  }

  /** Tells the watchdog to keep the new rules. */
  async confirm(): Promise<void> {
    await writeAtomic(`${this.dir}/confirmed`, `${Deno.pid}\n`);
  }

  /** Tells the watchdog to restore the snapshot now. */
  async revertNow(): Promise<void> {
    await writeAtomic(`${this.dir}/revert`, `${Deno.pid}\n`);
  }

  /**
   * Waits until the watchdog has written its outcome (or has died without one).
   *
   * @param signal Stops waiting (resolves `undefined`).
   * @returns The outcome, or `undefined` when the watchdog died or waiting was aborted.
   */
  async outcome(signal?: AbortSignal): Promise<WatchdogOutcome | undefined> {
    while (!signal?.aborted) {
      const outcome = await readOutcome(this.dir);
      if (outcome !== undefined) return outcome;
      if (!pidAlive(this.pid)) return await readOutcome(this.dir);
      await sleep(POLL_MS);
    }
    return undefined;
  }

  /**
   * Removes the pending directory (after the outcome was read), unless
   * another process (`rampart confirm`) confirmed it: that process still has
   * to read the outcome and removes the directory itself.
   */
  async remove(): Promise<void> {
    const by = await Deno.readTextFile(`${this.dir}/confirmed`).catch(() => undefined);
    if (by !== undefined && Number(by.trim()) !== Deno.pid) return;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Another apply is waiting for confirmation on the same target. */
export class PendingApplyError extends Error {
  /** The pending directory. */
  readonly dir: string;

  /**
   * Creates the error.
   *
   * @param dir The pending directory.
   */
  constructor(dir: string) {
    super(
      `Another apply is waiting for confirmation (${dir}): confirm it with 'rampart confirm' ` +
        "or wait for its watchdog to revert it",
    );
    this.name = "PendingApplyError";
    this.dir = dir;
  }
}

/** The permissions the watchdog process runs with. */
export function watchdogPermissions(dir: string, netns: string | undefined): string[] {
  const run = netns !== undefined ? ["ip"] : ["iptables", "ip6tables"].flatMap((f) => [
    f,
    `${f}-save`,
    `${f}-restore`,
    `${f}-nft`,
    `${f}-nft-save`,
    `${f}-nft-restore`,
    `${f}-legacy`,
    `${f}-legacy-save`,
    `${f}-legacy-restore`,
  ]);
  return [
    "--no-prompt",
    `--allow-read`,
    `--allow-write=${dir}`,
    `--allow-env`,
    `--allow-run=${run.join(",")}`,
  ];
}

/** Starts `watchdog_main.ts` detached, in its own session, with no terminal. */
function defaultSpawn(
  dir: string,
  netns: string | undefined,
): { pid: number; status: Promise<Deno.CommandStatus> } {
  const main = new URL("./watchdog_main.ts", import.meta.url);
  const args = ["run", ...watchdogPermissions(dir, netns)];
  if (main.protocol === "file:") {
    const config = new URL("../../deno.json", import.meta.url);
    try {
      Deno.statSync(config);
      args.push(`--config=${config.pathname}`);
    } catch { /* running from a published package: no config needed */ }
  }
  args.push(main.href, dir);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: "/",
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return { pid: child.pid, status: child.status };
}

/**
 * Writes the pending directory, starts the watchdog and waits until it is
 * armed. Call before applying; then {@linkcode PendingConfirmation.confirm}
 * or {@linkcode PendingConfirmation.revertNow}.
 *
 * @param options Snapshot, firewall options, timeout.
 * @returns The pending confirmation.
 * @throws {PendingApplyError} When a watchdog already waits on the same target.
 */
export async function armWatchdog(options: ArmWatchdogOptions): Promise<PendingConfirmation> {
  const now = options.now ?? Date.now;
  const dir = pendingDir(options.stateDir, options.firewall.netns);
  await Deno.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  if (await exists(dir)) {
    if (await liveWatchdog(dir) !== undefined) throw new PendingApplyError(dir);
    await Deno.remove(dir, { recursive: true });
  }
  await Deno.mkdir(dir, { mode: 0o700 });
  const deadline = now() + options.timeoutMs;
  const config: WatchdogConfig = { deadline, firewall: options.firewall, cliPid: Deno.pid };
  await writeAtomic(`${dir}/snapshot.json`, options.snapshotJson);
  await writeAtomic(`${dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  const child = (options.spawn ?? ((d: string) => defaultSpawn(d, options.firewall.netns)))(dir);
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  for (let waited = 0; waited < 30_000; waited += 20) {
    try {
      const pid = Number((await Deno.readTextFile(`${dir}/watchdog.pid`)).trim());
      if (pid > 0) return new PendingConfirmation(dir, { pid, deadline });
    } catch { /* not armed yet */ }
    if (exited) break;
    await sleep(20);
  }
  let log = "";
  try {
    log = (await Deno.readTextFile(`${dir}/watchdog.log`)).trim();
  } catch { /* none */ }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  throw new Error(
    `The confirm-timeout watchdog did not start${
      log === "" ? "" : `: ${log}`
    }; nothing was applied`,
  );
}

/** What {@linkcode confirmPending} found. */
export interface ConfirmResult {
  /** Whether a watchdog was waiting (and got the confirmation). */
  pending: boolean;
  /** Its outcome; when nothing was pending, the outcome of the last apply, if known. */
  outcome: WatchdogOutcome | undefined;
}

/**
 * Confirms a pending apply (what `rampart confirm` does) and waits for the
 * watchdog's answer.
 *
 * @param stateDir The state directory.
 * @param netns The namespace, or `undefined` for the host.
 * @returns Whether something was pending, and the outcome.
 */
export async function confirmPending(
  stateDir: string,
  netns: string | undefined,
): Promise<ConfirmResult> {
  const dir = pendingDir(stateDir, netns);
  const pid = await liveWatchdog(dir);
  if (pid === undefined) return { pending: false, outcome: await readOutcome(dir) };
  const pending = new PendingConfirmation(dir, { pid, deadline: 0 });
  await pending.confirm();
  // The applying CLI leaves the directory to us once we confirmed; the next
  // apply removes it.
  return { pending: true, outcome: await pending.outcome() };
}
