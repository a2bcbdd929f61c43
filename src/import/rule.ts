/**
 * One saved rule to the DSL: its arguments are parsed by the fake dataplane's
 * parser (`src/fake/normalise.ts`, the one model of iptables' save format in
 * this code base), each match and the target are mapped to DSL calls, and
 * the result is checked: the DSL rule, rendered and normalised as
 * iptables-save would print it, must give back the saved text (apart from
 * our ID comment and renamed chains). A rule that cannot be written exactly
 * is reported with what is missing, never approximated.
 *
 * @module
 */
import type { Action, DslArg } from "../../dsl/action.ts";
import * as Actions from "../../dsl/actions.ts";
import { RuleError } from "../../dsl/errors.ts";
import { Match, type MatchCriteria } from "../../dsl/match.ts";
import { commentProblem, renderAppend, type Rule } from "../../dsl/rule.ts";
import {
  type ParsedMatch,
  type ParsedOption,
  type ParsedRule,
  parseRule,
  RuleParseError,
} from "../fake/normalise.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";

/** Where a rule was saved. */
export interface RuleSource {
  /** The table. */
  table: string;
  /** The chain (its name as saved). */
  chain: string;
  /** The IP family of the save. */
  ipVersion: 4 | 6;
  /** The backend whose iptables-save printed it. */
  backend: "nft" | "legacy";
}

/** How saved names become the policy's. */
export interface ConvertOptions {
  /** The prefix of our ID comments: a first comment `<hashPrefix><16 characters>` is dropped. */
  hashPrefix: string;
  /** The policy's name of a saved user chain (jump and goto targets are renamed). */
  chainName(saved: string): string;
  /** Whether the table declares this user chain (a jump elsewhere cannot be written). */
  isUserChain?(saved: string): boolean;
  /** The policy's name of the chain holding the rule (for the check by name). */
  ruleChain: string;
}

/** A rule the DSL cannot write exactly. */
export interface Unexpressible {
  /** Why, in words. */
  reason: string;
  /** The module or option that is missing (`-m recent`, `-m tcp --tcp-option`, `-j TPROXY`), if one is. */
  missing?: string;
}

/** The outcome of {@linkcode convertRule}. */
export type ConvertResult =
  | { ok: true; rule: Rule; id?: string }
  | ({ ok: false } & Unexpressible);

/** A DSL call: a match method or an action constructor with its arguments. */
type Call = readonly [string, DslArg[]];

class Missing extends Error {
  constructor(readonly reason: string, readonly missing?: string) {
    super(reason);
  }
}

function optionText(opt: ParsedOption): string {
  return `${opt.inverted ? "! " : ""}${opt.name}${opt.args.length ? " " + opt.args.join(" ") : ""}`;
}

function unsupportedOption(module: string, opt: ParsedOption): never {
  throw new Missing(
    `-m ${module} ${optionText(opt)}: the DSL has no method for this option`,
    `-m ${module} ${opt.inverted ? "! " : ""}${opt.name}`,
  );
}

function only(m: ParsedMatch, allowed: readonly string[]): void {
  for (const o of m.options) if (!allowed.includes(o.name)) unsupportedOption(m.name, o);
}

function single(m: ParsedMatch, name: string): ParsedOption {
  only(m, [name]);
  const opts = m.options.filter((o) => o.name === name);
  if (opts.length !== 1) {
    throw new Missing(`-m ${m.name} without exactly one ${name}`, `-m ${m.name}`);
  }
  return opts[0]!;
}

function num(text: string): number {
  const n = /^0x[0-9a-f]+$/i.test(text)
    ? parseInt(text, 16)
    : /^\d+$/.test(text)
    ? Number(text)
    : NaN;
  if (Number.isNaN(n)) throw new Missing(`"${text}" is not a number`);
  return n;
}

const RATE_UNITS: Record<string, string> = {
  sec: "second",
  second: "second",
  min: "minute",
  minute: "minute",
  hour: "hour",
  day: "day",
};

