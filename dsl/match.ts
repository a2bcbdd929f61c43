/**
 * Match criteria: the `-p tcp -m multiport …` part of a rule.
 *
 * SKELETON: the DSL work fills in every builder method; the clause model and
 * render/toString/combine below are the contract the engine relies on.
 *
 * @module
 */
import type { DslArg } from "./action.ts";

/**
 * One builder call recorded in a {@linkcode MatchCriteria}: the method's name,
 * the arguments it was called with and the fragment it rendered.
 */
export interface MatchClause {
  /** The builder method's name, e.g. `"destPorts"`. */
  readonly method: string;
  /** The arguments as given (validated). */
  readonly args: readonly DslArg[];
  /** The rendered fragment, e.g. `-m multiport --destination-ports 80,443`. */
  readonly fragment: string;
}

/**
 * An immutable list of match clauses. Every builder method returns a new
 * criteria with one more clause; the receiver never changes.
 *
 * @example
 * ```ts
 * import { Match } from "@rampart/iptables";
 * console.log(Match().protocol("tcp").destPorts(80, 443).render());
 * // -p tcp -m multiport --destination-ports 80,443
 * ```
 */
export class MatchCriteria {
  /** The clauses in the order they were added. */
  readonly clauses: readonly MatchClause[];

  /**
   * Creates criteria from clauses; use {@linkcode Match} instead.
   *
   * @param clauses The clauses, in order.
   */
  constructor(clauses: readonly MatchClause[] = []) {
    this.clauses = Object.freeze([...clauses]);
  }

  /** Returns new criteria with one more clause. */
  protected with(method: string, args: readonly DslArg[], fragment: string): MatchCriteria {
    return new MatchCriteria([...this.clauses, { method, args, fragment }]);
  }

  /** The fragments joined by single spaces (`""` when empty). */
  render(): string {
    return this.clauses.map((c) => c.fragment).join(" ");
  }

  /** `MatchCriteria[<render>]`. */
  toString(): string {
    return `MatchCriteria[${this.render()}]`;
  }
}

/**
 * Starts an empty match.
 *
 * @example
 * ```ts
 * import { Match } from "@rampart/iptables";
 * console.log(String(Match())); // MatchCriteria[]
 * ```
 */
export function Match(): MatchCriteria {
  return new MatchCriteria();
}

/**
 * Concatenates two criteria (`a`'s clauses, then `b`'s).
 *
 * @example
 * ```ts
 * import { combine, Match } from "@rampart/iptables";
 * const m = combine(Match().protocol("tcp"), Match().destPorts(22));
 * console.log(m.render()); // -p tcp -m multiport --destination-ports 22
 * ```
 */
export function combine(a: MatchCriteria, b: MatchCriteria): MatchCriteria {
  return new MatchCriteria([...a.clauses, ...b.clauses]);
}
