/**
 * Choosing the `iptables-save` / `iptables-restore` binary for a backend.
 *
 * @module
 */
import type { IptablesVariant } from "./iptables_variant.ts";

/**
 * Finds an executable by name: resolves to its full path, or `undefined`
 * when it is not on `PATH`. Injectable so tests need no real binaries.
 */
export type LookPath = (name: string) => Promise<string | undefined>;

/** `PATH` used when the environment has none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The default {@linkcode LookPath}: searches the directories of `PATH`
 * (needs `--allow-env=PATH` and `--allow-read` on them) for a regular file
 * with an execute bit. A name containing `/` is checked as given.
 *
 * @param name The binary, e.g. `"iptables-nft-save"`.
 * @returns Its full path, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLookPath } from "@rampart/iptables";
 * assert.match((await defaultLookPath("sh"))!, /\/sh$/); // e.g. /usr/bin/sh
 * assert.equal(await defaultLookPath("/bin/sh"), "/bin/sh"); // a path is checked as given
 * assert.equal(await defaultLookPath("rampart-no-such-binary"), undefined);
 * ```
 */
export async function defaultLookPath(name: string): Promise<string | undefined> {
  if (name === "") return undefined;
  if (name.includes("/")) return await isExecutable(name) ? name : undefined;
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    path = undefined;
  }
  for (const dir of (path || DEFAULT_PATH).split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${name}`;
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
  } catch {
    return false;
  }
}

/** Options of {@linkcode findBestBinary}. */
export interface FindBestBinaryOptions {
  /** The IP family: 4 → `iptables-…`, 6 → `ip6tables-…`. */
  ipVersion: 4 | 6;
  /** The backend whose variant is preferred. */
  backend: IptablesVariant;
  /** How binaries are looked up. Defaults to {@linkcode defaultLookPath}. */
  lookPath?: LookPath;
}

/**
 * No candidate binary was found on `PATH`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BinaryNotFoundError, findBestBinary } from "@rampart/iptables";
 * const lookPath = () => Promise.resolve(undefined); // nothing installed
 * await assert.rejects(
 *   findBestBinary("save", { ipVersion: 4, backend: "nft", lookPath }),
 *   (e) =>
 *     e instanceof BinaryNotFoundError &&
 *     e.candidates.join(" ") === "iptables-nft-save iptables-save",
 * );
 * ```
 */
export class BinaryNotFoundError extends Error {
  /** The names tried, best first. */
  readonly candidates: readonly string[];

  /**
   * Creates the error.
   *
   * @param candidates The names tried.
   */
  constructor(candidates: readonly string[]) {
    super(
      `No iptables binary found: expected one of ${
        candidates.map((c) => `"${c}"`).join(", ")
      } on PATH`,
    );
    this.name = "BinaryNotFoundError";
    this.candidates = Object.freeze([...candidates]);
  }
}

/**
 * The binary to run for `op`: `ip[6]tables-<backend>-<op>` when it is on
 * `PATH`, else the unsuffixed `ip[6]tables-<op>` (which may be either
 * variant). Returns the name, not the full path.
 *
 * @param op `"save"` or `"restore"`.
 * @param options IP family, backend and lookup.
 * @returns The binary's name, e.g. `"ip6tables-legacy-restore"`.
 * @throws {BinaryNotFoundError} When neither candidate exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findBestBinary } from "@rampart/iptables";
 * const onPath = new Set(["ip6tables-save"]);
 * const lookPath = (name: string) => Promise.resolve(onPath.has(name) ? `/usr/sbin/${name}` : undefined);
 * assert.equal(
 *   await findBestBinary("save", { ipVersion: 6, backend: "legacy", lookPath }),
 *   "ip6tables-save",
 * );
 * ```
 */
export async function findBestBinary(
  op: "save" | "restore",
  options: FindBestBinaryOptions,
): Promise<string> {
  const lookPath = options.lookPath ?? defaultLookPath;
  const family = options.ipVersion === 6 ? "ip6tables" : "iptables";
  const candidates = [`${family}-${options.backend}-${op}`, `${family}-${op}`];
  for (const candidate of candidates) {
    if (await lookPath(candidate) !== undefined) return candidate;
  }
  throw new BinaryNotFoundError(candidates);
}
