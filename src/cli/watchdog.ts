/**
 * The confirm-timeout watchdog: a detached process that restores the rules
 * taken before an apply unless the operator confirms in time.
 *
 * The CLI holds the target's lock (see `target_lock.ts`) for its whole run.
 * It snapshots our rules, writes the snapshot and the firewall's options into
 * a pending directory (`<stateDir>/pending-<host|netns-NAME>`), and starts the
 * watchdog (`deno run …/watchdog_main.ts <dir> <applyId>`) in its own session
 * with no terminal, so it outlives the CLI, the terminal and the SSH
 * connection. The watchdog takes an exclusive flock on `watchdog.lock` (held
 * until it exits: that is how everyone tells it is alive) and writes
 * `watchdog.pid`; then the CLI applies and writes `applied`. Files in the
 * directory are the whole protocol:
 *
 * - `decision` is created exactly once (an atomic hard link, so of two
 *   racing writers exactly one wins): `confirm` (the CLI's prompt or
 *   `rampart confirm`), `revert` (the operator declined, or the apply
 *   failed), `deadline` (the watchdog, when time is up) or `takeover` (the
 *   CLI, when the watchdog died).
 * - `outcome.json` (written by whoever acted on the decision): `confirmed`,
 *   `reverted` or `failed`.
 *
 * Before restoring, the watchdog waits until the CLI has finished writing
 * (`applied`) or is gone (its lock is free): then it takes the target's lock
 * itself, and if the CLI died in the middle of the apply it also settles the
 * intent record the CLI left. If the watchdog dies while the CLI waits, the
 * CLI restores the snapshot itself (`PendingConfirmation.takeOver`). A
 * restore puts back the intent record of an earlier interrupted apply that
 * this apply replaced (`interrupted.jsonl`), since the kernel is then as that
 * one left it.
 *
 * The log (`<stateDir>/<host|netns-NAME>.watchdog.log`) is kept across
 * applies; when it passes {@linkcode WATCHDOG_LOG_LIMIT} bytes at the start
 * of a watchdog it is renamed to `….watchdog.log.1` (replacing the older one).
 *
 * @module
 */
import { createExclusive, pathExists, removeDurable, writeDurable } from "./durable.ts";
import { targetFiles } from "./state_dir.ts";
import { isTargetLocked, lockTarget, type TargetLock } from "./target_lock.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** What the watchdog needs to rebuild the firewall and restore the snapshot. */
export interface WatchdogConfig {
  /** When to revert (milliseconds since the epoch). */
  deadline: number;
  /** Options of the `Firewall` to restore through. */
  firewall: {
    netns?: string;
    backend: IptablesVariant | "auto";
    hashPrefix: string;
    chainPrefixes: string[];
    insertMode: "insert" | "append";
    ipVersions: (4 | 6)[];
  };
  /** The CLI process that started the watchdog (for the log). */
  cliPid: number;
  /** Identifies this apply: a watchdog given another refuses the directory. */
  applyId?: string;
  /** The state directory (target lock, intent record, log); absent: log in the pending directory. */
  stateDir?: string;
}

/** The end of a pending confirmation. */
export interface WatchdogOutcome {
  /** `confirmed`: rules kept; `reverted`: snapshot restored; `failed`: the restore failed. */
  outcome: "confirmed" | "reverted" | "failed";
  /**
   * Why: `deadline`, `operator` (declined, revert requested, or the apply
   * failed), `confirmed`, or `watchdog-stopped` (the watchdog died, so the
   * CLI restored the snapshot itself, or `rampart recover` did).
   */
  reason: "deadline" | "operator" | "confirmed" | "watchdog-stopped";
  /** Who acted: the watchdog, the applying CLI, or `rampart recover`. @default {"watchdog"} */
  by?: "watchdog" | "cli" | "recover";
  /** The error message when `failed`. */
  error?: string;
  /** When the CLI died in the middle of the apply: what the intent record said. */
  interrupted?: string;
  /** When it ended (ISO 8601). */
  at: string;
}

/** The one decision a pending confirmation gets (file `decision`). */
export interface WatchdogDecision {
  /** `confirm`, `revert` (declined or failed), `deadline`, or `takeover` (the watchdog died). */
  decision: "confirm" | "revert" | "deadline" | "takeover";
  /** The process that decided. */
  pid: number;
  /** When (ISO 8601). */
  at: string;
}

