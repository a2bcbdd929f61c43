/**
 * Which IP sets a rule names: the set methods' first argument
 * (`destIpSet("x")` …) and, for any other clause, the word after each
 * `--match-set` in its fragment.
 *
 * @module
 */
import type { Rule } from "./rule.ts";
import { MATCH_SPECS } from "./rule_schema.ts";

/** Match methods whose first argument is an IP set name (`ipSet` in the rule schema). */
const SET_METHODS: ReadonlySet<string> = new Set(
  [...MATCH_SPECS.values()].filter((s) => s.ipSet === true).map((s) => s.name),
);

/**
 * Adds the IP set names `rule` refers to to `names`, in order. Builds no
 * clause objects: it runs for every rule a write checks.
 */
export function addIpSetNames(rule: Rule, names: Set<string>): void {
  rule.match?.forEachClause((method, args, fragment) => {
    if (SET_METHODS.has(method) && typeof args[0] === "string") {
      names.add(args[0]);
      return;
    }
    if (!fragment.includes("--match-set")) return;
    const words = fragment.split(" ");
    for (let i = 0; i + 1 < words.length; i++) {
      if (words[i] === "--match-set") names.add(words[i + 1] as string);
    }
  });
}
