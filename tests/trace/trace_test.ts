/**
 * The packet tracer on hand-written iptables-save texts: hooks in the
 * kernel's order, jumps, gotos, returns, policies, NAT and marks, each
 * match module, undecidable matches as branches.
 */
import assert from "assert";
import { parseIpSetSave, renderTrace, type TracePacket, tracePacket } from "../../trace.ts";
import { TracePacketError } from "../../trace.ts";

const ssh: TracePacket = {
  inInterface: "eth0",
  source: "203.0.113.7",
  destination: "10.0.0.1",
  protocol: "tcp",
  sourcePort: 40000,
  destPort: 22,
};

function filter(...lines: string[]): string {
  const chains = new Set<string>();
  for (const l of lines) {
    const m = /^-A (\S+)/.exec(l);
    if (m && !["INPUT", "FORWARD", "OUTPUT"].includes(m[1]!)) chains.add(m[1]!);
  }
  const policy = (c: string) => lines.find((l) => l.startsWith(`:${c} `)) ?? `:${c} ACCEPT [0:0]`;
  return [
    "*filter",
    policy("INPUT"),
    policy("FORWARD"),
    policy("OUTPUT"),
    ...[...chains].map((c) => `:${c} - [0:0]`),
    ...lines.filter((l) => !l.startsWith(":")),
    "COMMIT",
    "",
  ].join("\n");
}

/** The positions of the rule steps, as `chain#n`. */
function hits(save: string, packet: TracePacket, options = {}): string[] {
  const r = tracePacket(save, packet, options);
  assert.equal(r.outcomes.length, 1, "decided");
  return r.path.filter((s) => s.kind === "rule").map((s) => `${s.chain}#${s.position}`);
}

Deno.test("policy decides when no rule matches; the first matching ACCEPT decides otherwise", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
  );
  const out = tracePacket(save, ssh);
  assert.equal(out.verdict, "DROP");
  assert.equal(out.decidedBy?.kind, "policy");
  assert.equal(out.decidedBy?.rule, "-P INPUT DROP");
  const office = tracePacket(save, { ...ssh, source: "198.51.100.20" });
  assert.equal(office.verdict, "ACCEPT");
  assert.equal(office.decidedBy?.position, 1);
  assert.equal(
    office.decidedBy?.rule,
    "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT",
  );
  assert.equal(office.decided, true);
});

Deno.test("jumps, returns, gotos and user-chain fall-through", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -j a",
    "-A INPUT -j ACCEPT",
    "-A a -p udp -j DROP",
    "-A a -g b",
    "-A a -j DROP",
    "-A b -p tcp -m tcp --dport 80 -j ACCEPT",
    "-A b -j RETURN",
    "-A b -j DROP",
  );
  // goto b, RETURN from b goes back to INPUT (the caller of a), not to a.
  assert.deepEqual(hits(save, ssh), ["INPUT#1", "a#2", "b#2", "INPUT#2"]);
  assert.equal(tracePacket(save, ssh).verdict, "ACCEPT");
  assert.equal(tracePacket(save, { ...ssh, destPort: 80 }).decidedBy?.chain, "b");
  assert.equal(tracePacket(save, { ...ssh, protocol: "udp" }).verdict, "DROP");
  // A user chain that ends returns to the caller.
  const fall = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -j c",
    "-A INPUT -j ACCEPT",
    "-A c -p udp -j DROP",
  );
  const r = tracePacket(fall, ssh);
  assert.deepEqual(r.path.map((s) => s.kind), ["rule", "return", "rule"]);
  assert.equal(r.verdict, "ACCEPT");
});

Deno.test("RETURN in a built-in chain, and a goto from it that ends, take the policy", () => {
  const save = filter(":INPUT DROP [0:0]", "-A INPUT -j RETURN", "-A INPUT -j ACCEPT");
  const r = tracePacket(save, ssh);
  assert.equal(r.verdict, "DROP");
  assert.equal(r.decidedBy?.kind, "policy");
  const g = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -g x",
    "-A INPUT -j ACCEPT",
    "-A x -p udp -j ACCEPT",
  );
  assert.equal(tracePacket(g, ssh).verdict, "DROP");
});

