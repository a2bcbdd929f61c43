/**
 * The options of the match methods that take an options object (`tcp()`,
 * `udp()`, `recent()`, `statistic()`, `owner()`, `connLimit()`, `ipRange()`,
 * `physDev()`): their types, their checks and their rendering.
 *
 * Each method renders one `-m <module>` with its options in the order
 * iptables-save prints them, and with the defaults iptables-save prints, so
 * a rule prints back exactly as it was written (checked against iptables
 * 1.8.9, both backends, in `tests/fixtures/normalisation/`). An option and
 * its `not…` twin are exclusive; unknown keys are refused.
 *
 * Internal module: the types are re-exported by `mod.ts`.
 *
 * @module
 */
import type { DslArg } from "./action.ts";
import type { PortRange } from "./ports.ts";
import {
  checkAddress,
  checkAddressRange,
  checkBoolean,
  checkInt,
  checkInterface,
  checkPortRange,
  fail,
  UINT32_MAX,
} from "./validate.ts";

/**
 * A port or an inclusive port range, for {@linkcode TcpOptions} and
 * {@linkcode UdpOptions}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type PortOrRange } from "@rampart/iptables";
 * const high: PortOrRange = { first: 1024, last: 65535 };
 * assert.equal(Match().protocol("tcp").tcp({ sourcePort: high, destPort: 22 }).render(), "-p tcp -m tcp --sport 1024:65535 --dport 22");
 * ```
 */
export type PortOrRange = number | PortRange;

/**
 * A TCP flag, for {@linkcode TcpFlags}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TcpFlag } from "@rampart/iptables";
 * const syn: TcpFlag = "SYN";
 * assert.equal(syn, "SYN");
 * ```
 */
export type TcpFlag = "FIN" | "SYN" | "RST" | "PSH" | "ACK" | "URG";

/** The flags in the order iptables prints them. */
export const TCP_FLAGS: readonly TcpFlag[] = Object.freeze([
  "FIN",
  "SYN",
  "RST",
  "PSH",
  "ACK",
  "URG",
]);

/**
 * `--tcp-flags <mask> <set>`: of the flags in `mask`, exactly those in `set`
 * are set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type TcpFlags } from "@rampart/iptables";
 * const nullScan: TcpFlags = { mask: ["FIN", "SYN", "RST", "PSH", "ACK", "URG"], set: [] };
 * assert.equal(Match().protocol("tcp").tcp({ flags: nullScan }).render(), "-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE");
 * ```
 */
export interface TcpFlags {
  /** The flags examined. */
  readonly mask: readonly TcpFlag[];
  /** The ones of them that must be set (the others must be clear). */
  readonly set: readonly TcpFlag[];
}

/**
 * Options of {@linkcode MatchCriteria.tcp} (`-m tcp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type TcpOptions } from "@rampart/iptables";
 * const ssh: TcpOptions = { destPort: 22, syn: true };
 * assert.equal(Match().protocol("tcp").tcp(ssh).render(), "-p tcp -m tcp --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN");
 * ```
 */
export interface TcpOptions {
  /** `--sport`: the source port or range. */
  readonly sourcePort?: PortOrRange;
  /** `! --sport`. */
  readonly notSourcePort?: PortOrRange;
  /** `--dport`: the destination port or range. */
  readonly destPort?: PortOrRange;
  /** `! --dport`. */
  readonly notDestPort?: PortOrRange;
  /** `--tcp-option <n>`: the TCP option is present (0–255). */
  readonly option?: number;
  /** `! --tcp-option <n>`. */
  readonly notOption?: number;
  /** `--tcp-flags <mask> <set>`. */
  readonly flags?: TcpFlags;
  /** `! --tcp-flags <mask> <set>`. */
  readonly notFlags?: TcpFlags;
  /** `--syn` (printed as `--tcp-flags FIN,SYN,RST,ACK SYN`): a connection's first packet. */
  readonly syn?: boolean;
}

/**
 * Options of {@linkcode MatchCriteria.udp} (`-m udp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type UdpOptions } from "@rampart/iptables";
 * const dhcp: UdpOptions = { sourcePort: 68, destPort: 67 };
 * assert.equal(Match().protocol("udp").udp(dhcp).render(), "-p udp -m udp --sport 68 --dport 67");
 * ```
 */
