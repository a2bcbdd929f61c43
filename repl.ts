/**
 * The Rampart REPL: build rules interactively with the whole DSL in scope,
 * see exactly what would change, and apply it with explicit permission.
 *
 * Run it with `deno task repl` (or `deno run --allow-read --allow-write
 * --allow-env jsr:@rampart/iptables/repl`): without `--allow-run`, Deno asks
 * before Rampart runs each iptables binary. Flags: `--netns <name>`,
 * `--backend nft|legacy|auto`, `--rule-ids stable|chained`, `--history <file>`,
 * `--no-history`, `--fake` (an in-memory dataplane instead of the kernel).
 *
 * @example Embedding a session
 * ```ts
 * import assert from "node:assert/strict";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * import { ReplSession } from "@rampart/iptables/repl";
 * let out = "";
 * const session = new ReplSession({
 *   io: { write: (text) => void (out += text), ask: () => Promise.resolve("no") },
 *   runner: new FakeDataplane().runner,
 *   backend: "nft",
 * });
 * await session.run('chain("rp-in", Drop())'); // prints the chain with its rule IDs
 * assert.equal(out, [
 *   "chain rp-in (1 rule)",
 *   '  kFscmjLtPw3-pE1r  -A rp-in -m comment --comment "rampart:kFscmjLtPw3-pE1r" --jump DROP',
 *   "",
 * ].join("\n"));
 * ```
 *
 * @module
 */
import { parseArgs } from "parse-args";
import { runRepl } from "./src/repl/run.ts";
import { namespaceProblem, networkNamespaces } from "./src/repl/namespaces.ts";

export * from "./src/repl/completion.ts";
export * from "./src/repl/desired_state.ts";
export * from "./src/repl/evaluator.ts";
export * from "./src/repl/file_completion.ts";
export * from "./src/repl/history.ts";
export * from "./src/repl/history_search.ts";
export * from "./src/repl/interrupt.ts";
export * from "./src/policy/describe.ts";
export * from "./src/repl/keys.ts";
export * from "./src/repl/line_buffer.ts";
export * from "./src/repl/line_editor.ts";
export * from "./src/repl/namespaces.ts";
export * from "./src/repl/permissions.ts";
export * from "./src/repl/run.ts";
export * from "./src/repl/session.ts";
export * from "./src/repl/trace.ts";

const USAGE =
  `Usage: deno task repl [--netns NAME] [--backend nft|legacy|auto] [--rule-ids stable|chained]
                      [--history FILE | --no-history] [--fake]

  --netns NAME     work in network namespace NAME (netns("other") switches later)
  --backend B      iptables backend (default auto)
  --rule-ids S     stable (default) or chained (Felix's) rule IDs; a loaded file's
                   ruleIds key switches to the file's
  --history FILE   history file (default $XDG_STATE_HOME/rampart/repl_history or
                   ~/.local/state/rampart/repl_history; $RAMPART_REPL_HISTORY overrides)
  --no-history     keep no history
  --fake           use an in-memory FakeDataplane instead of the kernel
`;

if (import.meta.main) {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        netns: { type: "string" },
        backend: { type: "string", default: "auto" },
        "rule-ids": { type: "string" },
        history: { type: "string" },
        "no-history": { type: "boolean", default: false },
        fake: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const backend = values.backend;
  if (backend !== "nft" && backend !== "legacy" && backend !== "auto") {
    console.error(`Invalid --backend ${JSON.stringify(backend)}: expected nft, legacy or auto`);
    Deno.exit(2);
  }
  const ruleIds = values["rule-ids"];
  if (ruleIds !== undefined && ruleIds !== "stable" && ruleIds !== "chained") {
    console.error(`Invalid --rule-ids ${JSON.stringify(ruleIds)}: expected stable or chained`);
    Deno.exit(2);
  }
  if (values.netns !== undefined && !values.fake) {
    const problem = namespaceProblem(values.netns, networkNamespaces());
    if (problem !== undefined) {
      console.error(problem);
      Deno.exit(2);
    }
  }
  let runner;
  if (values.fake) {
    const { FakeDataplane } = await import("./testing.ts");
    runner = new FakeDataplane().runner;
  }
  await runRepl({
    ...(values.netns === undefined ? {} : { netns: values.netns }),
    backend,
    ...(ruleIds === undefined ? {} : { ruleIds }),
    ...(runner === undefined ? {} : { runner }),
    historyFile: values["no-history"] ? false : values.history ?? undefined,
  });
  Deno.exit(0);
}