/** The saved portlist `80,443` or `1000:2000,22` as multiport calls. */
function multiport(m: ParsedMatch): Call[] {
  const calls: Call[] = [];
  for (const o of m.options) {
    const dir = o.name === "--dports" ? "Dest" : o.name === "--sports" ? "Source" : undefined;
    if (dir === undefined) unsupportedOption("multiport", o);
    const items = o.args[0]!.split(",");
    const not = o.inverted ? "not" : "";
    if (items.every((i) => !i.includes(":"))) {
      const method = not ? `not${dir}Ports` : `${dir[0]!.toLowerCase()}${dir.slice(1)}Ports`;
      calls.push([method, items.map(Number)]);
    } else {
      const ranges = items.map((i) => {
        const [a, b = a] = i.split(":");
        return { first: Number(a), last: Number(b) };
      });
      const method = not
        ? `not${dir}PortRanges`
        : `${dir[0]!.toLowerCase()}${dir.slice(1)}PortRanges`;
      calls.push([method, [ranges]]);
    }
  }
  return calls;
}

/** Maps one saved match (other than `comment`) to DSL calls. */
const MATCH_IMPORTERS: Record<string, (m: ParsedMatch, src: RuleSource) => Call[]> = {
  conntrack(m) {
    const o = single(m, "--ctstate");
    return [[o.inverted ? "notConntrackState" : "conntrackState", [o.args[0]!.split(",")]]];
  },
  multiport,
  mark(m) {
    const o = single(m, "--mark");
    const [v, k] = o.args[0]!.split("/");
    const value = num(v!);
    const mask = k === undefined ? 0xffffffff : num(k);
    if (value === 0 && mask !== 0) return [[o.inverted ? "markNotClear" : "markClear", [mask]]];
    return [[o.inverted ? "notMarkMatchesWithMask" : "markMatchesWithMask", [value, mask]]];
  },
  addrtype(m) {
    only(m, ["--src-type", "--dst-type", "--limit-iface-out"]);
    const src = m.options.find((o) => o.name === "--src-type");
    const dst = m.options.find((o) => o.name === "--dst-type");
    const out = m.options.some((o) => o.name === "--limit-iface-out");
    if (src !== undefined && dst !== undefined) {
      throw new Missing(
        "-m addrtype with both --src-type and --dst-type: the DSL writes each in a match of its own",
        "-m addrtype --src-type … --dst-type",
      );
    }
    if (src !== undefined) {
      return [[
        src.inverted ? "notSrcAddrType" : "srcAddrType",
        out ? [src.args[0]!, true] : [src.args[0]!],
      ]];
    }
    if (dst === undefined || out) {
      throw new Missing("-m addrtype without --src-type or --dst-type", "-m addrtype");
    }
    return [[dst.inverted ? "notDestAddrType" : "destAddrType", [dst.args[0]!]]];
  },
  icmp(m) {
    const o = single(m, "--icmp-type");
    const t = o.args[0]!;
    const [type, code] = (t === "any" ? "255" : t).split("/");
    const not = o.inverted ? "not" : "";
    if (code === undefined) return [[not ? "notIcmpType" : "icmpType", [num(type!)]]];
    return [[not ? "notIcmpTypeAndCode" : "icmpTypeAndCode", [num(type!), num(code)]]];
  },
  icmp6(m) {
    const o = single(m, "--icmpv6-type");
    const [type, code] = o.args[0]!.split("/");
    const not = o.inverted ? "not" : "";
    if (code === undefined) return [[not ? "notIcmpV6Type" : "icmpV6Type", [num(type!)]]];
    return [[not ? "notIcmpV6TypeAndCode" : "icmpV6TypeAndCode", [num(type!), num(code)]]];
  },
  set(m) {
    const o = single(m, "--match-set");
    const [name, flags] = o.args as [string, string];
    const method = ({
      src: "SourceIpSet",
      dst: "DestIpSet",
      "src,src": "SourceIpPortSet",
      "dst,dst": "DestIpPortSet",
    } as Record<string, string>)[flags];
    if (method === undefined) {
      throw new Missing(
        `-m set --match-set ${name} ${flags}: the DSL has no method for these flags`,
        `-m set --match-set … ${flags}`,
      );
    }
    return [[o.inverted ? `not${method}` : method[0]!.toLowerCase() + method.slice(1), [name]]];
  },
  limit(m) {
    only(m, ["--limit", "--limit-burst"]);
    const rate = m.options.find((o) => o.name === "--limit");
    const burst = m.options.find((o) => o.name === "--limit-burst");
    if (rate === undefined) throw new Missing("-m limit without --limit", "-m limit");
    const [n, unit = "second"] = rate.args[0]!.split("/");
    const full = RATE_UNITS[unit];
    if (full === undefined) throw new Missing(`-m limit --limit ${rate.args[0]}: unknown unit`);
    return [[
      "limit",
      burst === undefined ? [`${n}/${full}`] : [`${n}/${full}`, num(burst.args[0]!)],
    ]];
  },
  rpfilter(m) {
    only(m, ["--validmark", "--invert"]);
    const names = m.options.map((o) => o.name).join(" ");
    if (names === "--validmark --invert") return [["rpfCheckFailed", []]];
    if (names === "--validmark") return [["rpfCheckPassed", []]];
    throw new Missing(
      `-m rpfilter ${names}: the DSL writes only --validmark [--invert]`,
      `-m rpfilter ${names}`,
    );
  },
  ipvs(m) {
    const o = single(m, "--ipvs");
    return [[o.inverted ? "notIpvsConnection" : "ipvsConnection", []]];
  },
  tcp(m) {
    only(m, ["--sport", "--dport", "--tcp-option", "--tcp-flags"]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      const key = {
        "--sport": "sourcePort",
        "--dport": "destPort",
        "--tcp-option": "option",
        "--tcp-flags": "flags",
      }[opt.name]!;
      const value = opt.name === "--tcp-flags"
        ? { mask: flagList(opt.args[0]!), set: flagList(opt.args[1]!) }
        : opt.name === "--tcp-option"
        ? num(opt.args[0]!)
        : portOrRange(opt.args[0]!);
      o[opt.inverted ? `not${key[0]!.toUpperCase()}${key.slice(1)}` : key] = value;
    }
    return [["tcp", m.options.length === 0 ? [] : [o]]];
  },
  udp(m) {
    only(m, ["--sport", "--dport"]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      const key = opt.name === "--sport" ? "SourcePort" : "DestPort";
      o[opt.inverted ? `not${key}` : key[0]!.toLowerCase() + key.slice(1)] = portOrRange(
        opt.args[0]!,
      );
    }
    return [["udp", m.options.length === 0 ? [] : [o]]];
  },
  state(m) {
    const o = single(m, "--state");
    return [[o.inverted ? "notState" : "state", [o.args[0]!.split(",")]]];
  },
  ttl: (m) => compare(m, "ttl", "ttl"),
  hl: (m) => compare(m, "hl", "hopLimit"),
  recent(m) {
    const o: Record<string, DslArg> = {};
    let not = false;
    for (const opt of m.options) {
      const mode = {
        "--set": "set",
        "--rcheck": "rcheck",
        "--update": "update",
        "--remove": "remove",
      }[opt.name];
      if (mode !== undefined) {
        o.mode = mode;
        not = opt.inverted;
        continue;
      }
      if (opt.inverted) unsupportedOption("recent", opt);
      switch (opt.name) {
        case "--seconds":
          o.seconds = num(opt.args[0]!);
          break;
        case "--hitcount":
          o.hitcount = num(opt.args[0]!);
          break;
        case "--reap":
          o.reap = true;
          break;
        case "--rttl":
          o.rttl = true;
          break;
        case "--name":
          if (opt.args[0] !== "DEFAULT") o.name = opt.args[0]!;
          break;
        case "--mask":
          o.mask = opt.args[0]!;
          break;
        case "--rsource":
          break;
        case "--rdest":
          o.dest = true;
          break;
        default:
          unsupportedOption("recent", opt);
      }
    }
    return [[not ? "notRecent" : "recent", [o]]];
  },
  statistic(m) {
    only(m, ["--mode", "--probability", "--every", "--packet"]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      if (opt.inverted) unsupportedOption("statistic", opt);
      if (opt.name === "--mode") o.mode = opt.args[0]!;
      else if (opt.name === "--probability") o.probability = Number(opt.args[0]);
      else if (opt.name === "--every") o.every = num(opt.args[0]!);
      else if (opt.name === "--packet") o.packet = num(opt.args[0]!);
    }
    if (o.packet === 0) delete o.packet;
    return [["statistic", [o]]];
  },
  owner(m) {
    only(m, ["--socket-exists", "--uid-owner", "--gid-owner", "--suppl-groups"]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      const key = {
        "--socket-exists": "socketExists",
        "--uid-owner": "uid",
        "--gid-owner": "gid",
        "--suppl-groups": "supplGroups",
      }[opt.name]!;
      const value = opt.args.length === 0 ? true : idRange(opt.args[0]!);
      o[opt.inverted ? `not${key[0]!.toUpperCase()}${key.slice(1)}` : key] = value;
    }
    return [["owner", [o]]];
  },
  pkttype(m) {
    const o = single(m, "--pkt-type");
    return [[o.inverted ? "notPacketType" : "packetType", [o.args[0]!]]];
  },
  mac(m) {
    const o = single(m, "--mac-source");
    return [[o.inverted ? "notSourceMac" : "sourceMac", [o.args[0]!]]];
  },
  iprange(m) {
    only(m, ["--src-range", "--dst-range"]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      const key = opt.name === "--src-range" ? "Source" : "Dest";
      o[opt.inverted ? `not${key}` : key.toLowerCase()] = opt.args[0]!;
    }
    return [["ipRange", [o]]];
  },
  length: (m) => lengthLike(m, "--length", "length"),
  tcpmss: (m) => lengthLike(m, "--mss", "tcpMss"),
  connlimit(m) {
    only(m, [
      "--connlimit-above",
      "--connlimit-upto",
      "--connlimit-mask",
      "--connlimit-saddr",
      "--connlimit-daddr",
    ]);
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      if (opt.inverted) unsupportedOption("connlimit", opt);
      if (opt.name === "--connlimit-above") o.above = num(opt.args[0]!);
      else if (opt.name === "--connlimit-upto") o.upto = num(opt.args[0]!);
      else if (opt.name === "--connlimit-mask") o.mask = num(opt.args[0]!);
      else if (opt.name === "--connlimit-daddr") o.dest = true;
    }
    return [["connLimit", [o]]];
  },
  rt(m) {
    const o = single(m, "--rt-type");
    return [[o.inverted ? "notRoutingHeaderType" : "routingHeaderType", [num(o.args[0]!)]]];
  },
  dscp(m) {
    const o = single(m, "--dscp");
    return [[o.inverted ? "notPacketDscp" : "packetDscp", [num(o.args[0]!)]]];
  },
  helper(m) {
    const o = single(m, "--helper");
    if (o.inverted) unsupportedOption("helper", o);
    return [["helper", [o.args[0]!]]];
  },
  tos,
  physdev(m) {
    const o: Record<string, DslArg> = {};
    for (const opt of m.options) {
      const key = {
        "--physdev-is-in": "isIn",
        "--physdev-in": "in",
        "--physdev-is-out": "isOut",
        "--physdev-out": "out",
        "--physdev-is-bridged": "isBridged",
      }[opt.name];
      if (key === undefined) unsupportedOption("physdev", opt);
      o[opt.inverted ? `not${key[0]!.toUpperCase()}${key.slice(1)}` : key] = opt.args.length === 0
        ? true
        : opt.args[0]!;
    }
    return [["physDev", [o]]];
  },
};

