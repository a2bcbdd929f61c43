/**
 * `rampart top`: rows and frames (pure), the loop on a scripted terminal
 * (quit keys, the terminal put back), and the real thing in tmux with ping
 * traffic between two namespaces joined by a veth pair.
 */
import assert from "assert";
import {
  EXIT_CODES,
  parseCounters,
  renderTop,
  runTop,
  type TableCounters,
  topRows,
  type TopTerminal,
} from "../../cli.ts";
import { FakeDataplane } from "../../testing.ts";
import { kernelTest, rampart } from "../kernel/netns.ts";
import { recordingEnv, runOn } from "./fake_env.ts";
import { requireTool, TmuxSession } from "./tmux.ts";
import { startPing, stopPing, VETH, withVethPeer } from "./veth.ts";
import { runCli } from "../../cli.ts";

const A = "AAAAAAAAAAAAAAAA";
const B = "BBBBBBBBBBBBBBBB";

function reading(a: number, b: number, policy = 0): TableCounters[] {
  return parseCounters(
    `*filter\n:INPUT DROP [${policy}:${policy * 60}]\n` +
      `[${a}:${a * 84}] -A INPUT -s 10.0.0.1/32 -m comment --comment "rampart:${A}" -j ACCEPT\n` +
      `[${b}:${b * 84}] -A INPUT -s 10.0.0.2/32 -m comment --comment "rampart:${B}" -j ACCEPT\n` +
      "[50:5000] -A INPUT -j ACCEPT\nCOMMIT\n",
    { ipVersion: 4 },
  );
}

Deno.test("topRows: what moved in the last interval, busiest first; resets and policies", () => {
  const first = topRows(undefined, reading(10, 10), { at: 0 });
  assert.deepEqual(first.rows, [], "nothing to compare with yet");
  assert.equal(first.total, 3, "two rules of ours and one policy (not the foreign rule)");
  const second = topRows(first.sample, reading(12, 30, 4), { at: 1000 });
  assert.deepEqual(second.rows.map((r) => [r.text.split(" ")[1], r.packetRate, r.packets]), [
    [B, 20, 20],
    ["DROP", 4, 4],
    [A, 2, 2],
  ]);
  assert.equal(second.rows[0]!.byteRate, 20 * 84);
  assert.match(second.rows[0]!.text, new RegExp(`^#2 ${B} -s 10\\.0\\.0\\.2/32 -j ACCEPT$`));
  // Over two seconds, and a rule rewritten (its counters start again).
  const third = topRows(second.sample, reading(16, 3, 4), { at: 3000 });
  assert.deepEqual(
    third.rows.map((r) => [r.text.split(" ")[1], r.packetRate, r.packets]),
    [
      [B, 1.5, 3],
      [A, 2, 6],
    ].sort((x, y) => (y[1] as number) - (x[1] as number)),
  );
});

Deno.test("renderTop: header, columns, clipped to the terminal", () => {
  const first = topRows(undefined, reading(10, 10), { at: 0 });
  const { rows } = topRows(first.sample, reading(2010, 10), { at: 1000 });
  const frame = renderTop(rows, {
    target: 'network namespace "lab"',
    columns: 60,
    rows: 10,
    total: 3,
    time: new Date(2026, 0, 1, 12, 34, 56),
  });
  assert.ok(frame.startsWith("\x1b[H") && frame.endsWith("\x1b[J"));
  const lines = frame.slice(3, -3).split("\x1b[K\r\n").map((l) => l.replace("\x1b[K", ""));
  assert.ok(lines[0]!.startsWith('rampart top — network namespace "lab" — 12:34:56 — every 1s'));
  assert.match(lines[1]!, /^1 of 3 rules and policies matched packets in the last secon…$/);
  assert.equal(lines[3], " pkts/s bytes/s packets  table    chain  rule");
  assert.equal(lines[4], `   2.0K    168K    2.0K  filter/4 INPUT  #1 ${A}`.slice(0, 59) + "…");
  assert.ok(lines.every((l) => [...l].length <= 60));
});

