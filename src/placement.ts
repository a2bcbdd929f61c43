/**
 * Rule placement checks: a rule that renders fine on its own can still be
 * wrong where it is placed (table, IP family, protocol dependencies, hooks).
 * The engine runs these before writing anything, so iptables-restore never
 * sees a rule the kernel would reject.
 *
 * @module
 */
import type { DslArg } from "../dsl/action.ts";
import { ADDR_TYPES_V6, type AddrType } from "../dsl/addr_type.ts";
import { REJECT_TYPES_V4, REJECT_TYPES_V6 } from "../dsl/validate.ts";
import type { Rule } from "../dsl/rule.ts";
import { PlacementError } from "./errors.ts";
import type { Hook, HookSet, TableName } from "./kernel_chains.ts";

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
}

const PORT_PROTOCOLS = new Set(["tcp", "udp", "udplite", "sctp", "dccp"]);
/** NAT targets take ports only with these ("Need TCP, UDP, SCTP or DCCP with port specification"). */
const NAT_PORT_PROTOCOLS = new Set(["tcp", "udp", "sctp", "dccp"]);
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
/** The flags iptables allows once per rule: -s, -d, -i, -o (inInterface/outInterface). */
const FLAG_S = 256;
const FLAG_D = 512;
const FLAG_I = 1024;
const FLAG_O = 2048;
const FLAGS_ALL = FLAG_S | FLAG_D | FLAG_I | FLAG_O;
/** Roles with checks of their own clause (beyond counting). */
const CHECKED = PORT | ICMP4 | ICMP6 | ADDRESS | ADDR_TYPE | RPF | FLAG_I | FLAG_O;
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
  ...withRole(FLAG_I, "inInterface"),
  ...withRole(FLAG_O, "outInterface"),
  ...withRole(ADDR_TYPE | SRC_ADDR_TYPE, "srcAddrType", "notSrcAddrType"),
  ...withRole(ADDR_TYPE, "destAddrType", "notDestAddrType"),
  ...withRole(RPF, "rpfCheckFailed", "rpfCheckPassed"),
]);
/** The table and hooks each restricted target is valid in (the kernel's xt_target rules). */
const TARGET_PLACES: Record<string, { table: TableName; hooks?: readonly Hook[] }> = {
  NoTrack: { table: "raw" },
  Dscp: { table: "mangle" },
  Snat: { table: "nat", hooks: ["POSTROUTING", "INPUT"] },
  Dnat: { table: "nat", hooks: ["PREROUTING", "OUTPUT"] },
  Masq: { table: "nat", hooks: ["POSTROUTING"] },
  Reject: { table: "filter", hooks: ["INPUT", "FORWARD", "OUTPUT"] },
  LimitNumConnections: { table: "filter", hooks: ["INPUT", "FORWARD", "OUTPUT"] },
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

function hookList(hooks: Iterable<Hook>): string {
  return [...hooks].join(", ");
}

/**
 * Checks one rule against where it is placed.
 *
 * @throws {PlacementError} naming the chain and rule when the rule cannot work there.
 *
 * @example
 * ```ts
 * import { Accept, checkPlacement, Match } from "@rampart/iptables";
 * const rule = { match: Match().protocol("tcp").destPorts(22), action: Accept() };
 * checkPlacement(rule, {
 *   table: "filter", ipVersion: 4, chain: "INPUT", list: "insert", ruleIndex: 0, hooks: new Set(["INPUT"]),
 * }); // passes
 * ```
 */
export function checkPlacement(rule: Rule, where: Placement): void {
  function fail(problem: string): never {
    // Built only on failure: this runs for every rule of every plan.
    const place = `rule ${where.ruleIndex + 1} of ${
      where.list === "chain" ? "chain" : `the ${where.list} list of chain`
    } "${where.chain}" (${where.table}, IPv${where.ipVersion})`;
    throw new PlacementError(`Cannot place ${place}: ${problem}`, {
      chain: where.chain,
      ruleIndex: where.ruleIndex,
      list: where.list,
    });
  }
  const match = rule.match;
  const action = rule.action;
  // One pass reads what the checks need; a second pass, for the clauses that
  // have per-clause checks, runs only when there are any. No clause objects
  // are built: this runs for every rule placed.
  let protocolCount = 0;
  let protocol: string | undefined;
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
      if (!method.startsWith("not")) protocol = protocolName(args[0]);
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
  if (protocol === "icmp" && where.ipVersion === 6) {
    fail('protocol "icmp" is IPv4 only; use "icmpv6" in an IPv6 table');
  }
  if (protocol === "icmpv6" && where.ipVersion === 4) {
    fail('protocol "icmpv6" is IPv6 only; use "icmp" in an IPv4 table');
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
      if (hooks === null) return;
      if (role & FLAG_I && (hooks.has("OUTPUT") || hooks.has("POSTROUTING"))) {
        fail(
          `inInterface() cannot match in OUTPUT or POSTROUTING (the chain is reached from ${
            hookList(hooks)
          })`,
        );
      }
      if (role & FLAG_O && (hooks.has("INPUT") || hooks.has("PREROUTING"))) {
        fail(
          `outInterface() cannot match in INPUT or PREROUTING (the chain is reached from ${
            hookList(hooks)
          })`,
        );
      }
      if (role & SRC_ADDR_TYPE && args[1] === true) {
        if (hooks.has("INPUT") || hooks.has("PREROUTING")) {
          fail(
            `${m}(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING (the chain is reached from ${
              hookList(hooks)
            })`,
          );
        }
      }
    });
  }
  if (action === undefined) return;
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
      hasPort(action.args[0], action.args[1]) &&
      (protocol === undefined || !NAT_PORT_PROTOCOLS.has(protocol))
    ) {
      fail(`${action.kind}() with a port needs protocol tcp, udp, sctp or dccp`);
    }
  }
  if (action.kind === "Masq" && action.args[0] !== undefined && action.args[0] !== "") {
    if (protocol === undefined || !NAT_PORT_PROTOCOLS.has(protocol)) {
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
}
