/**
 * Reading `/proc` files under narrow Deno permissions.
 *
 * Deno (2.x) lets a program read `/proc/version` only with `--allow-all`,
 * whatever `--allow-read` says; the installed `rampart` runs without it. A
 * read Deno refuses is made with `cat` through the command's runner instead
 * (which may run `cat`, as backend detection does), so host features, and
 * the rule IDs that depend on them, are the same under either permission set.
 *
 * @module
 */
import { readFileWithRunner } from "./backend_detector.ts";
import type { ReadFile } from "./feature_detector.ts";
import type { CommandRunner } from "./runner.ts";

/**
 * A file reader that reads directly, and through `cat` on the runner when
 * Deno refuses the read.
 *
 * @param runner The runner of the target (its namespace's `cat`).
 * @returns The reader.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { procFileReader } from "@rampart/iptables/cli";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const read = procFileReader(new FakeDataplane().runner);
 * assert.ok((await read("/proc/version")).startsWith("Linux version"));
 * ```
 */
export function procFileReader(runner: CommandRunner): ReadFile {
  const viaRunner = readFileWithRunner(runner);
  return async (path) => {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        return await viaRunner(path);
      }
      throw e;
    }
  };
}
