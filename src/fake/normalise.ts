/**
 * Parsing a rule's arguments the way iptables 1.8.9 does and printing it back
 * the way `iptables-save` does (the "normalised" form).
 *
 * @module
 */
import { formatIpv6, formatNetwork, parseIpv4, parseIpv6, parseNetwork } from "./address.ts";
import {
  ADDR_TYPES,
  CT_STATES,
  DSCP_CLASSES,
  ICMP6_TYPES,
  ICMP_TYPES,
  LOG_LEVELS,
  parseProtocol,
  PROTOCOL_NAMES,
  REJECT_TYPES_V4,
  REJECT_TYPES_V6,
  TCP_FLAGS,
} from "./tables.ts";
import { BUILTIN_TARGETS } from "../../dsl/targets.ts";
import { saveString } from "../../dsl/tokenize.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** Which family and backend a rule is parsed for. */
export interface NormaliseContext {
  /** 4 or 6. */
  ipVersion: 4 | 6;
  /** The backend whose iptables-save output is emulated. */
  backend: IptablesVariant;
  /** The table and chain the rule is added to, for iptables' checks by name (omitted: none). */
  where?: { table: string; chain: string };
}

/** One option given to a match or target. */
export interface ParsedOption {
  /** The canonical option name, e.g. `--dport`. */
  name: string;
  /** Whether `!` preceded it. */
  inverted: boolean;
  /** Its arguments. */
  args: string[];
}

/** A match (`-m name …`) of a parsed rule. */
export interface ParsedMatch {
  /** The extension name, e.g. `tcp`. */
  name: string;
  /** Its options in the order given. */
  options: ParsedOption[];
}

/** The generic part of a parsed rule (`-s`, `-d`, `-i`, `-o`, `-p`, `-f`), as the kernel keeps it. */
export interface ParsedHeader {
  /** `-s`, unless it matches everything (`0.0.0.0/0` without `!`). */
  source?: { inverted: boolean; network: { bytes: number[]; prefix: number } };
  /** `-d`, unless it matches everything. */
  destination?: { inverted: boolean; network: { bytes: number[]; prefix: number } };
  /** `-i`, unless it matches everything (`+`); a name ending in `+` is a prefix. */
  inInterface?: { inverted: boolean; name: string };
  /** `-o`, as `inInterface`. */
  outInterface?: { inverted: boolean; name: string };
  /** `-p`, unless absent or `all` (0). */
  protocol?: { inverted: boolean; number: number };
  /** `-f` (IPv4 only). */
  fragment?: { inverted: boolean };
}

/** A rule parsed from restore arguments. */
export interface ParsedRule {
  /** The rule as iptables-save prints it after `-A <chain> ` ("" when empty). */
  spec: string;
  /**
   * What `-D`/`-C` by value compare: `spec`, plus what the kernel keeps but
   * iptables-save does not print, so deleting by a lossy saved text fails as
   * it does for real (1.8.9: `--icmp-type 255/3` is saved as `--icmp-type
   * any`; a connlimit without `--connlimit-mask`; legacy ip6tables `-p 0`).
   */
  identity: string;
  /** The target (`-j`/`-g`) name, if any. */
  target: string | undefined;
  /** True for `-g`. */
  goto: boolean;
  /** True when the target is an extension (or a standard verdict), not a chain. */
  targetIsExtension: boolean;
  /** The target's options. */
  targetOptions: ParsedOption[];
  /** The protocol number (`-p`), if given and not inverted. */
  protocol: number | undefined;
  /** The matches in order. */
  matches: ParsedMatch[];
  /**
   * The rule's own options (`-s`, `-d`, `-i`, `-o`, `-p`, `-f`) by their short
   * flag, with their values as given (`-f` has `""`).
   */
  flags: Readonly<Record<string, { inverted: boolean; value: string }>>;
  /** Counters given with `-c p b`. */
  counters: [bigint, bigint] | undefined;
  /** The generic matches, as the kernel evaluates them (the packet tracer reads these). */
  header: ParsedHeader;
}

/**
 * A rule the real iptables would refuse while parsing (its usage error).
 * `bare` errors are printed without the program/version prefix.
 */
export class RuleParseError extends Error {
  /** Printed without the `<prog> v1.8.9 (...): ` prefix. */
  readonly bare: boolean;
  /**
   * Creates the error.
   *
   * @param message The message iptables prints.
   * @param options `bare` for messages without the program prefix.
   */
  constructor(message: string, options: { bare?: boolean } = {}) {
    super(message);
    this.name = "RuleParseError";
    this.bare = options.bare ?? false;
  }
}

function fail(message: string): never {
  throw new RuleParseError(message);
}

/** Standard verdicts: targets that are neither chains nor extensions with options. */
const VERDICTS = new Set(["ACCEPT", "DROP", "RETURN", "QUEUE"]);

interface ExtSpec {
  /** option name → [canonical name, arity] */
  opts: Record<string, [string, number]>;
  /**
   * Checks an option as iptables does while parsing it, with the rule as
   * parsed so far (so `-m multiport --dports 80 -p tcp` fails like the real one).
   */
  parsed?: (opt: ParsedOption, rule: RuleUnderConstruction, ctx: NormaliseContext) => void;
  /** Prints the extension's options; undefined → print them as given. */
  save?: (opts: ParsedOption[], rule: RuleUnderConstruction, ctx: NormaliseContext) => string[];
}

interface RuleUnderConstruction {
  protocol: number | undefined;
  protocolInverted: boolean;
  matches: ParsedMatch[];
  /** What the kernel keeps but iptables-save does not print (see `ParsedRule.identity`). */
  lossy?: string[];
}

function o(
  canonical: string,
  arity: number,
  ...aliases: string[]
): Record<string, [string, number]> {
  const out: Record<string, [string, number]> = { [canonical]: [canonical, arity] };
  for (const a of aliases) out[a] = [canonical, arity];
  return out;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** strtoul(…, 0) on a 32-bit value. */
export function parseU32(text: string, what: string): number {
  let n: number;
  if (/^0x[0-9a-f]+$/i.test(text)) n = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) n = parseInt(text.slice(1), 8);
  else if (/^[0-9]+$/.test(text)) n = Number(text);
  else return fail(`Bad ${what} value "${text}"`);
  if (n > 0xffffffff) fail(`Bad ${what} value "${text}"`);
  return n;
}

/** `value[/mask]` of a mark (mask absent: undefined). */
export function parseMarkMask(text: string, what: string): [number, number | undefined] {
  const slash = text.indexOf("/");
  if (slash === -1) return [parseU32(text, what), undefined];
  return [parseU32(text.slice(0, slash), what), parseU32(text.slice(slash + 1), what)];
}

function last(opts: ParsedOption[], name: string): ParsedOption | undefined {
  for (let i = opts.length - 1; i >= 0; i--) if (opts[i]!.name === name) return opts[i];
  return undefined;
}

function inv(opt: ParsedOption): string[] {
  return opt.inverted ? ["!"] : [];
}

function asGiven(opts: ParsedOption[]): string[] {
  const out: string[] = [];
  for (const opt of opts) out.push(...inv(opt), opt.name, ...opt.args.map(rawArg));
  return out;
}

function rawArg(a: string): string {
  return /^[^\s"'\\]+$/.test(a) ? a : saveString(a);
}

function parsePort(text: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > 65535) {
    fail(`invalid port/service \`${text}' specified`);
  }
  return Number(text);
}

