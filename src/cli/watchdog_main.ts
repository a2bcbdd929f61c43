/**
 * The confirm-timeout watchdog process: `deno run … watchdog_main.ts <dir>`.
 * Started detached by `rampart apply --confirm-timeout`; see `watchdog.ts`.
 *
 * @module
 */
import { DenoCommandRunner } from "../runner.ts";
import { restoreSnapshotTable, snapshotFromJson } from "../snapshot.ts";
import { runWatchdog, type WatchdogConfig } from "./watchdog.ts";

/**
 * Restores a snapshot table by table (our rules and chains only), trying
 * every table even when one fails.
 *
 * @param snapshotJson The snapshot's JSON text.
 * @param config The firewall options (namespace).
 */
export async function restoreSnapshotJson(
  snapshotJson: string,
  config: WatchdogConfig,
): Promise<void> {
  const snapshot = snapshotFromJson(snapshotJson);
  const netns = config.firewall.netns;
  const runner = new DenoCommandRunner(netns === undefined ? {} : { netns });
  const errors: string[] = [];
  for (const table of snapshot.tables) {
    try {
      await restoreSnapshotTable(table, {
        runner,
        hashPrefix: snapshot.hashPrefix,
        chainPrefixes: snapshot.chainPrefixes,
      });
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (errors.length > 0) throw new Error(errors.join("; "));
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (dir === undefined) {
    console.error("usage: watchdog_main.ts <pending-dir>");
    Deno.exit(2);
  }
  // Own session, no terminal: a hangup of the operator's terminal must not stop us.
  for (const signal of ["SIGHUP", "SIGINT"] as const) {
    try {
      Deno.addSignalListener(signal, () => {});
    } catch { /* not supported */ }
  }
  try {
    const outcome = await runWatchdog(dir, { restore: restoreSnapshotJson });
    Deno.exit(outcome.outcome === "failed" ? 1 : 0);
  } catch (e) {
    try {
      Deno.writeTextFileSync(
        `${dir}/watchdog.log`,
        `${new Date().toISOString()} watchdog error: ${e instanceof Error ? e.message : e}\n`,
        { append: true },
      );
    } catch { /* nowhere to log */ }
    Deno.exit(1);
  }
}
