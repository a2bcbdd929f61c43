/**
 * Time, injectable so the engine's schedule can be tested exactly.
 *
 * @module
 */

/**
 * A source of time and delays.
 *
 * @example A manual clock for tests
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Clock } from "@rampart/iptables";
 * let t = 0;
 * const clock: Clock = { now: () => t, sleep: (ms) => { t += ms; return Promise.resolve(); } };
 * await clock.sleep(5);
 * assert.equal(clock.now(), 5);
 * ```
 */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/**
 * The real clock: `performance.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemClock } from "@rampart/iptables";
 * const clock = systemClock();
 * const t0 = clock.now();
 * await clock.sleep(1);
 * assert.ok(clock.now() >= t0);
 * ```
 */
export function systemClock(): Clock {
  return {
    now: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
