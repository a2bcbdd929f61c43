/**
 * IP set contents for the tracer: given by the caller or read from
 * `ipset save`, and the membership test `-m set --match-set NAME FLAGS` makes.
 *
 * @module
 */
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import { parseNetwork } from "../fake/address.ts";
import { bytesToBig, parseAddress, type Span } from "./packet.ts";

/**
 * The contents of one IP set: its type (`hash:ip`, `hash:net`,
 * `hash:ip,port`, `list:set`, …) and its members as `ipset add` takes them
 * (`10.0.0.0/8`, `10.0.0.1,tcp:80`, `10.0.0.0/24 nomatch`).
 *
 * @example
 * ```ts
 * import type { TraceIpSet } from "@rampart/iptables/trace";
 * const office: TraceIpSet = { type: "hash:net", members: ["198.51.100.0/24"] };
 * ```
 */
export interface TraceIpSet {
  /** The set type; absent: read from the members (addresses, then ports). */
  type?: string;
  /** The members. */
  members: readonly string[];
}

/** IP sets by name: a set or a plain list of members. */
export type TraceIpSets = Readonly<Record<string, TraceIpSet | readonly string[]>>;

/**
 * Parses `ipset save` (or `ipset list`) output into {@linkcode TraceIpSets}.
 *
 * @param text The output.
 * @returns The sets by name.
 *
 * @example
 * ```ts
 * import { parseIpSetSave } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const sets = parseIpSetSave("create office hash:net family inet\nadd office 198.51.100.0/24\n");
 * assert.deepEqual(sets.office, { type: "hash:net", members: ["198.51.100.0/24"] });
 * ```
 */
export function parseIpSetSave(text: string): Record<string, TraceIpSet> {
  const out: Record<string, { type?: string; members: string[] }> = {};
  let listing: string | undefined;
  let inMembers = false;
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t.startsWith("create ") || t.startsWith("add ")) {
      const [verb, name = "", rest = "", ...more] = tokenizeRestoreLine(t);
      const set = out[name] ??= { members: [] };
      if (verb === "create") set.type = rest;
      else set.members.push([rest, ...more].join(" "));
      continue;
    }
    // `ipset list` form.
    const m = /^(Name|Type|Members):\s*(.*)$/.exec(t);
    if (m) {
      if (m[1] === "Name") {
        listing = m[2]!;
        out[listing] = { members: [] };
        inMembers = false;
      } else if (m[1] === "Type" && listing !== undefined) out[listing]!.type = m[2]!;
      else if (m[1] === "Members") inMembers = true;
      continue;
    }
    if (t === "") inMembers = false;
    else if (inMembers && listing !== undefined) out[listing]!.members.push(t);
  }
  return out;
}

/** A packet's view for a membership test. */
export interface SetProbe {
  /** The family. */
  ipVersion: 4 | 6;
  /** Source and destination addresses. */
  src: Span;
  dst: Span;
  /** Protocol number. */
  protocol: number;
  /** Ports (undefined: unknown or none). */
  sport: Span | undefined;
  dport: Span | undefined;
  /** ICMP type/code, if ICMP. */
  icmpType: number | undefined;
  icmpCode: number | undefined;
  /** Interface names for `hash:net,iface` (undefined: unknown). */
  inInterface: string | undefined;
  outInterface: string | undefined;
}

/** true / false, or why it cannot be told. */
export type SetAnswer = boolean | { unknown: string };

interface Element {
  parts: string[];
  nomatch: boolean;
}

const PROTOS: Record<string, number> = {
  tcp: 6,
  udp: 17,
  sctp: 132,
  udplite: 136,
  icmp: 1,
  icmpv6: 58,
  "ipv6-icmp": 58,
};

/**
 * Tells whether the packet is in the set, for the flags of `--match-set`
 * (`src`, `dst,dst`, …).
 *
 * @param sets The known sets.
 * @param name The set's name.
 * @param flags The comma-separated flags.
 * @param probe The packet.
 * @param depth Recursion depth for `list:set`.
 * @returns The answer, or why it is unknown.
 */
