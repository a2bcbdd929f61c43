/**
 * The files of one target (this host, or one network namespace) in the CLI's
 * state directory.
 *
 * @module
 */

/** Where the CLI keeps the state of one target. */
export interface TargetFiles {
  /** `host` or `netns-NAME`. */
  name: string;
  /** Locked (flock) by every command that writes to the target; never deleted. */
  lock: string;
  /** The intent record of an apply or remove in progress (JSON lines). */
  intent: string;
  /** The confirm-timeout watchdog's log (and the CLI's lines about it). */
  log: string;
  /** The directory of an apply waiting for confirmation. */
  pending: string;
}

/**
 * The state files of a target.
 *
 * @param stateDir The state directory.
 * @param netns The namespace, or `undefined` for this host.
 * @returns Their paths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { targetFiles } from "@rampart/iptables/cli";
 * const files = targetFiles("/run/rampart", "lab");
 * assert.equal(files.lock, "/run/rampart/netns-lab.lock");
 * assert.equal(files.intent, "/run/rampart/netns-lab.intent.jsonl");
 * assert.equal(files.log, "/run/rampart/netns-lab.watchdog.log");
 * assert.equal(files.pending, "/run/rampart/pending-netns-lab");
 * ```
 */
export function targetFiles(stateDir: string, netns: string | undefined): TargetFiles {
  const name = netns === undefined ? "host" : `netns-${netns}`;
  return {
    name,
    lock: `${stateDir}/${name}.lock`,
    intent: `${stateDir}/${name}.intent.jsonl`,
    log: `${stateDir}/${name}.watchdog.log`,
    pending: `${stateDir}/pending-${name}`,
  };
}
