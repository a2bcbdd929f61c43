/**
 * Actions: what a rule does with a packet (`--jump ACCEPT`, `--goto …`, …).
 *
 * Each constructor validates its arguments at the call (throwing
 * {@linkcode RuleError} with `field` set to `"<Constructor>.<param>"`, e.g.
 * `"Log.prefix"`) and returns an instance of the matching exported class.
 * `kind` is the constructor's name and `args` its arguments as given
 * (trailing `undefined`s dropped), so `kind(...args)` rebuilds an equal
 * action. Whether an action works where its rule is placed (NAT only in the
 * nat table, REJECT only in filter, …) is checked by the engine.
 *
 * @module
 */
import type { Action, DslArg, ReferrerAction } from "./action.ts";
import type { Features } from "./features.ts";
import { invalid } from "./errors.ts";
import {
  checkBoolean,
  checkInt,
  checkLimitBurst,
  checkLogPrefix,
  checkMarkWithMask,
  checkMasqPorts,
  checkNatAddressRange,
  checkNatSpec,
  checkNflogPrefix,
  checkNonZeroMark,
  checkPort,
  checkRejectType,
  checkUint32,
  checkUserChainName,
  hex,
  UINT32_MAX,
} from "./validate.ts";
import type { RejectType } from "./reject_type.ts";

export type { RejectType } from "./reject_type.ts";

const NO_ARGS: readonly DslArg[] = Object.freeze([]);

/** The arguments as given, trailing `undefined`s dropped, frozen. */
function argsOf(...args: DslArg[]): readonly DslArg[] {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  if (n === 0) return NO_ARGS;
  // The rest array is this call's own: frozen in place unless it must shrink.
  return Object.freeze(n === args.length ? args : args.slice(0, n));
}

/**
 * Flags of {@linkcode Masq} and {@linkcode Snat}: `--random`,
 * `--random-fully` and (SNAT only) `--persistent`, printed in that order.
 * `randomFully` absent leaves it to the host's features (`--random-fully`
 * where the kernel supports it), as before; `true` or `false` fixes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Masq, type NatOptions } from "@rampart/iptables";
 * const plain: NatOptions = { randomFully: false };
 * assert.equal(Masq(undefined, plain).toFragment({ masqFullyRandom: true }), "--jump MASQUERADE");
 * ```
 */
export interface NatOptions {
  /** `--random`: randomise the source port mapping. */
  readonly random?: boolean;
  /** `--random-fully`: fully randomise it (absent: when the host supports it). */
  readonly randomFully?: boolean;
  /** `--persistent` (SNAT only): the same address for a client across connections. */
  readonly persistent?: boolean;
}

function checkNatOptions(field: string, value: unknown, persistent: boolean): NatOptions {
  if (value === undefined) return Object.freeze({});
  const keys = persistent ? ["random", "randomFully", "persistent"] : ["random", "randomFully"];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(field, value, `an options object with the keys ${keys.join(", ")}`);
  }
  const given = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(given)) {
    if (!keys.includes(k)) throw invalid(`${field}.${k}`, v, `one of the keys ${keys.join(", ")}`);
  }
  const out: Record<string, boolean> = {};
  for (const k of keys) {
    if (given[k] !== undefined) out[k] = checkBoolean(`${field}.${k}`, given[k]);
  }
  return Object.freeze(out);
}

/** The options given, in the keys' order, unknown keys refused. */
function ordered(field: string, options: object, keys: readonly string[]): Record<string, DslArg> {
  const given = options as Record<string, unknown>;
  for (const [k, v] of Object.entries(given)) {
    if (!keys.includes(k)) throw invalid(`${field}.${k}`, v, `one of the keys ${keys.join(", ")}`);
  }
  const out: Record<string, DslArg> = {};
  for (const k of keys) if (given[k] !== undefined) out[k] = given[k] as DslArg;
  return out;
}

function natFlags(options: NatOptions, hostFullyRandom: boolean): string {
  let s = options.random === true ? " --random" : "";
  if (options.randomFully ?? hostFullyRandom) s += " --random-fully";
  if (options.persistent === true) s += " --persistent";
  return s;
}

/**
 * `--jump ACCEPT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AcceptAction } from "@rampart/iptables";
 * assert.equal(new AcceptAction().toFragment(), "--jump ACCEPT");
 * ```
 */
