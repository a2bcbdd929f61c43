/**
 * The standard input a command of the fake receives, as one string.
 *
 * @module
 */
import type { StdinSource } from "../host/runner.ts";

/**
 * Joins what a caller passes as `stdin` (a string, or chunks produced as the
 * command reads them) into the whole text the fake parses: the fake, like
 * the real binaries, acts only on input that has ended.
 *
 * @param stdin The input, as a string or chunks.
 * @returns The whole input.
 */
export async function wholeStdin(stdin: StdinSource): Promise<string> {
  if (typeof stdin === "string") return stdin;
  let text = "";
  for await (const chunk of stdin) text += chunk;
  return text;
}
