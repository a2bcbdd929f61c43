import assert from "assert";
import { diffIds, diffIdsAtEnds, type EditBlock } from "../../src/engine/edit_script.ts";

/** Applies the runs to `prev` (using `cur` for the new IDs); returns the result and IDs kept. */
function apply(prev: string[], cur: string[], blocks: EditBlock[]): [string[], number] {
  const out: string[] = [];
  let i = 0, kept = 0;
  for (const b of blocks) {
    assert.ok(b.oldStart >= i, "runs in order");
    while (i < b.oldStart) (out.push(prev[i++]!), kept++);
    assert.equal(b.newStart, out.length, "a run starts where the result is");
    out.push(...cur.slice(b.newStart, b.newStart + b.newCount));
    i += b.oldCount;
    assert.ok(b.oldCount > 0 || b.newCount > 0, "no empty run");
  }
  while (i < prev.length) (out.push(prev[i++]!), kept++);
  return [out, kept];
}

/** Length of a longest common subsequence, by dynamic programming ("" never matches). */
function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] !== "" && a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

function check(prev: string[], cur: string[]): EditBlock[] {
  const blocks = diffIds(prev, cur);
  const [out, kept] = apply(prev, cur, blocks);
  assert.deepEqual(out, cur);
  assert.equal(kept, lcsLength(prev, cur), `${prev} -> ${cur}`);
  return blocks;
}

const ids = (s: string) => s === "" ? [] : s.split("");

Deno.test("diffIds: equal lists need no run", () => {
  assert.deepEqual(diffIds([], []), []);
  assert.deepEqual(diffIds(ids("abc"), ids("abc")), []);
});

Deno.test("diffIds: one change anywhere is one run of one", () => {
  assert.deepEqual(check(ids("abcdef"), ids("abXdef")), [
    { oldStart: 2, oldCount: 1, newStart: 2, newCount: 1 },
  ]);
  assert.deepEqual(check(ids("abcdef"), ids("abcdXef")), [
    { oldStart: 4, oldCount: 0, newStart: 4, newCount: 1 },
  ]);
  assert.deepEqual(check(ids("abcdef"), ids("bcdef")), [
    { oldStart: 0, oldCount: 1, newStart: 0, newCount: 0 },
  ]);
});

Deno.test("diffIds: scattered changes give one run each; a move is a delete and an insert", () => {
  assert.deepEqual(check(ids("abcdefgh"), ids("aXcdeYgh")), [
    { oldStart: 1, oldCount: 1, newStart: 1, newCount: 1 },
    { oldStart: 5, oldCount: 1, newStart: 5, newCount: 1 },
  ]);
  assert.deepEqual(check(ids("abcdef"), ids("bcdeaf")), [
    { oldStart: 0, oldCount: 1, newStart: 0, newCount: 0 },
    { oldStart: 5, oldCount: 0, newStart: 4, newCount: 1 },
  ]);
});

Deno.test('diffIds: foreign rules ("") never match; duplicated old IDs are kept once', () => {
  check(["a", "", "b", "", "c"], ["a", "b", "c"]);
  check(["a", "b", "a", "b", "a"], ["b", "a", "c"]);
  check(["x", "x", "x"], ["x"]);
});

Deno.test("diffIds: a longest common subsequence on random lists", () => {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let t = 0; t < 500; t++) {
    const alphabet = 2 + rand(12);
    const list = () =>
      Array.from({ length: rand(14) }, () => String.fromCharCode(97 + rand(alphabet)));
    const prev = list();
    // New lists without repeats, as stable IDs are.
    const cur = [...new Set(list())];
    check(prev, cur);
    check(prev, list());
  }
});

Deno.test("diffIds: 20k IDs, every kind of change", () => {
  const n = 20_000;
  const a = Array.from({ length: n }, (_, i) => `a${i}`);
  const middle = a.map((x, i) => i === n / 2 ? "new" : x);
  assert.deepEqual(diffIds(a, middle), [
    { oldStart: n / 2, oldCount: 1, newStart: n / 2, newCount: 1 },
  ]);
  const tenth = a.map((x, i) => i % 10 === 0 ? `b${i}` : x);
  assert.equal(diffIds(a, tenth).length, n / 10);
  const all = a.map((_, i) => `b${i}`);
  assert.deepEqual(diffIds(a, all), [{ oldStart: 0, oldCount: n, newStart: 0, newCount: n }]);
  const reversed = [...a].reverse();
  const [out, kept] = apply(a, reversed, diffIds(a, reversed));
  assert.deepEqual(out, reversed);
  assert.equal(kept, 1);
});

Deno.test("diffIdsAtEnds: at most one run, between the common prefix and suffix", () => {
  assert.deepEqual(diffIdsAtEnds(ids("abc"), ids("abc")), []);
  assert.deepEqual(diffIdsAtEnds(ids("abcdef"), ids("aXcdYf")), [
    { oldStart: 1, oldCount: 4, newStart: 1, newCount: 4 },
  ]);
  assert.deepEqual(diffIdsAtEnds(ids("ab"), ids("abc")), [
    { oldStart: 2, oldCount: 0, newStart: 2, newCount: 1 },
  ]);
});
