/**
 * Adopting an existing host: `iptables-save` text (of this host, a network
 * namespace or saved files) to a Rampart {@linkcode Policy}, every rule as
 * DSL calls that print back exactly as saved, or reported with its line and
 * what is missing. `rampart import` and the REPL's `importTables()` use it.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { importSaves } from "@rampart/iptables/import";
 *
 * const save = "*filter\n:INPUT DROP [0:0]\n:ssh - [0:0]\n" +
 *   "-A INPUT -p tcp -j ssh\n-A ssh -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n";
 * const { policy, problems } = importSaves([{ ipVersion: 4, backend: "nft", text: save }]);
 * const [filter] = policy.tables;
 * assert.equal(filter!.policies.INPUT, "DROP");
 * assert.equal(filter!.chains[0]!.name, "rp-ssh");
 * assert.equal(problems.length, 0);
 * ```
 *
 * It lives beside the main entry point, not in it: it reads rules with the
 * fake dataplane's model of iptables' parser (`src/fake/normalise.ts`).
 *
 * @module
 */
export * from "./src/import/save_text.ts";
export * from "./src/import/chain_names.ts";
export * from "./src/import/import_save.ts";
export * from "./src/import/live.ts";
export * from "./src/import/adopt.ts";
