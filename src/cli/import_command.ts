/**
 * `rampart import`: the live tables (of this host or a namespace) or saved
 * files as a policy file that reproduces them. Rules the DSL cannot write
 * exactly are listed on stderr (file or source, line, table, chain, reason);
 * then nothing is written and the exit code is 1, unless `--partial`.
 *
 * @module
 */
import { backendProblem, netnsProblem, tableProblem } from "./flag_checks.ts";
import { parseArgs } from "parse-args";
import type { IpFamily } from "../policy/policy.ts";
import { policyToTypeScript } from "../policy/ts_export.ts";
import { stringifyPolicy } from "../yaml/save.ts";
import { policyFromText } from "../yaml/load.ts";
import { ChainNameError } from "../import/chain_names.ts";
import { type ImportResult, importSaves, type ImportSource } from "../import/import_save.ts";
import { importLive, saveHeader } from "../import/live.ts";
import { SaveTextError } from "../import/save_text.ts";
import { EXIT_CODES } from "./args.ts";
import { writeDurable } from "./durable.ts";
import type { CliEnvironment } from "./environment.ts";

/** The header of an imported YAML file (no date or source: importing again gives the same file). */
export const IMPORT_HEADER =
  "Rampart policy written by 'rampart import' (format: README.md#yaml-rule-files)";

/** `rampart import --help`. */
export const IMPORT_HELP = `Usage: rampart import [--netns NAME | --from FILE…] [flags]

Reads the iptables tables of this host (or of namespace NAME, or saved
iptables-save files) and prints a policy that reproduces them: built-in chain
policies, the rules of built-in chains as insert (or --append) lists, and user
chains as chains Rampart owns, renamed with the chain prefix (at most 28
characters; names that would collide are refused), jumps renamed to match.
Every rule is checked to print back exactly as saved. Rules that cannot be
written exactly are listed on stderr with their line and reason; then nothing
is written and the exit code is 1, unless --partial writes the rest.

Source:
  -n, --netns NAME          read the tables of network namespace NAME
      --from FILE           read a saved file (iptables-save output; repeatable,
                            one per family; the family and backend come from
                            its header, or from -4/-6 and --backend)
  -4, --ipv4 / -6, --ipv6   only this family (default both)
  -t, --table T             only table T (repeatable; default all)
      --backend B           nft, legacy or auto (default auto)
Output:
      --format F            yaml (default) or ts (TypeScript using the DSL)
  -o, --output FILE         write to FILE (atomically) instead of stdout
      --partial             write what can be imported even if some rules cannot
      --append              rules of built-in chains as append lists (default insert)
      --chain-prefix P      prefix of the imported chains (default "rp-")
      --hash-prefix P       rule-ID comment prefix dropped from rules (default "rampart:")
  -h, --help                this help

Exit codes: 0 ok, 1 rules that cannot be imported (without --partial) or a
failure, 2 usage error.`;

class Usage extends Error {}

interface ImportArgs {
  help: boolean;
  netns?: string;
  from: string[];
  ipVersions: IpFamily[];
  tables: string[];
  backend: "nft" | "legacy" | "auto";
  format: "yaml" | "ts";
  output?: string;
  partial: boolean;
  append: boolean;
  chainPrefix: string;
  hashPrefix: string;
}

function parse(argv: readonly string[]): ImportArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv as string[],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h", default: false },
        netns: { type: "string", short: "n" },
        from: { type: "string", multiple: true },
        ipv4: { type: "boolean", short: "4", default: false },
        ipv6: { type: "boolean", short: "6", default: false },
        table: { type: "string", short: "t", multiple: true },
        backend: { type: "string", default: "auto" },
        format: { type: "string", default: "yaml" },
        output: { type: "string", short: "o" },
        partial: { type: "boolean", default: false },
        append: { type: "boolean", default: false },
        "chain-prefix": { type: "string", default: "rp-" },
        "hash-prefix": { type: "string", default: "rampart:" },
      },
    });
  } catch (e) {
    throw new Usage(
      (e instanceof Error ? e.message.split("\n")[0]! : String(e)).replace(/\.$/, ""),
    );
  }
  const v = parsed.values;
  const args: ImportArgs = {
    help: v.help === true,
    from: v.from ?? [],
    ipVersions: [],
    tables: v.table ?? [],
    backend: "auto",
    format: "yaml",
    partial: v.partial === true,
    append: v.append === true,
    chainPrefix: v["chain-prefix"]!,
    hashPrefix: v["hash-prefix"]!,
  };
  if (v.netns !== undefined) {
    const problem = netnsProblem(v.netns);
    if (problem !== undefined) throw new Usage(problem);
    if (args.from.length > 0) throw new Usage("Give either --netns or --from, not both");
    args.netns = v.netns;
  }
  if (v.ipv4) args.ipVersions.push(4);
  if (v.ipv6) args.ipVersions.push(6);
  for (const t of args.tables) {
    const problem = tableProblem(t);
    if (problem !== undefined) throw new Usage(problem);
  }
  const backendError = backendProblem(v.backend!);
  if (backendError !== undefined) throw new Usage(backendError);
  args.backend = v.backend as ImportArgs["backend"];
  if (v.format !== "yaml" && v.format !== "ts") {
    throw new Usage(`Invalid --format ${JSON.stringify(v.format)}: expected yaml or ts`);
  }
  args.format = v.format;
  if (v.output !== undefined) args.output = v.output;
  if (args.from.length > 2) throw new Usage("Give at most two --from files (one per family)");
  return args;
}

