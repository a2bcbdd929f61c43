/**
 * Which network namespaces exist, so that a namespace is checked when it is
 * named (the REPL's `netns("name")`, the CLI's `--netns`) rather than when
 * the first iptables command fails in it.
 *
 * @module
 */

/** Where `ip netns add` makes named namespaces (and `ip netns exec` finds them). */
const NETNS_DIR = "/run/netns";

/**
 * The named network namespaces, as `ip netns list` shows them (the entries
 * of `/run/netns`), sorted; `undefined` when they cannot be read.
 *
 * @returns The names.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { networkNamespaces } from "@rampart/iptables/repl";
 * assert.deepEqual(networkNamespaces(), ["lab", "lab-peer"]);
 * ```
 */
export function networkNamespaces(): string[] | undefined {
  try {
    return [...Deno.readDirSync(NETNS_DIR)].map((e) => e.name).sort();
  } catch (e) {
    // No namespace was ever made: the directory does not exist.
    if (e instanceof Deno.errors.NotFound) return [];
    return undefined;
  }
}

/**
 * Why a namespace cannot be used, or `undefined` when it exists (or the
 * namespaces cannot be listed, and the commands will tell).
 *
 * @param name The namespace.
 * @param known The namespaces that exist (`undefined`: unknown).
 * @returns The message naming it and the namespaces there are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namespaceProblem } from "@rampart/iptables/repl";
 * assert.equal(namespaceProblem("nope", ["lab"]), "Unknown network namespace \"nope\": 'ip netns list' shows lab (create it with 'ip netns add nope')");
 * ```
 */
export function namespaceProblem(
  name: string,
  known: readonly string[] | undefined,
): string | undefined {
  if (known === undefined || known.includes(name)) return undefined;
  const there = known.length === 0
    ? "there is none"
    : `'ip netns list' shows ${known.slice(0, 10).join(", ")}${
      known.length > 10 ? ` and ${known.length - 10} more` : ""
    }`;
  return `Unknown network namespace ${JSON.stringify(name)}: ${there} ` +
    `(create it with 'ip netns add ${name}')`;
}

/**
 * A named network namespace does not exist (`ip netns add` makes one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenoCommandRunner, UnknownNamespaceError } from "@rampart/iptables";
 * const runner = new DenoCommandRunner({ netns: "rp-never-made", checkNetns: true });
 * await assert.rejects(runner.run("true", []), (e) =>
 *   e instanceof UnknownNamespaceError && e.netns === "rp-never-made");
 * ```
 */
export class UnknownNamespaceError extends Error {
  /**
   * Creates the error.
   *
   * @param message What {@linkcode namespaceProblem} says.
   * @param netns The namespace.
   */
  constructor(message: string, readonly netns: string) {
    super(message);
    this.name = "UnknownNamespaceError";
  }
}

/**
 * Checks that a named network namespace exists before anything runs in it.
 *
 * @param name The namespace.
 * @param known The namespaces that exist ({@linkcode networkNamespaces}; `undefined`: unknown).
 * @throws {UnknownNamespaceError} when it does not (nothing is thrown when
 * the namespaces cannot be listed: the commands run in it will tell).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkNamespace, UnknownNamespaceError } from "@rampart/iptables/repl";
 * checkNamespace("lab", ["lab"]);
 * assert.throws(() => checkNamespace("nope", ["lab"]), UnknownNamespaceError);
 * ```
 */
export function checkNamespace(name: string, known: readonly string[] | undefined): void {
  const problem = namespaceProblem(name, known);
  if (problem !== undefined) throw new UnknownNamespaceError(problem, name);
}
