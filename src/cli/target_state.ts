/**
 * What a command finds in a target's state files before it starts: an
 * interrupted apply or remove (an intent record nobody holds), an apply left
 * unconfirmed with neither its watchdog nor its command running, or another
 * command at work.
 *
 * @module
 */
import {
  describeIntentRecord,
  type IntentRecord,
  intentRecordJson,
  readIntentRecord,
} from "./intent_file.ts";
import { pathExists } from "./durable.ts";
import { targetFiles } from "./state_dir.ts";
import { isTargetLocked, type LockHolder, readLockHolder } from "./target_lock.ts";
import { liveWatchdog, readDecision, readOutcome, type WatchdogConfig } from "./watchdog.ts";

/** An apply with `--confirm-timeout` that nobody will confirm or revert any more. */
export interface UnconfirmedApply {
  /** The pending directory. */
  dir: string;
  /** Its deadline (ISO 8601), when readable. */
  deadline?: string;
  /** The PID of the CLI that applied it, when readable. */
  cliPid?: number;
  /** The families it applied, when readable. */
  ipVersions?: (4 | 6)[];
}

/** What {@linkcode inspectTarget} found. */
export interface TargetState {
  /** An interrupted apply or remove (its intent record, with nobody holding the target). */
  interrupted?: IntentRecord;
  /** An unconfirmed apply whose watchdog and CLI are gone. */
  unconfirmed?: UnconfirmedApply;
  /** Another process holds the target right now (only when the caller does not). */
  busy?: LockHolder | Record<never, never>;
  /** A watchdog waits for confirmation (its PID). */
  watchdog?: number;
}

/**
 * Reads a target's state files. Never throws: an unreadable state directory
 * finds nothing.
 *
 * @param stateDir The state directory.
 * @param options The namespace, and whether the caller holds the target's lock.
 * @returns What is there.
 */
export async function inspectTarget(
  stateDir: string,
  options: { netns: string | undefined; holding: boolean },
): Promise<TargetState> {
  const files = targetFiles(stateDir, options.netns);
  const state: TargetState = {};
  try {
    const held = !options.holding && await isTargetLocked(files.lock);
    if (held) state.busy = await readLockHolder(files.lock) ?? {};
    const watchdog = await liveWatchdog(files.pending);
    if (watchdog !== undefined) state.watchdog = watchdog;
    if (held) return state; // its intent record, if any, is the holder's work in progress
    const record = await readIntentRecord(files.intent);
    if (record !== undefined) state.interrupted = record;
    if (
      watchdog === undefined && await pathExists(`${files.pending}/snapshot.json`) &&
      await pathExists(`${files.pending}/watchdog.pid`) &&
      await readOutcome(files.pending) === undefined &&
      (await readDecision(files.pending))?.decision !== "confirm"
    ) {
      const unconfirmed: UnconfirmedApply = { dir: files.pending };
      try {
        const config = JSON.parse(
          await Deno.readTextFile(`${files.pending}/config.json`),
        ) as WatchdogConfig;
        unconfirmed.deadline = new Date(config.deadline).toISOString();
        unconfirmed.cliPid = config.cliPid;
        unconfirmed.ipVersions = [...config.firewall.ipVersions];
      } catch { /* described without it */ }
      state.unconfirmed = unconfirmed;
    }
  } catch { /* no state to report */ }
  return state;
}

/**
 * The paragraphs a command prints about what it found (on stderr).
 *
 * @param state What {@linkcode inspectTarget} found.
 * @param options The target in words, and what the command will do about it.
 * @returns The paragraphs, each ending in a newline.
 */
export function targetStateNotes(
  state: TargetState,
  options: { target: string; remedy: "apply" | "remove" | "recover" | "none" },
): string[] {
  const notes: string[] = [];
  if (state.busy !== undefined) {
    const h = state.busy as Partial<LockHolder>;
    notes.push(
      `Note: another rampart command is changing ${options.target} right now${
        h.pid === undefined ? "" : ` (pid ${h.pid}, 'rampart ${h.command}', since ${h.since})`
      }; what you see may change.\n`,
    );
  }
  if (state.interrupted !== undefined) {
    const remedy = {
      apply: "This apply brings every table to the policy and clears the record.",
      remove: "This remove takes all of Rampart's rules out and clears the record.",
      recover: "",
      none: "'rampart apply FILES' completes it with your policy; 'rampart recover' puts back " +
        "Rampart's rules as they were before it.",
    }[options.remedy];
    const watchdog = state.watchdog === undefined
      ? ""
      : ` Its confirm-timeout watchdog (pid ${state.watchdog}) restores the previous rules at ` +
        "its deadline; until then nothing else can change the target.";
    notes.push(
      `INTERRUPTED: ${describeIntentRecord(state.interrupted, options)}.${
        watchdog === "" && remedy !== "" ? ` ${remedy}` : watchdog
      }\n`,
    );
  }
  if (state.unconfirmed !== undefined) {
    const u = state.unconfirmed;
    const remedy = {
      apply: "This apply replaces them with the policy.",
      remove: "This remove takes all of Rampart's rules out.",
      recover: "",
      none: "'rampart recover' restores the rules from before it; 'rampart apply FILES' " +
        "keeps your policy.",
    }[options.remedy];
    const about = [
      u.cliPid === undefined ? "" : `pid ${u.cliPid}`,
      u.deadline === undefined ? "" : `deadline ${u.deadline}`,
    ].filter((s) => s !== "").join(", ");
    notes.push(
      `UNCONFIRMED: an apply with --confirm-timeout on ${options.target}${
        about === "" ? "" : ` (${about})`
      } was never confirmed, and neither its watchdog nor its command runs any more: its rules ` +
        `are still in place (${u.dir}).${remedy === "" ? "" : ` ${remedy}`}\n`,
    );
  }
  return notes;
}

/**
 * What a command found, for its `--json` document.
 *
 * @param state What {@linkcode inspectTarget} found.
 * @returns `interrupted` and `unconfirmed` fields (empty when neither).
 */
export function targetStateJson(state: TargetState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (state.interrupted !== undefined) out.interrupted = intentRecordJson(state.interrupted);
  if (state.unconfirmed !== undefined) out.unconfirmed = state.unconfirmed;
  return out;
}
