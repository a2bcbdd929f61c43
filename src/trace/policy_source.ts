/**
 * A desired state as a trace source: a {@linkcode Policy} (from YAML files
 * or the DSL), a {@linkcode Firewall} or a {@linkcode Table} is applied to a
 * {@linkcode FakeDataplane} exactly as `apply()` would write it to the
 * kernel, and the fake's `iptables-save` output is traced. Rule IDs map
 * each step back to the policy's rule and, for rules loaded from YAML, to
 * its `file:line`.
 *
 * @module
 */
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import type { Features } from "../../dsl/features.ts";
import { FakeDataplane } from "../fake/fake_dataplane.ts";
import { staticFeatures } from "../host/feature_source.ts";
import { Firewall } from "../policy/firewall.ts";
import { ipSetNamesOf } from "../engine/ipset_guard.ts";
import { KERNEL_CHAINS, TABLE_NAMES } from "../../dsl/kernel_chains.ts";
import { silentLogger } from "../host/logger.ts";
import type { IpFamily, Policy, PolicyRule, TablePolicy } from "../policy/policy.ts";
import { Table } from "../engine/table.ts";
import { packetState, type TracePacket } from "./packet.ts";
import type { TraceResult, TraceRuleSource } from "./result.ts";
import { parseTraceRuleset, type TraceRuleset } from "./ruleset.ts";
import { type TraceOptions, tracePacket } from "./walk.ts";

/** Options of {@linkcode renderPolicyRuleset} and {@linkcode tracePolicy}. */
export interface TracePolicyOptions extends Omit<TraceOptions, "ruleSources" | "backend"> {
  /** Whose save output is emulated. @default {"nft"} */
  backend?: "nft" | "legacy";
  /** How rule IDs are computed. @default {the policy's, the firewall's or the table's; else "stable"} */
  ruleIds?: RuleIds;
  /**
   * Prefixes of the chains Rampart owns, as `apply()` is given them (the
   * first names the chain that records replaced policies, `rp-policy`);
   * every chain the policy defines is owned as well. @default {["rp-"]}
   */
  chainPrefixes?: readonly string[];
  /** Our rules above (`insert`) or below (`append`) the foreign rules of `foreign`. @default {"insert"} */
  insertMode?: "insert" | "append";
  /**
   * Where a policy's rule was written: `sourcePositionOf` from the YAML
   * loader gives `file:line` for rules loaded from files.
   */
  locate?: (rule: object) => TraceRuleSource | undefined;
  /** Host features the rules are rendered for. @default {{}} */
  features?: Features;
  /**
   * Other programs' rules (`iptables-save` text of the family) that the
   * policy is applied beside, as on a real host.
   */
  foreign?: string;
}

/** A desired state rendered as the kernel would hold it, with where each rule came from. */
export interface RenderedPolicy {
  /** The family. */
  ipVersion: 4 | 6;
  /** The `iptables-save` text of every table. */
  save: string;
  /** The parsed rule set. */
  ruleset: TraceRuleset;
  /** Where each rule ID was written (rules with a known source only). */
  ruleSources: Map<string, TraceRuleSource>;
}

/** Anything that holds a desired state. */
export type TracePolicySource = Policy | Firewall | Table;

function asPolicy(source: TracePolicySource): Policy {
  if (source instanceof Firewall) {
    const p = source.policy();
    return { ...p, ruleIds: source.ruleIds };
  }
  if (source instanceof Table) {
    const t: TablePolicy = {
      table: source.name,
      chains: source.chains(),
      insertions: {},
      appends: {},
      policies: Object.fromEntries(source.policies()),
    };
    for (const k of KERNEL_CHAINS[source.name]) {
      if (source.insertions(k).length > 0) t.insertions[k] = [...source.insertions(k)];
      if (source.appends(k).length > 0) t.appends[k] = [...source.appends(k)];
    }
    return { ipVersions: [source.ipVersion], tables: [t], ruleIds: source.ruleIds };
  }
  return source;
}

function forFamily<T extends { ipVersion?: IpFamily }>(items: readonly T[], v: IpFamily): T[] {
  return items.filter((x) => x.ipVersion === undefined || x.ipVersion === v);
}

/**
 * Renders a desired state for one family as `apply()` would write it, on a
 * {@linkcode FakeDataplane} that emulates the backend's restore and save byte
 * for byte, and notes where each rule ID was written.
 *
 * @param source A policy, firewall or table.
 * @param options The family, backend, rule IDs, host features, foreign rules and `locate`.
 * @returns The save text, its parsed rule set and the rule sources.
 *
 * @example
 * ```ts
 * import { Accept, Match, tablePolicy } from "@rampart/iptables";
 * import { renderPolicyRuleset } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const policy = {
 *   ipVersions: [4] as (4 | 6)[],
 *   tables: [tablePolicy("filter", {
 *     insertions: { INPUT: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }] },
 *     policies: { INPUT: "DROP" },
 *   })],
 * };
 * const rendered = await renderPolicyRuleset(policy, { ipVersion: 4 });
 * assert.match(rendered.save, /:INPUT DROP/);
 * assert.match(rendered.save, /-A INPUT -p tcp -m comment --comment "rampart:\w+" -m multiport --dports 22 -j ACCEPT/);
 * ```
 */