export function setContains(
  sets: TraceIpSets | undefined,
  name: string,
  flags: string,
  probe: SetProbe,
  depth = 0,
): SetAnswer {
  const given = sets?.[name];
  if (given === undefined) return { unknown: `the contents of IP set ${name} were not given` };
  const set: TraceIpSet = Array.isArray(given)
    ? { members: given as string[] }
    : given as TraceIpSet;
  const dirs = flags.split(",");
  const type = set.type ?? "";
  if (type.startsWith("list:")) {
    if (depth > 8) return { unknown: `IP set ${name} nests too deeply` };
    let unknown: string | undefined;
    for (const m of set.members) {
      const member = m.trim().split(/\s+/)[0]!;
      const r = setContains(sets, member, flags, probe, depth + 1);
      if (r === true) return true;
      if (r !== false) unknown ??= r.unknown;
    }
    return unknown === undefined ? false : { unknown };
  }
  const kinds = type.includes(":") ? type.slice(type.indexOf(":") + 1).split(",") : undefined;
  if (type.startsWith("bitmap:port")) {
    return { unknown: `IP set ${name} of type ${type} is not modelled` };
  }
  const elements: Element[] = set.members.map((m) => {
    const words = m.trim().split(/\s+/);
    return { parts: words[0]!.split(","), nomatch: words.includes("nomatch") };
  });
  // ip_set_test: fewer flags than the set has dimensions never match.
  const dimension = kinds?.length ?? elements[0]?.parts.length ?? 1;
  if (dirs.length < dimension) return false;
  let best: { nomatch: boolean; specificity: number } | undefined;
  let undecided: string | undefined;
  for (const el of elements) {
    let ok: boolean | string = true;
    let specificity = 0;
    for (let i = 0; i < el.parts.length && ok === true; i++) {
      const dir = dirs[i]!;
      const kind = kinds?.[i] ?? guessKind(el.parts[i]!);
      const r = partMatches(kind, el.parts[i]!, dir === "src" ? "src" : "dst", probe);
      if (typeof r === "string") ok = r;
      else if (r === false) ok = false;
      else specificity += r;
    }
    if (typeof ok === "string") {
      undecided ??= `IP set ${name}: ${ok}`;
      continue;
    }
    if (!ok) continue;
    if (best === undefined || specificity > best.specificity) {
      best = { nomatch: el.nomatch, specificity };
    }
  }
  if (undecided !== undefined && (best === undefined || best.nomatch)) {
    return { unknown: undecided };
  }
  return best !== undefined && !best.nomatch;
}

function guessKind(part: string): string {
  if (parseAddress(part.split("/")[0]!.split("-")[0]!) !== undefined) return "ip";
  if (/^(\d+|[a-z0-9-]+:[^,]+)$/i.test(part)) return "port";
  return "iface";
}

/**
 * Whether one dimension matches: a specificity (prefix length) when it does,
 * false when not, a reason when it cannot be told.
 */
function partMatches(
  kind: string,
  part: string,
  dir: "src" | "dst",
  p: SetProbe,
): number | false | string {
  if (kind === "ip" || kind === "net") {
    const span = dir === "src" ? p.src : p.dst;
    let lo: bigint, hi: bigint, prefix: number;
    const bits = p.ipVersion === 4 ? 32 : 128;
    if (part.includes("-")) {
      const [a, b] = part.split("-").map((x) => parseAddress(x));
      if (!a || !b || a.ipVersion !== p.ipVersion || b.ipVersion !== p.ipVersion) return false;
      [lo, hi, prefix] = [a.value, b.value, bits];
    } else {
      const net = parseNetwork(part, p.ipVersion);
      if (!net) return false;
      lo = bytesToBig(net.bytes);
      hi = lo | ((1n << BigInt(bits - net.prefix)) - 1n);
      prefix = net.prefix;
    }
    if (span.lo >= lo && span.hi <= hi) return prefix;
    if (span.hi < lo || span.lo > hi) return false;
    return "the packet's address is a range that the entry only partly covers";
  }
  if (kind === "port") {
    let proto = 6;
    let ports = part;
    const colon = part.indexOf(":");
    if (colon !== -1) {
      const name = part.slice(0, colon).toLowerCase();
      proto = PROTOS[name] ?? (/^\d+$/.test(name) ? Number(name) : -1);
      ports = part.slice(colon + 1);
    }
    if (proto !== p.protocol) {
      // ICMP entries in an ip,port set: icmp:type/code.
      return false;
    }
    if (proto === 1 || proto === 58) {
      const [t, c] = ports.split("/").map(Number);
      return p.icmpType === t && p.icmpCode === c ? 1 : false;
    }
    const span = dir === "src" ? p.sport : p.dport;
    if (span === undefined) {
      return `the packet's ${dir === "src" ? "source" : "destination"} port is unknown`;
    }
    const [a, b = a] = ports.split("-").map((x) => BigInt(Number(x)));
    if (span.lo >= a! && span.hi <= b!) return 1;
    if (span.hi < a! || span.lo > b!) return false;
    return "the packet's port is a range that the entry only partly covers";
  }
  if (kind === "iface") {
    const name = dir === "src" ? p.inInterface : p.outInterface;
    if (name === undefined) return "the interface is unknown";
    const physical = part.replace(/^physdev:/, "");
    return name === physical ? 1 : false;
  }
  if (kind === "mac") return "MAC entries are not modelled";
  if (kind === "mark") return "mark entries are not modelled";
  return `set dimension ${kind} is not modelled`;
}
