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
const PORT_METHODS = new Set([
  "sourcePorts",
  "notSourcePorts",
  "destPorts",
  "notDestPorts",
  "sourcePortRanges",
  "notSourcePortRanges",
  "destPortRanges",
  "notDestPortRanges",
]);
const ADDRESS_METHODS = new Set(["sourceNet", "notSourceNet", "destNet", "notDestNet"]);
const ICMP4_METHODS = new Set(["icmpType", "notIcmpType", "icmpTypeAndCode", "notIcmpTypeAndCode"]);
const ICMP6_METHODS = new Set([
  "icmpV6Type",
  "notIcmpV6Type",
  "icmpV6TypeAndCode",
  "notIcmpV6TypeAndCode",
]);
const PROTOCOL_METHODS = new Set(["protocol", "notProtocol", "protocolNum", "notProtocolNum"]);
const SINGLE_FLAGS: readonly (readonly [string, readonly string[]])[] = [
  ["-s", ["sourceNet", "notSourceNet"]],
  ["-d", ["destNet", "notDestNet"]],
  ["-i", ["inInterface"]],
  ["-o", ["outInterface"]],
];
const ADDR_TYPE_METHODS = new Set([
  "srcAddrType",
  "notSrcAddrType",
  "destAddrType",
  "notDestAddrType",
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
    const place = `rule ${where.ruleIndex} of ${
      where.list === "chain" ? "chain" : `the ${where.list} list of chain`
    } "${where.chain}" (${where.table}, IPv${where.ipVersion})`;
    throw new PlacementError(`Cannot place ${place}: ${problem}`, {
      chain: where.chain,
      ruleIndex: where.ruleIndex,
      list: where.list,
    });
  }
  const clauses = rule.match?.clauses ?? [];
  const action = rule.action;
  let protocolCount = 0;
  let protocol: string | undefined;
  for (const c of clauses) {
    if (!PROTOCOL_METHODS.has(c.method)) continue;
    protocolCount++;
    if (!c.method.startsWith("not")) protocol = protocolName(c.args[0]);
  }
  if (action?.kind === "LimitNumConnections") {
    // It renders its own `-p tcp`, but after the match: port and ICMP matches
    // before it would have no protocol ("multiport needs `-p tcp'…").
    protocolCount++;
  }
  if (protocolCount > 1) {
    fail("a rule can match only one protocol (-p); split it into several rules");
  }
  // iptables allows each of -s, -d, -i and -o once per rule ("multiple -d flags not allowed").
  for (const [flag, methods] of SINGLE_FLAGS) {
    // Counted first without allocating: this runs for every rule placed.
    let count = 0;
    for (const c of clauses) if (methods.includes(c.method)) count++;
    if (count < 2) continue;
    const used = clauses.filter((c) => methods.includes(c.method)).map((c) => `${c.method}()`);
    if (used.length > 1) {
      fail(
        `${
          used.join(" and ")
        } both use ${flag}, which iptables allows once per rule; split it into several rules`,
      );
    }
  }
  if (protocol === "icmp" && where.ipVersion === 6) {
    fail('protocol "icmp" is IPv4 only; use "icmpv6" in an IPv6 table');
  }
  if (protocol === "icmpv6" && where.ipVersion === 4) {
    fail('protocol "icmpv6" is IPv6 only; use "icmp" in an IPv4 table');
  }
  const hooks = where.hooks;
  for (const c of clauses) {
    const m = c.method;
    if (PORT_METHODS.has(m) && (protocol === undefined || !PORT_PROTOCOLS.has(protocol))) {
      fail(`${m}() needs a positive protocol match of tcp, udp, udplite, sctp or dccp first`);
    }
    if (ICMP4_METHODS.has(m)) {
      if (where.ipVersion !== 4) fail(`${m}() is IPv4 only; use icmpV6Type() in an IPv6 table`);
      if (protocol !== "icmp") fail(`${m}() needs protocol("icmp") first`);
    }
    if (ICMP6_METHODS.has(m)) {
      if (where.ipVersion !== 6) fail(`${m}() is IPv6 only; use icmpType() in an IPv4 table`);
      if (protocol !== "icmpv6") fail(`${m}() needs protocol("icmpv6") first`);
    }
    if (ADDRESS_METHODS.has(m)) {
      const family = familyOf(c.args[0]);
      if (family !== undefined && family !== where.ipVersion) {
        fail(
          `${m}(${
            JSON.stringify(c.args[0])
          }) is an IPv${family} address in an IPv${where.ipVersion} table`,
        );
      }
    }
    if (ADDR_TYPE_METHODS.has(m) && where.ipVersion === 6) {
      const type = String(c.args[0]);
      if (!ADDR_TYPES_V6.has(type as AddrType)) {
        fail(
          `${m}(${JSON.stringify(type)}) is not supported for IPv6 by the kernel's addrtype match`,
        );
      }
    }
    if ((m === "rpfCheckFailed" || m === "rpfCheckPassed")) {
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
    if (hooks === null) continue;
    if (m === "inInterface" && (hooks.has("OUTPUT") || hooks.has("POSTROUTING"))) {
      fail(
        `inInterface() cannot match in OUTPUT or POSTROUTING (the chain is reached from ${
          hookList(hooks)
        })`,
      );
    }
    if (m === "outInterface" && (hooks.has("INPUT") || hooks.has("PREROUTING"))) {
      fail(
        `outInterface() cannot match in INPUT or PREROUTING (the chain is reached from ${
          hookList(hooks)
        })`,
      );
    }
    if ((m === "srcAddrType" || m === "notSrcAddrType") && c.args[1] === true) {
      if (hooks.has("INPUT") || hooks.has("PREROUTING")) {
        fail(
          `${m}(…, limitIfaceOut) is valid only in OUTPUT, FORWARD and POSTROUTING (the chain is reached from ${
            hookList(hooks)
          })`,
        );
      }
    }
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
