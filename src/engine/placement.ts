/**
 * Rule placement checks: a rule that renders fine on its own can still be
 * wrong where it is placed (table, IP family, protocol dependencies, hooks).
 * The engine runs these before writing anything, so iptables-restore never
 * sees a rule the kernel would reject.
 *
 * The checks refuse only what iptables or the kernel refuses (each is
 * recorded, with the binaries' words, in `tests/engine/placement_cases.ts`
 * and checked against both backends by `tests/kernel/placement_test.ts`). A
 * rule the kernel accepts but that cannot do what it says where it is placed
 * (`inInterface()` in a chain reached only from OUTPUT) is not refused: it
 * gets a {@linkcode PlacementWarning}.
 *
 * @module
 */
import type { DslArg } from "../../dsl/action.ts";
import { ADDR_TYPES_V6, type AddrType } from "../../dsl/addr_type.ts";
import { REJECT_TYPES_V4, REJECT_TYPES_V6 } from "../../dsl/validate.ts";
import type { Rule } from "../../dsl/rule.ts";
import { PlacementError } from "./errors.ts";
import { type Hook, type HookSet, isKernelChain, type TableName } from "../../dsl/kernel_chains.ts";
import type { PlacementWarning, PlacementWarningCode } from "./warnings.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** Where a rule is placed. */
export interface Placement {
  /** The table. */
  table: TableName;
  /** The table's IP family. */
  ipVersion: 4 | 6;
  /** The chain holding the rule. */
  chain: string;
  /** The list within the chain. */
  list: "chain" | "insert" | "append";
  /** The rule's 0-based index in the list. */
  ruleIndex: number;
  /** The hooks the chain is reached from (`null`: unknown, skip hook checks). */
  hooks: HookSet;
  /**
   * The iptables backend the rule is written with. One check depends on it:
   * `srcAddrType(…, limitIfaceOut)` in an owned chain reached from INPUT or
   * PREROUTING is refused by the legacy kernel and accepted (with the limit
   * ignored) by nf_tables. Without it, a rule either backend refuses is
   * refused.
   */
  backend?: IptablesVariant | undefined;
}

const NO_WARNINGS: readonly PlacementWarning[] = Object.freeze([]);

const PORT_PROTOCOLS = new Set(["tcp", "udp", "udplite", "sctp", "dccp"]);
/**
 * NAT targets take ports only after `-p` with one of these ("Need TCP, UDP,
 * SCTP or DCCP with port specification"): iptables 1.8.9 also lets icmp
 * through (in both families), and reads the protocol of `! -p` too.
 */