export async function renderPolicyRuleset(
  source: TracePolicySource,
  options: TracePolicyOptions & { ipVersion: 4 | 6 },
): Promise<RenderedPolicy> {
  const policy = asPolicy(source);
  const v = options.ipVersion;
  const backend = options.backend ?? "nft";
  const hashPrefix = options.hashPrefix ?? "rampart:";
  const ruleIds = options.ruleIds ?? policy.ruleIds ?? "stable";
  const tables = policy.ipVersions.includes(v) ? forFamily(policy.tables, v) : [];
  const allRules: PolicyRule[] = [];
  const chainNames = new Set<string>();
  for (const t of tables) {
    for (const c of t.chains) {
      chainNames.add(c.name);
      allRules.push(...c.rules);
    }
    for (const list of [...Object.values(t.insertions), ...Object.values(t.appends)]) {
      allRules.push(...list);
    }
  }
  const fake = new FakeDataplane({
    backend,
    ipsets: [...ipSetNamesOf(allRules), ...Object.keys(options.ipSets ?? {})],
  });
  if (options.foreign !== undefined) {
    await fake.load(options.foreign, { ipVersion: v, backend, flush: true });
  }
  const features = options.features ?? {};
  const firewall = new Firewall({
    runner: fake.runner,
    backend,
    hashPrefix,
    ruleIds,
    // Every owned chain of the policy is its own prefix as well: any naming is accepted.
    chainPrefixes: [
      ...new Set([
        ...(options.chainPrefixes ?? ["rp-"]),
        ...[...chainNames].filter((c) =>
          !(options.chainPrefixes ?? ["rp-"]).some((p) => c.startsWith(p))
        ),
      ]),
    ],
    insertMode: options.insertMode ?? "insert",
    ipVersions: [v],
    logger: silentLogger(),
    featureDetector: staticFeatures(features),
  });
  firewall.setPolicy({ ...policy, ipVersions: [v], tables, ruleIds });
  await firewall.apply({ snapshot: false });
  const save = TABLE_NAMES.map((t) => fake.dump(t, { ipVersion: v, backend })).join("");
  const ruleSources = new Map<string, TraceRuleSource>();
  const locate = options.locate;
  if (locate !== undefined) {
    const note = (key: string, rules: readonly PolicyRule[]) => {
      const mine = forFamily(rules, v);
      const ids = calculateRuleIds(key, mine, { ruleIds, features });
      mine.forEach((rule, i) => {
        const at = locate(rule);
        if (at !== undefined) ruleSources.set(ids[i]!, at);
      });
    };
    for (const t of tables) {
      for (const c of forFamily(t.chains, v)) note(c.name, c.rules);
      for (const [k, rules] of Object.entries(t.insertions)) note(k, rules);
      for (const [k, rules] of Object.entries(t.appends)) note(`${k}*appends*`, rules);
    }
  }
  return {
    ipVersion: v,
    save,
    ruleset: parseTraceRuleset(save, { ipVersion: v, backend, hashPrefix }),
    ruleSources,
  };
}

/**
 * Traces a packet through a desired state (a policy from YAML files or the
 * DSL, a firewall or a table) as it would be in the kernel after `apply()`:
 * no kernel, no root.
 *
 * @param source A policy, firewall or table.
 * @param packet The packet.
 * @param options Backend, host addresses, IP sets, foreign rules, `locate`.
 * @returns The trace.
 *
 * @example SSH only from the office network
 * ```ts
 * import { Accept, Match, tablePolicy } from "@rampart/iptables";
 * import { tracePolicy } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const policy = {
 *   ipVersions: [4] as (4 | 6)[],
 *   tables: [tablePolicy("filter", {
 *     insertions: {
 *       INPUT: [{ match: Match().protocol("tcp").destPorts(22).sourceNet("198.51.100.0/24"), action: Accept() }],
 *     },
 *     policies: { INPUT: "DROP" },
 *   })],
 * };
 * const ssh = { inInterface: "eth0", destination: "10.0.0.1", protocol: "tcp", destPort: 22 };
 * assert.equal((await tracePolicy(policy, { ...ssh, source: "203.0.113.7" })).verdict, "DROP");
 * assert.equal((await tracePolicy(policy, { ...ssh, source: "198.51.100.4" })).verdict, "ACCEPT");
 * ```
 */
export async function tracePolicy(
  source: TracePolicySource,
  packet: TracePacket,
  options: TracePolicyOptions = {},
): Promise<TraceResult> {
  const { ipVersion } = packetState(packet);
  const rendered = await renderPolicyRuleset(source, { ...options, ipVersion });
  return tracePacket(rendered.ruleset, packet, {
    ...traceOptions(options),
    ruleSources: rendered.ruleSources,
  });
}

/** The tracer's own options out of a source's options. */
export function traceOptions(options: TracePolicyOptions): TraceOptions {
  const out: TraceOptions = {};
  if (options.localAddresses !== undefined) out.localAddresses = options.localAddresses;
  if (options.ipSets !== undefined) out.ipSets = options.ipSets;
  if (options.hashPrefix !== undefined) out.hashPrefix = options.hashPrefix;
  if (options.maxBranches !== undefined) out.maxBranches = options.maxBranches;
  if (options.assume !== undefined) out.assume = options.assume;
  return out;
}
