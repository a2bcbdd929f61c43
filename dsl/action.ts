/**
 * The contract every action implements.
 *
 * @module
 */
import type { Features } from "./features.ts";

/** A value an action or match constructor was called with. */
export type DslArg = string | number | boolean | undefined | readonly DslArg[] | {
  readonly [key: string]: DslArg;
};

/**
 * What a rule does with a packet that matches: the `--jump …` part of a rule.
 *
 * `kind` is the name of the constructor function that built the action and
 * `args` the arguments it was called with, so `kind(...args)` builds an equal
 * action (used by YAML files, the REPL's TypeScript export and the engine's
 * placement checks).
 *
 * @example Rendering an action
 * ```ts
 * import assert from "node:assert/strict";
 * import { Jump } from "@rampart/iptables";
 * const action = Jump("rp-input");
 * assert.equal(action.toFragment(), "--jump rp-input");
 * assert.equal(String(action), "Jump->rp-input");
 * ```
 */
export interface Action {
  /** The constructor function's name, e.g. `"Jump"`. */
  readonly kind: string;
  /** The constructor's arguments, as given (trailing `undefined`s dropped). */
  readonly args: readonly DslArg[];
  /** Renders the iptables fragment, e.g. `--jump ACCEPT`. */
  toFragment(features?: Features): string;
  /** A short human-readable form, e.g. `Jump->rp-input`. */
  toString(): string;
}

/**
 * An action that sends packets to another chain (`Jump` or `Goto`); the engine
 * follows these to decide which chains are reachable.
 *
 * @example Following a reference
 * ```ts
 * import assert from "node:assert/strict";
 * import { Goto, isReferrer } from "@rampart/iptables";
 * const action = Goto("rp-fw");
 * assert.ok(isReferrer(action));
 * assert.equal(action.target, "rp-fw");
 * ```
 */
export interface ReferrerAction extends Action {
  /** The chain the action jumps or goes to. */
  readonly target: string;
}

/**
 * Tells whether an action refers to another chain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, isReferrer, Jump } from "@rampart/iptables";
 * assert.equal(isReferrer(Jump("rp-x")), true);
 * assert.equal(isReferrer(Accept()), false);
 * ```
 */
export function isReferrer(action: Action | undefined): action is ReferrerAction {
  return action !== undefined && (action.kind === "Jump" || action.kind === "Goto");
}
