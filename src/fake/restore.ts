/**
 * The restore protocol as `iptables-restore` reads it: options, then for
 * each table a transaction from `*table` to `COMMIT` (chain lines and
 * commands, see `commands.ts`) that changes nothing unless it commits.
 *
 * @module
 */
import type { CommandResult } from "../host/runner.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import {
  Failure,
  type Invocation,
  KernelReject,
  lineFailed,
  usage,
  VERSION,
} from "./invocation.ts";
import {
  cloneTable,
  type FakeKernel,
  type FakeTableName,
  isFakeTableName,
  noteTableUse,
  type TableState,
} from "./state.ts";
import { applyCommand } from "./commands.ts";
import { chainNameProblem, checkCommit } from "./checks.ts";

/** The options of one `iptables-restore` run. */
interface RestoreOptions {
  /** `--noflush`: keep what the tables hold. */
  noflush: boolean;
  /** `--counters`: take the counters the input gives. */
  counters: boolean;
  /** `--table`: restore only this table. */
  onlyTable: string | undefined;
}

/** One table's transaction, from `*table` to `COMMIT`. */
interface Transaction {
  name: FakeTableName;
  /** The working copy the commands change. */
  work: TableState;
  /** Not the table `--table` names: its lines are read and ignored. */
  skip: boolean;
  /** What nf_tables refused in the batch (reported together at COMMIT). */
  rejects: KernelReject[];
}

/**
 * Runs `iptables-restore` with these arguments on this input: every table
 * that commits replaces the kernel's, and a failure keeps the tables that
 * committed before it.
 */
export function runRestore(
  kernel: FakeKernel,
  inv: Invocation,
  input: { args: readonly string[]; stdin: string },
): CommandResult {
  try {
    const options = restoreOptions(inv, input.args);
    applyScript(kernel, inv, options, input.stdin);
  } catch (e) {
    if (e instanceof Failure) return { code: e.code, stdout: "", stderr: e.stderr };
    throw e;
  }
  return { code: 0, stdout: "", stderr: "" };
}

/** Reads `iptables-restore`'s options. */
function restoreOptions(inv: Invocation, args: readonly string[]): RestoreOptions {
  const options: RestoreOptions = { noflush: false, counters: false, onlyTable: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--noflush" || a === "-n") options.noflush = true;
    else if (a === "--counters" || a === "-c") options.counters = true;
    else if (a === "--verbose" || a === "-v" || a === "--test" || a === "-t") continue;
    else if (a === "--wait" || a === "-w" || a === "--wait-interval" || a === "-W") {
      if (args[i + 1] !== undefined && /^[0-9]+$/.test(args[i + 1]!)) i++;
    } else if (a.startsWith("--wait=") || a.startsWith("--wait-interval=")) continue;
    else if (a === "--table" || a === "-T") options.onlyTable = args[++i];
    else if (a === "--modprobe" || a === "-M") i++;
    else {
      throw new Failure(2, `${inv.prog} ${VERSION} (${inv.tag}): unknown option "${a}"\n`);
    }
  }
  return options;
}

/** Reads the input line by line, table by table. */
function applyScript(
  kernel: FakeKernel,
  inv: Invocation,
  options: RestoreOptions,
  stdin: string,
): void {
  const lines = stdin.split("\n");
  if (lines.at(-1) === "") lines.pop();
  let cur: Transaction | undefined;
  for (let idx = 0; idx < lines.length; idx++) {
    const n = idx + 1;
    const line = lines[idx]!;
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      if (cur) throw new Failure(2, usage(inv, `Bad argument \`${line}'`, n, true));
      cur = beginTable(kernel, inv, { options, line, n });
      continue;
    }
    if (line === "COMMIT") {
      if (!cur) throw new Failure(1, lineFailed(inv, n));
      commitTable(kernel, inv, { transaction: cur, n });
      cur = undefined;
      continue;
    }
    if (!cur) throw new Failure(1, lineFailed(inv, n));
    if (cur.skip) continue;
    if (line.startsWith(":")) {
      declareChain(inv, cur.work, { line, n, counters: options.counters });
      continue;
    }
    applyCommandLine(kernel, inv, {
      transaction: cur,
      line,
      n,
      counters: options.counters,
      commitLine: () => findCommit(lines, idx),
    });
  }
  if (cur) {
    throw new Failure(1, `${inv.prog}: COMMIT expected at line ${lines.length + 1}\n`);
  }
}