/** The watchdog log is rotated when it is larger than this at a watchdog's start (bytes). */
export const WATCHDOG_LOG_LIMIT = 256 * 1024;

const POLL_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
 * import assert from "node:assert/strict";
 * import { defaultStateDir } from "@rampart/iptables/cli";
 * assert.equal(defaultStateDir(() => undefined, 0), "/run/rampart");
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
 * import assert from "node:assert/strict";
 * import { pendingDir } from "@rampart/iptables/cli";
 * assert.equal(pendingDir("/run/rampart", "lab"), "/run/rampart/pending-netns-lab");
 * ```
 */
export function pendingDir(stateDir: string, netns: string | undefined): string {
  return targetFiles(stateDir, netns).pending;
}

/**
 * Reads the watchdog's PID and tells whether it is still running (it holds
 * the flock on `watchdog.lock` until it exits).
 *
 * @param dir The pending directory.
 * @returns The PID when the watchdog runs, else `undefined`.
 */
export async function liveWatchdog(dir: string): Promise<number | undefined> {
  if (!await isTargetLocked(`${dir}/watchdog.lock`)) return undefined;
  try {
    const pid = Number((await Deno.readTextFile(`${dir}/watchdog.pid`)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // locked, not armed yet
  }
}

/** The PID the watchdog wrote once armed (it may have ended since). */
async function armedPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(`${dir}/watchdog.pid`)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the outcome, if one was written.
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

/**
 * Reads the decision, if one was taken.
 *
 * @param dir The pending directory.
 * @returns The decision, or `undefined`.
 */
export async function readDecision(dir: string): Promise<WatchdogDecision | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/decision`)) as WatchdogDecision;
  } catch {
    return undefined;
  }
}

/**
 * Takes the decision unless someone already did (exactly one caller wins).
 *
 * @param dir The pending directory.
 * @param decision The decision to take.
 * @returns Whether this call took it, and the decision that stands.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { claimDecision } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * const [a, b] = await Promise.all([claimDecision(dir, "confirm"), claimDecision(dir, "deadline")]);
 * assert.notEqual(a.won, b.won); // exactly one wins
 * assert.equal(a.decision.decision, b.decision.decision); // and both see its decision
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function claimDecision(
  dir: string,
  decision: WatchdogDecision["decision"],
): Promise<{ won: boolean; decision: WatchdogDecision }> {
  const mine: WatchdogDecision = { decision, pid: Deno.pid, at: new Date().toISOString() };
  if (await createExclusive(`${dir}/decision`, JSON.stringify(mine) + "\n")) {
    return { won: true, decision: mine };
  }
  for (let i = 0; i < 50; i++) {
    const standing = await readDecision(dir);
    if (standing !== undefined) return { won: false, decision: standing };
    await sleep(10);
  }
  throw new Error(`The decision in ${dir} cannot be read`);
}

/**
 * Appends timestamped lines to a watchdog log (the CLI writes its own lines
 * about a watchdog there too).
 *
 * @param path The log file.
 * @returns The line writer (never throws).
 */
export function watchdogLogger(path: string): (line: string) => void {
  return (line) => {
    try {
      Deno.writeTextFileSync(path, `${new Date().toISOString()} ${line}\n`, {
        append: true,
        create: true,
        mode: 0o600,
      });
    } catch { /* nowhere to log */ }
  };
}

/** Renames the log to `.1` when it is over the limit. */
function rotateLog(path: string): void {
  try {
    if (Deno.statSync(path).size > WATCHDOG_LOG_LIMIT) Deno.renameSync(path, `${path}.1`);
  } catch { /* no log yet */ }
}

/**
 * Where a pending directory's watchdog logs.
 *
 * @param dir The pending directory.
 * @param config Its configuration.
 * @returns The log file.
 */
export function watchdogLogPath(dir: string, config: WatchdogConfig): string {
  return config.stateDir === undefined
    ? `${dir}/watchdog.log`
    : targetFiles(config.stateDir, config.firewall.netns).log;
}

async function readConfig(dir: string): Promise<WatchdogConfig> {
  return JSON.parse(await Deno.readTextFile(`${dir}/config.json`)) as WatchdogConfig;
}