Deno.test("hooks run in the kernel's order; ACCEPT ends only its own table", () => {
  const save = [
    "*raw",
    ":PREROUTING ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    "-A PREROUTING -j ACCEPT",
    "COMMIT",
    "*mangle",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff",
    "-A INPUT -m mark --mark 0x1 -j ACCEPT",
    "COMMIT",
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A INPUT -j ACCEPT",
    "COMMIT",
    filter(":INPUT DROP [0:0]", "-A INPUT -m mark --mark 0x1 -j ACCEPT"),
  ].join("\n");
  const r = tracePacket(save, ssh);
  assert.deepEqual(
    r.path.map((s) => `${s.table}/${s.chain}/${s.kind}`),
    [
      "raw/PREROUTING/rule",
      "mangle/PREROUTING/rule",
      "mangle/PREROUTING/policy",
      "nat/PREROUTING/policy",
      "mangle/INPUT/rule",
      "filter/INPUT/rule",
      // nat INPUT comes after filter INPUT (priority 100 > 0).
      "nat/INPUT/rule",
    ],
  );
  assert.equal(r.verdict, "ACCEPT");
  assert.equal(r.decidedBy?.table, "filter");
  assert.equal(r.outcomes[0]!.packet.mark, "0x1");
});

Deno.test("forwarded and sent packets walk their own hooks", () => {
  const save = [
    "*mangle",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A FORWARD -j ACCEPT",
    "-A OUTPUT -j ACCEPT",
    "-A POSTROUTING -j ACCEPT",
    "COMMIT",
    filter(
      ":FORWARD DROP [0:0]",
      "-A FORWARD -i eth0 -o eth1 -j ACCEPT",
      "-A OUTPUT -o eth+ -j REJECT --reject-with icmp-host-prohibited",
    ),
  ].join("\n");
  const fwd = tracePacket(save, { ...ssh, outInterface: "eth1" });
  assert.deepEqual(
    fwd.path.map((s) => `${s.table}/${s.chain}`),
    ["mangle/PREROUTING", "mangle/FORWARD", "filter/FORWARD", "mangle/POSTROUTING"],
  );
  assert.equal(fwd.verdict, "ACCEPT");
  assert.equal(tracePacket(save, { ...ssh, outInterface: "eth2" }).verdict, "DROP");
  const out = tracePacket(save, {
    source: "10.0.0.1",
    destination: "192.0.2.1",
    outInterface: "eth0",
    protocol: "udp",
    destPort: 53,
  });
  assert.equal(out.verdict, "REJECT");
  assert.equal(out.rejectWith, "icmp-host-prohibited");
  assert.deepEqual(out.path.map((s) => `${s.table}/${s.chain}`), [
    "mangle/OUTPUT",
    "filter/OUTPUT",
  ]);
});

Deno.test("DNAT to a local address stays for this host; to another address the packet is forwarded", () => {
  const save = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.1.5:80",
    "-A PREROUTING -p tcp -m tcp --dport 2222 -j DNAT --to-destination 10.0.0.1:22",
    "-A POSTROUTING -o eth1 -j SNAT --to-source 192.168.1.1",
    "COMMIT",
    filter(
      ":INPUT DROP [0:0]",
      ":FORWARD DROP [0:0]",
      "-A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate DNAT -j ACCEPT",
      "-A FORWARD -d 192.168.1.5/32 -p tcp -m tcp --dport 80 -m conntrack --ctorigdst 10.0.0.1 --ctorigdstport 8080 -j ACCEPT",
    ),
  ].join("\n");
  const local = ["10.0.0.1/24", "192.168.1.1/24"];
  const web = tracePacket(save, { ...ssh, destPort: 8080, outInterface: "eth1", direction: "in" }, {
    localAddresses: local,
  });
  assert.equal(web.verdict, "ACCEPT");
  assert.equal(web.outcomes[0]!.packet.direction, "forward");
  assert.equal(web.outcomes[0]!.packet.destination, "192.168.1.5");
  assert.equal(web.outcomes[0]!.packet.destPort, "80");
  assert.equal(web.outcomes[0]!.packet.source, "192.168.1.1");
  assert.match(web.outcomes[0]!.notes.join("\n"), /forwarded/);
  assert.match(web.path[0]!.change!, /10\.0\.0\.1 → 192\.168\.1\.5, port 8080 → 80/);
  const jump = tracePacket(save, { ...ssh, destPort: 2222 }, { localAddresses: local });
  assert.equal(jump.verdict, "ACCEPT");
  assert.equal(jump.outcomes[0]!.packet.direction, "in");
  // Not NEW: nat is not consulted, so no DNAT state.
  const est = tracePacket(save, { ...ssh, destPort: 2222, state: "ESTABLISHED" }, {
    localAddresses: local,
  });
  assert.equal(est.verdict, "DROP");
  assert.match(est.outcomes[0]!.notes.join("\n"), /consulted only for the first packet/);
});

