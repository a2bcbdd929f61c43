import assert from "assert";
import { DenoCommandRunner, readStdinSource } from "../../mod.ts";

Deno.test("runner: stdin as a string, an iterable or an async iterable of chunks", async () => {
  const runner = new DenoCommandRunner();
  assert.equal(runner.streamsStdin, true);
  const big = "x".repeat(100_000) + "\n";
  async function* chunks() {
    yield "a\n";
    yield big;
    yield "b\n";
  }
  for (const stdin of ["a\n" + big + "b\n", ["a\n", big, "", "b\n"], chunks()]) {
    const r = await runner.run("cat", [], { stdin });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "a\n" + big + "b\n");
  }
});

Deno.test("runner: a failing source kills the command before it sees the end of its input", async () => {
  const runner = new DenoCommandRunner();
  function* chunks(): Generator<string> {
    yield "partial\n";
    throw new Error("render failed");
  }
  await assert.rejects(() => runner.run("cat", [], { stdin: chunks() }), /render failed/);
});

Deno.test("runner: a command that exits early does not consume the rest of the source", async () => {
  const runner = new DenoCommandRunner();
  let produced = 0;
  const source = {
    [Symbol.iterator]: () => ({
      next: (): IteratorResult<string> =>
        produced++ < 10_000
          ? { done: false, value: "y".repeat(65_536) }
          : { done: true, value: undefined },
    }),
  };
  const r = await runner.run("true", [], { stdin: source });
  assert.equal(r.code, 0);
  assert.ok(produced < 10_000);
});

Deno.test("runner: the timeout ends the run even when the stdin source is stuck", async () => {
  const runner = new DenoCommandRunner();
  let release = () => {};
  const stuck = new Promise<void>((resolve) => release = resolve);
  async function* chunks() {
    yield "partial\n";
    await stuck; // e.g. waiting on another command that hangs
    yield "COMMIT\n";
  }
  const r = await runner.run("cat", [], { stdin: chunks(), timeoutMs: 200 });
  assert.equal(r.timedOut, true);
  assert.equal(r.code, 137);
  assert.ok(!r.stdout.includes("COMMIT"), r.stdout);
  release();
});

Deno.test("readStdinSource joins every form", async () => {
  assert.equal(await readStdinSource("abc"), "abc");
  assert.equal(await readStdinSource(["a", "b", "c"]), "abc");
  assert.equal(
    await readStdinSource((async function* () {
      yield "a";
      yield "bc";
    })()),
    "abc",
  );
});
