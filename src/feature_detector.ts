/**
 * Host feature detection: which iptables and kernel features the host has,
 * from `iptables --version` and `/proc/version`.
 *
 * @module
 */
import type { Features } from "../dsl/features.ts";
import type { FeatureSource } from "./feature_source.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { type CommandRunner, DenoCommandRunner } from "./runner.ts";
import { compareVersions, parseVersion, versionAtLeast } from "./version.ts";

/** Reads a whole text file; injectable so tests need no `/proc`. */
export type ReadFile = (path: string) => Promise<string>;

/** Options of {@linkcode FeatureDetector}. */
export interface FeatureDetectorOptions {
  /** Runs `iptables --version`. Defaults to a {@linkcode DenoCommandRunner}. */
  runner?: CommandRunner;
  /** Reads `/proc/version`. Defaults to `Deno.readTextFile`. */
  readFile?: ReadFile;
  /**
   * Forced feature values: a {@linkcode Features} field name mapped to a
   * boolean string as Go's `ParseBool` accepts it (`1`, `t`, `T`, `TRUE`,
   * `true`, `True`, `0`, `f`, `F`, `FALSE`, `false`, `False`). Unknown names
   * and unparsable values are ignored with one warning each.
   */
  overrides?: Readonly<Record<string, string>>;
  /** Receives feature changes and override warnings. Defaults to silent. */
  logger?: Logger;
}

/** The versions a {@linkcode FeatureDetector} based its features on. */
export interface DetectedVersions {
  /** The iptables version, e.g. `"1.8.9"` (`"1.4.7"` when it could not be detected). */
  iptables: string;
  /** The kernel version, e.g. `"6.18.44"` (`"3.10.0"` when it could not be detected). */
  kernel: string;
  /**
   * The variant the unsuffixed `iptables` binary reports (`v1.8.9 (nf_tables)`
   * → `"nft"`), or `undefined` when it names none (iptables < 1.8, or failed).
   */
  backendReported: "nft" | "legacy" | undefined;
}

/** The iptables version assumed when detection fails (the reference's oldest). */
const FALLBACK_IPTABLES = "1.4.7";
/** The kernel version assumed when detection fails. */
const FALLBACK_KERNEL = "3.10.0";

const IPTABLES_VERSION_RE = /v(\d+\.\d+\.\d+)/;
const IPTABLES_VARIANT_RE = /\((nf_tables|legacy)\)/;
const KERNEL_VERSION_RE = /Linux version (\d+\.\d+\.\d+(?:-\d+)?)/;
const RHEL_RE = /el\d+_\d+/;

const FEATURE_NAMES: readonly (keyof Features)[] = [
  "snatFullyRandom",
  "masqFullyRandom",
  "restoreSupportsLock",
  "restoreSupportsWaitInterval",
  "nflogSize",
  "checksumOffloadBroken",
  "ipipDeviceIsL3",
  "nftPositionalEdits",
];

const TRUE_STRINGS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_STRINGS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/**
 * Detects host {@linkcode Features} from the iptables and kernel versions,
 * with the reference's thresholds:
 *
 * | feature | rule |
 * | --- | --- |
 * | `snatFullyRandom` | iptables ≥ 1.6.0 and kernel ≥ 3.14.0 |
 * | `masqFullyRandom` | iptables ≥ 1.6.2 and kernel ≥ 3.14.0 |
 * | `restoreSupportsLock` | iptables ≥ 1.6.2 |
 * | `restoreSupportsWaitInterval` | 1.6.2 ≤ iptables < 1.8.8 (1.8.8 deprecated `--wait-interval`) |
 * | `nftPositionalEdits` | iptables ≥ 1.8.3 |
 * | `checksumOffloadBroken` | kernel ≤ 5.7.0 |
 * | `nflogSize` | kernel ≥ 4.8.0 |
 * | `ipipDeviceIsL3` | kernel ≥ 5.14.0; on Red Hat kernels ≥ 4.18.0-330 |
 *
 * Versions that cannot be read or parsed fall back to iptables 1.4.7 and
 * kernel 3.10.0. `getFeatures()` detects once and caches; `refreshFeatures()`
 * detects again (the table calls it on every resync) and logs only when the
 * result changed.
 *
 * @example With a scripted runner and `/proc/version`
 * ```ts
 * import { type CommandRunner, FeatureDetector } from "@rampart/iptables";
 * const runner: CommandRunner = {
 *   run: () => Promise.resolve({ code: 0, stdout: "iptables v1.8.9 (nf_tables)\n", stderr: "" }),
 * };
 * const detector = new FeatureDetector({
 *   runner,
 *   readFile: () => Promise.resolve("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)"),
 *   overrides: { nflogSize: "false" },
 * });
 * const features = await detector.getFeatures();
 * console.log(features.masqFullyRandom, features.nflogSize); // true false
 * console.log(await detector.getVersions()); // { iptables: "1.8.9", kernel: "6.1.0-18", backendReported: "nft" }
 * ```
 */
