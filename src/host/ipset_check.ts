/**
 * Checking that the IP sets rules name exist before writing them.
 *
 * @module
 */
import type { Chain, Rule } from "../../dsl/rule.ts";
import { addIpSetNames } from "../../dsl/ipset_names.ts";
import type { CommandRunner } from "./runner.ts";

/**
 * A rule names an IP set that does not exist in the table's network
 * namespace; `iptables-restore` would reject the whole transaction. Thrown
 * before anything is written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MissingIpSetError } from "@rampart/iptables";
 * const e = new MissingIpSetError({ setName: "rp-allowed", chain: "rp-input", ruleIndex: 2 });
 * assert.equal(
 *   e.message,
 *   'IP set "rp-allowed" used by rule 3 of chain "rp-input" does not exist: expected it to be created (ipset create) before the rules are applied',
 * );
 * ```
 */
export class MissingIpSetError extends Error {
  /** The missing set. */
  readonly setName: string;
  /** The chain holding the first rule that names it. */
  readonly chain: string;
  /** That rule's 0-based index in the chain. */
  readonly ruleIndex: number;

  /**
   * Creates the error.
   *
   * @param options The set and the first rule naming it.
   */
  constructor(options: { setName: string; chain: string; ruleIndex: number }) {
    super(
      `IP set ${JSON.stringify(options.setName)} used by rule ${options.ruleIndex + 1} of chain ${
        JSON.stringify(options.chain)
      } does not exist: expected it to be created (ipset create) before the rules are applied`,
    );
    this.name = "MissingIpSetError";
    this.setName = options.setName;
    this.chain = options.chain;
    this.ruleIndex = options.ruleIndex;
  }
}

/**
 * `ipset list -n` failed, so the sets could not be checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IpSetListError } from "@rampart/iptables";
 * const e = new IpSetListError({ code: 127, stderr: "ipset: command not found" });
 * assert.equal(e.code, 127);
 * ```
 */
export class IpSetListError extends Error {
  /** The exit code of `ipset list -n`. */
  readonly code: number;
  /** Its standard error. */
  readonly stderr: string;

  /**
   * Creates the error.
   *
   * @param options Exit code and stderr.
   */
  constructor(options: { code: number; stderr: string }) {
    super(
      `Listing IP sets failed (ipset list -n exited with ${options.code}): ${
        JSON.stringify(options.stderr.trim())
      }`,
    );
    this.name = "IpSetListError";
    this.code = options.code;
    this.stderr = options.stderr;
  }
}

/**
 * The IP set names a rule's match refers to, in order (deduplicated). Reads
 * the set methods' first argument (`destIpSet("x")` …) and, for any other
 * clause, the word after each `--match-set` in its fragment.
 *
 * @param rule The rule.
 * @returns The set names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipSetNames, MatchCriteria } from "@rampart/iptables";
 * // What Match().sourceIpSet("a") records:
 * const match = new MatchCriteria([
 *   { method: "sourceIpSet", args: ["a"], fragment: "-m set --match-set a src" },
 *   { method: "custom", args: [], fragment: "-m set ! --match-set b dst,dst" },
 * ]);
 * assert.deepEqual(ipSetNames({ match }), ["a", "b"]);
 * ```
 */
export function ipSetNames(rule: Rule): string[] {
  const names = new Set<string>();
  addIpSetNames(rule, names);
  return [...names];
}

/** Options of {@linkcode checkIpSets}. */
export interface CheckIpSetsOptions {
  /** Runs `ipset list -n` (in the table's namespace). */
  runner: CommandRunner;
  /** The set names needed. */
  names: Iterable<string>;
}

/**
 * Which of `names` do not exist: runs `ipset list -n` through the runner (so
 * in the runner's network namespace; sets are per namespace). Runs nothing
 * when `names` is empty.
 *
 * @param options Runner and names.
 * @returns The missing names, in the order given, without duplicates.
 * @throws {IpSetListError} When `ipset list -n` fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkIpSets, type CommandRunner } from "@rampart/iptables";
 * const runner: CommandRunner = { run: () => Promise.resolve({ code: 0, stdout: "rp-a\nrp-b\n", stderr: "" }) };
 * assert.deepEqual(await checkIpSets({ runner, names: ["rp-a", "rp-c"] }), ["rp-c"]);
 * ```
 */