function tos(m: ParsedMatch): Call[] {
  const o = single(m, "--tos");
  const [v, k] = o.args[0]!.split("/");
  return [[
    o.inverted ? "notTos" : "tos",
    k === undefined || num(k) === 0xff ? [num(v!)] : [num(v!), num(k)],
  ]];
}

function portOrRange(text: string): DslArg {
  const [a, b] = text.split(":");
  if (b === undefined) return num(a!);
  return num(a!) === num(b) ? num(a!) : { first: num(a!), last: num(b) };
}

function idRange(text: string): DslArg {
  const [a, b] = text.split("-");
  return b === undefined ? num(a!) : { first: num(a!), last: num(b) };
}

function flagList(text: string): string[] {
  return text === "NONE" ? [] : text.split(",");
}

function compare(m: ParsedMatch, module: string, method: string): Call[] {
  if (m.options.length !== 1) {
    throw new Missing(`-m ${module} without exactly one comparison`, `-m ${module}`);
  }
  const opt = m.options[0]!;
  const op = opt.name.slice(module.length + 3);
  if (opt.inverted && op !== "eq") unsupportedOption(module, opt);
  return [[method, [opt.inverted ? "ne" : op, num(opt.args[0]!)]]];
}

function lengthLike(m: ParsedMatch, option: string, method: string): Call[] {
  const o = single(m, option);
  const [a, b] = o.args[0]!.split(":");
  const args = b === undefined || b === a ? [num(a!)] : [num(a!), num(b)];
  return [[o.inverted ? `not${method[0]!.toUpperCase()}${method.slice(1)}` : method, args]];
}

