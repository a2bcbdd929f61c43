/**
 * Loading YAML rule files (format: `README.md#yaml-rule-files`) into a
 * {@linkcode Policy}, with every error located at `file:line:column`: the
 * fast path and the positioned path, and the file read. The file is read
 * by `walker.ts` (nodes and errors), `structure.ts` (tables and chains),
 * `rule.ts` (rules), `calls.ts` (match and action keys) and
 * `param_types.ts` (their values).
 *
 * @module
 */
import type { Policy } from "../policy/policy.ts";
import { linePos, YamlDocument, YamlSyntaxError } from "./document.ts";
import { PolicyFileError } from "./errors.ts";
import { FastTree } from "./fast_tree.ts";
import { DEFAULT_MAX_BYTES, readPolicyText } from "./read_text.ts";
import { recordedPosition, type SourcePosition } from "./source_positions.ts";
import { readPolicy } from "./structure.ts";
import { YamlWalker } from "./walker.ts";

export { PolicyFileError } from "./errors.ts";
export type { SourcePosition } from "./source_positions.ts";

/** Options of `parsePolicy`. */
export interface ParsePolicyOptions {
  /** The file name used in error messages. @default {"<string>"} */
  file?: string;
  /** When given, every owned chain's name must start with one of these. */
  chainPrefixes?: readonly string[];
}

/**
 * Where a rule, chain or table policy returned by `parsePolicy` was
 * written, so that later errors (for example a `PlacementError` naming a
 * chain and rule index) can point into the file. A rule's action is located
 * at its value (`jump: rp-web` at `rp-web`).
 *
 * @param item A `PolicyRule`, `PolicyChain`, `TablePolicy` or a rule's `Action` of a loaded policy.
 * @returns Its position, or `undefined` for objects not loaded from YAML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePolicy, sourcePositionOf } from "@rampart/iptables/yaml";
 * const policy = parsePolicy("tables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n          - action: accept\n", { file: "a.yaml" });
 * const rule = policy.tables[0]!.insertions.INPUT![0]!;
 * assert.deepEqual(
 *   sourcePositionOf(rule),
 *   { file: "a.yaml", line: 6, column: 13, field: "tables.filter.kernelChains.INPUT.insert[0]" },
 * );
 * ```
 */
export function sourcePositionOf(item: object): SourcePosition | undefined {
  return recordedPosition(item);
}

/**
 * Describes a syntax error in clearer words than the parser's, from the
 * text: its offset and reason, or `undefined` to keep the parser's.
 */
export type SyntaxErrorDescriber = (text: string) => { offset: number; reason: string } | undefined;

/**
 * Parses a YAML rule file's text into a policy (what `parsePolicy` and
 * {@linkcode loadPolicyFile} share).
 *
 * @param text The YAML text.
 * @param options The file name for messages, and chain prefixes to enforce.
 * @param describe Rewords the parser's syntax errors.
 * @param tryFast Try the fast path first (`fast_tree.ts`); `false` when the text is known to fail.
 * @returns The policy.
 * @throws {PolicyFileError} with `file:line:column` and the field.
 */
export function policyFromText(
  text: string,
  options: ParsePolicyOptions = {},
  describe?: SyntaxErrorDescriber,
  tryFast = true,
): Policy {
  const file = options.file ?? "<string>";
  // The fast path (no positions) for a file it can read exactly; any error,
  // or a text it cannot, takes the positioned path, which makes the message.
  const fast = tryFast ? FastTree.parse(text) : undefined;
  if (fast !== undefined) {
    try {
      return readPolicy(new YamlWalker(file, { fast, text }), options.chainPrefixes);
    } catch {
      // The positioned path below finds the same error, located.
    }
  }
  let doc: YamlDocument;
  try {
    doc = YamlDocument.parse(text);
  } catch (e) {
    if (!(e instanceof YamlSyntaxError)) throw e;
    const better = e.parserError && describe !== undefined ? describe(text) : undefined;
    const { line, col } = linePos(text, better?.offset ?? e.offset);
    throw new PolicyFileError(`Invalid YAML: ${better?.reason ?? e.reason}`, {
      file,
      line,
      column: col,
      field: "",
      cause: e,
    });
  }
  return readPolicy(new YamlWalker(file, doc), options.chainPrefixes);
}

/** Options of {@linkcode loadPolicyFile}. */
export interface LoadPolicyFileOptions {
  /** When given, every owned chain's name must start with one of these. */
  chainPrefixes?: readonly string[];
  /**
   * Files larger than this many bytes are refused (and endless streams such
   * as `/dev/zero` stop there). @default {67_108_864} (64 MiB)
   */
  maxBytes?: number;
}

/**
 * Reads and parses a YAML rule file (needs `--allow-read` for it).
 *
 * @param path The file.
 * @param options Chain prefixes to enforce, and the size limit (the file name is `path`).
 * @returns The policy.
 * @throws {PolicyFileError} when the file is malformed (see `parsePolicy`),
 * larger than `maxBytes` or not UTF-8 text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPolicyFile } from "@rampart/iptables/yaml";
 * const path = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(path, "tables:\n  filter:\n    kernelChains:\n      INPUT: {policy: DROP}\n");
 * const policy = await loadPolicyFile(path);
 * assert.deepEqual(policy.tables.map((t) => [t.table, t.policies]), [["filter", { INPUT: "DROP" }]]);
 * await Deno.remove(path);
 * ```
 */
export async function loadPolicyFile(
  path: string,
  options: LoadPolicyFileOptions = {},
): Promise<Policy> {
  const text = await readPolicyText(path, options.maxBytes ?? DEFAULT_MAX_BYTES);
  return await policyFromFileText(path, text, options);
}

/**
 * Parses a policy file's text read by `readPolicyText` (the second half of
 * {@linkcode loadPolicyFile}, for callers that read the files first).
 *
 * @param path The file (for messages).
 * @param text Its text.
 * @param options Chain prefixes to enforce.
 * @returns The policy.
 * @throws {PolicyFileError} when the text is malformed (see `parsePolicy`).
 */
export async function policyFromFileText(
  path: string,
  text: string,
  options: { chainPrefixes?: readonly string[] } = {},
): Promise<Policy> {
  const parse = {
    file: path,
    ...(options.chainPrefixes === undefined ? {} : { chainPrefixes: options.chainPrefixes }),
  };
  try {
    return policyFromText(text, parse);
  } catch (e) {
    // The clearer words come from a second parser, loaded only now.
    if (!(e instanceof PolicyFileError) || !(e.cause instanceof YamlSyntaxError)) throw e;
    if (!e.cause.parserError) throw e;
    const { describeSyntaxError } = await import("./syntax_errors.ts");
    return policyFromText(text, parse, describeSyntaxError, false);
  }
}