export interface UdpOptions {
  /** `--sport`. */
  readonly sourcePort?: PortOrRange;
  /** `! --sport`. */
  readonly notSourcePort?: PortOrRange;
  /** `--dport`. */
  readonly destPort?: PortOrRange;
  /** `! --dport`. */
  readonly notDestPort?: PortOrRange;
}

/**
 * What {@linkcode MatchCriteria.recent} does with the source (or destination)
 * address: add it to the list (`set`), check it (`rcheck`), check it and
 * refresh its time (`update`), or take it out (`remove`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RecentMode } from "@rampart/iptables";
 * const mode: RecentMode = "update";
 * assert.equal(mode, "update");
 * ```
 */
export type RecentMode = "set" | "rcheck" | "update" | "remove";

/**
 * Options of {@linkcode MatchCriteria.recent} (`-m recent`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type RecentOptions } from "@rampart/iptables";
 * const flood: RecentOptions = { mode: "update", name: "ssh", seconds: 60, hitcount: 4 };
 * assert.equal(Match().recent(flood).render(), "-m recent --update --seconds 60 --hitcount 4 --name ssh --rsource");
 * ```
 */
export interface RecentOptions {
  /** `--set`, `--rcheck`, `--update` or `--remove`. */
  readonly mode: RecentMode;
  /** `--name`: the list (default `DEFAULT`). */
  readonly name?: string;
  /** `--seconds`: seen within this many seconds (`rcheck`/`update` only). */
  readonly seconds?: number;
  /** `--reap`: purge entries older than `seconds` (needs `seconds`). */
  readonly reap?: boolean;
  /** `--hitcount`: seen at least this many times (1–255; the kernel's `ip_pkt_list_tot`, 20 by default, caps it). */
  readonly hitcount?: number;
  /** `--rttl`: the TTL must match too (`rcheck`/`update` only). */
  readonly rttl?: boolean;
  /** `--mask`: the netmask applied to the address (an IPv4 or IPv6 address, of the table's family). */
  readonly mask?: string;
  /** `--rdest`: the destination address instead of the source (`--rsource`). */
  readonly dest?: boolean;
}

/**
 * Options of {@linkcode MatchCriteria.statistic} (`-m statistic`): a random
 * share of packets, or every n-th.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type StatisticOptions } from "@rampart/iptables";
 * const half: StatisticOptions = { mode: "random", probability: 0.5 };
 * assert.equal(Match().statistic(half).render(), "-m statistic --mode random --probability 0.50000000000");
 * ```
 */
export type StatisticOptions =
  | { readonly mode: "random"; readonly probability: number }
  | { readonly mode: "nth"; readonly every: number; readonly packet?: number };

/**
 * A user or group ID, or an inclusive range of them, for
 * {@linkcode OwnerOptions}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type IdRange } from "@rampart/iptables";
 * const system: IdRange = { first: 0, last: 999 };
 * assert.equal(Match().owner({ uid: system }).render(), "-m owner --uid-owner 0-999");
 * ```
 */
export type IdRange = number | { readonly first: number; readonly last: number };

/**
 * Options of {@linkcode MatchCriteria.owner} (`-m owner`, locally generated
 * packets: OUTPUT and POSTROUTING only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type OwnerOptions } from "@rampart/iptables";
 * const root: OwnerOptions = { uid: 0 };
 * assert.equal(Match().owner(root).render(), "-m owner --uid-owner 0");
 * ```
 */
export interface OwnerOptions {
  /** `--socket-exists`: the packet has a socket. */
  readonly socketExists?: boolean;
  /** `! --socket-exists`. */
  readonly notSocketExists?: boolean;
  /** `--uid-owner`: the socket's user ID (or range). */
  readonly uid?: IdRange;
  /** `! --uid-owner`. */
  readonly notUid?: IdRange;
  /** `--gid-owner`: the socket's group ID (or range). */
  readonly gid?: IdRange;
  /** `! --gid-owner`. */
  readonly notGid?: IdRange;
  /** `--suppl-groups`: `gid` also matches supplementary groups (needs `gid`). */
  readonly supplGroups?: boolean;
}

