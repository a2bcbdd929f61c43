/**
 * Which owned chains are reachable from the kernel, and through which hooks.
 *
 * Computed from the whole desired state each time it changes, instead of the
 * reference's incremental reference counts (whose update order leaked
 * references in one edge case): a chain is programmed iff a jump or goto path
 * leads to it from a rule inserted or appended to a kernel (or foreign) chain.
 *
 * @module
 */
import { isReferrer } from "../../dsl/action.ts";
import type { Chain, Rule } from "../../dsl/rule.ts";
import { ChainLoopError, DanglingReferenceError } from "./errors.ts";
import { type HookSet, isKernelChain, type TableName } from "../../dsl/kernel_chains.ts";

export type { HookSet };

/** Inputs of {@linkcode computeReachability}. */
export interface ReachabilityInput {
  /** The table. */
  table: TableName;
  /** Owned chains that are defined. */
  chains: ReadonlyMap<string, Chain>;
  /** Rule lists of kernel and foreign chains (insertions and appends). */
  roots: ReadonlyMap<string, readonly (readonly Rule[])[]>;
  /** Tells whether a chain name is ours. */
  isOwnedChain(name: string): boolean;
  /**
   * The jumps to owned chains among an owned chain's rules (as
   * {@linkcode ownedJumps} finds them), when the caller keeps them per rule
   * list: a large table then costs a walk over its jumps, not its rules.
   */
  jumpsOf?: ((chain: string) => readonly OwnedJump[]) | undefined;
}

/** A rule that jumps (or goes) to an owned chain. */
export interface OwnedJump {
  /** The rule's index in its chain. */
  ruleIndex: number;
  /** The owned chain it jumps to. */
  target: string;
}

/** The rules of `rules` that jump or go to an owned chain, in order. */
export function ownedJumps(
  rules: readonly Rule[],
  isOwnedChain: (name: string) => boolean,
): OwnedJump[] {
  const out: OwnedJump[] = [];
  for (let i = 0; i < rules.length; i++) {
    const action = rules[i]!.action;
    if (isReferrer(action) && isOwnedChain(action.target)) {
      out.push({ ruleIndex: i, target: action.target });
    }
  }
  return out;
}

/**
 * Finds the reachable owned chains and the hooks each is reached from.
 *
 * @throws {DanglingReferenceError} when a reachable rule jumps to an owned chain that is not defined.
 * @throws {ChainLoopError} when reachable owned chains jump to each other in a loop.
 */
export function computeReachability(input: ReachabilityInput): Map<string, HookSet> {
  const reached = new Map<string, HookSet>();
  const queue: string[] = [];
  // Without the caller's jumps, each chain's are found once (the walk and
  // the loop check both read them).
  const found = new Map<string, readonly OwnedJump[]>();
  const jumpsOf = input.jumpsOf ?? ((name: string) => {
    let jumps = found.get(name);
    if (jumps === undefined) {
      jumps = ownedJumps(input.chains.get(name)!.rules, input.isOwnedChain);
      found.set(name, jumps);
    }
    return jumps;
  });
  function visit(from: string, jumps: readonly OwnedJump[], hooks: HookSet): void {
    for (const { ruleIndex: i, target } of jumps) {
      if (!input.chains.has(target)) {
        throw new DanglingReferenceError(
          `Rule ${
            i + 1
          } of chain "${from}" jumps to owned chain "${target}", which is not defined: ` +
            `add it with updateChain() or remove the rule`,
          { fromChain: from, toChain: target, ruleIndex: i },
        );
      }
      const old = reached.get(target);
      if (old === null) continue; // reached from an unknown hook already: nothing can grow
      let next: HookSet;
      if (old === undefined) next = hooks === null ? null : new Set(hooks);
      else if (hooks === null) next = null;
      else {
        const grown = new Set(old);
        for (const h of hooks) grown.add(h);
        if (grown.size === old.size) continue;
        next = grown;
      }
      reached.set(target, next);
      queue.push(target);
    }
  }
  for (const [name, lists] of input.roots) {
    const hooks: HookSet = isKernelChain(input.table, name) ? new Set([name]) : null;
    for (const rules of lists) visit(name, ownedJumps(rules, input.isOwnedChain), hooks);
  }
  for (let q = 0; q < queue.length; q++) {
    const name = queue[q]!;
    visit(name, jumpsOf(name), reached.get(name)!);
  }
  checkLoops(reached, jumpsOf);
  return reached;
}

/** Depth-first search for a cycle among the reachable owned chains. */
function checkLoops(
  reached: ReadonlyMap<string, HookSet>,
  jumpsOf: (chain: string) => readonly OwnedJump[],
): void {
  const DONE = 2, ACTIVE = 1;
  const state = new Map<string, number>();
  const path: string[] = [];
  function targets(name: string): string[] {
    const out: string[] = [];
    for (const { target } of jumpsOf(name)) if (reached.has(target)) out.push(target);
    return out;
  }
  for (const root of [...reached.keys()].sort()) {
    if (state.has(root)) continue;
    // Iterative DFS: a stack of [chain, its targets, next index].
    const stack: [string, string[], number][] = [[root, targets(root), 0]];
    state.set(root, ACTIVE);
    path.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top[2] >= top[1].length) {
        state.set(top[0], DONE);
        path.pop();
        stack.pop();
        continue;
      }
      const next = top[1][top[2]++]!;
      const st = state.get(next);
      if (st === ACTIVE) throw new ChainLoopError([...path.slice(path.indexOf(next)), next]);
      if (st === DONE) continue;
      state.set(next, ACTIVE);
      path.push(next);
      stack.push([next, targets(next), 0]);
    }
  }
}
