/**
 * The `rampart` process: runs the command line and exits with its code.
 * `deno task cli` and the installed `rampart` run this file, which loads
 * only what commands need (the command modules of `import`, `adopt`,
 * `trace` and `graph` load when run); `cli.ts` is the module's public
 * interface, and exports them all.
 *
 * @module
 */
import { runCli } from "./commands.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