/** Whether the applying CLI still runs (it holds the target lock; without a state dir: its PID). */
async function cliAlive(config: WatchdogConfig): Promise<boolean> {
  if (config.stateDir === undefined) return pidAlive(config.cliPid);
  return await isTargetLocked(targetFiles(config.stateDir, config.firewall.netns).lock);
}

/** Options of {@linkcode revertPending}. */
export interface RevertPendingOptions {
  /** Restores the snapshot (the JSON text written by the CLI). */
  restore(snapshotJson: string, config: WatchdogConfig): Promise<void>;
  /** Why. */
  reason: WatchdogOutcome["reason"];
  /** Who. */
  by: NonNullable<WatchdogOutcome["by"]>;
  /**
   * Whether the caller owns the target (holds its lock, or the CLI is the
   * caller): only then is the intent record settled.
   */
  ownsTarget: boolean;
  /** Writes a log line. */
  log(line: string): void;
  /** Words for an interrupted apply, when the CLI died in the middle of it. */
  interrupted?: string;
}

/**
 * Restores a pending apply's snapshot, settles the intent record (puts back
 * the one this apply replaced, or removes the apply's own), and writes
 * `outcome.json`. Used by the watchdog, by the CLI when the watchdog died,
 * and by `rampart recover`.
 *
 * @param dir The pending directory.
 * @param options How to restore, why, who, and the log.
 * @returns The outcome written.
 */
export async function revertPending(
  dir: string,
  options: RevertPendingOptions,
): Promise<WatchdogOutcome> {
  const config = await readConfig(dir);
  const snapshot = await Deno.readTextFile(`${dir}/snapshot.json`);
  const base = {
    reason: options.reason,
    by: options.by,
    ...(options.interrupted === undefined ? {} : { interrupted: options.interrupted }),
  };
  let outcome: WatchdogOutcome;
  try {
    await options.restore(snapshot, config);
    options.log("reverted: the previous rules are back");
    outcome = { outcome: "reverted", ...base, at: new Date().toISOString() };
    if (options.ownsTarget && config.stateDir !== undefined) {
      const intent = targetFiles(config.stateDir, config.firewall.netns).intent;
      const previous = await Deno.readTextFile(`${dir}/interrupted.jsonl`).catch(() => undefined);
      if (previous !== undefined) {
        await writeDurable(intent, previous);
        options.log(`the record of the earlier interrupted apply is back in ${intent}`);
      } else await removeDurable(intent);
    }
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    options.log(`revert FAILED: ${error}`);
    outcome = { outcome: "failed", ...base, error, at: new Date().toISOString() };
  }
  await writeDurable(`${dir}/outcome.json`, JSON.stringify(outcome) + "\n");
  return outcome;
}

/** Options of {@linkcode runWatchdog}. */
export interface RunWatchdogOptions {
  /** Restores the snapshot (the JSON text written by the CLI). */
  restore(snapshotJson: string, config: WatchdogConfig): Promise<void>;
  /** The apply this watchdog was started for (refuses a directory with another). */
  applyId?: string;
  /** Describes the intent record the CLI left when it died in the middle of the apply. */
  describeInterrupted?(config: WatchdogConfig): Promise<string | undefined>;
  /** The clock. @default {Date.now} */
  now?: () => number;
  /** Writes a log line. @default {appends to the target's watchdog log} */
  log?: (line: string) => void;
}

