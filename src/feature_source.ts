/**
 * Where a table gets its host features from.
 *
 * @module
 */
import type { Features } from "../dsl/features.ts";

/**
 * A source of host {@linkcode Features}. `FeatureDetector` is the real one;
 * {@linkcode staticFeatures} serves fixed values.
 *
 * @example
 * ```ts
 * import { staticFeatures } from "@rampart/iptables";
 * const source = staticFeatures({ nflogSize: true });
 * console.log((await source.getFeatures()).nflogSize); // true
 * ```
 */
export interface FeatureSource {
  /** The cached features (detected on first use). */
  getFeatures(): Promise<Features>;
  /** Detects again (called on every resync) and returns the result. */
  refreshFeatures(): Promise<Features>;
}

/**
 * A {@linkcode FeatureSource} that always returns the given features (the
 * reference's defaults, all false, when none are given).
 *
 * @example
 * ```ts
 * import { staticFeatures } from "@rampart/iptables";
 * console.log(await staticFeatures().getFeatures()); // {}
 * ```
 */
export function staticFeatures(features: Features = {}): FeatureSource {
  const frozen = Object.freeze({ ...features });
  return {
    getFeatures: () => Promise.resolve(frozen),
    refreshFeatures: () => Promise.resolve(frozen),
  };
}