export async function checkIpSets(options: CheckIpSetsOptions): Promise<string[]> {
  const wanted = [...new Set(options.names)];
  if (wanted.length === 0) return [];
  const existing = await listIpSets(options.runner);
  return wanted.filter((name) => !existing.has(name));
}

/**
 * The names of the IP sets that exist: runs `ipset list -n` through the
 * runner (so in the runner's network namespace; sets are per namespace).
 *
 * @param runner Runs `ipset`.
 * @param options `timeoutMs`: kill `ipset` after this long (it then fails with {@linkcode IpSetListError}).
 * @returns The set names.
 * @throws {IpSetListError} When `ipset list -n` fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CommandRunner, listIpSets } from "@rampart/iptables";
 * const runner: CommandRunner = { run: () => Promise.resolve({ code: 0, stdout: "rp-a\nrp-b\n", stderr: "" }) };
 * assert.deepEqual(await listIpSets(runner), new Set(["rp-a", "rp-b"]));
 * ```
 */
export async function listIpSets(
  runner: CommandRunner,
  options: { timeoutMs?: number } = {},
): Promise<Set<string>> {
  const result = await runner.run(
    "ipset",
    ["list", "-n"],
    options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
  );
  if (result.code !== 0) throw new IpSetListError({ code: result.code, stderr: result.stderr });
  const existing = new Set<string>();
  for (const line of result.stdout.split("\n")) {
    const name = line.trim();
    if (name !== "") existing.add(name);
  }
  return existing;
}

/**
 * The error for the first rule (chains in order, rules in order) that names
 * one of `missing`, or `undefined` when none does.
 *
 * @param chains The chains to search (`{ name, rules }`; kernel-chain insert/append lists too).
 * @param missing The set names that do not exist.
 * @returns The error to throw, if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findMissingIpSetRule } from "@rampart/iptables";
 * assert.equal(findMissingIpSetRule([{ name: "rp-input", rules: [{}] }], ["rp-a"]), undefined);
 * ```
 */
export function findMissingIpSetRule(
  chains: Iterable<Pick<Chain, "name" | "rules">>,
  missing: Iterable<string>,
): MissingIpSetError | undefined {
  const gone = new Set(missing);
  if (gone.size === 0) return undefined;
  for (const chain of chains) {
    for (const [ruleIndex, rule] of chain.rules.entries()) {
      const setName = ipSetNames(rule).find((n) => gone.has(n));
      if (setName !== undefined) {
        return new MissingIpSetError({ setName, chain: chain.name, ruleIndex });
      }
    }
  }
  return undefined;
}

/**
 * Checks in one call that every IP set the chains' rules name exists in the
 * runner's namespace; the engine calls it before writing.
 *
 * @param chains The chains about to be written (`{ name, rules }`).
 * @param options The runner of the table's namespace.
 * @returns Once every set exists (nothing runs when no rule names a set).
 * @throws {MissingIpSetError} Naming the first rule that uses a missing set.
 * @throws {IpSetListError} When `ipset list -n` fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertIpSetsExist, type CommandRunner, Match, MissingIpSetError } from "@rampart/iptables";
 * const calls: string[] = [];
 * const runner: CommandRunner = {
 *   run: (cmd, args) => {
 *     calls.push([cmd, ...args].join(" "));
 *     return Promise.resolve({ code: 0, stdout: "rp-a\n", stderr: "" });
 *   },
 * };
 * await assertIpSetsExist([{ name: "rp-input", rules: [] }], { runner }); // no sets named: nothing runs
 * assert.deepEqual(calls, []);
 * const rules = [{ match: Match().sourceIpSet("rp-b") }];
 * await assert.rejects(assertIpSetsExist([{ name: "rp-input", rules }], { runner }), MissingIpSetError);
 * assert.deepEqual(calls, ["ipset list -n"]);
 * ```
 */
export async function assertIpSetsExist(
  chains: Iterable<Pick<Chain, "name" | "rules">>,
  options: { runner: CommandRunner },
): Promise<void> {
  const list = [...chains];
  const names = list.flatMap((chain) => chain.rules.flatMap((rule) => ipSetNames(rule)));
  const missing = await checkIpSets({ runner: options.runner, names });
  const error = findMissingIpSetRule(list, missing);
  if (error !== undefined) throw error;
}
