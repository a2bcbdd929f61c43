/**
 * The vocabulary of YAML rule files: every DSL match method and action
 * constructor, the YAML key that names it, and its parameters. The loader,
 * the saver and the TypeScript export all work from these tables, so a
 * method's YAML key is always its DSL name; so do the set-name reader
 * (`ipset_names.ts`, from `ipSet`) and the loader's family checks (from
 * `family`). How each parameter type is read and written is in
 * `src/yaml/param_types.ts`; what else a new match method needs is in
 * `docs/adding_a_match.md`.
 *
 * @module
 */

/**
 * What a parameter's YAML value must be before the DSL validates it:
 * `string`, `integer`, `boolean`, `mark` (an integer, saved in hex),
 * `ports` (a list of integers, or one), `ranges` (a list of `N`, `"N:M"` or
 * `{first, last}`), `strings` (a string or a list of strings), `address`
 * (an IP address or CIDR: its family is checked against the rule's) or
 * `portSpec` (a string, or an integer taken as its decimal string), `port`
 * (a port, `"N:M"` or `{first, last}`), `idRange` (an ID, `"N-M"` or
 * `{first, last}`), `tcpFlags` (`{mask: [...], set: [...]}`) or `number`
 * (any number, e.g. a probability).
 */
export type ParamType =
  | "string"
  | "integer"
  | "boolean"
  | "mark"
  | "ports"
  | "ranges"
  | "strings"
  | "address"
  | "portSpec"
  | "port"
  | "idRange"
  | "tcpFlags"
  | "number";

/** One parameter of a match method or action constructor. */
export interface ParamSpec {
  /** The parameter's name (the key in the YAML mapping form). */
  readonly name: string;
  /** What its value must be. */
  readonly type: ParamType;
  /** May be left out. */
  readonly optional?: boolean;
}

/** A match method or action constructor as YAML files spell it. */
export interface CallSpec {
  /** The DSL name: a `MatchCriteria` method or an action constructor (`kind`). */
  readonly name: string;
  /** The YAML key (the method name; the constructor name with a lowercase first letter). */
  readonly key: string;
  /** Its parameters, in order. */
  readonly params: readonly ParamSpec[];
  /** Its first parameter names an IP set (what `ipset_names.ts` reads without the fragment). */
  readonly ipSet?: boolean;
  /** The single parameter takes any number of values (`destPorts(80, 443)`). */
  readonly variadic?: boolean;
  /** The IP family the call implies (`icmpType` → 4, `icmpV6Type` → 6). */
  readonly family?: 4 | 6;
  /**
   * The keys of a trailing options object (`tcp({ destPort: 22 })`,
   * `Masq("1024-65535", { randomFully: false })`): written in the same YAML
   * mapping as the parameters.
   */
  readonly options?: readonly ParamSpec[];
}

function p(name: string, type: ParamType, optional = false): ParamSpec {
  return optional ? { name, type, optional } : { name, type };
}

function call(name: string, params: ParamSpec[], extra: Partial<CallSpec> = {}): CallSpec {
  return Object.freeze({ name, key: name[0]!.toLowerCase() + name.slice(1), params, ...extra });
}