/**
 * The watchdog's main loop: arms (locks `watchdog.lock`, writes
 * `watchdog.pid`), waits for a decision or the deadline, then keeps the new
 * rules or (once the CLI has finished writing or is gone) restores the
 * snapshot, and writes `outcome.json`.
 *
 * @param dir The pending directory (holds `config.json` and `snapshot.json`).
 * @param options How to restore; clock and log for tests.
 * @returns The outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runWatchdog } from "@rampart/iptables/cli";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ deadline: 0, cliPid: 1,
 *   firewall: { backend: "auto", hashPrefix: "rampart:", chainPrefixes: ["rp-"], insertMode: "insert", ipVersions: [4] } }));
 * await Deno.writeTextFile(`${dir}/snapshot.json`, "{}");
 * await Deno.writeTextFile(`${dir}/applied`, "1");
 * const outcome = await runWatchdog(dir, { restore: () => Promise.resolve(), log: () => {} });
 * assert.equal(outcome.outcome, "reverted");
 * assert.equal(outcome.reason, "deadline");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runWatchdog(
  dir: string,
  options: RunWatchdogOptions,
): Promise<WatchdogOutcome> {
  const now = options.now ?? Date.now;
  const lockFile = await Deno.open(`${dir}/watchdog.lock`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  let targetLock: TargetLock | undefined;
  try {
    if (!lockFile.tryLockSync(true)) throw new Error(`Another watchdog is armed in ${dir}`);
    const config = await readConfig(dir);
    if (options.applyId !== undefined && config.applyId !== options.applyId) {
      throw new Error(
        `${dir} belongs to another apply (${config.applyId}), not ${options.applyId}`,
      );
    }
    let log = options.log;
    if (log === undefined) {
      const path = watchdogLogPath(dir, config);
      rotateLog(path);
      log = watchdogLogger(path);
    }
    await Deno.readTextFile(`${dir}/snapshot.json`); // fail before arming if it is missing
    await writeDurable(`${dir}/watchdog.pid`, `${Deno.pid}\n`);
    log(
      `armed (pid ${Deno.pid}, CLI pid ${config.cliPid}): reverting at ${
        new Date(config.deadline).toISOString()
      } unless confirmed`,
    );
    let decision = await readDecision(dir);
    while (decision === undefined) {
      if (now() >= config.deadline) {
        decision = (await claimDecision(dir, "deadline")).decision;
        break;
      }
      await sleep(Math.min(POLL_MS, Math.max(1, config.deadline - now())));
      decision = await readDecision(dir);
    }
    const cliGone = async () => !await pathExists(`${dir}/applied`) && !await cliAlive(config);
    if (decision.decision === "confirm") {
      const interrupted = await cliGone();
      log(
        `confirmed by pid ${decision.pid}: keeping the new rules` +
          (interrupted ? " (the CLI had not finished applying: the intent record stays)" : ""),
      );
      const outcome: WatchdogOutcome = {
        outcome: "confirmed",
        reason: "confirmed",
        by: "watchdog",
        at: new Date().toISOString(),
      };
      await writeDurable(`${dir}/outcome.json`, JSON.stringify(outcome) + "\n");
      return outcome;
    }
    if (decision.decision === "takeover") {
      throw new Error(`pid ${decision.pid} took over: it restores the rules`);
    }
    log(
      `reverting (${
        decision.decision === "deadline" ? "no confirmation in time" : "operator declined"
      })`,
    );
    // Never restore while the CLI is still writing tables: wait until it has
    // finished (`applied`) or is gone.
    let waitingLogged = false;
    while (!await pathExists(`${dir}/applied`) && await cliAlive(config)) {
      if (!waitingLogged) log(`waiting for the CLI (pid ${config.cliPid}) to finish writing`);
      waitingLogged = true;
      await sleep(POLL_MS);
    }
    let interrupted: string | undefined;
    let ownsTarget = false;
    if (!await pathExists(`${dir}/applied`) && config.stateDir !== undefined) {
      // The CLI died before it finished: hold the target while we restore.
      const path = targetFiles(config.stateDir, config.firewall.netns).lock;
      for (let i = 0; targetLock === undefined && i < 600; i++) {
        try {
          targetLock = await lockTarget(path, {
            command: `watchdog (reverting ${dir})`,
            target: "the target",
            graceMs: 0,
          });
        } catch {
          await sleep(POLL_MS);
        }
      }
      ownsTarget = targetLock !== undefined;
      interrupted = await options.describeInterrupted?.(config);
      if (interrupted !== undefined) log(`the CLI died in the middle of the apply: ${interrupted}`);
    }
    return await revertPending(dir, {
      restore: options.restore,
      reason: decision.decision === "deadline" ? "deadline" : "operator",
      by: "watchdog",
      ownsTarget,
      log,
      ...(interrupted === undefined ? {} : { interrupted }),
    });
  } finally {
    targetLock?.release();
    lockFile.close();
  }
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
   * An earlier interrupted intent record this apply replaces (its text): a
   * revert puts it back.
   */
  interruptedRecord?: string;
  /**
   * Starts the watchdog process for a directory. The default runs
   * `deno run …/watchdog_main.ts <dir> <applyId>` detached (own session, no
   * terminal) and unrefs it.
   */
  spawn?: (dir: string, applyId: string) => { pid: number; status: Promise<Deno.CommandStatus> };
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

  /**
   * Tells the watchdog to keep the new rules, unless a decision was already taken.
   *
   * @returns Whether this call decided, and the decision that stands.
   */
  confirm(): Promise<{ won: boolean; decision: WatchdogDecision }> {
    return claimDecision(this.dir, "confirm");
  }

  /**
   * Tells the watchdog to restore the snapshot now, unless a decision was already taken.
   *
   * @returns Whether this call decided, and the decision that stands.
   */
  revertNow(): Promise<{ won: boolean; decision: WatchdogDecision }> {
    return claimDecision(this.dir, "revert");
  }

  /** Tells the watchdog that the CLI has finished writing (it never restores before). */
  async applied(): Promise<void> {
    await writeDurable(`${this.dir}/applied`, `${Deno.pid}\n`);
  }

  /**
   * Waits until the outcome is written, or the watchdog has died without one.
   *
   * @param signal Stops waiting (resolves `undefined`).
   * @returns The outcome, or `undefined` when the watchdog died or waiting was aborted.
   */
  async outcome(signal?: AbortSignal): Promise<WatchdogOutcome | undefined> {
    while (!signal?.aborted) {
      const outcome = await readOutcome(this.dir);
      if (outcome !== undefined) return outcome;
      if (await liveWatchdog(this.dir) === undefined) return await readOutcome(this.dir);
      await sleep(POLL_MS);
    }
    return undefined;
  }

  /**
   * The watchdog died without an outcome: the CLI (still holding the
   * snapshot) acts in its place. A confirmation that was already given
   * stands; otherwise the snapshot is restored now (the safety net is gone).
   *
   * @param options How to restore, and the log.
   * @returns The outcome (also written to `outcome.json`).
   */
  async takeOver(options: {
    restore(snapshotJson: string, config: WatchdogConfig): Promise<void>;
    log(line: string): void;
  }): Promise<WatchdogOutcome> {
    const { won, decision } = await claimDecision(this.dir, "takeover");
    options.log(
      `the watchdog (pid ${this.pid}) stopped without an outcome; the CLI (pid ${Deno.pid}) takes over` +
        (won ? "" : ` (decision already taken: ${decision.decision})`),
    );
    if (!won && decision.decision === "confirm") {
      const outcome: WatchdogOutcome = {
        outcome: "confirmed",
        reason: "confirmed",
        by: "cli",
        at: new Date().toISOString(),
      };
      options.log("confirmed: keeping the new rules");
      await writeDurable(`${this.dir}/outcome.json`, JSON.stringify(outcome) + "\n");
      return outcome;
    }
    return await revertPending(this.dir, {
      restore: options.restore,
      reason: !won && decision.decision === "deadline" ? "deadline" : "watchdog-stopped",
      by: "cli",
      ownsTarget: true,
      log: options.log,
    });
  }

  /**
   * Ends the pending apply once its outcome is known: removes the snapshot
   * and the configuration, keeps `decision` and `outcome.json` (so a late
   * `rampart confirm` can say what happened); the next apply removes the
   * directory.
   */
  async finish(): Promise<void> {
    for (const f of ["snapshot.json", "config.json", "interrupted.jsonl"]) {
      await Deno.remove(`${this.dir}/${f}`).catch(() => {});
    }
  }

  /** Removes the pending directory. */
  async remove(): Promise<void> {
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
        "or wait for its watchdog to revert it; nothing was changed",
    );
    this.name = "PendingApplyError";
    this.dir = dir;
  }
}

