/**
 * `rampart top`: a terminal view, refreshed every second, of Rampart's rules
 * (and the built-in chains' policies) whose counters moved, busiest first.
 * `q`, Ctrl-C or end of input quit; the terminal is put back as it was
 * (cooked mode, the main screen, the cursor shown) however it ends.
 *
 * @module
 */
import type { IpFamily } from "../policy/policy.ts";
import type { TableName } from "../../dsl/kernel_chains.ts";
import { ruleWithoutId, type TableCounters } from "./counters.ts";

/** The terminal `rampart top` draws on (injectable for tests). */
export interface TopTerminal {
  /** Whether standard input and output are a terminal. */
  readonly isTerminal: boolean;
  /** Reads raw input bytes; `null` at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes to the terminal. */
  write(text: string): void;
  /** Switches raw mode (keys arrive one by one, Ctrl-C as a byte). */
  setRaw(raw: boolean): void;
  /** The terminal's size. */
  size(): { columns: number; rows: number };
}

/**
 * This process's terminal: standard input and output.
 *
 * @returns The terminal.
 */
export function denoTopTerminal(): TopTerminal {
  const encoder = new TextEncoder();
  return {
    isTerminal: Deno.stdin.isTerminal() && Deno.stdout.isTerminal(),
    read: (buffer) => Deno.stdin.read(buffer),
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
    },
    setRaw(raw) {
      if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(raw);
    },
    size() {
      try {
        const { columns, rows } = Deno.consoleSize();
        return { columns: columns || 80, rows: rows || 24 };
      } catch {
        return { columns: 80, rows: 24 };
      }
    },
  };
}

/** Packets and bytes of one rule or policy at one moment. */
interface Count {
  packets: number;
  bytes: number;
}

/** One line of the view: a rule or policy whose counters moved. */
export interface TopRow {
  /** The table. */
  table: TableName;
  /** The family. */
  ipVersion: IpFamily;
  /** The chain. */
  chain: string;
  /** `#<position> <id> [file:line] <rule>`, or `policy DROP`. */
  text: string;
  /** Packets per second over the last interval. */
  packetRate: number;
  /** Bytes per second over the last interval. */
  byteRate: number;
  /** Packets since the view started. */
  packets: number;
}

/** The state of the view between two samples. */
export interface TopSample {
  /** The counters at the first sample, by key. */
  first: Map<string, { packets: number; bytes: number }>;
  /** The counters at the last sample, by key. */
  last: Map<string, { packets: number; bytes: number }>;
  /** When the last sample was taken (ms). */
  at: number;
}

/** Entries of a sample: a key and counters for each rule of ours and each policy. */
function entries(
  tables: readonly TableCounters[],
  hashPrefix: string,
): { key: string; count: Count; row: Omit<TopRow, "packetRate" | "byteRate" | "packets"> }[] {
  const out = [];
  for (const t of tables) {
    const where = `${t.table}/${t.ipVersion}`;
    for (const p of t.policies) {
      out.push({
        key: `${where}/${p.chain}/policy`,
        count: { packets: p.packets, bytes: p.bytes },
        row: { table: t.table, ipVersion: t.ipVersion, chain: p.chain, text: `policy ${p.policy}` },
      });
    }
    for (const r of t.rules) {
      const text = [
        `#${r.position}`,
        r.id ?? "(no ID)",
        ...(r.source === undefined ? [] : [r.source]),
        ruleWithoutId(r.rule, r.id, hashPrefix),
      ].join(" ");
      out.push({
        // A rule keeps its key when rules move around it: its ID (or its text).
        key: `${where}/${r.chain}/${r.id ?? r.rule}`,
        count: { packets: r.packets, bytes: r.bytes },
        row: { table: t.table, ipVersion: t.ipVersion, chain: r.chain, text },
      });
    }
  }
  return out;
}

/** Counters that went down were reset (the rule was rewritten): count from zero. */
function delta(now: number, before: number | undefined): number {
  return before === undefined || now < before ? now : now - before;
}

