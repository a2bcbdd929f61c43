/**
 * Match criteria: the `-p tcp -m multiport …` part of a rule.
 *
 * Every builder method validates its arguments (throwing {@linkcode RuleError}
 * with `field` set to the method's name) and returns new criteria with one
 * more clause; the receiver never changes. `Match()` renders any combination
 * of clauses: whether a clause makes sense where a rule is placed (ports need
 * a tcp/udp protocol match, ICMP needs the right family, …) is checked by the
 * engine when the rule is placed in a table.
 *
 * @module
 */
import type { DslArg } from "./action.ts";
import type { AddrType } from "./addr_type.ts";
import { invalid } from "./errors.ts";
import type { PortRange } from "./ports.ts";
import {
  checkAddrType,
  checkBoolean,
  checkConntrackStates,
  checkInt,
  checkInterface,
  checkIpSetName,
  checkLimitBurst,
  checkLimitCredits,
  checkLimitRate,
  checkMarkWithMask,
  checkNet,
  checkNonZeroMark,
  checkPortList,
  checkPortRangeList,
  checkProtocolName,
  checkSingleBit,
  formatPortRanges,
  formatPorts,
  hex,
} from "./validate.ts";

/**
 * A connection tracking state for {@linkcode MatchCriteria.conntrackState}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConntrackState, Match } from "@rampart/iptables";
 * const states: ConntrackState[] = ["RELATED", "ESTABLISHED"];
 * assert.equal(
 *   Match().conntrackState(states).render(),
 *   "-m conntrack --ctstate RELATED,ESTABLISHED",
 * );
 * ```
 */
export type ConntrackState =
  | "INVALID"
  | "NEW"
  | "ESTABLISHED"
  | "RELATED"
  | "UNTRACKED"
  | "SNAT"
  | "DNAT";

/**
 * A rate for {@linkcode MatchCriteria.limit}: `N/second`, `N/minute`,
 * `N/hour` or `N/day` (N ≥ 1, at most 10000 per second).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LimitRate, Match } from "@rampart/iptables";
 * const rate: LimitRate = "30/second";
 * assert.equal(Match().limit(rate).render(), "-m limit --limit 30/second");
 * ```
 */
export type LimitRate = `${number}/${"second" | "minute" | "hour" | "day"}`;

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

const NO_CLAUSES: readonly MatchClause[] = Object.freeze([]);
/**
 * `! -i +` matches no packet at all, and iptables-legacy-save prints the rule
 * without it (as if it matched every packet): a snapshot restored from that
 * text would turn a rule that matched nothing into one that matches everything.
 */
const NOT_ANY_INTERFACE = 'an interface name other than "+": every packet would be excluded, ' +
  "and iptables-legacy-save prints the rule without the clause";
/** iptables refuses `! -p all` and `! -p 0`: "rule would never match protocol". */
const NOT_ALL = 'a protocol other than "all" (0): every packet has one, and iptables refuses ' +
  '"! -p all" ("rule would never match protocol")';

/** A frozen copy of a clause (clauses already frozen are shared). */
function frozenClause(c: MatchClause): MatchClause {
  if (Object.isFrozen(c) && Object.isFrozen(c.args)) return c;
  // Clauses built by hand (not by a builder method) must at least stay on one line.
  if (typeof c.fragment !== "string" || /[\0\r\n]/.test(c.fragment)) {
    throw invalid("MatchCriteria.clauses", c.fragment, "a fragment without NUL, CR or LF");
  }
  return Object.freeze({
    method: c.method,
    args: Object.freeze([...c.args]),
    fragment: c.fragment,
  });
}

/**
 * An immutable list of match clauses. Every builder method returns a new
 * criteria with one more clause; the receiver never changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match } from "@rampart/iptables";
 * assert.equal(
 *   Match().protocol("tcp").destPorts(80, 443).render(),
 *   "-p tcp -m multiport --destination-ports 80,443",
 * );
 * ```
 */
export class MatchCriteria {
  // A builder step links to its parent and holds only its own clause; the
  // frozen list is built once, when `clauses` is first read. Copying and
  // re-freezing the whole list at every step made building a rule quadratic
  // in its clauses and was most of the DSL's build time (mostly GC). A step's
  // clause object (with the arguments array its builder method created,
  // frozen in place) is made only then too: `render()` reads the fragments
  // straight from the steps, so rules that are only rendered and hashed never
  // pay for clause objects.
  #parent: MatchCriteria | undefined;
  #method = "";
  #args: DslArg[] | undefined;
  #fragment = "";
  #list: readonly MatchClause[] | undefined;
  #rendered: string | undefined;

  /**
   * Creates criteria from clauses; use {@linkcode Match} instead.
   *
   * @param clauses The clauses, in order.
   */
  constructor(clauses: readonly MatchClause[] = NO_CLAUSES) {
    this.#list = clauses.length === 0 ? NO_CLAUSES : Object.freeze(clauses.map(frozenClause));
  }

  /** The clauses in the order they were added (frozen). */
  get clauses(): readonly MatchClause[] {
    if (this.#list === undefined) {
      const list: MatchClause[] = [];
      MatchCriteria.#walk(this, (s) => list.push(s.#clause()), (c) => list.push(c));
      this.#list = Object.freeze(list);
      this.#parent = undefined; // let the intermediate steps go
      this.#args = undefined;
    }
    return this.#list;
  }