/**
 * The permissions the watchdog process runs with: read, write only in the
 * state directory (the pending directory's parent), environment, and the
 * iptables binaries (only `ip` in a namespace).
 *
 * @param dir The pending directory.
 * @param netns The namespace, or `undefined` for the host.
 * @returns `deno run` flags.
 */
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
  const at = dir.lastIndexOf("/");
  const stateDir = at > 0 ? dir.slice(0, at) : dir;
  return [
    "--no-prompt",
    `--allow-read`,
    `--allow-write=${stateDir}`,
    `--allow-env`,
    `--allow-run=${run.join(",")}`,
  ];
}

/** Starts `watchdog_main.ts` detached, in its own session, with no terminal. */
function defaultSpawn(
  dir: string,
  applyId: string,
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
  args.push(main.href, dir, applyId);
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
 * armed. Call before applying, holding the target's lock; then
 * {@linkcode PendingConfirmation.applied}, and
 * {@linkcode PendingConfirmation.confirm} or
 * {@linkcode PendingConfirmation.revertNow}.
 *
 * @param options Snapshot, firewall options, timeout.
 * @returns The pending confirmation.
 * @throws {PendingApplyError} When a watchdog already waits on the same target.
 */
export async function armWatchdog(options: ArmWatchdogOptions): Promise<PendingConfirmation> {
  const now = options.now ?? Date.now;
  const dir = pendingDir(options.stateDir, options.firewall.netns);
  await Deno.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  if (await pathExists(dir)) {
    if (await liveWatchdog(dir) !== undefined) throw new PendingApplyError(dir);
    await Deno.remove(dir, { recursive: true });
  }
  await Deno.mkdir(dir, { mode: 0o700 });
  const deadline = now() + options.timeoutMs;
  const applyId = crypto.randomUUID();
  const config: WatchdogConfig = {
    deadline,
    firewall: options.firewall,
    cliPid: Deno.pid,
    applyId,
    stateDir: options.stateDir,
  };
  await writeDurable(`${dir}/snapshot.json`, options.snapshotJson);
  if (options.interruptedRecord !== undefined) {
    await writeDurable(`${dir}/interrupted.jsonl`, options.interruptedRecord);
  }
  await writeDurable(`${dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  const spawn = options.spawn ??
    ((d: string, id: string) => defaultSpawn(d, id, options.firewall.netns));
  const child = spawn(dir, applyId);
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  for (let waited = 0; waited < 30_000; waited += 20) {
    // Armed once it wrote its PID (holding its lock), even if a decision
    // already ended it.
    const pid = await armedPid(dir);
    if (pid !== undefined) return new PendingConfirmation(dir, { pid, deadline });
    if (exited) break;
    await sleep(20);
  }
  const log = (await Deno.readTextFile(watchdogLogPath(dir, config)).catch(() => "")).trim()
    .split("\n").at(-1) ?? "";
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  throw new Error(
    `The confirm-timeout watchdog did not start${
      log === "" ? "" : `: ${log}`
    }; nothing was applied`,
  );
}

/** What {@linkcode confirmPending} found. */
export interface ConfirmResult {
  /** Whether an apply was waiting and this call confirmed it. */
  pending: boolean;
  /** Its outcome; when nothing was pending, the outcome of the last apply, if known. */
  outcome: WatchdogOutcome | undefined;
  /** The decision that stands (this call's, or an earlier one). */
  decision?: WatchdogDecision;
  /**
   * Neither the watchdog nor the applying CLI runs any more and nothing was
   * decided: the unconfirmed rules are still in place (`rampart recover`).
   */
  stale?: boolean;
  /** This call confirmed an apply whose CLI died before it finished writing. */
  unfinished?: boolean;
}

/**
 * Confirms a pending apply (what `rampart confirm` does), exactly once: of
 * several confirmations (and the watchdog's deadline) exactly one decides.
 *
 * @param stateDir The state directory.
 * @param netns The namespace, or `undefined` for the host.
 * @returns Whether this call confirmed, and what stands.
 */
export async function confirmPending(
  stateDir: string,
  netns: string | undefined,
): Promise<ConfirmResult> {
  const dir = pendingDir(stateDir, netns);
  if (!await pathExists(dir)) return { pending: false, outcome: undefined };
  const standing = await readDecision(dir);
  if (standing !== undefined) {
    return { pending: false, outcome: await readOutcome(dir), decision: standing };
  }
  // Nothing waits before the watchdog is armed (the apply has not started).
  if (await armedPid(dir) === undefined) return { pending: false, outcome: undefined };
  const watchdog = await liveWatchdog(dir) !== undefined;
  const cli = await isTargetLocked(targetFiles(stateDir, netns).lock);
  if (!watchdog && !cli) {
    const outcome = await readOutcome(dir);
    return outcome === undefined
      ? { pending: false, outcome, stale: await pathExists(`${dir}/snapshot.json`) }
      : { pending: false, outcome };
  }
  const { won, decision } = await claimDecision(dir, "confirm");
  if (!won) return { pending: false, outcome: await readOutcome(dir), decision };
  const unfinished = !cli && !await pathExists(`${dir}/applied`);
  return {
    pending: true,
    outcome: { outcome: "confirmed", reason: "confirmed", at: decision.at },
    decision,
    ...(unfinished ? { unfinished } : {}),
  };
}
