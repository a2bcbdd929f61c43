/**
 * The tracer against the real kernel, on chosen rule sets and packets (TCP,
 * UDP, ICMP; IPv4 and IPv6; arriving, forwarded and sent; both backends):
 * for every packet the kernel's per-rule counters move exactly where the
 * tracer's path says, the packet arrives exactly when the verdict is
 * ACCEPT, and it arrives as the tracer's last packet describes it (NAT,
 * TTL, DSCP). The lab is described in packet_lab.ts.
 */
import assert from "assert";
import { Firewall } from "../../mod.ts";
import { loadPolicyFile } from "../../yaml.ts";
import { readKernelRuleset, traceKernel } from "../../trace.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import { checkPacket, describeDivergence, labTest } from "./lab_harness.ts";
import { type LabPacket, LOCAL_ADDRESSES, type PacketLab, tracePacketOf } from "./packet_lab.ts";

/** Every table, empty, so that a script replaces what an earlier one loaded. */
const EMPTY = ["raw", "mangle", "nat", "filter"].map((t) => `*${t}\nCOMMIT\n`).join("");

/** Loads a family's rules and checks each packet; returns the traces for further asserts. */
async function expectAgreement(
  lab: PacketLab,
  family: 4 | 6,
  script: string,
  packets: readonly (LabPacket & { verdict: string; by?: string })[],
) {
  await lab.load(family, EMPTY + script);
  for (const p of packets) {
    const c = await checkPacket(lab, p);
    assert.deepEqual(c.problems, [], describeDivergence(c, c.seen.before));
    assert.equal(c.trace.verdict, p.verdict, describeDivergence(c, c.seen.before));
    if (p.by !== undefined) {
      const by = c.trace.decidedBy!;
      assert.equal(
        by.kind === "policy"
          ? `${by.table} ${by.chain} policy`
          : `${by.table} ${by.chain} #${by.position}`,
        p.by,
      );
    }
  }
}

const HOST4 = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:rp-in - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i b0 -j rp-in
-A rp-in -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A rp-in -p udp -m multiport --dports 53,123 -j ACCEPT
-A rp-in -p udp -j REJECT --reject-with icmp-port-unreachable
-A rp-in -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A rp-in -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
COMMIT
`;

labTest("an IPv4 host: TCP, UDP and ICMP arriving, accepted, dropped and rejected", async (lab) => {
  const p = (x: Partial<LabPacket>): LabPacket => ({
    direction: "in",
    family: 4,
    proto: "tcp",
    src: "203.0.113.7",
    dst: "10.1.0.1",
    sport: 40000,
    dport: 22,
    flags: "S",
    ...x,
  });
  await expectAgreement(lab, 4, HOST4, [
    { ...p({ src: "198.51.100.4" }), verdict: "ACCEPT", by: "filter rp-in #1" },
    { ...p({}), verdict: "DROP", by: "filter INPUT policy" },
    { ...p({ dst: "10.2.0.1", src: "198.51.100.9", sport: 40001 }), verdict: "ACCEPT" },
    { ...p({ flags: "SA", src: "198.51.100.4" }), verdict: "DROP", by: "filter INPUT #2" },
    { ...p({ dport: 25, sport: 40002 }), verdict: "REJECT", by: "filter rp-in #5" },
    { ...p({ proto: "udp", dport: 53, sport: 5353 }), verdict: "ACCEPT", by: "filter rp-in #2" },
    { ...p({ proto: "udp", dport: 9, sport: 5354 }), verdict: "REJECT", by: "filter rp-in #3" },
    {
      ...p({ proto: "icmp", sport: undefined, dport: undefined, flags: undefined }),
      verdict: "ACCEPT",
      by: "filter rp-in #4",
    },
    {
      ...p({ proto: "icmp", icmpType: 13, sport: undefined, dport: undefined, flags: undefined }),
      verdict: "DROP",
    },
    {
      ...p({ proto: "icmp", icmpType: 0, sport: undefined, dport: undefined, flags: undefined }),
      verdict: "DROP",
      by: "filter INPUT #2",
    },
    { ...p({ proto: "udp", dst: "10.1.0.255", dport: 123, sport: 123 }), verdict: "ACCEPT" },
  ]);
});

labTest(
  "negated source and destination ports: one compare of both on nft, two on legacy",
  async (lab) => {
    // iptables-nft compiles `! --sport A ! --dport B` (single ports, tcp and
    // udp) into one 32-bit compare `!= A:B`: it matches unless both ports are
    // equal; legacy's xt_tcpudp matches only when neither is. A range keeps
    // two compares on nft. (The last rule is never reached: it turns
    // conntrack on in the namespace, without which legacy's nat chains see no
    // packet.)
    const p = (x: Partial<LabPacket>): LabPacket => ({
      direction: "in",
      family: 4,
      proto: "udp",
      src: "203.0.113.7",
      dst: "10.1.0.1",
      sport: 40000,
      dport: 8080,
      ...x,
    });
    const nft = lab.backend === "nft";
    await expectAgreement(
      lab,
      4,
      `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p udp -m udp ! --sport 53 ! --dport 8080 -j DROP
