/**
 * The `rampart` command runs with the V8 flags of `src/cli/v8_flags.ts`
 * wherever it is started from this checkout: `deno task cli` (deno.json).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { RAMPART_V8_FLAGS } from "../../src/cli/v8_flags.ts";

Deno.test("v8 flags: deno task cli runs src/cli/main.ts with RAMPART_V8_FLAGS", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const task: string = config.tasks.cli;
  ok(task.includes(`--v8-flags=${RAMPART_V8_FLAGS}`), task);
  ok(task.endsWith(" src/cli/main.ts"), task);
});

Deno.test("v8 flags: a process started with them has the capped young generation", async () => {
  // node:v8's heap space statistics give new_space's capacity after many
  // short-lived allocations: 32 MiB with V8's default here, at most two
  // semi-spaces of 4 MiB with the flag.
  const script = `import { getHeapSpaceStatistics } from "node:v8";
const junk = [];
for (let i = 0; i < 2_000_000; i++) junk.push({ i });
const s = getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
console.log(s.space_size);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `--v8-flags=${RAMPART_V8_FLAGS}`, script],
  }).output();
  deepStrictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  const size = Number(new TextDecoder().decode(out.stdout).trim());
  ok(size > 0 && size <= 8 * 1024 * 1024 + 1024 * 1024, `new_space ${size} bytes`);
});
