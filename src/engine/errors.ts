/**
 * Errors the table engine throws. Each carries the fields an operator needs to
 * find and fix the cause.
 *
 * @module
 */

export { PrefixError, SaveError, TableConfigError } from "../host/errors.ts";

/** Where a script line or a rule came from. */
export interface RuleLocation {
  /** The chain the rule is in. */
  chain: string;
  /** The 0-based index of the rule in its list, when the line is a rule. */
  ruleIndex?: number;
  /** Which list of a kernel chain: `"insert"`, `"append"`, or `"chain"` for an owned chain. */
  list?: "chain" | "insert" | "append";
}

/**
 * A rule cannot be placed where it is: wrong table, IP family, protocol
 * dependency or hook. Thrown by `apply()`/`plan()` before anything is written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Accept, Match, PlacementError, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const table = new Table("filter", { runner: new FakeDataplane().runner, backend: "nft" });
 * table.setRuleInsertions("INPUT", [{ match: Match().destPorts(22), action: Accept() }]); // no -p
 * await assert.rejects(
 *   table.apply(),
 *   (e) => e instanceof PlacementError && e.chain === "INPUT" && e.ruleIndex === 0,
 * );
 * ```
 */
export class PlacementError extends Error {
  /** The chain holding the rule. */
  readonly chain: string;
  /** The rule's 0-based index in its list. */
  readonly ruleIndex: number;
  /** The list the rule is in. */
  readonly list: "chain" | "insert" | "append";

  /**
   * Creates the error.
   *
   * @param message What is wrong and how to fix it.
   * @param location The rule at fault.
   */
  constructor(message: string, location: Required<RuleLocation>) {
    super(message);
    this.name = "PlacementError";
    this.chain = location.chain;
    this.ruleIndex = location.ruleIndex;
    this.list = location.list;
  }
}

/**
 * A rule jumps to an owned chain that is not defined (never added, or
 * removed while still referenced), or to a chain we do not own that the
 * kernel's table does not have. Thrown before anything is written (by
 * `plan()` too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DanglingReferenceError, Jump, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const table = new Table("filter", { runner: new FakeDataplane().runner, backend: "nft", chainPrefixes: ["rp-"] });
 * table.setRuleInsertions("INPUT", [{ action: Jump("rp-missing") }]);
 * await assert.rejects(
 *   table.apply(),
 *   (e) => e instanceof DanglingReferenceError && e.fromChain === "INPUT" && e.toChain === "rp-missing",
 * );
 * ```
 */
export class DanglingReferenceError extends Error {
  /** The chain whose rule holds the reference. */
  readonly fromChain: string;
  /** The missing chain. */
  readonly toChain: string;
  /** The 0-based index of the referring rule. */
  readonly ruleIndex: number;
  /** The list the rule is in, when known: an owned chain's, or a kernel chain's insert or append list. */
  readonly list: "chain" | "insert" | "append" | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong and how to fix it.
   * @param options The two chains and the rule.
   */
  constructor(
    message: string,
    options: {
      fromChain: string;
      toChain: string;
      ruleIndex: number;
      list?: "chain" | "insert" | "append";
    },
  ) {
    super(message);
    this.name = "DanglingReferenceError";
    this.fromChain = options.fromChain;
    this.toChain = options.toChain;
    this.ruleIndex = options.ruleIndex;
    this.list = options.list;
  }
}

/**
 * Owned chains jump to each other in a loop, which the kernel refuses (legacy
 * at COMMIT, nft at the rule: "Too many links"). Thrown before anything is
 * written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChainLoopError, Jump, Table } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const table = new Table("filter", { runner: new FakeDataplane().runner, backend: "nft" });
 * table.setRuleInsertions("INPUT", [{ action: Jump("rp-a") }]);
 * table.updateChain({ name: "rp-a", rules: [{ action: Jump("rp-b") }] });
 * table.updateChain({ name: "rp-b", rules: [{ action: Jump("rp-a") }] });
 * await assert.rejects(
 *   table.apply(),
 *   (e) => e instanceof ChainLoopError && e.chains.join(" ") === "rp-a rp-b rp-a",
 * );
 * ```
 */
export class ChainLoopError extends Error {
  /** The chains of the loop, the first repeated at the end. */
  readonly chains: readonly string[];

  /**
   * Creates the error.
   *
   * @param chains The loop, the first chain repeated at the end.
   */
  constructor(chains: readonly string[]) {
    super(
      `Chains jump to each other in a loop (${chains.join(" -> ")}), which the kernel refuses: ` +
        "break the loop with Return() or by removing one of the jumps",
    );
    this.name = "ChainLoopError";
    this.chains = [...chains];
  }
}

/**
 * `iptables-restore` rejected the script after every retry. Carries the
 * script, iptables' stderr, and the failing line mapped back to its chain and
 * rule where iptables names a line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RestoreError } from "@rampart/iptables";
 * const e = new RestoreError("restore failed", {
 *   command: "iptables-legacy-restore", script: "*filter\nCOMMIT\n", stderr: "", code: 1,
 * });
 * assert.equal(e.failedLine, undefined);
 * ```
 */
export class RestoreError extends Error {
  /** The binary that was run. */
  readonly command: string;
  /** The script fed on stdin. */
  readonly script: string;
  /** iptables' standard error. */
  readonly stderr: string;
  /** Exit code (137 and `timedOut` when killed). */
  readonly code: number;
  /** The 1-based script line iptables named, if any. */
  readonly failedLine: number | undefined;
  /** That line's text. */
  readonly failedLineText: string | undefined;
  /** The chain and rule the line came from, if it was a rule. */
  readonly location: RuleLocation | undefined;
  /** True when iptables blamed the `COMMIT` line (the kernel rejected the whole table). */
  readonly atCommit: boolean;
  /** The rules this transaction added (listed when the kernel rejected at COMMIT). */
  readonly addedRules: readonly string[];
  /** True when the binary was killed for outliving its timeout (not retried). */
  readonly timedOut: boolean;

  /**
   * Creates the error.
   *
   * @param message What failed and where.
   * @param options The details.
   */
  constructor(message: string, options: {
    command: string;
    script: string;
    stderr: string;
    code: number;
    failedLine?: number;
    failedLineText?: string;
    location?: RuleLocation;
    atCommit?: boolean;
    addedRules?: readonly string[];
    timedOut?: boolean;
  }) {
    super(message);
    this.name = "RestoreError";
    this.command = options.command;
    this.script = options.script;
    this.stderr = options.stderr;
    this.code = options.code;
    this.failedLine = options.failedLine;
    this.failedLineText = options.failedLineText;
    this.location = options.location;
    this.atCommit = options.atCommit ?? false;
    this.addedRules = options.addedRules ?? [];
    this.timedOut = options.timedOut ?? false;
  }
}
