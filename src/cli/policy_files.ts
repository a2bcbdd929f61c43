/**
 * Loading the CLI's policy files and merging them into one policy.
 *
 * @module
 */
import type { RuleIds } from "../../dsl/hash.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import {
  type IpFamily,
  type Policy,
  type PolicyChain,
  PolicyError,
  type TablePolicy,
} from "../policy/policy.ts";
import { policyFromFileText, sourcePositionOf } from "../yaml/load.ts";
import { PolicyFileError } from "../yaml/errors.ts";
import { DEFAULT_MAX_BYTES, readPolicyText } from "../yaml/read_text.ts";
import { checkJumpTargets } from "./policy_errors.ts";

function mergeTable(into: TablePolicy, from: TablePolicy, file: string): void {
  if (into.ipVersion !== from.ipVersion) {
    throw new PolicyError(
      `Table ${from.table} in ${file} is for ${
        from.ipVersion === undefined ? "both families" : `IPv${from.ipVersion}`
      } but an earlier file has it for ${
        into.ipVersion === undefined ? "both families" : `IPv${into.ipVersion}`
      }: expected the same family in every file`,
      { path: `tables.${from.table}.family`, value: from.ipVersion },
    );
  }
  const names = new Map(into.chains.map((c) => [c.name, c]));
  for (const c of from.chains) {
    const earlier = names.get(c.name);
    if (earlier !== undefined) duplicateChain(from.table, { chain: c, file, earlier });
    into.chains.push(c);
  }
  for (const list of ["insertions", "appends"] as const) {
    for (const [k, rules] of Object.entries(from[list])) {
      into[list][k] = [...(into[list][k] ?? []), ...rules];
    }
  }
  for (const [k, p] of Object.entries(from.policies)) {
    const old = into.policies[k];
    if (old !== undefined && old !== p) {
      throw new PolicyError(
        `Chain ${k} of table ${from.table} has policy ${p} in ${file} but ${old} in an earlier ` +
          "file: expected one policy",
        { path: `tables.${from.table}.kernelChains.${k}.policy`, value: p },
      );
    }
    into.policies[k] = p;
  }
}

/**
 * Refuses a chain defined in two files: at the later one's `file:line:column`
 * (naming the earlier one's) when they were loaded from YAML.
 */
function duplicateChain(
  table: string,
  where: { chain: PolicyChain; file: string; earlier: PolicyChain },
): never {
  const { chain, file } = where;
  const at = sourcePositionOf(chain);
  const before = sourcePositionOf(where.earlier);
  const twice = before !== undefined && before.file === file;
  const message = twice
    ? `Chain "${chain.name}" of table ${table} is defined twice: the file ${file} is given ` +
      "twice: expected each file once"
    : `Chain "${chain.name}" of table ${table} is defined in ${file} and in an ` +
      `earlier file${
        before === undefined ? "" : ` (${before.file}:${before.line}:${before.column})`
      }: expected each chain in one file`;
  if (at === undefined) {
    throw new PolicyError(message, {
      path: `tables.${table}.chains.${chain.name}`,
      value: chain.name,
    });
  }
  throw new PolicyFileError(message, { ...at });
}

/**
 * Merges policies (in order): the union of their families; tables with the
 * same name are combined (chains must not repeat; kernel-chain rules are
 * concatenated in file order; chain policies and `ruleIds` settings must agree).
 *
 * @param policies The policies with their file names.
 * @returns The merged policy.
 * @throws {PolicyError} On a conflict.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyPolicy } from "@rampart/iptables";
 * import { mergePolicies } from "@rampart/iptables/cli";
 * const merged = mergePolicies([
 *   { file: "a.yaml", policy: emptyPolicy([4]) },
 *   { file: "b.yaml", policy: emptyPolicy([6]) },
 * ]);
 * assert.deepEqual(merged.ipVersions, [4, 6]);
 * ```
 */