Deno.test("MARK and CONNMARK with masks; connmark needs a connection", () => {
  const save = [
    "*mangle",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A PREROUTING -j MARK --set-xmark 0xf0/0xff",
    "-A PREROUTING -j CONNMARK --save-mark --nfmask 0x30 --ctmask 0xffffffff",
    "-A PREROUTING -j MARK --set-xmark 0x0/0xffffffff",
    "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xf --ctmask 0xff",
    "-A INPUT -m connmark --mark 0x30 -m mark --mark 0x30/0xf0 -j CONNMARK --set-xmark 0x1/0x1",
    "COMMIT",
    filter(":INPUT DROP [0:0]", "-A INPUT -m connmark --mark 0x31 -j ACCEPT"),
  ].join("\n");
  const r = tracePacket(save, { ...ssh, mark: 0x105 });
  assert.equal(r.verdict, "ACCEPT");
  // 0x105 → (0x105 & ~0xff) ^ 0xf0 = 0x1f0; save 0x1f0 & 0x30 = 0x30; mark 0; restore: 0 ^ (0x30 & 0xff) & ... = 0x30.
  assert.deepEqual(r.path.map((s) => s.change).filter(Boolean), [
    "mark 0x105 → 0x1f0",
    "connmark 0x0 → 0x30",
    "mark 0x1f0 → 0x0",
    "mark 0x0 → 0x30",
    "connmark 0x30 → 0x31",
  ]);
  assert.equal(r.outcomes[0]!.packet.connMark, "0x31");
  // In raw there is no connection yet: connmark never matches, ctstate is INVALID.
  const raw = [
    "*raw",
    ":PREROUTING ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    "-A PREROUTING -m connmark ! --mark 0x5 -j DROP",
    "-A PREROUTING -m conntrack --ctstate INVALID -j MARK --set-xmark 0x7/0xffffffff",
    "COMMIT",
  ].join("\n");
  const rr = tracePacket(raw, ssh);
  assert.equal(rr.verdict, "ACCEPT");
  assert.deepEqual(rr.path.filter((s) => s.kind === "rule").map((s) => s.position), [2]);
});

Deno.test("NOTRACK makes the packet UNTRACKED and skips nat", () => {
  const save = [
    "*raw",
    ":PREROUTING ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    "-A PREROUTING -p tcp -m tcp --dport 22 -j CT --notrack",
    "COMMIT",
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    "-A PREROUTING -j DNAT --to-destination 10.9.9.9",
    "COMMIT",
    filter(":INPUT DROP [0:0]", "-A INPUT -m state --state UNTRACKED -j ACCEPT"),
  ].join("\n");
  const r = tracePacket(save, ssh);
  assert.equal(r.verdict, "ACCEPT");
  assert.equal(r.outcomes[0]!.packet.destination, "10.0.0.1");
  assert.equal(r.outcomes[0]!.packet.state, "UNTRACKED");
});

