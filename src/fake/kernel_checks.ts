/**
 * The kernel's checks on a rule of the fake dataplane: which table a target
 * belongs to, which protocol a match needs, which hooks an extension may run
 * in.
 *
 * @module
 */
import { ADDR_TYPES_V6, type AddrType } from "../../dsl/addr_type.ts";
import { limitParams, type ParsedRule } from "./normalise.ts";
import type { FakeTableName } from "./state.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

const NAT_TARGETS = new Set(["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"]);
const MANGLE_TARGETS = new Set(["DSCP", "CHECKSUM", "TOS", "TTL", "HL", "CLASSIFY"]);
const RAW_TARGETS = new Set(["NOTRACK", "CT"]);
const PROTO_MATCHES: Record<string, number> = {
  tcp: 6,
  udp: 17,
  sctp: 132,
  dccp: 33,
  udplite: 136,
  icmp: 1,
  icmp6: 58,
  tcpmss: 6,
};
/** Matches registered for some hooks only (`xt_match.hooks`). */
const MATCH_HOOKS: Record<string, readonly string[]> = {
  owner: ["OUTPUT", "POSTROUTING"],
  mac: ["PREROUTING", "INPUT", "FORWARD"],
};
const TARGET_HOOKS: Record<string, readonly string[]> = {
  DNAT: ["PREROUTING", "OUTPUT"],
  REDIRECT: ["PREROUTING", "OUTPUT"],
  SNAT: ["POSTROUTING", "INPUT"],
  MASQUERADE: ["POSTROUTING"],
  REJECT: ["INPUT", "FORWARD", "OUTPUT"],
  CLASSIFY: ["FORWARD", "OUTPUT", "POSTROUTING"],
};

/**
 * The kernel's table and protocol checks on one rule (those that do not depend
 * on which hooks reach its chain).
 *
 * @returns A reason when the kernel would refuse it.
 */
export function kernelRuleCheck(
  table: FakeTableName,
  rule: ParsedRule,
  backend: IptablesVariant,
  ipVersion: 4 | 6 = 4,
): string | undefined {
  const t = rule.target;
  if (t !== undefined) {
    if (NAT_TARGETS.has(t) && table !== "nat") return `${t} only in nat`;
    if (MANGLE_TARGETS.has(t) && table !== "mangle") return `${t} only in mangle`;
    if (RAW_TARGETS.has(t) && table !== "raw") return `${t} only in raw`;
    // xt_REJECT's `.table = "filter"`.
    if (t === "REJECT" && table !== "filter") return "REJECT only in filter";
    if (t === "REJECT") {
      const w = rule.targetOptions.filter((o) => o.name === "--reject-with").at(-1);
      if (w && (w.args[0] === "tcp-reset" || w.args[0] === "tcp-rst") && rule.protocol !== 6) {
        return "tcp-reset needs -p tcp";
      }
    }
    if (t === "TCPMSS" && backend === "legacy") {
      const syn = rule.matches.some((m) =>
        m.name === "tcp" && m.options.some((o) => o.name === "--syn" || o.name === "--tcp-flags")
      );
      if (!syn) return "TCPMSS only works on TCP SYN packets";
    }
  }
  for (const m of rule.matches) {
    const proto = PROTO_MATCHES[m.name];
    if (proto !== undefined && rule.protocol !== proto) return `${m.name} needs -p`;
    if (m.name === "addrtype" && ipVersion === 6) {
      for (const o of m.options) {
        if (o.name !== "--src-type" && o.name !== "--dst-type") continue;
        for (const type of o.args[0]!.toUpperCase().split(",")) {
          if (!ADDR_TYPES_V6.has(type as AddrType)) return `addrtype ${type} not in IPv6`;
        }
      }
    }
    if (m.name === "rpfilter" && table !== "raw" && table !== "mangle") return "rpfilter table";
    if (m.name === "limit" && backend === "legacy") {
      const [avg, burst] = limitParams(m.options);
      if (avg * burst > 0xffffffff) return "limit overflow";
    }
  }
  return undefined;
}

/**
 * The kernel's hook checks on one rule, given the hooks that reach its chain.
 * Two kinds: the hooks an extension is registered for (`xt_match.hooks`,
 * `xt_target.hooks`: rpfilter, the NAT targets, REJECT), which both kernels
 * check through jumps; and the checks of an extension's `checkentry()`
 * against the rule's hook mask (addrtype's `--limit-iface-*`, TCPMSS'
 * `--clamp-mss-to-pmtu`), which legacy makes through jumps but nf_tables only
 * for rules in a base chain (a rule in a user chain gets an empty mask):
 * `entry` includes them.
 *
 * @returns A reason when the kernel would refuse it.
 */
export function kernelHookCheck(
  rule: ParsedRule,
  hooks: ReadonlySet<string>,
  entry = true,
): string | undefined {
  const allowed = rule.target === undefined ? undefined : TARGET_HOOKS[rule.target];
  if (allowed) {
    for (const h of hooks) if (!allowed.includes(h)) return `${rule.target} not allowed in ${h}`;
  }
  for (const m of rule.matches) {
    if (m.name === "rpfilter") {
      for (const h of hooks) if (h !== "PREROUTING") return `rpfilter not allowed in ${h}`;
    }
    const allowed = MATCH_HOOKS[m.name];
    if (allowed) {
      for (const h of hooks) if (!allowed.includes(h)) return `${m.name} not allowed in ${h}`;
    }
  }
  if (!entry) return undefined;
  if (
    rule.target === "TCPMSS" && rule.targetOptions.some((o) => o.name === "--clamp-mss-to-pmtu")
  ) {
    for (const h of hooks) {
      if (!["FORWARD", "OUTPUT", "POSTROUTING"].includes(h)) return `TCPMSS not allowed in ${h}`;
    }
  }
  for (const m of rule.matches) {
    if (m.name === "addrtype") {
      const names = new Set(m.options.map((o) => o.name));
      for (const h of hooks) {
        if (names.has("--limit-iface-in") && (h === "OUTPUT" || h === "POSTROUTING")) {
          return `--limit-iface-in not allowed in ${h}`;
        }
        if (names.has("--limit-iface-out") && (h === "PREROUTING" || h === "INPUT")) {
          return `--limit-iface-out not allowed in ${h}`;
        }
      }
    }
  }
  return undefined;
}