function targetOption(rule: ParsedRule, name: string): ParsedOption | undefined {
  return rule.targetOptions.findLast((o) => o.name === name);
}

function onlyTarget(rule: ParsedRule, allowed: readonly string[]): void {
  for (const o of rule.targetOptions) {
    if (!allowed.includes(o.name)) {
      throw new Missing(
        `-j ${rule.target} ${optionText(o)}: the DSL has no action with this option`,
        `-j ${rule.target} ${o.name}`,
      );
    }
  }
}

/** Maps the saved target (an extension) to an action call. */
const TARGET_IMPORTERS: Record<string, (r: ParsedRule, src: RuleSource) => Call> = {
  ACCEPT: (r) => (onlyTarget(r, []), ["Accept", []]),
  DROP: (r) => (onlyTarget(r, []), ["Drop", []]),
  RETURN: (r) => (onlyTarget(r, []), ["Return", []]),
  REJECT(r, src) {
    onlyTarget(r, ["--reject-with"]);
    const w = targetOption(r, "--reject-with")?.args[0];
    const dflt = src.ipVersion === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable";
    return ["Reject", w === undefined || w === dflt ? [] : [w]];
  },
  DNAT(r) {
    onlyTarget(r, ["--to-destination"]);
    const to = targetOption(r, "--to-destination");
    if (to === undefined) throw new Missing("-j DNAT without --to-destination", "-j DNAT");
    return ["Dnat", [to.args[0]!]];
  },
  NOTRACK: (r) => (onlyTarget(r, []), ["NoTrack", []]),
  DSCP(r) {
    onlyTarget(r, ["--set-dscp"]);
    return ["Dscp", [num(targetOption(r, "--set-dscp")!.args[0]!)]];
  },
  MARK(r) {
    onlyTarget(r, ["--set-xmark"]);
    const [v, k] = targetOption(r, "--set-xmark")!.args[0]!.split("/");
    const value = num(v!), mask = num(k!);
    if (value === 0 && mask !== 0) return ["ClearMark", [mask]];
    if (value !== 0 && value === mask) return ["SetMark", [value]];
    if (mask !== 0 && ((value & mask) >>> 0) === value) return ["SetMaskedMark", [value, mask]];
    if (mask === 0 && value !== 0) return ["XorMark", [value]];
    throw new Missing(
      `-j MARK --set-xmark ${v}/${k}: the DSL has no action for this mark operation`,
      "-j MARK --xor-mark",
    );
  },
  NFLOG(r) {
    onlyTarget(r, ["--nflog-group", "--nflog-prefix"]);
    const group = targetOption(r, "--nflog-group")?.args[0] ?? "0";
    const prefix = targetOption(r, "--nflog-prefix")?.args[0];
    if (prefix === undefined) throw new Missing("-j NFLOG without --nflog-prefix", "-j NFLOG");
    return ["Nflog", [num(group), prefix, -1]];
  },
  MASQUERADE(r) {
    onlyTarget(r, ["--to-ports", "--random", "--random-fully"]);
    const to = targetOption(r, "--to-ports")?.args[0];
    return ["Masq", [to, natOptions(r, false)]];
  },
  SNAT(r) {
    onlyTarget(r, ["--to-source", "--random", "--random-fully", "--persistent"]);
    const to = targetOption(r, "--to-source");
    if (to === undefined) throw new Missing("-j SNAT without --to-source", "-j SNAT");
    return ["Snat", [to.args[0]!, natOptions(r, true)]];
  },
  LOG(r) {
    const o: Record<string, DslArg> = {};
    for (const opt of r.targetOptions) {
      const key = {
        "--log-prefix": "prefix",
        "--log-level": "level",
        "--log-tcp-sequence": "tcpSequence",
        "--log-tcp-options": "tcpOptions",
        "--log-ip-options": "ipOptions",
        "--log-uid": "uid",
        "--log-macdecode": "macDecode",
      }[opt.name];
      if (key === undefined) onlyTarget(r, []);
      o[key!] = opt.name === "--log-prefix"
        ? opt.args[0]!
        : opt.name === "--log-level"
        ? num(opt.args[0]!)
        : true;
    }
    const keys = Object.keys(o).sort().join(",");
    const prefix = o.prefix as string | undefined;
    if (keys === "level,prefix" && o.level === 5 && prefix !== undefined && prefix.endsWith(": ")) {
      const bare = prefix.slice(0, -2);
      try {
        Actions.Log(bare);
        return ["Log", [bare]];
      } catch {
        // Not a prefix Log() takes: written exactly below.
      }
    }
    return ["LogPacket", keys === "" ? [] : [o]];
  },
  CT(r) {
    onlyTarget(r, ["--notrack", "--helper", "--zone"]);
    const o: Record<string, DslArg> = {};
    for (const opt of r.targetOptions) {
      if (opt.name === "--notrack") o.notrack = true;
      else if (opt.name === "--helper") o.helper = opt.args[0]!;
      else o.zone = num(opt.args[0]!);
    }
    return ["Ct", [o]];
  },
  REDIRECT(r) {
    onlyTarget(r, ["--to-ports", "--random"]);
    const to = targetOption(r, "--to-ports")?.args[0];
    return [
      "Redirect",
      targetOption(r, "--random") ? [to, { random: true }] : to === undefined ? [] : [to],
    ];
  },
  TCPMSS(r) {
    onlyTarget(r, ["--clamp-mss-to-pmtu", "--set-mss"]);
    const set = targetOption(r, "--set-mss");
    return set === undefined ? ["ClampMssToPmtu", []] : ["SetMss", [num(set.args[0]!)]];
  },
  TTL: (r) => changeTtl(r, "ttl", "ChangeTtl"),
  HL: (r) => changeTtl(r, "hl", "ChangeHopLimit"),
  CLASSIFY(r) {
    onlyTarget(r, ["--set-class"]);
    const [major, minor] = targetOption(r, "--set-class")!.args[0]!.split(":");
    return ["Classify", [parseInt(major!, 16), parseInt(minor!, 16)]];
  },
  AUDIT(r) {
    onlyTarget(r, ["--type"]);
    return ["Audit", [targetOption(r, "--type")!.args[0]!]];
  },
  CHECKSUM: (r) => (onlyTarget(r, ["--checksum-fill"]), ["ChecksumFill", []]),
  CONNMARK(r) {
    onlyTarget(r, ["--save-mark", "--restore-mark", "--nfmask", "--ctmask", "--set-xmark"]);
    const xmark = targetOption(r, "--set-xmark");
    if (xmark !== undefined) {
      const [v, k] = xmark.args[0]!.split("/");
      const value = num(v!), mask = num(k!);
      if (mask === 0 || ((value & mask) >>> 0) !== value) {
        throw new Missing(
          `-j CONNMARK --set-xmark ${xmark.args[0]}: the DSL has no action for it`,
          "-j CONNMARK --xor-mark",
        );
      }
      return ["SetConnMark", mask === 0xffffffff ? [value] : [value, mask]];
    }
    const nf = num(targetOption(r, "--nfmask")!.args[0]!);
    const ct = num(targetOption(r, "--ctmask")!.args[0]!);
    if (nf !== ct) {
      throw new Missing(
        "-j CONNMARK with different --nfmask and --ctmask: the DSL has one mask",
        "-j CONNMARK --nfmask … --ctmask",
      );
    }
    const kind = targetOption(r, "--save-mark") ? "SaveConnMark" : "RestoreConnMark";
    return [kind, nf === 0xffffffff ? [] : [nf]];
  },
};