Deno.test("verdicts: REJECT types, QUEUE, NFQUEUE", () => {
  assert.equal(tracePacket(filter("-A INPUT -j REJECT"), ssh).rejectWith, "icmp-port-unreachable");
  const tcpReset = tracePacket(filter("-A INPUT -p tcp -j REJECT --reject-with tcp-reset"), ssh);
  assert.equal(tcpReset.verdict, "REJECT");
  assert.equal(tcpReset.rejectWith, "tcp-reset");
  const q = tracePacket(filter("-A INPUT -j NFQUEUE --queue-num 3 --queue-bypass"), ssh);
  assert.equal(q.verdict, "NFQUEUE");
  assert.equal(q.queue, 3);
  assert.equal(tracePacket(filter("-A INPUT -j QUEUE"), ssh).verdict, "QUEUE");
  const v6 = tracePacket(filter("-A INPUT -j REJECT"), {
    source: "2001:db8::1",
    destination: "2001:db8::2",
    protocol: "udp",
    destPort: 53,
  });
  assert.equal(v6.rejectWith, "icmp6-port-unreachable");
});

Deno.test("undecidable matches split the walk: both branches, never a guess", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 3/min -j ACCEPT",
    "-A INPUT -m set --match-set office src -j ACCEPT",
  );
  const r = tracePacket(save, ssh);
  assert.equal(r.verdict, "UNKNOWN");
  assert.equal(r.decided, false);
  assert.deepEqual(r.outcomes.map((o) => o.verdict), ["ACCEPT", "ACCEPT", "DROP"]);
  assert.deepEqual(r.outcomes[0]!.assumptions.map((a) => a.matched), [true]);
  assert.match(r.outcomes[1]!.assumptions[1]!.reason, /office were not given/);
  // A match that is false makes the rule false whatever the unknown one says.
  assert.deepEqual(
    hits(save, { ...ssh, destPort: 80 }, { ipSets: { office: ["198.51.100.0/24"] } }),
    [],
  );
  const sets = parseIpSetSave(
    "create office hash:net family inet hashsize 1024 maxelem 65536\nadd office 203.0.113.0/24\n",
  );
  const known = tracePacket(save, { ...ssh, destPort: 80 }, { ipSets: sets });
  assert.equal(known.verdict, "ACCEPT");
  assert.equal(known.decidedBy?.position, 2);
  assert.match(renderTrace(r), /branch 3 of 3/);
});

Deno.test("IP sets: ip,port, nomatch, list:set", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -m set --match-set svc dst,dst -j ACCEPT",
    "-A INPUT -m set --match-set all src -j ACCEPT",
  );
  const sets = {
    svc: { type: "hash:ip,port", members: ["10.0.0.1,tcp:22", "10.0.0.1,udp:53"] },
    nets: { type: "hash:net", members: ["203.0.0.0/8", "203.0.113.0/24 nomatch"] },
    all: { type: "list:set", members: ["nets"] },
  };
  assert.equal(tracePacket(save, ssh, { ipSets: sets }).decidedBy?.position, 1);
  assert.equal(tracePacket(save, { ...ssh, destPort: 23 }, { ipSets: sets }).verdict, "DROP");
  assert.equal(
    tracePacket(save, { ...ssh, destPort: 23, source: "203.0.1.1" }, { ipSets: sets }).verdict,
    "ACCEPT",
  );
});

