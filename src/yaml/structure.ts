/**
 * The structure of a rule file around its rules: the top level (`family`,
 * `ruleIds`, `tables`), each table (`family`, `kernelChains`, `chains`),
 * kernel chains (`policy`, `insert`, `append`) and owned chains (a list of
 * rules, or `family` and `rules`).
 *
 * @module
 */
import type { RuleIds } from "../../dsl/hash.ts";
import {
  CHAIN_KEYS,
  closest,
  KERNEL_CHAIN_KEYS,
  TABLE_KEYS,
  TOP_KEYS,
} from "../../dsl/rule_schema.ts";
import {
  isKernelChain,
  isTableName,
  KERNEL_CHAINS,
  type TableName,
} from "../../dsl/kernel_chains.ts";
import { policyRecordChain } from "../engine/policy_record.ts";
import {
  chainNameProblem,
  type ChainPolicy,
  type IpFamily,
  type Policy,
  type PolicyChain,
  PolicyError,
  type PolicyRule,
  type TablePolicy,
  validatePolicy,
} from "../policy/policy.ts";
import { readFamily } from "./family.ts";
import { readRule } from "./rule.ts";
import type { Entry, Site, YamlWalker } from "./walker.ts";

/**
 * Reads a whole rule file into a policy, and validates it.
 *
 * @param w The file.
 * @param chainPrefixes When given, every owned chain's name must start with one of these.
 */
export function readPolicy(w: YamlWalker, chainPrefixes?: readonly string[]): Policy {
  const root = w.root;
  if (w.isNull(root)) {
    w.fail(root, "", "Empty policy file: expected a mapping with a tables key");
  }
  const top = w.map(root, "(top level)", "a mapping with the keys family and tables")!;
  let ipVersions: IpFamily[] = [4, 6];
  let ruleIds: RuleIds | undefined;
  for (const e of w.entries(top, "", TOP_KEYS)) {
    if (e.key === "family") [ipVersions] = readFamily(w, e, [4, 6]);
    if (e.key === "ruleIds") ruleIds = readRuleIds(w, e);
  }
  const tables: TablePolicy[] = [];
  for (const e of w.entries(top, "", TOP_KEYS)) {
    if (e.key !== "tables") continue;
    const m = w.map(e.node, "tables", "a mapping from table names to tables", e.keyNode);
    if (m === undefined) continue;
    for (const t of w.entries(m, "tables")) {
      tables.push(readTable(w, t, { ipVersions, chainPrefixes }));
    }
  }
  const policy: Policy = ruleIds === undefined
    ? { ipVersions, tables }
    : { ipVersions, tables, ruleIds };
  try {
    validatePolicy(policy);
  } catch (e) {
    if (e instanceof PolicyError) w.fail(root, e.path, e.message, { cause: e });
    throw e;
  }
  return policy;
}

/** Reads the top-level `ruleIds` value. */
function readRuleIds(w: YamlWalker, at: Entry): RuleIds {
  const s = w.string(at.node, "ruleIds", "stable or chained", at.keyNode);
  if (s !== "stable" && s !== "chained") {
    const message = `Invalid ruleIds ${JSON.stringify(s)}: expected stable or chained`;
    w.fail(at.node, "ruleIds", message, { allowed: ["stable", "chained"] });
  }
  return s;
}

/** What a table's chains are read with: the enclosing families and the owned chains' prefixes. */
interface TableScope {
  ipVersions: readonly IpFamily[];
  chainPrefixes: readonly string[] | undefined;
}

/** One table (`tables.<name>`). */
function readTable(w: YamlWalker, at: Entry, scope: TableScope): TablePolicy {
  const { path, keyNode } = at;
  const name = at.key;
  if (!isTableName(name)) {
    const allowed = ["filter", "nat", "mangle", "raw"];
    const hint = closest(name, allowed);
    w.fail(
      keyNode,
      path,
      `Unknown table "${name}": expected one of ${allowed.join(", ")}${
        hint === undefined ? "" : ` (did you mean "${hint}"?)`
      }`,
      { allowed },
    );
  }
  const t: TablePolicy = {
    table: name as TableName,
    chains: [],
    insertions: {},
    appends: {},
    policies: {},
  };
  w.record(t, keyNode, path, true);
  const m = w.map(
    at.node,
    path,
    "a mapping with the keys family, kernelChains and chains",
    keyNode,
  );
  if (m === undefined) return t;
  let families = [...scope.ipVersions];
  for (const e of w.entries(m, path, TABLE_KEYS)) {
    if (e.key === "family") {
      let v: IpFamily | undefined;
      [families, v] = readFamily(w, e, scope.ipVersions);
      if (v !== undefined) t.ipVersion = v;
    }
  }
  const inTable = { ipVersions: families, chainPrefixes: scope.chainPrefixes };
  for (const e of w.entries(m, path, TABLE_KEYS)) {
    if (e.key === "kernelChains") readKernelChains(w, t, { at: e, families });
    else if (e.key === "chains") readOwnedChains(w, t, { at: e, scope: inTable });
  }
  return t;
}