function changeTtl(r: ParsedRule, prefix: string, kind: string): Call {
  onlyTarget(r, [`--${prefix}-set`, `--${prefix}-dec`, `--${prefix}-inc`]);
  const o = r.targetOptions.at(-1);
  if (o === undefined) throw new Missing(`-j ${r.target} without an operation`, `-j ${r.target}`);
  return [kind, [o.name.slice(prefix.length + 3), num(o.args[0]!)]];
}

function natOptions(r: ParsedRule, persistent: boolean): DslArg {
  const o: Record<string, DslArg> = {};
  if (targetOption(r, "--random")) o.random = true;
  o.randomFully = targetOption(r, "--random-fully") !== undefined;
  if (persistent && targetOption(r, "--persistent")) o.persistent = true;
  return o;
}

function build(match: MatchCriteria, call: Call): MatchCriteria {
  const method = (match as unknown as Record<string, unknown>)[call[0]];
  if (typeof method !== "function") throw new Missing(`the DSL has no method ${call[0]}()`);
  return (method as (...a: DslArg[]) => MatchCriteria).apply(match, call[1]);
}

function action(call: Call): Action {
  const ctor = (Actions as unknown as Record<string, unknown>)[call[0]];
  if (typeof ctor !== "function") throw new Missing(`the DSL has no action ${call[0]}()`);
  return (ctor as (...a: DslArg[]) => Action)(...call[1]);
}

