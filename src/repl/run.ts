/**
 * The REPL's read-eval-print loop on a terminal.
 *
 * @module
 */
import { completeInput } from "./completion.ts";
import { historyEntry, HistoryFile, historyPath } from "./history.ts";
import { denoTerminal, LineEditor, type TerminalIo } from "./line_editor.ts";
import { DOT_COMMANDS, ReplSession, type ReplSessionOptions } from "./session.ts";

/** Options of {@linkcode runRepl}. */
export interface RunReplOptions extends Omit<ReplSessionOptions, "io"> {
  /** The terminal. @default {this process's stdin/stdout} */
  terminal?: TerminalIo;
  /**
   * The history file; `false` for none. @default {$RAMPART_REPL_HISTORY,
   * else $XDG_STATE_HOME/rampart/repl_history, else ~/.local/state/rampart/repl_history}
   */
  historyFile?: string | false;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Runs the REPL until `.exit` or end of input (Ctrl-D). On a terminal it
 * edits lines in raw mode with history and Tab completion; otherwise it reads
 * lines from standard input without prompts (for scripts and pipes).
 *
 * @param options Session and terminal options.
 * @returns Resolves when the session ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runRepl, type TerminalIo } from "@rampart/iptables/repl";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * // On this process's terminal, in namespace "lab": await runRepl({ netns: "lab", backend: "nft" });
 * // Here, one line from a script on the in-memory FakeDataplane:
 * const input = new TextEncoder().encode('Match().protocol("tcp").destPorts(22)\n');
 * let read = false;
 * let out = "";
 * const terminal: TerminalIo = {
 *   read(buffer) {
 *     if (read) return Promise.resolve(null); // end of input ends the session
 *     read = true;
 *     buffer.set(input);
 *     return Promise.resolve(input.length);
 *   },
 *   write: (text) => void (out += text),
 *   setRaw() {},
 *   isTerminal: false,
 *   columns: () => 80,
 * };
 * await runRepl({ terminal, runner: new FakeDataplane().runner, backend: "nft", historyFile: false });
 * assert.equal(out, "-p tcp -m multiport --destination-ports 22\n");
 * ```
 */
export async function runRepl(options: RunReplOptions = {}): Promise<void> {
  const terminal = options.terminal ?? denoTerminal();
  const interactive = terminal.isTerminal;
  const path = options.historyFile === false ? undefined : options.historyFile ?? historyPath(env);
  const file = path === undefined ? undefined : new HistoryFile(path, {
    onError: (e) =>
      terminal.write(
        `(history not saved: ${e instanceof Error ? e.message : String(e)})\n`,
      ),
  });
  const history = interactive && file !== undefined ? await file.load() : [];
  const holder: { session?: ReplSession } = {};
  const editor = new LineEditor(terminal, {
    history,
    complete: (line, cursor) =>
      completeInput(line, cursor, { scope: holder.session?.scope ?? {}, commands: DOT_COMMANDS }),
  });
  const session = new ReplSession({
    ...options,
    color: options.color ?? (interactive && env("NO_COLOR") === undefined),
    io: {
      write: (text) => terminal.write(interactive ? text.replaceAll(/\r?\n/g, "\r\n") : text),
      async ask(question) {
        if (!interactive) terminal.write(question);
        const r = await editor.readLine(question);
        if (!interactive) terminal.write("\n");
        return r.kind === "line" ? r.text : undefined;
      },
    },
  });
  holder.session = session;
  session.setHistory(history);
  // Ctrl-C while a command runs (the terminal is not in raw mode then, so it
  // is SIGINT): the first stops the command (its signal aborts, which kills
  // its iptables processes); a second stops waiting for a command that does
  // not stop (JavaScript that awaits something else).
  let running: { stop: AbortController; detach: () => void } | undefined;
  const onInterrupt = () => {
    if (running === undefined) return;
    if (!running.stop.signal.aborted) {
      terminal.write("\n");
      running.stop.abort();
    } else running.detach();
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch { /* signals not available */ }
  try {
    if (interactive) {
      terminal.write(
        `Rampart REPL: .help for help, Tab completes, Ctrl-D exits. Target: ${
          session.currentNetns === undefined
            ? 'the HOST (netns("name") switches)'
            : `network namespace "${session.currentNetns}"`
        }\n`,
      );
    }
    let buffer = "";
    while (true) {
      const prompt = buffer === "" ? "rampart> " : "... ";
      const r = await editor.readLine(prompt);
      if (r.kind === "eof") {
        if (buffer !== "") await session.run(buffer);
        break;
      }
      if (r.kind === "interrupt") {
        if (buffer === "") terminal.write("(To exit, press Ctrl-D or type .exit)\r\n");
        buffer = "";
        continue;
      }
      buffer = buffer === "" ? r.text : `${buffer}\n${r.text}`;
      if (session.isIncomplete(buffer)) continue;
      const input = buffer;
      buffer = "";
      const entry = historyEntry(input);
      if (entry !== "" && history.at(-1) !== entry) {
        history.push(entry);
        if (interactive) await file?.add(entry);
      }
      const stop = new AbortController();
      let detach = () => {};
      const detached = new Promise<"detached">((resolve) => detach = () => resolve("detached"));
      running = { stop, detach };
      const outcome = await Promise.race([session.run(input, { signal: stop.signal }), detached]);
      running = undefined;
      if (outcome === "detached") {
        terminal.write("\n(the command did not stop: it goes on in the background)\n");
      }
      if (outcome === "exit") break;
    }
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    } catch { /* signals not available */ }
  }
}
