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
import {
  connLimitClause,
  type ConnLimitOptions,
  ipRangeClause,
  type IpRangeOptions,
  ownerClause,
  type OwnerOptions,
  physDevClause,
  type PhysDevOptions,
  recentClause,
  type RecentOptions,
  statisticClause,
  type StatisticOptions,
  tcpClause,
  type TcpOptions,
  udpClause,
  type UdpOptions,
} from "./match_options.ts";
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

  /**
   * Matches TCP ports, flags and options: `-m tcp [[!] --sport P] [[!] --dport P]
   * [[!] --tcp-option N] [[!] --tcp-flags MASK SET]` (one `-m tcp`, as
   * iptables-save prints it; unlike {@linkcode MatchCriteria.destPorts}, which
   * uses multiport). Needs `protocol("tcp")`.
   *
   * @param options The ports, flags and option; none gives a bare `-m tcp`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"tcp.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("tcp").tcp({ destPort: 22 }).render(), "-p tcp -m tcp --dport 22");
   * assert.equal(Match().protocol("tcp").tcp({ notFlags: { mask: ["SYN", "ACK"], set: ["ACK"] } }).render(), "-p tcp -m tcp ! --tcp-flags SYN,ACK ACK");
   * ```
   */
  tcp(options?: TcpOptions): MatchCriteria {
    const [args, fragment] = tcpClause("tcp", options);
    return this.with("tcp", args, fragment);
  }

  /**
   * Matches UDP ports: `-m udp [[!] --sport P] [[!] --dport P]`. Needs `protocol("udp")`.
   *
   * @param options The ports; none gives a bare `-m udp`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"udp.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("udp").udp({ destPort: { first: 6000, last: 6010 } }).render(), "-p udp -m udp --dport 6000:6010");
   * ```
   */
  udp(options?: UdpOptions): MatchCriteria {
    const [args, fragment] = udpClause("udp", options);
    return this.with("udp", args, fragment);
  }

  /**
   * A comment kept exactly as written, where it is written among the clauses:
   * `-m comment --comment <text>` (quoted as iptables-save quotes it). A
   * rule's `comment` is escaped as the reference escapes it and always comes
   * first; this one keeps every character and its place.
   *
   * @param text At most 255 characters (the kernel keeps 255), without NUL, CR or LF.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when the text is invalid (`field` is `"exactComment"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().conntrackState("NEW").exactComment("k8s 'portals'").render(), "-m conntrack --ctstate NEW -m comment --comment \"k8s \\'portals\\'\"");
   * ```
   */
  exactComment(text: string): MatchCriteria {
    const F = "exactComment";
    if (typeof text !== "string" || text.length > 255 || /[\0\r\n]/.test(text)) {
      throw invalid(F, text, "a string of at most 255 characters without NUL, CR or LF");
    }
    return this.with(F, [text], `-m comment --comment ${quoteSaved(text)}`);
  }

  /**
   * Matches connection tracking states with the older state match:
   * `-m state --state <states>` (printed in the kernel's order).
   *
   * @param states INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED: a comma-separated string or a list.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"state"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().state(["ESTABLISHED", "RELATED"]).render(), "-m state --state RELATED,ESTABLISHED");
   * ```
   */
  state(states: string | readonly StateName[]): MatchCriteria {
    const F = "state";
    return this.with(F, [copyStates(states)], `-m state --state ${checkStates(F, states)}`);
  }

  /**
   * Matches every state but these: `-m state ! --state <states>`.
   *
   * @param states INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED: a comma-separated string or a list.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notState"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notState("NEW").render(), "-m state ! --state NEW");
   * ```
   */
  notState(states: string | readonly StateName[]): MatchCriteria {
    const F = "notState";
    return this.with(F, [copyStates(states)], `-m state ! --state ${checkStates(F, states)}`);
  }

  /**
   * Compares the IPv4 time to live: `-m ttl --ttl-eq|--ttl-lt|--ttl-gt N`
   * (`"ne"` is `! --ttl-eq`). IPv4 only.
   *
   * @param comparison `"eq"`, `"ne"`, `"lt"` or `"gt"`.
   * @param value 0–255.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"ttl"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().ttl("lt", 5).render(), "-m ttl --ttl-lt 5");
   * ```
   */
  ttl(comparison: Comparison, value: number): MatchCriteria {
    const F = "ttl";
    return this.with(F, [comparison, value], compareText(F, "ttl", comparison, value));
  }

  /**
   * Compares the IPv6 hop limit: `-m hl --hl-eq|--hl-lt|--hl-gt N` (`"ne"`
   * is `! --hl-eq`). IPv6 only.
   *
   * @param comparison `"eq"`, `"ne"`, `"lt"` or `"gt"`.
   * @param value 0–255.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"hopLimit"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().hopLimit("eq", 255).render(), "-m hl --hl-eq 255");
   * ```
   */
  hopLimit(comparison: Comparison, value: number): MatchCriteria {
    const F = "hopLimit";
    return this.with(F, [comparison, value], compareText(F, "hl", comparison, value));
  }

  /**
   * Tracks recently seen addresses: `-m recent --set|--rcheck|--update|--remove
   * [--seconds N] [--reap] [--hitcount N] [--rttl] --name NAME [--mask M]
   * --rsource|--rdest`.
   *
   * @param options The mode, the list's name and the checks.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"recent.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().recent({ mode: "set", name: "ssh" }).render(), "-m recent --set --name ssh --rsource");
   * ```
   */
  recent(options: RecentOptions): MatchCriteria {
    const [args, fragment] = recentClause("recent", options, false);
    return this.with("recent", args, fragment);
  }

  /**
   * The negation of {@linkcode MatchCriteria.recent}: `-m recent ! --<mode> …`.
   *
   * @param options The mode, the list's name and the checks.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"notRecent.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notRecent({ mode: "rcheck", name: "ok" }).render(), "-m recent ! --rcheck --name ok --rsource");
   * ```
   */
  notRecent(options: RecentOptions): MatchCriteria {
    const [args, fragment] = recentClause("notRecent", options, true);
    return this.with("notRecent", args, fragment);
  }

  /**
   * Matches a random share of packets, or every n-th: `-m statistic --mode
   * random --probability P` (printed with the 11 decimals of the value the
   * kernel keeps) or `-m statistic --mode nth --every N --packet P`.
   *
   * @param options The mode and its parameters.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"statistic.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().statistic({ mode: "nth", every: 3 }).render(), "-m statistic --mode nth --every 3 --packet 0");
   * ```
   */
  statistic(options: StatisticOptions): MatchCriteria {
    const [args, fragment] = statisticClause("statistic", options);
    return this.with("statistic", args, fragment);
  }

  /**
   * Matches the socket owner of locally generated packets: `-m owner
   * [[!] --socket-exists] [[!] --uid-owner U] [[!] --gid-owner G]
   * [--suppl-groups]`. OUTPUT and POSTROUTING only.
   *
   * @param options The IDs and socket test.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"owner.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().owner({ notUid: 0 }).render(), "-m owner ! --uid-owner 0");
   * ```
   */
  owner(options: OwnerOptions): MatchCriteria {
    const [args, fragment] = ownerClause("owner", options);
    return this.with("owner", args, fragment);
  }

  /**
   * Matches the link-layer packet type: `-m pkttype --pkt-type <type>`.
   *
   * @param type `"unicast"`, `"broadcast"`, `"multicast"` or `"otherhost"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"packetType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().packetType("broadcast").render(), "-m pkttype --pkt-type broadcast");
   * ```
   */
  packetType(type: PacketType): MatchCriteria {
    const F = "packetType";
    return this.with(F, [type], `-m pkttype --pkt-type ${checkPacketType(F, type)}`);
  }

  /**
   * Matches every packet type but `type`: `-m pkttype ! --pkt-type <type>`.
   *
   * @param type `"unicast"`, `"broadcast"`, `"multicast"` or `"otherhost"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notPacketType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notPacketType("unicast").render(), "-m pkttype ! --pkt-type unicast");
   * ```
   */
  notPacketType(type: PacketType): MatchCriteria {
    const F = "notPacketType";
    return this.with(F, [type], `-m pkttype ! --pkt-type ${checkPacketType(F, type)}`);
  }

  /**
   * Matches the source MAC address: `-m mac --mac-source <mac>` (printed in
   * lowercase). PREROUTING, INPUT and FORWARD only.
   *
   * @param mac Six hex bytes separated by colons, e.g. `"52:54:00:12:34:56"`.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"sourceMac"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().sourceMac("52:54:00:AB:CD:EF").render(), "-m mac --mac-source 52:54:00:ab:cd:ef");
   * ```
   */
  sourceMac(mac: string): MatchCriteria {
    const F = "sourceMac";
    return this.with(F, [mac], `-m mac --mac-source ${checkMac(F, mac)}`);
  }

  /**
   * Matches every source MAC address but `mac`: `-m mac ! --mac-source <mac>`.
   *
   * @param mac Six hex bytes separated by colons.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notSourceMac"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notSourceMac("52:54:00:12:34:56").render(), "-m mac ! --mac-source 52:54:00:12:34:56");
   * ```
   */
  notSourceMac(mac: string): MatchCriteria {
    const F = "notSourceMac";
    return this.with(F, [mac], `-m mac ! --mac-source ${checkMac(F, mac)}`);
  }

  /**
   * Matches address ranges: `-m iprange [[!] --src-range A-B] [[!] --dst-range A-B]`.
   *
   * @param options The source and destination ranges.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"ipRange.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().ipRange({ notDest: "10.0.0.1-10.0.0.9" }).render(), "-m iprange ! --dst-range 10.0.0.1-10.0.0.9");
   * ```
   */
  ipRange(options: IpRangeOptions): MatchCriteria {
    const [args, fragment] = ipRangeClause("ipRange", options);
    return this.with("ipRange", args, fragment);
  }

  /**
   * Matches the length of the layer-3 payload plus header: `-m length --length MIN[:MAX]`.
   *
   * @param min 0–65535.
   * @param max At least `min` (absent: exactly `min`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"length"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().length(0, 28).render(), "-m length --length 0:28");
   * ```
   */
  length(min: number, max?: number): MatchCriteria {
    const F = "length";
    return this.with(F, argsOf2(min, max), `-m length --length ${rangeText(F, min, max)}`);
  }

  /**
   * Matches every length outside the range: `-m length ! --length MIN[:MAX]`.
   *
   * @param min 0–65535.
   * @param max At least `min` (absent: exactly `min`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notLength"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notLength(40, 1500).render(), "-m length ! --length 40:1500");
   * ```
   */
  notLength(min: number, max?: number): MatchCriteria {
    const F = "notLength";
    return this.with(F, argsOf2(min, max), `-m length ! --length ${rangeText(F, min, max)}`);
  }

  /**
   * Matches the TCP MSS option of SYN packets: `-m tcpmss --mss MIN[:MAX]`.
   * Needs `protocol("tcp")`.
   *
   * @param min 0–65535.
   * @param max At least `min` (absent: exactly `min`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"tcpMss"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("tcp").tcpMss(1, 500).render(), "-p tcp -m tcpmss --mss 1:500");
   * ```
   */
  tcpMss(min: number, max?: number): MatchCriteria {
    const F = "tcpMss";
    return this.with(F, argsOf2(min, max), `-m tcpmss --mss ${rangeText(F, min, max)}`);
  }

  /**
   * Matches every MSS outside the range: `-m tcpmss ! --mss MIN[:MAX]`.
   * Needs `protocol("tcp")`.
   *
   * @param min 0–65535.
   * @param max At least `min` (absent: exactly `min`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notTcpMss"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().protocol("tcp").notTcpMss(536, 65535).render(), "-p tcp -m tcpmss ! --mss 536:65535");
   * ```
   */
  notTcpMss(min: number, max?: number): MatchCriteria {
    const F = "notTcpMss";
    return this.with(F, argsOf2(min, max), `-m tcpmss ! --mss ${rangeText(F, min, max)}`);
  }

  /**
   * Limits connections per address (or prefix): `-m connlimit
   * --connlimit-above|--connlimit-upto N [--connlimit-mask M]
   * --connlimit-saddr|--connlimit-daddr`.
   *
   * @param options The limit, mask and direction.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"connLimit.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().connLimit({ upto: 10 }).render(), "-m connlimit --connlimit-upto 10 --connlimit-saddr");
   * ```
   */
  connLimit(options: ConnLimitOptions): MatchCriteria {
    const [args, fragment] = connLimitClause("connLimit", options);
    return this.with("connLimit", args, fragment);
  }

  /**
   * Matches the IPv6 routing header's type: `-m rt --rt-type N`. IPv6 only.
   *
   * @param type 0–255 (type 0 is the deprecated source route).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"routingHeaderType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().routingHeaderType(0).render(), "-m rt --rt-type 0");
   * ```
   */
  routingHeaderType(type: number): MatchCriteria {
    const F = "routingHeaderType";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m rt --rt-type ${type}`);
  }

  /**
   * Matches IPv6 packets whose routing header has another type: `-m rt ! --rt-type N`.
   *
   * @param type 0–255.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notRoutingHeaderType"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notRoutingHeaderType(2).render(), "-m rt ! --rt-type 2");
   * ```
   */
  notRoutingHeaderType(type: number): MatchCriteria {
    const F = "notRoutingHeaderType";
    checkInt(F, type, 0, 255);
    return this.with(F, [type], `-m rt ! --rt-type ${type}`);
  }

  /**
   * Matches the packet's DSCP field: `-m dscp --dscp 0xNN`.
   *
   * @param value 0–63.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"packetDscp"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().packetDscp(46).render(), "-m dscp --dscp 0x2e");
   * ```
   */
  packetDscp(value: number): MatchCriteria {
    const F = "packetDscp";
    checkInt(F, value, 0, 63);
    return this.with(F, [value], `-m dscp --dscp 0x${value.toString(16).padStart(2, "0")}`);
  }

  /**
   * Matches every DSCP value but `value`: `-m dscp ! --dscp 0xNN`.
   *
   * @param value 0–63.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notPacketDscp"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notPacketDscp(0).render(), "-m dscp ! --dscp 0x00");
   * ```
   */
  notPacketDscp(value: number): MatchCriteria {
    const F = "notPacketDscp";
    checkInt(F, value, 0, 63);
    return this.with(F, [value], `-m dscp ! --dscp 0x${value.toString(16).padStart(2, "0")}`);
  }

  /**
   * Matches packets of connections a conntrack helper expects: `-m helper --helper <name>`.
   *
   * @param name The helper, e.g. `"ftp"` (1–29 characters `[a-z0-9_-]`).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"helper"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().helper("ftp").render(), "-m helper --helper ftp");
   * ```
   */
  helper(name: string): MatchCriteria {
    const F = "helper";
    if (typeof name !== "string" || !HELPER_NAME.test(name)) {
      throw invalid(F, name, "a helper name of 1 to 29 characters [a-z0-9_-], e.g. ftp");
    }
    return this.with(F, [name], `-m helper --helper ${name}`);
  }

  /**
   * Matches bridge ports of bridged traffic: `-m physdev [[!] --physdev-is-in]
   * [[!] --physdev-in IF] [[!] --physdev-is-out] [[!] --physdev-out IF]
   * [[!] --physdev-is-bridged]`.
   *
   * @param options The ports and tests.
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an option is invalid (`field` is `"physDev.<option>"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().physDev({ notOut: "eth1" }).render(), "-m physdev ! --physdev-out eth1");
   * ```
   */
  physDev(options: PhysDevOptions): MatchCriteria {
    const [args, fragment] = physDevClause("physDev", options);
    return this.with("physDev", args, fragment);
  }

  /**
   * Matches IPv4 fragments after the first: `-f` (printed among the rule's
   * own options). IPv4 only.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().fragment().render(), "-f");
   * ```
   */
  fragment(): MatchCriteria {
    return this.with("fragment", [], "-f");
  }

  /**
   * Matches unfragmented IPv4 packets and first fragments: `! -f`. IPv4 only.
   *
   * @returns New criteria with this clause added.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notFragment().render(), "! -f");
   * ```
   */
  notFragment(): MatchCriteria {
    return this.with("notFragment", [], "! -f");
  }

  /**
   * Matches the IPv4 TOS byte (IPv6 traffic class) under a mask:
   * `-m tos --tos 0xVV/0xMM`.
   *
   * @param value 0–255, within `mask`.
   * @param mask 0–255 (absent: 0xff).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"tos"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().tos(0x10, 0x3f).render(), "-m tos --tos 0x10/0x3f");
   * ```
   */
  tos(value: number, mask?: number): MatchCriteria {
    const F = "tos";
    return this.with(F, argsOf2(value, mask), `-m tos --tos ${tosText(F, value, mask)}`);
  }

  /**
   * Matches every TOS value but this one: `-m tos ! --tos 0xVV/0xMM`.
   *
   * @param value 0–255, within `mask`.
   * @param mask 0–255 (absent: 0xff).
   * @returns New criteria with this clause added.
   * @throws {RuleError} when an argument is invalid (`field` is `"notTos"`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Match } from "@rampart/iptables";
   * assert.equal(Match().notTos(0x8).render(), "-m tos ! --tos 0x08/0xff");
   * ```
   */
  notTos(value: number, mask?: number): MatchCriteria {
    const F = "notTos";
    return this.with(F, argsOf2(value, mask), `-m tos ! --tos ${tosText(F, value, mask)}`);
  }
}