/**
 * Turns a new reading into the view's rows: the rules and policies whose
 * counters moved since the previous sample, busiest first (packets per
 * second, then bytes per second).
 *
 * @param previous The previous sample (`undefined` for the first reading).
 * @param tables The new reading.
 * @param options When it was read (ms), and the ID prefix.
 * @returns The rows and the new sample.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCounters, topRows } from "@rampart/iptables/cli";
 * const save = (n: number) =>
 *   `*filter\n:INPUT ACCEPT [0:0]\n[${n}:${n * 84}] -A INPUT -m comment --comment "rampart:Cz_u1IQiXIMmKD4c" -j DROP\nCOMMIT\n`;
 * const first = topRows(undefined, parseCounters(save(10), { ipVersion: 4 }), { at: 0 });
 * const next = topRows(first.sample, parseCounters(save(30), { ipVersion: 4 }), { at: 2000 });
 * assert.equal(next.rows[0]!.packetRate, 10);
 * assert.equal(next.rows[0]!.packets, 20);
 * ```
 */
export function topRows(
  previous: TopSample | undefined,
  tables: readonly TableCounters[],
  options: { at: number; hashPrefix?: string },
): { rows: TopRow[]; sample: TopSample; total: number } {
  const now = entries(tables, options.hashPrefix ?? "rampart:");
  const last = new Map(now.map((e) => [e.key, e.count]));
  const first = new Map(previous?.first ?? []);
  for (const e of now) if (!first.has(e.key)) first.set(e.key, e.count);
  const rows: TopRow[] = [];
  if (previous !== undefined) {
    const seconds = Math.max(0.001, (options.at - previous.at) / 1000);
    for (const e of now) {
      const before = previous.last.get(e.key);
      const packets = delta(e.count.packets, before?.packets);
      const bytes = delta(e.count.bytes, before?.bytes);
      if (packets === 0 && bytes === 0) continue;
      rows.push({
        ...e.row,
        packetRate: packets / seconds,
        byteRate: bytes / seconds,
        packets: delta(e.count.packets, first.get(e.key)?.packets),
      });
    }
  }
  rows.sort((a, b) => b.packetRate - a.packetRate || b.byteRate - a.byteRate);
  return { rows, sample: { first, last, at: options.at }, total: now.length };
}

/** A rate or count in at most 6 characters: `999`, `12.3K`, `4.5M`. */
function compact(n: number): string {
  const units = ["", "K", "M", "G", "T"];
  let u = 0;
  let v = n;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  if (u === 0) return v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)}${units[u]}`;
}

/** Options of {@linkcode renderTop}. */
export interface RenderTopOptions {
  /** What is watched (`network namespace "lab"`, `this host`). */
  target: string;
  /** The terminal's width and height. */
  columns: number;
  /** The terminal's height. */
  rows: number;
  /** Rules and policies watched. */
  total: number;
  /** The time of the sample (shown in the header). */
  time: Date;
  /** The first reading: nothing to compare yet. */
  first?: boolean;
  /** An error of the last reading (shown instead of the rows). */
  error?: string;
}

/**
 * Draws one frame of `rampart top` (the whole screen: cursor home, each line
 * cleared to its end, the rest of the screen cleared).
 *
 * @param rows The rows, busiest first.
 * @param options Target, size, counts and time.
 * @returns The text to write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTop } from "@rampart/iptables/cli";
 * const frame = renderTop([], { target: "this host", columns: 80, rows: 24, total: 3, time: new Date(0) });
 * assert.ok(frame.includes("no rule of Rampart's matched a packet"));
 * ```
 */