const NAT_PORT_PROTOCOLS = new Set(["tcp", "udp", "sctp", "dccp", "icmp"]);
const PROTOCOL_NUMBERS: Record<number, string> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  33: "dccp",
  58: "icmpv6",
  132: "sctp",
  136: "udplite",
};
// What each match method is, for the placement checks (bits of ROLES).
const PROTOCOL = 1;
const PORT = 2;
const ICMP4 = 4;
const ICMP6 = 8;
const ADDRESS = 16;
const ADDR_TYPE = 32;
const SRC_ADDR_TYPE = 64;
const RPF = 128;
/** Matches with placement checks of their own (see `ownChecks`). */
const OWN = 4096;
/** The flags iptables allows once per rule: -s, -d, -i, -o (with or without `!`). */
const FLAG_S = 256;
const FLAG_D = 512;
const FLAG_I = 1024;
const FLAG_O = 2048;
const FLAGS_ALL = FLAG_S | FLAG_D | FLAG_I | FLAG_O;
/** Roles with checks of their own clause (beyond counting). */
const CHECKED = PORT | ICMP4 | ICMP6 | ADDRESS | ADDR_TYPE | RPF | FLAG_I | FLAG_O | OWN;
/** The flags with their bits, in the order a duplicate is reported. */
const FLAGS: readonly (readonly [string, number])[] = [
  ["-s", FLAG_S],
  ["-d", FLAG_D],
  ["-i", FLAG_I],
  ["-o", FLAG_O],
];
function withRole(role: number, ...methods: string[]): [string, number][] {
  return methods.map((m) => [m, role]);
}
const ROLES: ReadonlyMap<string, number> = new Map([
  ...withRole(PROTOCOL, "protocol", "notProtocol", "protocolNum", "notProtocolNum"),
  ...withRole(
    PORT,
    "sourcePorts",
    "notSourcePorts",
    "destPorts",
    "notDestPorts",
    "sourcePortRanges",
    "notSourcePortRanges",
    "destPortRanges",
    "notDestPortRanges",
  ),
  ...withRole(ICMP4, "icmpType", "notIcmpType", "icmpTypeAndCode", "notIcmpTypeAndCode"),
  ...withRole(ICMP6, "icmpV6Type", "notIcmpV6Type", "icmpV6TypeAndCode", "notIcmpV6TypeAndCode"),
  ...withRole(ADDRESS | FLAG_S, "sourceNet", "notSourceNet"),
  ...withRole(ADDRESS | FLAG_D, "destNet", "notDestNet"),
  ...withRole(FLAG_I, "inInterface", "notInInterface"),
  ...withRole(FLAG_O, "outInterface", "notOutInterface"),
  ...withRole(ADDR_TYPE | SRC_ADDR_TYPE, "srcAddrType", "notSrcAddrType"),
  ...withRole(ADDR_TYPE, "destAddrType", "notDestAddrType"),
  ...withRole(RPF, "rpfCheckFailed", "rpfCheckPassed"),
  ...withRole(
    OWN,
    "tcp",
    "udp",
    "tcpMss",
    "notTcpMss",
    "ttl",
    "fragment",
    "notFragment",
    "hopLimit",
    "routingHeaderType",
    "notRoutingHeaderType",
    "owner",
    "sourceMac",
    "notSourceMac",
    "recent",
    "notRecent",
    "ipRange",
    "connLimit",
  ),
]);
/** The protocol each protocol-bound match needs (the kernel's `xt_match.proto`). */
const NEEDS_PROTOCOL: Record<string, string> = {
  tcp: "tcp",
  udp: "udp",
  tcpMss: "tcp",
  notTcpMss: "tcp",
};
/** Family-bound matches (`ip6tables` has no ttl or -f; `iptables` no hl or rt). */
const FAMILY_OF: Record<string, 4 | 6> = {
  ttl: 4,
  fragment: 4,
  notFragment: 4,
  hopLimit: 6,
  routingHeaderType: 6,
  notRoutingHeaderType: 6,
};
/** Matches the kernel allows in some hooks only (`xt_match.hooks`). */
const MATCH_HOOKS: Record<string, readonly Hook[]> = {
  owner: ["OUTPUT", "POSTROUTING"],
  sourceMac: ["PREROUTING", "INPUT", "FORWARD"],
  notSourceMac: ["PREROUTING", "INPUT", "FORWARD"],
};
/** The table and hooks each restricted target is valid in (the kernel's xt_target rules). */
const TARGET_PLACES: Record<string, { table: TableName; hooks?: readonly Hook[] }> = {
  NoTrack: { table: "raw" },
  Dscp: { table: "mangle" },
  Snat: { table: "nat", hooks: ["POSTROUTING", "INPUT"] },
  Dnat: { table: "nat", hooks: ["PREROUTING", "OUTPUT"] },
  Masq: { table: "nat", hooks: ["POSTROUTING"] },
  Reject: { table: "filter", hooks: ["INPUT", "FORWARD", "OUTPUT"] },
  LimitNumConnections: { table: "filter", hooks: ["INPUT", "FORWARD", "OUTPUT"] },
  Ct: { table: "raw" },
  Redirect: { table: "nat", hooks: ["PREROUTING", "OUTPUT"] },
  ChecksumFill: { table: "mangle" },
  ChangeTtl: { table: "mangle" },
  ChangeHopLimit: { table: "mangle" },
  Classify: { table: "mangle", hooks: ["FORWARD", "OUTPUT", "POSTROUTING"] },
};

function protocolName(arg: DslArg): string {
  if (typeof arg === "number") return PROTOCOL_NUMBERS[arg] ?? String(arg);
  const name = String(arg).toLowerCase();
  if (name === "ipv6-icmp" || name === "icmp6") return "icmpv6";
  return /^\d+$/.test(name) ? (PROTOCOL_NUMBERS[Number(name)] ?? name) : name;
}

function familyOf(address: DslArg): 4 | 6 | undefined {
  if (typeof address !== "string") return undefined;
  return address.includes(":") && !/^\d+\.\d+\.\d+\.\d+(?:-[\d.]+)?:/.test(address) ? 6 : 4;
}