/** A terminal whose keys the test types; records what was written and the raw mode. */
function scriptedTerminal(): TopTerminal & {
  output: string;
  raw: boolean[];
  press(key: string): void;
  end(): void;
} {
  const waiting: ((n: number | null) => void)[] = [];
  let pending: Uint8Array | null | undefined;
  let target: Uint8Array | undefined;
  const t = {
    output: "",
    raw: [] as boolean[],
    isTerminal: true,
    read(buffer: Uint8Array): Promise<number | null> {
      target = buffer;
      if (pending !== undefined) {
        const p = pending;
        pending = undefined;
        if (p === null) return Promise.resolve(null);
        buffer.set(p);
        return Promise.resolve(p.length);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    write(text: string) {
      t.output += text;
    },
    setRaw(raw: boolean) {
      t.raw.push(raw);
    },
    size: () => ({ columns: 120, rows: 30 }),
    press(key: string) {
      const bytes = new TextEncoder().encode(key);
      const w = waiting.shift();
      if (w === undefined) pending = bytes;
      else {
        target!.set(bytes);
        w(bytes.length);
      }
    },
    end() {
      const w = waiting.shift();
      if (w === undefined) pending = null;
      else w(null);
    },
  };
  return t;
}

Deno.test("runTop: redraws until q, Ctrl-C, end of input or a signal; the terminal is put back", async () => {
  for (const how of ["q", "\x03", "eof", "signal", "x then q"]) {
    const terminal = scriptedTerminal();
    const stop = new AbortController();
    let reads = 0;
    const done = runTop({
      terminal,
      target: "this host",
      intervalMs: 1,
      signal: stop.signal,
      read() {
        reads++;
        // After a few frames, quit the way this case does.
        if (reads === 4) {
          if (how === "eof") terminal.end();
          else if (how === "signal") stop.abort();
          else if (how === "x then q") {
            terminal.press("x");
            setTimeout(() => terminal.press("q"), 5);
          } else terminal.press(how);
        }
        if (reads === 3) return Promise.reject(new Error("iptables-save failed"));
        return Promise.resolve(reading(reads * 10, 0));
      },
    });
    await done;
    assert.deepEqual(terminal.raw, [true, false], how);
    assert.ok(terminal.output.startsWith("\x1b[?1049h\x1b[?25l"), how);
    assert.ok(terminal.output.endsWith("\x1b[?25h\x1b[?1049l"), how);
    assert.match(terminal.output, /reading the counters failed: iptables-save failed/);
    assert.match(terminal.output, new RegExp(`#1 ${A} -s 10\\.0\\.0\\.1/32 -j ACCEPT`));
  }
});

Deno.test("rampart top is refused without a terminal, and with --json (exit 2)", async () => {
  const fake = new FakeDataplane();
  const noTerminal = await runOn(fake.runner, ["top", "--backend", "nft"]);
  assert.equal(noTerminal.code, EXIT_CODES.USAGE);
  assert.match(noTerminal.err, /rampart top draws on a terminal/);
  const env = Object.assign(recordingEnv(fake.runner), { terminal: scriptedTerminal() });
  assert.equal(await runCli(["top", "--json"], env), EXIT_CODES.USAGE);
  assert.match(JSON.parse(env.out).error.message, /--json/);
  const r = await rampart(["top"]);
  assert.equal(r.code, EXIT_CODES.USAGE, "a whole process with no terminal");
});

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - {sourceNet: ${VETH.peer2}, protocol: icmp, action: accept, comment: slow}
        - {sourceNet: ${VETH.peer}, protocol: icmp, action: accept, comment: fast}
`;

const CLI = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** The rows section of the visible screen: the lines after the column heading. */
function rowsOf(screen: string): string[] {
  const lines = screen.split("\n");
  const at = lines.findIndex((l) => l.includes("pkts/s") && l.includes("rule"));
  return at < 0 ? [] : lines.slice(at + 1).filter((l) => l.trim() !== "");
}

/**
 * Runs `command` (top) in tmux inside a shell that, when it ends, prints its
 * exit code and the terminal's mode, and waits.
 */
async function topInTmux(command: string): Promise<TmuxSession> {
  const after =
    `echo "top exited $?"; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo; exec sleep 600`;
  const shell = `printf 'before top\\n'; NO_COLOR=1 ${command}; ${after}`;
  return await TmuxSession.start(`sh -c '${shell.replaceAll("'", `'\\''`)}'`, {
    columns: 200,
    rows: 30,
  });
}

