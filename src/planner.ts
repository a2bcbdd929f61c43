/**
 * The planner: a pure function from (desired state, dataplane state) to the
 * exact iptables-restore script that brings one table in line, plus the
 * dataplane state the kernel will have once that script succeeds.
 *
 * @module
 */
import type { Features } from "../dsl/features.ts";
import { renderAppend, renderInsertAt, renderReplace, type Rule } from "../dsl/rule.ts";
import type { RuleLocation } from "./errors.ts";
import type { TableName } from "./kernel_chains.ts";
import type { DataplaneChain, DataplaneState } from "./save_parser.ts";

/** Rules with their IDs. */
export interface HashedRules {
  /** The rules, in order. */
  rules: readonly Rule[];
  /** One ID per rule. */
  hashes: readonly string[];
}

/**
 * Rules whose IDs are computed on demand: the planner asks for them only when
 * it needs them, so for a chain the kernel does not have yet (everything in it
 * is new) hashing is deferred to when the chain's lines are produced.
 */
export interface LazyHashedRules {
  /** The rules, in order. */
  rules: readonly Rule[];
  /** Computes (or returns the cached) one ID per rule. */
  hash(): readonly string[];
}

/** Desired rules of a chain we do not own (a kernel chain, or another program's). */
export interface InsertAppendLists {
  /** Rules kept at the top (insert mode) or after the foreign rules (append mode). */
  inserts: HashedRules;
  /** Rules always kept at the bottom. */
  appends: HashedRules;
}

/** Inputs of {@linkcode planTable}. */
export interface PlanInput {
  /** The table. */
  table: TableName;
  /** The backend in use. */
  backend: "nft" | "legacy";
  /** The restore binary applies several positional edits per transaction correctly. */
  positionalEdits: boolean;
  /** Where inserted rules go relative to foreign rules. */
  insertMode: "insert" | "append";
  /** The ID comment prefix. */
  hashPrefix: string;
  /** Host features (they change rendered fragments). */
  features: Features;
  /** Owned chains to program (reachable and defined). */
  owned: ReadonlyMap<string, HashedRules | LazyHashedRules>;
  /** Chains we do not own that should carry our rules. */
  foreign: ReadonlyMap<string, InsertAppendLists>;
  /** Built-in chain policies to enforce. */
  policies: ReadonlyMap<string, "ACCEPT" | "DROP">;
  /** What the kernel has now. */
  dataplane: DataplaneState;
  /** Tells whether a chain is ours. */
  isOwnedChain(name: string): boolean;
  /**
   * The text of rules we wrote to chains we do not own, by `"<chain> <id>"`.
   * Our rules are deleted by value with this text when known: iptables-save's
   * normalised text does not always parse back to the same rule (1.8.9-nft
   * prints `! --icmp-type 255` as `! --icmp-type any`, whose `-D` fails).
   */
  writtenLines?: ReadonlyMap<string, string> | undefined;
  /**
   * Chains we do not own whose rules of ours are deleted by number (bottom
   * up) instead of by value: the fallback when a delete by value failed.
   * Numbers race with other writers, so this is used only after a failure
   * and right after a fresh read.
   */
  deleteByPosition?: ReadonlySet<string> | undefined;
}

/** The planner's result. */
export interface TablePlan {
  /** The script (`""` when the table is in sync). */
  script: string;
  /** Per script line (0-based), the rule it writes, if any. */
  origins: (RuleLocation | undefined)[];
  /** The dataplane state once the script has succeeded. */
  next: DataplaneState;
  /** Number of lines in the script. */
  lineCount: number;
}

/**
 * A plan whose script is produced in chunks: everything that decides what is
 * written (and may throw) runs when it is created; rendering the rules of
 * owned chains, hashing the chains the kernel does not have yet and joining
 * the text happen while {@linkcode TablePlanStream.chunks} is iterated, so a
 * caller can feed iptables-restore while the rest is produced.
 */
export interface TablePlanStream {
  /** True when the script is empty (the table is in sync). */
  readonly empty: boolean;
  /** The chains the script writes rules to. */
  readonly writtenChains: ReadonlySet<string>;
  /**
   * The script in chunks of whole lines, in order (iterable once). Leaving
   * the iteration early does not end it: {@linkcode TablePlanStream.finish}
   * produces the rest.
   */
  readonly chunks: Iterable<string>;
  /**
   * Produces whatever `chunks` has not yet, and returns the whole plan. A
   * stream created without `keepScript` plans again (same inputs, same
   * script) to give the script and origins: meant for error reports.
   */
  finish(): TablePlan;
  /**
   * Produces whatever `chunks` has not yet, and returns the state the kernel
   * has once the script succeeded and the number of lines; cheap in every
   * mode (the success path of a streamed write).
   */
  drain(): Pick<TablePlan, "next" | "lineCount">;
}

