/**
 * The demo: builds a realistic host policy with the DSL (raw, mangle, nat and
 * filter tables; IPv4 and IPv6; kernel-chain insertions, owned chains and IP
 * sets), prints the plan, applies it, changes one rule (one line with stable
 * rule IDs; `--rule-ids chained` for Felix's IDs) and prints the resulting
 * iptables-save.
 *
 *     deno run -A examples/apply.ts            # into a throwaway network namespace
 *     deno run -A examples/apply.ts --fake     # into the in-memory FakeDataplane
 *     deno run -A examples/apply.ts --host     # into this machine's own tables (asks first)
 *     deno run -A examples/apply.ts --host --remove   # remove it from this machine again
 *
 * By default nothing outside a private network namespace is touched: the
 * namespace is created, used and deleted. Without root or iptables the demo
 * falls back to the FakeDataplane and says so.
 *
 * @module
 */
import { parseArgs } from "parse-args";
import {
  Accept,
  type CommandRunner,
  DenoCommandRunner,
  Dnat,
  Drop,
  Dscp,
  Firewall,
  type FirewallProgressEvent,
  Jump,
  Log,
  Masq,
  Match,
  NoTrack,
  type Policy,
  Reject,
  RestoreConnMark,
  type RuleIds,
  SaveConnMark,
  SetMaskedMark,
  tablePolicy,
} from "@rampart/iptables";
import { FakeDataplane } from "@rampart/iptables/testing";

/** IP sets the policy matches on; created in the namespace before the rules. */
const IP_SETS = [
  { name: "rp-blocklist", family: "inet", entries: ["192.0.2.0/24", "198.51.100.7"] },
  { name: "rp-blocklist6", family: "inet6", entries: ["2001:db8:bad::/48"] },
] as const;

const TABLE_NAMES = ["raw", "mangle", "nat", "filter"] as const;

/** The demo policy: a web server with SSH, a container behind NAT, and a blocklist. */
function buildPolicy(webPorts: readonly number[] = [22, 80, 443]): Policy {
  const established = Match().conntrackState(["RELATED", "ESTABLISHED"]);
  return {
    ipVersions: [4, 6],
    tables: [
      tablePolicy("raw", {
        insertions: {
          PREROUTING: [{
            match: Match().rpfCheckFailed(),
            action: Drop(),
            comment: "reverse path check",
          }],
          OUTPUT: [{
            match: Match().outInterface("lo"),
            action: NoTrack(),
            comment: "no conntrack on lo",
          }],
        },
      }),
      tablePolicy("mangle", {
        insertions: {
          PREROUTING: [
            { action: RestoreConnMark(0xff00), comment: "restore the connection mark" },
            {
              match: Match().inInterface("eth1").markClear(0xff00),
              action: SetMaskedMark(0x0100, 0xff00),
              comment: "traffic from the backup link",
            },
            { action: SaveConnMark(0xff00) },
          ],
          POSTROUTING: [{
            match: Match().protocol("tcp").sourcePorts(22),
            action: Dscp(16),
            comment: "SSH is interactive",
          }],
        },
      }),
      tablePolicy("nat", {
        insertions: {
          PREROUTING: [
            {
              match: Match().protocol("tcp").destPorts(8080),
              action: Dnat("172.17.0.2", 80),
              ipVersion: 4,
              comment: "publish the container",
            },
            {
              match: Match().protocol("tcp").destPorts(8080),
              action: Dnat("fd00:17::2", 80),
              ipVersion: 6,
              comment: "publish the container",
            },
          ],
        },
        appends: {
          POSTROUTING: [{
            match: Match().outInterface("eth0"),
            action: Masq(),
            comment: "masquerade to the uplink",
          }],
        },
      }),
      tablePolicy("filter", {
        policies: { INPUT: "DROP", FORWARD: "DROP" },
        insertions: {
          INPUT: [{ action: Jump("rp-input") }],
          FORWARD: [{ action: Jump("rp-forward") }],
        },
        appends: {
          OUTPUT: [{
            match: Match().protocol("tcp").destPorts(25),
            action: Reject("tcp-reset"),
            comment: "no direct SMTP",
          }],
        },
        chains: [
          {
            name: "rp-input",
            rules: [
              { match: established, action: Accept() },
              { match: Match().inInterface("lo"), action: Accept() },
              { match: Match().sourceIpSet("rp-blocklist"), action: Jump("rp-drop"), ipVersion: 4 },
              {
                match: Match().sourceIpSet("rp-blocklist6"),
                action: Jump("rp-drop"),
                ipVersion: 6,
              },
              { match: Match().protocol("icmp").icmpType(8), action: Accept(), ipVersion: 4 },
              { match: Match().protocol("ipv6-icmp"), action: Accept(), ipVersion: 6 },
              {
                match: Match().protocol("tcp").destPorts(...webPorts),
                action: Accept(),
                comment: "ssh and web",
              },
              { action: Jump("rp-drop") },
            ],
          },
          {
            name: "rp-forward",
            rules: [
              { match: established, action: Accept() },
              { match: Match().inInterface("docker0").outInterface("eth0"), action: Accept() },
              { action: Jump("rp-drop") },
            ],
          },
          {
            name: "rp-drop",
            rules: [
              { match: Match().limit("5/minute", 10), action: Log("rp-drop") },
              { action: Drop() },
            ],
          },
        ],
      }),
    ],
  };
}