/** `kernelChains:`: each kernel chain's policy, and the rules inserted and appended. */
function readKernelChains(
  w: YamlWalker,
  t: TablePolicy,
  of: { at: Entry; families: readonly IpFamily[] },
): void {
  const { path, keyNode } = of.at;
  const m = w.map(of.at.node, path, "a mapping from kernel chain names to chains", keyNode);
  if (m === undefined) return;
  const kernel = KERNEL_CHAINS[t.table];
  for (const c of w.entries(m, path)) {
    if (!isKernelChain(t.table, c.key)) {
      const hint = closest(c.key, kernel);
      w.fail(
        c.keyNode,
        c.path,
        `Unknown kernel chain "${c.key}" in table ${t.table}: expected one of ${kernel.join(", ")}${
          hint === undefined ? "" : ` (did you mean "${hint}"?)`
        }`,
        { allowed: kernel },
      );
    }
    const cm = w.map(
      c.node,
      c.path,
      "a mapping with the keys policy, insert and append",
      c.keyNode,
    );
    if (cm === undefined) continue;
    for (const e of w.entries(cm, c.path, KERNEL_CHAIN_KEYS)) {
      if (e.key === "policy") {
        t.policies[c.key] = readChainPolicy(w, t, e);
      } else {
        const rules = readRules(w, e, of.families);
        if (e.key === "insert") t.insertions[c.key] = rules;
        else t.appends[c.key] = rules;
      }
    }
  }
}

/** A kernel chain's `policy`: ACCEPT or DROP (ACCEPT only in nat). */
function readChainPolicy(w: YamlWalker, t: TablePolicy, e: Entry): ChainPolicy {
  const s = w.string(e.node, e.path, "ACCEPT or DROP", e.keyNode);
  const allowed = t.table === "nat" ? ["ACCEPT"] : ["ACCEPT", "DROP"];
  const p = s.toUpperCase();
  if (!allowed.includes(p)) {
    w.fail(
      e.node,
      e.path,
      `Invalid ${e.path} ${JSON.stringify(s)}: expected ${allowed.join(" or ")}${
        t.table === "nat" ? " (the nat table cannot drop)" : ""
      }`,
      { allowed },
    );
  }
  return p as ChainPolicy;
}

/** `chains:`: the owned chains, in order. */
function readOwnedChains(
  w: YamlWalker,
  t: TablePolicy,
  of: { at: Entry; scope: TableScope },
): void {
  const { path, keyNode } = of.at;
  const m = w.map(of.at.node, path, "a mapping from chain names to rule lists", keyNode);
  if (m === undefined) return;
  for (const c of w.entries(m, path)) t.chains.push(readOwnedChain(w, c, of.scope));
}

/** One owned chain: a list of rules, or a mapping with `family` and `rules`. */
function readOwnedChain(w: YamlWalker, c: Entry, scope: TableScope): PolicyChain {
  checkOwnedChainName(w, c, scope.chainPrefixes);
  const families = scope.ipVersions;
  const chain: PolicyChain = { name: c.key, rules: [] };
  w.record(chain, c.keyNode, c.path, true);
  const v = w.resolve(c.node, c.path);
  if (w.isMap(v)) {
    let chainFamilies = [...families];
    for (const e of w.entries(v, c.path, CHAIN_KEYS)) {
      if (e.key === "family") {
        let v: IpFamily | undefined;
        [chainFamilies, v] = readFamily(w, e, families);
        if (v !== undefined) chain.ipVersion = v;
      }
    }
    for (const e of w.entries(v, c.path, CHAIN_KEYS)) {
      if (e.key === "rules") chain.rules = readRules(w, e, chainFamilies);
    }
  } else if (w.isSeq(v) || w.isNull(v)) {
    chain.rules = readRules(w, { node: v, path: c.path, keyNode: c.keyNode }, families);
  } else {
    w.fail(
      v,
      c.path,
      `Invalid ${c.path} ${
        w.show(v)
      }: expected a list of rules or a mapping with the keys family and rules`,
    );
  }
  return chain;
}

/** An owned chain's name: valid, with one of the prefixes, and not the policy record's. */
function checkOwnedChainName(
  w: YamlWalker,
  c: Entry,
  prefixes: readonly string[] | undefined,
): void {
  const problem = chainNameProblem(c.key);
  if (problem !== undefined) {
    w.fail(
      c.keyNode,
      c.path,
      `Invalid chain name ${JSON.stringify(c.key)}: expected ${problem}`,
    );
  }
  if (prefixes !== undefined && !prefixes.some((p) => c.key.startsWith(p))) {
    w.fail(
      c.keyNode,
      c.path,
      `Invalid chain name ${JSON.stringify(c.key)}: expected a name starting with ${
        prefixes.map((p) => JSON.stringify(p)).join(" or ")
      } (the chains Rampart owns)`,
      { allowed: prefixes },
    );
  }
  if (prefixes !== undefined && c.key === policyRecordChain(prefixes)) {
    w.fail(
      c.keyNode,
      c.path,
      `Invalid chain name ${JSON.stringify(c.key)}: it is reserved for Rampart's record of ` +
        "the chain policies it changed; choose another name",
    );
  }
}

/** A list of rules. */
function readRules(w: YamlWalker, at: Site, families: readonly IpFamily[]): PolicyRule[] {
  const s = w.seq(at.node, at.path, "a list of rules", at.keyNode);
  if (s === undefined) return [];
  return w.items(s).map((item, i) =>
    readRule(w, { node: item, path: `${at.path}[${i}]` }, families)
  );
}
