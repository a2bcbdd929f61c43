/**
 * The `family` key of a rule file, its tables, chains and rules: which IP
 * families the enclosed rules are for.
 *
 * @module
 */
import type { IpFamily } from "../policy/policy.ts";
import { FAMILIES } from "../../dsl/rule_schema.ts";
import type { Site, YamlWalker } from "./walker.ts";

/**
 * Reads a `family` value: the families it leaves, and the one it names (not
 * for `both`). It may only narrow the enclosing families.
 */
export function readFamily(
  w: YamlWalker,
  at: Site,
  enclosing: readonly IpFamily[],
): [IpFamily[], IpFamily | undefined] {
  const { node, path: field } = at;
  const s = w.string(node, field, "ipv4, ipv6 or both", at.keyNode);
  const value = s.toLowerCase();
  if (!FAMILIES.includes(value)) {
    w.fail(node, field, `Invalid ${field} ${JSON.stringify(s)}: expected ipv4, ipv6 or both`, {
      allowed: FAMILIES,
    });
  }
  if (value === "both") return [[...enclosing], undefined];
  const v: IpFamily = value === "ipv4" ? 4 : 6;
  if (!enclosing.includes(v)) {
    w.fail(
      node,
      field,
      `Invalid ${field} "${value}": the enclosing family is ${
        enclosing.length === 0 ? "none" : enclosing.map((f) => `ipv${f}`).join(" and ")
      } only`,
      { allowed: enclosing.map((f) => `ipv${f}`).concat("both") },
    );
  }
  return [[v], v];
}
