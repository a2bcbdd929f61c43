/**
 * YAML rule files: read a policy from YAML ({@linkcode parsePolicy},
 * {@linkcode loadPolicyFile}), write one ({@linkcode stringifyPolicy},
 * {@linkcode savePolicyFile}), and say where a rule came from
 * ({@linkcode sourcePositionOf}). Its own entry point so that the main one
 * (`@rampart/iptables`) does not depend on a YAML library.
 *
 * @example Reading a policy
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy } from "@rampart/iptables/yaml";
 * const policy = parsePolicy(`
 * tables:
 *   filter:
 *     chains:
 *       rp-input:
 *         - protocol: tcp
 *           destPorts: [22, 443]
 *           action: accept
 * `);
 * assert.equal(
 *   policy.tables[0]!.chains[0]!.rules[0]!.match!.render(),
 *   "-p tcp -m multiport --destination-ports 22,443",
 * );
 * ```
 *
 * @module
 */
export * from "./src/yaml/errors.ts";
export { checkJumpTargets } from "./src/yaml/jump_targets.ts";
export {
  loadPolicyFile,
  type LoadPolicyFileOptions,
  type ParsePolicyOptions,
  type SourcePosition,
  sourcePositionOf,
} from "./src/yaml/load.ts";
export * from "./src/yaml/parse.ts";
export * from "./src/yaml/save.ts";