kernelTest(
  "rampart top in tmux: ping over a veth pair, busiest first, q and Ctrl-C put the terminal back",
  async (netns) => {
    if (!await requireTool("tmux", ["-V"]) || !await requireTool("ping", ["-V"])) return;
    const dir = await Deno.makeTempDir({ prefix: "rp-top-" });
    try {
      const file = `${dir}/rules.yaml`;
      await Deno.writeTextFile(file, RULES);
      await withVethPeer(netns, async (peer) => {
        const apply = await rampart([
          "apply",
          file,
          "--netns",
          netns,
          "--backend",
          "nft",
          "--yes",
          "--state-dir",
          `${dir}/state`,
        ]);
        assert.equal(apply.code, 0, apply.err);
        const fast = startPing(peer, VETH.peer, "0.02");
        const slow = startPing(peer, VETH.peer2, "0.25");
        try {
          const deno = `${Deno.execPath()} run -A --config=${CONFIG} ${CLI}`;
          // --netns, with the file for file:line; quit with q.
          const top = await topInTmux(`${deno} top ${file} --netns ${netns} --backend nft`);
          try {
            await top.waitFor(`rampart top — network namespace "${netns}"`);
            const screen = await top.waitUntil((s) => {
              const rows = rowsOf(s);
              const f = rows.findIndex((l) => l.includes("comment fast"));
              const sl = rows.findIndex((l) => l.includes("comment slow"));
              return f >= 0 && sl > f;
            }, "the fast rule above the slow one");
            // Busiest first: the jump (both flows), the fast rule, the slow one.
            const rows = rowsOf(screen);
            assert.match(rows[0]!, new RegExp(`filter/4 INPUT +#1 [\\w-]{16} ${file}:7 -j rp-in$`));
            assert.match(
              rows[1]!,
              new RegExp(`filter/4 rp-in +#2 [\\w-]{16} ${file}:11 -s ${VETH.peer}/32`),
            );
            assert.match(
              rows[2]!,
              new RegExp(`filter/4 rp-in +#1 [\\w-]{16} ${file}:10 -s ${VETH.peer2}/32`),
            );
            assert.equal(await top.format("#{alternate_on}"), "1");
            assert.equal(await top.format("#{cursor_flag}"), "0");
            await top.type("q");
            const after = await top.waitUntil(
              (s) => /top exited \d+\n.*echo/.test(s),
              "top to exit",
            );
            assert.match(after, /top exited 0\nicanon echo/);
            assert.match(after, /^before top$/m, "the shell's screen is back");
            assert.equal(await top.format("#{alternate_on}"), "0");
            assert.equal(await top.format("#{cursor_flag}"), "1");
          } finally {
            await top.kill();
          }
          // This host, as seen from inside the namespace; quit with Ctrl-C.
          const host = await topInTmux(`ip netns exec ${netns} ${deno} top --backend nft`);
          try {
            await host.waitFor("rampart top — this host");
            await host.waitUntil(
              (s) => rowsOf(s).some((l) => l.includes("comment fast")),
              "traffic",
            );
            await host.keys("C-c");
            const after = await host.waitUntil(
              (s) => /top exited \d+\n.*echo/.test(s),
              "top to exit",
            );
            assert.match(after, /top exited 0\nicanon echo/);
            assert.equal(await host.format("#{cursor_flag}"), "1");
          } finally {
            await host.kill();
          }
        } finally {
          await stopPing(fast);
          await stopPing(slow);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
