/**
 * The commands besides iptables that the fake dataplane answers: `ipset`
 * (list, create, destroy, version) and `cat /proc/net/ip[6]_tables_names`.
 *
 * @module
 */
import type { CommandResult } from "../host/runner.ts";
import { type FakeKernel, TABLE_ORDER } from "./state.ts";

/** `ipset list -n`, `create`, `destroy` and `version` on the kernel's set names. */
export function runIpset(ipsets: Set<string>, args: readonly string[]): CommandResult {
  const [sub, ...rest] = args;
  if ((sub === "list" || sub === "-L") && rest.includes("-n")) {
    const names = [...ipsets];
    return { code: 0, stdout: names.map((n) => n + "\n").join(""), stderr: "" };
  }
  if ((sub === "create" || sub === "-N") && rest[0] !== undefined) {
    if (ipsets.has(rest[0]) && !rest.includes("-exist")) {
      return {
        code: 1,
        stdout: "",
        stderr: "ipset v7.17: Set cannot be created: set with the same name already exists\n",
      };
    }
    ipsets.add(rest[0]);
    return { code: 0, stdout: "", stderr: "" };
  }
  if ((sub === "destroy" || sub === "-X") && rest[0] !== undefined) {
    ipsets.delete(rest[0]);
    return { code: 0, stdout: "", stderr: "" };
  }
  if (sub === "version" || sub === "--version" || sub === "-v") {
    return { code: 0, stdout: "ipset v7.17, protocol version: 7\n", stderr: "" };
  }
  return { code: 1, stdout: "", stderr: `ipset v7.17: The fake does not emulate this command\n` };
}

/**
 * `cat /proc/net/ip[6]_tables_names`: the legacy tables of the family that
 * exist, i.e. that a legacy command has used (as the kernel instantiates a
 * legacy table when iptables-legacy first touches it).
 */
export function runCat(kernel: FakeKernel, args: readonly string[]): CommandResult {
  const path = args.filter((a) => a !== "--")[0];
  const family = path === "/proc/net/ip_tables_names"
    ? 4
    : path === "/proc/net/ip6_tables_names"
    ? 6
    : undefined;
  if (family === undefined) {
    return { code: 1, stdout: "", stderr: `cat: ${path}: No such file or directory\n` };
  }
  const names = TABLE_ORDER.filter((t) => kernel.legacyLoaded.has(`${family}/${t}`));
  return { code: 0, stdout: names.map((t) => t + "\n").join(""), stderr: "" };
}
