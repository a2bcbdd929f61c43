/**
 * A picture of a rule set: the chains of each table as nodes (with their
 * rule counts and policies) and the jumps and gotos between them as edges,
 * written as Mermaid or Graphviz DOT. Given a trace, the chains the packet
 * went through, the jumps it took, its way from hook to hook and its
 * verdict are highlighted.
 *
 * @module
 */
import type { TableName } from "../../dsl/kernel_chains.ts";
import type { TraceOutcome, TraceResult } from "./result.ts";
import type { TraceRuleset } from "./ruleset.ts";

/** Options of {@linkcode renderGraph}. */
export interface RenderGraphOptions {
  /** `mermaid` (a `flowchart`) or `dot` (Graphviz). @default {"mermaid"} */
  format?: "mermaid" | "dot";
  /** A trace through one of the rule sets: its path is highlighted. */
  trace?: TraceResult;
  /** Which of the trace's branches to highlight (0-based). @default {0} */
  branch?: number;
  /** A caption for the traced packet (`tcp 203.0.113.7 → 10.0.0.1:22`). */
  packetLabel?: string;
  /** Only these tables. @default {all} */
  tables?: readonly TableName[];
}

/** The kernel's table order (as a packet meets them). */
const TABLE_ORDER: readonly TableName[] = ["raw", "mangle", "nat", "filter"];

const BUILTIN = new Set(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]);

interface Node {
  id: string;
  ipVersion: 4 | 6;
  table: TableName;
  chain: string;
  label: string;
  visited: boolean;
}

interface Edge {
  from: string;
  to: string;
  label: string;
  kind: "jump" | "goto" | "path";
  taken: boolean;
}

interface Cluster {
  id: string;
  label: string;
  nodes: Node[];
}

const VERDICT_STYLE: Record<string, { fill: string; stroke: string }> = {
  ACCEPT: { fill: "#dcfce7", stroke: "#15803d" },
  DROP: { fill: "#fee2e2", stroke: "#b91c1c" },
  REJECT: { fill: "#fee2e2", stroke: "#b91c1c" },
};
const PATH_COLOR = "#d97706";
const VISITED_FILL = "#fef3c7";

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Renders the chains and jumps of one or more rule sets (one per family) as
 * Mermaid or Graphviz DOT. Every user chain is drawn; a built-in chain is
 * drawn when it has rules or a policy other than ACCEPT. Each node shows
 * the chain's rule count (and policy); each edge the positions of the rules
 * that jump (solid) or go (dashed) to its target. With a trace, the chains
 * the packet passed, the jumps it took, its way from hook to hook (from a
 * `packet` node to a verdict node) are highlighted.
 *
 * @param rulesets The rule sets (IPv4 and/or IPv6).
 * @param options Format, trace, tables.
 * @returns The diagram source (ends with a newline).
 *
 * @example A Mermaid flowchart with the traced path highlighted
 * ```ts
 * import { parseTraceRuleset, renderGraph, tracePacket } from "@rampart/iptables/trace";
 * import assert from "node:assert/strict";
 * const ruleset = parseTraceRuleset([
 *   "*filter", ":INPUT DROP [0:0]", ":rp-in - [0:0]",
 *   "-A INPUT -j rp-in", "-A rp-in -p tcp -m tcp --dport 22 -j ACCEPT", "COMMIT",
 * ].join("\n"), { ipVersion: 4 });
 * const trace = tracePacket(ruleset, {
 *   source: "198.51.100.4", destination: "10.0.0.1", protocol: "tcp", destPort: 22,
 * });
 * const mermaid = renderGraph([ruleset], { trace });
 * assert.match(mermaid, /^flowchart LR/);
 * assert.match(mermaid, /rp-in<br\/>1 rule/);
 * assert.match(mermaid, /-->\|"#35;1 jump"\|/);
 * assert.match(renderGraph([ruleset], { format: "dot" }), /^digraph rampart \{/);
 * ```
 */