/** The 16 characters of an ID comment. */
const ID_LENGTH = 16;

/**
 * Converts one saved rule to a DSL rule, checked to print back exactly.
 *
 * @param args The rule's arguments after `-A <chain>`.
 * @param text The rule's saved text after `-A <chain> ` (what the result must print back as).
 * @param source Where it was saved.
 * @param options The ID prefix and chain names.
 * @returns The rule (and our ID, when it had one), or why it cannot be written.
 */
export function convertRule(
  args: readonly string[],
  text: string,
  source: RuleSource,
  options: ConvertOptions,
): ConvertResult {
  const ctx = { ipVersion: source.ipVersion, backend: source.backend };
  let parsed: ParsedRule;
  try {
    parsed = parseRule(args, { ...ctx, where: { table: source.table, chain: source.chain } });
  } catch (e) {
    if (e instanceof RuleParseError) {
      // Mostly a target the model of iptables' parser does not know (TPROXY, NETMAP, …).
      const j = args.findIndex((a) => a === "-j" || a === "--jump");
      const target = j < 0 ? undefined : args[j + 1];
      const unknown = target !== undefined && !(target in TARGET_IMPORTERS) ? target : undefined;
      return {
        ok: false,
        reason: unknown === undefined
          ? `iptables' parser (as modelled) refuses it: ${e.message.trim()}`
          : `-j ${unknown}: the DSL has no action for this target (${e.message.trim()})`,
        ...(unknown === undefined ? {} : { missing: `-j ${unknown}` }),
      };
    }
    throw e;
  }
  // The save format must be known exactly, or nothing can be checked.
  if (parsed.spec !== text) {
    const unknown = parsed.matches.find((m) =>
      !(m.name in MATCH_IMPORTERS) && m.name !== "comment"
    );
    return {
      ok: false,
      reason:
        `the save format of this rule is not known exactly (iptables-save would print "${parsed.spec}")`,
      ...(unknown ? { missing: `-m ${unknown.name}` } : {}),
    };
  }
  try {
    return convertParsed(parsed, text, source, options);
  } catch (e) {
    if (e instanceof Missing) {
      return { ok: false, reason: e.reason, ...(e.missing ? { missing: e.missing } : {}) };
    }
    if (e instanceof RuleError) return { ok: false, reason: `the DSL refuses it: ${e.message}` };
    throw e;
  }
}

