/**
 * A packet as command-line flags (`--in eth0 --src 203.0.113.7 --dst
 * 10.0.0.1 --proto tcp --dport 22 --state NEW`), shared by `rampart trace`,
 * `rampart graph --trace` and the REPL's `trace()`: the flags, their
 * `node:util` `parseArgs` specification, and their translation into a
 * {@linkcode TracePacket}.
 *
 * @module
 */
import type { TraceConntrackState, TraceDirection, TracePacket } from "./packet.ts";
import { TracePacketError } from "./packet.ts";

export { PACKET_FLAG_OPTIONS, PACKET_FLAGS } from "./packet_flags.ts";
import { PACKET_FLAGS } from "./packet_flags.ts";

const STATES: readonly TraceConntrackState[] = [
  "NEW",
  "ESTABLISHED",
  "RELATED",
  "INVALID",
  "UNTRACKED",
];

function integer(flag: string, text: string, max: number): number {
  const n = /^0x[0-9a-f]+$/i.test(text)
    ? parseInt(text, 16)
    : /^\d+$/.test(text)
    ? Number(text)
    : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new TracePacketError(
      `Invalid --${flag} ${JSON.stringify(text)}: expected a number from 0 to ${max}`,
      { field: flag },
    );
  }
  return n;
}

/**
 * Whether any packet flag is present.
 *
 * @param values Parsed flag values by name.
 * @returns True when at least one packet flag has a value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasPacketFlags } from "@rampart/iptables/trace";
 * assert.ok(hasPacketFlags({ dport: "22" }));
 * assert.ok(!hasPacketFlags({ json: true }));
 * ```
 */
export function hasPacketFlags(values: Readonly<Record<string, unknown>>): boolean {
  return Object.keys(PACKET_FLAGS).some((k) => values[k] !== undefined);
}

/**
 * Turns packet flags (or the REPL's object with the same names) into a
 * {@linkcode TracePacket}. Values may be strings (from a command line) or
 * numbers; `--src` and `--dst` are required.
 *
 * @param values Flag values by name (`src`, `dst`, `dport`, `icmp-type` or `icmpType`, …).
 * @returns The packet.
 * @throws {TracePacketError} On a missing address or a bad value, naming the flag.
 *
 * @example
 * ```ts
 * import { packetFromFlags } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const packet = packetFromFlags({ in: "eth0", src: "203.0.113.7", dst: "10.0.0.1", dport: "22" });
 * assert.deepEqual(packet, {
 *   inInterface: "eth0", source: "203.0.113.7", destination: "10.0.0.1", destPort: 22,
 * });
 * ```
 */
export function packetFromFlags(values: Readonly<Record<string, unknown>>): TracePacket {
  const get = (flag: string): string | undefined => {
    const camel = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const v = values[flag] ?? values[camel];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "number") return String(v);
    if (typeof v === "string") return v;
    if (Array.isArray(v) && flag === "tcp-flags") return v.join(",");
    throw new TracePacketError(
      `Invalid --${flag} ${JSON.stringify(v)}: expected a string or a number`,
      { field: flag },
    );
  };
  for (const key of Object.keys(values)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (!(flag in PACKET_FLAGS) && values[key] !== undefined) {
      throw new TracePacketError(
        `Unknown packet field ${JSON.stringify(key)}: expected ${
          Object.keys(PACKET_FLAGS).join(", ")
        }`,
        { field: key },
      );
    }
  }
  const src = get("src");
  const dst = get("dst");
  if (src === undefined || dst === undefined) {
    throw new TracePacketError(
      `Missing --${src === undefined ? "src" : "dst"}: a packet needs a source and a ` +
        "destination address (--src 203.0.113.7 --dst 10.0.0.1)",
      { field: src === undefined ? "src" : "dst" },
    );
  }
  const packet: TracePacket = { source: src, destination: dst };
  const inIf = get("in");
  if (inIf !== undefined) packet.inInterface = inIf;
  const outIf = get("out");
  if (outIf !== undefined) packet.outInterface = outIf;
  const proto = get("proto");
  if (proto !== undefined) packet.protocol = /^\d+$/.test(proto) ? Number(proto) : proto;
  const sport = get("sport");
  if (sport !== undefined) packet.sourcePort = integer("sport", sport, 65535);
  const dport = get("dport");
  if (dport !== undefined) packet.destPort = integer("dport", dport, 65535);
  const icmp = get("icmp-type");
  if (icmp !== undefined) {
    const [type = "", code] = icmp.split("/");
    packet.icmpType = /^\d+$/.test(type) ? Number(type) : type;
    if (code !== undefined) packet.icmpCode = integer("icmp-type", code, 255);
  }
  const state = get("state");
  if (state !== undefined) {
    const upper = state.toUpperCase() as TraceConntrackState;
    if (!STATES.includes(upper)) {
      throw new TracePacketError(
        `Invalid --state ${JSON.stringify(state)}: expected ${STATES.join(", ")}`,
        { field: "state" },
      );
    }
    packet.state = upper;
  }
  const mark = get("mark");
  if (mark !== undefined) packet.mark = integer("mark", mark, 0xffffffff);
  const connMark = get("conn-mark");
  if (connMark !== undefined) packet.connMark = integer("conn-mark", connMark, 0xffffffff);
  const direction = get("direction");
  if (direction !== undefined) {
    if (direction !== "in" && direction !== "forward" && direction !== "out") {
      throw new TracePacketError(
        `Invalid --direction ${JSON.stringify(direction)}: expected in, forward or out`,
        { field: "direction" },
      );
    }
    packet.direction = direction as TraceDirection;
  }
  const flags = get("tcp-flags");
  if (flags !== undefined) {
    packet.tcpFlags = flags.split(",").map((f) => f.trim()).filter((f) => f !== "");
  }
  const length = get("length");
  if (length !== undefined) packet.length = integer("length", length, 65535);
  const ttl = get("ttl");
  if (ttl !== undefined) packet.ttl = integer("ttl", ttl, 255);
  const dscp = get("dscp");
  if (dscp !== undefined) packet.dscp = integer("dscp", dscp, 63);
  const mac = get("src-mac");
  if (mac !== undefined) packet.sourceMac = mac;
  const uid = get("uid");
  if (uid !== undefined) packet.uid = integer("uid", uid, 0xffffffff);
  const gid = get("gid");
  if (gid !== undefined) packet.gid = integer("gid", gid, 0xffffffff);
  return packet;
}

/**
 * Parses `--assume MODULE=match|no-match` values (outcomes for match modules
 * the tracer cannot decide, such as `rpfilter=no-match` or `limit=match`).
 *
 * @param list The values.
 * @returns The outcomes by module name.
 * @throws {TypeError} On a malformed value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAssumeFlags } from "@rampart/iptables/trace";
 * assert.deepEqual(parseAssumeFlags(["rpfilter=no-match", "limit=match"]), { rpfilter: false, limit: true });
 * ```
 */
export function parseAssumeFlags(list: readonly string[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const item of list) {
    const m = /^([a-z0-9_]+)=(match|no-match)$/.exec(item);
    if (m === null) {
      throw new TypeError(
        `Invalid --assume ${JSON.stringify(item)}: expected MODULE=match or MODULE=no-match ` +
          "(rpfilter=no-match, limit=match)",
      );
    }
    out[m[1]!] = m[2] === "match";
  }
  return out;
}
