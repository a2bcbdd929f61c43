/**
 * Plain `iptables [-t table] -A/-I/-D/-R/-N/-X/-F/-P/-Z/-E/-C/-S …`: one
 * command on one table, committed at once, with the errors worded as the
 * `iptables` command words them.
 *
 * @module
 */
import type { CommandResult } from "../host/runner.ts";
import { Failure, type Invocation, VERSION } from "./invocation.ts";
import {
  cloneTable,
  type FakeKernel,
  type FakeTableName,
  isFakeTableName,
  noteTableUse,
} from "./state.ts";
import { applyCommand } from "./commands.ts";
import { checkCommit, parseRuleArgs } from "./checks.ts";
import { listRules } from "./save.ts";

/** Runs one plain `iptables` (or `ip6tables`) command. */
export function runIptables(
  kernel: FakeKernel,
  inv: Invocation,
  args: readonly string[],
): CommandResult {
  const { table, rest } = tableAndCommand(args);
  const name = binaryName(inv);
  if (!isFakeTableName(table)) {
    return {
      code: 3,
      stdout: "",
      stderr:
        `${name} ${VERSION} (${inv.tag}): can't initialize ${name} table \`${table}': Table does not exist (do you need to insmod?)\n`,
    };
  }
  noteTableUse(kernel, inv, table);
  const cmd = rest[0];
  if (cmd === "-S" || cmd === "--list-rules") return listCommand(kernel, inv, { table, rest });
  if (cmd === "-C" || cmd === "--check") return checkCommand(kernel, inv, { table, rest });
  return changeCommand(kernel, inv, { table, rest });
}

/** The table (`-t`, default filter) and the command without the wait options. */
function tableAndCommand(args: readonly string[]): { table: string; rest: string[] } {
  let table: string = "filter";
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-w" || a === "--wait" || a === "-W" || a === "--wait-interval") {
      if (args[i + 1] !== undefined && /^[0-9.]+$/.test(args[i + 1]!)) i++;
    } else if (a === "-t" || a === "--table") table = args[++i] ?? "";
    else rest.push(a);
  }
  return { table, rest };
}

/** `iptables` or `ip6tables`, as the command names itself. */
function binaryName(inv: Invocation): string {
  return inv.family === 4 ? "iptables" : "ip6tables";
}

/** `-S [chain]`. */
function listCommand(
  kernel: FakeKernel,
  inv: Invocation,
  command: { table: FakeTableName; rest: string[] },
): CommandResult {
  const t = kernel.tables[inv.backend][inv.family][command.table];
  const only = command.rest[1];
  if (only !== undefined && !t.has(only)) {
    return {
      code: 1,
      stdout: "",
      stderr: `${binaryName(inv)}: No chain/target/match by that name.\n`,
    };
  }
  return { code: 0, stdout: listRules(t, only), stderr: "" };
}

/** `-C chain rule…`: exit code 0 when an equal rule is in the chain. */
function checkCommand(
  kernel: FakeKernel,
  inv: Invocation,
  command: { table: FakeTableName; rest: string[] },
): CommandResult {
  const name = binaryName(inv);
  const t = kernel.tables[inv.backend][inv.family][command.table];
  const c = t.get(command.rest[1] ?? "");
  const missing = {
    code: 1,
    stdout: "",
    stderr: `${name}: Bad rule (does a matching rule exist in that chain?).\n`,
  };
  if (!c) return missing;
  try {
    const parsed = parseRuleArgs(inv, command.rest.slice(2), { line: 1, ipsets: kernel.ipsets });
    return c.rules.some((r) => r.parsed.identity === parsed.identity)
      ? { code: 0, stdout: "", stderr: "" }
      : missing;
  } catch (e) {
    if (e instanceof Failure) return { code: 2, stdout: "", stderr: e.stderr };
    throw e;
  }
}

/** Any other command: applied to a copy of the table, which replaces it when the checks pass. */
function changeCommand(
  kernel: FakeKernel,
  inv: Invocation,
  command: { table: FakeTableName; rest: string[] },
): CommandResult {
  const tables = kernel.tables[inv.backend][inv.family];
  const work = cloneTable(tables[command.table]);
  try {
    applyCommand({
      inv,
      table: command.table,
      work,
      line: 1,
      lineCounters: undefined,
      commitLine: () => 1,
      ipsets: kernel.ipsets,
      unsupported: kernel.unsupported,
    }, command.rest);
    checkCommit(inv, work, 1);
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    return commandFailure(inv, e);
  }
  for (const c of work.values()) for (const r of c.rules) delete r.line;
  tables[command.table] = work;
  return { code: 0, stdout: "", stderr: "" };
}

/** Re-words a restore-style error the way the iptables command prints it. */
function commandFailure(inv: Invocation, e: Failure): CommandResult {
  const name = binaryName(inv);
  const reason = /line \d+ failed: (.*)\n$/.exec(e.stderr)?.[1];
  if (e.code === 2) {
    const helpLine = `Try \`${name} -h' or '${name} --help' for more information.\n`;
    const msg = e.stderr.split("\nError occurred at line")[0]!.replace(/^.*?: /, "");
    return {
      code: 2,
      stdout: "",
      stderr: `${name} ${VERSION} (${inv.tag}): ${msg}\n${helpLine}`,
    };
  }
  return {
    code: e.code === 4 ? 4 : 1,
    stdout: "",
    stderr: `${name}: ${reason ?? "Invalid argument. Run `dmesg' for more information."}\n`,
  };
}