function say(text = ""): void {
  console.log(text);
}

function progress(event: FirewallProgressEvent): void {
  if (event.type === "table-done") {
    say(
      `  [${event.index + 1}/${event.total}] ${event.table} (IPv${event.ipVersion}): ${
        event.changed ? `${event.linesWritten} lines written` : "already in sync"
      }`,
    );
  } else if (event.type === "table-failed") {
    say(`  ${event.table} (IPv${event.ipVersion}) FAILED: ${String(event.error)}`);
  } else if (event.type === "rollback-done") {
    say(`  rolled back ${event.tables.length} table(s) to their previous state`);
  }
}

async function printPlan(firewall: Firewall): Promise<number> {
  const plan = await firewall.plan();
  let lines = 0;
  for (const t of plan.tables) {
    if (t.script === "") continue;
    say(`# ${t.table} (IPv${t.ipVersion})`);
    say(t.script.trimEnd());
    lines += t.script.split("\n").length;
  }
  if (lines === 0) say("(nothing to do: the kernel already matches the policy)");
  return lines;
}

async function printSave(runner: CommandRunner, backend: string): Promise<void> {
  for (const [family, label] of [["iptables", "IPv4"], ["ip6tables", "IPv6"]] as const) {
    say(`== ${family}-save (${label}, ${backend})`);
    for (const table of TABLE_NAMES) {
      let r = await runner.run(`${family}-${backend}-save`, ["-t", table]);
      if (r.code === 127) r = await runner.run(`${family}-save`, ["-t", table]);
      if (r.code !== 0) throw new Error(`${family}-save -t ${table} failed: ${r.stderr.trim()}`);
      say(r.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("#")).join("\n"));
    }
  }
}

async function demo(firewall: Firewall, runner: CommandRunner): Promise<void> {
  firewall.setPolicy(buildPolicy());
  say("== Plan: the exact iptables-restore scripts");
  await printPlan(firewall);
  say();
  say("== Applying (raw, mangle, nat, filter; IPv4 then IPv6)");
  await firewall.apply({ onProgress: progress });
  say();
  say("== Plan after applying");
  await printPlan(firewall);
  say();
  // With stable rule IDs (the default) a changed rule is one line, wherever
  // it is, and every other rule keeps its counters; with --rule-ids chained,
  // every later rule of its chain is written too.
  say(`== One rule changed (port 8443 added to "ssh and web"), ${firewall.ruleIds} rule IDs`);
  firewall.setPolicy(buildPolicy([22, 80, 443, 8443]));
  await printPlan(firewall);
  await firewall.apply({ onProgress: progress });
  say();
  const backend = firewall.table("filter", 4).backend ?? "nft";
  await printSave(runner, backend);
}

async function run(runner: CommandRunner, cmd: string, args: string[]): Promise<string> {
  const r = await runner.run(cmd, args);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

async function createIpSets(runner: CommandRunner): Promise<void> {
  for (const set of IP_SETS) {
    await run(runner, "ipset", ["create", set.name, "hash:net", "family", set.family, "-exist"]);
    for (const entry of set.entries) await run(runner, "ipset", ["add", set.name, entry, "-exist"]);
  }
}

async function kernelUsable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not running as root";
  const host = new DenoCommandRunner();
  for (
    const [bin, args] of [["ip", ["-V"]], ["iptables", ["--version"]], ["ipset", [
      "--version",
    ]]] as const
  ) {
    if ((await host.run(bin, [...args])).code === 127) return `${bin} is not installed`;
  }
  return undefined;
}

