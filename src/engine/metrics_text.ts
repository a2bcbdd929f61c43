/**
 * Table metrics in the Prometheus text exposition format.
 *
 * @module
 */
import type { TableMetrics } from "./metrics.ts";

/** The `Content-Type` of {@linkcode metricsText}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  value: (m: TableMetrics) => number;
}

const FAMILIES: readonly Family[] = [
  {
    name: "rampart_iptables_restore_calls_total",
    type: "counter",
    help: "iptables-restore runs.",
    value: (m) => m.restoreCalls,
  },
  {
    name: "rampart_iptables_restore_errors_total",
    type: "counter",
    help: "iptables-restore runs that failed.",
    value: (m) => m.restoreErrors,
  },
  {
    name: "rampart_iptables_save_calls_total",
    type: "counter",
    help: "iptables-save runs.",
    value: (m) => m.saveCalls,
  },
  {
    name: "rampart_iptables_save_errors_total",
    type: "counter",
    help: "iptables-save runs that failed.",
    value: (m) => m.saveErrors,
  },
  {
    name: "rampart_iptables_lines_executed_total",
    type: "counter",
    help: "Restore script lines written, including *table and COMMIT.",
    value: (m) => m.linesExecuted,
  },
  {
    name: "rampart_iptables_applies_total",
    type: "counter",
    help: "apply() calls that finished.",
    value: (m) => m.applies,
  },
  {
    name: "rampart_iptables_chains",
    type: "gauge",
    help: "Chains the table manages, kernel chains included.",
    value: (m) => m.chains,
  },
  {
    name: "rampart_iptables_rules",
    type: "gauge",
    help: "Rules the table manages.",
    value: (m) => m.rules,
  },
  {
    name: "rampart_iptables_last_apply_duration_seconds",
    type: "gauge",
    help: "Wall time of the last apply() in seconds.",
    value: (m) => m.lastApplyDurationMs / 1000,
  },
];

/**
 * Renders table metrics in the Prometheus text exposition format (0.0.4):
 * one `# HELP`/`# TYPE` block per metric, one sample per table labelled
 * `table`, `ip_version` and `backend`. Counters end in `_total`; the last
 * apply duration is in seconds. Serve it with {@linkcode METRICS_CONTENT_TYPE}.
 *
 * @param metrics One entry per table (e.g. `tables.map((t) => t.metrics())`).
 * @returns The exposition text, ending with a newline.
 *
 * @example Serving metrics from any HTTP handler
 * ```ts
 * import assert from "node:assert/strict";
 * import { METRICS_CONTENT_TYPE, metricsText, type TableMetrics } from "@rampart/iptables";
 * const m: TableMetrics = {
 *   table: "filter", ipVersion: 4, backend: "nft", restoreCalls: 3, restoreErrors: 0, saveCalls: 4,
 *   saveErrors: 0, linesExecuted: 42, chains: 5, rules: 12, applies: 3, lastApplyDurationMs: 7,
 * };
 * const text = metricsText([m]);
 * assert.equal(
 *   text.split("\n")[2],
 *   'rampart_iptables_restore_calls_total{table="filter",ip_version="4",backend="nft"} 3',
 * );
 * const response = new Response(text, { headers: { "content-type": METRICS_CONTENT_TYPE } });
 * ```
 */
export function metricsText(metrics: readonly TableMetrics[]): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const m of metrics) {
      const labels = `table="${escapeLabel(m.table)}",ip_version="${m.ipVersion}",backend="${
        escapeLabel(m.backend)
      }"`;
      lines.push(`${family.name}{${labels}} ${formatValue(family.value(m))}`);
    }
  }
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
