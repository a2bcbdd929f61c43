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
import {
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
  /** `[toPorts]` or `[]`. */
  readonly args: readonly DslArg[];
  /** The source port or port range (`""` when absent). */
  readonly toPorts: string;
  /**
   * Creates a MASQUERADE action; see {@linkcode Masq}.
   *
   * @param toPorts `N` or `N-M`.
   */
  constructor(toPorts?: string) {
    this.toPorts = toPorts === undefined || toPorts === "" ? "" : checkMasqPorts(
      "Masq.toPorts",
      toPorts,
    );
    this.args = argsOf(toPorts);
  }
  /** Renders the fragment; `features.masqFullyRandom` adds `--random-fully`. */
  toFragment(features: Features = {}): string {
    let s = this.toPorts === ""
      ? "--jump MASQUERADE"
      : `--jump MASQUERADE --to-ports ${this.toPorts}`;
    if (features.masqFullyRandom) s += " --random-fully";
    return s;
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
export function Masq(toPorts?: string): MasqAction {
  return new MasqAction(toPorts);
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
  /** `[toAddr]`. */
  readonly args: readonly DslArg[];
  /** The `--to-source` spec. */
  readonly toAddr: string;
  /**
   * Creates a SNAT action; see {@linkcode Snat}.
   *
   * @param toAddr The `--to-source` spec.
   */
  constructor(toAddr: string) {
    checkNatSpec("Snat.toAddr", toAddr);
    this.toAddr = toAddr;
    this.args = argsOf(toAddr);
  }
  /** Renders the fragment; `features.snatFullyRandom` adds `--random-fully`. */
  toFragment(features: Features = {}): string {
    const s = `--jump SNAT --to-source ${this.toAddr}`;
    return features.snatFullyRandom ? `${s} --random-fully` : s;
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
export function Snat(toAddr: string): SnatAction {
  return new SnatAction(toAddr);
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
