/**
 * The `rampart` command line: plan, diff, apply (with a confirm-timeout
 * watchdog), show, export, watch and remove the rules of YAML policy files,
 * and recover from an interrupted apply.
 *
 * Run it with `deno task cli <command> …` or
 * `deno run -A jsr:@rampart/iptables/cli <command> …`; `rampart --help` lists
 * the commands, `rampart <command> --help` their flags. Exit codes:
 * 0 ok, 1 failure, 2 usage error (or a question with no terminal to ask on),
 * 3 not confirmed (declined, or rolled back after `--confirm-timeout`),
 * 4 invalid policy file.
 *
 * @example Planning in a namespace
 * ```ts ignore
 * import { runCli } from "@rampart/iptables/cli";
 * const code = await runCli(["plan", "examples/rules.yaml", "--netns", "lab"]);
 * ```
 *
 * @module
 */
import { runCli } from "./src/cli/commands.ts";

export * from "./src/cli/args.ts";
export * from "./src/cli/commands.ts";
export * from "./src/cli/environment.ts";
export * from "./src/cli/help.ts";
export * from "./src/cli/policy_errors.ts";
export * from "./src/cli/policy_files.ts";
export * from "./src/cli/progress.ts";
export * from "./src/cli/watchdog.ts";
export * from "./src/cli/durable.ts";
export * from "./src/cli/intent_file.ts";
export * from "./src/cli/state_dir.ts";
export * from "./src/cli/target_lock.ts";
export * from "./src/cli/target_state.ts";
export * from "./src/cli/trace_command.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