/**
 * A state of the older state match ({@linkcode MatchCriteria.state}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type StateName } from "@rampart/iptables";
 * const states: StateName[] = ["NEW"];
 * assert.equal(Match().state(states).render(), "-m state --state NEW");
 * ```
 */
export type StateName = "INVALID" | "NEW" | "RELATED" | "ESTABLISHED" | "UNTRACKED";

/** The state match's states in the order iptables prints them. */
const STATE_ORDER: readonly StateName[] = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED"];

function copyStates(states: string | readonly StateName[]): DslArg {
  return typeof states === "string" ? states : [...states];
}

function checkStates(field: string, value: unknown): string {
  const list = typeof value === "string" ? value.split(",") : Array.isArray(value) ? value : [];
  const bits = new Set<string>();
  for (const s of list) {
    if (!STATE_ORDER.includes(s as StateName) || bits.has(s as string)) {
      throw invalid(field, value, `one or more distinct states (${STATE_ORDER.join(", ")})`);
    }
    bits.add(s as string);
  }
  if (bits.size === 0) {
    throw invalid(field, value, `one or more distinct states (${STATE_ORDER.join(", ")})`);
  }
  return STATE_ORDER.filter((s) => bits.has(s)).join(",");
}

/**
 * A comparison for {@linkcode MatchCriteria.ttl} and {@linkcode MatchCriteria.hopLimit}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Comparison, Match } from "@rampart/iptables";
 * const ne: Comparison = "ne";
 * assert.equal(Match().ttl(ne, 64).render(), "-m ttl ! --ttl-eq 64");
 * ```
 */