export function mergePolicies(policies: readonly { file: string; policy: Policy }[]): Policy {
  if (policies.length === 1) return policies[0]!.policy;
  const versions = new Set<IpFamily>();
  const tables = new Map<TableName, TablePolicy>();
  let ruleIds: { file: string; value: RuleIds } | undefined;
  for (const { file, policy } of policies) {
    if (policy.ruleIds !== undefined) {
      if (ruleIds !== undefined && ruleIds.value !== policy.ruleIds) {
        throw new PolicyError(
          `${file} asks for ${policy.ruleIds} rule IDs but ${ruleIds.file} for ${ruleIds.value} ` +
            "ones: expected one ruleIds setting (or none)",
          { path: "ruleIds", value: policy.ruleIds },
        );
      }
      ruleIds = { file, value: policy.ruleIds };
    }
    for (const v of policy.ipVersions) versions.add(v);
    for (const t of policy.tables) {
      const existing = tables.get(t.table);
      if (existing === undefined) {
        tables.set(t.table, {
          ...t,
          chains: [...t.chains],
          insertions: { ...t.insertions },
          appends: { ...t.appends },
          policies: { ...t.policies },
        });
      } else mergeTable(existing, t, file);
    }
  }
  const merged: Policy = { ipVersions: [...versions].sort(), tables: [...tables.values()] };
  if (ruleIds !== undefined) merged.ruleIds = ruleIds.value;
  return merged;
}

/**
 * Loads and merges policy files. With chain prefixes, every jump to an owned
 * chain must name a chain the files define (see {@linkcode checkJumpTargets}).
 *
 * @param files The files.
 * @param options Chain prefixes to enforce, and the size limit of each file.
 * @returns The merged policy.
 * @throws {PolicyFileError} for a malformed file or a jump to an owned chain no file defines.
 */
export async function loadPolicyFiles(
  files: readonly string[],
  options: {
    chainPrefixes?: readonly string[];
    maxBytes?: number | undefined;
    beforeParse?: (texts: readonly string[]) => Promise<void> | void;
  } = {},
): Promise<Policy> {
  // Every file is read first (so that `beforeParse` can start work that
  // runs while they are parsed); errors still come in file order.
  const texts: string[] = [];
  let readError: { index: number; error: unknown } | undefined;
  for (const [index, file] of files.entries()) {
    try {
      texts.push(await readPolicyText(file, options.maxBytes ?? DEFAULT_MAX_BYTES));
    } catch (error) {
      readError = { index, error };
      break;
    }
  }
  if (readError === undefined) await options.beforeParse?.(texts);
  const loaded: { file: string; policy: Policy }[] = [];
  for (const [index, file] of files.entries()) {
    if (readError?.index === index) throw readError.error;
    const policy = await policyFromFileText(file, texts[index]!, {
      ...(options.chainPrefixes === undefined ? {} : { chainPrefixes: [...options.chainPrefixes] }),
    });
    loaded.push({ file, policy });
  }
  const merged = mergePolicies(loaded);
  if (options.chainPrefixes !== undefined) checkJumpTargets(merged, options.chainPrefixes);
  return merged;
}

/**
 * Restricts a policy to some tables and families (`--table`, `--ipv4`/`--ipv6`).
 *
 * @param policy The policy.
 * @param options Tables and families to keep (empty: all).
 * @returns The restricted policy.
 */
export function selectPolicy(
  policy: Policy,
  options: { tables: readonly TableName[]; ipVersions: readonly IpFamily[] },
): Policy {
  const selected: Policy = {
    ipVersions: options.ipVersions.length === 0
      ? [...policy.ipVersions]
      : policy.ipVersions.filter((v) => options.ipVersions.includes(v)),
    tables: options.tables.length === 0
      ? [...policy.tables]
      : policy.tables.filter((t) => options.tables.includes(t.table)),
  };
  if (policy.ruleIds !== undefined) selected.ruleIds = policy.ruleIds;
  return selected;
}