const MATCH_LIST: CallSpec[] = [
  call("protocol", [p("name", "string")]),
  call("notProtocol", [p("name", "string")]),
  call("protocolNum", [p("num", "integer")]),
  call("notProtocolNum", [p("num", "integer")]),
  call("sourceNet", [p("cidr", "address")]),
  call("notSourceNet", [p("cidr", "address")]),
  call("destNet", [p("cidr", "address")]),
  call("notDestNet", [p("cidr", "address")]),
  call("sourceIpSet", [p("name", "string")], { ipSet: true }),
  call("notSourceIpSet", [p("name", "string")], { ipSet: true }),
  call("destIpSet", [p("name", "string")], { ipSet: true }),
  call("notDestIpSet", [p("name", "string")], { ipSet: true }),
  call("sourceIpPortSet", [p("name", "string")], { ipSet: true }),
  call("notSourceIpPortSet", [p("name", "string")], { ipSet: true }),
  call("destIpPortSet", [p("name", "string")], { ipSet: true }),
  call("notDestIpPortSet", [p("name", "string")], { ipSet: true }),
  call("sourcePorts", [p("ports", "ports")], { variadic: true }),
  call("notSourcePorts", [p("ports", "ports")], { variadic: true }),
  call("destPorts", [p("ports", "ports")], { variadic: true }),
  call("notDestPorts", [p("ports", "ports")], { variadic: true }),
  call("sourcePortRanges", [p("ranges", "ranges")]),
  call("notSourcePortRanges", [p("ranges", "ranges")]),
  call("destPortRanges", [p("ranges", "ranges")]),
  call("notDestPortRanges", [p("ranges", "ranges")]),
  call("inInterface", [p("name", "string")]),
  call("outInterface", [p("name", "string")]),
  call("notInInterface", [p("name", "string")]),
  call("notOutInterface", [p("name", "string")]),
  call("conntrackState", [p("states", "strings")]),
  call("notConntrackState", [p("states", "strings")]),
  call("srcAddrType", [p("type", "string"), p("limitIfaceOut", "boolean", true)]),
  call("notSrcAddrType", [p("type", "string"), p("limitIfaceOut", "boolean", true)]),
  call("destAddrType", [p("type", "string")]),
  call("notDestAddrType", [p("type", "string")]),
  call("markClear", [p("mark", "mark")]),
  call("markNotClear", [p("mark", "mark")]),
  call("markSingleBitSet", [p("mark", "mark")]),
  call("markMatchesWithMask", [p("mark", "mark"), p("mask", "mark")]),
  call("notMarkMatchesWithMask", [p("mark", "mark"), p("mask", "mark")]),
  call("icmpType", [p("type", "integer")], { family: 4 }),
  call("notIcmpType", [p("type", "integer")], { family: 4 }),
  call("icmpTypeAndCode", [p("type", "integer"), p("code", "integer")], { family: 4 }),
  call("notIcmpTypeAndCode", [p("type", "integer"), p("code", "integer")], { family: 4 }),
  call("icmpV6Type", [p("type", "integer")], { family: 6 }),
  call("notIcmpV6Type", [p("type", "integer")], { family: 6 }),
  call("icmpV6TypeAndCode", [p("type", "integer"), p("code", "integer")], { family: 6 }),
  call("notIcmpV6TypeAndCode", [p("type", "integer"), p("code", "integer")], { family: 6 }),
  call("ipvsConnection", []),
  call("notIpvsConnection", []),
  call("rpfCheckFailed", []),
  call("rpfCheckPassed", []),
  call("limit", [p("rate", "string"), p("burst", "integer", true)]),
  call("tcp", [], {
    options: [
      ...portOptions(),
      p("option", "integer", true),
      p("notOption", "integer", true),
      p("flags", "tcpFlags", true),
      p("notFlags", "tcpFlags", true),
      p("syn", "boolean", true),
    ],
  }),
  call("udp", [], { options: portOptions() }),
  call("exactComment", [p("text", "string")]),
  call("state", [p("states", "strings")]),
  call("notState", [p("states", "strings")]),
  call("ttl", [p("comparison", "string"), p("value", "integer")], { family: 4 }),
  call("hopLimit", [p("comparison", "string"), p("value", "integer")], { family: 6 }),
  call("recent", [], { options: recentOptions() }),
  call("notRecent", [], { options: recentOptions() }),
  call("statistic", [], {
    options: [
      p("mode", "string"),
      p("probability", "number", true),
      p("every", "integer", true),
      p("packet", "integer", true),
    ],
  }),
  call("owner", [], {
    options: [
      p("socketExists", "boolean", true),
      p("notSocketExists", "boolean", true),
      p("uid", "idRange", true),
      p("notUid", "idRange", true),
      p("gid", "idRange", true),
      p("notGid", "idRange", true),
      p("supplGroups", "boolean", true),
    ],
  }),
  call("packetType", [p("type", "string")]),
  call("notPacketType", [p("type", "string")]),
  call("sourceMac", [p("mac", "string")]),
  call("notSourceMac", [p("mac", "string")]),
  call("ipRange", [], {
    options: ["source", "notSource", "dest", "notDest"].map((k) => p(k, "address", true)),
  }),
  call("length", [p("min", "integer"), p("max", "integer", true)]),
  call("notLength", [p("min", "integer"), p("max", "integer", true)]),
  call("tcpMss", [p("min", "integer"), p("max", "integer", true)]),
  call("notTcpMss", [p("min", "integer"), p("max", "integer", true)]),
  call("connLimit", [], {
    options: [
      p("above", "integer", true),
      p("upto", "integer", true),
      p("mask", "integer", true),
      p("dest", "boolean", true),
    ],
  }),
  call("routingHeaderType", [p("type", "integer")], { family: 6 }),
  call("notRoutingHeaderType", [p("type", "integer")], { family: 6 }),
  call("packetDscp", [p("value", "integer")]),
  call("notPacketDscp", [p("value", "integer")]),
  call("helper", [p("name", "string")]),
  call("physDev", [], {
    options: [
      p("isIn", "boolean", true),
      p("notIsIn", "boolean", true),
      p("in", "string", true),
      p("notIn", "string", true),
      p("isOut", "boolean", true),
      p("notIsOut", "boolean", true),
      p("out", "string", true),
      p("notOut", "string", true),
      p("isBridged", "boolean", true),
      p("notIsBridged", "boolean", true),
    ],
  }),
  call("fragment", [], { family: 4 }),
  call("notFragment", [], { family: 4 }),
  call("tos", [p("value", "mark"), p("mask", "mark", true)]),
  call("notTos", [p("value", "mark"), p("mask", "mark", true)]),
];

function portOptions(): ParamSpec[] {
  return ["sourcePort", "notSourcePort", "destPort", "notDestPort"].map((k) => p(k, "port", true));
}