/**
 * Options of {@linkcode MatchCriteria.connLimit} (`-m connlimit`): exactly
 * one of `above` and `upto`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type ConnLimitOptions } from "@rampart/iptables";
 * const perHost: ConnLimitOptions = { above: 16, mask: 32 };
 * assert.equal(Match().connLimit(perHost).render(), "-m connlimit --connlimit-above 16 --connlimit-mask 32 --connlimit-saddr");
 * ```
 */
export interface ConnLimitOptions {
  /** `--connlimit-above`: more than this many connections. */
  readonly above?: number;
  /** `--connlimit-upto`: at most this many connections. */
  readonly upto?: number;
  /** `--connlimit-mask`: group addresses by this prefix length (default: the whole address). */
  readonly mask?: number;
  /** `--connlimit-daddr`: count per destination instead of per source. */
  readonly dest?: boolean;
}

/**
 * Options of {@linkcode MatchCriteria.ipRange} (`-m iprange`): address
 * ranges `"A-B"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type IpRangeOptions, Match } from "@rampart/iptables";
 * const lan: IpRangeOptions = { source: "192.168.1.100-192.168.1.200" };
 * assert.equal(Match().ipRange(lan).render(), "-m iprange --src-range 192.168.1.100-192.168.1.200");
 * ```
 */
export interface IpRangeOptions {
  /** `--src-range`. */
  readonly source?: string;
  /** `! --src-range`. */
  readonly notSource?: string;
  /** `--dst-range`. */
  readonly dest?: string;
  /** `! --dst-range`. */
  readonly notDest?: string;
}

/**
 * Options of {@linkcode MatchCriteria.physDev} (`-m physdev`, bridged
 * traffic): the bridge ports a packet came in on or goes out of.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type PhysDevOptions } from "@rampart/iptables";
 * const fromVm: PhysDevOptions = { in: "vnet0", isBridged: true };
 * assert.equal(Match().physDev(fromVm).render(), "-m physdev --physdev-in vnet0 --physdev-is-bridged");
 * ```
 */
export interface PhysDevOptions {
  /** `--physdev-is-in`: it came in on a bridge port. */
  readonly isIn?: boolean;
  /** `! --physdev-is-in`. */
  readonly notIsIn?: boolean;
  /** `--physdev-in`: the bridge port it came in on. */
  readonly in?: string;
  /** `! --physdev-in`. */
  readonly notIn?: string;
  /** `--physdev-is-out`: it goes out of a bridge port. */
  readonly isOut?: boolean;
  /** `! --physdev-is-out`. */
  readonly notIsOut?: boolean;
  /** `--physdev-out`: the bridge port it goes out of. */
  readonly out?: string;
  /** `! --physdev-out`. */
  readonly notOut?: string;
  /** `--physdev-is-bridged`: it is bridged (not routed). */
  readonly isBridged?: boolean;
  /** `! --physdev-is-bridged`. */
  readonly notIsBridged?: boolean;
}

/** The options given, checked to be a plain object with known keys; a frozen copy without `undefined`s. */
function read(
  field: string,
  value: unknown,
  keys: readonly string[],
): Readonly<Record<string, DslArg>> {
  if (value === undefined) return Object.freeze({});
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(field, value, `an options object with the keys ${keys.join(", ")}`);
  }
  const given = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(given)) {
    if (!keys.includes(k)) {
      fail(`${field}.${k}`, v, `one of the keys ${keys.join(", ")} (not "${k}")`);
    }
  }
  // In the keys' order, whatever the order given: equal options, equal arguments.
  const out: Record<string, DslArg> = {};
  for (const k of keys) if (given[k] !== undefined) out[k] = given[k] as DslArg;
  for (const k of Object.keys(out)) {
    const twin = `not${k[0]!.toUpperCase()}${k.slice(1)}`;
    if (twin in out) fail(`${field}.${twin}`, out[twin], `either ${k} or ${twin}, not both`);
  }
  return Object.freeze(out);
}

/** A frozen deep copy of a checked options object (the clause's argument). */
function freeze(opts: Readonly<Record<string, DslArg>>): Readonly<Record<string, DslArg>> {
  const copy = (v: DslArg): DslArg => {
    if (Array.isArray(v)) return Object.freeze(v.map(copy));
    if (v !== null && typeof v === "object") {
      return Object.freeze(
        Object.fromEntries(
          Object.entries(v as Record<string, DslArg>).map(([k, x]) => [k, copy(x)]),
        ),
      );
    }
    return v;
  };
  return copy(opts) as Readonly<Record<string, DslArg>>;
}