  /**
   * Walks the clauses up to `node`, oldest first: `ofStep` for builder steps
   * whose clauses are not listed yet, `ofClause` for the listed clauses of
   * the nearest step that has them (recursing: a rule has a few clauses).
   */
  static #walk(
    node: MatchCriteria,
    ofStep: (step: MatchCriteria) => void,
    ofClause: (clause: MatchClause) => void,
  ): void {
    const list = node.#list;
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) ofClause(list[i]!);
      return;
    }
    MatchCriteria.#walk(node.#parent!, ofStep, ofClause);
    ofStep(node);
  }

  /**
   * Calls `fn` with each clause's method, arguments and fragment, in order.
   * Unlike reading {@linkcode MatchCriteria.clauses}, it builds no clause
   * objects: the engine's checks read every rule of a table this way. `args`
   * must not be changed.
   *
   * @param fn Called once per clause.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * const seen: [string, readonly unknown[]][] = [];
   * Match().protocol("tcp").destPorts(22).forEachClause((method, args) => {
   *   seen.push([method, args]);
   * });
   * assert.deepEqual(seen, [["protocol", ["tcp"]], ["destPorts", [22]]]);
   * ```
   */
  forEachClause(fn: (method: string, args: readonly DslArg[], fragment: string) => void): void {
    MatchCriteria.#walk(
      this,
      (s) => fn(s.#method, s.#args!, s.#fragment),
      (c) => fn(c.method, c.args, c.fragment),
    );
  }

  /** This step's clause, frozen (the builder method created its args array). */
  #clause(): MatchClause {
    return Object.freeze({
      method: this.#method,
      args: Object.freeze(this.#args!),
      fragment: this.#fragment,
    });
  }

  /**
   * Returns new criteria with one more clause. `args` must be an array the
   * builder method created (it is frozen, not copied, when `clauses` is read).
   */
  protected with(method: string, args: DslArg[], fragment: string): MatchCriteria {
    const next = new MatchCriteria();
    next.#parent = this;
    next.#method = method;
    next.#args = args;
    next.#fragment = fragment;
    next.#list = undefined;
    return next;
  }

  /** The fragments joined by single spaces (`""` when empty). */
  render(): string {
    // Computed once: criteria are immutable and rendering is on the hot path
    // (every rule is rendered once for its ID and once for the script).
    if (this.#rendered === undefined) {
      const fragments: string[] = [];
      MatchCriteria.#walk(
        this,
        (s) => fragments.push(s.#fragment),
        (c) => fragments.push(c.fragment),
      );
      this.#rendered = fragments.join(" ");
    }
    return this.#rendered;
  }

  /**
   * Whether these criteria render exactly like `other`, compared clause by
   * clause without building either rendering (a reload compares every rule
   * of a policy with the one it replaces). Criteria whose clauses are split
   * differently may render alike and still be reported different.
   *
   * @param other The criteria to compare with.
   * @returns `true` only when `render()` of both is the same string.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * const a = Match().protocol("tcp").destPorts(22);
   * assert.ok(a.rendersLike(Match().protocol("tcp").destPorts(22)));
   * assert.equal(a.rendersLike(Match().protocol("tcp").destPorts(23)), false);
   * ```
   */
  rendersLike(other: MatchCriteria): boolean {
    if (this === other) return true;
    if (this.#rendered !== undefined && other.#rendered !== undefined) {
      return this.#rendered === other.#rendered;
    }
    return MatchCriteria.#sameSteps(this, other) ?? this.render() === other.render();
  }

  /**
   * Compares two step chains newest step first, down to a shared step or the
   * empty start; `undefined` when one of them reaches listed clauses (rare:
   * the caller then compares renderings).
   */
  static #sameSteps(a: MatchCriteria, b: MatchCriteria): boolean | undefined {
    while (a !== b) {
      const la = a.#list, lb = b.#list;
      if (la !== undefined || lb !== undefined) {
        return la?.length === 0 && lb?.length === 0 ? true : undefined;
      }
      if (a.#fragment !== b.#fragment) return false;
      a = a.#parent!;
      b = b.#parent!;
    }
    return true;
  }

  /** `MatchCriteria[<render>]`. */
  toString(): string {
    return `MatchCriteria[${this.render()}]`;
  }

  /**
   * Matches the protocol: `-p <name>`.
   *
   * @param name A protocol name such as `tcp`, `udp`, `icmp`, `icmpv6`, or a number from `"0"` to `"255"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"protocol"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("tcp").render(), "-p tcp");
   * ```
   */
  protocol(name: string): MatchCriteria {
    const F = "protocol";
    const p = checkProtocolName(F, name);
    return this.with(F, [name], `-p ${p}`);
  }

  /**
   * Matches every protocol but `name`: `! -p <name>`.
   *
   * @param name A protocol name such as `tcp`, `udp`, `icmp`, `icmpv6`, or a number from `"0"` to `"255"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notProtocol"`), or is
   * `"all"` or `"0"`: every packet has a protocol, and iptables refuses `! -p all`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notProtocol("tcp").render(), "! -p tcp");
   * ```
   */
  notProtocol(name: string): MatchCriteria {
    const F = "notProtocol";
    const p = checkProtocolName(F, name);
    if (p === "all" || p === "0") throw invalid(F, name, NOT_ALL);
    return this.with(F, [name], `! -p ${p}`);
  }

  /**
   * Matches a protocol by number: `-p <n>`.
   *
   * @param protocol The protocol number (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"protocolNum"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocolNum(123).render(), "-p 123");
   * ```
   */
  protocolNum(protocol: number): MatchCriteria {
    const F = "protocolNum";
    const p = checkInt(F, protocol, 0, 255);
    return this.with(F, [protocol], `-p ${p}`);
  }

  /**
   * Matches every protocol but number `protocol`: `! -p <n>`.
   *
   * @param protocol The protocol number (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notProtocolNum"`), or is
   * 0 (every protocol), which iptables refuses.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notProtocolNum(123).render(), "! -p 123");
   * ```
   */
  notProtocolNum(protocol: number): MatchCriteria {
    const F = "notProtocolNum";
    const p = checkInt(F, protocol, 0, 255);
    if (p === 0) throw invalid(F, protocol, NOT_ALL);
    return this.with(F, [protocol], `! -p ${p}`);
  }

  /**
   * Matches a source address or network: `--source <cidr>`.
   *
   * @param cidr A canonical IPv4/IPv6 address or CIDR with no host bits set.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourceNet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().sourceNet("10.0.0.0/8").render(), "--source 10.0.0.0/8");
   * ```
   */
  sourceNet(cidr: string): MatchCriteria {
    const F = "sourceNet";
    checkNet(F, cidr);
    return this.with(F, [cidr], `--source ${cidr}`);
  }

  /**
   * Matches packets whose source is outside the address or network: `! --source <cidr>`.
   *
   * @param cidr A canonical IPv4/IPv6 address or CIDR with no host bits set.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourceNet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notSourceNet("10.0.0.0/8").render(), "! --source 10.0.0.0/8");
   * ```
   */
  notSourceNet(cidr: string): MatchCriteria {
    const F = "notSourceNet";
    checkNet(F, cidr);
    return this.with(F, [cidr], `! --source ${cidr}`);
  }

  /**
   * Matches a destination address or network: `--destination <cidr>`.
   *
   * @param cidr A canonical IPv4/IPv6 address or CIDR with no host bits set.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destNet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().destNet("10.0.0.0/8").render(), "--destination 10.0.0.0/8");
   * ```
   */
  destNet(cidr: string): MatchCriteria {
    const F = "destNet";
    checkNet(F, cidr);
    return this.with(F, [cidr], `--destination ${cidr}`);
  }

  /**
   * Matches packets whose destination is outside the address or network: `! --destination <cidr>`.
   *
   * @param cidr A canonical IPv4/IPv6 address or CIDR with no host bits set.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestNet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notDestNet("10.0.0.0/8").render(), "! --destination 10.0.0.0/8");
   * ```
   */
  notDestNet(cidr: string): MatchCriteria {
    const F = "notDestNet";
    checkNet(F, cidr);
    return this.with(F, [cidr], `! --destination ${cidr}`);
  }

  /**
   * Matches packets in the ipset: `-m set --match-set <name> src`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourceIpSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().sourceIpSet("rp-hosts").render(), "-m set --match-set rp-hosts src");
   * ```
   */
  sourceIpSet(name: string): MatchCriteria {
    const F = "sourceIpSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set --match-set ${name} src`);
  }

  /**
   * Matches packets not in the ipset: `-m set ! --match-set <name> src`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourceIpSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notSourceIpSet("rp-hosts").render(), "-m set ! --match-set rp-hosts src");
   * ```
   */
  notSourceIpSet(name: string): MatchCriteria {
    const F = "notSourceIpSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set ! --match-set ${name} src`);
  }

  /**
   * Matches packets in the ipset: `-m set --match-set <name> dst`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destIpSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().destIpSet("rp-hosts").render(), "-m set --match-set rp-hosts dst");
   * ```
   */
  destIpSet(name: string): MatchCriteria {
    const F = "destIpSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set --match-set ${name} dst`);
  }

  /**
   * Matches packets not in the ipset: `-m set ! --match-set <name> dst`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestIpSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notDestIpSet("rp-hosts").render(), "-m set ! --match-set rp-hosts dst");
   * ```
   */
  notDestIpSet(name: string): MatchCriteria {
    const F = "notDestIpSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set ! --match-set ${name} dst`);
  }

  /**
   * Matches packets in the (ip,port) ipset: `-m set --match-set <name> src,src`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourceIpPortSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().sourceIpPortSet("rp-hosts").render(),
   *   "-m set --match-set rp-hosts src,src",
   * );
   * ```
   */
  sourceIpPortSet(name: string): MatchCriteria {
    const F = "sourceIpPortSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set --match-set ${name} src,src`);
  }

  /**
   * Matches packets not in the (ip,port) ipset: `-m set ! --match-set <name> src,src`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourceIpPortSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().notSourceIpPortSet("rp-hosts").render(),
   *   "-m set ! --match-set rp-hosts src,src",
   * );
   * ```
   */
  notSourceIpPortSet(name: string): MatchCriteria {
    const F = "notSourceIpPortSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set ! --match-set ${name} src,src`);
  }

  /**
   * Matches packets in the (ip,port) ipset: `-m set --match-set <name> dst,dst`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destIpPortSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().destIpPortSet("rp-hosts").render(),
   *   "-m set --match-set rp-hosts dst,dst",
   * );
   * ```
   */
  destIpPortSet(name: string): MatchCriteria {
    const F = "destIpPortSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set --match-set ${name} dst,dst`);
  }

  /**
   * Matches packets not in the (ip,port) ipset: `-m set ! --match-set <name> dst,dst`.
   *
   * @param name The ipset's name (1–31 characters).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestIpPortSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().notDestIpPortSet("rp-hosts").render(),
   *   "-m set ! --match-set rp-hosts dst,dst",
   * );
   * ```
   */
  notDestIpPortSet(name: string): MatchCriteria {
    const F = "notDestIpPortSet";
    checkIpSetName(F, name);
    return this.with(F, [name], `-m set ! --match-set ${name} dst,dst`);
  }

  /**
   * Matches any of the source ports: `-m multiport --source-ports <ports>`.
   * Needs a preceding tcp, udp, udplite, sctp or dccp protocol match (checked at placement).
   *
   * @param ports 1–15 ports (use `splitPortList` for more).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourcePorts"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").sourcePorts(80, 443).render(),
   *   "-p tcp -m multiport --source-ports 80,443",
   * );
   * ```
   */
  sourcePorts(...ports: number[]): MatchCriteria {
    const F = "sourcePorts";
    const list = formatPorts(checkPortList(F, ports));
    return this.with(F, [...ports], `-m multiport --source-ports ${list}`);
  }

  /**
   * Matches none of the source ports: `-m multiport ! --source-ports <ports>`.
   * Needs a preceding tcp, udp, udplite, sctp or dccp protocol match (checked at placement).
   *
   * @param ports 1–15 ports (use `splitPortList` for more).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourcePorts"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").notSourcePorts(80, 443).render(),
   *   "-p tcp -m multiport ! --source-ports 80,443",
   * );
   * ```
   */
  notSourcePorts(...ports: number[]): MatchCriteria {
    const F = "notSourcePorts";
    const list = formatPorts(checkPortList(F, ports));
    return this.with(F, [...ports], `-m multiport ! --source-ports ${list}`);
  }

  /**
   * Matches any of the destination ports: `-m multiport --destination-ports <ports>`.
   * Needs a preceding tcp, udp, udplite, sctp or dccp protocol match (checked at placement).
   *
   * @param ports 1–15 ports (use `splitPortList` for more).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destPorts"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").destPorts(80, 443).render(),
   *   "-p tcp -m multiport --destination-ports 80,443",
   * );
   * ```
   */
  destPorts(...ports: number[]): MatchCriteria {
    const F = "destPorts";
    const list = formatPorts(checkPortList(F, ports));
    return this.with(F, [...ports], `-m multiport --destination-ports ${list}`);
  }

  /**
   * Matches none of the destination ports: `-m multiport ! --destination-ports <ports>`.
   * Needs a preceding tcp, udp, udplite, sctp or dccp protocol match (checked at placement).
   *
   * @param ports 1–15 ports (use `splitPortList` for more).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestPorts"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").notDestPorts(80, 443).render(),
   *   "-p tcp -m multiport ! --destination-ports 80,443",
   * );
   * ```
   */
  notDestPorts(...ports: number[]): MatchCriteria {
    const F = "notDestPorts";
    const list = formatPorts(checkPortList(F, ports));
    return this.with(F, [...ports], `-m multiport ! --destination-ports ${list}`);
  }

  /**
   * Matches any of the source port ranges: `-m multiport --source-ports <ranges>`.
   *
   * @param ranges Port ranges, 1–15 slots (a range with `first < last` takes 2).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourcePortRanges"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").sourcePortRanges([{ first: 22, last: 22 }, { first: 8000, last: 8080 }]).render(),
   *   "-p tcp -m multiport --source-ports 22,8000:8080",
   * );
   * ```
   */
  sourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    const F = "sourcePortRanges";
    const checked = checkPortRangeList(F, ranges);
    const copy = Object.freeze(checked.map((r) => Object.freeze(r)));
    return this.with(F, [copy], `-m multiport --source-ports ${formatPortRanges(checked)}`);
  }

  /**
   * Matches none of the source port ranges: `-m multiport ! --source-ports <ranges>`.
   *
   * @param ranges Port ranges, 1–15 slots (a range with `first < last` takes 2).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourcePortRanges"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").notSourcePortRanges([{ first: 22, last: 22 }, { first: 8000, last: 8080 }]).render(),
   *   "-p tcp -m multiport ! --source-ports 22,8000:8080",
   * );
   * ```
   */
  notSourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    const F = "notSourcePortRanges";
    const checked = checkPortRangeList(F, ranges);
    const copy = Object.freeze(checked.map((r) => Object.freeze(r)));
    return this.with(F, [copy], `-m multiport ! --source-ports ${formatPortRanges(checked)}`);
  }

  /**
   * Matches any of the destination port ranges: `-m multiport --destination-ports <ranges>`.
   *
   * @param ranges Port ranges, 1–15 slots (a range with `first < last` takes 2).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destPortRanges"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").destPortRanges([{ first: 22, last: 22 }, { first: 8000, last: 8080 }]).render(),
   *   "-p tcp -m multiport --destination-ports 22,8000:8080",
   * );
   * ```
   */
  destPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    const F = "destPortRanges";
    const checked = checkPortRangeList(F, ranges);
    const copy = Object.freeze(checked.map((r) => Object.freeze(r)));
    return this.with(F, [copy], `-m multiport --destination-ports ${formatPortRanges(checked)}`);
  }

  /**
   * Matches none of the destination port ranges: `-m multiport ! --destination-ports <ranges>`.
   *
   * @param ranges Port ranges, 1–15 slots (a range with `first < last` takes 2).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestPortRanges"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("tcp").notDestPortRanges([{ first: 22, last: 22 }, { first: 8000, last: 8080 }]).render(),
   *   "-p tcp -m multiport ! --destination-ports 22,8000:8080",
   * );
   * ```
   */
  notDestPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    const F = "notDestPortRanges";
    const checked = checkPortRangeList(F, ranges);
    const copy = Object.freeze(checked.map((r) => Object.freeze(r)));
    return this.with(F, [copy], `-m multiport ! --destination-ports ${formatPortRanges(checked)}`);
  }

  /**
   * Matches the incoming interface: `--in-interface <name>`.
   *
   * @param name An interface name (1–15 characters), optionally ending in the wildcard `+`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"inInterface"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().inInterface("eth+").render(), "--in-interface eth+");
   * ```
   */
  inInterface(name: string): MatchCriteria {
    const F = "inInterface";
    checkInterface(F, name);
    return this.with(F, [name], `--in-interface ${name}`);
  }

  /**
   * Matches the outgoing interface: `--out-interface <name>`.
   *
   * @param name An interface name (1–15 characters), optionally ending in the wildcard `+`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"outInterface"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().outInterface("eth+").render(), "--out-interface eth+");
   * ```
   */
  outInterface(name: string): MatchCriteria {
    const F = "outInterface";
    checkInterface(F, name);
    return this.with(F, [name], `--out-interface ${name}`);
  }

  /**
   * Matches packets that did not come in on the interface: `! --in-interface <name>`
   * (iptables-save prints it `! -i <name>`). Like {@linkcode MatchCriteria.inInterface},
   * iptables refuses it in a chain named OUTPUT or POSTROUTING; in an owned chain
   * reached only from those hooks (where no packet has an incoming interface)
   * it matches every packet, and the engine warns.
   *
   * @param name An interface name (1–15 characters), optionally ending in the wildcard `+` (`eth+`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notInInterface"`), or is the
   * bare wildcard `+`: that clause would exclude every packet, and the legacy
   * iptables-save prints the rule without it.
   *
   * @example
   * ```ts
   * import { Match } from "@rampart/iptables";
   * import assert from "node:assert/strict";
   * const m = Match().notInInterface("docker0");
   * assert.equal(m.render(), "! --in-interface docker0");
   * ```
   */
  notInInterface(name: string): MatchCriteria {
    const F = "notInInterface";
    checkInterface(F, name);
    if (name === "+") throw invalid(F, name, NOT_ANY_INTERFACE);
    return this.with(F, [name], `! --in-interface ${name}`);
  }

  /**
   * Matches packets that do not go out on the interface: `! --out-interface <name>`
   * (iptables-save prints it `! -o <name>`), as in Docker's
   * `-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE`. Like
   * {@linkcode MatchCriteria.outInterface}, iptables refuses it in a chain
   * named PREROUTING or INPUT; in an owned chain reached only from those hooks
   * (where no packet has an outgoing interface yet) it matches every packet,
   * and the engine warns.
   *
   * @param name An interface name (1–15 characters), optionally ending in the wildcard `+` (`eth+`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notOutInterface"`), or is the
   * bare wildcard `+`: that clause would exclude every packet, and the legacy
   * iptables-save prints the rule without it.
   *
   * @example
   * ```ts
   * import { Match } from "@rampart/iptables";
   * import assert from "node:assert/strict";
   * const m = Match().sourceNet("172.17.0.0/16").notOutInterface("docker0");
   * assert.equal(m.render(), "--source 172.17.0.0/16 ! --out-interface docker0");
   * ```
   */
  notOutInterface(name: string): MatchCriteria {
    const F = "notOutInterface";
    checkInterface(F, name);
    if (name === "+") throw invalid(F, name, NOT_ANY_INTERFACE);
    return this.with(F, [name], `! --out-interface ${name}`);
  }

  /**
   * Matches packets in one of the conntrack states: `-m conntrack --ctstate <states>`.
   *
   * @param states Conntrack states, e.g. `"RELATED,ESTABLISHED"` or `["RELATED", "ESTABLISHED"]`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"conntrackState"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().conntrackState("RELATED,ESTABLISHED").render(),
   *   "-m conntrack --ctstate RELATED,ESTABLISHED",
   * );
   * ```
   */
  conntrackState(states: string | readonly ConntrackState[]): MatchCriteria {
    const F = "conntrackState";
    const list = checkConntrackStates(F, states);
    const arg = typeof states === "string" ? states : Object.freeze([...states]);
    return this.with(F, [arg], `-m conntrack --ctstate ${list}`);
  }

  /**
   * Matches packets not in one of the conntrack states: `-m conntrack ! --ctstate <states>`.
   *
   * @param states Conntrack states, e.g. `"RELATED,ESTABLISHED"` or `["RELATED", "ESTABLISHED"]`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notConntrackState"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().notConntrackState("RELATED,ESTABLISHED").render(),
   *   "-m conntrack ! --ctstate RELATED,ESTABLISHED",
   * );
   * ```
   */
  notConntrackState(states: string | readonly ConntrackState[]): MatchCriteria {
    const F = "notConntrackState";
    const list = checkConntrackStates(F, states);
    const arg = typeof states === "string" ? states : Object.freeze([...states]);
    return this.with(F, [arg], `-m conntrack ! --ctstate ${list}`);
  }

  /**
   * Matches a source address of the type: `-m addrtype --src-type <type>` (+ ` --limit-iface-out`).
   *
   * @param type The address type, e.g. `"LOCAL"`.
   * @param limitIfaceOut Only consider the outgoing interface (`--limit-iface-out`; OUTPUT, FORWARD and POSTROUTING only).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"srcAddrType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().srcAddrType("LOCAL", true).render(),
   *   "-m addrtype --src-type LOCAL --limit-iface-out",
   * );
   * ```
   */
  srcAddrType(type: AddrType, limitIfaceOut?: boolean): MatchCriteria {
    const F = "srcAddrType";
    checkAddrType(F, type);
    if (limitIfaceOut !== undefined) checkBoolean(F, limitIfaceOut);
    const args = limitIfaceOut === undefined ? [type] : [type, limitIfaceOut];
    const limit = limitIfaceOut === true ? " --limit-iface-out" : "";
    return this.with(F, args, `-m addrtype --src-type ${type}${limit}`);
  }

  /**
   * Matches a source address not of the type: `-m addrtype ! --src-type <type>` (+ ` --limit-iface-out`).
   *
   * @param type The address type, e.g. `"LOCAL"`.
   * @param limitIfaceOut Only consider the outgoing interface (`--limit-iface-out`; OUTPUT, FORWARD and POSTROUTING only).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSrcAddrType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().notSrcAddrType("LOCAL", true).render(),
   *   "-m addrtype ! --src-type LOCAL --limit-iface-out",
   * );
   * ```
   */
  notSrcAddrType(type: AddrType, limitIfaceOut?: boolean): MatchCriteria {
    const F = "notSrcAddrType";
    checkAddrType(F, type);
    if (limitIfaceOut !== undefined) checkBoolean(F, limitIfaceOut);
    const args = limitIfaceOut === undefined ? [type] : [type, limitIfaceOut];
    const limit = limitIfaceOut === true ? " --limit-iface-out" : "";
    return this.with(F, args, `-m addrtype ! --src-type ${type}${limit}`);
  }

  /**
   * Matches a destination address of the type: `-m addrtype --dst-type <type>`.
   *
   * @param type The address type, e.g. `"LOCAL"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"destAddrType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().destAddrType("LOCAL").render(), "-m addrtype --dst-type LOCAL");
   * ```
   */
  destAddrType(type: AddrType): MatchCriteria {
    const F = "destAddrType";
    checkAddrType(F, type);
    return this.with(F, [type], `-m addrtype --dst-type ${type}`);
  }

  /**
   * Matches a destination address not of the type: `-m addrtype ! --dst-type <type>`.
   *
   * @param type The address type, e.g. `"LOCAL"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notDestAddrType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notDestAddrType("LOCAL").render(), "-m addrtype ! --dst-type LOCAL");
   * ```
   */
  notDestAddrType(type: AddrType): MatchCriteria {
    const F = "notDestAddrType";
    checkAddrType(F, type);
    return this.with(F, [type], `-m addrtype ! --dst-type ${type}`);
  }

  /**
   * Matches packets with all of `mark`'s bits clear: `-m mark --mark 0/<mark>`.
   *
   * @param mark The bits (non-zero).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"markClear"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().markClear(0x400a).render(), "-m mark --mark 0/0x400a");
   * ```
   */
  markClear(mark: number): MatchCriteria {
    const F = "markClear";
    checkNonZeroMark(F, mark);
    return this.with(F, [mark], `-m mark --mark 0/${hex(mark)}`);
  }

  /**
   * Matches packets with any of `mark`'s bits set: `-m mark ! --mark 0/<mark>`.
   *
   * @param mark The bits (non-zero).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"markNotClear"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().markNotClear(0x400a).render(), "-m mark ! --mark 0/0x400a");
   * ```
   */
  markNotClear(mark: number): MatchCriteria {
    const F = "markNotClear";
    checkNonZeroMark(F, mark);
    return this.with(F, [mark], `-m mark ! --mark 0/${hex(mark)}`);
  }

  /**
   * Matches packets with the single bit set: `-m mark --mark <mark>/<mark>`.
   *
   * @param mark A mark with exactly one bit set.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"markSingleBitSet"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().markSingleBitSet(0x4000).render(), "-m mark --mark 0x4000/0x4000");
   * ```
   */
  markSingleBitSet(mark: number): MatchCriteria {
    const F = "markSingleBitSet";
    checkSingleBit(F, mark);
    return this.with(F, [mark], `-m mark --mark ${hex(mark)}/${hex(mark)}`);
  }

  /**
   * Matches packets whose mark under `mask` is `mark`: `-m mark --mark <mark>/<mask>`.
   *
   * @param mark The mark bits (within `mask`).
   * @param mask The mask (non-zero).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"markMatchesWithMask"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().markMatchesWithMask(0x400a, 0xf00f).render(),
   *   "-m mark --mark 0x400a/0xf00f",
   * );
   * ```
   */
  markMatchesWithMask(mark: number, mask: number): MatchCriteria {
    const F = "markMatchesWithMask";
    checkMarkWithMask(F, mark, mask);
    return this.with(F, [mark, mask], `-m mark --mark ${hex(mark)}/${hex(mask)}`);
  }

  /**
   * Matches packets whose mark under `mask` is not `mark`: `-m mark ! --mark <mark>/<mask>`.
   *
   * @param mark The mark bits (within `mask`).
   * @param mask The mask (non-zero).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notMarkMatchesWithMask"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().notMarkMatchesWithMask(0x400a, 0xf00f).render(),
   *   "-m mark ! --mark 0x400a/0xf00f",
   * );
   * ```
   */
  notMarkMatchesWithMask(mark: number, mask: number): MatchCriteria {
    const F = "notMarkMatchesWithMask";
    checkMarkWithMask(F, mark, mask);
    return this.with(F, [mark, mask], `-m mark ! --mark ${hex(mark)}/${hex(mask)}`);
  }

  /**
   * Matches the ICMP type: `-m icmp --icmp-type <type>`.
   * Needs `protocol("icmp")`.
   *
   * @param type The ICMP type (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"icmpType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("icmp").icmpType(8).render(), "-p icmp -m icmp --icmp-type 8");
   * ```
   */
  icmpType(type: number): MatchCriteria {
    const F = "icmpType";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m icmp --icmp-type ${type}`);
  }

  /**
   * Matches every ICMP type but `type`: `-m icmp ! --icmp-type <type>`.
   * Needs `protocol("icmp")`.
   *
   * @param type The ICMP type (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notIcmpType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmp").notIcmpType(8).render(),
   *   "-p icmp -m icmp ! --icmp-type 8",
   * );
   * ```
   */
  notIcmpType(type: number): MatchCriteria {
    const F = "notIcmpType";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m icmp ! --icmp-type ${type}`);
  }

  /**
   * Matches an ICMP type and code: `-m icmp --icmp-type <type>/<code>`.
   *
   * @param type The ICMP type (0–255).
   * @param code The ICMP code (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"icmpTypeAndCode"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmp").icmpTypeAndCode(3, 4).render(),
   *   "-p icmp -m icmp --icmp-type 3/4",
   * );
   * ```
   */
  icmpTypeAndCode(type: number, code: number): MatchCriteria {
    const F = "icmpTypeAndCode";
    checkInt(F, type, 0, 255);
    checkInt(F, code, 0, 255);
    return this.with(F, [type, code], `-m icmp --icmp-type ${type}/${code}`);
  }

  /**
   * Matches anything but an ICMP type and code: `-m icmp ! --icmp-type <type>/<code>`.
   *
   * @param type The ICMP type (0–255).
   * @param code The ICMP code (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notIcmpTypeAndCode"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmp").notIcmpTypeAndCode(3, 4).render(),
   *   "-p icmp -m icmp ! --icmp-type 3/4",
   * );
   * ```
   */
  notIcmpTypeAndCode(type: number, code: number): MatchCriteria {
    const F = "notIcmpTypeAndCode";
    checkInt(F, type, 0, 255);
    checkInt(F, code, 0, 255);
    return this.with(F, [type, code], `-m icmp ! --icmp-type ${type}/${code}`);
  }

  /**
   * Matches the ICMPv6 type: `-m icmp6 --icmpv6-type <type>`.
   * Needs `protocol("icmpv6")`.
   *
   * @param type The ICMP type (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"icmpV6Type"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmpv6").icmpV6Type(8).render(),
   *   "-p icmpv6 -m icmp6 --icmpv6-type 8",
   * );
   * ```
   */
  icmpV6Type(type: number): MatchCriteria {
    const F = "icmpV6Type";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m icmp6 --icmpv6-type ${type}`);
  }

  /**
   * Matches every ICMPv6 type but `type`: `-m icmp6 ! --icmpv6-type <type>`.
   * Needs `protocol("icmpv6")`.
   *
   * @param type The ICMP type (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notIcmpV6Type"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmpv6").notIcmpV6Type(8).render(),
   *   "-p icmpv6 -m icmp6 ! --icmpv6-type 8",
   * );
   * ```
   */
  notIcmpV6Type(type: number): MatchCriteria {
    const F = "notIcmpV6Type";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m icmp6 ! --icmpv6-type ${type}`);
  }

  /**
   * Matches an ICMPv6 type and code: `-m icmp6 --icmpv6-type <type>/<code>`.
   *
   * @param type The ICMP type (0–255).
   * @param code The ICMP code (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"icmpV6TypeAndCode"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmpv6").icmpV6TypeAndCode(3, 4).render(),
   *   "-p icmpv6 -m icmp6 --icmpv6-type 3/4",
   * );
   * ```
   */
  icmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    const F = "icmpV6TypeAndCode";
    checkInt(F, type, 0, 255);
    checkInt(F, code, 0, 255);
    return this.with(F, [type, code], `-m icmp6 --icmpv6-type ${type}/${code}`);
  }

  /**
   * Matches anything but an ICMPv6 type and code: `-m icmp6 ! --icmpv6-type <type>/<code>`.
   *
   * @param type The ICMP type (0–255).
   * @param code The ICMP code (0–255).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notIcmpV6TypeAndCode"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(
   *   Match().protocol("icmpv6").notIcmpV6TypeAndCode(3, 4).render(),
   *   "-p icmpv6 -m icmp6 ! --icmpv6-type 3/4",
   * );
   * ```
   */
  notIcmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    const F = "notIcmpV6TypeAndCode";
    checkInt(F, type, 0, 255);
    checkInt(F, code, 0, 255);
    return this.with(F, [type, code], `-m icmp6 ! --icmpv6-type ${type}/${code}`);
  }

  /**
   * Matches packets belonging to an IPVS connection: `-m ipvs --ipvs`.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().ipvsConnection().render(), "-m ipvs --ipvs");
   * ```
   */
  ipvsConnection(): MatchCriteria {
    const F = "ipvsConnection";
    return this.with(F, [], "-m ipvs --ipvs");
  }

  /**
   * Matches packets not belonging to an IPVS connection: `-m ipvs ! --ipvs`.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notIpvsConnection().render(), "-m ipvs ! --ipvs");
   * ```
   */
  notIpvsConnection(): MatchCriteria {
    const F = "notIpvsConnection";
    return this.with(F, [], "-m ipvs ! --ipvs");
  }

  /**
   * Matches packets that fail the reverse-path check: `-m rpfilter --invert --validmark`.
   * Works in the raw and mangle PREROUTING chains only.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().rpfCheckFailed().render(), "-m rpfilter --invert --validmark");
   * ```
   */
  rpfCheckFailed(): MatchCriteria {
    const F = "rpfCheckFailed";
    return this.with(F, [], "-m rpfilter --invert --validmark");
  }

  /**
   * Matches packets that pass the reverse-path check: `-m rpfilter --validmark`.
   * Works in the raw and mangle PREROUTING chains only.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().rpfCheckPassed().render(), "-m rpfilter --validmark");
   * ```
   */
  rpfCheckPassed(): MatchCriteria {
    const F = "rpfCheckPassed";
    return this.with(F, [], "-m rpfilter --validmark");
  }

  /**
   * Matches at most `rate` packets: `-m limit --limit <rate>` (+ ` --limit-burst <burst>`).
   *
   * @param rate `N/second`, `N/minute`, `N/hour` or `N/day` (N ≥ 1, at most 10000 per second).
   * @param burst The burst (1–10000); absent or 0 (the reference's "none") leaves iptables' default of 5.
   *   `10000 × seconds per unit / N × burst` must stay at most 1.1e9 (e.g. `1/day` needs burst 1),
   *   or the kernel's limit arithmetic overflows.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"limit"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().limit("40/day", 5).render(), "-m limit --limit 40/day --limit-burst 5");
   * ```
   */
  limit(rate: LimitRate, burst?: number): MatchCriteria {
    const F = "limit";
    checkLimitRate(F, rate);
    if (burst === undefined || burst === 0) {
      checkLimitCredits(F, rate, burst);
      return this.with(F, burst === undefined ? [rate] : [rate, burst], `-m limit --limit ${rate}`);
    }
    checkLimitBurst(F, burst);
    checkLimitCredits(F, rate, burst);
    return this.with(F, [rate, burst], `-m limit --limit ${rate} --limit-burst ${burst}`);
  }
}

const EMPTY_MATCH: MatchCriteria = new MatchCriteria();

/**
 * Starts an empty match.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match } from "@rampart/iptables";
 * assert.equal(String(Match()), "MatchCriteria[]");
 * ```
 */
export function Match(): MatchCriteria {
  // Criteria are immutable: every rule can start from the same empty one.
  return EMPTY_MATCH;
}

/**
 * Concatenates two criteria (`a`'s clauses, then `b`'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { combine, Match } from "@rampart/iptables";
 * const m = combine(Match().protocol("tcp"), Match().destPorts(22));
 * assert.equal(m.render(), "-p tcp -m multiport --destination-ports 22");
 * ```
 */
export function combine(a: MatchCriteria, b: MatchCriteria): MatchCriteria {
  return new MatchCriteria([...a.clauses, ...b.clauses]);
}

/**
 * The names of every builder method of {@linkcode MatchCriteria} (e.g.
 * `"protocol"`, `"notDestPorts"`), in declaration order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MATCH_METHODS } from "@rampart/iptables";
 * assert.ok(MATCH_METHODS.includes("destIpSet"));
 * ```
 */
export const MATCH_METHODS: readonly string[] = Object.freeze(
  Object.getOwnPropertyNames(MatchCriteria.prototype).filter((name) =>
    !["constructor", "with", "render", "toString", "forEachClause", "rendersLike"].includes(name) &&
    typeof Object.getOwnPropertyDescriptor(MatchCriteria.prototype, name)?.value === "function"
  ),
);
