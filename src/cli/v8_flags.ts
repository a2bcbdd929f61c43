/**
 * The V8 flags the `rampart` command runs with (`deno task cli`, the command
 * `deno task install` installs, and measurement 8 of the benchmarks).
 *
 * `--max-semi-space-size=4` caps V8's young generation at 4 MiB per
 * semi-space. Loading a YAML file allocates millions of short-lived objects;
 * with V8's default, the young generation grows to tens of MiB that stay
 * resident. Measured on a 20k-rule file (`rampart plan`, legacy, whole
 * process, alternating): peak RSS 174–178 MiB by default, 116–119 MiB with
 * this flag, and no slower (0.46–0.48 s against 0.51–0.55 s); 100k rules on
 * nft, `apply`: 315 MiB against 253–275 MiB, 3.7–3.8 s against 3.8–4.0 s.
 * A flag given at start-up is the only way: V8 sizes its heap before any
 * module runs (`node:v8`'s `setFlagsFromString` at run time has no effect).
 *
 * @module
 */

/**
 * The value of `--v8-flags=` for the `rampart` command.
 *
 * @example
 * ```ts
 * import { RAMPART_V8_FLAGS } from "./v8_flags.ts";
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(`--v8-flags=${RAMPART_V8_FLAGS}`, "--v8-flags=--max-semi-space-size=4");
 * ```
 */
export const RAMPART_V8_FLAGS = "--max-semi-space-size=4";
