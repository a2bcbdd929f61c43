/**
 * The IP-set check of one write, spread over the write: chains are noted as
 * their rules are produced, `ipset list -n` starts as soon as the first set
 * name is known, and the check completes just before the script's COMMIT is
 * handed to iptables-restore, so it overlaps the restore instead of delaying
 * it.
 *
 * @module
 */
import type { Chain, Rule } from "../../dsl/rule.ts";
import { findMissingIpSetRule } from "../host/ipset_check.ts";
import { addIpSetNames } from "../../dsl/ipset_names.ts";

/**
 * The IP set names a list of rules refers to, deduplicated, in order of first
 * use (see `ipSetNames`).
 */
export function ipSetNamesOf(rules: readonly Rule[]): string[] {
  const names = new Set<string>();
  for (const rule of rules) addIpSetNames(rule, names);
  return [...names];
}

/** Collects the IP sets one write needs and checks, once, that they exist. */
export class IpSetGuard {
  readonly #list: () => Promise<ReadonlySet<string>>;
  readonly #names = new Set<string>();
  readonly #chains: Pick<Chain, "name" | "rules">[] = [];
  #existing: Promise<ReadonlySet<string>> | undefined;

  /**
   * Creates the guard of one write; `list` lists the IP sets that exist
   * (the dataplane's `ipSets()`: `ipset list -n` in the table's namespace).
   */
  constructor(list: () => Promise<ReadonlySet<string>>) {
    this.#list = list;
  }

  /**
   * Notes a chain whose rules the write produces, with the set names they
   * use. The first name starts `ipset list -n` (once per write).
   */
  add(chain: Pick<Chain, "name" | "rules">, names: readonly string[]): void {
    if (names.length === 0) return;
    this.#chains.push(chain);
    for (const name of names) this.#names.add(name);
    this.#startListing();
  }

  /**
   * The same check once more, with a new `ipset list -n` (for a write made
   * from a plan whose check has passed: a set may have gone since).
   */
  again(): IpSetGuard {
    const copy = new IpSetGuard(this.#list);
    copy.#chains.push(...this.#chains);
    for (const name of this.#names) copy.#names.add(name);
    if (copy.#names.size > 0) copy.#startListing();
    return copy;
  }

  /** Starts `ipset list -n` (once). */
  #startListing(): void {
    if (this.#existing === undefined) {
      // Started on the next turn of the event loop: names are noted while a
      // script chunk is being produced, and spawning holds this thread, so
      // the chunk (and iptables-restore) goes first.
      const listing = new Promise<void>((resolve) => setTimeout(resolve, 0))
        .then(() => this.#list());
      // Awaited by verify(); marked handled so that a write that fails first
      // (and never verifies) leaves no unhandled rejection behind.
      listing.catch(() => {});
      this.#existing = listing;
    }
  }

  /**
   * Resolves once every noted set exists; throws `MissingIpSetError` naming
   * the first noted rule that uses a missing set, or `IpSetListError`.
   */
  async verify(): Promise<void> {
    if (this.#existing === undefined) return;
    const existing = await this.#existing;
    const missing = [...this.#names].filter((name) => !existing.has(name));
    const error = findMissingIpSetRule(this.#chains, missing);
    if (error !== undefined) throw error;
  }
}