export class FeatureDetector implements FeatureSource {
  readonly #runner: CommandRunner;
  readonly #readFile: ReadFile;
  readonly #logger: Logger;
  readonly #overrides: Readonly<Partial<Record<keyof Features, boolean>>>;
  #cache: { features: Readonly<Features>; versions: DetectedVersions } | undefined;
  #inFlight: Promise<Readonly<Features>> | undefined;

  /**
   * Creates a detector; nothing runs until the first `getFeatures()`.
   * Invalid overrides are reported (once) here.
   *
   * @param options Runner, file reader, overrides and logger.
   */
  constructor(options: FeatureDetectorOptions = {}) {
    this.#runner = options.runner ?? new DenoCommandRunner();
    this.#readFile = options.readFile ?? ((path) => Deno.readTextFile(path));
    this.#logger = options.logger ?? silentLogger();
    this.#overrides = parseOverrides(options.overrides ?? {}, this.#logger);
  }

  /**
   * The cached features, detecting them on first use.
   *
   * @returns The features (frozen).
   */
  getFeatures(): Promise<Features> {
    if (this.#cache !== undefined) return Promise.resolve(this.#cache.features);
    return this.refreshFeatures();
  }

  /**
   * Detects the features again, logs at `info` when they changed (or were
   * detected for the first time), and caches the result. Concurrent calls
   * share one detection.
   *
   * @returns The features (frozen).
   */
  refreshFeatures(): Promise<Features> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    const run = this.#detect().finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = run;
    return run;
  }

  /**
   * The versions the current features were computed from (detecting on first
   * use). The backend detector breaks ties with `backendReported`.
   *
   * @returns The iptables and kernel versions and the reported variant.
   */
  async getVersions(): Promise<DetectedVersions> {
    if (this.#cache === undefined) await this.refreshFeatures();
    return { ...(this.#cache as { versions: DetectedVersions }).versions };
  }

  async #detect(): Promise<Readonly<Features>> {
    const [ipt, kernel] = await Promise.all([this.#iptablesVersion(), this.#kernelVersion()]);
    const features: Features = computeFeatures(ipt.version, kernel.version, kernel.text);
    for (const [name, value] of Object.entries(this.#overrides)) {
      features[name as keyof Features] = value;
    }
    const frozen = Object.freeze(features);
    const versions: DetectedVersions = {
      iptables: ipt.version.join("."),
      kernel: kernel.label,
      backendReported: ipt.backend,
    };
    const previous = this.#cache?.features;
    if (previous === undefined || !sameFeatures(previous, frozen)) {
      this.#logger.log("info", "Detected iptables features", {
        features: { ...frozen },
        iptablesVersion: versions.iptables,
        kernelVersion: versions.kernel,
        backendReported: versions.backendReported ?? "unknown",
        ...(previous === undefined ? {} : { previous: { ...previous } }),
      });
    }
    this.#cache = { features: frozen, versions };
    return frozen;
  }

  async #iptablesVersion(): Promise<{ version: number[]; backend: "nft" | "legacy" | undefined }> {
    const fallback = { version: parseVersion(FALLBACK_IPTABLES) as number[], backend: undefined };
    let out: string;
    try {
      const result = await this.#runner.run("iptables", ["--version"]);
      if (result.code !== 0) {
        this.#logger.log("warn", "Failed to get the iptables version, assuming 1.4.7", {
          code: result.code,
          stderr: result.stderr.trim(),
        });
        return fallback;
      }
      out = result.stdout;
    } catch (e) {
      this.#logger.log("warn", "Failed to get the iptables version, assuming 1.4.7", {
        error: String(e),
      });
      return fallback;
    }
    const m = IPTABLES_VERSION_RE.exec(out);
    const version = m === null ? undefined : parseVersion(m[1] as string);
    if (version === undefined) {
      this.#logger.log("warn", "Failed to parse the iptables version, assuming 1.4.7", {
        rawVersion: out.trim(),
      });
      return fallback;
    }
    const variant = IPTABLES_VARIANT_RE.exec(out)?.[1];
    const backend = variant === "nf_tables" ? "nft" : variant === "legacy" ? "legacy" : undefined;
    return { version, backend };
  }

  async #kernelVersion(): Promise<{ version: number[]; label: string; text: string }> {
    const fallback = {
      version: parseVersion(FALLBACK_KERNEL) as number[],
      label: FALLBACK_KERNEL,
      text: "",
    };
    let text: string;
    try {
      text = await this.#readFile("/proc/version");
    } catch (e) {
      this.#logger.log("warn", "Failed to read /proc/version, assuming kernel 3.10.0", {
        error: String(e),
      });
      return fallback;
    }
    const m = KERNEL_VERSION_RE.exec(text);
    const version = m === null ? undefined : parseVersion(m[1] as string);
    if (version === undefined) {
      this.#logger.log("warn", "Failed to parse the kernel version, assuming 3.10.0", {
        rawVersion: text.trim(),
      });
      return fallback;
    }
    return { version, label: m?.[1] as string, text };
  }
}