/** The option (or its `not…` twin) and its `!`. */
function pick(
  opts: Readonly<Record<string, DslArg>>,
  key: string,
): [DslArg, string] | undefined {
  if (opts[key] !== undefined) return [opts[key], ""];
  const twin = `not${key[0]!.toUpperCase()}${key.slice(1)}`;
  if (opts[twin] !== undefined) return [opts[twin], "! "];
  return undefined;
}

function keyOf(field: string, key: string, not: string): string {
  return `${field}.${not === "" ? key : `not${key[0]!.toUpperCase()}${key.slice(1)}`}`;
}

function portText(field: string, value: DslArg): string {
  const r = typeof value === "number"
    ? checkPortRange(field, { first: value, last: value })
    : checkPortRange(field, value);
  if (r.first === 0 && r.last === 65535) {
    fail(field, value, "a port or a range other than 0-65535 (every port: leave the option out)");
  }
  return r.first === r.last ? `${r.first}` : `${r.first}:${r.last}`;
}

function flagsText(field: string, value: DslArg): string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(field, value, 'TCP flags { mask: ["SYN", …], set: ["SYN", …] }');
  }
  const v = value as { mask?: unknown; set?: unknown };
  const list = (part: "mask" | "set"): string => {
    const flags = v[part];
    if (!Array.isArray(flags)) {
      fail(`${field}.${part}`, flags, `a list of TCP flags (${TCP_FLAGS.join(", ")})`);
    }
    let bits = 0;
    for (const f of flags) {
      const i = TCP_FLAGS.indexOf(f as TcpFlag);
      if (i < 0 || bits & (1 << i)) {
        fail(`${field}.${part}`, flags, `distinct TCP flags (${TCP_FLAGS.join(", ")})`);
      }
      bits |= 1 << i;
    }
    return bits === 0 ? "NONE" : TCP_FLAGS.filter((_, i) => bits & (1 << i)).join(",");
  };
  for (const k of Object.keys(v)) {
    if (k !== "mask" && k !== "set") fail(`${field}.${k}`, v, "only mask and set");
  }
  const mask = list("mask");
  // An empty mask tests nothing: iptables-nft-save leaves it out, legacy prints it.
  if (mask === "NONE") fail(`${field}.mask`, v.mask, "at least one TCP flag to examine");
  return `${mask} ${list("set")}`;
}

/** `-m tcp …` for {@linkcode MatchCriteria.tcp}. */
export function tcpClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, [
    "sourcePort",
    "notSourcePort",
    "destPort",
    "notDestPort",
    "option",
    "notOption",
    "flags",
    "notFlags",
    "syn",
  ]);
  let s = "-m tcp";
  s += ports(field, opts);
  const option = pick(opts, "option");
  if (option) {
    s += ` ${option[1]}--tcp-option ${
      checkInt(keyOf(field, "option", option[1]), option[0], 0, 255)
    }`;
  }
  const flags = pick(opts, "flags");
  if (opts.syn !== undefined) {
    checkBoolean(`${field}.syn`, opts.syn);
    if (flags) fail(`${field}.syn`, opts.syn, "either syn or flags, not both");
    if (opts.syn !== true) fail(`${field}.syn`, opts.syn, "true (leave it out for any packet)");
    s += " --tcp-flags FIN,SYN,RST,ACK SYN";
  }
  if (flags) s += ` ${flags[1]}--tcp-flags ${flagsText(keyOf(field, "flags", flags[1]), flags[0])}`;
  return [options === undefined ? [] : [freeze(opts)], s];
}

function ports(field: string, opts: Readonly<Record<string, DslArg>>): string {
  let s = "";
  for (const [key, flag] of [["sourcePort", "--sport"], ["destPort", "--dport"]] as const) {
    const p = pick(opts, key);
    if (p) s += ` ${p[1]}${flag} ${portText(keyOf(field, key, p[1]), p[0])}`;
  }
  return s;
}

/** `-m udp …` for {@linkcode MatchCriteria.udp}. */
export function udpClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, ["sourcePort", "notSourcePort", "destPort", "notDestPort"]);
  return [options === undefined ? [] : [freeze(opts)], `-m udp${ports(field, opts)}`];
}

