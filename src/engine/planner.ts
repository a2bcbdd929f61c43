/**
 * The planner: a pure function from (desired state, dataplane state) to the
 * exact iptables-restore script that brings one table in line, plus the
 * dataplane state the kernel will have once that script succeeds. It takes
 * data only (rules, their IDs where the kernel has the chain, the kernel's
 * state) and calls nothing back: the IDs of a chain the kernel does not have
 * yet may be left out, and are then computed as its lines are produced
 * ({@linkcode TablePlanStream.createdChains} tells which, with their IDs).
 *
 * @module
 */
import type { Features } from "../../dsl/features.ts";
import { calculateRuleIds, type RuleIds } from "../../dsl/hash.ts";
import { renderAppend, renderInsertAt, renderReplace, type Rule } from "../../dsl/rule.ts";
import { diffIds, diffIdsAtEnds, type EditBlock } from "./edit_script.ts";
import type { RuleLocation } from "./errors.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { DataplaneChain, DataplaneState } from "./dataplane.ts";
import { OLD_INSERT_RULE } from "../host/save_parser.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** Rules with their IDs. */
export interface HashedRules {
  /** The rules, in order. */
  rules: readonly Rule[];
  /** One ID per rule. */
  hashes: readonly string[];
}

/**
 * The rules of an owned chain, with their IDs when known. A chain the kernel
 * does not have yet may come without them: everything in it is new, so the
 * planner computes them (`calculateRuleIds` with the plan's `ruleIds` and
 * `features`) only when the chain's lines are produced.
 */
export interface OwnedRules {
  /** The rules, in order. */
  rules: readonly Rule[];
  /** One ID per rule; needed for a chain the kernel has. */
  hashes?: readonly string[] | undefined;
}

/** A chain the kernel does not have, as the script creates it. */
export interface CreatedChain {
  /** The chain. */
  name: string;
  /** The IDs its rules are written with. */
  hashes: readonly string[];
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
  backend: IptablesVariant;
  /** The restore binary applies several positional edits per transaction correctly. */
  positionalEdits: boolean;
  /** Where inserted rules go relative to foreign rules. */
  insertMode: "insert" | "append";
  /** The ID comment prefix. */
  hashPrefix: string;
  /**
   * How the IDs were computed. With `"stable"` IDs (the default), owned
   * chains are edited along a longest common subsequence of IDs, and our
   * rules in chains we do not own are deleted and inserted one by one; with
   * `"chained"` IDs, owned chains are edited from the first ID that differs
   * and our rules in a chain we do not own are all written again when any
   * of them is not where expected.
   */
  ruleIds?: RuleIds | undefined;
  /** Host features (they change rendered fragments). */
  features: Features;
  /** Owned chains to program (reachable and defined). */
  owned: ReadonlyMap<string, OwnedRules>;
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
   * The owned chains the kernel does not have, in the order their lines are
   * produced, each with the IDs it is written with; grows as
   * {@linkcode TablePlanStream.chunks} is taken (a chain is listed before
   * the chunk that holds its first line is handed out). A caller checks
   * each one here before passing its chunk on.
   */
  readonly createdChains: readonly CreatedChain[];
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