Deno.test("each module evaluated precisely", () => {
  type Change = { [K in keyof TracePacket]?: TracePacket[K] | undefined };
  const cases: [string, Change, boolean][] = [
    ["-s 203.0.113.0/24", {}, true],
    ["! -s 203.0.113.0/24", {}, false],
    ["-d 10.0.0.0/8", {}, true],
    ["-i eth+", {}, true],
    ["-i eth1", {}, false],
    ["! -i eth1", {}, true],
    ["-i +", {}, true],
    ["-p udp", {}, false],
    ["! -p udp", {}, true],
    ["-p tcp -m tcp --dport 20:30", {}, true],
    ["-p tcp -m tcp ! --dport 20:30", {}, false],
    ["-p tcp -m tcp --sport 40000", {}, true],
    ["-p tcp -m multiport --dports 80,20:25", {}, true],
    ["-p tcp -m multiport --dports 80,443", {}, false],
    ["-p tcp -m multiport ! --dports 80,443", {}, true],
    ["-p tcp -m multiport --ports 40000", {}, true],
    ["-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN", {}, true],
    ["-p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK", {}, false],
    ["-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN", { tcpFlags: ["SYN", "ACK"] }, false],
    ["-m conntrack --ctstate NEW", {}, true],
    ["-m conntrack --ctstate RELATED,ESTABLISHED", {}, false],
    ["-m conntrack --ctstate RELATED,ESTABLISHED", { state: "ESTABLISHED" }, true],
    ["-m conntrack ! --ctstate INVALID", {}, true],
    ["-m conntrack --ctstate INVALID", { state: "INVALID" }, true],
    ["-m conntrack --ctproto 6 --ctorigsrc 203.0.113.0/24", {}, true],
    ["-m conntrack --ctorigsrcport 40000 --ctreplsrc 10.0.0.1", {}, true],
    ["-m conntrack --ctorigdst 10.0.0.2", {}, false],
    ["-m conntrack --ctdir ORIGINAL", {}, true],
    ["-m state --state NEW", {}, true],
    ["-m mark --mark 0x4/0x4", { mark: 5 }, true],
    ["-m mark ! --mark 0x4/0x4", { mark: 5 }, false],
    ["-m connmark --mark 0x0", {}, true],
    ["-m connmark ! --mark 0x0", {}, false],
    ["-m addrtype --dst-type LOCAL", {}, true],
    ["-m addrtype --dst-type UNICAST", {}, false],
    ["-m addrtype --src-type UNICAST", {}, true],
    ["-m addrtype ! --src-type LOCAL", {}, true],
    ["-m addrtype --dst-type BROADCAST", { destination: "10.0.0.255" }, true],
    ["-m addrtype --dst-type MULTICAST", { destination: "224.0.0.1" }, true],
    ["-m pkttype --pkt-type multicast", { destination: "224.0.0.1" }, true],
    ["-m pkttype --pkt-type unicast", {}, true],
    ["-m pkttype --pkt-type broadcast", {}, false],
    ["-m iprange --src-range 203.0.113.1-203.0.113.10", {}, true],
    ["-m iprange ! --dst-range 10.0.0.1-10.0.0.2", {}, false],
    ["-m length --length 0:100", { length: 60 }, true],
    ["-m length --length 101:65535", { length: 60 }, false],
    ["-m mac --mac-source 02:00:00:00:00:01", { sourceMac: "02:00:00:00:00:01" }, true],
    ["-m mac ! --mac-source 02:00:00:00:00:01", { sourceMac: "02:00:00:00:00:01" }, false],
    ["-m dscp --dscp 0x0a", { dscp: 10 }, true],
    ["-m dscp ! --dscp 0x0a", { dscp: 10 }, false],
    ["-m tos --tos 0x28/0xfc", { dscp: 10 }, true],
    ["-m ttl --ttl-lt 65", {}, true],
    ["-m ttl --ttl-eq 3", {}, false],
    ['-m comment --comment "anything at all"', {}, true],
    ["-m physdev --physdev-in eth0", {}, false],
    ["-m physdev ! --physdev-is-bridged", {}, true],
    ["-f", {}, false],
    ["! -f", {}, true],
    ["-p icmp -m icmp --icmp-type 8", {
      protocol: "icmp",
      sourcePort: undefined,
      destPort: undefined,
    }, true],
    ["-p icmp -m icmp --icmp-type 3/3", {
      protocol: "icmp",
      icmpType: 3,
      icmpCode: 3,
      sourcePort: undefined,
      destPort: undefined,
    }, true],
    ["-p icmp -m icmp --icmp-type 3/1", {
      protocol: "icmp",
      icmpType: "port-unreachable",
      sourcePort: undefined,
      destPort: undefined,
    }, false],
    ["-p icmp -m icmp ! --icmp-type 0", {
      protocol: "icmp",
      sourcePort: undefined,
      destPort: undefined,
    }, true],
    ["-p icmp -m icmp --icmp-type any", {
      protocol: "icmp",
      icmpType: 13,
      sourcePort: undefined,
      destPort: undefined,
    }, true],
    ["-p udp -m udp --dport 53", { protocol: "udp", destPort: 53 }, true],
    ["-p sctp -m sctp --dport 22", { protocol: "sctp" }, true],
    ["-p dccp -m dccp --sport 40000", { protocol: "dccp" }, true],
  ];
  for (const [spec, change, expected] of cases) {
    const save = filter(":INPUT DROP [0:0]", `-A INPUT ${spec} -j ACCEPT`);
    const packet = { ...ssh, ...change } as TracePacket;
    for (const k of Object.keys(packet) as (keyof TracePacket)[]) {
      if (packet[k] === undefined) delete packet[k];
    }
    const r = tracePacket(save, packet, { localAddresses: ["10.0.0.1/24"] });
    assert.equal(
      r.decided,
      true,
      `${spec}: decided (${JSON.stringify(r.outcomes.map((o) => o.assumptions))})`,
    );
    assert.equal(r.verdict, expected ? "ACCEPT" : "DROP", spec);
  }
});