/** Options of {@linkcode streamTablePlan}. */
export interface StreamTablePlanOptions {
  /**
   * Keep the script's text and line origins while it is produced (default
   * true). A streamed write that succeeds never reads them: not keeping them
   * spares the garbage collector a copy of the whole script (at 20k rules
   * its pauses, which stall the stream, cost more than the copy).
   */
  keepScript?: boolean;
}

/**
 * Lines per chunk of a {@linkcode TablePlanStream} (a chain's lines are never
 * split below this). Measured: growing chunks (up to 4096 lines) made a
 * streamed first load slower; 64 to 256 lines are alike.
 */
const CHUNK_LINES = 256;

/** Whether two ID lists are equal, element by element. */
export function equalLists(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class ScriptWriter {
  readonly origins: (RuleLocation | undefined)[] = [];
  readonly chunks: string[] = [];
  /** Lines written so far. */
  lines = 0;
  #pending: string[] = [];
  readonly #table: string;
  readonly #keep: boolean;
  #open = false;

  constructor(table: string, keep: boolean) {
    this.#table = table;
    this.#keep = keep;
  }

  /** Lines written and not yet taken. */
  get pending(): number {
    return this.#pending.length;
  }

  write(line: string, origin?: RuleLocation): void {
    if (!this.#open) {
      this.#pending.push(`*${this.#table}`);
      if (this.#keep) this.origins.push(undefined);
      this.lines++;
      this.#open = true;
    }
    this.#pending.push(line);
    if (this.#keep) this.origins.push(origin);
    this.lines++;
  }

  commit(): void {
    if (!this.#open) return;
    this.#pending.push("COMMIT");
    if (this.#keep) this.origins.push(undefined);
    this.lines++;
    this.#open = false;
  }

  /** The lines written since the last call, as one chunk ("" when none). */
  take(): string {
    if (this.#pending.length === 0) return "";
    const chunk = this.#pending.join("\n") + "\n";
    this.#pending = [];
    if (this.#keep) this.chunks.push(chunk);
    return chunk;
  }
}

/** Where an owned chain's old and new ID lists differ (see `writeOwnedChain`). */
interface OwnedDiff {
  /** Common prefix length. */
  p: number;
  /** Common suffix length (after the prefix). */
  s: number;
  /** Old rules between them. */
  a: number;
  /** New rules between them. */
  b: number;
}

function diffIds(prev: readonly string[], cur: readonly string[]): OwnedDiff {
  const n = prev.length, m = cur.length;
  let p = 0;
  while (p < n && p < m && prev[p] === cur[p]) p++;
  let s = 0;
  while (s < n - p && s < m - p && prev[n - 1 - s] === cur[m - 1 - s]) s++;
  return { p, s, a: n - p - s, b: m - p - s };
}

/**
 * Computes the script that brings one table from `dataplane` to the desired
 * state. Deterministic: the same inputs always give the same script.
 *
 * - Owned chains: edits from the first differing ID, skipping a common suffix
 *   of IDs, so a rule another program inserted into or deleted from our chain
 *   costs one `-D`/`-I` and every other rule keeps its counters. With nft and
 *   no positional edits (iptables < 1.8.3), the chain is flushed and rewritten.
 * - Chains we do not own: if our rules are not exactly where expected, every
 *   rule of ours is deleted by value and ours are written again; foreign rules
 *   are never touched.
 * - Stale owned chains are flushed, then deleted.
 */
export function planTable(input: PlanInput): TablePlan {
  return streamTablePlan(input).finish();
}

/**
 * {@linkcode planTable} as a stream: the same script, produced in chunks (see
 * {@linkcode TablePlanStream}). Throws, before any chunk, whatever
 * `planTable` throws.
 */
export function streamTablePlan(
  input: PlanInput,
  options: StreamTablePlanOptions = {},
): TablePlanStream {
  const keepScript = options.keepScript ?? true;
  const out = new ScriptWriter(input.table, keepScript);
  const next: DataplaneState = new Map(input.dataplane);
  const { hashPrefix, features } = input;
  const rewriteAll = input.backend === "nft" && !input.positionalEdits;
  const writtenChains = new Set<string>();
  let hasEdits = false;

  // 1. Forward references: create new owned chains, flush stale ones; policies.
  const stale: string[] = [];
  for (const [name] of input.dataplane) {
    if (input.isOwnedChain(name) && !input.owned.has(name)) stale.push(name);
  }
  stale.sort();
  const ownedNames = [...input.owned.keys()].sort();
  const rewrite = new Set<string>();
  // Per owned chain: its rules, its IDs when already known, and the edit.
  const ownedPlans: {
    name: string;
    rules: readonly Rule[];
    hashes: readonly string[] | (() => readonly string[]);
    diff: OwnedDiff;
  }[] = [];
  for (const name of ownedNames) {
    const prev = input.dataplane.get(name);
    const cur = input.owned.get(name)!;
    if (prev === undefined) {
      // New chain: everything is written, so its IDs can wait.
      rewrite.add(name);
      const hashes = "hash" in cur ? () => cur.hash() : cur.hashes;
      const m = cur.rules.length;
      ownedPlans.push({ name, rules: cur.rules, hashes, diff: { p: 0, s: 0, a: 0, b: m } });
      continue;
    }
    const hashes = "hash" in cur ? cur.hash() : cur.hashes;
    const rewritten = rewriteAll && !equalLists(prev.hashes, hashes);
    if (rewritten) rewrite.add(name);
    const diff = diffIds(rewritten ? [] : prev.hashes, hashes);
    if (diff.a > 0 || diff.b > 0) hasEdits = true;
    ownedPlans.push({ name, rules: cur.rules, hashes, diff });
  }
  for (const { name, diff } of ownedPlans) if (diff.b > 0) writtenChains.add(name);
  const declare = [...rewrite, ...stale].sort();
  for (const name of declare) out.write(`:${name} - [0:0]`);
  for (const [chain, policy] of [...input.policies].sort(([a], [b]) => a < b ? -1 : 1)) {
    const prev = input.dataplane.get(chain);
    if (prev !== undefined && prev.policy !== policy) {
      out.write(`:${chain} ${policy} [0:0]`);
      next.set(chain, { ...prev, policy });
    }
  }

  // 3 (decided now, written after step 2). Chains we do not own: kernel
  // chains first (save order), then others by name.
  const foreignNames = new Set<string>(input.foreign.keys());
  for (const [name, chain] of input.dataplane) {
    if (!input.isOwnedChain(name) && chain.hashes.some((h) => h !== "")) foreignNames.add(name);
  }
  const order = [...input.dataplane.keys()];
  const sortedForeign = [...foreignNames].sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    if (ia >= 0 && ib >= 0) return ia - ib;
    if (ia >= 0) return -1;
    if (ib >= 0) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const foreignLines: { line: string; origin: RuleLocation | undefined }[] = [];
  const foreignNext: [string, DataplaneChain][] = [];
  for (const name of sortedForeign) {
    const prev = input.dataplane.get(name) ?? { policy: "-", hashes: [], lines: [] };
    const lists = input.foreign.get(name) ?? EMPTY_LISTS;
    const write = (line: string, origin?: RuleLocation) => {
      foreignLines.push({ line, origin });
      if (origin !== undefined) writtenChains.add(origin.chain);
    };
    const updated = writeForeignChain(write, name, prev, lists, input);
    if (updated !== undefined) foreignNext.push([name, updated]);
  }

  const empty = declare.length === 0 && out.pending === 0 && !hasEdits &&
    foreignLines.length === 0;

  function* produce(): Generator<string, void, undefined> {
    // 2. Owned chain contents.
    for (const { name, rules, hashes, diff } of ownedPlans) {
      const ids = typeof hashes === "function" ? hashes() : hashes;
      yield* writeOwnedChain(out, name, diff, { rules, hashes: ids }, hashPrefix, features);
      // A chain the script leaves as it is keeps its entry (copied from the
      // dataplane state): copying the IDs of every chain of a large table on
      // each small write was a measurable part of the write.
      if (diff.a > 0 || diff.b > 0 || !next.has(name)) {
        next.set(name, { policy: "-", hashes: [...ids], lines: [] });
      }
      if (out.pending >= CHUNK_LINES) yield out.take();
    }
    // 3. Chains we do not own.
    for (const { line, origin } of foreignLines) out.write(line, origin);
    for (const [name, updated] of foreignNext) {
      // Keep a policy step 1 just wrote (`prev` is the state before this script).
      next.set(name, { ...updated, policy: next.get(name)?.policy ?? updated.policy });
    }
    // 4. Deletions (flushed in step 1).
    if (stale.length > 0 && rewriteAll) {
      out.commit();
      for (const name of stale) out.write(`:${name} - [0:0]`);
    }
    for (const name of stale) {
      out.write(`-X ${name}`);
      next.delete(name);
    }
    out.commit();
    const last = out.take();
    if (last !== "") yield last;
  }

  const generator = produce();
  let done = false;
  function step(): IteratorResult<string, void> {
    if (done) return { done: true, value: undefined };
    try {
      const r = generator.next();
      if (r.done) done = true;
      return r;
    } catch (e) {
      done = true;
      throw e;
    }
  }
  let plan: TablePlan | undefined;
  function drain(): Pick<TablePlan, "next" | "lineCount"> {
    while (!step().done) { /* produce the rest */ }
    return { next, lineCount: out.lines };
  }
  return {
    empty,
    writtenChains,
    chunks: { [Symbol.iterator]: () => ({ next: step }) },
    drain,
    finish(): TablePlan {
      if (plan !== undefined) return plan;
      const { lineCount } = drain();
      if (keepScript) {
        plan = {
          script: lineCount === 0 ? "" : out.chunks.join(""),
          origins: out.origins,
          next,
          lineCount,
        };
      } else {
        // Planned again from the same inputs: the same script, kept this time.
        const again = streamTablePlan(input).finish();
        plan = { script: again.script, origins: again.origins, next, lineCount };
      }
      return plan;
    },
  };
}

const EMPTY_LISTS: InsertAppendLists = {
  inserts: { rules: [], hashes: [] },
  appends: { rules: [], hashes: [] },
};

function* writeOwnedChain(
  out: ScriptWriter,
  name: string,
  diff: OwnedDiff,
  cur: HashedRules,
  hashPrefix: string,
  features: Features,
): Generator<string, void, undefined> {
  const curHashes = cur.hashes;
  const { p, s, a, b } = diff;
  const common = Math.min(a, b);
  const at = (i: number): RuleLocation => ({ chain: name, ruleIndex: i, list: "chain" });
  for (let i = 0; i < common; i++) {
    const idx = p + i;
    out.write(
      renderReplace(cur.rules[idx]!, name, {
        position: idx + 1,
        hash: curHashes[idx]!,
        hashPrefix,
        features,
      }),
      at(idx),
    );
    if (out.pending >= CHUNK_LINES) yield out.take();
  }
  for (let i = b; i < a; i++) out.write(`-D ${name} ${p + b + 1}`);
  for (let j = a; j < b; j++) {
    const idx = p + j;
    const opts = { hash: curHashes[idx]!, hashPrefix, features };
    out.write(
      s === 0
        ? renderAppend(cur.rules[idx]!, name, opts)
        : renderInsertAt(cur.rules[idx]!, name, { ...opts, position: idx + 1 }),
      at(idx),
    );
    if (out.pending >= CHUNK_LINES) yield out.take();
  }
}

function writeForeignChain(
  write: (line: string, origin?: RuleLocation) => void,
  name: string,
  prev: DataplaneChain,
  lists: InsertAppendLists,
  input: PlanInput,
): DataplaneChain | undefined {
  const numForeign = prev.hashes.reduce((n, h) => h === "" ? n + 1 : n, 0);
  const foreignBlock = new Array<string>(numForeign).fill("");
  const ins = lists.inserts.hashes, app = lists.appends.hashes;
  const expected = input.insertMode === "insert"
    ? [...ins, ...foreignBlock, ...app]
    : [...foreignBlock, ...ins, ...app];
  if (equalLists(prev.hashes, expected)) return undefined;
  const { hashPrefix, features } = input;
  const insLines = lists.inserts.rules.map((rule, i) =>
    renderAppend(rule, name, { hash: ins[i]!, hashPrefix, features })
  );
  const appLines = lists.appends.rules.map((rule, i) =>
    renderAppend(rule, name, { hash: app[i]!, hashPrefix, features })
  );
  // Delete by the text we write (same ID, same text), else by what we wrote
  // before, else by the saved text.
  const rendered = new Map<string, string>();
  ins.forEach((id, i) => rendered.set(id, insLines[i]!));
  app.forEach((id, i) => rendered.set(id, appLines[i]!));
  if (input.deleteByPosition?.has(name)) {
    for (let i = prev.hashes.length - 1; i >= 0; i--) {
      if (prev.hashes[i] !== "") write(`-D ${name} ${i + 1}`);
    }
  }
  for (let i = 0; i < prev.hashes.length; i++) {
    const id = prev.hashes[i]!;
    if (id === "" || input.deleteByPosition?.has(name)) continue;
    const line = rendered.get(id) ?? input.writtenLines?.get(`${name} ${id}`) ?? prev.lines[i];
    if (line === undefined || !line.startsWith("-A ")) {
      throw new Error(`Cannot delete rule ${i + 1} of chain "${name}": its saved text is unknown`);
    }
    write("-D " + line.slice(3));
  }
  if (input.insertMode === "insert") {
    for (let i = insLines.length - 1; i >= 0; i--) {
      write("-I " + name + insLines[i]!.slice(3 + name.length), {
        chain: name,
        ruleIndex: i,
        list: "insert",
      });
    }
  } else {
    insLines.forEach((l, i) => write(l, { chain: name, ruleIndex: i, list: "insert" }));
  }
  appLines.forEach((l, i) => write(l, { chain: name, ruleIndex: i, list: "append" }));
  const foreignLines = new Array<string>(numForeign).fill("");
  return {
    policy: prev.policy,
    hashes: expected,
    lines: input.insertMode === "insert"
      ? [...insLines, ...foreignLines, ...appLines]
      : [...foreignLines, ...insLines, ...appLines],
  };
}
