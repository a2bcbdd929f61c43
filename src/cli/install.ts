/**
 * `deno task install`: installs a `rampart` command from this checkout with
 * `deno install -g` (into `$DENO_INSTALL_ROOT/bin`, `~/.deno/bin` by
 * default), with the narrow permissions the README documents instead of
 * `-A`:
 *
 * - `--allow-run` for exactly the binaries Rampart runs that are on `PATH`
 *   now (the iptables variants of both families, `ipset`, `ip` for
 *   `--netns`, `cat` for backend detection, and `deno` itself for the
 *   confirm-timeout watchdog);
 * - `--allow-write` only to the state directory (`$RAMPART_STATE_DIR` when
 *   set at install time, else `/run/rampart`);
 * - `--allow-read` (policy files may be anywhere), `--allow-env`, and
 *   `--allow-sys=uid` (the default state directory depends on it);
 *
 * and with the V8 flags of `src/cli/v8_flags.ts` (peak memory on large files).
 *
 * @module
 */
import { defaultLookPath } from "../host/binaries.ts";
import { RAMPART_V8_FLAGS } from "./v8_flags.ts";

/** The binaries Rampart may run, by the name it runs them under. */
function rampartBinaries(): string[] {
  const names: string[] = [];
  for (const family of ["iptables", "ip6tables"]) {
    for (const suffix of ["", "-save", "-restore"]) {
      for (const backend of ["", "-nft", "-legacy"]) names.push(`${family}${backend}${suffix}`);
    }
  }
  return [...names, "ipset", "ip", "cat", "deno"];
}

/** Options of {@linkcode installCommandArgs}. */
export interface InstallOptions {
  /** The process entry point (`src/cli/main.ts` of the checkout). */
  entry: string;
  /** The checkout's `deno.json` (its import map). */
  config: string;
  /** The state directory the command may write. @default {"/run/rampart"} */
  stateDir?: string;
  /**
   * Whether a binary name is on `PATH` (names that are not are left out:
   * Deno prints a notice for each on every run). @default {every name is}
   */
  onPath?: (name: string) => boolean;
  /** Absolute paths Deno may run besides the names (the running `deno` binary). */
  extraRun?: readonly string[];
  /** The command's name. @default {"rampart"} */
  name?: string;
}

/**
 * The arguments of `deno install` that install the `rampart` command.
 *
 * @param options Entry point, config, state directory and the binaries found.
 * @returns The arguments after `deno`.
 *
 * @example
 * ```ts
 * import { installCommandArgs } from "./install.ts";
 * const args = installCommandArgs({ entry: "/src/rampart/cli.ts", config: "/src/rampart/deno.json" });
 * import { deepStrictEqual, ok } from "node:assert/strict";
 * deepStrictEqual(args.slice(0, 5), ["install", "-g", "-f", "-n", "rampart"]);
 * ok(args.includes("--allow-write=/run/rampart"));
 * ok(args.includes("--v8-flags=--max-semi-space-size=4"));
 * ```
 */
export function installCommandArgs(options: InstallOptions): string[] {
  const onPath = options.onPath ?? (() => true);
  const run = [...rampartBinaries().filter(onPath), ...(options.extraRun ?? [])];
  return [
    "install",
    "-g",
    "-f",
    "-n",
    options.name ?? "rampart",
    `--config=${options.config}`,
    `--v8-flags=${RAMPART_V8_FLAGS}`,
    "--allow-read",
    `--allow-write=${options.stateDir ?? "/run/rampart"}`,
    "--allow-env",
    "--allow-sys=uid",
    `--allow-run=${[...new Set(run)].join(",")}`,
    options.entry,
  ];
}

if (import.meta.main) {
  const entry = new URL("./main.ts", import.meta.url).pathname;
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const stateDir = Deno.env.get("RAMPART_STATE_DIR") || undefined;
  const found = new Set<string>();
  for (const name of rampartBinaries()) {
    if (await defaultLookPath(name) !== undefined) found.add(name);
  }
  const isOnPath = (name: string) => found.has(name);
  const args = installCommandArgs({
    entry,
    config,
    ...(stateDir === undefined ? {} : { stateDir }),
    onPath: isOnPath,
    // The watchdog runs Deno.execPath(), which `--allow-run=deno` does not
    // cover when `deno` on PATH is a link to it.
    extraRun: [Deno.execPath()],
  });
  const missing = rampartBinaries().filter((n) => !isOnPath(n));
  if (missing.length > 0) {
    console.error(
      `Not on PATH, so not allowed to run (install them, then run 'deno task install' again): ${
        missing.join(", ")
      }`,
    );
  }
  const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  Deno.exit(code);
}