/** `a`, `a:b`, `:b`, `a:` → [lo, hi]. */
export function parsePortRange(text: string): [number, number] {
  const colon = text.indexOf(":");
  if (colon === -1) {
    const p = parsePort(text);
    return [p, p];
  }
  const a = text.slice(0, colon);
  const b = text.slice(colon + 1);
  const lo = a === "" ? 0 : parsePort(a);
  const hi = b === "" ? 65535 : parsePort(b);
  if (lo > hi) fail(`invalid portrange (min > max)`);
  return [lo, hi];
}

function portsSave(opts: ParsedOption[]): string[] {
  const out: string[] = [];
  for (const name of ["--sport", "--dport"]) {
    const opt = last(opts, name);
    if (!opt) continue;
    const [lo, hi] = parsePortRange(opt.args[0]!);
    if (lo === 0 && hi === 65535 && !opt.inverted) continue;
    out.push(...inv(opt), name, lo === hi ? `${lo}` : `${lo}:${hi}`);
  }
  return out;
}

/** A comma-separated TCP flag list (`SYN,ACK`, `ALL`, `NONE`) as bits (FIN = 1). */
export function parseTcpFlags(text: string): number {
  let bits = 0;
  for (const f of text.split(",")) {
    const u = f.toUpperCase();
    if (u === "ALL") bits |= 0x3f;
    else if (u === "NONE") continue;
    else {
      const i = TCP_FLAGS.indexOf(u);
      if (i === -1) fail(`Unknown TCP flag \`${f}'`);
      bits |= 1 << i;
    }
  }
  return bits;
}

function formatTcpFlags(bits: number): string {
  if (bits === 0) return "NONE";
  return TCP_FLAGS.filter((_, i) => bits & (1 << i)).join(",");
}

/** An ICMP(v6) type as iptables reads it: [type, lowest code, highest code] (type 255: any). */
export function parseIcmpType(
  text: string,
  names: ReadonlyMap<string, readonly [number, number, number]>,
  what: string,
): [number, number, number] {
  const named = names.get(text.toLowerCase());
  if (named) return [...named];
  const m = /^(\d+)(?:\/(\d+))?$/.exec(text);
  if (!m || Number(m[1]) > 255 || (m[2] !== undefined && Number(m[2]) > 255)) {
    fail(`Invalid ${what} \`${text}'`);
  }
  const type = Number(m[1]);
  if (m[2] === undefined) return [type, 0, 0xff];
  return [type, Number(m[2]), Number(m[2])];
}

const LIMIT_SCALE = 10000;

function parseRate(text: string): number {
  const slash = text.indexOf("/");
  let mult = 1;
  if (slash !== -1) {
    const unit = text.slice(slash + 1).toLowerCase();
    if (unit.length === 0) fail(`bad rate "${text}"'`);
    if ("second".startsWith(unit)) mult = 1;
    else if ("minute".startsWith(unit)) mult = 60;
    else if ("hour".startsWith(unit)) mult = 3600;
    else if ("day".startsWith(unit)) mult = 86400;
    else fail(`bad rate "${text}"'`);
  }
  const r = parseInt(text, 10);
  if (!r || r < 0) fail(`bad rate "${text}"'`);
  const val = Math.floor((LIMIT_SCALE * mult) / r);
  if (val === 0) fail(`Rate too fast "${text}"\n`);
  return val;
}

function formatRate(period: number): string {
  const rates: [string, number][] = [
    ["day", LIMIT_SCALE * 86400],
    ["hour", LIMIT_SCALE * 3600],
    ["min", LIMIT_SCALE * 60],
    ["sec", LIMIT_SCALE],
  ];
  let i = 1;
  for (; i < rates.length; i++) {
    const mult = rates[i]![1];
    if (period > mult || Math.floor(mult / period) < mult % period) break;
  }
  const [name, mult] = rates[i - 1]!;
  return `${Math.floor(mult / period)}/${name}`;
}

/** The limit's average period and burst (for the legacy overflow check). */
export function limitParams(opts: readonly ParsedOption[]): [number, number] {
  const rate = last([...opts], "--limit");
  const burst = last([...opts], "--limit-burst");
  return [
    rate ? parseRate(rate.args[0]!) : Math.floor(LIMIT_SCALE * 3600 / 3),
    burst ? Number(burst.args[0]) : 5,
  ];
}

function parseDscp(value: string): number {
  const n = /^(0x[0-9a-f]+|[0-9]+)$/i.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 63)) fail(`DSCP \`${value}' out of range`);
  return n;
}

function dscpValue(opts: ParsedOption[], valueOpt: string, classOpt: string): number | undefined {
  const opt = opts.filter((x) => x.name === valueOpt || x.name === classOpt).at(-1);
  if (!opt) return undefined;
  if (opt.name === classOpt) {
    const v = DSCP_CLASSES.get(opt.args[0]!.toLowerCase());
    if (v === undefined) fail(`Invalid DSCP class value \`${opt.args[0]}'`);
    return v;
  }
  return parseDscp(opt.args[0]!);
}