async function readFiles(args: ImportArgs): Promise<ImportSource[]> {
  const sources: ImportSource[] = [];
  for (const [i, path] of args.from.entries()) {
    const text = await Deno.readTextFile(path);
    const header = saveHeader(text);
    const asked = args.ipVersions.length === 1 ? args.ipVersions[0] : undefined;
    const ipVersion = header.ipVersion ?? asked ??
      (args.from.length === 2 ? ([4, 6] as const)[i]! : undefined);
    if (ipVersion === undefined) {
      throw new Usage(`${path} has no "# Generated by" header naming its family: give -4 or -6`);
    }
    if (header.ipVersion !== undefined && asked !== undefined && header.ipVersion !== asked) {
      if (args.from.length === 1) {
        throw new Usage(
          `${path} is an IPv${header.ipVersion} save (its header says so), not IPv${asked}`,
        );
      }
      continue;
    }
    if (args.ipVersions.length > 0 && !args.ipVersions.includes(ipVersion)) continue;
    const backend = args.backend !== "auto" ? args.backend : header.backend ?? "nft";
    if (sources.some((s) => s.ipVersion === ipVersion)) {
      throw new Usage(`Two --from files of IPv${ipVersion}: give one per family`);
    }
    sources.push({ ipVersion, backend, text, name: path });
  }
  return sources;
}

function describeProblems(result: ImportResult): string {
  let text = "";
  for (const p of result.problems) {
    text +=
      `${p.source}:${p.line}: ${p.table} ${p.chain}: cannot import: ${p.reason}\n  ${p.text}\n`;
  }
  return text;
}

/**
 * Runs `rampart import` with the arguments after `import`.
 *
 * @param argv The arguments after the command name.
 * @param env The process (tests inject a fake one).
 * @returns The exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runImport } from "@rampart/iptables/cli";
 * const code = await runImport(["--format", "xml"], {
 *   stdout: () => {}, stderr: () => {}, interactive: false, stdoutIsTerminal: false,
 *   ask: () => Promise.resolve(undefined), runnerFor: () => { throw new Error("unused"); },
 *   env: () => undefined, uid: 0,
 * });
 * assert.equal(code, 2);
 * ```
 */
export async function runImport(argv: readonly string[], env: CliEnvironment): Promise<number> {
  let args: ImportArgs;
  try {
    args = parse(argv);
  } catch (e) {
    env.stderr(
      `rampart import: ${
        e instanceof Error ? e.message : String(e)
      }\nRun 'rampart import --help' for usage.\n`,
    );
    return EXIT_CODES.USAGE;
  }
  if (args.help) {
    env.stdout(IMPORT_HELP + "\n");
    return EXIT_CODES.OK;
  }
  const options = {
    chainPrefix: args.chainPrefix,
    hashPrefix: args.hashPrefix,
    kernelRules: args.append ? "append" as const : "insert" as const,
    ...(args.tables.length > 0 ? { tables: args.tables } : {}),
  };
  let result: ImportResult;
  try {
    if (args.from.length > 0) {
      const sources = await readFiles(args);
      if (sources.length === 0) throw new Usage("No --from file of the families asked for");
      result = importSaves(sources, options);
    } else {
      result = await importLive({
        ...options,
        runner: env.runnerFor(args.netns),
        ipVersions: args.ipVersions.length > 0 ? args.ipVersions : [4, 6],
        backend: args.backend,
        where: args.netns === undefined ? "this host" : `netns ${args.netns}`,
      });
    }
  } catch (e) {
    const usage = e instanceof Usage;
    const known = usage || e instanceof SaveTextError || e instanceof ChainNameError ||
      e instanceof Deno.errors.NotFound || e instanceof Error;
    env.stderr(`rampart import: ${known ? (e as Error).message : String(e)}\n`);
    return usage ? EXIT_CODES.USAGE : EXIT_CODES.FAILURE;
  }
  const problems = describeProblems(result);
  if (problems !== "") env.stderr(problems);
  const summary = result.counts.map((c) => `${c.imported} of ${c.rules} rules of ${c.source}`)
    .join(", ");
  if (result.problems.length > 0 && !args.partial) {
    env.stderr(
      `rampart import: ${result.problems.length} rule(s) or chain policies cannot be imported ` +
        `(imported ${summary}); nothing written. Pass --partial to write the rest.\n`,
    );
    return EXIT_CODES.FAILURE;
  }
  let text: string;
  try {
    text = args.format === "ts"
      ? policyToTypeScript(result.policy)
      : stringifyPolicy(result.policy, { header: IMPORT_HEADER });
    // What is written must load like any policy file (a failure here is a bug).
    if (args.format === "yaml") policyFromText(text, { file: args.output ?? "<import>" });
  } catch (e) {
    env.stderr(
      `rampart import: the imported policy does not load: ${e instanceof Error ? e.message : e}\n`,
    );
    return EXIT_CODES.FAILURE;
  }
  if (args.output === undefined) env.stdout(text);
  else {
    try {
      await writeDurable(args.output, text);
    } catch (e) {
      env.stderr(
        `rampart import: cannot write ${args.output}: ${e instanceof Error ? e.message : e}\n`,
      );
      return EXIT_CODES.FAILURE;
    }
  }
  for (const [table, chains] of result.unreachable) {
    env.stderr(
      `rampart import: note: ${table} chain(s) ${chains.join(", ")} are reached by no rule of a ` +
        "built-in chain: they are in the policy, but Rampart writes a chain only once a rule jumps to it\n",
    );
  }
  const renamed = [...result.renamed.values()].reduce((n, m) => n + m.size, 0);
  env.stderr(
    `rampart import: imported ${summary}` +
      (renamed > 0 ? `; ${renamed} chain(s) renamed with the prefix "${args.chainPrefix}"` : "") +
      (args.output === undefined ? "" : `; wrote ${args.output}`) + "\n",
  );
  return EXIT_CODES.OK;
}