/** `*table`: starts a transaction on a copy of the table (emptied unless `--noflush`). */
function beginTable(
  kernel: FakeKernel,
  inv: Invocation,
  at: { options: RestoreOptions; line: string; n: number },
): Transaction {
  const { options, n } = at;
  const name = at.line.slice(1).trim();
  noteTableUse(kernel, inv, name);
  if (!isFakeTableName(name)) {
    throw new Failure(
      2,
      usage(
        inv,
        inv.backend === "nft"
          ? `${inv.prog}: line ${n} table name '${name}' invalid`
          : `${inv.prog}: unable to initialize table '${name}'`,
        n,
      ),
    );
  }
  const skip = options.onlyTable !== undefined && options.onlyTable !== name;
  const work = cloneTable(kernel.tables[inv.backend][inv.family][name]);
  if (!options.noflush && !skip) {
    for (const [cname, c] of [...work]) {
      if (c.builtin) c.rules = [];
      else work.delete(cname);
    }
  }
  return { name, work, skip, rejects: [] };
}

/**
 * `COMMIT`: fails with what nf_tables refused in the batch, or (legacy)
 * with the table's hook checks; otherwise the copy becomes the table.
 */
function commitTable(
  kernel: FakeKernel,
  inv: Invocation,
  at: { transaction: Transaction; n: number },
): void {
  const cur = at.transaction;
  if (cur.rejects.length > 0) {
    throw new Failure(
      4,
      cur.rejects.map((r) => r.warning).join("") +
        `${inv.prog} ${VERSION} (${inv.tag}): \n` +
        cur.rejects.map((r) => r.detail).join(""),
    );
  }
  if (cur.skip) return;
  if (inv.backend === "legacy") checkCommit(inv, cur.work, at.n);
  for (const c of cur.work.values()) for (const r of c.rules) delete r.line;
  kernel.tables[inv.backend][inv.family][cur.name] = cur.work;
}

/**
 * `:chain policy [packets:bytes]`: a built-in chain's policy (and counters),
 * or a user chain, created or emptied.
 */
function declareChain(
  inv: Invocation,
  work: TableState,
  at: { line: string; n: number; counters: boolean },
): void {
  const { n } = at;
  const parts = at.line.slice(1).trim().split(/\s+/);
  const [name = "", policy = "-", cnt] = parts;
  const c = work.get(name);
  const m = cnt === undefined ? null : /^\[(\d+):(\d+)\]$/.exec(cnt);
  if (c?.builtin) {
    if (policy !== "ACCEPT" && policy !== "DROP") {
      if (policy === "-") return;
      throw new Failure(
        1,
        inv.backend === "nft"
          ? lineFailed(inv, n, "Bad policy name.")
          : `${inv.prog} ${VERSION} (legacy): Can't set policy \`${policy}' on \`${name}' line ${n}: Bad policy name\n`,
      );
    }
    c.policy = policy;
    if (at.counters && m) [c.packets, c.bytes] = [BigInt(m[1]!), BigInt(m[2]!)];
    return;
  }
  if (policy !== "-" && inv.backend === "legacy") {
    throw new Failure(
      1,
      `${inv.prog} ${VERSION} (legacy): Can't set policy \`${policy}' on \`${name}' line ${n}: Bad built-in chain name\n`,
    );
  }
  const bad = chainNameProblem(name);
  if (bad) throw new Failure(2, usage(inv, bad, n));
  if (c) c.rules = [];
  else work.set(name, { builtin: false, policy: "-", packets: 0n, bytes: 0n, rules: [] });
}

/**
 * A command line, with its `[packets:bytes]` prefix (taken with `--counters`;
 * ip6tables-nft ignores it); what nf_tables refuses is kept for COMMIT.
 */
function applyCommandLine(
  kernel: FakeKernel,
  inv: Invocation,
  at: {
    transaction: Transaction;
    line: string;
    n: number;
    counters: boolean;
    commitLine: () => number | undefined;
  },
): void {
  const cur = at.transaction;
  let tokens = tokenizeRestoreLine(at.line);
  let lineCounters: [bigint, bigint] | undefined;
  const m = /^\[(\d+):(\d+)\]$/.exec(tokens[0] ?? "");
  if (m) {
    if (at.counters) lineCounters = [BigInt(m[1]!), BigInt(m[2]!)];
    tokens = tokens.slice(1);
  }
  if (inv.backend === "nft" && inv.family === 6) lineCounters = undefined;
  try {
    applyCommand({
      inv,
      table: cur.name,
      work: cur.work,
      line: at.n,
      lineCounters,
      commitLine: at.commitLine,
      ipsets: kernel.ipsets,
      unsupported: kernel.unsupported,
    }, tokens);
  } catch (e) {
    if (!(e instanceof KernelReject)) throw e;
    cur.rejects.push(e);
  }
}

/** The line of the `COMMIT` that ends the table the line at `from` is in, if any. */
function findCommit(lines: readonly string[], from: number): number | undefined {
  for (let i = from + 1; i < lines.length; i++) {
    if (lines[i] === "COMMIT") return i + 1;
    if (lines[i]!.startsWith("*")) return undefined;
  }
  return undefined;
}