function dscp2(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

const MATCHES: Record<string, ExtSpec> = {
  mark: {
    opts: o("--mark", 1),
    save(opts) {
      const opt = last(opts, "--mark");
      if (!opt) return fail("mark match: You must specify `--mark'");
      const [v, m = 0xffffffff] = parseMarkMask(opt.args[0]!, "mark");
      return [...inv(opt), "--mark", m === 0xffffffff ? hex(v) : `${hex(v)}/${hex(m)}`];
    },
  },
  // Known so that its --mark is not taken for an earlier `-m mark`'s.
  connmark: {
    opts: o("--mark", 1),
    save(opts) {
      const opt = last(opts, "--mark");
      if (!opt) return fail("connmark match: You must specify `--mark'");
      const [v, m = 0xffffffff] = parseMarkMask(opt.args[0]!, "mark");
      return [...inv(opt), "--mark", m === 0xffffffff ? hex(v) : `${hex(v)}/${hex(m)}`];
    },
  },
  conntrack: {
    opts: {
      ...o("--ctstate", 1),
      ...o("--ctproto", 1),
      ...o("--ctorigsrc", 1),
      ...o("--ctorigdst", 1),
      ...o("--ctreplsrc", 1),
      ...o("--ctrepldst", 1),
      ...o("--ctorigsrcport", 1),
      ...o("--ctorigdstport", 1),
      ...o("--ctreplsrcport", 1),
      ...o("--ctrepldstport", 1),
      ...o("--ctstatus", 1),
      ...o("--ctexpire", 1),
      ...o("--ctdir", 1),
    },
    save(opts) {
      const out: string[] = [];
      const state = last(opts, "--ctstate");
      if (state) {
        const bits = new Set<string>();
        for (const s of state.args[0]!.split(",")) {
          const u = s.toUpperCase();
          if (!CT_STATES.includes(u)) fail(`Bad ctstate "${s}"`);
          bits.add(u);
        }
        out.push(...inv(state), "--ctstate", CT_STATES.filter((s) => bits.has(s)).join(","));
      }
      return [...out, ...asGiven(opts.filter((x) => x.name !== "--ctstate"))];
    },
  },
  addrtype: {
    opts: {
      ...o("--src-type", 1),
      ...o("--dst-type", 1),
      ...o("--limit-iface-in", 0),
      ...o("--limit-iface-out", 0),
    },
    save(opts) {
      const out: string[] = [];
      for (const name of ["--src-type", "--dst-type"]) {
        const opt = last(opts, name);
        if (!opt) continue;
        const set = new Set<string>();
        for (const t of opt.args[0]!.split(",")) {
          const u = t.toUpperCase();
          if (!ADDR_TYPES.includes(u)) fail(`addrtype: invalid address type "${t}"`);
          set.add(u);
        }
        out.push(...inv(opt), name, ADDR_TYPES.filter((t) => set.has(t)).join(","));
      }
      const hasIn = last(opts, "--limit-iface-in");
      const hasOut = last(opts, "--limit-iface-out");
      if (hasIn && hasOut) {
        fail("addrtype: you can't specify both --limit-iface-in and --limit-iface-out");
      }
      if (hasIn) out.push("--limit-iface-in");
      if (hasOut) out.push("--limit-iface-out");
      return out;
    },
  },
  set: {
    opts: {
      ...o("--match-set", 2, "--set"),
      ...o("--return-nomatch", 0),
      ...o("--update-counters", 0),
      ...o("--update-subcounters", 0),
      ...o("--packets-eq", 1),
      ...o("--packets-lt", 1),
      ...o("--packets-gt", 1),
      ...o("--bytes-eq", 1),
      ...o("--bytes-lt", 1),
      ...o("--bytes-gt", 1),
    },
  },
  multiport: {
    opts: {
      ...o("--sports", 1, "--source-ports"),
      ...o("--dports", 1, "--destination-ports"),
      ...o("--ports", 1),
    },
    // libxt_multiport's check_proto(), at each option.
    parsed(_opt, rule) {
      const p = rule.protocol;
      if (rule.protocolInverted) {
        fail("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
      }
      if (p === undefined || p === 0) {
        fail("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
      }
      if (![6, 17, 136, 132, 33].includes(p)) {
        fail("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
      }
    },
    save(opts) {
      const opt = opts.at(-1);
      if (!opt) return fail("multiport expects an option");
      const items = opt.args[0]!.split(",");
      let slots = 0;
      const printed: string[] = [];
      for (const item of items) {
        const colon = item.indexOf(":");
        if (colon === -1) {
          printed.push(`${parsePort(item)}`);
          slots++;
        } else {
          const lo = parsePort(item.slice(0, colon));
          const hi = parsePort(item.slice(colon + 1));
          if (lo >= hi) fail("invalid portrange specified");
          printed.push(`${lo}:${hi}`);
          slots += 2;
        }
      }
      if (slots > 15) fail("too many ports specified");
      return [...inv(opt), opt.name, printed.join(",")];
    },
  },
  tcp: {
    opts: {
      ...o("--sport", 1, "--source-port"),
      ...o("--dport", 1, "--destination-port"),
      ...o("--tcp-flags", 2),
      ...o("--syn", 0),
      ...o("--tcp-option", 1),
    },
    save(opts, _rule, ctx) {
      const out = portsSave(opts);
      const option = last(opts, "--tcp-option");
      if (option) out.push(...inv(option), "--tcp-option", `${Number(option.args[0])}`);
      const flags = opts.filter((x) => x.name === "--tcp-flags" || x.name === "--syn").at(-1);
      if (flags) {
        const [mask, cmp] = flags.name === "--syn"
          ? [0x17, 0x02]
          : [parseTcpFlags(flags.args[0]!), parseTcpFlags(flags.args[1]!)];
        // A mask of no flag tests nothing: nf_tables keeps no expression for it.
        if (mask !== 0 || flags.inverted || ctx.backend === "legacy") {
          out.push(...inv(flags), "--tcp-flags", formatTcpFlags(mask), formatTcpFlags(cmp));
        }
      }
      return out;
    },
  },
  udp: {
    opts: { ...o("--sport", 1, "--source-port"), ...o("--dport", 1, "--destination-port") },
    save: portsSave,
  },
  udplite: {
    opts: { ...o("--sport", 1, "--source-port"), ...o("--dport", 1, "--destination-port") },
    save: portsSave,
  },
  sctp: {
    opts: {
      ...o("--sport", 1, "--source-port"),
      ...o("--dport", 1, "--destination-port"),
      ...o("--chunk-types", 2),
    },
    save(opts) {
      return [...portsSave(opts), ...asGiven(opts.filter((x) => x.name === "--chunk-types"))];
    },
  },
  dccp: {
    opts: {
      ...o("--sport", 1, "--source-port"),
      ...o("--dport", 1, "--destination-port"),
      ...o("--dccp-types", 1),
      ...o("--dccp-option", 1),
    },
    save(opts) {
      return [
        ...portsSave(opts),
        ...asGiven(opts.filter((x) => x.name !== "--sport" && x.name !== "--dport")),
      ];
    },
  },
  icmp: {
    opts: o("--icmp-type", 1),
    save(opts, _rule) {
      const opt = last(opts, "--icmp-type");
      if (!opt) return [];
      const [type, lo, hi] = parseIcmpType(opt.args[0]!, ICMP_TYPES, "ICMP type");
      if (type === 0xff) {
        if (lo !== 0 || hi !== 0xff) (_rule.lossy ??= []).push(`icmp-code ${lo}-${hi}`);
        return [...inv(opt), "--icmp-type", "any"];
      }
      return [...inv(opt), "--icmp-type", lo !== 0 || hi !== 0xff ? `${type}/${lo}` : `${type}`];
    },
  },
  icmp6: {
    opts: o("--icmpv6-type", 1),
    save(opts) {
      const opt = last(opts, "--icmpv6-type");
      if (!opt) return [];
      const [type, lo, hi] = parseIcmpType(opt.args[0]!, ICMP6_TYPES, "ICMPv6 type");
      return [...inv(opt), "--icmpv6-type", lo !== 0 || hi !== 0xff ? `${type}/${lo}` : `${type}`];
    },
  },
  limit: {
    opts: { ...o("--limit", 1), ...o("--limit-burst", 1) },
    save(opts) {
      const burstOpt = last(opts, "--limit-burst");
      if (burstOpt && !(/^[0-9]+$/.test(burstOpt.args[0]!) && Number(burstOpt.args[0]) <= 10000)) {
        fail(`bad --limit-burst \`${burstOpt.args[0]}'`);
      }
      const [period, burst] = limitParams(opts);
      const out = ["--limit", formatRate(period)];
      if (burst !== 5) out.push("--limit-burst", `${burst}`);
      return out;
    },
  },
  comment: {
    opts: o("--comment", 1),
    save(opts) {
      const opt = last(opts, "--comment");
      if (!opt) return fail("comment: You must specify `--comment'");
      return ["--comment", saveString(opt.args[0]!.slice(0, 255))];
    },
  },
  connlimit: {
    opts: {
      ...o("--connlimit-above", 1),
      ...o("--connlimit-upto", 1),
      ...o("--connlimit-mask", 1),
      ...o("--connlimit-saddr", 0),
      ...o("--connlimit-daddr", 0),
    },
    save(opts, rule, ctx) {
      if (!last(opts, "--connlimit-mask")) (rule.lossy ??= []).push("connlimit without mask");
      const lim = opts.filter((x) =>
        x.name === "--connlimit-above" || x.name === "--connlimit-upto"
      )
        .at(-1);
      if (!lim) {
        return fail('connlimit: You must specify "--connlimit-above" or "--connlimit-upto"');
      }
      const upto = (lim.name === "--connlimit-upto") !== lim.inverted;
      const mask = last(opts, "--connlimit-mask");
      const daddr =
        opts.filter((x) => x.name === "--connlimit-saddr" || x.name === "--connlimit-daddr")
          .at(-1)?.name === "--connlimit-daddr";
      return [
        upto ? "--connlimit-upto" : "--connlimit-above",
        `${Number(lim.args[0])}`,
        "--connlimit-mask",
        mask ? `${Number(mask.args[0])}` : ctx.ipVersion === 4 ? "32" : "128",
        daddr ? "--connlimit-daddr" : "--connlimit-saddr",
      ];
    },
  },
  rpfilter: {
    opts: {
      ...o("--loose", 0),
      ...o("--validmark", 0),
      ...o("--accept-local", 0),
      ...o("--invert", 0),
    },
    save(opts) {
      return ["--loose", "--validmark", "--accept-local", "--invert"].filter((n) => last(opts, n));
    },
  },
  dscp: {
    opts: { ...o("--dscp", 1), ...o("--dscp-class", 1) },
    save(opts) {
      const opt = opts.at(-1);
      if (!opt) return fail("DSCP match: Parameter --dscp is required");
      return [...inv(opt), "--dscp", dscp2(dscpValue(opts, "--dscp", "--dscp-class")!)];
    },
  },
  ipvs: {
    opts: {
      ...o("--ipvs", 0),
      ...o("--vproto", 1),
      ...o("--vaddr", 1),
      ...o("--vport", 1),
      ...o("--vdir", 1),
      ...o("--vmethod", 1),
      ...o("--vportctl", 1),
    },
  },
  pkttype: {
    opts: o("--pkt-type", 1),
    save(opts) {
      const opt = last(opts, "--pkt-type");
      if (!opt) return fail("pkttype: You must specify `--pkt-type'");
      const t = opt.args[0]!.toLowerCase();
      if (!["unicast", "broadcast", "multicast", "otherhost", "host"].includes(t)) {
        fail(`Bad packet type '${opt.args[0]}'`);
      }
      return [...inv(opt), "--pkt-type", t === "host" ? "unicast" : t];
    },
  },
  physdev: {
    opts: {
      ...o("--physdev-in", 1),
      ...o("--physdev-out", 1),
      ...o("--physdev-is-in", 0),
      ...o("--physdev-is-out", 0),
      ...o("--physdev-is-bridged", 0),
    },
    // libxt_physdev prints is-in, in, is-out, out, is-bridged.
    save(opts) {
      const out: string[] = [];
      for (
        const name of [
          "--physdev-is-in",
          "--physdev-in",
          "--physdev-is-out",
          "--physdev-out",
          "--physdev-is-bridged",
        ]
      ) {
        const opt = last(opts, name);
        if (opt) out.push(...inv(opt), name, ...opt.args);
      }
      return out;
    },
  },
  state: {
    opts: o("--state", 1),
    save(opts) {
      const opt = last(opts, "--state");
      if (!opt) return fail("state: You must specify `--state'");
      const bits = new Set<string>();
      for (const s of opt.args[0]!.split(",")) {
        const u = s.toUpperCase();
        if (!CT_STATES.slice(0, 5).includes(u)) fail(`Bad state "${s}"`);
        bits.add(u);
      }
      return [...inv(opt), "--state", CT_STATES.filter((s) => bits.has(s)).join(",")];
    },
  },
  recent: {
    opts: {
      ...o("--set", 0),
      ...o("--rcheck", 0),
      ...o("--update", 0),
      ...o("--remove", 0),
      ...o("--seconds", 1),
      ...o("--reap", 0),
      ...o("--hitcount", 1),
      ...o("--rttl", 0),
      ...o("--name", 1),
      ...o("--mask", 1),
      ...o("--rsource", 0),
      ...o("--rdest", 0),
    },
    // libxt_recent (revision 1) prints the mode, the checks, then the name, mask and side.
    save(opts, _rule, ctx) {
      const mode = opts.filter((x) =>
        ["--set", "--rcheck", "--update", "--remove"].includes(x.name)
      );
      if (mode.length !== 1) {
        fail("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
      }
      const out = [...inv(mode[0]!), mode[0]!.name];
      for (const name of ["--seconds", "--reap", "--hitcount", "--rttl"]) {
        const opt = last(opts, name);
        if (opt) out.push(name, ...opt.args.map((a) => `${Number(a)}`));
      }
      out.push("--name", last(opts, "--name")?.args[0] ?? "DEFAULT");
      const mask = last(opts, "--mask")?.args[0];
      out.push(
        "--mask",
        mask ??
          (ctx.ipVersion === 4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
      );
      const side = opts.filter((x) => x.name === "--rsource" || x.name === "--rdest").at(-1);
      out.push(side?.name ?? "--rsource");
      return out;
    },
  },
  statistic: {
    opts: {
      ...o("--mode", 1),
      ...o("--probability", 1),
      ...o("--every", 1),
      ...o("--packet", 1),
    },
    save(opts) {
      const mode = last(opts, "--mode")?.args[0];
      if (mode === "random") {
        const p = last(opts, "--probability");
        if (!p) return fail('statistic: option "--mode random" requires "--probability"');
        const kept = Math.round(0x80000000 * Number(p.args[0])) / 0x80000000;
        return ["--mode", "random", ...inv(p), "--probability", kept.toFixed(11)];
      }
      if (mode !== "nth") return fail(`statistic: Bad mode "${mode}"`);
      const every = last(opts, "--every");
      const packet = last(opts, "--packet");
      if (!every || !packet) return fail('statistic: option "--every" also requires "--packet".');
      return [
        "--mode",
        "nth",
        ...inv(every),
        "--every",
        `${Number(every.args[0])}`,
        "--packet",
        `${Number(packet.args[0])}`,
      ];
    },
  },
  mac: {
    opts: o("--mac-source", 1),
    save(opts) {
      const opt = last(opts, "--mac-source");
      if (!opt) return fail("mac: You must specify `--mac-source'");
      return [...inv(opt), "--mac-source", opt.args[0]!.toLowerCase()];
    },
  },
  iprange: {
    opts: { ...o("--src-range", 1), ...o("--dst-range", 1) },
    save(opts) {
      const out: string[] = [];
      for (const name of ["--src-range", "--dst-range"]) {
        const opt = last(opts, name);
        if (opt) out.push(...inv(opt), name, opt.args[0]!);
      }
      return out;
    },
  },
  length: { opts: o("--length", 1), save: (opts) => lengthRange(opts, "--length") },
  tcpmss: { opts: o("--mss", 1), save: (opts) => lengthRange(opts, "--mss") },
  owner: {
    opts: {
      ...o("--uid-owner", 1),
      ...o("--gid-owner", 1),
      ...o("--socket-exists", 0),
      ...o("--suppl-groups", 0),
    },
    // libxt_owner (revision 1) prints socket-exists, uid, gid, suppl-groups.
    save(opts) {
      const out: string[] = [];
      for (const name of ["--socket-exists", "--uid-owner", "--gid-owner", "--suppl-groups"]) {
        const opt = last(opts, name);
        if (opt) out.push(...inv(opt), name, ...opt.args);
      }
      return out;
    },
  },
  tos: {
    opts: o("--tos", 1),
    save(opts) {
      const opt = last(opts, "--tos");
      if (!opt) return fail("tos: You must specify `--tos'");
      const [v, m = 0xff] = parseMarkMask(opt.args[0]!, "tos");
      const h = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
      return [...inv(opt), "--tos", `${h(v)}/${h(m)}`];
    },
  },
};

/** `--length N[:M]` as libxt_length prints it: `N` or `N:M`, open ends filled in. */
function lengthRange(opts: ParsedOption[], name: string): string[] {
  const opt = last(opts, name);
  if (!opt) return fail(`You must specify \`${name}'`);
  const [a, b] = opt.args[0]!.split(":");
  const lo = a === undefined || a === "" ? 0 : Number(a);
  const hi = b === undefined ? lo : b === "" ? 65535 : Number(b);
  return [...inv(opt), name, lo === hi ? `${lo}` : `${lo}:${hi}`];
}

function natFlags(opts: ParsedOption[], main: string): string[] {
  const out: string[] = [];
  const m = last(opts, main);
  if (m) out.push(main, m.args[0]!);
  for (const f of ["--random", "--random-fully", "--persistent"]) if (last(opts, f)) out.push(f);
  return out;
}

function natRange(text: string, ctx: NormaliseContext): string {
  if (ctx.ipVersion === 6) {
    const m = /^\[([^\]]+)\](.*)$/.exec(text);
    if (m) {
      const addr = parseIpv6(m[1]!);
      if (!addr) fail(`Bad IP address "${m[1]}"`);
      return m[2] === "" ? formatIpv6(addr) : `[${formatIpv6(addr)}]${m[2]}`;
    }
    const addr = parseIpv6(text);
    if (addr) return formatIpv6(addr);
  }
  return text;
}

/**
 * libxt_NAT's parse_to() (1.8.9): one colon (or `]:` after brackets) starts
 * the ports, which need `-p` tcp, udp, sctp, dccp or icmp (negated or not);
 * each address of a range must be of the table's family.
 */
function checkNatTo(opt: ParsedOption, rule: RuleUnderConstruction, ctx: NormaliseContext): void {
  const portOk = rule.protocol !== undefined && [6, 17, 132, 33, 1].includes(rule.protocol);
  if (opt.name === "--to-ports") {
    if (!portOk) fail("Need TCP, UDP, SCTP or DCCP with port specification");
    return;
  }
  if (opt.name !== "--to-destination" && opt.name !== "--to-source") return;
  const text = opt.args[0]!;
  let addr = text;
  let hasPort = false;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (ctx.ipVersion === 4 || end === -1) fail("Invalid address format");
    addr = text.slice(1, end);
    hasPort = text.slice(end + 1).startsWith(":");
  } else {
    const colon = text.indexOf(":");
    if (colon !== -1 && text.indexOf(":", colon + 1) === -1) {
      addr = text.slice(0, colon);
      hasPort = true;
    }
  }
  if (hasPort && !portOk) fail("Need TCP, UDP, SCTP or DCCP with port specification");
  if (addr === "") return;
  for (const part of addr.split("-")) {
    if (!(ctx.ipVersion === 4 ? parseIpv4 : parseIpv6)(part)) fail(`Bad IP address "${part}"`);
  }
}

const NAT_OPTS = {
  ...o("--random", 0),
  ...o("--random-fully", 0),
  ...o("--persistent", 0),
};

const TARGETS: Record<string, ExtSpec> = {
  LOG: {
    opts: {
      ...o("--log-prefix", 1),
      ...o("--log-level", 1),
      ...o("--log-tcp-sequence", 0),
      ...o("--log-tcp-options", 0),
      ...o("--log-ip-options", 0),
      ...o("--log-uid", 0),
      ...o("--log-macdecode", 0),
    },
    save(opts) {
      const out: string[] = [];
      const prefix = last(opts, "--log-prefix");
      // iptables 1.8.9 silently keeps the first 29 characters.
      if (prefix && prefix.args[0] !== "") {
        out.push("--log-prefix", saveString(prefix.args[0]!.slice(0, 29)));
      }
      const level = last(opts, "--log-level");
      if (level) {
        const v = /^[0-7]$/.test(level.args[0]!)
          ? Number(level.args[0])
          : LOG_LEVELS.get(level.args[0]!.toLowerCase());
        if (v === undefined) fail(`log-level \`${level.args[0]}' unknown`);
        if (v !== 4) out.push("--log-level", `${v}`);
      }
      for (
        const f of [
          "--log-tcp-sequence",
          "--log-tcp-options",
          "--log-ip-options",
          "--log-uid",
          "--log-macdecode",
        ]
      ) if (last(opts, f)) out.push(f);
      return out;
    },
  },
  NFLOG: {
    opts: {
      ...o("--nflog-group", 1),
      ...o("--nflog-prefix", 1),
      ...o("--nflog-range", 1),
      ...o("--nflog-size", 1),
      ...o("--nflog-threshold", 1),
    },
    save(opts, _rule, ctx) {
      const out: string[] = [];
      const prefix = last(opts, "--nflog-prefix");
      if (prefix && prefix.args[0]!.length > 63) {
        fail("Maximum prefix length 63 for --nflog-prefix");
      }
      if (prefix && prefix.args[0] !== "") out.push("--nflog-prefix", saveString(prefix.args[0]!));
      const group = last(opts, "--nflog-group");
      if (group && Number(group.args[0]) !== 0) {
        out.push("--nflog-group", `${Number(group.args[0])}`);
      }
      const size = last(opts, "--nflog-size");
      const range = last(opts, "--nflog-range");
      if (size) out.push("--nflog-size", `${Number(size.args[0])}`);
      else if (range && ctx.backend === "legacy" && Number(range.args[0]) !== 0) {
        out.push("--nflog-range", `${Number(range.args[0])}`);
      }
      const threshold = last(opts, "--nflog-threshold");
      if (threshold && Number(threshold.args[0]) !== 1) {
        out.push("--nflog-threshold", `${Number(threshold.args[0])}`);
      }
      return out;
    },
  },
  MARK: {
    opts: {
      ...o("--set-mark", 1),
      ...o("--set-xmark", 1),
      ...o("--and-mark", 1),
      ...o("--or-mark", 1),
      ...o("--xor-mark", 1),
    },
    save(opts) {
      const opt = opts.at(-1);
      if (!opt) return fail("MARK target: Parameter --set/and/or/xor-mark is required");
      return ["--set-xmark", markOp(opt)];
    },
  },
  CONNMARK: {
    opts: {
      ...o("--set-mark", 1),
      ...o("--set-xmark", 1),
      ...o("--and-mark", 1),
      ...o("--or-mark", 1),
      ...o("--xor-mark", 1),
      ...o("--save-mark", 0),
      ...o("--restore-mark", 0),
      ...o("--mask", 1),
      ...o("--nfmask", 1),
      ...o("--ctmask", 1),
    },
    save(opts) {
      const mode = opts.filter((x) => !["--mask", "--nfmask", "--ctmask"].includes(x.name)).at(-1);
      if (!mode) return fail("CONNMARK target: No operation specified");
      if (mode.name === "--save-mark" || mode.name === "--restore-mark") {
        let nf = 0xffffffff, ct = 0xffffffff;
        for (const x of opts) {
          if (x.name === "--mask") nf = ct = parseU32(x.args[0]!, "mask");
          if (x.name === "--nfmask") nf = parseU32(x.args[0]!, "mask");
          if (x.name === "--ctmask") ct = parseU32(x.args[0]!, "mask");
        }
        return [mode.name, "--nfmask", hex(nf), "--ctmask", hex(ct)];
      }
      return ["--set-xmark", markOp(mode)];
    },
  },
  DSCP: {
    opts: { ...o("--set-dscp", 1), ...o("--set-dscp-class", 1) },
    save(opts) {
      const v = dscpValue(opts, "--set-dscp", "--set-dscp-class");
      if (v === undefined) return fail("DSCP target: Parameter --set-dscp is required");
      return ["--set-dscp", dscp2(v)];
    },
  },
  REJECT: {
    opts: o("--reject-with", 1),
    save(opts, _rule, ctx) {
      const table = ctx.ipVersion === 4 ? REJECT_TYPES_V4 : REJECT_TYPES_V6;
      const w = last(opts, "--reject-with");
      if (!w) {
        return [
          "--reject-with",
          ctx.ipVersion === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable",
        ];
      }
      const name = table.get(w.args[0]!);
      if (!name) fail(`unknown reject type "${w.args[0]}"`);
      return ["--reject-with", name];
    },
  },
  DNAT: {
    opts: { ...o("--to-destination", 1), ...NAT_OPTS },
    parsed: checkNatTo,
    save(opts, _rule, ctx) {
      const out = natFlags(opts, "--to-destination");
      if (out[0] === "--to-destination") out[1] = natRange(out[1]!, ctx);
      return out;
    },
  },
  SNAT: {
    opts: { ...o("--to-source", 1), ...NAT_OPTS },
    parsed: checkNatTo,
    save(opts, _rule, ctx) {
      const out = natFlags(opts, "--to-source");
      if (out[0] === "--to-source") out[1] = natRange(out[1]!, ctx);
      return out;
    },
  },
  MASQUERADE: {
    opts: { ...o("--to-ports", 1), ...NAT_OPTS },
    parsed: checkNatTo,
    save: (opts) => natFlags(opts, "--to-ports"),
  },
  REDIRECT: {
    opts: { ...o("--to-ports", 1), ...NAT_OPTS },
    parsed: checkNatTo,
    save: (opts) => natFlags(opts, "--to-ports"),
  },
  NOTRACK: { opts: {} },
  CT: {
    opts: {
      ...o("--notrack", 0),
      ...o("--helper", 1),
      ...o("--ctevents", 1),
      ...o("--expevents", 1),
      ...o("--zone", 1),
      ...o("--timeout", 1),
    },
  },
  TCPMSS: { opts: { ...o("--set-mss", 1), ...o("--clamp-mss-to-pmtu", 0) } },
  CHECKSUM: { opts: o("--checksum-fill", 0) },
  TRACE: { opts: {} },
  NFQUEUE: {
    opts: {
      ...o("--queue-num", 1),
      ...o("--queue-balance", 1),
      ...o("--queue-bypass", 0),
      ...o("--fail-open", 0),
      ...o("--queue-cpu-fanout", 0),
    },
  },
  CLASSIFY: {
    opts: o("--set-class", 1),
    // libxt_CLASSIFY prints major and minor as 4 hex digits each.
    save(opts) {
      const opt = last(opts, "--set-class");
      if (!opt) return fail("CLASSIFY: Parameter --set-class is required");
      const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(opt.args[0]!);
      if (!m) return fail(`Bad class value "${opt.args[0]}"`);
      const h = (x: string) => parseInt(x, 16).toString(16).padStart(4, "0");
      return ["--set-class", `${h(m[1]!)}:${h(m[2]!)}`];
    },
  },
  TOS: {
    opts: { ...o("--set-tos", 1), ...o("--and-tos", 1), ...o("--or-tos", 1), ...o("--xor-tos", 1) },
  },
  TTL: { opts: { ...o("--ttl-set", 1), ...o("--ttl-dec", 1), ...o("--ttl-inc", 1) } },
  HL: { opts: { ...o("--hl-set", 1), ...o("--hl-dec", 1), ...o("--hl-inc", 1) } },
  AUDIT: { opts: o("--type", 1) },
};

function markOp(opt: ParsedOption): string {
  const [v, m] = parseMarkMask(opt.args[0]!, "mark");
  switch (opt.name) {
    case "--set-xmark":
      return `${hex(v)}/${hex(m ?? 0xffffffff)}`;
    case "--set-mark":
      return `${hex(v)}/${hex((m ?? 0xffffffff) | v)}`;
    case "--and-mark":
      return `0x0/${hex(~v)}`;
    case "--or-mark":
      return `${hex(v)}/${hex(v)}`;
    default:
      return `${hex(v)}/0x0`;
  }
}

/**
 * Names a chain may not have, as iptables refuses them ("chain name may not
 * clash with target name"): the standard and extension targets, one list
 * shared with the DSL and the engine's prefix checks.
 */
export const KNOWN_TARGETS: ReadonlySet<string> = BUILTIN_TARGETS;

/** The targets the fake emulates: the verdicts, and the extensions whose options it parses. */
export const EMULATED_TARGETS: ReadonlySet<string> = new Set([
  ...VERDICTS,
  ...Object.keys(TARGETS),
]);

function emulatesTarget(name: string): boolean {
  return EMULATED_TARGETS.has(name);
}

/** The match a protocol loads by itself (`-p tcp --dport 22` needs no `-m tcp`). */
const IMPLICIT: Record<number, string> = {
  6: "tcp",
  17: "udp",
  132: "sctp",
  33: "dccp",
  136: "udplite",
};

/** The rule's own options, by every spelling, to their short flag. */
const HEADER_FLAGS: Record<string, string> = {
  "-s": "-s",
  "--source": "-s",
  "--src": "-s",
  "-d": "-d",
  "--destination": "-d",
  "--dst": "-d",
  "-i": "-i",
  "--in-interface": "-i",
  "-o": "-o",
  "--out-interface": "-o",
  "-p": "-p",
  "--protocol": "-p",
};

type HeaderFlags = Record<string, { inverted: boolean; value: string }>;

/** What reading a rule's arguments gives, before anything is printed. */
interface RuleArguments {
  /** The rule's own options by short flag, as given (`ParsedRule.flags`). */
  flags: HeaderFlags;
  rule: RuleUnderConstruction;
  target: string | undefined;
  goto: boolean;
  targetOptions: ParsedOption[];
  counters: [bigint, bigint] | undefined;
}

/** The arguments as they are read; `inverted` is a `!` waiting for its option. */
interface ReadingState extends RuleArguments {
  inverted: boolean;
}

/** The rule's arguments, walked left to right as iptables' `do_parse()` does. */
class ArgumentCursor {
  readonly #args: readonly string[];
  #i = -1;

  constructor(args: readonly string[]) {
    this.#args = args;
  }

  /** The next argument, or undefined at the end. */
  next(): string | undefined {
    return this.#args[++this.#i];
  }

  /** The next argument as the value of `flag`; fails as iptables does when there is none. */
  valueOf(flag: string): string {
    const v = this.#args[++this.#i];
    if (v === undefined) fail(`option "${flag}" requires an argument`);
    return v;
  }

  /** The arguments up to the next option or `!` (the values of an option the fake does not know). */
  valuesUntilOption(): string[] {
    const values: string[] = [];
    while (
      this.#i + 1 < this.#args.length && !/^-./.test(this.#args[this.#i + 1]!) &&
      this.#args[this.#i + 1] !== "!"
    ) {
      values.push(this.#args[++this.#i]!);
    }
    return values;
  }
}

/**
 * Parses a rule's arguments (everything after `-A <chain>`) and prints it the
 * way iptables-save would.
 *
 * @example Long option names, the implicit match and addresses as iptables-save prints them
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRule } from "./normalise.ts";
 *
 * const rule = parseRule(
 *   ["--source", "10.0.0.4", "-p", "tcp", "--dport", "22", "--jump", "ACCEPT"],
 *   { ipVersion: 4, backend: "nft" },
 * );
 * assert.equal(rule.spec, "-s 10.0.0.4/32 -p tcp -m tcp --dport 22 -j ACCEPT");
 * assert.throws(() => parseRule(["--dport", "22"], { ipVersion: 4, backend: "nft" }), {
 *   message: 'unknown option "--dport"',
 * });
 * ```
 *
 * @param args The rule's arguments.
 * @param ctx Family and backend.
 * @returns The parsed rule with its normalised text.
 * @throws {RuleParseError} When real iptables would refuse to parse the rule.
 */
export function parseRule(args: readonly string[], ctx: NormaliseContext): ParsedRule {
  const read = readArguments(args, ctx);
  const { flags, rule, target, goto, targetOptions } = read;
  const source = parseAddress(flags["-s"], ctx);
  const destination = parseAddress(flags["-d"], ctx);
  checkTableAndChain(read, ctx);
  const header = kernelHeader(read, { source, destination });
  const spec = [
    ...saveHeader(header, rule, ctx),
    ...saveMatches(rule, ctx),
    ...saveTarget(read, ctx),
  ].join(" ");
  return {
    spec,
    identity: rule.lossy === undefined ? spec : `${spec}\0${rule.lossy.join("\0")}`,
    target,
    goto,
    targetIsExtension: target !== undefined && emulatesTarget(target),
    targetOptions,
    protocol: rule.protocolInverted ? undefined : rule.protocol,
    matches: rule.matches,
    flags,
    counters: read.counters,
    header,
  };
}

/** Reads every argument in order, failing where iptables' parser fails. */
function readArguments(args: readonly string[], ctx: NormaliseContext): RuleArguments {
  const state: ReadingState = {
    flags: {},
    rule: { protocol: undefined, protocolInverted: false, matches: [] },
    target: undefined,
    goto: false,
    targetOptions: [],
    counters: undefined,
    inverted: false,
  };
  const cursor = new ArgumentCursor(args);
  for (let a = cursor.next(); a !== undefined; a = cursor.next()) {
    readArgument(a, cursor, state, ctx);
  }
  if (state.inverted) fail("unexpected ! at the end of the rule");
  const { inverted: _, ...read } = state;
  return read;
}

/** Reads one argument (and the values it takes from `cursor`) into `state`. */
function readArgument(
  a: string,
  cursor: ArgumentCursor,
  state: ReadingState,
  ctx: NormaliseContext,
): void {
  if (a === "!") return readNegation(state);
  const flag = HEADER_FLAGS[a];
  if (flag) return readHeaderOption(a, flag, cursor, state);
  if (a === "-f" || a === "--fragment") return readFragment(a, state, ctx);
  if (a === "-c" || a === "--set-counters") return readCounters(a, cursor, state);
  if (a === "-j" || a === "--jump" || a === "-g" || a === "--goto") {
    return readTarget(a, cursor, state);
  }
  if (a === "-m" || a === "--match") {
    if (state.inverted) fail("unexpected ! flag before --match");
    return loadMatch(cursor.valueOf(a), state.rule, ctx);
  }
  if (a.startsWith("-") && a !== "-") return readExtensionOption(a, cursor, state, ctx);
  throw new RuleParseError(`Bad argument \`${a}'`, { bare: true });
}

/** A `!`: it inverts the option that follows; two in a row are refused. */
function readNegation(state: ReadingState): void {
  if (state.inverted) fail("multiple consecutive ! not allowed");
  state.inverted = true;
}

/** The pending `!`, if any, now taken by the option that follows it. */
function takeNegation(state: ReadingState): boolean {
  const inverted = state.inverted;
  state.inverted = false;
  return inverted;
}

/** `-s`, `-d`, `-i`, `-o` or `-p` (`a` as given, `flag` its short form) and its value. */
function readHeaderOption(
  a: string,
  flag: string,
  cursor: ArgumentCursor,
  state: ReadingState,
): void {
  if (state.flags[flag]) fail(`multiple ${flag} flags not allowed`);
  const value = cursor.valueOf(a);
  const inverted = takeNegation(state);
  state.flags[flag] = { inverted, value };
  if (flag === "-p") {
    const p = parseProtocol(value);
    if (p === undefined) fail(`unknown protocol "${value}" specified`);
    state.rule.protocol = p;
    state.rule.protocolInverted = inverted;
    if (inverted && p === 0) fail("rule would never match protocol");
  }
  if ((flag === "-i" || flag === "-o") && value.length > 15) {
    fail(`interface name \`${value}' must be shorter than IFNAMSIZ (15)`);
  }
}

/** `-f`: IPv4 only (ip6tables has no such option). */
function readFragment(a: string, state: ReadingState, ctx: NormaliseContext): void {
  if (ctx.ipVersion === 6) fail(`unknown option "${a}"`);
  state.flags["-f"] = { inverted: takeNegation(state), value: "" };
}

/** `-c packets bytes`; a pending `!` is left for the next option, as iptables does. */
function readCounters(a: string, cursor: ArgumentCursor, state: ReadingState): void {
  const p = cursor.valueOf(a);
  const b = cursor.valueOf(a);
  if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) fail("-c packet counter not numeric");
  state.counters = [BigInt(p), BigInt(b)];
}

/** `-j target` or `-g chain` (`a` is the flag as given). */
function readTarget(a: string, cursor: ArgumentCursor, state: ReadingState): void {
  if (state.inverted) fail("cannot have ! before -j");
  if (state.target !== undefined) fail("multiple -j flags not allowed");
  const target = cursor.valueOf(a);
  state.target = target;
  state.goto = a === "-g" || a === "--goto";
  if (state.goto && emulatesTarget(target)) fail(`goto '${target}' is not a chain`);
}

/**
 * An option of an extension: given to the target, a loaded match or an
 * implicit match (see `findOptionOwner`), checked as that extension checks it;
 * after a match the fake does not know, kept with its values as given.
 */
function readExtensionOption(
  a: string,
  cursor: ArgumentCursor,
  state: ReadingState,
  ctx: NormaliseContext,
): void {
  const owner = findOptionOwner(a, state, ctx);
  const lastMatch = state.rule.matches.at(-1);
  if (!owner && lastMatch && !MATCHES[lastMatch.name]) {
    const values = cursor.valuesUntilOption();
    lastMatch.options.push({ name: a, inverted: takeNegation(state), args: values });
    return;
  }
  if (!owner) {
    if (a.startsWith("--")) fail(`unknown option "${a}"`);
    throw new RuleParseError(`Bad argument \`${a}'`, { bare: true });
  }
  const [canonical, arity] = owner.spec.opts[a]!;
  const values: string[] = [];
  for (let k = 0; k < arity; k++) values.push(cursor.valueOf(a));
  const parsedOpt = { name: canonical, inverted: state.inverted, args: values };
  owner.spec.parsed?.(parsedOpt, state.rule, ctx);
  owner.list.push(parsedOpt);
  state.inverted = false;
}

/**
 * Which extension takes option `opt`: the target first (not after `-g`), then
 * the loaded matches from the last, then the match the protocol implies
 * (loaded here, once, the first time one of its options is given).
 */
function findOptionOwner(
  opt: string,
  state: RuleArguments,
  ctx: NormaliseContext,
): { spec: ExtSpec; list: ParsedOption[] } | undefined {
  const { rule } = state;
  if (state.target !== undefined && !state.goto) {
    const t = TARGETS[state.target];
    if (t && t.opts[opt]) return { spec: t, list: state.targetOptions };
  }
  for (let k = rule.matches.length - 1; k >= 0; k--) {
    const m = rule.matches[k]!;
    const spec = MATCHES[m.name];
    if (spec && spec.opts[opt]) return { spec, list: m.options };
  }
  if (rule.protocol !== undefined && !rule.protocolInverted) {
    const implicit = rule.protocol === 1 && ctx.ipVersion === 4
      ? "icmp"
      : rule.protocol === 58 && ctx.ipVersion === 6
      ? "icmp6"
      : IMPLICIT[rule.protocol];
    const spec = implicit === undefined ? undefined : MATCHES[implicit];
    if (implicit && spec && spec.opts[opt] && !rule.matches.some((m) => m.name === implicit)) {
      const m: ParsedMatch = { name: implicit, options: [] };
      rule.matches.push(m);
      return { spec, list: m.options };
    }
  }
  return undefined;
}

/** `-m name`: loads the match, refusing the names iptables cannot load. */
function loadMatch(name: string, rule: RuleUnderConstruction, ctx: NormaliseContext): void {
  if ((name === "icmp" && ctx.ipVersion === 6) || (name === "icmp6" && ctx.ipVersion === 4)) {
    fail(`Couldn't load match \`${name}':No such file or directory\n`);
  }
  if (!MATCHES[name] && !/^[a-z0-9_]+$/.test(name)) {
    fail(`Couldn't load match \`${name}':No such file or directory\n`);
  }
  rule.matches.push({ name, options: [] });
}

/** `-s`/`-d` as the kernel keeps it; undefined when absent or matching everything. */
function parseAddress(
  given: { inverted: boolean; value: string } | undefined,
  ctx: NormaliseContext,
): ParsedHeader["source"] {
  if (!given) return undefined;
  let net;
  try {
    net = parseNetwork(given.value, ctx.ipVersion);
  } catch (e) {
    fail(String(e));
  }
  if (!net) fail(`host/network \`${given.value.replace(/\/.*/, "")}' not found`);
  if (net.prefix === 0 && !given.inverted) return undefined;
  return { inverted: given.inverted, network: net };
}

/** The checks at the end of iptables' `do_parse()`, by table and chain name. */
function checkTableAndChain(read: RuleArguments, ctx: NormaliseContext): void {
  if (ctx.where?.table === "nat" && read.target === "DROP") {
    fail(
      '\nThe "nat" table is not intended for filtering, the use of DROP is therefore inhibited.\n\n',
    );
  }
  const chain = ctx.where?.chain;
  if ((chain === "PREROUTING" || chain === "INPUT") && read.flags["-o"]) {
    fail(`Can't use -o with ${chain}\n`);
  }
  if ((chain === "OUTPUT" || chain === "POSTROUTING") && read.flags["-i"]) {
    fail(`Can't use -i with ${chain}\n`);
  }
}

/** The generic matches as the kernel keeps them (what matches everything is left out). */
function kernelHeader(
  read: RuleArguments,
  addresses: { source: ParsedHeader["source"]; destination: ParsedHeader["destination"] },
): ParsedHeader {
  const { flags, rule } = read;
  const header: ParsedHeader = {};
  if (addresses.source) header.source = addresses.source;
  if (addresses.destination) header.destination = addresses.destination;
  for (const flag of ["-i", "-o"] as const) {
    const given = flags[flag];
    // `+` (any name) matches everything: kept only inverted.
    if (!given || (given.value === "+" && !given.inverted)) continue;
    header[flag === "-i" ? "inInterface" : "outInterface"] = {
      inverted: given.inverted,
      name: given.value,
    };
  }
  if (rule.protocol !== undefined && rule.protocol !== 0) {
    header.protocol = { inverted: rule.protocolInverted, number: rule.protocol };
  }
  if (flags["-f"]) header.fragment = { inverted: flags["-f"].inverted };
  return header;
}

/**
 * The generic matches as iptables-save prints them; what the kernel keeps but
 * the backend does not print is added to `rule.lossy`.
 */
function saveHeader(
  header: ParsedHeader,
  rule: RuleUnderConstruction,
  ctx: NormaliseContext,
): string[] {
  const out: string[] = [];
  const not = (inverted: boolean) => inverted ? ["!"] : [];
  if (header.source) {
    out.push(
      ...not(header.source.inverted),
      "-s",
      formatNetwork(header.source.network, ctx.ipVersion),
    );
  }
  if (header.destination) {
    out.push(
      ...not(header.destination.inverted),
      "-d",
      formatNetwork(header.destination.network, ctx.ipVersion),
    );
  }
  for (const [flag, iface] of [["-i", header.inInterface], ["-o", header.outInterface]] as const) {
    if (!iface) continue;
    // `! -i +` is printed by nft; legacy drops it (its mask is empty).
    if (iface.name === "+" && ctx.backend === "legacy") {
      (rule.lossy ??= []).push(`! ${flag} +`);
      continue;
    }
    out.push(...not(iface.inverted), flag, iface.name);
  }
  if (rule.protocol === 0 && ctx.backend === "legacy" && ctx.ipVersion === 6) {
    (rule.lossy ??= []).push("protocol 0");
  }
  if (header.protocol) {
    const name = PROTOCOL_NAMES.get(header.protocol.number) ?? `${header.protocol.number}`;
    out.push(...not(header.protocol.inverted), "-p", name);
  }
  if (header.fragment) out.push(...not(header.fragment.inverted), "-f");
  return out;
}

/** Each match as iptables-save prints it: `-m name` and its options. */
function saveMatches(rule: RuleUnderConstruction, ctx: NormaliseContext): string[] {
  const out: string[] = [];
  for (const m of rule.matches) {
    const spec = MATCHES[m.name];
    out.push("-m", m.name, ...(spec?.save ? spec.save(m.options, rule, ctx) : asGiven(m.options)));
  }
  return out;
}

/** `-j`/`-g` and the target's options as iptables-save prints them ([] without a target). */
function saveTarget(read: RuleArguments, ctx: NormaliseContext): string[] {
  const { target, targetOptions } = read;
  if (target === undefined) return [];
  const spec = TARGETS[target];
  return [
    read.goto ? "-g" : "-j",
    target,
    ...(spec
      ? (spec.save ? spec.save(targetOptions, read.rule, ctx) : asGiven(targetOptions))
      : []),
  ];
}