export type Comparison = "eq" | "ne" | "lt" | "gt";

function compareText(field: string, module: string, comparison: unknown, value: unknown): string {
  if (comparison !== "eq" && comparison !== "ne" && comparison !== "lt" && comparison !== "gt") {
    throw invalid(field, comparison, '"eq", "ne", "lt" or "gt"');
  }
  checkInt(field, value, 0, 255);
  const op = comparison === "ne" ? `! --${module}-eq` : `--${module}-${comparison}`;
  return `-m ${module} ${op} ${value}`;
}

/**
 * A link-layer packet type for {@linkcode MatchCriteria.packetType}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Match, type PacketType } from "@rampart/iptables";
 * const type: PacketType = "multicast";
 * assert.equal(Match().packetType(type).render(), "-m pkttype --pkt-type multicast");
 * ```
 */
export type PacketType = "unicast" | "broadcast" | "multicast" | "otherhost";

function checkPacketType(field: string, value: unknown): string {
  if (
    value !== "unicast" && value !== "broadcast" && value !== "multicast" && value !== "otherhost"
  ) {
    throw invalid(field, value, '"unicast", "broadcast", "multicast" or "otherhost"');
  }
  return value;
}

const MAC = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

function checkMac(field: string, value: unknown): string {
  if (typeof value !== "string" || !MAC.test(value)) {
    throw invalid(field, value, 'a MAC address of six hex bytes, e.g. "52:54:00:12:34:56"');
  }
  return value.toLowerCase();
}

function argsOf2(min: number, max: number | undefined): DslArg[] {
  return max === undefined ? [min] : [min, max];
}

function rangeText(field: string, min: unknown, max: unknown): string {
  const lo = checkInt(field, min, 0, 65535);
  if (max === undefined) return `${lo}`;
  const hi = checkInt(field, max, lo, 65535);
  return lo === hi ? `${lo}` : `${lo}:${hi}`;
}

function tosText(field: string, value: unknown, mask: unknown): string {
  const v = checkInt(field, value, 0, 255);
  const m = mask === undefined ? 0xff : checkInt(field, mask, 0, 255);
  if ((v & m) !== v) throw invalid(field, value, `a value within its mask 0x${m.toString(16)}`);
  const h = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
  return `${h(v)}/${h(m)}`;
}

const HELPER_NAME = /^[a-z0-9_-]{1,29}$/;

/** Quotes a value as iptables-save does: bare when only `[_-0-9a-zA-Z]`, else quoted with `"`, `\` and `'` escaped. */
function quoteSaved(value: string): string {
  if (/^[_\-0-9a-zA-Z]+$/.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
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