/** True when a SNAT/DNAT spec carries a port (`1.2.3.4:80`, `[2001:db8::1]:80`). */
function hasPort(spec: DslArg, port: DslArg): boolean {
  if (port !== undefined && port !== 0) return true;
  if (typeof spec !== "string") return false;
  if (spec.startsWith("[")) return /\]:\d/.test(spec);
  return !spec.includes("::") && spec.split(":").length === 2;
}

/** Whether the match has the tcp match's SYN test the TCPMSS target needs (the kernel's `find_syn_match`). */
function matchesSyn(match: Rule["match"]): boolean {
  let syn = false;
  match?.forEachClause((method, args) => {
    if (method !== "tcp") return;
    const o = args[0] as { syn?: unknown; flags?: { mask?: unknown; set?: unknown } } | undefined;
    if (o?.syn === true) syn = true;
    const f = o?.flags;
    if (
      Array.isArray(f?.mask) && Array.isArray(f?.set) && f.mask.includes("SYN") &&
      f.set.includes("SYN")
    ) {
      syn = true;
    }
  });
  return syn;
}

function hookList(hooks: Iterable<Hook>): string {
  return [...hooks].join(", ");
}

/** Hooks where packets have no incoming interface (`-i`), and no outgoing one (`-o`). */
const NO_IN_INTERFACE: ReadonlySet<string> = new Set(["OUTPUT", "POSTROUTING"]);
const NO_OUT_INTERFACE: ReadonlySet<string> = new Set(["PREROUTING", "INPUT"]);

/** True when every hook (of a known, non-empty set) is in `set`. */
function onlyIn(hooks: HookSet, set: ReadonlySet<string>): hooks is ReadonlySet<Hook> {
  if (hooks === null || hooks.size === 0) return false;
  for (const h of hooks) if (!set.has(h)) return false;
  return true;
}

/**
 * Checks one rule against where it is placed: refuses what iptables or the
 * kernel would refuse, and returns warnings about what the kernel accepts but
 * cannot work there.
 *
 * @param rule The rule.
 * @param where Where it is placed.
 * @returns The warnings (an empty, frozen array when there are none).
 * @throws {PlacementError} naming the chain and rule when iptables would refuse the rule there.
 *
 * @example
 * ```ts
 * import { Accept, checkPlacement, type Hook, Match, PlacementError } from "@rampart/iptables";
 * import assert from "node:assert/strict";
 * const rule = { match: Match().inInterface("docker0"), action: Accept() };
 * // In an owned chain reached from PREROUTING and OUTPUT (Docker's layout): fine.
 * const docker = new Set<Hook>(["PREROUTING", "OUTPUT"]);
 * assert.deepEqual(
 *   checkPlacement(rule, { table: "nat", ipVersion: 4, chain: "rp-docker", list: "chain", ruleIndex: 0, hooks: docker }),
 *   [],
 * );
 * // Reached only from OUTPUT it can never match: a warning.
 * const output = new Set<Hook>(["OUTPUT"]);
 * const [warning] = checkPlacement(rule, {
 *   table: "nat", ipVersion: 4, chain: "rp-docker", list: "chain", ruleIndex: 0, hooks: output,
 * });
 * assert.equal(warning?.code, "never-matches");
 * // Directly in OUTPUT iptables refuses it ("Can't use -i with OUTPUT").
 * assert.throws(
 *   () => checkPlacement(rule, { table: "nat", ipVersion: 4, chain: "OUTPUT", list: "insert", ruleIndex: 0, hooks: output }),
 *   PlacementError,
 * );
 * ```
 */
