/**
 * The iptables variants: the two builds of the iptables binaries, which keep
 * their rules in different places of the kernel.
 *
 * @module
 */

/**
 * Which iptables a table is programmed with: `"nft"` (`iptables-nft`, rules
 * kept by nf_tables) or `"legacy"` (`iptables-legacy`, the x_tables
 * ruleset). It names a variant of the iptables binaries, not a dataplane: a
 * native nftables dataplane would be something else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { IptablesVariant } from "@rampart/iptables";
 * const variants: IptablesVariant[] = ["nft", "legacy"];
 * assert.deepEqual(variants.map((v) => `iptables-${v}-restore`), [
 *   "iptables-nft-restore",
 *   "iptables-legacy-restore",
 * ]);
 * ```
 */
export type IptablesVariant = "nft" | "legacy";