function convertParsed(
  parsed: ParsedRule,
  text: string,
  source: RuleSource,
  options: ConvertOptions,
): ConvertResult {
  let match = Match();
  const f = parsed.flags;
  const flag = (key: string, method: string) => {
    const h = f[key];
    if (h === undefined) return;
    match = build(match, [
      h.inverted ? `not${method[0]!.toUpperCase()}${method.slice(1)}` : method,
      [h.value],
    ]);
  };
  flag("-s", "sourceNet");
  flag("-d", "destNet");
  flag("-i", "inInterface");
  flag("-o", "outInterface");
  if (f["-p"] !== undefined) {
    const p = f["-p"];
    const name = /^\d+$/.test(p.value) ? p.value : p.value.toLowerCase();
    match = build(match, [p.inverted ? "notProtocol" : "protocol", [name]]);
  }
  if (f["-f"] !== undefined) {
    match = build(match, [f["-f"].inverted ? "notFragment" : "fragment", []]);
  }
  const comments: string[] = [];
  let id: string | undefined;
  let leading = true;
  parsed.matches.forEach((m, i) => {
    if (m.name === "comment") {
      const value = m.options.at(-1)!.args[0]!;
      if (
        i === 0 && value.startsWith(options.hashPrefix) &&
        value.length === options.hashPrefix.length + ID_LENGTH
      ) {
        id = value.slice(options.hashPrefix.length);
        return;
      }
      if (leading && commentProblem(value) === undefined) {
        comments.push(value);
        return;
      }
      match = build(match, ["exactComment", [value]]);
      leading = false;
      return;
    }
    leading = false;
    const importer = MATCH_IMPORTERS[m.name];
    if (importer === undefined) {
      throw new Missing(`-m ${m.name}: the DSL has no method for this module`, `-m ${m.name}`);
    }
    for (const call of importer(m, source)) match = build(match, call);
  });
  let act: Action | undefined;
  if (parsed.target !== undefined) {
    if (!parsed.targetIsExtension) {
      if (options.isUserChain !== undefined && !options.isUserChain(parsed.target)) {
        throw new Missing(
          `-${parsed.goto ? "g" : "j"} ${parsed.target}: not a chain of this table`,
        );
      }
      const target = options.chainName(parsed.target);
      act = action([parsed.goto ? "Goto" : "Jump", [target]]);
    } else {
      const importer = TARGET_IMPORTERS[parsed.target];
      if (importer === undefined) {
        throw new Missing(
          `-j ${parsed.target}: the DSL has no action for this target`,
          `-j ${parsed.target}`,
        );
      }
      act = action(importer(parsed, source));
    }
  }
  const rule: Rule = {};
  if (match.clauses.length > 0) rule.match = match;
  if (act !== undefined) rule.action = act;
  if (comments.length > 0) rule.comment = comments.length === 1 ? comments[0]! : comments;
  // The check: printed as iptables-save prints it, the rule must be the saved one.
  const expected = expectedText(parsed, text, id, options);
  const rendered = renderAppend(rule, options.ruleChain);
  let printed: string;
  try {
    printed = parseRule(tokenizeRestoreLine(rendered).slice(2), {
      ipVersion: source.ipVersion,
      backend: source.backend,
      where: { table: source.table, chain: options.ruleChain },
    }).spec;
  } catch (e) {
    if (!(e instanceof RuleParseError)) throw e;
    printed = `(refused: ${e.message.trim()})`;
  }
  if (printed !== expected) {
    throw new Missing(
      `the DSL's rule would be saved as "${printed}" instead of "${expected}"`,
    );
  }
  return id === undefined ? { ok: true, rule } : { ok: true, rule, id };
}

/** The saved text without our ID comment, with jump targets renamed. */
function expectedText(
  parsed: ParsedRule,
  text: string,
  id: string | undefined,
  options: ConvertOptions,
): string {
  let t = text;
  if (id !== undefined) {
    const idText = `-m comment --comment ${options.hashPrefix}${id}`;
    const quoted = `-m comment --comment "${options.hashPrefix}${id}"`;
    t = t.replace(t.includes(quoted) ? quoted : idText, "").replace(/ {2}/, " ").trim();
  }
  if (parsed.target !== undefined && !parsed.targetIsExtension) {
    const flag = parsed.goto ? "-g" : "-j";
    const suffix = ` ${flag} ${parsed.target}`;
    if (t.endsWith(suffix) || t === suffix.slice(1)) {
      t = t.slice(0, t.length - suffix.length + 1).trimEnd();
      t = `${t === "" ? "" : t + " "}${flag} ${options.chainName(parsed.target)}`;
    }
  }
  return t;
}
