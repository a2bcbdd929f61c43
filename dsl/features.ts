/**
 * Host features that change how rules render (and therefore their IDs).
 *
 * @module
 */

/**
 * What the host's iptables and kernel support. Every field is optional and
 * `false` when absent, matching the reference's most conservative defaults
 * (iptables 1.4.7, kernel 3.10).
 *
 * @example Rendering SNAT with `--random-fully`
 * ```ts
 * import assert from "node:assert/strict";
 * import { Snat, type Features } from "@rampart/iptables";
 * const features: Features = { snatFullyRandom: true };
 * assert.equal(
 *   Snat("10.0.0.1").toFragment(features),
 *   "--jump SNAT --to-source 10.0.0.1 --random-fully",
 * );
 * ```
 */
export interface Features {
  /** SNAT supports `--random-fully` (iptables ≥ 1.6.0, kernel ≥ 3.14). */
  snatFullyRandom?: boolean;
  /** MASQUERADE supports `--random-fully` (iptables ≥ 1.6.2, kernel ≥ 3.14). */
  masqFullyRandom?: boolean;
  /** iptables-restore takes the xtables lock itself with `--wait` (iptables ≥ 1.6.2). */
  restoreSupportsLock?: boolean;
  /** iptables-restore accepts `--wait-interval` without a deprecation warning. */
  restoreSupportsWaitInterval?: boolean;
  /** NFLOG uses `--nflog-size` rather than `--nflog-range` (kernel ≥ 4.8). */
  nflogSize?: boolean;
  /** Checksum offload is broken for VXLAN (kernel ≤ 5.7). */
  checksumOffloadBroken?: boolean;
  /** IPIP devices are layer 3 (kernel ≥ 5.14, RHEL ≥ 4.18.0-330). */
  ipipDeviceIsL3?: boolean;
  /**
   * iptables-nft-restore applies several positional `-R`/`-D`/`-I` edits in one
   * transaction correctly (iptables ≥ 1.8.3). When false the engine falls back to
   * flushing and rewriting whole chains on the nft backend.
   */
  nftPositionalEdits?: boolean;
}