function recentOptions(): ParamSpec[] {
  return [
    p("mode", "string"),
    p("name", "string", true),
    p("seconds", "integer", true),
    p("reap", "boolean", true),
    p("hitcount", "integer", true),
    p("rttl", "boolean", true),
    p("mask", "address", true),
    p("dest", "boolean", true),
  ];
}

const ACTION_LIST: CallSpec[] = [
  call("Accept", []),
  call("Drop", []),
  call("Return", []),
  call("Jump", [p("target", "string")]),
  call("Goto", [p("target", "string")]),
  call("Log", [p("prefix", "string")]),
  call("Masq", [p("toPorts", "portSpec", true)], {
    options: [p("random", "boolean", true), p("randomFully", "boolean", true)],
  }),
  call("Snat", [p("toAddr", "address")], {
    options: [
      p("random", "boolean", true),
      p("randomFully", "boolean", true),
      p("persistent", "boolean", true),
    ],
  }),
  call("Dnat", [p("destAddr", "address"), p("destPort", "integer", true)]),
  call("NoTrack", []),
  call("ClearMark", [p("mark", "mark")]),
  call("SetMark", [p("mark", "mark")]),
  call("SetMaskedMark", [p("mark", "mark"), p("mask", "mark")]),
  call("Reject", [p("rejectWith", "string", true)]),
  call("SaveConnMark", [p("mask", "mark", true)]),
  call("RestoreConnMark", [p("mask", "mark", true)]),
  call("SetConnMark", [p("mark", "mark"), p("mask", "mark", true)]),
  call("Nflog", [p("group", "integer"), p("prefix", "string"), p("size", "integer", true)]),
  call("LimitPacketRate", [p("rate", "integer"), p("burst", "integer"), p("mark", "mark")]),
  call("LimitNumConnections", [p("num", "integer"), p("rejectWith", "string")]),
  call("Dscp", [p("value", "integer")]),
  call("LogPacket", [], {
    options: [
      p("prefix", "string", true),
      p("level", "integer", true),
      ...["tcpSequence", "tcpOptions", "ipOptions", "uid", "macDecode"].map((k) =>
        p(k, "boolean", true)
      ),
    ],
  }),
  call("XorMark", [p("mark", "mark")]),
  call("Ct", [], {
    options: [
      p("notrack", "boolean", true),
      p("helper", "string", true),
      p("zone", "integer", true),
    ],
  }),
  call("Redirect", [p("toPorts", "portSpec", true)], { options: [p("random", "boolean", true)] }),
  call("ClampMssToPmtu", []),
  call("SetMss", [p("mss", "integer")]),
  call("ChecksumFill", []),
  call("ChangeTtl", [p("operation", "string"), p("value", "integer")]),
  call("ChangeHopLimit", [p("operation", "string"), p("value", "integer")]),
  call("Classify", [p("major", "integer"), p("minor", "integer")]),
  call("Audit", [p("type", "string")]),
];

/** Every match method, by name (= YAML key). */
export const MATCH_SPECS: ReadonlyMap<string, CallSpec> = new Map(
  MATCH_LIST.map((s) => [s.key, s]),
);

/** Every action constructor, by YAML key (`jump`, `dnat`, `noTrack`, …). */
export const ACTION_SPECS: ReadonlyMap<string, CallSpec> = new Map(
  ACTION_LIST.map((s) => [s.key, s]),
);

/** Every action constructor, by its `kind` (`Jump`, `Dnat`, …). */
export const ACTION_SPECS_BY_KIND: ReadonlyMap<string, CallSpec> = new Map(
  ACTION_LIST.map((s) => [s.name, s]),
);

/** Keys of a rule mapping that are neither match methods nor action keys. */
export const RULE_KEYS: readonly string[] = Object.freeze(["comment", "family", "match", "action"]);

/** Keys of the top-level mapping. */
export const TOP_KEYS: readonly string[] = Object.freeze(["family", "ruleIds", "tables"]);

/** Keys of a table's mapping. */
export const TABLE_KEYS: readonly string[] = Object.freeze(["family", "kernelChains", "chains"]);

/** Keys of a kernel chain's mapping. */
export const KERNEL_CHAIN_KEYS: readonly string[] = Object.freeze(["policy", "insert", "append"]);

/** Keys of an owned chain's mapping form. */
export const CHAIN_KEYS: readonly string[] = Object.freeze(["family", "rules"]);

/** The values of `family`. */
export const FAMILIES: readonly string[] = Object.freeze(["ipv4", "ipv6", "both"]);

/** Whether a call may be written as `action: <key>` / `<key>: true` (no arguments needed). */
export function takesNoArgs(spec: CallSpec): boolean {
  return spec.params.every((q) => q.optional === true) &&
    (spec.options ?? []).every((q) => q.optional === true);
}

/**
 * The closest name to `word` among `candidates` (for "did you mean"), when
 * close enough to be a likely typo.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best !== undefined && bestScore <= Math.max(1, Math.floor(word.length / 3))
    ? best
    : undefined;
}

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