export function renderGraph(
  rulesets: readonly TraceRuleset[],
  options: RenderGraphOptions = {},
): string {
  const outcome: TraceOutcome | undefined = options.trace?.outcomes[options.branch ?? 0];
  const traced = options.trace === undefined ? undefined : options.trace.ipVersion;
  const clusters: Cluster[] = [];
  const edges: Edge[] = [];
  const byKey = new Map<string, Node>();
  let counter = 0;
  const key = (v: number, table: string, chain: string) => `${v}\0${table}\0${chain}`;
  const visitedChains = new Set<string>();
  const takenJumps = new Set<string>();
  if (outcome !== undefined && traced !== undefined) {
    for (const s of outcome.path) {
      if (s.kind === "assumed-no-match") continue;
      visitedChains.add(key(traced, s.table, s.chain));
      const m = /^(jump|goto) (.+)$/.exec(s.action);
      if (s.kind === "rule" && m !== null) {
        takenJumps.add(`${key(traced, s.table, s.chain)}\0${m[2]}\0${m[1]}`);
      }
    }
  }
  const familyCount = rulesets.length;
  for (const set of rulesets) {
    for (const table of TABLE_ORDER) {
      if (options.tables !== undefined && !options.tables.includes(table)) continue;
      const chains = set.tables[table];
      if (chains === undefined) continue;
      const targets = new Set<string>();
      for (const c of chains.values()) {
        for (const r of c.rules) {
          if (r.parsed?.target !== undefined && !r.parsed.targetIsExtension) {
            targets.add(r.parsed.target);
          }
        }
      }
      const nodes: Node[] = [];
      for (const c of chains.values()) {
        const builtin = BUILTIN.has(c.name) && c.policy !== undefined;
        if (builtin && c.rules.length === 0 && c.policy === "ACCEPT" && !targets.has(c.name)) {
          continue;
        }
        let label = `${c.name}\n${plural(c.rules.length, "rule")}`;
        if (c.policy !== undefined) label += ` · policy ${c.policy}`;
        const node: Node = {
          id: `n${++counter}`,
          ipVersion: set.ipVersion,
          table,
          chain: c.name,
          label,
          visited: visitedChains.has(key(set.ipVersion, table, c.name)),
        };
        nodes.push(node);
        byKey.set(key(set.ipVersion, table, c.name), node);
      }
      if (nodes.length === 0) continue;
      clusters.push({
        id: `c${set.ipVersion}_${table}`,
        label: familyCount > 1 || set.ipVersion === 6 ? `${table} (IPv${set.ipVersion})` : table,
        nodes,
      });
      for (const c of chains.values()) {
        const from = byKey.get(key(set.ipVersion, table, c.name));
        if (from === undefined) continue;
        const grouped = new Map<string, number[]>();
        for (const r of c.rules) {
          const p = r.parsed;
          if (p?.target === undefined || p.targetIsExtension) continue;
          const k = `${p.target}\0${p.goto ? "goto" : "jump"}`;
          grouped.set(k, [...(grouped.get(k) ?? []), r.position]);
        }
        for (const [k, positions] of grouped) {
          const [target = "", kind = "jump"] = k.split("\0");
          const to = byKey.get(key(set.ipVersion, table, target));
          if (to === undefined) continue;
          edges.push({
            from: from.id,
            to: to.id,
            label: `${positions.map((p) => `#${p}`).join(", ")} ${kind}`,
            kind: kind as "jump" | "goto",
            taken: takenJumps.has(`${key(set.ipVersion, table, c.name)}\0${target}\0${kind}`),
          });
        }
      }
    }
  }
  // The packet's way from hook to hook, and its verdict.
  let start: { id: string; label: string } | undefined;
  let end: { id: string; label: string; verdict: string } | undefined;
  if (outcome !== undefined && traced !== undefined) {
    start = { id: "packet", label: options.packetLabel ?? "packet" };
    const hooks: Node[] = [];
    /** Whether a drawn hook comes after the deciding step. */
    let hookAfterDecision = false;
    let decided = false;
    for (const s of outcome.path) {
      if (s === outcome.decidedBy) decided = true;
      if (s.kind === "assumed-no-match") continue;
      const n = byKey.get(key(traced, s.table, s.chain));
      if (n === undefined || !BUILTIN.has(s.chain)) continue;
      if (hooks.at(-1) !== n) {
        hooks.push(n);
        if (decided && s !== outcome.decidedBy) hookAfterDecision = true;
      }
    }
    const by = outcome.decidedBy;
    let verdict = outcome.verdict as string;
    if (by !== undefined) {
      verdict += by.kind === "policy"
        ? ` by ${by.table} ${by.chain} policy`
        : ` by ${by.table} ${by.chain} #${by.position}`;
    }
    end = { id: "verdict", label: verdict, verdict: outcome.verdict };
    let previous = start.id;
    hooks.forEach((n, i) => {
      edges.push({ from: previous, to: n.id, label: `${i + 1}`, kind: "path", taken: true });
      previous = n.id;
    });
    // The verdict hangs off the deciding chain, unless the packet went through
    // (drawn) hooks after it: then off the last of them.
    const decider = by === undefined || (outcome.verdict === "ACCEPT" && hookAfterDecision)
      ? undefined
      : byKey.get(key(traced, by.table, by.chain));
    edges.push({
      from: decider?.id ?? previous,
      to: end.id,
      label: "",
      kind: "path",
      taken: true,
    });
  }
  return options.format === "dot"
    ? dot(clusters, edges, start, end)
    : mermaid(clusters, edges, start, end);
}

