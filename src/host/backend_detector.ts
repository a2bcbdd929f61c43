/**
 * Backend auto-detection: whether the host's iptables rules live in
 * iptables-nft or iptables-legacy.
 *
 * @module
 */
import { TableConfigError } from "./errors.ts";
import { BinaryNotFoundError, findBestBinary, type LookPath } from "./binaries.ts";
import type { ReadFile } from "./feature_detector.ts";
import { type Logger, silentLogger } from "./logger.ts";
import type { CommandRunner } from "./runner.ts";
import { extractRuleId } from "./save_parser.ts";
import type { IptablesVariant } from "./iptables_variant.ts";

/** Options of {@linkcode detectBackend}. */
export interface DetectBackendOptions {
  /** Runs the save binaries (in the table's namespace). */
  runner: CommandRunner;
  /**
   * Reads `/proc/net/ip_tables_names` and `/proc/net/ip6_tables_names`. The
   * files differ per network namespace, so this must read them inside the
   * runner's namespace. Defaults to {@linkcode readFileWithRunner}`(runner)`.
   */
  readFile?: ReadFile;
  /**
   * The family of the table asking. Only narrows the conflict check (our
   * rules of this family in both backends); the heuristics always look at
   * both families, like the reference.
   */
  ipVersion?: 4 | 6;
  /** `"auto"` detects; `"nft"`/`"legacy"` are returned as given (compared case-insensitively). */
  requested: "auto" | IptablesVariant;
  /**
   * Our rule-ID comment prefix (e.g. `"rampart:"`). When given, rules
   * carrying it in both backends at once are refused with a
   * {@linkcode BackendConflictError} (auto) or a warning (explicit backend).
   */
  hashPrefix?: string;
  /** Breaks a rule-count tie; pass `FeatureDetector.getVersions()`'s `backendReported`. Ties go to legacy without it. */
  reportedBackend?: IptablesVariant | undefined;
  /** How the save binaries are found. Defaults to searching `PATH`. */
  lookPath?: LookPath;
  /** Receives the decision and any mismatch warning. */
  logger?: Logger;
}

/**
 * Rules carrying our own hash prefix exist in both the nft and the legacy
 * backend, so there is no telling which copy is live. Thrown by
 * {@linkcode detectBackend} with `requested: "auto"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BackendConflictError } from "@rampart/iptables";
 * const e = new BackendConflictError({ hashPrefix: "rampart:", nftRules: 3, legacyRules: 5 });
 * assert.equal(e.nftRules, 3);
 * assert.equal(e.legacyRules, 5);
 * ```
 */
export class BackendConflictError extends Error {
  /** The hash prefix searched for. */
  readonly hashPrefix: string;
  /** Our rules found in iptables-nft. */
  readonly nftRules: number;
  /** Our rules found in iptables-legacy. */
  readonly legacyRules: number;

  /**
   * Creates the error.
   *
   * @param options The prefix and how many of our rules each backend holds.
   */
  constructor(options: { hashPrefix: string; nftRules: number; legacyRules: number }) {
    super(
      `Rules with hash prefix ${
        JSON.stringify(options.hashPrefix)
      } exist in both iptables backends (nft: ${options.nftRules}, legacy: ${options.legacyRules}): ` +
        `expected them in one only. Remove the stale copy with a table of that backend ` +
        `(backend: "nft" or "legacy", then cleanUp()), or set backend explicitly`,
    );
    this.name = "BackendConflictError";
    this.hashPrefix = options.hashPrefix;
    this.nftRules = options.nftRules;
    this.legacyRules = options.legacyRules;
  }
}

const KUBE_HINTS = ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"];