export function renderTop(rows: readonly TopRow[], options: RenderTopOptions): string {
  const clock = options.time.toTimeString().slice(0, 8);
  const lines = [
    `rampart top — ${options.target} — ${clock} — every 1s — q quits`,
  ];
  if (options.error !== undefined) lines.push(`reading the counters failed: ${options.error}`);
  else if (options.first === true) lines.push(`watching ${options.total} rules and policies…`);
  else if (rows.length === 0) {
    lines.push(
      `no rule of Rampart's matched a packet in the last second (${options.total} rules and policies watched)`,
    );
  } else {
    lines.push(
      `${rows.length} of ${options.total} rules and policies matched packets in the last second, busiest first`,
    );
  }
  lines.push("");
  const cw = Math.max("chain".length, ...rows.map((r) => r.chain.length));
  lines.push(
    `${"pkts/s".padStart(7)} ${"bytes/s".padStart(7)} ${"packets".padStart(7)}  ${
      "table".padEnd(8)
    } ${"chain".padEnd(cw)}  rule`,
  );
  for (const r of rows.slice(0, Math.max(0, options.rows - lines.length))) {
    lines.push(
      `${compact(r.packetRate).padStart(7)} ${compact(r.byteRate).padStart(7)} ${
        compact(r.packets).padStart(7)
      }  ${`${r.table}/${r.ipVersion}`.padEnd(8)} ${r.chain.padEnd(cw)}  ${r.text}`,
    );
  }
  const width = Math.max(1, options.columns);
  // A line longer than the terminal is cut, with "…" where it was.
  const fit = (line: string) => {
    const chars = [...line];
    return chars.length <= width ? line : chars.slice(0, width - 1).join("") + "…";
  };
  return "\x1b[H" +
    lines.slice(0, options.rows).map((l) => fit(l) + "\x1b[K").join("\r\n") + "\x1b[J";
}

/** Options of {@linkcode runTop}. */
export interface RunTopOptions {
  /** The terminal. */
  terminal: TopTerminal;
  /** Reads the counters of every watched table. */
  read: () => Promise<TableCounters[]>;
  /** What is watched, for the header. */
  target: string;
  /** The prefix of our ID comments. @default {"rampart:"} */
  hashPrefix?: string;
  /** Between readings. @default {1000} */
  intervalMs?: number;
  /** Also stops the view (e.g. SIGTERM). */
  signal?: AbortSignal;
}

/**
 * Runs the view until `q`, Ctrl-C, end of input or `signal`, and puts the
 * terminal back (raw mode off, main screen, cursor shown) however it ends.
 *
 * @param options Terminal, reader, target and interval.
 * @returns Resolves when the view has ended.
 *
 * @example
 * ```ts ignore
 * import { denoTopTerminal, runTop } from "@rampart/iptables/cli";
 * await runTop({ terminal: denoTopTerminal(), read: async () => [], target: "this host" });
 * ```
 */
export async function runTop(options: RunTopOptions): Promise<void> {
  const { terminal } = options;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) stop.abort();
  let wake: (() => void) | undefined;
  stop.signal.addEventListener("abort", () => wake?.());
  terminal.setRaw(true);
  // The alternate screen (the shell's screen comes back on exit), cursor hidden.
  terminal.write("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
  const keys = (async () => {
    const buffer = new Uint8Array(64);
    while (!stop.signal.aborted) {
      const n = await terminal.read(buffer);
      if (n === null) break;
      const input = buffer.subarray(0, n);
      if (input.includes(0x71) || input.includes(0x51) || input.includes(0x03)) break;
    }
    stop.abort();
  })();
  keys.catch(() => stop.abort());
  try {
    let sample: TopSample | undefined;
    while (!stop.signal.aborted) {
      const started = Date.now();
      let frame: string;
      const size = terminal.size();
      const common = { target: options.target, columns: size.columns, rows: size.rows };
      try {
        const tables = await options.read();
        const now = Date.now();
        const result = topRows(sample, tables, {
          at: now,
          ...(options.hashPrefix === undefined ? {} : { hashPrefix: options.hashPrefix }),
        });
        frame = renderTop(result.rows, {
          ...common,
          total: result.total,
          time: new Date(now),
          first: sample === undefined,
        });
        sample = result.sample;
      } catch (e) {
        frame = renderTop([], {
          ...common,
          total: 0,
          time: new Date(),
          error: e instanceof Error ? e.message : String(e),
        });
      }
      if (stop.signal.aborted) break;
      terminal.write(frame);
      const wait = Math.max(0, (options.intervalMs ?? 1000) - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
        if (stop.signal.aborted) done();
      });
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    stop.abort();
    terminal.write("\x1b[?25h\x1b[?1049l");
    terminal.setRaw(false);
  }
}