export function checkPlacement(rule: Rule, where: Placement): readonly PlacementWarning[] {
  // Built only on failure or warning: this runs for every rule of every plan.
  function placeText(): string {
    return `rule ${where.ruleIndex + 1} of ${
      where.list === "chain" ? "chain" : `the ${where.list} list of chain`
    } "${where.chain}" (${where.table}, IPv${where.ipVersion})`;
  }
  function fail(problem: string): never {
    throw new PlacementError(`Cannot place ${placeText()}: ${problem}`, {
      chain: where.chain,
      ruleIndex: where.ruleIndex,
      list: where.list,
    });
  }
  let warnings: PlacementWarning[] | undefined;
  function warn(code: PlacementWarningCode, method: string, problem: string): void {
    const text = placeText();
    const head = code === "never-matches" ? "never matches" : "matches more than it says";
    (warnings ??= []).push(Object.freeze({
      kind: "placement" as const,
      code,
      message: `${text[0]!.toUpperCase()}${text.slice(1)} ${head}: ${problem}`,
      table: where.table,
      ipVersion: where.ipVersion,
      chain: where.chain,
      list: where.list,
      ruleIndex: where.ruleIndex,
      method,
      hooks: Object.freeze(where.hooks === null ? [] : [...where.hooks]),
    }));
  }
  /** The checks of -i and -o: by chain name (iptables), and against the hooks. */
  function checkInterface(method: string, flag: "-i" | "-o", name: DslArg): void {
    const refusedIn = flag === "-i" ? NO_IN_INTERFACE : NO_OUT_INTERFACE;
    const what = flag === "-i" ? "incoming" : "outgoing";
    // iptables refuses the flag by the chain's name, in any table, with or without `!`.
    if (refusedIn.has(where.chain)) {
      fail(
        `${method}() is refused by iptables in a chain named ${where.chain} ("Can't use ${flag} with ${where.chain}"): packets there have no ${what} interface`,
      );
    }
    // `+` matches every packet (`! +` is refused by the DSL).
    if (name === "+" || !onlyIn(hooks, refusedIn)) return;
    const negated = method.startsWith("not");
    const arg = JSON.stringify(name);
    const there = `in ${hookList(hooks)}, where packets have no ${what} interface and the chain ` +
      `is reached only from there`;
    if (negated) warn("no-effect", method, `${method}(${arg}) matches every packet ${there}`);
    else warn("never-matches", method, `${method}(${arg}) matches no packet ${there}`);
  }
  /** The checks of the matches added for real rule sets (issue 16). */
  function ownChecks(m: string, args: readonly DslArg[]): void {
    const needs = NEEDS_PROTOCOL[m];
    if (needs !== undefined && protocol !== needs) fail(`${m}() needs protocol("${needs}") first`);
    const family = FAMILY_OF[m];
    if (family !== undefined && family !== where.ipVersion) {
      fail(`${m}() is IPv${family} only`);
    }
    const allowed = MATCH_HOOKS[m];
    if (allowed !== undefined) {
      if (isKernelChain(where.table, where.chain) && !allowed.includes(where.chain as Hook)) {
        fail(`${m}() works only in ${allowed.join(", ")}`);
      }
      if (hooks !== null) {
        const bad = [...hooks].filter((h) => !allowed.includes(h));
        if (bad.length > 0) {
          fail(
            `${m}() works only in ${allowed.join(", ")}, but the chain is reached from ${
              hookList(bad)
            }`,
          );
        }
      }
    }
    const options = args[0] as Record<string, DslArg> | undefined;
    if (options === undefined || typeof options !== "object") return;
    const addresses = m === "ipRange"
      ? ["source", "notSource", "dest", "notDest"].map((k) => options[k])
      : m === "recent" || m === "notRecent"
      ? [options.mask]
      : [];
    for (const a of addresses) {
      const f = familyOf(a);
      if (f !== undefined && f !== where.ipVersion) {
        fail(`${m}(${JSON.stringify(a)}) is an IPv${f} address in an IPv${where.ipVersion} table`);
      }
    }
  }
  const match = rule.match;
  const action = rule.action;
  // One pass reads what the checks need; a second pass, for the clauses that
  // have per-clause checks, runs only when there are any. No clause objects
  // are built: this runs for every rule placed.
  let protocolCount = 0;
  let protocol: string | undefined;
  // The protocol of -p, negated or not (what iptables' NAT targets read).
  let anyProtocol: string | undefined;
  let protocolMethod = "";
  let roles = 0;
  // Flags seen once, and flags seen again (iptables allows each once).
  let seen = 0;
  let repeated = 0;
  match?.forEachClause((method, args) => {
    const role = ROLES.get(method);
    if (role === undefined) return;
    roles |= role;
    if (role & PROTOCOL) {
      protocolCount++;
      anyProtocol = protocolName(args[0]);
      if (!method.startsWith("not")) {
        protocol = anyProtocol;
        protocolMethod = method;
      }
    }
    repeated |= role & seen;
    seen |= role & FLAGS_ALL;
  });
  if (action?.kind === "LimitNumConnections") {
    // It renders its own `-p tcp`, but after the match: port and ICMP matches
    // before it would have no protocol ("multiport needs `-p tcp'…").
    protocolCount++;
  }
  if (protocolCount > 1) {
    fail("a rule can match only one protocol (-p); split it into several rules");
  }
  // iptables allows each of -s, -d, -i and -o once per rule ("multiple -d flags not allowed").
  for (const [flag, bit] of FLAGS) {
    if ((repeated & bit) === 0) continue;
    const used: string[] = [];
    match?.forEachClause((method) => {
      if ((ROLES.get(method) ?? 0) & bit) used.push(`${method}()`);
    });
    fail(
      `${
        used.join(" and ")
      } both use ${flag}, which iptables allows once per rule; split it into several rules`,
    );
  }
  // Both binaries accept these (`-p 1` in ip6tables, `-p 58` in iptables).
  if (protocol === "icmp" && where.ipVersion === 6) {
    warn(
      "never-matches",
      protocolMethod,
      'protocol "icmp" is IPv4\'s ICMP (protocol 1), which IPv6 packets do not carry; use "icmpv6" in an IPv6 table',
    );
  }
  if (protocol === "icmpv6" && where.ipVersion === 4) {
    warn(
      "never-matches",
      protocolMethod,
      'protocol "icmpv6" is IPv6\'s ICMP (protocol 58), which IPv4 packets do not carry; use "icmp" in an IPv4 table',
    );
  }
  const hooks = where.hooks;
  if ((roles & CHECKED) !== 0) {
    match?.forEachClause((m, args) => {
      const role = ROLES.get(m) ?? 0;
      if (role & PORT && (protocol === undefined || !PORT_PROTOCOLS.has(protocol))) {
        fail(`${m}() needs a positive protocol match of tcp, udp, udplite, sctp or dccp first`);
      }
      if (role & ICMP4) {
        if (where.ipVersion !== 4) fail(`${m}() is IPv4 only; use icmpV6Type() in an IPv6 table`);
        if (protocol !== "icmp") fail(`${m}() needs protocol("icmp") first`);
      }
      if (role & ICMP6) {
        if (where.ipVersion !== 6) fail(`${m}() is IPv6 only; use icmpType() in an IPv4 table`);
        if (protocol !== "icmpv6") fail(`${m}() needs protocol("icmpv6") first`);
      }
      if (role & ADDRESS) {
        const family = familyOf(args[0]);
        if (family !== undefined && family !== where.ipVersion) {
          fail(
            `${m}(${
              JSON.stringify(args[0])
            }) is an IPv${family} address in an IPv${where.ipVersion} table`,
          );
        }
      }
      if (role & ADDR_TYPE && where.ipVersion === 6) {
        const type = String(args[0]);
        if (!ADDR_TYPES_V6.has(type as AddrType)) {
          fail(
            `${m}(${
              JSON.stringify(type)
            }) is not supported for IPv6 by the kernel's addrtype match`,
          );
        }
      }
      if (role & RPF) {
        if (where.table !== "raw" && where.table !== "mangle") {
          fail(`${m}() (rpfilter) works only in the raw and mangle tables`);
        }
        if (hooks !== null && [...hooks].some((h) => h !== "PREROUTING")) {
          fail(
            `${m}() (rpfilter) works only in PREROUTING, but the chain is reached from ${
              hookList(hooks)
            }`,
          );
        }
      }
      if (role & OWN) ownChecks(m, args);
      if (role & (FLAG_I | FLAG_O)) checkInterface(m, role & FLAG_I ? "-i" : "-o", args[0]);
      if (hooks === null) return;
      if (role & SRC_ADDR_TYPE && args[1] === true) {
        const bad = [...hooks].filter((h) => NO_OUT_INTERFACE.has(h));
        if (bad.length === 0) return;
        // The kernel checks the hooks of a rule in a user chain only on
        // legacy; nf_tables checks them in base chains only.
        if (where.backend !== "nft" || isKernelChain(where.table, where.chain)) {
          fail(
            `${m}(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING (the chain is reached from ${
              hookList(hooks)
            })`,
          );
        }
        if (bad.length === hooks.size) {
          warn(
            "no-effect",
            m,
            `${m}(…, limitIfaceOut) has no outgoing interface to limit to in ${
              hookList(hooks)
            }, where the chain is reached from (nf_tables ignores the limit there; the legacy backend refuses the rule)`,
          );
        }
      }
    });
  }
  if (action === undefined) return warnings ?? NO_WARNINGS;
  if (action.kind === "Drop" && where.table === "nat") {
    // iptables 1.8 (both backends): 'The "nat" table is not intended for filtering'.
    fail("Drop() is refused in the nat table by iptables; drop in the filter table instead");
  }
  const target = TARGET_PLACES[action.kind];
  if (target !== undefined) {
    if (target.table !== where.table) {
      fail(`${action.kind}() works only in the ${target.table} table`);
    }
    if (target.hooks !== undefined && hooks !== null) {
      const bad = [...hooks].filter((h) => !target.hooks!.includes(h));
      if (bad.length > 0) {
        fail(
          `${action.kind}() works only in ${
            target.hooks.join(", ")
          }, but the chain is reached from ${hookList(bad)}`,
        );
      }
    }
  }
  if (action.kind === "Snat" || action.kind === "Dnat") {
    const family = familyOf(action.args[0]);
    if (family !== undefined && family !== where.ipVersion) {
      fail(`${action.kind}() is given an IPv${family} address in an IPv${where.ipVersion} table`);
    }
    if (
      hasPort(action.args[0], action.kind === "Dnat" ? action.args[1] : undefined) &&
      (anyProtocol === undefined || !NAT_PORT_PROTOCOLS.has(anyProtocol))
    ) {
      fail(`${action.kind}() with a port needs protocol tcp, udp, sctp or dccp`);
    }
  }
  if (action.kind === "ChangeTtl" && where.ipVersion !== 4) {
    fail("ChangeTtl() is IPv4 only; use ChangeHopLimit() in an IPv6 table");
  }
  if (action.kind === "ChangeHopLimit" && where.ipVersion !== 6) {
    fail("ChangeHopLimit() is IPv6 only; use ChangeTtl() in an IPv4 table");
  }
  if (action.kind === "ClampMssToPmtu" || action.kind === "SetMss") {
    // The legacy kernel refuses the target without a SYN match; nf_tables does not look.
    if (protocol !== "tcp" || (where.backend !== "nft" && !matchesSyn(match))) {
      fail(
        `${action.kind}() works only on TCP SYN packets: the rule needs protocol("tcp"), and for ` +
          "the legacy kernel tcp({ syn: true }) or tcp flags with SYN in mask and set",
      );
    }
    // Its hooks are checked through jumps by legacy, in base chains only by nf_tables.
    if (
      action.kind === "ClampMssToPmtu" && hooks !== null &&
      (where.backend !== "nft" || isKernelChain(where.table, where.chain))
    ) {
      const bad = [...hooks].filter((h) =>
        h !== "FORWARD" && h !== "OUTPUT" && h !== "POSTROUTING"
      );
      if (bad.length > 0) {
        fail(
          `ClampMssToPmtu() works only in FORWARD, OUTPUT, POSTROUTING, but the chain is reached from ${
            hookList(bad)
          }`,
        );
      }
    }
  }
  if (action.kind === "Redirect" && action.args[0] !== undefined && action.args[0] !== "") {
    if (anyProtocol === undefined || !NAT_PORT_PROTOCOLS.has(anyProtocol)) {
      fail("Redirect() with to-ports needs protocol tcp, udp, sctp or dccp");
    }
  }
  if (action.kind === "Masq" && action.args[0] !== undefined && action.args[0] !== "") {
    if (anyProtocol === undefined || !NAT_PORT_PROTOCOLS.has(anyProtocol)) {
      fail("Masq() with to-ports needs protocol tcp, udp, sctp or dccp");
    }
  }
  if (action.kind === "Reject" || action.kind === "LimitNumConnections") {
    const type = action.kind === "Reject" ? action.args[0] : action.args[1];
    if (typeof type === "string" && type !== "") {
      const allowed: ReadonlySet<string> = where.ipVersion === 4
        ? REJECT_TYPES_V4
        : REJECT_TYPES_V6;
      if (!allowed.has(type)) {
        fail(`reject type "${type}" is not valid for IPv${where.ipVersion}`);
      }
      if (type === "tcp-reset" && protocol !== "tcp" && action.kind === "Reject") {
        fail('reject type "tcp-reset" needs protocol("tcp")');
      }
    }
  }
  return warnings ?? NO_WARNINGS;
}