-A INPUT -p tcp -m tcp ! --sport 5353 ! --dport 8443 -j DROP
-A INPUT -p udp -m udp ! --sport 53:54 ! --dport 9090 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p udp -j ACCEPT
-A INPUT -p tcp -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
COMMIT
`,
      [
        // Both ports equal: no match on either backend.
        { ...p({ sport: 53 }), verdict: "ACCEPT", by: "filter INPUT #4" },
        // Only the destination port is 8080.
        {
          ...p({}),
          verdict: nft ? "DROP" : "REJECT",
          by: nft ? "filter INPUT #1" : "filter INPUT #3",
        },
        // Only the source port is 53.
        {
          ...p({ sport: 53, dport: 9091 }),
          verdict: nft ? "DROP" : "ACCEPT",
          by: nft ? "filter INPUT #1" : "filter INPUT #4",
        },
        // Neither: a match on both backends.
        { ...p({ sport: 40001, dport: 8081 }), verdict: "DROP", by: "filter INPUT #1" },
        {
          ...p({ proto: "tcp", sport: 40002, dport: 8443, flags: "S" }),
          verdict: nft ? "DROP" : "ACCEPT",
          by: nft ? "filter INPUT #2" : "filter INPUT #5",
        },
        {
          ...p({ proto: "tcp", sport: 5353, dport: 8443, flags: "S" }),
          verdict: "ACCEPT",
          by: "filter INPUT #5",
        },
      ],
    );
  },
);

labTest("an IPv6 host: TCP, UDP and ICMPv6 arriving, multicast included", async (lab) => {
  const script = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -s 2001:db8:77::/48 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
-A INPUT -d ff00::/8 -p udp -j ACCEPT
-A INPUT -p udp -j REJECT --reject-with icmp6-adm-prohibited
-A INPUT -m hl --hl-lt 10 -j DROP
COMMIT
`;
  const p = (x: Partial<LabPacket>): LabPacket => ({
    direction: "in",
    family: 6,
    proto: "tcp",
    src: "2001:db8:77::4",
    dst: "2001:db8:1::1",
    sport: 40000,
    dport: 22,
    flags: "S",
    ...x,
  });
  await expectAgreement(lab, 6, script, [
    { ...p({}), verdict: "ACCEPT", by: "filter INPUT #2" },
    { ...p({ src: "2001:db8:88::7" }), verdict: "DROP", by: "filter INPUT policy" },
    { ...p({ flags: "R" }), verdict: "DROP", by: "filter INPUT #1" },
    {
      ...p({ proto: "icmp", sport: undefined, dport: undefined, flags: undefined }),
      verdict: "ACCEPT",
    },
    {
      ...p({ proto: "icmp", icmpType: 129, sport: undefined, dport: undefined, flags: undefined }),
      verdict: "DROP",
      by: "filter INPUT #1",
    },
    { ...p({ proto: "udp", dst: "ff02::1", dport: 5353, sport: 5353 }), verdict: "ACCEPT" },
    { ...p({ proto: "udp", dport: 53, sport: 5353 }), verdict: "REJECT", by: "filter INPUT #5" },
    { ...p({ src: "2001:db8:88::7", ttl: 5 }), verdict: "DROP", by: "filter INPUT #6" },
  ]);
});