async function inNamespace(backend: "auto" | "nft" | "legacy", ruleIds: RuleIds): Promise<void> {
  const host = new DenoCommandRunner();
  const netns = `rp-demo-${crypto.randomUUID().slice(0, 8)}`;
  await run(host, "ip", ["netns", "add", netns]);
  say(`Using the throwaway network namespace ${netns} (deleted at the end).`);
  try {
    const runner = new DenoCommandRunner({ netns });
    await run(runner, "ip", ["link", "set", "lo", "up"]);
    await createIpSets(runner);
    await demo(new Firewall({ netns, runner, backend, ruleIds }), runner);
  } finally {
    await host.run("ip", ["netns", "del", netns]);
    say(`Deleted the network namespace ${netns}.`);
  }
}

async function inFake(ruleIds: RuleIds): Promise<void> {
  const fake = new FakeDataplane();
  for (const set of IP_SETS) fake.addIpSet(set.name);
  await demo(new Firewall({ runner: fake.runner, backend: "nft", ruleIds }), fake.runner);
}

function confirmHost(action: string): boolean {
  const answer = prompt(
    `This will ${action} THIS MACHINE's own iptables rules. Type "yes" to continue:`,
  );
  return answer?.trim() === "yes";
}

async function onHost(
  backend: "auto" | "nft" | "legacy",
  ruleIds: RuleIds,
  remove: boolean,
): Promise<number> {
  if (!Deno.stdin.isTerminal()) {
    console.error(
      "--host needs an interactive confirmation, but standard input is not a terminal.",
    );
    say("Aborted: nothing was changed.");
    return 1;
  }
  const runner = new DenoCommandRunner();
  const firewall = new Firewall({ runner, backend, ruleIds });
  if (remove) {
    if (!confirmHost("remove Rampart's rules and chains from")) return 1;
    firewall.setPolicy(buildPolicy());
    await firewall.cleanUp();
    say("Removed every rule and chain of ours; nothing else was touched.");
    return 0;
  }
  firewall.setPolicy(buildPolicy());
  say("== Plan for this machine");
  await printPlan(firewall);
  if (!confirmHost("change")) {
    say("Aborted: nothing was changed.");
    return 1;
  }
  await createIpSets(runner);
  await firewall.apply({ onProgress: progress });
  await printSave(runner, firewall.table("filter", 4).backend ?? "nft");
  say("Remove it again with: deno run -A examples/apply.ts --host --remove");
  return 0;
}

const USAGE =
  `Usage: deno run -A examples/apply.ts [--fake | --host [--remove]] [--backend auto|nft|legacy]
                                     [--rule-ids stable|chained]

  (default)   apply the demo policy in a throwaway network namespace and print iptables-save
  --fake      use the in-memory FakeDataplane instead of the kernel
  --host      apply to this machine's own tables (asks for confirmation first)
  --remove    with --host: remove the demo's rules and chains again
  --backend   iptables backend (default auto)
  --rule-ids  stable (default) or chained (Felix's) rule IDs`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        host: { type: "boolean" },
        fake: { type: "boolean" },
        remove: { type: "boolean" },
        backend: { type: "string", default: "auto" },
        "rule-ids": { type: "string", default: "stable" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const backend = values.backend;
  if (backend !== "auto" && backend !== "nft" && backend !== "legacy") {
    console.error(`Invalid --backend ${JSON.stringify(backend)}: expected auto, nft or legacy`);
    return 2;
  }
  const ruleIds = values["rule-ids"];
  if (ruleIds !== "stable" && ruleIds !== "chained") {
    console.error(`Invalid --rule-ids ${JSON.stringify(ruleIds)}: expected stable or chained`);
    return 2;
  }
  if (values.host && values.fake) {
    console.error("--host and --fake cannot be combined");
    return 2;
  }
  if (values.remove && !values.host) {
    console.error("--remove only applies with --host (a namespace is deleted anyway)");
    return 2;
  }
  if (values.host) return await onHost(backend, ruleIds, values.remove === true);
  const problem = values.fake ? "--fake was given" : await kernelUsable();
  if (problem !== undefined) {
    say(`Notice: using the in-memory FakeDataplane instead of the kernel (${problem}).`);
    await inFake(ruleIds);
  } else {
    await inNamespace(backend, ruleIds);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`Error: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
