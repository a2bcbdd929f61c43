/**
 * Peak memory of a 100k-rule table, in its own process: builds the workload
 * with the DSL, then plans and applies it against a stub runner (an empty
 * kernel that accepts every restore), and prints the process's peak resident
 * set (VmHWM) and the V8 heap in use as JSON. `--baseline` only loads the
 * module, for the runtime's own footprint.
 *
 * @module
 */
import { type CommandRunner, Table } from "../../mod.ts";
import { buildChains, IP_SETS, rootJump, setName } from "./workload.ts";

function peakRssMb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

const chains = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 1000);
let rules = 0;
if (!Deno.args.includes("--baseline")) {
  const sets = Array.from({ length: IP_SETS }, (_, i) => setName(i)).join("\n") + "\n";
  const runner: CommandRunner = {
    run(cmd, args) {
      let stdout = "";
      if (args.includes("--version")) stdout = "iptables v1.8.9 (nf_tables)\n";
      else if (cmd.endsWith("-save")) {
        stdout =
          "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
      } else if (cmd === "ipset") stdout = sets;
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
  };
  const table = new Table("filter", { runner, backend: "nft" });
  table.updateChains(buildChains(chains, 100));
  table.setRuleInsertions("INPUT", [rootJump()]);
  await table.apply();
  rules = table.metrics().rules;
}
const heapMb = Deno.memoryUsage().heapUsed / 1048576;
console.log(JSON.stringify({ rules, peakRssMb: peakRssMb(), heapUsedMb: heapMb }));
