/** A terminal for the line editor whose input is a list of chunks, one per read. */
import type { TerminalIo } from "../../repl.ts";

/** The terminal; `output` collects what the editor wrote. */
export function scripted(chunks: string[], columns = 80): TerminalIo & { output: string } {
  const enc = new TextEncoder();
  const io = {
    output: "",
    isTerminal: true,
    read(buffer: Uint8Array): Promise<number | null> {
      const next = chunks.shift();
      if (next === undefined) return Promise.resolve(null);
      const bytes = enc.encode(next);
      buffer.set(bytes);
      return Promise.resolve(bytes.length);
    },
    write(text: string) {
      io.output += text;
    },
    setRaw() {},
    columns: () => columns,
  };
  return io;
}