export class AcceptAction implements Action {
  /** Always `"Accept"`. */
  readonly kind = "Accept";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump ACCEPT`. */
  toFragment(_features?: Features): string {
    return "--jump ACCEPT";
  }
  /** `Accept`. */
  toString(): string {
    return "Accept";
  }
}

/**
 * Accepts the packet: `--jump ACCEPT`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept } from "@rampart/iptables";
 * assert.equal(Accept().toFragment(), "--jump ACCEPT");
 * assert.equal(String(Accept()), "Accept");
 * ```
 */
export function Accept(): AcceptAction {
  return new AcceptAction();
}

/**
 * `--jump DROP`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DropAction } from "@rampart/iptables";
 * assert.equal(new DropAction().toFragment(), "--jump DROP");
 * ```
 */
export class DropAction implements Action {
  /** Always `"Drop"`. */
  readonly kind = "Drop";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump DROP`. */
  toFragment(_features?: Features): string {
    return "--jump DROP";
  }
  /** `Drop`. */
  toString(): string {
    return "Drop";
  }
}

/**
 * Drops the packet: `--jump DROP`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Drop } from "@rampart/iptables";
 * assert.equal(Drop().toFragment(), "--jump DROP");
 * assert.equal(String(Drop()), "Drop");
 * ```
 */
export function Drop(): DropAction {
  return new DropAction();
}

/**
 * `--jump RETURN`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReturnAction } from "@rampart/iptables";
 * assert.equal(new ReturnAction().toFragment(), "--jump RETURN");
 * ```
 */
export class ReturnAction implements Action {
  /** Always `"Return"`. */
  readonly kind = "Return";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump RETURN`. */
  toFragment(_features?: Features): string {
    return "--jump RETURN";
  }
  /** `Return`. */
  toString(): string {
    return "Return";
  }
}

/**
 * Returns to the calling chain: `--jump RETURN`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Return } from "@rampart/iptables";
 * assert.equal(Return().toFragment(), "--jump RETURN");
 * assert.equal(String(Return()), "Return");
 * ```
 */
export function Return(): ReturnAction {
  return new ReturnAction();
}

/**
 * `--jump <target>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JumpAction } from "@rampart/iptables";
 * assert.equal(new JumpAction("rp-fw").target, "rp-fw");
 * ```
 */
export class JumpAction implements ReferrerAction {
  /** Always `"Jump"`. */
  readonly kind = "Jump";
  /** `[target]`. */
  readonly args: readonly DslArg[];
  /** The user chain jumped to. */
  readonly target: string;
  /**
   * Creates a jump; see {@linkcode Jump}.
   *
   * @param target A user chain name.
   */
  constructor(target: string) {
    this.target = checkUserChainName("Jump.target", target);
    this.args = argsOf(target);
  }
  /** Renders `--jump <target>`. */
  toFragment(_features?: Features): string {
    return `--jump ${this.target}`;
  }
  /** `Jump-><target>`. */
  toString(): string {
    return `Jump->${this.target}`;
  }
}

/**
 * Jumps to a user chain (returning here at its end): `--jump <target>`.
 *
 * @param target A user chain name: 1–28 characters, not a built-in target
 *   (`ACCEPT`, `LOG`, …) nor a kernel chain (`INPUT`, …).
 * @returns The action.
 * @throws {RuleError} (`field` `"Jump.target"`) when the name is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Jump } from "@rampart/iptables";
 * assert.equal(Jump("rp-input").toFragment(), "--jump rp-input");
 * ```
 */
export function Jump(target: string): JumpAction {
  return new JumpAction(target);
}

/**
 * `--goto <target>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GotoAction } from "@rampart/iptables";
 * assert.equal(new GotoAction("rp-fw").target, "rp-fw");
 * ```
 */
export class GotoAction implements ReferrerAction {
  /** Always `"Goto"`. */
  readonly kind = "Goto";
  /** `[target]`. */
  readonly args: readonly DslArg[];
  /** The user chain gone to. */
  readonly target: string;
  /**
   * Creates a goto; see {@linkcode Goto}.
   *
   * @param target A user chain name.
   */
  constructor(target: string) {
    this.target = checkUserChainName("Goto.target", target);
    this.args = argsOf(target);
  }
  /** Renders `--goto <target>`. */
  toFragment(_features?: Features): string {
    return `--goto ${this.target}`;
  }
  /** `Goto-><target>`. */
  toString(): string {
    return `Goto->${this.target}`;
  }
}

/**
 * Goes to a user chain (its end returns to this chain's caller): `--goto <target>`.
 *
 * @param target A user chain name: 1–28 characters, not a built-in target nor a kernel chain.
 * @returns The action.
 * @throws {RuleError} (`field` `"Goto.target"`) when the name is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Goto } from "@rampart/iptables";
 * assert.equal(Goto("rp-fw").toFragment(), "--goto rp-fw");
 * assert.equal(String(Goto("rp-fw")), "Goto->rp-fw");
 * ```
 */
export function Goto(target: string): GotoAction {
  return new GotoAction(target);
}

/**
 * `--jump LOG --log-prefix "<prefix>: " --log-level 5`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogAction } from "@rampart/iptables";
 * assert.equal(new LogAction("dropped").prefix, "dropped");
 * ```
 */
export class LogAction implements Action {
  /** Always `"Log"`. */
  readonly kind = "Log";
  /** `[prefix]`. */
  readonly args: readonly DslArg[];
  /** The prefix, without the `": "` the rendering appends. */
  readonly prefix: string;
  /**
   * Creates a LOG action; see {@linkcode Log}.
   *
   * @param prefix The log prefix.
   */
  constructor(prefix: string) {
    this.prefix = checkLogPrefix("Log.prefix", prefix);
    this.args = argsOf(prefix);
  }
  /** Renders `--jump LOG --log-prefix "<prefix>: " --log-level 5`. */
  toFragment(_features?: Features): string {
    return `--jump LOG --log-prefix "${this.prefix}: " --log-level 5`;
  }
  /** `Log`. */
  toString(): string {
    return "Log";
  }
}

/**
 * Logs the packet to the kernel log at level 5 (notice):
 * `--jump LOG --log-prefix "<prefix>: " --log-level 5`. Processing continues
 * with the next rule.
 *
 * @param prefix At most 27 printable ASCII characters without quotes or
 *   backslashes (the kernel keeps 29 and `": "` is appended).
 * @returns The action.
 * @throws {RuleError} (`field` `"Log.prefix"`) when the prefix is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Log } from "@rampart/iptables";
 * assert.equal(Log("dropped").toFragment(), '--jump LOG --log-prefix "dropped: " --log-level 5');
 * ```
 */
export function Log(prefix: string): LogAction {
  return new LogAction(prefix);
}

/**
 * `--jump MASQUERADE [--to-ports <ports>] [--random-fully]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MasqAction } from "@rampart/iptables";
 * assert.equal(new MasqAction("1024-65535").toPorts, "1024-65535");
 * ```
 */
export class MasqAction implements Action {
  /** Always `"Masq"`. */
  readonly kind = "Masq";
  /** `[toPorts]`, `[toPorts, options]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The source port or port range (`""` when absent). */
  readonly toPorts: string;
  /** The NAT flags (`{}` when absent). */
  readonly options: NatOptions;
  /**
   * Creates a MASQUERADE action; see {@linkcode Masq}.
   *
   * @param toPorts `N` or `N-M`.
   * @param options The NAT flags.
   */
  constructor(toPorts?: string, options?: NatOptions) {
    this.toPorts = toPorts === undefined || toPorts === "" ? "" : checkMasqPorts(
      "Masq.toPorts",
      toPorts,
    );
    this.options = checkNatOptions("Masq.options", options, false);
    this.args = argsOf(toPorts, options === undefined ? undefined : (this.options as DslArg));
  }
  /** Renders the fragment; `features.masqFullyRandom` adds `--random-fully` unless `options.randomFully` says. */
  toFragment(features: Features = {}): string {
    const s = this.toPorts === ""
      ? "--jump MASQUERADE"
      : `--jump MASQUERADE --to-ports ${this.toPorts}`;
    return s + natFlags(this.options, features.masqFullyRandom === true);
  }
  /** `Masq`. */
  toString(): string {
    return "Masq";
  }
}

/**
 * Source-NATs to the outgoing interface's address (nat POSTROUTING):
 * `--jump MASQUERADE [--to-ports <toPorts>]`, plus `--random-fully` when the
 * host supports it.
 *
 * @param toPorts A port `"N"` or range `"N-M"` (needs a tcp/udp/… protocol
 *   match); absent or `""` keeps the source port where possible.
 * @param options `random`, and `randomFully` (`true`: always, `false`:
 *   never, absent: when the host supports it).
 * @returns The action.
 * @throws {RuleError} (`field` `"Masq.toPorts"`) when the ports are invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Masq } from "@rampart/iptables";
 * assert.equal(
 *   Masq("32768-65535").toFragment({ masqFullyRandom: true }),
 *   "--jump MASQUERADE --to-ports 32768-65535 --random-fully",
 * );
 * ```
 */
export function Masq(toPorts?: string, options?: NatOptions): MasqAction {
  return new MasqAction(toPorts, options);
}

/**
 * `--jump SNAT --to-source <toAddr> [--random-fully]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SnatAction } from "@rampart/iptables";
 * assert.equal(new SnatAction("10.0.0.1").toAddr, "10.0.0.1");
 * ```
 */
export class SnatAction implements Action {
  /** Always `"Snat"`. */
  readonly kind = "Snat";
  /** `[toAddr]` or `[toAddr, options]`. */
  readonly args: readonly DslArg[];
  /** The `--to-source` spec. */
  readonly toAddr: string;
  /** The NAT flags (`{}` when absent). */
  readonly options: NatOptions;
  /**
   * Creates a SNAT action; see {@linkcode Snat}.
   *
   * @param toAddr The `--to-source` spec.
   * @param options The NAT flags.
   */
  constructor(toAddr: string, options?: NatOptions) {
    checkNatSpec("Snat.toAddr", toAddr);
    this.toAddr = toAddr;
    this.options = checkNatOptions("Snat.options", options, true);
    this.args = argsOf(toAddr, options === undefined ? undefined : (this.options as DslArg));
  }
  /** Renders the fragment; `features.snatFullyRandom` adds `--random-fully` unless `options.randomFully` says. */
  toFragment(features: Features = {}): string {
    return `--jump SNAT --to-source ${this.toAddr}` +
      natFlags(this.options, features.snatFullyRandom === true);
  }
  /** `SNAT-><toAddr>`. */
  toString(): string {
    return `SNAT->${this.toAddr}`;
  }
}

/**
 * Source-NATs to an address (nat POSTROUTING/INPUT):
 * `--jump SNAT --to-source <toAddr>`, plus `--random-fully` when the host
 * supports it.
 *
 * @param toAddr `A[-B][:P[-Q]]` for IPv4 (`10.0.0.1`, `10.0.0.1-10.0.0.9:1024-2047`);
 *   for IPv6 `A[-B]` without a port or `[A[-B]]:P[-Q]` with one
 *   (`[2001:db8::1]:8080`). Addresses must be canonical.
 * @param options `random`, `persistent`, and `randomFully` (`true`: always,
 *   `false`: never, absent: when the host supports it).
 * @returns The action.
 * @throws {RuleError} (`field` `"Snat.toAddr"`) when the spec is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Snat } from "@rampart/iptables";
 * assert.equal(Snat("10.0.0.1").toFragment(), "--jump SNAT --to-source 10.0.0.1");
 * ```
 */
export function Snat(toAddr: string, options?: NatOptions): SnatAction {
  return new SnatAction(toAddr, options);
}

/**
 * `--jump DNAT --to-destination <destAddr>[:<destPort>]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DnatAction } from "@rampart/iptables";
 * assert.equal(new DnatAction("10.0.0.1", 8081).destPort, 8081);
 * ```
 */
export class DnatAction implements Action {
  /** Always `"Dnat"`. */
  readonly kind = "Dnat";
  /** `[destAddr]` or `[destAddr, destPort]`. */
  readonly args: readonly DslArg[];
  /** The destination address (or full spec when no port is given). */
  readonly destAddr: string;
  /** The destination port, 0 when absent. */
  readonly destPort: number;
  readonly #spec: string;
  /**
   * Creates a DNAT action; see {@linkcode Dnat}.
   *
   * @param destAddr The address.
   * @param destPort The port (0 or absent: none).
   */
  constructor(destAddr: string, destPort?: number) {
    const port = destPort === undefined ? 0 : checkPort("Dnat.destPort", destPort);
    if (port === 0) {
      checkNatSpec("Dnat.destAddr", destAddr);
      this.#spec = destAddr;
    } else {
      const family = checkNatAddressRange("Dnat.destAddr", destAddr);
      // Bracket IPv6 when a port follows, as Go's net.JoinHostPort does (the
      // reference since Feb 2026); `2001:db8::1:80` would be one address.
      this.#spec = family === 6 ? `[${destAddr}]:${port}` : `${destAddr}:${port}`;
    }
    this.destAddr = destAddr;
    this.destPort = port;
    this.args = argsOf(destAddr, destPort);
  }
  /** Renders `--jump DNAT --to-destination <spec>`. */
  toFragment(_features?: Features): string {
    return `--jump DNAT --to-destination ${this.#spec}`;
  }
  /** `DNAT-><destAddr>:<destPort>` (the port is `0` when absent, as in the reference). */
  toString(): string {
    return `DNAT->${this.destAddr}:${this.destPort}`;
  }
}

/**
 * Destination-NATs to an address and optional port (nat PREROUTING/OUTPUT):
 * `--jump DNAT --to-destination <destAddr>[:<destPort>]`, with an IPv6
 * address bracketed when a port is given (`[2001:db8::1]:80`).
 *
 * @param destAddr A canonical address or range `A-B`; without `destPort` it
 *   may also be a full spec as for {@linkcode Snat} (`10.0.0.1:8080`).
 * @param destPort A port from 1 to 65535; absent or 0 means none.
 * @returns The action.
 * @throws {RuleError} (`field` `"Dnat.destAddr"` or `"Dnat.destPort"`) when an argument is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Dnat } from "@rampart/iptables";
 * assert.equal(Dnat("10.0.0.1", 8081).toFragment(), "--jump DNAT --to-destination 10.0.0.1:8081");
 * assert.equal(
 *   Dnat("2001:db8::1", 80).toFragment(),
 *   "--jump DNAT --to-destination [2001:db8::1]:80",
 * );
 * ```
 */
export function Dnat(destAddr: string, destPort?: number): DnatAction {
  return new DnatAction(destAddr, destPort);
}

/**
 * `--jump NOTRACK`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NoTrackAction } from "@rampart/iptables";
 * assert.equal(new NoTrackAction().toFragment(), "--jump NOTRACK");
 * ```
 */
export class NoTrackAction implements Action {
  /** Always `"NoTrack"`. */
  readonly kind = "NoTrack";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump NOTRACK`. */
  toFragment(_features?: Features): string {
    return "--jump NOTRACK";
  }
  /** `NOTRACK`. */
  toString(): string {
    return "NOTRACK";
  }
}

/**
 * Exempts the packet from connection tracking (raw table): `--jump NOTRACK`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NoTrack } from "@rampart/iptables";
 * assert.equal(NoTrack().toFragment(), "--jump NOTRACK");
 * assert.equal(String(NoTrack()), "NOTRACK");
 * ```
 */
export function NoTrack(): NoTrackAction {
  return new NoTrackAction();
}

/**
 * `--jump MARK --set-mark 0/<mark>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClearMarkAction } from "@rampart/iptables";
 * assert.equal(new ClearMarkAction(0x1000).mark, 4096);
 * ```
 */
export class ClearMarkAction implements Action {
  /** Always `"ClearMark"`. */
  readonly kind = "ClearMark";
  /** `[mark]`. */
  readonly args: readonly DslArg[];
  /** The bits to clear. */
  readonly mark: number;
  /**
   * Creates the action; see {@linkcode ClearMark}.
   *
   * @param mark The bits to clear.
   */
  constructor(mark: number) {
    this.mark = checkNonZeroMark("ClearMark.mark", mark);
    this.args = argsOf(mark);
  }
  /** Renders `--jump MARK --set-mark 0/<mark>`. */
  toFragment(_features?: Features): string {
    return `--jump MARK --set-mark 0/${hex(this.mark)}`;
  }
  /** `Clear:<mark>`. */
  toString(): string {
    return `Clear:${hex(this.mark)}`;
  }
}

/**
 * Clears bits of the packet mark: `--jump MARK --set-mark 0/<mark>`.
 *
 * @param mark The bits to clear (non-zero uint32).
 * @returns The action.
 * @throws {RuleError} (`field` `"ClearMark.mark"`) when the mark is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClearMark } from "@rampart/iptables";
 * assert.equal(ClearMark(0x1000).toFragment(), "--jump MARK --set-mark 0/0x1000");
 * ```
 */
export function ClearMark(mark: number): ClearMarkAction {
  return new ClearMarkAction(mark);
}

/**
 * `--jump MARK --set-mark <mark>/<mark>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMarkAction } from "@rampart/iptables";
 * assert.equal(String(new SetMarkAction(0x1000)), "Set:0x1000");
 * ```
 */
export class SetMarkAction implements Action {
  /** Always `"SetMark"`. */
  readonly kind = "SetMark";
  /** `[mark]`. */
  readonly args: readonly DslArg[];
  /** The bits to set. */
  readonly mark: number;
  /**
   * Creates the action; see {@linkcode SetMark}.
   *
   * @param mark The bits to set.
   */
  constructor(mark: number) {
    this.mark = checkNonZeroMark("SetMark.mark", mark);
    this.args = argsOf(mark);
  }
  /** Renders `--jump MARK --set-mark <mark>/<mark>`. */
  toFragment(_features?: Features): string {
    const m = hex(this.mark);
    return `--jump MARK --set-mark ${m}/${m}`;
  }
  /** `Set:<mark>`. */
  toString(): string {
    return `Set:${hex(this.mark)}`;
  }
}

/**
 * Sets bits of the packet mark: `--jump MARK --set-mark <mark>/<mark>`.
 *
 * @param mark The bits to set (non-zero uint32).
 * @returns The action.
 * @throws {RuleError} (`field` `"SetMark.mark"`) when the mark is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMark } from "@rampart/iptables";
 * assert.equal(SetMark(0x1000).toFragment(), "--jump MARK --set-mark 0x1000/0x1000");
 * ```
 */
export function SetMark(mark: number): SetMarkAction {
  return new SetMarkAction(mark);
}

/**
 * `--jump MARK --set-mark <mark>/<mask>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMaskedMarkAction } from "@rampart/iptables";
 * assert.equal(new SetMaskedMarkAction(0x1000, 0xf000).mask, 61440);
 * ```
 */
export class SetMaskedMarkAction implements Action {
  /** Always `"SetMaskedMark"`. */
  readonly kind = "SetMaskedMark";
  /** `[mark, mask]`. */
  readonly args: readonly DslArg[];
  /** The value within the mask. */
  readonly mark: number;
  /** The bits replaced. */
  readonly mask: number;
  /**
   * Creates the action; see {@linkcode SetMaskedMark}.
   *
   * @param mark The value.
   * @param mask The bits replaced.
   */
  constructor(mark: number, mask: number) {
    checkMarkWithMask("SetMaskedMark.mark", mark, mask, "SetMaskedMark.mask");
    this.mark = mark;
    this.mask = mask;
    this.args = argsOf(mark, mask);
  }
  /** Renders `--jump MARK --set-mark <mark>/<mask>`. */
  toFragment(_features?: Features): string {
    return `--jump MARK --set-mark ${hex(this.mark)}/${hex(this.mask)}`;
  }
  /** `Set:<mark>` (the mask is not shown, as in the reference). */
  toString(): string {
    return `Set:${hex(this.mark)}`;
  }
}

/**
 * Replaces the mask's bits of the packet mark with `mark`:
 * `--jump MARK --set-mark <mark>/<mask>`.
 *
 * @param mark The value (within `mask`).
 * @param mask The bits replaced (non-zero uint32).
 * @returns The action.
 * @throws {RuleError} (`field` `"SetMaskedMark.mark"` or `"SetMaskedMark.mask"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMaskedMark } from "@rampart/iptables";
 * assert.equal(SetMaskedMark(0x1000, 0xf000).toFragment(), "--jump MARK --set-mark 0x1000/0xf000");
 * ```
 */
export function SetMaskedMark(mark: number, mask: number): SetMaskedMarkAction {
  return new SetMaskedMarkAction(mark, mask);
}

/**
 * `--jump REJECT [--reject-with <with>]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RejectAction } from "@rampart/iptables";
 * assert.equal(new RejectAction("tcp-reset").with, "tcp-reset");
 * ```
 */
export class RejectAction implements Action {
  /** Always `"Reject"`. */
  readonly kind = "Reject";
  /** `[with]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The reject type (`""` when absent: the kernel's default). */
  readonly with: RejectType | "";
  /**
   * Creates the action; see {@linkcode Reject}.
   *
   * @param rejectWith The reject type.
   */
  constructor(rejectWith?: RejectType | "") {
    this.with = rejectWith === undefined || rejectWith === ""
      ? ""
      : checkRejectType("Reject.with", rejectWith) as RejectType;
    this.args = argsOf(rejectWith);
  }
  /** Renders `--jump REJECT [--reject-with <with>]`. */
  toFragment(_features?: Features): string {
    return this.with === "" ? "--jump REJECT" : `--jump REJECT --reject-with ${this.with}`;
  }
  /** `Reject`. */
  toString(): string {
    return "Reject";
  }
}

/**
 * Refuses the packet with an error reply (filter INPUT/FORWARD/OUTPUT):
 * `--jump REJECT [--reject-with <with>]`.
 *
 * @param rejectWith The reply, e.g. `"tcp-reset"` (needs `protocol("tcp")`) or
 *   `"icmp-port-unreachable"`; absent or `""` is the kernel's default
 *   (port unreachable).
 * @returns The action.
 * @throws {RuleError} (`field` `"Reject.with"`) when the type is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Reject } from "@rampart/iptables";
 * assert.equal(Reject("tcp-reset").toFragment(), "--jump REJECT --reject-with tcp-reset");
 * ```
 */
export function Reject(rejectWith?: RejectType | ""): RejectAction {
  return new RejectAction(rejectWith);
}

/** The CONNMARK default mask: every bit. */
const ALL_BITS = UINT32_MAX;

/**
 * `--jump CONNMARK --save-mark --mask <mask>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SaveConnMarkAction } from "@rampart/iptables";
 * assert.equal(String(new SaveConnMarkAction(0x100)), "SaveConnMarkWithMask:0x100");
 * ```
 */
export class SaveConnMarkAction implements Action {
  /** Always `"SaveConnMark"`. */
  readonly kind = "SaveConnMark";
  /** `[mask]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The mask as given (0 when absent: all bits). */
  readonly mask: number;
  /**
   * Creates the action; see {@linkcode SaveConnMark}.
   *
   * @param mask The bits copied.
   */
  constructor(mask?: number) {
    this.mask = mask === undefined ? 0 : checkUint32("SaveConnMark.mask", mask);
    this.args = argsOf(mask);
  }
  /** Renders `--jump CONNMARK --save-mark --mask <mask>`. */
  toFragment(_features?: Features): string {
    return `--jump CONNMARK --save-mark --mask ${hex(this.mask || ALL_BITS)}`;
  }
  /** `SaveConnMarkWithMask:<mask as given>`. */
  toString(): string {
    return `SaveConnMarkWithMask:${hex(this.mask)}`;
  }
}

/**
 * Copies the mask's bits of the packet mark to the connection mark:
 * `--jump CONNMARK --save-mark --mask <mask>` (the correct `--mask`, not the
 * reference's pre-2022 `--mark`).
 *
 * @param mask The bits copied; absent or 0 means all (`0xffffffff`).
 * @returns The action.
 * @throws {RuleError} (`field` `"SaveConnMark.mask"`) when the mask is not a uint32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SaveConnMark } from "@rampart/iptables";
 * assert.equal(SaveConnMark().toFragment(), "--jump CONNMARK --save-mark --mask 0xffffffff");
 * ```
 */
export function SaveConnMark(mask?: number): SaveConnMarkAction {
  return new SaveConnMarkAction(mask);
}

/**
 * `--jump CONNMARK --restore-mark --mask <mask>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RestoreConnMarkAction } from "@rampart/iptables";
 * assert.equal(String(new RestoreConnMarkAction()), "RestoreConnMarkWithMask:0x0");
 * ```
 */
export class RestoreConnMarkAction implements Action {
  /** Always `"RestoreConnMark"`. */
  readonly kind = "RestoreConnMark";
  /** `[mask]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The mask as given (0 when absent: all bits). */
  readonly mask: number;
  /**
   * Creates the action; see {@linkcode RestoreConnMark}.
   *
   * @param mask The bits copied.
   */
  constructor(mask?: number) {
    this.mask = mask === undefined ? 0 : checkUint32("RestoreConnMark.mask", mask);
    this.args = argsOf(mask);
  }
  /** Renders `--jump CONNMARK --restore-mark --mask <mask>`. */
  toFragment(_features?: Features): string {
    return `--jump CONNMARK --restore-mark --mask ${hex(this.mask || ALL_BITS)}`;
  }
  /** `RestoreConnMarkWithMask:<mask as given>`. */
  toString(): string {
    return `RestoreConnMarkWithMask:${hex(this.mask)}`;
  }
}

/**
 * Copies the mask's bits of the connection mark to the packet mark:
 * `--jump CONNMARK --restore-mark --mask <mask>`.
 *
 * @param mask The bits copied; absent or 0 means all (`0xffffffff`).
 * @returns The action.
 * @throws {RuleError} (`field` `"RestoreConnMark.mask"`) when the mask is not a uint32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RestoreConnMark } from "@rampart/iptables";
 * assert.equal(RestoreConnMark(0x100).toFragment(), "--jump CONNMARK --restore-mark --mask 0x100");
 * ```
 */
export function RestoreConnMark(mask?: number): RestoreConnMarkAction {
  return new RestoreConnMarkAction(mask);
}

/**
 * `--jump CONNMARK --set-mark <mark>/<mask>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetConnMarkAction } from "@rampart/iptables";
 * assert.equal(String(new SetConnMarkAction(0x10)), "SetConnMarkWithMask:0x10/0x0");
 * ```
 */
export class SetConnMarkAction implements Action {
  /** Always `"SetConnMark"`. */
  readonly kind = "SetConnMark";
  /** `[mark]` or `[mark, mask]`. */
  readonly args: readonly DslArg[];
  /** The value. */
  readonly mark: number;
  /** The mask as given (0 when absent: all bits). */
  readonly mask: number;
  /**
   * Creates the action; see {@linkcode SetConnMark}.
   *
   * @param mark The value.
   * @param mask The bits replaced.
   */
  constructor(mark: number, mask?: number) {
    const m = mask === undefined ? 0 : checkUint32("SetConnMark.mask", mask);
    checkMarkWithMask("SetConnMark.mark", mark, m || ALL_BITS, "SetConnMark.mask");
    this.mark = mark;
    this.mask = m;
    this.args = argsOf(mark, mask);
  }
  /** Renders `--jump CONNMARK --set-mark <mark>/<mask>`. */
  toFragment(_features?: Features): string {
    return `--jump CONNMARK --set-mark ${hex(this.mark)}/${hex(this.mask || ALL_BITS)}`;
  }
  /** `SetConnMarkWithMask:<mark>/<mask as given>`. */
  toString(): string {
    return `SetConnMarkWithMask:${hex(this.mark)}/${hex(this.mask)}`;
  }
}

/**
 * Replaces the mask's bits of the connection mark with `mark`:
 * `--jump CONNMARK --set-mark <mark>/<mask>`.
 *
 * @param mark The value (within the mask).
 * @param mask The bits replaced; absent or 0 means all (`0xffffffff`).
 * @returns The action.
 * @throws {RuleError} (`field` `"SetConnMark.mark"` or `"SetConnMark.mask"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetConnMark } from "@rampart/iptables";
 * assert.equal(SetConnMark(0x10, 0xf0).toFragment(), "--jump CONNMARK --set-mark 0x10/0xf0");
 * ```
 */
export function SetConnMark(mark: number, mask?: number): SetConnMarkAction {
  return new SetConnMarkAction(mark, mask);
}

/**
 * `--jump NFLOG --nflog-group <group> --nflog-prefix <prefix> [--nflog-size|--nflog-range <size>]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NflogAction } from "@rampart/iptables";
 * assert.equal(String(new NflogAction(1, "API0|x")), "Nflog:g=1,p=API0|x");
 * ```
 */
export class NflogAction implements Action {
  /** Always `"Nflog"`. */
  readonly kind = "Nflog";
  /** `[group, prefix]` or `[group, prefix, size]`. */
  readonly args: readonly DslArg[];
  /** The netlink group. */
  readonly group: number;
  /** The prefix. */
  readonly prefix: string;
  /** The size as given: -1 none, 0 (or absent) the default 80. */
  readonly size: number;
  /**
   * Creates the action; see {@linkcode Nflog}.
   *
   * @param group The netlink group.
   * @param prefix The prefix.
   * @param size The bytes copied.
   */
  constructor(group: number, prefix: string, size?: number) {
    this.group = checkInt("Nflog.group", group, 0, 65535);
    this.prefix = checkNflogPrefix("Nflog.prefix", prefix);
    this.size = size === undefined ? 0 : checkInt("Nflog.size", size, -1, UINT32_MAX);
    this.args = argsOf(group, prefix, size);
  }
  /** Renders the fragment; `features.nflogSize` picks `--nflog-size` over `--nflog-range`. */
  toFragment(features: Features = {}): string {
    const s = `--jump NFLOG --nflog-group ${this.group} --nflog-prefix ${this.prefix}`;
    if (this.size < 0) return s;
    const size = this.size === 0 ? 80 : this.size;
    return features.nflogSize ? `${s} --nflog-size ${size}` : `${s} --nflog-range ${size}`;
  }
  /** `Nflog:g=<group>,p=<prefix>`. */
  toString(): string {
    return `Nflog:g=${this.group},p=${this.prefix}`;
  }
}

/**
 * Sends the packet to userspace over netlink (NFLOG):
 * `--jump NFLOG --nflog-group <group> --nflog-prefix <prefix>` plus
 * `--nflog-size <size>` (or `--nflog-range` on kernels before 4.8).
 *
 * @param group The netlink group (0–65535).
 * @param prefix 1–63 characters `[A-Za-z0-9_@%+=:,./|-]`, not starting with
 *   `-` (it is rendered unquoted, so spaces could forge extra options).
 * @param size Bytes copied: absent or 0 is 80, -1 leaves the option out.
 * @returns The action.
 * @throws {RuleError} (`field` `"Nflog.group"`, `"Nflog.prefix"` or `"Nflog.size"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Nflog } from "@rampart/iptables";
 * assert.equal(
 *   Nflog(1, "API0|x").toFragment({ nflogSize: true }),
 *   "--jump NFLOG --nflog-group 1 --nflog-prefix API0|x --nflog-size 80",
 * );
 * ```
 */
export function Nflog(group: number, prefix: string, size?: number): NflogAction {
  return new NflogAction(group, prefix, size);
}

/**
 * `-m limit --limit <rate>/sec --limit-burst <burst> --jump MARK --set-mark <mark>/<mark>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LimitPacketRateAction } from "@rampart/iptables";
 * assert.equal(
 *   String(new LimitPacketRateAction(1000, 5, 0x200)),
 *   "LimitPacketRate:1000/s,burst:5",
 * );
 * ```
 */
export class LimitPacketRateAction implements Action {
  /** Always `"LimitPacketRate"`. */
  readonly kind = "LimitPacketRate";
  /** `[rate, burst, mark]`. */
  readonly args: readonly DslArg[];
  /** Packets per second. */
  readonly rate: number;
  /** The burst. */
  readonly burst: number;
  /** The mark set on packets within the rate. */
  readonly mark: number;
  /**
   * Creates the action; see {@linkcode LimitPacketRate}.
   *
   * @param rate Packets per second.
   * @param burst The burst.
   * @param mark The mark.
   */
  constructor(rate: number, burst: number, mark: number) {
    // iptables 1.8.9 refuses "0/sec" ("bad rate"); the limit match's scale caps it at 10000/s.
    this.rate = checkInt("LimitPacketRate.rate", rate, 1, 10000);
    this.burst = checkLimitBurst("LimitPacketRate.burst", burst);
    this.mark = checkNonZeroMark("LimitPacketRate.mark", mark);
    this.args = argsOf(rate, burst, mark);
  }
  /** Renders the limit match and the MARK target. */
  toFragment(_features?: Features): string {
    const m = hex(this.mark);
    return `-m limit --limit ${this.rate}/sec --limit-burst ${this.burst} --jump MARK --set-mark ${m}/${m}`;
  }
  /** `LimitPacketRate:<rate>/s,burst:<burst>`. */
  toString(): string {
    return `LimitPacketRate:${this.rate}/s,burst:${this.burst}`;
  }
}

/**
 * Marks packets within a rate (the mark then drives a later rule):
 * `-m limit --limit <rate>/sec --limit-burst <burst> --jump MARK --set-mark <mark>/<mark>`.
 *
 * @param rate Packets per second (1–10000).
 * @param burst The burst (1–10000).
 * @param mark The mark set (non-zero uint32).
 * @returns The action.
 * @throws {RuleError} (`field` `"LimitPacketRate.rate"`, `".burst"` or `".mark"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LimitPacketRate } from "@rampart/iptables";
 * assert.equal(
 *   LimitPacketRate(1000, 5, 0x200).toFragment(),
 *   "-m limit --limit 1000/sec --limit-burst 5 --jump MARK --set-mark 0x200/0x200",
 * );
 * ```
 */
export function LimitPacketRate(rate: number, burst: number, mark: number): LimitPacketRateAction {
  return new LimitPacketRateAction(rate, burst, mark);
}

/**
 * `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above <num> --connlimit-mask 0 -j REJECT --reject-with <rejectWith>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LimitNumConnectionsAction } from "@rampart/iptables";
 * assert.equal(
 *   String(new LimitNumConnectionsAction(10, "tcp-reset")),
 *   "LimitNumConnectionsAction:10,rejectWith:tcp-reset",
 * );
 * ```
 */
export class LimitNumConnectionsAction implements Action {
  /** Always `"LimitNumConnections"`. */
  readonly kind = "LimitNumConnections";
  /** `[num, rejectWith]`. */
  readonly args: readonly DslArg[];
  /** The connection count above which new connections are rejected. */
  readonly num: number;
  /** The reject type. */
  readonly rejectWith: RejectType;
  /**
   * Creates the action; see {@linkcode LimitNumConnections}.
   *
   * @param num The limit.
   * @param rejectWith The reject type.
   */
  constructor(num: number, rejectWith: RejectType) {
    this.num = checkUint32("LimitNumConnections.num", num);
    this.rejectWith = checkRejectType("LimitNumConnections.rejectWith", rejectWith) as RejectType;
    this.args = argsOf(num, rejectWith);
  }
  /** Renders the TCP SYN + connlimit matches and the REJECT target (the form iptables-save prints). */
  toFragment(_features?: Features): string {
    return "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above " +
      `${this.num} --connlimit-mask 0 -j REJECT --reject-with ${this.rejectWith}`;
  }
  /** `LimitNumConnectionsAction:<num>,rejectWith:<rejectWith>`. */
  toString(): string {
    return `LimitNumConnectionsAction:${this.num},rejectWith:${this.rejectWith}`;
  }
}

/**
 * Rejects new TCP connections once the host has more than `num` in total
 * (filter table; the rule must not have its own protocol match):
 * `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above <num> --connlimit-mask 0 -j REJECT --reject-with <rejectWith>`.
 *
 * @param num The limit (uint32).
 * @param rejectWith The reject type, e.g. `"tcp-reset"`.
 * @returns The action.
 * @throws {RuleError} (`field` `"LimitNumConnections.num"` or `".rejectWith"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LimitNumConnections } from "@rampart/iptables";
 * assert.ok(LimitNumConnections(10, "tcp-reset").toFragment().endsWith("--reject-with tcp-reset"));
 * ```
 */
export function LimitNumConnections(
  num: number,
  rejectWith: RejectType,
): LimitNumConnectionsAction {
  return new LimitNumConnectionsAction(num, rejectWith);
}

/**
 * `--jump DSCP --set-dscp <value>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DscpAction } from "@rampart/iptables";
 * assert.equal(String(new DscpAction(20)), "DSCP 20");
 * ```
 */
export class DscpAction implements Action {
  /** Always `"Dscp"`. */
  readonly kind = "Dscp";
  /** `[value]`. */
  readonly args: readonly DslArg[];
  /** The DSCP value. */
  readonly value: number;
  /**
   * Creates the action; see {@linkcode Dscp}.
   *
   * @param value The DSCP value.
   */
  constructor(value: number) {
    this.value = checkInt("Dscp.value", value, 0, 63);
    this.args = argsOf(value);
  }
  /** Renders `--jump DSCP --set-dscp <value>`. */
  toFragment(_features?: Features): string {
    return `--jump DSCP --set-dscp ${this.value}`;
  }
  /** `DSCP <value>`. */
  toString(): string {
    return `DSCP ${this.value}`;
  }
}

/**
 * Sets the packet's DSCP field (mangle table): `--jump DSCP --set-dscp <value>`.
 *
 * @param value The DSCP value (0–63).
 * @returns The action.
 * @throws {RuleError} (`field` `"Dscp.value"`) when out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Dscp } from "@rampart/iptables";
 * assert.equal(Dscp(20).toFragment(), "--jump DSCP --set-dscp 20");
 * ```
 */
export function Dscp(value: number): DscpAction {
  return new DscpAction(value);
}

/**
 * Options of {@linkcode LogPacket}: the LOG target's options as iptables
 * takes them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogPacket, type LogOptions } from "@rampart/iptables";
 * const ufw: LogOptions = { prefix: "[UFW BLOCK] " };
 * assert.equal(LogPacket(ufw).toFragment(), "--jump LOG --log-prefix \"[UFW BLOCK] \"");
 * ```
 */
export interface LogOptions {
  /** `--log-prefix`, as written (at most 29 printable ASCII characters without quotes or backslashes). */
  readonly prefix?: string;
  /** `--log-level`: 0 (emerg) to 7 (debug); 4 (warning) is the default. */
  readonly level?: number;
  /** `--log-tcp-sequence`. */
  readonly tcpSequence?: boolean;
  /** `--log-tcp-options`. */
  readonly tcpOptions?: boolean;
  /** `--log-ip-options`. */
  readonly ipOptions?: boolean;
  /** `--log-uid`. */
  readonly uid?: boolean;
  /** `--log-macdecode`. */
  readonly macDecode?: boolean;
}

const LOG_FLAGS: readonly [keyof LogOptions, string][] = [
  ["tcpSequence", "--log-tcp-sequence"],
  ["tcpOptions", "--log-tcp-options"],
  ["ipOptions", "--log-ip-options"],
  ["uid", "--log-uid"],
  ["macDecode", "--log-macdecode"],
];
const LOG_PREFIX_EXACT = /^[\x20\x21\x23-\x26\x28-\x5b\x5d-\x5f\x61-\x7e]{1,29}$/;

/**
 * `--jump LOG [--log-prefix P] [--log-level N] [flags…]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogPacketAction } from "@rampart/iptables";
 * assert.equal(new LogPacketAction({ level: 6 }).toFragment(), "--jump LOG --log-level 6");
 * ```
 */
export class LogPacketAction implements Action {
  /** Always `"LogPacket"`. */
  readonly kind = "LogPacket";
  /** `[options]` or `[]`. */
  readonly args: readonly DslArg[];
  readonly #fragment: string;
  /**
   * Creates the action; see {@linkcode LogPacket}.
   *
   * @param options The LOG options.
   */
  constructor(options?: LogOptions) {
    const F = "LogPacket";
    if (
      options !== undefined &&
      (options === null || typeof options !== "object" || Array.isArray(options))
    ) {
      throw invalid(F, options, "LOG options { prefix?, level?, tcpSequence?, … }");
    }
    const o = ordered(F, options ?? {}, ["prefix", "level", ...LOG_FLAGS.map(([k]) => k)]);
    let s = "--jump LOG";
    if (o.prefix !== undefined) {
      if (typeof o.prefix !== "string" || !LOG_PREFIX_EXACT.test(o.prefix)) {
        throw invalid(
          `${F}.prefix`,
          o.prefix,
          "1 to 29 printable ASCII characters without quotes or backslashes",
        );
      }
      s += ` --log-prefix ${/^[_\-0-9a-zA-Z]+$/.test(o.prefix) ? o.prefix : `"${o.prefix}"`}`;
    }
    if (o.level !== undefined) {
      checkInt(`${F}.level`, o.level, 0, 7);
      if (o.level !== 4) s += ` --log-level ${o.level}`;
    }
    for (const [k, flag] of LOG_FLAGS) {
      if (o[k] !== undefined && checkBoolean(`${F}.${k}`, o[k])) s += ` ${flag}`;
    }
    this.#fragment = s;
    this.args = options === undefined ? argsOf() : argsOf(Object.freeze(o));
  }
  /** Renders the fragment. */
  toFragment(_features?: Features): string {
    return this.#fragment;
  }
  /** `Log`. */
  toString(): string {
    return "Log";
  }
}

/**
 * Logs the packet to the kernel log with the LOG target's options as given
 * (unlike {@linkcode Log}, the prefix is written exactly and the level is
 * the kernel's default unless set): `--jump LOG [--log-prefix P]
 * [--log-level N] [--log-tcp-sequence] [--log-tcp-options]
 * [--log-ip-options] [--log-uid] [--log-macdecode]`. Processing continues
 * with the next rule.
 *
 * @param options The prefix, level and what to log.
 * @returns The action.
 * @throws {RuleError} (`field` `"LogPacket.<option>"`) when an option is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogPacket } from "@rampart/iptables";
 * assert.equal(LogPacket({ prefix: "drop ", level: 7, uid: true }).toFragment(), "--jump LOG --log-prefix \"drop \" --log-level 7 --log-uid");
 * ```
 */
export function LogPacket(options?: LogOptions): LogPacketAction {
  return new LogPacketAction(options);
}

/**
 * `--jump MARK --set-xmark <mark>/0x0`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XorMarkAction } from "@rampart/iptables";
 * assert.equal(String(new XorMarkAction(0x4000)), "XorMark:0x4000");
 * ```
 */
export class XorMarkAction implements Action {
  /** Always `"XorMark"`. */
  readonly kind = "XorMark";
  /** `[mark]`. */
  readonly args: readonly DslArg[];
  /** The bits flipped. */
  readonly mark: number;
  /**
   * Creates the action; see {@linkcode XorMark}.
   *
   * @param mark The bits flipped.
   */
  constructor(mark: number) {
    this.mark = checkNonZeroMark("XorMark.mark", mark);
    this.args = argsOf(mark);
  }
  /** Renders `--jump MARK --set-xmark <mark>/0x0` (how iptables-save prints `--xor-mark`). */
  toFragment(_features?: Features): string {
    return `--jump MARK --set-xmark ${hex(this.mark)}/0x0`;
  }
  /** `XorMark:<mark>`. */
  toString(): string {
    return `XorMark:${hex(this.mark)}`;
  }
}

/**
 * Flips bits of the packet mark (`--xor-mark`, which iptables-save prints
 * as `--set-xmark <mark>/0x0`): kube-proxy clears its masquerade bit this way.
 *
 * @param mark The bits flipped (non-zero uint32).
 * @returns The action.
 * @throws {RuleError} (`field` `"XorMark.mark"`) when the mark is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XorMark } from "@rampart/iptables";
 * assert.equal(XorMark(0x4000).toFragment(), "--jump MARK --set-xmark 0x4000/0x0");
 * ```
 */
export function XorMark(mark: number): XorMarkAction {
  return new XorMarkAction(mark);
}

/**
 * Options of {@linkcode Ct} (raw table): exactly one of `notrack` and the others.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ct, type CtOptions } from "@rampart/iptables";
 * const ftp: CtOptions = { helper: "ftp" };
 * assert.equal(Ct(ftp).toFragment(), "--jump CT --helper ftp");
 * ```
 */
export interface CtOptions {
  /** `--notrack`: do not track the packet. */
  readonly notrack?: boolean;
  /** `--helper`: the conntrack helper to assign, e.g. `"ftp"`. */
  readonly helper?: string;
  /** `--zone`: the conntrack zone (0–65535). */
  readonly zone?: number;
}

const CT_HELPER = /^[a-z0-9_-]{1,15}$/;

/**
 * `--jump CT …`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CtAction } from "@rampart/iptables";
 * assert.equal(new CtAction({ notrack: true }).toFragment(), "--jump CT --notrack");
 * ```
 */
export class CtAction implements Action {
  /** Always `"Ct"`. */
  readonly kind = "Ct";
  /** `[options]`. */
  readonly args: readonly DslArg[];
  readonly #fragment: string;
  /**
   * Creates the action; see {@linkcode Ct}.
   *
   * @param options The CT options.
   */
  constructor(options: CtOptions) {
    const F = "Ct";
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      throw invalid(F, options, "CT options { notrack } or { helper?, zone? }");
    }
    const o = ordered(F, options, ["notrack", "helper", "zone"]);
    let s = "--jump CT";
    if (o.notrack !== undefined) {
      if (checkBoolean(`${F}.notrack`, o.notrack) !== true) {
        throw invalid(`${F}.notrack`, o.notrack, "true (leave it out to track)");
      }
      if (o.helper !== undefined || o.zone !== undefined) {
        throw invalid(
          `${F}.notrack`,
          true,
          "notrack alone (an untracked packet has no helper or zone)",
        );
      }
      s += " --notrack";
    }
    if (o.helper !== undefined) {
      if (typeof o.helper !== "string" || !CT_HELPER.test(o.helper)) {
        throw invalid(
          `${F}.helper`,
          o.helper,
          "a helper name of 1 to 15 characters [a-z0-9_-], e.g. ftp",
        );
      }
      s += ` --helper ${o.helper}`;
    }
    if (o.zone !== undefined) s += ` --zone ${checkInt(`${F}.zone`, o.zone, 0, 65535)}`;
    if (s === "--jump CT") throw invalid(F, options, "at least one of notrack, helper, zone");
    this.#fragment = s;
    this.args = argsOf(Object.freeze(o));
  }
  /** Renders the fragment. */
  toFragment(_features?: Features): string {
    return this.#fragment;
  }
  /** `CT`. */
  toString(): string {
    return "CT";
  }
}

/**
 * Sets up connection tracking for the packet (raw table): `--jump CT
 * --notrack`, or `--jump CT [--helper H] [--zone Z]`.
 *
 * @param options `{ notrack: true }`, or a helper and/or zone.
 * @returns The action.
 * @throws {RuleError} (`field` `"Ct.<option>"`) when an option is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ct } from "@rampart/iptables";
 * assert.equal(Ct({ zone: 5 }).toFragment(), "--jump CT --zone 5");
 * ```
 */
export function Ct(options: CtOptions): CtAction {
  return new CtAction(options);
}

/**
 * `--jump REDIRECT [--to-ports <toPorts>] [--random]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RedirectAction } from "@rampart/iptables";
 * assert.equal(new RedirectAction("8080").toPorts, "8080");
 * ```
 */
export class RedirectAction implements Action {
  /** Always `"Redirect"`. */
  readonly kind = "Redirect";
  /** `[toPorts]`, `[toPorts, options]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The port or range (`""` when absent). */
  readonly toPorts: string;
  /** `--random`. */
  readonly random: boolean;
  /**
   * Creates the action; see {@linkcode Redirect}.
   *
   * @param toPorts `N` or `N-M`.
   * @param options `{ random }`.
   */
  constructor(toPorts?: string, options?: { readonly random?: boolean }) {
    this.toPorts = toPorts === undefined || toPorts === ""
      ? ""
      : checkMasqPorts("Redirect.toPorts", toPorts);
    const o = checkNatOptions("Redirect.options", options, false);
    if (o.randomFully !== undefined) {
      throw invalid(
        "Redirect.options.randomFully",
        o.randomFully,
        "only random (REDIRECT has no --random-fully)",
      );
    }
    this.random = o.random === true;
    this.args = argsOf(toPorts, options === undefined ? undefined : (o as DslArg));
  }
  /** Renders the fragment. */
  toFragment(_features?: Features): string {
    const s = this.toPorts === ""
      ? "--jump REDIRECT"
      : `--jump REDIRECT --to-ports ${this.toPorts}`;
    return this.random ? `${s} --random` : s;
  }
  /** `Redirect`. */
  toString(): string {
    return "Redirect";
  }
}

/**
 * Redirects the packet to this host (nat PREROUTING/OUTPUT), to the port or
 * range given: `--jump REDIRECT [--to-ports <toPorts>] [--random]`.
 *
 * @param toPorts A port `"N"` or range `"N-M"` (needs a tcp/udp/… protocol match); absent keeps the port.
 * @param options `{ random: true }` for `--random`.
 * @returns The action.
 * @throws {RuleError} (`field` `"Redirect.toPorts"`) when the ports are invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Redirect } from "@rampart/iptables";
 * assert.equal(Redirect("3128").toFragment(), "--jump REDIRECT --to-ports 3128");
 * ```
 */
export function Redirect(
  toPorts?: string,
  options?: { readonly random?: boolean },
): RedirectAction {
  return new RedirectAction(toPorts, options);
}

/**
 * `--jump TCPMSS --clamp-mss-to-pmtu`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClampMssToPmtuAction } from "@rampart/iptables";
 * assert.equal(new ClampMssToPmtuAction().toFragment(), "--jump TCPMSS --clamp-mss-to-pmtu");
 * ```
 */
export class ClampMssToPmtuAction implements Action {
  /** Always `"ClampMssToPmtu"`. */
  readonly kind = "ClampMssToPmtu";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump TCPMSS --clamp-mss-to-pmtu`. */
  toFragment(_features?: Features): string {
    return "--jump TCPMSS --clamp-mss-to-pmtu";
  }
  /** `ClampMssToPmtu`. */
  toString(): string {
    return "ClampMssToPmtu";
  }
}

/**
 * Lowers the MSS of TCP SYN packets to the path MTU (FORWARD, OUTPUT,
 * POSTROUTING; the rule must match `protocol("tcp")` and SYN packets, e.g.
 * `tcp({ flags: { mask: ["SYN", "RST"], set: ["SYN"] } })`):
 * `--jump TCPMSS --clamp-mss-to-pmtu`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClampMssToPmtu } from "@rampart/iptables";
 * assert.equal(String(ClampMssToPmtu()), "ClampMssToPmtu");
 * ```
 */
export function ClampMssToPmtu(): ClampMssToPmtuAction {
  return new ClampMssToPmtuAction();
}

/**
 * `--jump TCPMSS --set-mss <mss>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMssAction } from "@rampart/iptables";
 * assert.equal(new SetMssAction(1400).mss, 1400);
 * ```
 */
export class SetMssAction implements Action {
  /** Always `"SetMss"`. */
  readonly kind = "SetMss";
  /** `[mss]`. */
  readonly args: readonly DslArg[];
  /** The MSS. */
  readonly mss: number;
  /**
   * Creates the action; see {@linkcode SetMss}.
   *
   * @param mss The MSS.
   */
  constructor(mss: number) {
    this.mss = checkInt("SetMss.mss", mss, 0, 65535);
    this.args = argsOf(mss);
  }
  /** Renders `--jump TCPMSS --set-mss <mss>`. */
  toFragment(_features?: Features): string {
    return `--jump TCPMSS --set-mss ${this.mss}`;
  }
  /** `SetMss:<mss>`. */
  toString(): string {
    return `SetMss:${this.mss}`;
  }
}

/**
 * Sets the MSS of TCP SYN packets (the rule must match `protocol("tcp")`
 * and SYN packets): `--jump TCPMSS --set-mss <mss>`.
 *
 * @param mss 0–65535.
 * @returns The action.
 * @throws {RuleError} (`field` `"SetMss.mss"`) when out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetMss } from "@rampart/iptables";
 * assert.equal(SetMss(1400).toFragment(), "--jump TCPMSS --set-mss 1400");
 * ```
 */
export function SetMss(mss: number): SetMssAction {
  return new SetMssAction(mss);
}

/**
 * `--jump CHECKSUM --checksum-fill`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChecksumFillAction } from "@rampart/iptables";
 * assert.equal(new ChecksumFillAction().toFragment(), "--jump CHECKSUM --checksum-fill");
 * ```
 */
export class ChecksumFillAction implements Action {
  /** Always `"ChecksumFill"`. */
  readonly kind = "ChecksumFill";
  /** Always empty. */
  readonly args: readonly DslArg[] = argsOf();
  /** Renders `--jump CHECKSUM --checksum-fill`. */
  toFragment(_features?: Features): string {
    return "--jump CHECKSUM --checksum-fill";
  }
  /** `ChecksumFill`. */
  toString(): string {
    return "ChecksumFill";
  }
}

/**
 * Fills in the checksum of packets that lack one (mangle table; libvirt does
 * it for DHCP replies to old clients): `--jump CHECKSUM --checksum-fill`.
 *
 * @returns The action.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChecksumFill } from "@rampart/iptables";
 * assert.equal(String(ChecksumFill()), "ChecksumFill");
 * ```
 */
export function ChecksumFill(): ChecksumFillAction {
  return new ChecksumFillAction();
}

/**
 * How {@linkcode ChangeTtl} and {@linkcode ChangeHopLimit} change the value:
 * set it, or decrement or increment it by the value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChangeTtl, type TtlOperation } from "@rampart/iptables";
 * const op: TtlOperation = "dec";
 * assert.equal(ChangeTtl(op, 1).toFragment(), "--jump TTL --ttl-dec 1");
 * ```
 */
export type TtlOperation = "set" | "dec" | "inc";

/**
 * `--jump TTL --ttl-<operation> <value>` or `--jump HL --hl-<operation> <value>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChangeTtlAction } from "@rampart/iptables";
 * assert.equal(String(new ChangeTtlAction("TTL", "set", 64)), "ChangeTtl:set=64");
 * ```
 */
export class ChangeTtlAction implements Action {
  /** `"ChangeTtl"` or `"ChangeHopLimit"`. */
  readonly kind: "ChangeTtl" | "ChangeHopLimit";
  /** `[operation, value]`. */
  readonly args: readonly DslArg[];
  /** The operation. */
  readonly operation: TtlOperation;
  /** The value. */
  readonly value: number;
  readonly #target: "TTL" | "HL";
  /**
   * Creates the action; see {@linkcode ChangeTtl} and {@linkcode ChangeHopLimit}.
   *
   * @param target `TTL` (IPv4) or `HL` (IPv6).
   * @param operation The operation.
   * @param value The value.
   */
  constructor(target: "TTL" | "HL", operation: TtlOperation, value: number) {
    this.kind = target === "TTL" ? "ChangeTtl" : "ChangeHopLimit";
    this.#target = target;
    if (operation !== "set" && operation !== "dec" && operation !== "inc") {
      throw invalid(`${this.kind}.operation`, operation, '"set", "dec" or "inc"');
    }
    this.operation = operation;
    this.value = checkInt(`${this.kind}.value`, value, operation === "set" ? 0 : 1, 255);
    this.args = argsOf(operation, value);
  }
  /** Renders the fragment. */
  toFragment(_features?: Features): string {
    const t = this.#target;
    return `--jump ${t} --${t.toLowerCase()}-${this.operation} ${this.value}`;
  }
  /** `ChangeTtl:<operation>=<value>`. */
  toString(): string {
    return `${this.kind}:${this.operation}=${this.value}`;
  }
}

/**
 * Changes the IPv4 time to live (mangle table, IPv4):
 * `--jump TTL --ttl-set|--ttl-dec|--ttl-inc <value>`.
 *
 * @param operation `"set"`, `"dec"` or `"inc"`.
 * @param value 0–255 (1–255 for `dec` and `inc`).
 * @returns The action.
 * @throws {RuleError} (`field` `"ChangeTtl.operation"` or `".value"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChangeTtl } from "@rampart/iptables";
 * assert.equal(ChangeTtl("set", 64).toFragment(), "--jump TTL --ttl-set 64");
 * ```
 */
export function ChangeTtl(operation: TtlOperation, value: number): ChangeTtlAction {
  return new ChangeTtlAction("TTL", operation, value);
}

/**
 * Changes the IPv6 hop limit (mangle table, IPv6):
 * `--jump HL --hl-set|--hl-dec|--hl-inc <value>`.
 *
 * @param operation `"set"`, `"dec"` or `"inc"`.
 * @param value 0–255 (1–255 for `dec` and `inc`).
 * @returns The action.
 * @throws {RuleError} (`field` `"ChangeHopLimit.operation"` or `".value"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChangeHopLimit } from "@rampart/iptables";
 * assert.equal(ChangeHopLimit("set", 64).toFragment(), "--jump HL --hl-set 64");
 * ```
 */
export function ChangeHopLimit(operation: TtlOperation, value: number): ChangeTtlAction {
  return new ChangeTtlAction("HL", operation, value);
}

/**
 * `--jump CLASSIFY --set-class <major>:<minor>` (4 hex digits each).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClassifyAction } from "@rampart/iptables";
 * assert.equal(String(new ClassifyAction(1, 0x10)), "Classify:1:10");
 * ```
 */
export class ClassifyAction implements Action {
  /** Always `"Classify"`. */
  readonly kind = "Classify";
  /** `[major, minor]`. */
  readonly args: readonly DslArg[];
  /** The qdisc's major number. */
  readonly major: number;
  /** The class's minor number. */
  readonly minor: number;
  /**
   * Creates the action; see {@linkcode Classify}.
   *
   * @param major The major number.
   * @param minor The minor number.
   */
  constructor(major: number, minor: number) {
    this.major = checkInt("Classify.major", major, 0, 0xffff);
    this.minor = checkInt("Classify.minor", minor, 0, 0xffff);
    this.args = argsOf(major, minor);
  }
  /** Renders `--jump CLASSIFY --set-class MMMM:mmmm`. */
  toFragment(_features?: Features): string {
    const h = (n: number) => n.toString(16).padStart(4, "0");
    return `--jump CLASSIFY --set-class ${h(this.major)}:${h(this.minor)}`;
  }
  /** `Classify:<major>:<minor>` in hex. */
  toString(): string {
    return `Classify:${this.major.toString(16)}:${this.minor.toString(16)}`;
  }
}

/**
 * Puts the packet in a traffic-control class (mangle table; POSTROUTING,
 * FORWARD, OUTPUT): `--jump CLASSIFY --set-class <major>:<minor>`.
 *
 * @param major The qdisc's major number (0–0xffff), e.g. `1` for `1:`.
 * @param minor The class's minor number (0–0xffff).
 * @returns The action.
 * @throws {RuleError} (`field` `"Classify.major"` or `".minor"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Classify } from "@rampart/iptables";
 * assert.equal(Classify(1, 0x10).toFragment(), "--jump CLASSIFY --set-class 0001:0010");
 * ```
 */
export function Classify(major: number, minor: number): ClassifyAction {
  return new ClassifyAction(major, minor);
}

/**
 * An AUDIT record type for {@linkcode Audit}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Audit, type AuditType } from "@rampart/iptables";
 * const type: AuditType = "drop";
 * assert.equal(Audit(type).toFragment(), "--jump AUDIT --type drop");
 * ```
 */
export type AuditType = "accept" | "drop" | "reject";

/**
 * `--jump AUDIT --type <type>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuditAction } from "@rampart/iptables";
 * assert.equal(new AuditAction("reject").type, "reject");
 * ```
 */
export class AuditAction implements Action {
  /** Always `"Audit"`. */
  readonly kind = "Audit";
  /** `[type]`. */
  readonly args: readonly DslArg[];
  /** The record type. */
  readonly type: AuditType;
  /**
   * Creates the action; see {@linkcode Audit}.
   *
   * @param type The record type.
   */
  constructor(type: AuditType) {
    if (type !== "accept" && type !== "drop" && type !== "reject") {
      throw invalid("Audit.type", type, '"accept", "drop" or "reject"');
    }
    this.type = type;
    this.args = argsOf(type);
  }
  /** Renders `--jump AUDIT --type <type>`. */
  toFragment(_features?: Features): string {
    return `--jump AUDIT --type ${this.type}`;
  }
  /** `Audit:<type>`. */
  toString(): string {
    return `Audit:${this.type}`;
  }
}

/**
 * Writes an audit record for the packet (processing continues with the next
 * rule): `--jump AUDIT --type <type>`.
 *
 * @param type `"accept"`, `"drop"` or `"reject"`: what the record says.
 * @returns The action.
 * @throws {RuleError} (`field` `"Audit.type"`) when the type is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Audit } from "@rampart/iptables";
 * assert.equal(String(Audit("accept")), "Audit:accept");
 * ```
 */
export function Audit(type: AuditType): AuditAction {
  return new AuditAction(type);
}
