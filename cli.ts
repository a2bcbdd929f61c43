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
 * 4 invalid policy file, 5 changes pending (`plan`/`diff --exit-code`).
 *
 * @example Planning in a namespace
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCli } from "@rampart/iptables/cli";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * // runCli(["plan", "rules.yaml", "--netns", "lab"]) runs it in network namespace "lab"; here the
 * // second argument puts the in-memory FakeDataplane where the kernel would be.
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(
 *   `${dir}/rules.yaml`,
 *   "family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n" +
 *     "        insert: [{protocol: tcp, destPorts: [22], action: accept}]\n",
 * );
 * let out = "";
 * const code = await runCli(["plan", `${dir}/rules.yaml`, "--netns", "lab", "--backend", "nft"], {
 *   stdout: (text) => void (out += text), stderr: () => {}, interactive: false, stdoutIsTerminal: false,
 *   ask: () => Promise.resolve(undefined), runnerFor: () => new FakeDataplane().runner,
 *   env: (name) => name === "RAMPART_STATE_DIR" ? dir : undefined, uid: 0,
 * });
 * assert.equal(code, 0);
 * assert.match(out, /^-I INPUT -m comment --comment "rampart:[\w-]{16}" -p tcp .* --jump ACCEPT$/m);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import { runCli } from "./src/cli/commands.ts";

export * from "./src/cli/args.ts";
export * from "./src/cli/commands.ts";
export * from "./src/cli/completions.ts";
export * from "./src/cli/counters.ts";
export * from "./src/cli/counters_view.ts";
export * from "./src/cli/top.ts";
export * from "./src/cli/environment.ts";
export * from "./src/cli/help.ts";
export * from "./src/cli/policy_errors.ts";
export * from "./src/cli/policy_files.ts";
export * from "./src/policy/progress.ts";
export * from "./src/host/proc_files.ts";
export * from "./src/cli/watchdog.ts";
export * from "./src/cli/durable.ts";
export * from "./src/cli/intent_file.ts";
export * from "./src/cli/state_dir.ts";
export * from "./src/cli/target_lock.ts";
export * from "./src/cli/target_state.ts";
export * from "./src/cli/import_command.ts";
export * from "./src/cli/trace_command.ts";
export * from "./src/cli/adopt_command.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
