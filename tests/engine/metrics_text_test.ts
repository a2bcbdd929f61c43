import assert from "assert";
import type { TableMetrics } from "../../src/engine/metrics.ts";
import { metricsText } from "../../src/engine/metrics_text.ts";

const FILTER4: TableMetrics = {
  table: "filter",
  ipVersion: 4,
  backend: "nft",
  restoreCalls: 3,
  restoreErrors: 1,
  saveCalls: 5,
  saveErrors: 0,
  linesExecuted: 42,
  chains: 7,
  rules: 19,
  applies: 4,
  lastApplyDurationMs: 12.5,
};

const NAT6: TableMetrics = {
  ...FILTER4,
  table: "nat",
  ipVersion: 6,
  backend: "unknown",
  restoreCalls: 0,
  restoreErrors: 0,
  linesExecuted: 0,
  lastApplyDurationMs: 0,
};

Deno.test("metricsText renders the Prometheus text format", () => {
  const L4 = '{table="filter",ip_version="4",backend="nft"}';
  const L6 = '{table="nat",ip_version="6",backend="unknown"}';
  const expected = [
    "# HELP rampart_iptables_restore_calls_total iptables-restore runs.",
    "# TYPE rampart_iptables_restore_calls_total counter",
    `rampart_iptables_restore_calls_total${L4} 3`,
    `rampart_iptables_restore_calls_total${L6} 0`,
    "# HELP rampart_iptables_restore_errors_total iptables-restore runs that failed.",
    "# TYPE rampart_iptables_restore_errors_total counter",
    `rampart_iptables_restore_errors_total${L4} 1`,
    `rampart_iptables_restore_errors_total${L6} 0`,
    "# HELP rampart_iptables_save_calls_total iptables-save runs.",
    "# TYPE rampart_iptables_save_calls_total counter",
    `rampart_iptables_save_calls_total${L4} 5`,
    `rampart_iptables_save_calls_total${L6} 5`,
    "# HELP rampart_iptables_save_errors_total iptables-save runs that failed.",
    "# TYPE rampart_iptables_save_errors_total counter",
    `rampart_iptables_save_errors_total${L4} 0`,
    `rampart_iptables_save_errors_total${L6} 0`,
    "# HELP rampart_iptables_lines_executed_total Restore script lines written, including *table and COMMIT.",
    "# TYPE rampart_iptables_lines_executed_total counter",
    `rampart_iptables_lines_executed_total${L4} 42`,
    `rampart_iptables_lines_executed_total${L6} 0`,
    "# HELP rampart_iptables_applies_total apply() calls that finished.",
    "# TYPE rampart_iptables_applies_total counter",
    `rampart_iptables_applies_total${L4} 4`,
    `rampart_iptables_applies_total${L6} 4`,
    "# HELP rampart_iptables_chains Chains the table manages, kernel chains included.",
    "# TYPE rampart_iptables_chains gauge",
    `rampart_iptables_chains${L4} 7`,
    `rampart_iptables_chains${L6} 7`,
    "# HELP rampart_iptables_rules Rules the table manages.",
    "# TYPE rampart_iptables_rules gauge",
    `rampart_iptables_rules${L4} 19`,
    `rampart_iptables_rules${L6} 19`,
    "# HELP rampart_iptables_last_apply_duration_seconds Wall time of the last apply() in seconds.",
    "# TYPE rampart_iptables_last_apply_duration_seconds gauge",
    `rampart_iptables_last_apply_duration_seconds${L4} 0.0125`,
    `rampart_iptables_last_apply_duration_seconds${L6} 0`,
    "",
  ].join("\n");
  assert.equal(metricsText([FILTER4, NAT6]), expected);
});

Deno.test("metricsText with no tables prints only HELP and TYPE lines", () => {
  const text = metricsText([]);
  assert.ok(text.endsWith("\n"));
  assert.ok(text.trimEnd().split("\n").every((l) => l.startsWith("# ")));
  assert.equal(text.split("\n").filter((l) => l.startsWith("# TYPE")).length, 9);
});

Deno.test("metricsText escapes label values and special numbers", () => {
  const odd = { ...FILTER4, table: 'we"ird\\na\nme', chains: NaN, rules: Infinity };
  const text = metricsText([odd]);
  assert.match(
    text,
    /rampart_iptables_chains\{table="we\\"ird\\\\na\\nme",ip_version="4",backend="nft"\} NaN/,
  );
  assert.match(text, /rampart_iptables_rules\{[^}]*\} \+Inf/);
});

Deno.test("every metricsText sample line parses as name{labels} value", () => {
  const sample =
    /^rampart_iptables_[a-z_]+\{table="[^"]*",ip_version="[46]",backend="[a-z]+"\} -?[0-9.e+-]+$/;
  for (const line of metricsText([FILTER4, NAT6]).trimEnd().split("\n")) {
    if (!line.startsWith("#")) assert.match(line, sample);
  }
});