Deno.test("IPv6: addresses, icmpv6, addrtype, hl", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    "-A INPUT -s 2001:db8::/32 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m hl --hl-gt 10 -j ACCEPT",
    "-A INPUT -m addrtype --dst-type MULTICAST -j ACCEPT",
  );
  const ping = { source: "2001:db8::7", destination: "2001:db8:1::1", protocol: "icmpv6" } as const;
  assert.equal(tracePacket(save, ping).decidedBy?.position, 1);
  assert.equal(tracePacket(save, { ...ping, icmpType: "echo-reply" }).verdict, "DROP");
  assert.equal(
    tracePacket(save, { ...ping, destination: "ff02::1", icmpType: 135 }).decidedBy?.position,
    2,
  );
});

Deno.test("owner is decided for sent packets with a uid, undecided without", () => {
  const save = filter(":OUTPUT DROP [0:0]", "-A OUTPUT -m owner --uid-owner 1000-2000 -j ACCEPT");
  const out = {
    source: "10.0.0.1",
    destination: "192.0.2.1",
    outInterface: "eth0",
    protocol: "tcp",
    destPort: 443,
  } as const;
  assert.equal(tracePacket(save, { ...out, uid: 1500 }).verdict, "ACCEPT");
  assert.equal(tracePacket(save, { ...out, uid: 0 }).verdict, "DROP");
  assert.equal(tracePacket(save, out).decided, false);
});

Deno.test("addrtype without the host's addresses is undecided; the rule text is kept as saved", () => {
  const save = "[5:300] -A INPUT -m addrtype --dst-type LOCAL -j ACCEPT\n";
  const text = `*filter\n:INPUT DROP [9:999]\n${save}COMMIT\n`;
  const r = tracePacket(text, ssh);
  assert.equal(r.decided, false);
  assert.equal(r.outcomes[0]!.path[0]!.rule, "-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT");
});

Deno.test("rule IDs and comments are reported; a rule the parser refuses is undecided", () => {
  const save = filter(
    ":INPUT DROP [0:0]",
    '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "rampart:AbC123 ssh in" -j ACCEPT',
    "-A INPUT -m bogus --what -j NOSUCHTARGET --x",
  );
  const r = tracePacket(save, ssh, {
    ruleSources: new Map([["AbC123", { file: "rules.yaml", line: 7, column: 9, field: "x" }]]),
  });
  assert.equal(r.decidedBy?.ruleId, "AbC123");
  assert.equal(r.decidedBy?.comment, "rampart:AbC123 ssh in");
  assert.deepEqual(r.decidedBy?.source, { file: "rules.yaml", line: 7, column: 9, field: "x" });
  assert.match(renderTrace(r), /by filter INPUT rule 1 \(rules\.yaml:7\)/);
  const odd = tracePacket(save, { ...ssh, destPort: 80 });
  assert.equal(odd.decided, false);
  assert.deepEqual(odd.outcomes.map((o) => o.verdict), ["UNKNOWN", "DROP"]);
});