  /** Whether the script's text and origins are kept. */
  get keepsScript(): boolean {
    return this.#keep;
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

/**
 * Relative costs of writing an owned chain, in units of one rule appended to
 * a chain (fitted to restores of iptables 1.8.9 on chains of 100 and 20,000
 * rules, both backends; see `editCosts`). On nft, the first positional line
 * (`-R`, `-D n`, `-I n`) of a transaction makes iptables read every rule of
 * that chain from the kernel, each positional line walks the chain to its
 * position, and a flush deletes every old rule one by one; on legacy, the
 * whole table is read and written whatever the script (a cost common to both
 * ways, left out), and a positional line walks the chain more cheaply.
 */
const WRITE_COST = {
  nft: { readPerRule: 0.75, perLine: 0.5, positionsPerUnit: 200, flushPerRule: 0.25 },
  legacy: { readPerRule: 0, perLine: 0.35, positionsPerUnit: 2000, flushPerRule: 0 },
} as const;

/**
 * Owned chains are flushed and rewritten only when that saves more than this
 * over the whole table (about 13 ms of iptables' time): a rewrite resets the
 * counters of the chain's unchanged rules, so a few milliseconds are not
 * worth it.
 */
const MIN_REWRITE_SAVING = 500;

/**
 * The cost of editing an owned chain (the positional lines `writeOwnedChain`
 * writes, each at its position in the chain as the script changes it, plus
 * reading the chain on nft) and of flushing it and appending every rule.
 */
function editCosts(
  blocks: readonly EditBlock[],
  prevLength: number,
  curLength: number,
  backend: IptablesVariant,
): { edit: number; rewrite: number } {
  const { readPerRule, perLine, positionsPerUnit, flushPerRule } = WRITE_COST[backend];
  let edit = 0;
  let positional = false;
  for (const { oldStart, oldCount, newStart, newCount } of blocks) {
    const replaced = Math.min(oldCount, newCount);
    // Replacements at newStart+1…, deletions at newStart+replaced+1, insertions after.
    if (replaced > 0) {
      edit += replaced * (perLine + (newStart + replaced / 2) / positionsPerUnit);
    }
    if (oldCount > replaced) {
      edit += (oldCount - replaced) * (perLine + (newStart + replaced) / positionsPerUnit);
    }
    if (newCount > replaced) {
      const added = newCount - replaced;
      if (oldStart + oldCount === prevLength) edit += added; // appended
      else edit += added * (perLine + (newStart + replaced + added / 2) / positionsPerUnit);
    }
    positional ||= replaced > 0 || oldCount > replaced || oldStart + oldCount < prevLength;
  }
  if (positional) edit += readPerRule * prevLength;
  return { edit, rewrite: curLength + flushPerRule * prevLength };
}

/**
 * Computes the script that brings one table from `dataplane` to the desired
 * state. Deterministic: the same inputs always give the same script.
 *
 * - Owned chains: positional `-R`/`-D`/`-I`/`-A` along a longest common
 *   subsequence of IDs (stable IDs; with chained IDs, from the first ID that
 *   differs, skipping a common suffix), so a changed rule, or a rule another
 *   program inserted into or deleted from our chain, costs one line and every
 *   other rule keeps its counters. Chains that change so much that editing
 *   them costs more than writing them again are flushed and rewritten
 *   instead, when that saves a measurable time (`editCosts`), and so is every
 *   changed chain with nft and no positional edits (iptables < 1.8.3).
 * - Chains we do not own: with stable IDs, the rules of ours that went away
 *   are deleted by value and the new ones inserted at their place; with
 *   chained IDs (or old nft), if our rules are not exactly where expected,
 *   every rule of ours is deleted by value and ours are written again.
 *   Foreign rules are never touched.
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
  const owned = planOwnedChains(input);
  const declared = declareChains(out, next, owned, input);
  const foreign = planForeignChains(input);
  const writtenChains = new Set<string>();
  for (const { name, blocks } of owned.plans) {
    if (blocks.some((b) => b.newCount > 0)) writtenChains.add(name);
  }
  for (const name of foreign.writtenChains) writtenChains.add(name);
  const empty = declared === 0 && out.pending === 0 && !owned.hasEdits &&
    foreign.lines.length === 0;
  const created: CreatedChain[] = [];
  const produced = produceScript(out, next, { owned, foreign, created }, input);
  return planStream(produced, {
    empty,
    writtenChains,
    created,
    out,
    next,
    // Planned again from the same inputs (the IDs computed so far included):
    // the same script, kept this time.
    again: () => streamTablePlan(withCreatedIds(input, created)).finish(),
  });
}

const EMPTY_EDIT: EditBlock[] = [];

/** One owned chain's part of the plan. */
interface OwnedChainPlan {
  name: string;
  rules: readonly Rule[];
  /** The IDs, when known before the chain's lines are produced. */
  hashes: readonly string[] | undefined;
  /** The kernel does not have the chain. */
  created: boolean;
  /** Runs of the kernel's IDs to replace (against an empty chain when created or rewritten). */
  blocks: EditBlock[];
  /** Rules the kernel has in the chain before the edit (0 when rewritten). */
  prevLength: number;
}

/** What the script does to owned chains. */
interface OwnedChainsPlan {
  /** Every owned chain to program, by name. */
  plans: OwnedChainPlan[];
  /** The chains the script (re)creates: declared, then written whole. */
  rewrite: Set<string>;
  /** Owned chains the kernel has that are no longer wanted, by name. */
  stale: string[];
  /** Some chain the kernel has changes. */
  hasEdits: boolean;
}

/** An edit that writes every rule of an empty chain. */
function writeAll(m: number): EditBlock[] {
  return m === 0 ? EMPTY_EDIT : [{ oldStart: 0, oldCount: 0, newStart: 0, newCount: m }];
}

/**
 * Decides the edit of every owned chain: created chains are written whole,
 * chains the kernel has are edited along their IDs (or rewritten when that
 * is cheaper, see {@linkcode chooseRewrites}), and stale ones go.
 */
function planOwnedChains(input: PlanInput): OwnedChainsPlan {
  const rewriteAll = input.backend === "nft" && !input.positionalEdits;
  const chained = input.ruleIds === "chained";
  const stale: string[] = [];
  for (const [name] of input.dataplane) {
    if (input.isOwnedChain(name) && !input.owned.has(name)) stale.push(name);
  }
  stale.sort();
  const rewrite = new Set<string>();
  const plans: OwnedChainPlan[] = [];
  let hasEdits = false;
  for (const name of [...input.owned.keys()].sort()) {
    const prev = input.dataplane.get(name);
    const { rules, hashes } = input.owned.get(name)!;
    if (prev === undefined) {
      // A new chain: everything is written, so its IDs can wait.
      rewrite.add(name);
      plans.push({
        name,
        rules,
        hashes,
        created: true,
        blocks: writeAll(rules.length),
        prevLength: 0,
      });
      continue;
    }
    const ids = hashes ?? idsOf(name, rules, input);
    const blocks = chained ? diffIdsAtEnds(prev.hashes, ids) : diffIds(prev.hashes, ids);
    if (blocks.length > 0) {
      hasEdits = true;
      if (rewriteAll) rewrite.add(name);
    }
    plans.push({
      name,
      rules,
      hashes: ids,
      created: false,
      blocks,
      prevLength: prev.hashes.length,
    });
  }
  if (!rewriteAll) chooseRewrites(plans, input.backend, rewrite);
  for (const plan of plans) {
    if (plan.prevLength > 0 && rewrite.has(plan.name)) {
      plan.blocks = writeAll(plan.rules.length);
      plan.prevLength = 0;
    }
  }
  return { plans, rewrite, stale, hasEdits };
}

/**
 * Adds to `rewrite` the edited chains that a flush and a full write would
 * make cheaper, when they save more than {@linkcode MIN_REWRITE_SAVING} in
 * all (see {@linkcode editCosts}).
 */
function chooseRewrites(
  plans: readonly OwnedChainPlan[],
  backend: IptablesVariant,
  rewrite: Set<string>,
): void {
  const cheaper: string[] = [];
  let saving = 0;
  for (const { name, blocks, prevLength, rules, created } of plans) {
    if (created || blocks.length === 0) continue;
    const { edit, rewrite: fresh } = editCosts(blocks, prevLength, rules.length, backend);
    if (edit > fresh) {
      cheaper.push(name);
      saving += edit - fresh;
    }
  }
  if (saving > MIN_REWRITE_SAVING) { for (const name of cheaper) rewrite.add(name); }
}

/** The IDs of an owned chain's rules, as the table computes them. */
function idsOf(name: string, rules: readonly Rule[], input: PlanInput): readonly string[] {
  return calculateRuleIds(name, rules, {
    ...(input.ruleIds === undefined ? {} : { ruleIds: input.ruleIds }),
    features: input.features,
  });
}

/**
 * Step 1 of the script (forward references): declares the chains it creates
 * or flushes, and sets the built-in chain policies that change.
 *
 * @returns The number of chains declared.
 */
function declareChains(
  out: ScriptWriter,
  next: DataplaneState,
  owned: OwnedChainsPlan,
  input: PlanInput,
): number {
  const declare = [...owned.rewrite, ...owned.stale].sort();
  for (const name of declare) out.write(`:${name} - [0:0]`);
  for (const [chain, policy] of [...input.policies].sort(([a], [b]) => a < b ? -1 : 1)) {
    const prev = input.dataplane.get(chain);
    if (prev !== undefined && prev.policy !== policy) {
      out.write(`:${chain} ${policy} [0:0]`);
      next.set(chain, { ...prev, policy });
    }
  }
  return declare.length;
}

/** What the script does to chains we do not own (decided before any line is produced). */
interface ForeignChainsPlan {
  /** Their lines, in order, with the rule each one writes. */
  lines: { line: string; origin: RuleLocation | undefined }[];
  /** Their state once the script has succeeded, for the chains it changes. */
  next: [string, DataplaneChain][];
  /** The chains those lines write rules to. */
  writtenChains: Set<string>;
}

/**
 * Decides the lines of chains we do not own that carry our rules (or did):
 * kernel chains first (in save order), then others by name.
 */
function planForeignChains(input: PlanInput): ForeignChainsPlan {
  const names = new Set<string>(input.foreign.keys());
  for (const [name, chain] of input.dataplane) {
    if (!input.isOwnedChain(name) && chain.hashes.some((h) => h !== "")) names.add(name);
  }
  const order = [...input.dataplane.keys()];
  const sorted = [...names].sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    if (ia >= 0 && ib >= 0) return ia - ib;
    if (ia >= 0) return -1;
    if (ib >= 0) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const plan: ForeignChainsPlan = { lines: [], next: [], writtenChains: new Set() };
  const write = (line: string, origin?: RuleLocation) => {
    plan.lines.push({ line, origin });
    if (origin !== undefined) plan.writtenChains.add(origin.chain);
  };
  for (const name of sorted) {
    const prev = input.dataplane.get(name) ?? { policy: "-", hashes: [], lines: [] };
    const lists = input.foreign.get(name) ?? EMPTY_LISTS;
    const updated = writeForeignChain(write, name, prev, lists, input);
    if (updated !== undefined) plan.next.push([name, updated]);
  }
  return plan;
}

/**
 * Steps 2 to 4 of the script, in chunks: the contents of owned chains (the
 * IDs of created chains computed, and listed in `created`, as they come),
 * the lines of chains we do not own, then the deletion of stale chains.
 * Fills `next` with the state each step leaves.
 */
function* produceScript(
  out: ScriptWriter,
  next: DataplaneState,
  plan: { owned: OwnedChainsPlan; foreign: ForeignChainsPlan; created: CreatedChain[] },
  input: PlanInput,
): Generator<string, void, undefined> {
  const { hashPrefix, features } = input;
  const { owned, foreign, created } = plan;
  // 2. Owned chain contents.
  for (const chain of owned.plans) {
    const { name, rules, blocks, prevLength } = chain;
    const ids = chain.hashes ?? idsOf(name, rules, input);
    if (chain.created) created.push({ name, hashes: ids });
    const cur = { rules, hashes: ids };
    yield* writeOwnedChain(out, name, { blocks, prevLength }, cur, { hashPrefix, features });
    // A chain the script leaves as it is keeps its entry (copied from the
    // dataplane state): copying the IDs of every chain of a large table on
    // each small write was a measurable part of the write.
    if (blocks.length > 0 || owned.rewrite.has(name)) {
      next.set(name, { policy: "-", hashes: [...ids], lines: [] });
    }
    if (out.pending >= CHUNK_LINES) yield out.take();
  }
  // 3. Chains we do not own.
  for (const { line, origin } of foreign.lines) out.write(line, origin);
  for (const [name, updated] of foreign.next) {
    // Keep a policy step 1 just wrote (`prev` is the state before this script).
    next.set(name, { ...updated, policy: next.get(name)?.policy ?? updated.policy });
  }
  // 4. Deletions (flushed in step 1).
  const { stale } = owned;
  if (stale.length > 0 && input.backend === "nft" && !input.positionalEdits) {
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

/** The plan's input with the IDs of the chains already created filled in. */
function withCreatedIds(input: PlanInput, created: readonly CreatedChain[]): PlanInput {
  if (created.length === 0) return input;
  const owned = new Map(input.owned);
  for (const { name, hashes } of created) {
    owned.set(name, { rules: owned.get(name)!.rules, hashes });
  }
  return { ...input, owned };
}

/**
 * The {@linkcode TablePlanStream} over a script's producer: chunks taken one
 * by one, the rest produced on `drain()`/`finish()`, and the whole plan once.
 */
function planStream(
  produced: Generator<string, void, undefined>,
  plan: {
    empty: boolean;
    writtenChains: ReadonlySet<string>;
    created: readonly CreatedChain[];
    out: ScriptWriter;
    next: DataplaneState;
    /** The whole plan, planned again, when the script was not kept. */
    again: () => TablePlan;
  },
): TablePlanStream {
  const { out, next } = plan;
  let done = false;
  function step(): IteratorResult<string, void> {
    if (done) return { done: true, value: undefined };
    try {
      const r = produced.next();
      if (r.done) done = true;
      return r;
    } catch (e) {
      done = true;
      throw e;
    }
  }
  function drain(): Pick<TablePlan, "next" | "lineCount"> {
    while (!step().done) { /* produce the rest */ }
    return { next, lineCount: out.lines };
  }
  let whole: TablePlan | undefined;
  return {
    empty: plan.empty,
    writtenChains: plan.writtenChains,
    createdChains: plan.created,
    chunks: { [Symbol.iterator]: () => ({ next: step }) },
    drain,
    finish(): TablePlan {
      if (whole !== undefined) return whole;
      const { lineCount } = drain();
      if (out.keepsScript) {
        whole = {
          script: lineCount === 0 ? "" : out.chunks.join(""),
          origins: out.origins,
          next,
          lineCount,
        };
      } else {
        const again = plan.again();
        whole = { script: again.script, origins: again.origins, next, lineCount };
      }
      return whole;
    },
  };
}

const EMPTY_LISTS: InsertAppendLists = {
  inserts: { rules: [], hashes: [] },
  appends: { rules: [], hashes: [] },
};

/**
 * Writes the edit of one owned chain: for each run, replacements first, then
 * deletions, then insertions (appends when nothing of the old chain follows),
 * at positions in the chain as the lines before have changed it. Everything
 * before a run is already as wanted, so the run's first new rule goes at
 * position `newStart + 1`.
 */
function* writeOwnedChain(
  out: ScriptWriter,
  name: string,
  edit: { blocks: readonly EditBlock[]; prevLength: number },
  cur: HashedRules,
  render: { hashPrefix: string; features: Features },
): Generator<string, void, undefined> {
  const { rules, hashes } = cur;
  const { hashPrefix, features } = render;
  const at = (i: number): RuleLocation => ({ chain: name, ruleIndex: i, list: "chain" });
  for (const { oldStart, oldCount, newStart, newCount } of edit.blocks) {
    const replaced = Math.min(oldCount, newCount);
    for (let idx = newStart; idx < newStart + replaced; idx++) {
      out.write(
        renderReplace(rules[idx]!, name, {
          position: idx + 1,
          hash: hashes[idx]!,
          hashPrefix,
          features,
        }),
        at(idx),
      );
      if (out.pending >= CHUNK_LINES) yield out.take();
    }
    for (let i = replaced; i < oldCount; i++) out.write(`-D ${name} ${newStart + replaced + 1}`);
    const last = oldStart + oldCount === edit.prevLength;
    for (let idx = newStart + replaced; idx < newStart + newCount; idx++) {
      const opts = { hash: hashes[idx]!, hashPrefix, features };
      out.write(
        last
          ? renderAppend(rules[idx]!, name, opts)
          : renderInsertAt(rules[idx]!, name, { ...opts, position: idx + 1 }),
        at(idx),
      );
      if (out.pending >= CHUNK_LINES) yield out.take();
    }
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
  const deleteLine = (i: number): string => {
    const id = prev.hashes[i]!;
    const line = rendered.get(id) ?? input.writtenLines?.get(`${name} ${id}`) ?? prev.lines[i];
    if (line === undefined || !line.startsWith("-A ")) {
      throw new Error(`Cannot delete rule ${i + 1} of chain "${name}": its saved text is unknown`);
    }
    return "-D " + line.slice(3);
  };
  const listed = { ins, app, insLines, appLines };
  if (
    input.ruleIds === "chained" || (input.backend === "nft" && !input.positionalEdits) ||
    !editForeignChain(write, name, prev, listed, { ...input, deleteLine })
  ) {
    rewriteForeignChain(write, name, prev, listed, { ...input, deleteLine });
  }
  const foreignLines = new Array<string>(numForeign).fill("");
  return {
    policy: prev.policy,
    hashes: expected,
    lines: input.insertMode === "insert"
      ? [...insLines, ...foreignLines, ...appLines]
      : [...foreignLines, ...insLines, ...appLines],
  };
}

/** Our rules for a chain we do not own: IDs and rendered `-A` lines. */
interface ForeignLists {
  ins: readonly string[];
  app: readonly string[];
  insLines: readonly string[];
  appLines: readonly string[];
}

/** What writing our rules into a chain we do not own needs of the plan's input. */
interface ForeignInput {
  insertMode: "insert" | "append";
  deleteByPosition?: ReadonlySet<string> | undefined;
  /** The `-D` line that deletes rule `i` (of the kernel's chain) by value. */
  deleteLine(i: number): string;
}

/**
 * Deletes every rule of ours from a chain we do not own (by value; by number,
 * bottom up, after a failed delete by value) and writes them all again: the
 * edit of chained IDs, and the fallback when the kernel holds a rule of ours
 * twice.
 */
function rewriteForeignChain(
  write: (line: string, origin?: RuleLocation) => void,
  name: string,
  prev: DataplaneChain,
  lists: ForeignLists,
  input: ForeignInput,
): void {
  const { insLines, appLines } = lists;
  if (input.deleteByPosition?.has(name)) {
    for (let i = prev.hashes.length - 1; i >= 0; i--) {
      if (prev.hashes[i] !== "") write(`-D ${name} ${i + 1}`);
    }
  } else {
    for (let i = 0; i < prev.hashes.length; i++) {
      if (prev.hashes[i] !== "") write(input.deleteLine(i));
    }
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
}

/**
 * Edits our rules in a chain we do not own in place: our rules above the
 * first foreign rule are the top list (insert mode), those below the last
 * one the bottom list; each is brought in line along a longest common
 * subsequence of IDs. The rules of ours that go away (and any between two
 * foreign rules) are deleted by value (by number, bottom up, after a failed
 * delete by value), then the new ones are inserted at their positions in
 * the chain as the script changes it. Foreign rules are never touched, and
 * every kept rule of ours keeps its counters.
 *
 * @returns False (and writes nothing) when the kernel holds one of our IDs
 * twice: a delete by value removes the first copy, which may be the one to
 * keep.
 */
function editForeignChain(
  write: (line: string, origin?: RuleLocation) => void,
  name: string,
  prev: DataplaneChain,
  lists: ForeignLists,
  input: ForeignInput,
): boolean {
  const seen = new Set<string>();
  for (const id of prev.hashes) {
    if (id === "" || id === OLD_INSERT_RULE) continue;
    if (seen.has(id)) return false;
    seen.add(id);
  }
  // Our rules between foreign ones, as runs of kernel positions.
  const runs: number[][] = [[]];
  prev.hashes.forEach((id, i) => id === "" ? runs.push([]) : runs.at(-1)!.push(i));
  const numForeign = runs.length - 1;
  interface Wanted {
    id: string;
    line: string;
    origin: RuleLocation;
  }
  const wanted = (ids: readonly string[], lines: readonly string[], list: "insert" | "append") =>
    ids.map((id, i): Wanted => ({
      id,
      line: lines[i]!,
      origin: { chain: name, ruleIndex: i, list },
    }));
  const insWanted = wanted(lists.ins, lists.insLines, "insert");
  const appWanted = wanted(lists.app, lists.appLines, "append");
  const top = input.insertMode === "insert" ? insWanted : [];
  const bottom = input.insertMode === "insert" ? appWanted : [...insWanted, ...appWanted];
  // Per run: what it must hold, and the edit that gets it there.
  const plans = runs.map((run, r) => {
    const want = numForeign === 0
      ? [...top, ...bottom]
      : r === 0
      ? top
      : r === numForeign
      ? bottom
      : [];
    return { run, want, blocks: diffIds(run.map((i) => prev.hashes[i]!), want.map((w) => w.id)) };
  });
  const deleted: number[] = [];
  for (const { run, blocks } of plans) {
    for (const b of blocks) deleted.push(...run.slice(b.oldStart, b.oldStart + b.oldCount));
  }
  if (input.deleteByPosition?.has(name)) {
    for (let k = deleted.length - 1; k >= 0; k--) write(`-D ${name} ${deleted[k]! + 1}`);
  } else for (const i of deleted) write(input.deleteLine(i));
  let length = prev.hashes.length - deleted.length;
  // At the end: appended, except a rule that must stay above foreign rules
  // when it is the first (a foreign rule written meanwhile goes below it).
  const insertAt = (w: Wanted, position: number) => {
    const rest = w.line.slice(3 + name.length);
    const top = input.insertMode === "insert" && w.origin.list === "insert";
    if (position === length + 1 && !(position === 1 && top)) write(w.line, w.origin);
    else if (position === 1) write(`-I ${name}${rest}`, w.origin);
    else write(`-I ${name} ${position}${rest}`, w.origin);
    length++;
  };
  const first = plans[0]!, last = plans[numForeign]!;
  for (const b of first.blocks) {
    for (let j = b.newStart; j < b.newStart + b.newCount; j++) insertAt(first.want[j]!, j + 1);
  }
  if (numForeign > 0) {
    // Below the (now complete) top list and the foreign rules.
    const base = first.want.length + numForeign;
    for (const b of last.blocks) {
      for (let j = b.newStart; j < b.newStart + b.newCount; j++) {
        insertAt(last.want[j]!, base + j + 1);
      }
    }
  }
  return true;
}