/** The reference's thresholds (section 5). */
function computeFeatures(ipt: number[], kernel: number[], kernelText: string): Features {
  const kernelAtLeast = (v: string) => versionAtLeast(kernel, v);
  const iptAtLeast = (v: string) => versionAtLeast(ipt, v);
  const lower = kernelText.toLowerCase();
  const redHat = lower.includes("red hat") || RHEL_RE.test(lower);
  return {
    snatFullyRandom: iptAtLeast("1.6.0") && kernelAtLeast("3.14.0"),
    masqFullyRandom: iptAtLeast("1.6.2") && kernelAtLeast("3.14.0"),
    restoreSupportsLock: iptAtLeast("1.6.2"),
    restoreSupportsWaitInterval: iptAtLeast("1.6.2") && !iptAtLeast("1.8.8"),
    nflogSize: kernelAtLeast("4.8.0"),
    checksumOffloadBroken: compareVersions(kernel, parseVersion("5.7.0") as number[]) <= 0,
    ipipDeviceIsL3: kernelText !== "" &&
      (redHat ? kernelAtLeast("4.18.0-330") : kernelAtLeast("5.14.0")),
    nftPositionalEdits: iptAtLeast("1.8.3"),
  };
}

function parseOverrides(
  overrides: Readonly<Record<string, string>>,
  logger: Logger,
): Partial<Record<keyof Features, boolean>> {
  const out: Partial<Record<keyof Features, boolean>> = {};
  for (const [name, raw] of Object.entries(overrides)) {
    const value = TRUE_STRINGS.has(raw) ? true : FALSE_STRINGS.has(raw) ? false : undefined;
    if (value === undefined) {
      logger.log("warn", "Ignoring feature override with an unparsable value", {
        flag: name,
        value: raw,
        expected: "1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False",
      });
      continue;
    }
    if (!(FEATURE_NAMES as readonly string[]).includes(name)) {
      logger.log("warn", "Ignoring unknown feature override", {
        flag: name,
        value: raw,
        expected: FEATURE_NAMES.join(", "),
      });
      continue;
    }
    logger.log("info", "Overriding feature detection", { flag: name, value });
    out[name as keyof Features] = value;
  }
  return out;
}

function sameFeatures(a: Readonly<Features>, b: Readonly<Features>): boolean {
  return FEATURE_NAMES.every((k) => (a[k] ?? false) === (b[k] ?? false));
}