Deno.test("invalid packets are refused with the field", () => {
  const bad: [Partial<TracePacket>, string][] = [
    [{ source: "nope" }, "source"],
    [{ destination: "2001:db8::1" }, "destination"],
    [{ protocol: "icmp", destPort: 3 }, "destPort"],
    [{ destPort: 70000 }, "destPort"],
    [{ state: "OLD" as "NEW" }, "state"],
    [{ direction: "out" }, "inInterface"],
    [{ tcpFlags: ["SYNACK"] }, "tcpFlags"],
  ];
  for (const [change, field] of bad) {
    assert.throws(() => tracePacket("", { ...ssh, ...change } as TracePacket), (e) => {
      assert.ok(e instanceof TracePacketError);
      assert.equal(e.field, field);
      return true;
    });
  }
});

// ---- Found by the kernel property test (tests/trace/property_test.ts) -------------------

const LOCAL = ["10.1.0.1/24", "10.2.0.1/24", "2001:db8:1::1/64", "2001:db8:2::1/64"];

function all(...tables: string[]): string {
  return tables.join("");
}

Deno.test("forwarding takes one TTL before FORWARD, and a packet with none left is dropped", () => {
  const save = filter("-A FORWARD -m ttl --ttl-eq 9 -j DROP");
  const fwd = { ...ssh, destination: "192.0.2.10", outInterface: "eth1", ttl: 10 };
  const r = tracePacket(save, fwd, { localAddresses: LOCAL });
  assert.equal(r.verdict, "DROP");
  assert.equal(r.outcomes[0]!.packet.ttl, 9);
  const expired = tracePacket(save, { ...fwd, ttl: 1 }, { localAddresses: LOCAL });
  assert.equal(expired.verdict, "DROP");
  assert.equal(expired.decidedBy, undefined);
  assert.match(expired.outcomes[0]!.notes.join(), /TTL is 1: the router drops the packet/);
  assert.deepEqual(expired.path.map((s) => s.chain), []);
  // Delivered packets keep their TTL.
  assert.equal(tracePacket(save, { ...ssh, ttl: 1 }).verdict, "ACCEPT");
});

Deno.test("a link-layer multicast or broadcast frame is never forwarded, even after DNAT", () => {
  const save = all(
    "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 192.0.2.10\nCOMMIT\n",
    filter(),
  );
  const r = tracePacket(save, {
    source: "203.0.113.7",
    destination: "224.0.0.1",
    protocol: "udp",
    destPort: 53,
    inInterface: "eth0",
  }, { localAddresses: LOCAL });
  assert.equal(r.verdict, "DROP");
  assert.match(
    r.outcomes[0]!.notes.join(),
    /link-layer multicast frame: the router does not forward/,
  );
  // DNAT of a broadcast to this host's address is delivered.
  const local = save.replace("192.0.2.10", "10.2.0.1");
  const b = tracePacket(local, {
    source: "203.0.113.7",
    destination: "10.1.0.255",
    protocol: "udp",
    destPort: 53,
  }, { localAddresses: LOCAL });
  assert.equal(b.verdict, "ACCEPT");
  assert.equal(b.outcomes[0]!.packet.direction, "in");
});

Deno.test("IPv6 REDIRECT takes an address of the destination's scope, or drops the packet", () => {
  const save = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j REDIRECT\nCOMMIT\n";
  const p = { source: "2001:db8:77::4", destination: "ff02::1", protocol: "udp", destPort: 53 };
  const linkScope = tracePacket(save, p, { localAddresses: LOCAL });
  assert.equal(linkScope.verdict, "DROP");
  assert.equal(linkScope.decidedBy?.position, 1);
  const withLinkLocal = tracePacket(save, p, { localAddresses: [...LOCAL, "fe80::1/64"] });
  assert.equal(withLinkLocal.verdict, "ACCEPT");
  assert.equal(withLinkLocal.outcomes[0]!.packet.destination, "fe80::1");
  const global = tracePacket(save, { ...p, destination: "2001:db8:2::1" }, {
    localAddresses: LOCAL,
  });
  assert.equal(global.outcomes[0]!.packet.destination, "2001:db8:1::1");
});

Deno.test("owner without a socket (forwarded) matches only when negated", () => {
  const save = filter(
    "-A FORWARD -m owner --uid-owner 0 -j DROP",
    "-A FORWARD -m owner ! --uid-owner 0 -j REJECT",
  );
  const r = tracePacket(save, { ...ssh, outInterface: "eth1", direction: "forward" });
  assert.equal(r.verdict, "REJECT");
  assert.equal(r.decidedBy?.position, 2);
});