const RECENT_NAME = /^[A-Za-z0-9_.:@%+=,][A-Za-z0-9_.:@%+=,-]{0,198}$/;
const RECENT_MODES: readonly RecentMode[] = ["set", "rcheck", "update", "remove"];

/** `-m recent …` for {@linkcode MatchCriteria.recent} (`not`: `! --<mode>`). */
export function recentClause(field: string, options: unknown, not: boolean): [DslArg[], string] {
  const opts = read(field, options, [
    "mode",
    "name",
    "seconds",
    "reap",
    "hitcount",
    "rttl",
    "mask",
    "dest",
  ]);
  const mode = opts.mode as RecentMode;
  if (!RECENT_MODES.includes(mode)) {
    fail(`${field}.mode`, opts.mode, `one of ${RECENT_MODES.join(", ")}`);
  }
  let s = `-m recent ${not ? "! " : ""}--${mode}`;
  const checks = mode === "rcheck" || mode === "update";
  const modifier = (key: string) => {
    if (!checks) {
      fail(`${field}.${key}`, opts[key], `nothing: ${key} works only with mode rcheck or update`);
    }
  };
  if (opts.seconds !== undefined) {
    modifier("seconds");
    s += ` --seconds ${checkInt(`${field}.seconds`, opts.seconds, 1, UINT32_MAX)}`;
  }
  if (opts.reap !== undefined && checkBoolean(`${field}.reap`, opts.reap)) {
    if (opts.seconds === undefined) {
      fail(`${field}.reap`, opts.reap, "seconds as well (reap needs it)");
    }
    s += " --reap";
  }
  if (opts.hitcount !== undefined) {
    modifier("hitcount");
    s += ` --hitcount ${checkInt(`${field}.hitcount`, opts.hitcount, 1, 255)}`;
  }
  if (opts.rttl !== undefined && checkBoolean(`${field}.rttl`, opts.rttl)) {
    modifier("rttl");
    s += " --rttl";
  }
  const name = opts.name ?? "DEFAULT";
  if (typeof name !== "string" || !RECENT_NAME.test(name)) {
    fail(`${field}.name`, name, "1 to 199 characters [A-Za-z0-9_.:@%+=,-], not starting with -");
  }
  s += ` --name ${name}`;
  if (opts.mask !== undefined) {
    checkAddress(`${field}.mask`, opts.mask);
    s += ` --mask ${opts.mask}`;
  }
  if (opts.dest !== undefined) checkBoolean(`${field}.dest`, opts.dest);
  s += opts.dest === true ? " --rdest" : " --rsource";
  return [[freeze(opts)], s];
}

/** `-m statistic …` for {@linkcode MatchCriteria.statistic}. */
export function statisticClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, ["mode", "probability", "every", "packet"]);
  if (opts.mode === "random") {
    if (opts.every !== undefined || opts.packet !== undefined) {
      fail(
        `${field}.every`,
        opts.every ?? opts.packet,
        "nothing: every and packet are for mode nth",
      );
    }
    const p = opts.probability;
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      fail(`${field}.probability`, p, "a number from 0 to 1");
    }
    // The kernel keeps lround(2^31 × p); iptables-save prints it back with 11 decimals.
    const kept = Math.round(0x80000000 * p) / 0x80000000;
    return [[freeze(opts)], `-m statistic --mode random --probability ${kept.toFixed(11)}`];
  }
  if (opts.mode !== "nth") fail(`${field}.mode`, opts.mode, '"random" or "nth"');
  if (opts.probability !== undefined) {
    fail(`${field}.probability`, opts.probability, "nothing: probability is for mode random");
  }
  const every = checkInt(`${field}.every`, opts.every, 1, UINT32_MAX);
  const packet = opts.packet === undefined
    ? 0
    : checkInt(`${field}.packet`, opts.packet, 0, every - 1);
  return [[freeze(opts)], `-m statistic --mode nth --every ${every} --packet ${packet}`];
}

function idText(field: string, value: DslArg): string {
  if (typeof value === "number") return `${checkInt(field, value, 0, UINT32_MAX - 1)}`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(field, value, "an ID or a range { first, last }");
  }
  const r = value as { first?: unknown; last?: unknown };
  const first = checkInt(field, r.first, 0, UINT32_MAX - 1);
  const last = checkInt(field, r.last, 0, UINT32_MAX - 1);
  if (first > last) fail(field, value, "a range with first <= last");
  return first === last ? `${first}` : `${first}-${last}`;
}