/** Mermaid label text: entity codes for the characters Mermaid or HTML would read. */
function mermaidText(text: string): string {
  return text.replace(/[#"<>&]/g, (c) => `#${c.charCodeAt(0)};`).replace(/\n/g, "<br/>");
}

function mermaid(
  clusters: readonly Cluster[],
  edges: readonly Edge[],
  start: { id: string; label: string } | undefined,
  end: { id: string; label: string; verdict: string } | undefined,
): string {
  const lines = ["flowchart LR"];
  if (start !== undefined) lines.push(`  ${start.id}(["${mermaidText(start.label)}"])`);
  for (const c of clusters) {
    lines.push(`  subgraph ${c.id}["${mermaidText(c.label)}"]`);
    for (const n of c.nodes) lines.push(`    ${n.id}["${mermaidText(n.label)}"]`);
    lines.push("  end");
  }
  if (end !== undefined) lines.push(`  ${end.id}(["${mermaidText(end.label)}"])`);
  const highlighted: number[] = [];
  edges.forEach((e, i) => {
    const arrow = e.kind === "goto" ? "-.->" : e.kind === "path" ? "==>" : "-->";
    const label = e.label === "" ? "" : `|"${mermaidText(e.label)}"|`;
    lines.push(`  ${e.from} ${arrow}${label} ${e.to}`);
    if (e.taken) highlighted.push(i);
  });
  const visited = clusters.flatMap((c) => c.nodes.filter((n) => n.visited).map((n) => n.id));
  if (visited.length > 0 || start !== undefined) {
    lines.push(
      `  classDef visited fill:${VISITED_FILL},stroke:${PATH_COLOR},stroke-width:2px`,
    );
    if (visited.length > 0) lines.push(`  class ${visited.join(",")} visited`);
  }
  if (start !== undefined) lines.push(`  class ${start.id} visited`);
  if (end !== undefined) {
    const style = VERDICT_STYLE[end.verdict] ?? { fill: "#fef9c3", stroke: "#a16207" };
    lines.push(`  classDef verdict fill:${style.fill},stroke:${style.stroke},stroke-width:2px`);
    lines.push(`  class ${end.id} verdict`);
  }
  if (highlighted.length > 0) {
    lines.push(`  linkStyle ${highlighted.join(",")} stroke:${PATH_COLOR},stroke-width:3px`);
  }
  return lines.join("\n") + "\n";
}

/** A DOT double-quoted string. */
function dotText(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function dot(
  clusters: readonly Cluster[],
  edges: readonly Edge[],
  start: { id: string; label: string } | undefined,
  end: { id: string; label: string; verdict: string } | undefined,
): string {
  const lines = [
    "digraph rampart {",
    "  rankdir=LR;",
    '  node [shape=box, style="rounded", fontname="monospace"];',
    '  edge [fontname="monospace"];',
  ];
  const visitedStyle =
    `, style="rounded,filled", fillcolor="${VISITED_FILL}", color="${PATH_COLOR}"`;
  if (start !== undefined) {
    lines.push(`  ${start.id} [label=${dotText(start.label)}, shape=oval${visitedStyle}];`);
  }
  for (const c of clusters) {
    lines.push(`  subgraph cluster_${c.id} {`, `    label=${dotText(c.label)};`);
    for (const n of c.nodes) {
      lines.push(`    ${n.id} [label=${dotText(n.label)}${n.visited ? visitedStyle : ""}];`);
    }
    lines.push("  }");
  }
  if (end !== undefined) {
    const style = VERDICT_STYLE[end.verdict] ?? { fill: "#fef9c3", stroke: "#a16207" };
    lines.push(
      `  ${end.id} [label=${
        dotText(end.label)
      }, shape=oval, style=filled, fillcolor="${style.fill}", color="${style.stroke}"];`,
    );
  }
  for (const e of edges) {
    const attrs: string[] = [];
    if (e.label !== "") attrs.push(`label=${dotText(e.label)}`);
    if (e.kind === "goto") attrs.push("style=dashed");
    if (e.kind === "path") attrs.push("style=bold");
    if (e.taken) attrs.push(`color="${PATH_COLOR}"`, "penwidth=3");
    lines.push(`  ${e.from} -> ${e.to}${attrs.length === 0 ? "" : ` [${attrs.join(", ")}]`};`);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
