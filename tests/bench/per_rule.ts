/**
 * The per-rule approach (as go-iptables-style wrappers do): one `iptables -N`
 * per chain and one `iptables -A`/`-I` per rule, each its own process. Run
 * INSIDE the namespace (`ip netns exec <ns> deno run -A per_rule.ts <binary>
 * <script file>`), so each rule costs one iptables process and nothing more.
 * Prints the elapsed milliseconds and the number of processes as JSON.
 *
 * @module
 */
import { splitArgs } from "./harness.ts";

const [binary, file] = Deno.args;
if (binary === undefined || file === undefined) {
  throw new Error("Usage: per_rule.ts <iptables binary> <restore script file>");
}
const commands: string[][] = [];
for (const line of (await Deno.readTextFile(file)).split("\n")) {
  if (line.startsWith(":")) commands.push(["-t", "filter", "-N", line.slice(1, line.indexOf(" "))]);
  else if (line.startsWith("-A ") || line.startsWith("-I ")) {
    commands.push(["-t", "filter", ...splitArgs(line)]);
  }
}
const t0 = performance.now();
for (const args of commands) {
  const r = await new Deno.Command(binary, { args, stdout: "null", stderr: "piped" }).output();
  if (r.code !== 0) {
    throw new Error(`${binary} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}
console.log(JSON.stringify({ ms: performance.now() - t0, processes: commands.length }));