/** `-m owner …` for {@linkcode MatchCriteria.owner}. */
export function ownerClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, [
    "socketExists",
    "notSocketExists",
    "uid",
    "notUid",
    "gid",
    "notGid",
    "supplGroups",
  ]);
  let s = "-m owner";
  const socket = pick(opts, "socketExists");
  if (socket && checkBoolean(keyOf(field, "socketExists", socket[1]), socket[0])) {
    s += ` ${socket[1]}--socket-exists`;
  }
  for (const [key, flag] of [["uid", "--uid-owner"], ["gid", "--gid-owner"]] as const) {
    const v = pick(opts, key);
    if (v) s += ` ${v[1]}${flag} ${idText(keyOf(field, key, v[1]), v[0])}`;
  }
  if (opts.supplGroups !== undefined && checkBoolean(`${field}.supplGroups`, opts.supplGroups)) {
    if (opts.gid === undefined && opts.notGid === undefined) {
      fail(`${field}.supplGroups`, true, "gid as well (supplGroups extends it)");
    }
    s += " --suppl-groups";
  }
  if (s === "-m owner") fail(field, options, "at least one of socketExists, uid, gid");
  return [[freeze(opts)], s];
}

/** `-m connlimit …` for {@linkcode MatchCriteria.connLimit}. */
export function connLimitClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, ["above", "upto", "mask", "dest"]);
  if ((opts.above === undefined) === (opts.upto === undefined)) {
    fail(field, options, "exactly one of above and upto");
  }
  const above = opts.above !== undefined;
  const n = checkInt(
    `${field}.${above ? "above" : "upto"}`,
    above ? opts.above : opts.upto,
    0,
    UINT32_MAX,
  );
  let s = `-m connlimit --connlimit-${above ? "above" : "upto"} ${n}`;
  if (opts.mask !== undefined) {
    s += ` --connlimit-mask ${checkInt(`${field}.mask`, opts.mask, 0, 128)}`;
  }
  if (opts.dest !== undefined) checkBoolean(`${field}.dest`, opts.dest);
  s += opts.dest === true ? " --connlimit-daddr" : " --connlimit-saddr";
  return [[freeze(opts)], s];
}

/** `-m iprange …` for {@linkcode MatchCriteria.ipRange}. */
export function ipRangeClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, ["source", "notSource", "dest", "notDest"]);
  let s = "-m iprange";
  let family: number | undefined;
  for (const [key, flag] of [["source", "--src-range"], ["dest", "--dst-range"]] as const) {
    const v = pick(opts, key);
    if (!v) continue;
    const f = checkAddressRange(keyOf(field, key, v[1]), v[0]);
    if (family !== undefined && f !== family) {
      fail(keyOf(field, key, v[1]), v[0], `a range of the same family as the other (IPv${family})`);
    }
    family = f;
    s += ` ${v[1]}${flag} ${v[0]}`;
  }
  if (family === undefined) fail(field, options, "at least one of source and dest");
  return [[freeze(opts)], s];
}

/** `-m physdev …` for {@linkcode MatchCriteria.physDev}. */
export function physDevClause(field: string, options: unknown): [DslArg[], string] {
  const opts = read(field, options, [
    "isIn",
    "notIsIn",
    "in",
    "notIn",
    "isOut",
    "notIsOut",
    "out",
    "notOut",
    "isBridged",
    "notIsBridged",
  ]);
  let s = "-m physdev";
  const parts: [string, string, boolean][] = [
    ["isIn", "--physdev-is-in", false],
    ["in", "--physdev-in", true],
    ["isOut", "--physdev-is-out", false],
    ["out", "--physdev-out", true],
    ["isBridged", "--physdev-is-bridged", false],
  ];
  for (const [key, flag, named] of parts) {
    const v = pick(opts, key);
    if (!v) continue;
    const f = keyOf(field, key, v[1]);
    if (named) s += ` ${v[1]}${flag} ${checkInterface(f, v[0])}`;
    else if (checkBoolean(f, v[0])) s += ` ${v[1]}${flag}`;
  }
  if (s === "-m physdev") fail(field, options, "at least one option");
  return [[freeze(opts)], s];
}