/**
 * A {@linkcode ReadFile} that reads through `runner` (`cat <path>`), so that
 * per-namespace files such as `/proc/net/ip_tables_names` are read inside the
 * runner's network namespace. Rejects when `cat` fails (e.g. no such file).
 *
 * @param runner The runner of the table's namespace.
 * @returns The reader.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenoCommandRunner, readFileWithRunner } from "@rampart/iptables";
 * // new DenoCommandRunner({ netns: "blue" }) reads /proc/net/ip_tables_names of namespace "blue"
 * const read = readFileWithRunner(new DenoCommandRunner());
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "filter\nnat\n");
 * assert.equal(await read(path), "filter\nnat\n");
 * await Deno.remove(path);
 * await assert.rejects(read(path), Deno.errors.NotFound);
 * ```
 */
export function readFileWithRunner(runner: CommandRunner): ReadFile {
  return async (path: string) => {
    const result = await runner.run("cat", ["--", path]);
    if (result.code !== 0) {
      throw new Deno.errors.NotFound(`Cannot read ${path}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  };
}

/**
 * Decides which iptables backend to program (the reference's [head]
 * algorithm):
 *
 * 0. with `hashPrefix`: when rules carrying it (of `ipVersion`, or both
 *    families) are in exactly one backend, that backend (where we ran last);
 * 1. `ip6tables-nft-save -t mangle` or `iptables-nft-save -t mangle` shows
 *    kube-proxy's `KUBE-IPTABLES-HINT` or `KUBE-KUBELET-CANARY` → nft;
 * 2. the same on legacy → legacy;
 * 3. otherwise the backend with more rule lines (`-…`) in full saves of both
 *    families wins; a tie goes to `reportedBackend`, else legacy.
 *
 * Legacy binaries run only for tables the family's
 * `/proc/net/ip[6]_tables_names` lists (in the runner's namespace): running
 * iptables-legacy otherwise loads the modules or instantiates the table.
 * A `requested` backend other than `"auto"` is returned as given (lower-cased),
 * with a warning when detection disagrees.
 *
 * @param options Runner, request, hash prefix and tie-breaker.
 * @returns The backend to use.
 * @throws {BackendConflictError} With `"auto"`, when our rules are in both backends.
 *
 * @example Choosing nft when kube-proxy's hint chain is there
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CommandRunner, detectBackend } from "@rampart/iptables";
 * const runner: CommandRunner = {
 *   run: (cmd, args) =>
 *     Promise.resolve({
 *       code: 0,
 *       stdout: cmd === "iptables-nft-save" && args.includes("mangle") ? ":KUBE-IPTABLES-HINT - [0:0]\n" : "",
 *       stderr: "",
 *     }),
 * };
 * const backend = await detectBackend({
 *   runner,
 *   requested: "auto",
 *   lookPath: (name) => Promise.resolve(`/usr/sbin/${name}`),
 *   readFile: () => Promise.resolve(""),
 * });
 * assert.equal(backend, "nft");
 * ```
 */
export async function detectBackend(
  options: DetectBackendOptions,
): Promise<IptablesVariant> {
  const { runner } = options;
  const logger = options.logger ?? silentLogger();
  const readFile = options.readFile ?? readFileWithRunner(runner);
  const requested = String(options.requested).toLowerCase();
  if (requested !== "auto" && requested !== "nft" && requested !== "legacy") {
    throw new TableConfigError(
      `Invalid backend ${JSON.stringify(options.requested)}: expected "auto", "nft" or "legacy"`,
      { field: "backend", value: options.requested },
    );
  }

  const outputs = new Map<string, Promise<string>>();
  const save = (binary: string | undefined, args: string[]): Promise<string> => {
    if (binary === undefined) return Promise.resolve("");
    const key = [binary, ...args].join(" ");
    let out = outputs.get(key);
    if (out === undefined) {
      out = runner.run(binary, args).then(
        (r) => r.code === 0 ? r.stdout : "",
        () => "",
      );
      outputs.set(key, out);
    }
    return out;
  };
  const binary = async (
    ipVersion: 4 | 6,
    backend: IptablesVariant,
  ): Promise<string | undefined> => {
    try {
      return await findBestBinary("save", {
        ipVersion,
        backend,
        ...(options.lookPath === undefined ? {} : { lookPath: options.lookPath }),
      });
    } catch (e) {
      if (e instanceof BinaryNotFoundError) return undefined;
      throw e;
    }
  };
  const legacyTables = async (ipVersion: 4 | 6): Promise<Set<string>> => {
    const path = ipVersion === 6 ? "/proc/net/ip6_tables_names" : "/proc/net/ip_tables_names";
    try {
      const text = await readFile(path);
      return new Set(text.split("\n").map((l) => l.trim()).filter((l) => l !== ""));
    } catch {
      return new Set(); // module not loaded: no legacy rules can exist
    }
  };

  const [nft6, nft4, legacy6, legacy4, tables6, tables4] = await Promise.all([
    binary(6, "nft"),
    binary(4, "nft"),
    binary(6, "legacy"),
    binary(4, "legacy"),
    legacyTables(6),
    legacyTables(4),
  ]);
  const legacyBin = (v: 4 | 6) => v === 6 ? legacy6 : legacy4;
  const legacyNames = (v: 4 | 6) => v === 6 ? tables6 : tables4;
  const nftBin = (v: 4 | 6) => v === 6 ? nft6 : nft4;
  const legacyMangle = (v: 4 | 6) =>
    legacyNames(v).has("mangle") ? save(legacyBin(v), ["-t", "mangle"]) : Promise.resolve("");
  const legacyFull = (v: 4 | 6) =>
    legacyNames(v).size > 0 ? save(legacyBin(v), []) : Promise.resolve("");
  const nftFull = (v: 4 | 6) => save(nftBin(v), []);

  // Our own rules decide first: where they are is where we were running.
  let nftRules = 0;
  let legacyRules = 0;
  if (options.hashPrefix !== undefined && options.hashPrefix !== "") {
    // Only comparable when both variant-specific binaries exist; the
    // unsuffixed fallback may be either variant and would count twice.
    const families: (4 | 6)[] = options.ipVersion === undefined ? [4, 6] : [options.ipVersion];
    const comparable = families.filter((v) =>
      nftBin(v)?.includes("-nft-") && legacyBin(v)?.includes("-legacy-")
    );
    for (const v of comparable) {
      nftRules += countOurRules(await nftFull(v), options.hashPrefix);
      legacyRules += countOurRules(await legacyFull(v), options.hashPrefix);
    }
    if (nftRules > 0 && legacyRules > 0) {
      const error = new BackendConflictError({
        hashPrefix: options.hashPrefix,
        nftRules,
        legacyRules,
      });
      if (requested === "auto") throw error;
      logger.log("warn", error.message, { requested, nftRules, legacyRules });
    }
  }

  let detected: IptablesVariant;
  let reason: string;
  const fields: Record<string, unknown> = {};
  const nftMangle = await Promise.all([save(nft6, ["-t", "mangle"]), save(nft4, ["-t", "mangle"])]);
  if (nftRules > 0 && legacyRules === 0) {
    detected = "nft";
    reason = "our rules are in iptables-nft";
    Object.assign(fields, { ourRules: nftRules });
  } else if (legacyRules > 0 && nftRules === 0) {
    detected = "legacy";
    reason = "our rules are in iptables-legacy";
    Object.assign(fields, { ourRules: legacyRules });
  } else if (nftMangle.some(hasKubeHint)) {
    detected = "nft";
    reason = "kube-proxy hint chain in iptables-nft";
  } else if ((await Promise.all([legacyMangle(6), legacyMangle(4)])).some(hasKubeHint)) {
    detected = "legacy";
    reason = "kube-proxy hint chain in iptables-legacy";
  } else {
    const [l6, l4, n6, n4] = await Promise.all([
      legacyFull(6),
      legacyFull(4),
      nftFull(6),
      nftFull(4),
    ]);
    const legacyLines = countRuleLines(l6) + countRuleLines(l4);
    const nftLines = countRuleLines(n6) + countRuleLines(n4);
    Object.assign(fields, { legacyLines, nftLines });
    if (legacyLines > nftLines) {
      detected = "legacy";
      reason = "more rules in iptables-legacy";
    } else if (nftLines > legacyLines) {
      detected = "nft";
      reason = "more rules in iptables-nft";
    } else {
      detected = options.reportedBackend ?? "legacy";
      reason = options.reportedBackend === undefined
        ? "rule counts tie; defaulting to legacy"
        : "rule counts tie; using the variant `iptables --version` reports";
    }
  }

  logger.log("info", "Detected iptables backend", {
    detected,
    requested,
    reason,
    ...fields,
  });
  if (requested !== "auto") {
    if (requested !== detected) {
      logger.log("warn", "Requested iptables backend differs from the detected one; using it", {
        requested,
        detected,
      });
    }
    return requested;
  }
  return detected;
}

function hasKubeHint(output: string): boolean {
  return KUBE_HINTS.some((hint) => output.includes(hint));
}

function countRuleLines(output: string): number {
  let n = 0;
  for (const line of output.split("\n")) if (line.startsWith("-")) n++;
  return n;
}

/** Rules whose first comment is one of our IDs (`extractRuleId`). */
function countOurRules(output: string, hashPrefix: string): number {
  let n = 0;
  for (const line of output.split("\n")) {
    if (line.startsWith("-A ") && extractRuleId(line, hashPrefix) !== undefined) n++;
  }
  return n;
}

/**
 * Chooses the backend when `backend: "auto"` (the `backendDetector` option of
 * `Table` and `IptablesDataplane`; {@linkcode autoDetectBackend} by
 * default).
 *
 * @example A detector that always answers nft
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BackendDetector } from "@rampart/iptables";
 * const nft: BackendDetector = () => Promise.resolve("nft");
 * assert.equal(await nft({ runner: { run: () => Promise.reject() }, ipVersion: 4, hashPrefix: "rampart:", logger: { log() {} } }), "nft");
 * ```
 */
export type BackendDetector = (options: {
  runner: CommandRunner;
  ipVersion: 4 | 6;
  hashPrefix: string;
  logger: Logger;
}) => Promise<IptablesVariant>;

/** Options of {@linkcode autoDetectBackend}. */
export interface AutoDetectBackendOptions {
  /** Runs the binaries (in the table's namespace). */
  runner: CommandRunner;
  /** The IP family. */
  ipVersion: 4 | 6;
  /** Our ID comment prefix (for the both-backends conflict check). */
  hashPrefix: string;
  /** Where the choice is reported. */
  logger: Logger;
}

/**
 * The `backend: "auto"` choice of {@linkcode Table} and `Firewall`:
 * {@linkcode detectBackend} with ties going to the variant plain
 * `iptables --version` reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { autoDetectBackend, silentLogger } from "@rampart/iptables";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane({ backend: "legacy" });
 * const backend = await autoDetectBackend({
 *   runner: fake.runner, ipVersion: 4, hashPrefix: "rampart:", logger: silentLogger(),
 * });
 * assert.equal(backend, "legacy");
 * ```
 */
export async function autoDetectBackend(
  options: AutoDetectBackendOptions,
): Promise<IptablesVariant> {
  const version = await options.runner.run(
    options.ipVersion === 6 ? "ip6tables" : "iptables",
    ["--version"],
  );
  const reported = /\(legacy\)/.test(version.stdout)
    ? "legacy"
    : /nf_tables/.test(version.stdout)
    ? "nft"
    : undefined;
  return await detectBackend({
    ...options,
    requested: "auto",
    ...(reported === undefined ? {} : { reportedBackend: reported }),
  });
}
