/**
 * Reading a whole `iptables-save` text (any table, either backend, with or
 * without `-c` counters) into tables, chains and rules with their line
 * numbers, for the importer. Each rule line is split into arguments by the
 * same tokenizer as the engine and the fake dataplane (`src/tokenize.ts`).
 *
 * @module
 */
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";

/** One rule line of a saved table. */
export interface SavedRuleLine {
  /** The 1-based line number in the text. */
  line: number;
  /** The rule as printed after `-A <chain> ` (counters removed; `""` for an empty rule). */
  text: string;
  /** Its arguments after `-A <chain>`, split as iptables-restore splits them. */
  args: string[];
  /** The `[packets:bytes]` printed before it by `iptables-save -c`. */
  counters?: [bigint, bigint];
}

/** One chain of a saved table. */
export interface SavedChain {
  /** The chain's name. */
  name: string;
  /** `ACCEPT`/`DROP` for a built-in chain, `-` for a user chain. */
  policy: string;
  /** The line that declared it. */
  line: number;
  /** The chain's counters (`[p:b]` of its declaration). */
  counters?: [bigint, bigint];
  /** Its rules, in order. */
  rules: SavedRuleLine[];
}

/** One table (`*name` … `COMMIT`) of a save text. */
export interface SavedTable {
  /** The table's name. */
  name: string;
  /** The line of `*name`. */
  line: number;
  /** Its chains in the order they were declared. */
  chains: Map<string, SavedChain>;
}

/**
 * A save text that is not well-formed: the line number and what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSaveText, SaveTextError } from "@rampart/iptables/import";
 * assert.throws(
 *   () => parseSaveText("*filter\n-A INPUT -j ACCEPT\nCOMMIT\n"),
 *   (e) => e instanceof SaveTextError && e.lineNumber === 2,
 * );
 * ```
 */
export class SaveTextError extends Error {
  /** The 1-based line number. */
  readonly lineNumber: number;

  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param lineNumber The line.
   */
  constructor(message: string, lineNumber: number) {
    super(`line ${lineNumber}: ${message}`);
    this.name = "SaveTextError";
    this.lineNumber = lineNumber;
  }
}

const COUNTERS = /^\[(\d+):(\d+)\]$/;
const INCOMPATIBLE = /^# Table `[^']*' (?:is incompatible|contains incompatible base-chains)/;

function counters(text: string | undefined): [bigint, bigint] | undefined {
  const m = text === undefined ? null : COUNTERS.exec(text);
  return m === null ? undefined : [BigInt(m[1]!), BigInt(m[2]!)];
}

/** Whether a double-quoted part is still open at the end of a rule line (a value with a line break). */
function quoteOpen(line: string): boolean {
  let open = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') open = !open;
    else if (c === "\\" && open) i++;
  }
  return open;
}

/**
 * Parses the output of `iptables-save` (one table or all, `-c` or not).
 *
 * @param text The saved text.
 * @returns The tables in order.
 * @throws {SaveTextError} on a line that is not save output: a rule outside
 *   a table or in an undeclared chain, a value holding a line break (which
 *   cannot be told from a forged line), a table without `COMMIT`, or
 *   iptables-nft-save's warning that a table holds rules it cannot print.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSaveText } from "@rampart/iptables/import";
 * const [filter] = parseSaveText(
 *   "*filter\n:INPUT DROP [0:0]\n:x - [0:0]\n[3:180] -A INPUT -j x\nCOMMIT\n",
 * );
 * assert.equal(filter!.chains.get("INPUT")!.policy, "DROP");
 * assert.deepEqual(filter!.chains.get("INPUT")!.rules[0]!.args, ["-j", "x"]);
 * ```
 */
export function parseSaveText(text: string): SavedTable[] {
  const tables: SavedTable[] = [];
  let table: SavedTable | undefined;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      if (INCOMPATIBLE.test(line)) {
        throw new SaveTextError(
          `${line.slice(2)}: the table holds native nftables rules that iptables cannot print`,
          n,
        );
      }
      return;
    }
    if (line.startsWith("*")) {
      if (table !== undefined) throw new SaveTextError(`table ${table.name} has no COMMIT`, n);
      const name = line.slice(1).trim();
      if (!/^[a-z]+$/.test(name)) throw new SaveTextError(`invalid table name "${name}"`, n);
      if (tables.some((t) => t.name === name)) {
        throw new SaveTextError(`table ${name} is saved twice`, n);
      }
      table = { name, line: n, chains: new Map() };
      return;
    }
    if (table === undefined) throw new SaveTextError("a line outside a table (no *table)", n);
    if (line === "COMMIT") {
      tables.push(table);
      table = undefined;
      return;
    }
    if (line.startsWith(":")) {
      const [name = "", policy, count, ...rest] = line.slice(1).split(" ");
      if (
        name === "" || policy === undefined || rest.length > 0 || !/^(ACCEPT|DROP|-)$/.test(policy)
      ) {
        throw new SaveTextError(`malformed chain declaration "${line}"`, n);
      }
      if (table.chains.has(name)) throw new SaveTextError(`chain ${name} is declared twice`, n);
      const c = counters(count);
      if (count !== undefined && c === undefined) {
        throw new SaveTextError(`malformed counters in "${line}"`, n);
      }
      table.chains.set(name, { name, policy, line: n, rules: [], ...(c ? { counters: c } : {}) });
      return;
    }
    let body = line;
    let c: [bigint, bigint] | undefined;
    if (body.startsWith("[")) {
      const sp = body.indexOf(" ");
      c = counters(sp < 0 ? body : body.slice(0, sp));
      if (c === undefined) throw new SaveTextError(`malformed counters in "${line}"`, n);
      body = body.slice(sp + 1);
    }
    if (!body.startsWith("-A ")) {
      throw new SaveTextError(`not a line of iptables-save: "${line}"`, n);
    }
    if (quoteOpen(body)) {
      throw new SaveTextError(
        "a quoted value is not closed on its line (a value with a line break cannot be told " +
          "from a forged line)",
        n,
      );
    }
    const args = tokenizeRestoreLine(body);
    const chainName = args[1] ?? "";
    const chain = table.chains.get(chainName);
    if (chain === undefined) {
      throw new SaveTextError(`a rule in the undeclared chain "${chainName}"`, n);
    }
    const sp = body.indexOf(" ", 3);
    chain.rules.push({
      line: n,
      text: sp < 0 ? "" : body.slice(sp + 1),
      args: args.slice(2),
      ...(c ? { counters: c } : {}),
    });
  });
  if (table !== undefined) {
    throw new SaveTextError(`table ${table.name} has no COMMIT`, lines.length);
  }
  return tables;
}
