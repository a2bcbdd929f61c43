/**
 * The confirm-timeout watchdog process: `deno run … watchdog_main.ts <dir> <applyId>`.
 * Started detached by `rampart apply --confirm-timeout`; see `watchdog.ts`.
 *
 * @module
 */
import { DenoCommandRunner } from "../host/runner.ts";
import { restoreSnapshotTable, snapshotFromJson } from "../policy/snapshot.ts";
import { parseAdoptUndo, restoreAdoptUndo } from "../import/adopt.ts";
import { describeIntentRecord, readIntentRecord } from "./intent_file.ts";
import { targetFiles } from "./state_dir.ts";
import { runWatchdog, type WatchdogConfig, watchdogLogPath } from "./watchdog.ts";

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
  const netns = config.firewall.netns;
  const runner = new DenoCommandRunner(netns === undefined ? {} : { netns });
  // `rampart adopt` leaves the scripts that undo it (src/import/adopt.ts).
  const undo = parseAdoptUndo(snapshotJson);
  if (undo !== undefined) return await restoreAdoptUndo(undo, runner);
  const snapshot = snapshotFromJson(snapshotJson);
  const errors: string[] = [];
  // Reverse apply order, as Firewall.restoreSnapshot: filter first.
  const order = ["filter", "nat", "mangle", "raw"];
  const tables = [...snapshot.tables].sort((a, b) =>
    a.ipVersion - b.ipVersion || order.indexOf(a.table) - order.indexOf(b.table)
  );
  for (const table of tables) {
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

/**
 * Describes the intent record an applying CLI left when it died.
 *
 * @param config The watchdog's configuration.
 * @returns The words, or `undefined` when there is no record.
 */
export async function describeLeftIntent(config: WatchdogConfig): Promise<string | undefined> {
  if (config.stateDir === undefined) return undefined;
  const netns = config.firewall.netns;
  const record = await readIntentRecord(targetFiles(config.stateDir, netns).intent);
  if (record === undefined) return undefined;
  return describeIntentRecord(record, {
    target: netns === undefined ? "this host" : `network namespace "${netns}"`,
  });
}

if (import.meta.main) {
  const [dir, applyId] = Deno.args;
  if (dir === undefined) {
    console.error("usage: watchdog_main.ts <pending-dir> [apply-id]");
    Deno.exit(2);
  }
  // Own session, no terminal: a hangup of the operator's terminal must not stop us.
  for (const signal of ["SIGHUP", "SIGINT"] as const) {
    try {
      Deno.addSignalListener(signal, () => {});
    } catch { /* not supported */ }
  }
  try {
    const outcome = await runWatchdog(dir, {
      restore: restoreSnapshotJson,
      describeInterrupted: describeLeftIntent,
      ...(applyId === undefined ? {} : { applyId }),
    });
    Deno.exit(outcome.outcome === "failed" ? 1 : 0);
  } catch (e) {
    let log = `${dir}/watchdog.log`;
    try {
      log = watchdogLogPath(dir, JSON.parse(Deno.readTextFileSync(`${dir}/config.json`)));
    } catch { /* no configuration: log beside it */ }
    try {
      Deno.writeTextFileSync(
        log,
        `${new Date().toISOString()} watchdog error: ${e instanceof Error ? e.message : e}\n`,
        { append: true },
      );
    } catch { /* nowhere to log */ }
    Deno.exit(1);
  }
}
