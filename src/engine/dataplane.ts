/**
 * The seam between the engine and a dataplane: what the engine reads of one
 * table (its chains, their policies, which rules are ours and their IDs) and
 * what it hands over to be written.
 *
 * @module
 */

/** One chain as read from the kernel. */
export interface DataplaneChain {
  /** Built-in chain policy (`ACCEPT`/`DROP`), or `"-"` for a user chain. */
  policy: string;
  /**
   * One entry per rule: our ID, `"OLD INSERT RULE"` (`OLD_INSERT_RULE`: a
   * rule of ours without an ID, found by its jump to one of our chains or by
   * the cleanup pattern), or `""` for a foreign rule.
   */
  hashes: string[];
  /**
   * For chains we do not own: the saved line of every rule of ours (`""` for
   * foreign rules), so it can be deleted by value. Empty for owned chains.
   */
  lines: string[];
  /**
   * Set on a chain whose name has one of our prefixes when no rule in it
   * carries our ID and no rule carrying our ID jumps or goes to it (see
   * `src/host/ownership.ts`): `"foreign"` when it holds rules or other rules jump
   * to it (another program's chain: the engine refuses the prefix rather than
   * delete it), `"unknown"` when it is empty and nothing jumps to it (nothing
   * says whose it is: the engine takes it only if it wants that chain, e.g.
   * one of ours that `iptables -F` emptied, and otherwise leaves it alone).
   */
  ownership?: "foreign" | "unknown";
}

/** One table as read from the kernel: chains in the order the dataplane lists them. */
export type DataplaneState = Map<string, DataplaneChain>;