Deno.test("an IP set with more dimensions than the rule's flags never matches", () => {
  const ipSets = { svc: { type: "hash:ip,port", members: ["10.0.0.1,tcp:22"] } };
  const save = filter(
    "-A INPUT -m set --match-set svc dst -j DROP",
    "-A INPUT -m set --match-set svc dst,dst -j REJECT",
  );
  const r = tracePacket(save, ssh, { ipSets });
  assert.equal(r.verdict, "REJECT");
});

Deno.test("a NAT that changes nothing does not mark the connection as NATed", () => {
  const save = all(
    "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.0.0.1\nCOMMIT\n",
    filter("-A INPUT -m conntrack --ctstate DNAT -j DROP"),
  );
  assert.equal(tracePacket(save, ssh).verdict, "ACCEPT");
  assert.equal(tracePacket(save, { ...ssh, destination: "10.0.0.2" }).verdict, "DROP");
});

Deno.test("mark and connmark in one rule keep their own --mark", () => {
  const save = filter("-A INPUT -m mark --mark 0x1/0x1 -m connmark --mark 0x0/0x1 -j DROP");
  assert.equal(tracePacket(save, ssh).verdict, "ACCEPT");
  assert.equal(tracePacket(save, { ...ssh, mark: 1 }).verdict, "DROP");
});

Deno.test("after NOTRACK, the raw table's later rules see the packet UNTRACKED", () => {
  const save = "*raw\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m state --state UNTRACKED -j DROP\n" +
    "-A OUTPUT -j NOTRACK\n-A OUTPUT -m state --state UNTRACKED -j DROP\nCOMMIT\n";
  const r = tracePacket(save, {
    source: "10.2.0.1",
    destination: "192.0.2.10",
    outInterface: "eth1",
  });
  assert.equal(r.verdict, "DROP");
  assert.equal(r.decidedBy?.position, 3);
});

Deno.test("negated single ports of tcp and udp: one compare of both on nft, two on legacy", () => {
  /** Whether the rule matches the packet, as the backend's kernel rules do. */
  const hits = (backend: "nft" | "legacy", rule: string, sourcePort: number, destPort: number) => {
    const protocol = rule.startsWith("-p tcp") ? "tcp" : "udp";
    const save = `*filter\n:INPUT ACCEPT [0:0]\n-A INPUT ${rule} -j DROP\nCOMMIT\n`;
    return tracePacket(save, { ...ssh, protocol, sourcePort, destPort }, { backend }).verdict ===
      "DROP";
  };
  const udp = "-p udp -m udp ! --sport 53 ! --dport 8080";
  const tcp = "-p tcp -m tcp ! --sport 5353 ! --dport 8443";
  // One port equal: iptables-nft's one `!= 53:8080` matches, legacy's two `!=` do not.
  assert.equal(hits("nft", udp, 40000, 8080), true);
  assert.equal(hits("legacy", udp, 40000, 8080), false);
  assert.equal(hits("nft", udp, 53, 9999), true);
  assert.equal(hits("legacy", udp, 53, 9999), false);
  assert.equal(hits("nft", tcp, 40000, 8443), true);
  assert.equal(hits("legacy", tcp, 40000, 8443), false);
  // Both equal: neither matches; neither equal: both match.
  assert.equal(hits("nft", udp, 53, 8080), false);
  assert.equal(hits("legacy", udp, 53, 8080), false);
  assert.equal(hits("nft", udp, 1, 2), true);
  assert.equal(hits("legacy", udp, 1, 2), true);
  // A range, or port 0, keeps two compares on nft.
  assert.equal(hits("nft", "-p udp -m udp ! --sport 53:54 ! --dport 9090", 40000, 9090), false);
  assert.equal(hits("nft", "-p udp -m udp ! --sport 0 ! --dport 9091", 40000, 9091), false);
  // One negated, one not: two compares.
  assert.equal(hits("nft", "-p udp -m udp --sport 53 ! --dport 8080", 53, 8080), false);
});
