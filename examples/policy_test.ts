/**
 * Policy unit tests: what examples/office.yaml does to a few packets,
 * checked with `deno test` against the policy as `apply` would write it (no
 * kernel, no root). Copy this file beside your own policy and run it in CI:
 *
 *   deno test --allow-read examples/policy_test.ts
 *
 * A failing assertion prints the packet's path through the rules, each rule
 * with its file:line.
 */
import { loadPolicyFile } from "@rampart/iptables/yaml";
import type { TracePacket } from "@rampart/iptables/trace";
import { assertVerdict, assertVerdicts } from "@rampart/iptables/testing";

const policy = await loadPolicyFile(new URL("./office.yaml", import.meta.url).pathname);

/** An SSH connection attempt to the server from `source`. */
function ssh(source: string): TracePacket {
  return { inInterface: "eth0", source, destination: "192.0.2.10", protocol: "tcp", destPort: 22 };
}

Deno.test("SSH is accepted from the office network", async () => {
  await assertVerdict(policy, ssh("198.51.100.23"), "ACCEPT", {
    decidedBy: { chain: "rp-input", comment: "ssh from the office" },
  });
});

Deno.test("SSH from anywhere else is dropped by the INPUT policy", async () => {
  await assertVerdict(policy, ssh("203.0.113.7"), "DROP", {
    decidedBy: { kind: "policy", chain: "INPUT" },
  });
});

Deno.test("the rest of the traffic", async () => {
  const from = (source: string, destPort: number): TracePacket => ({
    inInterface: "eth0",
    source,
    destination: "192.0.2.10",
    protocol: "tcp",
    destPort,
  });
  await assertVerdicts(policy, [
    { name: "web from anywhere", packet: from("203.0.113.7", 443), verdict: "ACCEPT" },
    { name: "telnet", packet: from("198.51.100.23", 23), verdict: "REJECT" },
    { name: "a database port", packet: from("198.51.100.23", 5432), verdict: "DROP" },
    {
      name: "replies to our own connections",
      packet: { ...from("203.0.113.7", 40000), state: "ESTABLISHED" },
      verdict: "ACCEPT",
    },
    {
      name: "loopback",
      packet: { ...from("127.0.0.1", 5432), inInterface: "lo", destination: "127.0.0.1" },
      verdict: "ACCEPT",
    },
  ]);
});