labTest(
  "forwarding: DNAT to the inside, masquerade, TTL and DSCP changed on the way",
  async (lab) => {
    const script = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.1.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.2.0.2:80
-A POSTROUTING -o b1 -s 203.0.113.0/25 -j MASQUERADE
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p udp -j TTL --ttl-set 2
-A FORWARD -p tcp -j DSCP --set-dscp 0x2e
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate DNAT -d 10.2.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
-A FORWARD -m dscp --dscp 0x2e -d 192.0.2.0/24 -j ACCEPT
-A FORWARD -p udp -m ttl --ttl-eq 1 -j ACCEPT
-A FORWARD -p icmp -j ACCEPT
COMMIT
`;
    const p = (x: Partial<LabPacket>): LabPacket => ({
      direction: "in",
      family: 4,
      proto: "tcp",
      src: "203.0.113.7",
      dst: "10.1.0.1",
      sport: 41000,
      dport: 8080,
      flags: "S",
      ...x,
    });
    await expectAgreement(lab, 4, script, [
      { ...p({}), verdict: "ACCEPT", by: "filter FORWARD #1" },
      { ...p({ src: "198.51.100.4", sport: 41001 }), verdict: "ACCEPT" },
      {
        ...p({ direction: "forward", dst: "192.0.2.10", dport: 443, sport: 41002 }),
        verdict: "ACCEPT",
      },
      {
        ...p({ direction: "forward", dst: "10.2.0.2", dport: 443, sport: 41003 }),
        verdict: "DROP",
      },
      // UDP: TTL set to 2, forwarded with 1 left.
      {
        ...p({
          direction: "forward",
          proto: "udp",
          dst: "192.0.2.10",
          dport: 53,
          flags: undefined,
        }),
        verdict: "ACCEPT",
        by: "filter FORWARD #3",
      },
      // ICMP with TTL 1: the router drops it before FORWARD.
      {
        ...p({
          direction: "forward",
          proto: "icmp",
          dst: "192.0.2.10",
          ttl: 1,
          sport: undefined,
          dport: undefined,
          flags: undefined,
        }),
        verdict: "DROP",
      },
    ]);
  },
);

labTest("marks, connection marks, NOTRACK, owner, and packets the host sends", async (lab) => {
  const script = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 514 -j CT --notrack
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -s 198.51.100.0/24 -j MARK --set-xmark 0x10/0xff
-A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff
-A OUTPUT -m owner --uid-owner 0 -j MARK --set-xmark 0x1/0x1
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
-A INPUT -m mark --mark 0x10/0xff -m connmark --mark 0x10/0xff -j ACCEPT
-A OUTPUT -m mark --mark 0x5a000001 -o b1 -p tcp -m tcp --dport 443 -j ACCEPT
-A OUTPUT -p icmp -j REJECT
COMMIT
`;
  const p = (x: Partial<LabPacket>): LabPacket => ({
    direction: "in",
    family: 4,
    proto: "tcp",
    src: "198.51.100.4",
    dst: "10.1.0.1",
    sport: 42000,
    dport: 22,
    flags: "S",
    ...x,
  });
  await expectAgreement(lab, 4, script, [
    { ...p({}), verdict: "ACCEPT", by: "filter INPUT #2" },
    { ...p({ src: "203.0.113.7" }), verdict: "DROP" },
    { ...p({ src: "203.0.113.7", proto: "udp", dport: 514, flags: undefined }), verdict: "ACCEPT" },
    {
      ...p({ direction: "out", src: "10.2.0.1", dst: "192.0.2.10", dport: 443 }),
      verdict: "ACCEPT",
      by: "filter OUTPUT #1",
    },
    { ...p({ direction: "out", src: "10.2.0.1", dst: "192.0.2.10", dport: 80 }), verdict: "DROP" },
    {
      ...p({
        direction: "out",
        proto: "icmp",
        src: "10.2.0.1",
        dst: "10.2.0.2",
        sport: undefined,
        dport: undefined,
        flags: undefined,
      }),
      verdict: "REJECT",
    },
  ]);
});

labTest(
  "a Rampart policy applied beside another program's rules, traced from the live kernel",
  async (lab) => {
    const host = lab.names.host;
    // Another program (docker-shaped): a DNAT for 8080 and its own FORWARD rule.
    await lab.load(
      4,
      `*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.2.0.2:80
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -d 10.2.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
`,
    );
    const policy = await loadPolicyFile(
      new URL("../../examples/office.yaml", import.meta.url).pathname,
    );
    const firewall = new Firewall({ netns: host, backend: lab.backend, ipVersions: [4] });
    firewall.setPolicy(policy);
    await firewall.apply({ snapshot: false });
    lab.forget();
    const runner = new DenoCommandRunner({ netns: host });
    const read = await readKernelRuleset(4, { runner, backend: lab.backend });
    assert.ok(read.save.includes("DOCKER"), "the other program's rules are read");
    const packets: LabPacket[] = [
      {
        direction: "in",
        family: 4,
        proto: "tcp",
        src: "198.51.100.4",
        dst: "10.1.0.1",
        sport: 43000,
        dport: 22,
        flags: "S",
      },
      {
        direction: "in",
        family: 4,
        proto: "tcp",
        src: "203.0.113.7",
        dst: "10.1.0.1",
        sport: 43001,
        dport: 22,
        flags: "S",
      },
      {
        direction: "in",
        family: 4,
        proto: "tcp",
        src: "203.0.113.7",
        dst: "10.1.0.1",
        sport: 43002,
        dport: 23,
        flags: "S",
      },
      {
        direction: "in",
        family: 4,
        proto: "tcp",
        src: "203.0.113.7",
        dst: "10.1.0.1",
        sport: 43003,
        dport: 8080,
        flags: "S",
      },
    ];
    const verdicts: string[] = [];
    for (const packet of packets) {
      const c = await checkPacket(lab, packet);
      assert.deepEqual(c.problems, [], describeDivergence(c, c.seen.before));
      // traceKernel (the CLI's live source) says the same as the trace of the saved text.
      const live = await traceKernel(tracePacketOf(packet, lab, c.seen.length), {
        runner,
        backend: lab.backend,
        localAddresses: LOCAL_ADDRESSES,
      });
      assert.equal(live.verdict, c.trace.verdict);
      assert.deepEqual(live.path.map((s) => s.rule), c.trace.path.map((s) => s.rule));
      verdicts.push(
        `${c.trace.verdict} ${c.trace.decidedBy?.ruleId === undefined ? "theirs" : "ours"}`,
      );
    }
    assert.deepEqual(verdicts, ["ACCEPT ours", "DROP theirs", "REJECT ours", "ACCEPT theirs"]);
  },
);
