/**
 * The names imported user chains get: the chain prefix in front of the saved
 * name, shortened (readably, with a short digest of the full name) when that
 * would pass iptables' 28 characters. Names that would collide are refused.
 *
 * @module
 */
import { MAX_CHAIN_NAME_LENGTH } from "../../dsl/rule.ts";
import { chainNameProblem } from "../policy/policy.ts";
import { policyRecordChain } from "../engine/policy_record.ts";

/**
 * Two saved chains that would get the same name in the policy (or a name the
 * policy cannot have).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChainNameError, importedChainNames } from "@rampart/iptables/import";
 * assert.throws(
 *   () => importedChainNames(["x", "rp-x"], { chainPrefix: "rp-" }),
 *   (e) => e instanceof ChainNameError && e.chains.join() === "rp-x,x",
 * );
 * ```
 */
export class ChainNameError extends Error {
  /** The saved chains involved. */
  readonly chains: readonly string[];

  /**
   * Creates the error.
   *
   * @param message What collides.
   * @param chains The saved chains involved.
   */
  constructor(message: string, chains: readonly string[]) {
    super(message);
    this.name = "ChainNameError";
    this.chains = chains;
  }
}

/** FNV-1a over UTF-16 code units, as 4 base-36 characters. */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % 36 ** 4).toString(36).padStart(4, "0");
}

/**
 * The policy's name of one saved user chain: unchanged when it already has
 * the prefix (an imported policy imported again), else the prefix and the
 * name, or, past 28 characters, the prefix, the start of the name, `-` and
 * 4 characters of a digest of the whole name.
 *
 * @param saved The saved name.
 * @param chainPrefix The prefix.
 * @returns The name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importedChainName } from "@rampart/iptables/import";
 * assert.equal(importedChainName("DOCKER-USER", "rp-"), "rp-DOCKER-USER");
 * assert.equal(importedChainName("ufw-skip-to-policy-forward", "rp-").length, 28);
 * ```
 */
export function importedChainName(saved: string, chainPrefix: string): string {
  if (saved.startsWith(chainPrefix)) return saved;
  const full = chainPrefix + saved;
  if (full.length <= MAX_CHAIN_NAME_LENGTH) return full;
  const keep = MAX_CHAIN_NAME_LENGTH - chainPrefix.length - 5;
  return `${chainPrefix}${saved.slice(0, keep).replace(/-+$/, "")}-${digest(saved)}`;
}

/**
 * The policy's names of a table's saved user chains (see
 * {@linkcode importedChainName}).
 *
 * @param saved The saved names of the table's user chains.
 * @param options The chain prefix.
 * @returns Saved name → policy name.
 * @throws {ChainNameError} when two chains would get the same name, or one
 *   the policy cannot have (a built-in target, Rampart's policy record).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importedChainNames } from "@rampart/iptables/import";
 * assert.deepEqual(
 *   importedChainNames(["ufw-user-input"], { chainPrefix: "rp-" }),
 *   new Map([["ufw-user-input", "rp-ufw-user-input"]]),
 * );
 * ```
 */
export function importedChainNames(
  saved: Iterable<string>,
  options: { chainPrefix: string },
): Map<string, string> {
  const out = new Map<string, string>();
  const owner = new Map<string, string>();
  const record = policyRecordChain([options.chainPrefix]);
  for (const name of saved) {
    const mapped = importedChainName(name, options.chainPrefix);
    const problem = chainNameProblem(mapped);
    if (problem !== undefined) {
      throw new ChainNameError(
        `Cannot import chain ${JSON.stringify(name)}: its name in the policy ` +
          `${JSON.stringify(mapped)} is not valid (expected ${problem})`,
        [name],
      );
    }
    if (mapped === record) {
      throw new ChainNameError(
        `Cannot import chain ${JSON.stringify(name)}: its name in the policy ` +
          `${JSON.stringify(mapped)} is reserved for Rampart's record of chain policies; ` +
          "choose another --chain-prefix",
        [name],
      );
    }
    const other = owner.get(mapped);
    if (other !== undefined) {
      throw new ChainNameError(
        `Cannot import chains ${JSON.stringify(other)} and ${JSON.stringify(name)}: both would ` +
          `be named ${JSON.stringify(mapped)} in the policy; choose another --chain-prefix`,
        [other, name].sort(),
      );
    }
    owner.set(mapped, name);
    out.set(name, mapped);
  }
  return out;
}
