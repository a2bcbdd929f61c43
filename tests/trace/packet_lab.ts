/**
 * The tracer's kernel proof: three network namespaces joined by veth pairs,
 *
 *   outside (A) a0 ── b0 host (B) b1 ── c0 inside (C)
 *
 * where the host holds a policy, forwards between its links and has the
 * addresses below; real packets built with scapy (`packet_lab.py`) are sent
 * into it from outside (arriving, or forwarded to the inside) or by the host
 * itself (sent towards the inside). For each packet the lab reads the
 * host's per-rule counters (`iptables-save -c`) before and after, and where
 * the packet arrived: delivered to the host, or seen on the inside (or
 * outside) link. {@linkcode compareWithTrace} then checks that the tracer
 * matched the same rules (and chain policies) as often as the kernel did,
 * reached the same verdict, and predicted the packet that arrived.
 *
 * Noise is kept out: the outside and inside namespaces have no addresses
 * (they send with packet sockets, which bypass netfilter), every neighbour
 * is permanent (no ARP or neighbour discovery), IPv6 makes no link-local
 * addresses, and an nftables chain at priority -1000 of each namespace's
 * output hook drops every packet a namespace originates except the lab's
 * own (marked 0x5a000000) — in the host that includes the replies a packet
 * causes (TCP resets, ICMP errors, echo replies), which would otherwise
 * walk the OUTPUT chains and move their counters.
 */
import type { TracePacket, TraceResult, TraceStep } from "../../trace.ts";

/** Whose iptables the host uses. */
export type Backend = "nft" | "legacy";

/** The mark on the packets the host sends (its output filter lets only these through). */
export const LAB_MARK = 0x5a000000;

/** The lab's addresses, per family. */
export const LAB = {
  4: {
    /** The host's addresses: b0 (outside) first, then b1 (inside). */
    hostCidrs: ["10.1.0.1/24", "10.2.0.1/24"],
    /** Sources of arriving and forwarded packets. */
    sources: ["10.1.0.2", "10.1.0.9", "198.51.100.4", "203.0.113.7", "203.0.113.200"],
    /** Destinations of arriving packets (local, the link's broadcast, a multicast group). */
    local: ["10.1.0.1", "10.2.0.1"],
    broadcast: "10.1.0.255",
    multicast: "224.0.0.1",
    /** Destinations beyond the host (on the inside link, or routed by its default route). */
    beyond: ["10.2.0.2", "192.0.2.10", "192.0.2.200"],
    /** Nets for rules. */
    nets: [
      "10.1.0.0/24",
      "10.1.0.2/32",
      "10.2.0.0/16",
      "10.0.0.0/8",
      "192.0.2.0/24",
      "192.0.2.10/32",
      "198.51.100.0/24",
      "203.0.113.0/25",
      "0.0.0.0/0",
      "10.1.0.1/32",
      "224.0.0.0/4",
    ],
    gateway: "10.2.0.2",
    outsideHost: "10.1.0.2",
  },
  6: {
    hostCidrs: ["2001:db8:1::1/64", "2001:db8:2::1/64"],
    sources: [
      "2001:db8:1::2",
      "2001:db8:1::9",
      "2001:db8:77::4",
      "2001:db8:88::7",
      "2001:db8:88::200",
    ],
    local: ["2001:db8:1::1", "2001:db8:2::1"],
    broadcast: undefined,
    multicast: "ff02::1",
    beyond: ["2001:db8:2::2", "2001:db8:99::10", "2001:db8:99::200"],
    nets: [
      "2001:db8:1::/64",
      "2001:db8:1::2/128",
      "2001:db8:2::/48",
      "2001:db8::/32",
      "2001:db8:99::/64",
      "2001:db8:99::10/128",
      "2001:db8:77::/48",
      "2001:db8:88::/49",
      "::/0",
      "2001:db8:1::1/128",
      "ff00::/8",
    ],
    gateway: "2001:db8:2::2",
    outsideHost: "2001:db8:1::2",
  },
} as const;

/** A packet the lab sends. */
export interface LabPacket {
  /** Arriving for the host, forwarded by it, or sent by it (towards the inside). */
  direction: "in" | "forward" | "out";
  /** The family. */
  family: 4 | 6;
  /** The protocol. */
  proto: "tcp" | "udp" | "icmp";
  /** Source address. */
  src: string;
  /** Destination address. */
  dst: string;
  /** Ports (tcp, udp). */
  sport?: number | undefined;
  /** Ports (tcp, udp). */
  dport?: number | undefined;
  /** TCP flags in scapy's letters (`S`, `A`, `SA`, `R`, `FA`). */
  flags?: string | undefined;
  /** ICMP type (echo request by default). */
  icmpType?: number | undefined;
  /** TTL or hop limit. */
  ttl?: number | undefined;
  /** TOS byte (traffic class). */
  tos?: number | undefined;
}

/** What the lab saw of one packet. */
export interface LabResult {
  /** Counters before and after (`iptables-save -c` of the family). */
  before: string;
  /** Counters after. */
  after: string;
  /** Where it arrived, if anywhere. */
  arrived: "host" | "outside" | "inside" | null;
  /** What arrived (addresses, ports, TTL, TOS; fewer fields for IPv6 delivered to the host). */
  header: Record<string, string | number | boolean> | null;
  /** The IP length of the packet sent. */
  length: number;
}

const PY = "/usr/bin/python3";
const HELPER = new URL("./packet_lab.py", import.meta.url).pathname;

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${dec.decode(r.stderr)}`);
  }
  return dec.decode(r.stdout);
}

/** Whether the lab can run here: root, scapy, conntrack, nft. */
export async function labAvailability(): Promise<{ ok: boolean; reason: string }> {
  if (Deno.uid() !== 0) return { ok: false, reason: "not running as root" };
  try {
    await run(PY, ["-c", "import scapy.all"]);
  } catch {
    return { ok: false, reason: "scapy is not installed (apt-get install python3-scapy)" };
  }
  for (const bin of ["conntrack", "nft", "ip", "ipset"]) {
    try {
      await run("sh", ["-c", `command -v ${bin}`]);
    } catch {
      return { ok: false, reason: `${bin} is not installed` };
    }
  }
  return { ok: true, reason: "" };
}

/** A running lab (three namespaces and the helper in the host). */
export class PacketLab {
  readonly backend: Backend;
  readonly names: { outside: string; host: string; inside: string };
  readonly macs: { outside: string; host: string };
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #counter = 0;
  #fresh = true;
  /** IP sets created in the host (name → `ipset save` members), for the tracer. */
  ipSetSave = "";

  private constructor(
    backend: Backend,
    names: PacketLab["names"],
    macs: PacketLab["macs"],
    child: Deno.ChildProcess,
  ) {
    this.backend = backend;
    this.names = names;
    this.macs = macs;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  /** Creates the namespaces and links, and starts the helper. */
  static async open(backend: Backend): Promise<PacketLab> {
    const id = crypto.randomUUID().slice(0, 6);
    const names = { outside: `rp-la-${id}`, host: `rp-lb-${id}`, inside: `rp-lc-${id}` };
    const made: string[] = [];
    try {
      for (const n of Object.values(names)) {
        await run("ip", ["netns", "add", n]);
        made.push(n);
      }
      const { outside: a, host: b, inside: c } = names;
      await run("ip", [
        "-n",
        a,
        "link",
        "add",
        "a0",
        "type",
        "veth",
        "peer",
        "name",
        "b0",
        "netns",
        b,
      ]);
      await run("ip", [
        "-n",
        c,
        "link",
        "add",
        "c0",
        "type",
        "veth",
        "peer",
        "name",
        "b1",
        "netns",
        b,
      ]);
      for (const [n, link] of [[a, "a0"], [b, "b0"], [b, "b1"], [c, "c0"]] as const) {
        await run("ip", ["-n", n, "link", "set", link, "addrgenmode", "none"]);
      }
      await run("ip", [
        "-n",
        b,
        "address",
        "add",
        "10.1.0.1/24",
        "broadcast",
        "10.1.0.255",
        "dev",
        "b0",
      ]);
      await run("ip", ["-n", b, "address", "add", "10.2.0.1/24", "dev", "b1"]);
      await run("ip", ["-n", b, "address", "add", "2001:db8:1::1/64", "dev", "b0", "nodad"]);
      await run("ip", ["-n", b, "address", "add", "2001:db8:2::1/64", "dev", "b1", "nodad"]);
      // Noise filter first, then the links come up.
      const filter = "table inet rplab {\n  chain out {\n" +
        "    type filter hook output priority -1000; policy accept;\n" +
        `    meta mark ${LAB_MARK} accept\n    drop\n  }\n}\n`;
      for (const n of made) await run("ip", ["netns", "exec", n, "nft", "-f", "-"], filter);
      for (
        const [n, link] of [[a, "lo"], [b, "lo"], [c, "lo"], [a, "a0"], [b, "b0"], [b, "b1"], [
          c,
          "c0",
        ]]
      ) {
        await run("ip", ["-n", n!, "link", "set", link!, "up"]);
      }
      await run("ip", [
        "netns",
        "exec",
        b,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.b0.rp_filter=0",
        "net.ipv4.conf.b1.rp_filter=0",
      ]);
      const mac = async (n: string, link: string) =>
        (JSON.parse(await run("ip", ["-n", n, "-j", "link", "show", link])) as {
          address: string;
        }[])[0]!
          .address;
      const macs = { outside: await mac(a, "a0"), host: await mac(b, "b0") };
      const insideMac = await mac(c, "c0");
      await run("ip", ["-n", b, "route", "add", "default", "via", "10.2.0.2", "dev", "b1"]);
      await run("ip", [
        "-n",
        b,
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:2::2",
        "dev",
        "b1",
      ]);
      for (
        const [addr, lladdr, dev] of [
          ["10.2.0.2", insideMac, "b1"],
          ["2001:db8:2::2", insideMac, "b1"],
          ["10.1.0.2", macs.outside, "b0"],
          ["2001:db8:1::2", macs.outside, "b0"],
        ]
      ) {
        await run("ip", [
          "-n",
          b,
          "neigh",
          "replace",
          addr!,
          "lladdr",
          lladdr!,
          "dev",
          dev!,
          "nud",
          "permanent",
        ]);
      }
      const child = new Deno.Command("ip", {
        args: ["netns", "exec", b, PY, HELPER, a, "a0", c, "c0", "b0"],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lab = new PacketLab(backend, names, macs, child);
      const ready = await lab.#next();
      if (ready.ready !== true) {
        throw new Error(`packet lab did not start: ${JSON.stringify(ready)}`);
      }
      return lab;
    } catch (e) {
      for (const n of made) await run("ip", ["netns", "del", n]).catch(() => {});
      throw e;
    }
  }

  async #next(): Promise<Record<string, unknown>> {
    const r = await this.#lines.next();
    if (r.done) throw new Error("the packet lab helper ended");
    return JSON.parse(r.value);
  }

  async #request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(req) + "\n"));
    const out = await this.#next();
    if (typeof out.error === "string") throw new Error(`packet lab: ${out.error}`);
    return out;
  }

  /** Runs a command in the host namespace. */
  async exec(argv: string[], stdin?: string): Promise<string> {
    const r = await this.#request({ op: "run", argv, ...(stdin === undefined ? {} : { stdin }) });
    if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout as string;
  }

  /** `iptables-nft-save`, `ip6tables-legacy-restore`, … */
  binary(family: 4 | 6, op: "save" | "restore"): string {
    return `${family === 6 ? "ip6tables" : "iptables"}-${this.backend}-${op}`;
  }

  /** Replaces the family's tables with an iptables-restore script (all four tables). */
  async load(family: 4 | 6, script: string): Promise<void> {
    await this.exec([this.binary(family, "restore")], script);
  }

  /** Creates IP sets in the host (an `ipset restore` script), remembered for the tracer. */
  async ipsets(script: string): Promise<void> {
    await this.exec(["ipset", "restore", "-exist"], script);
    this.ipSetSave = await this.exec(["ipset", "save"]);
  }

  /**
   * Sends one packet and reports the counters before and after, and where
   * it arrived.
   */
  async probe(p: LabPacket, options: { waitMs?: number } = {}): Promise<LabResult> {
    const token = `RPLAB${String(++this.#counter).padStart(8, "0")}`;
    const packet: Record<string, unknown> = {
      via: p.direction === "out" ? "host" : "outside",
      family: p.family,
      proto: p.proto,
      src: p.src,
      dst: p.dst,
      token,
      ttl: p.ttl ?? 64,
      tos: p.tos ?? 0,
      id: this.#counter & 0xffff,
      icmp_id: this.#counter & 0xffff,
      src_mac: this.macs.outside,
      dst_mac: multicastMac(p.dst) ?? this.macs.host,
      mark: p.direction === "out" ? LAB_MARK : 0,
    };
    if (p.sport !== undefined) packet.sport = p.sport;
    if (p.dport !== undefined) packet.dport = p.dport;
    if (p.flags !== undefined) packet.flags = p.flags;
    if (p.icmpType !== undefined) packet.icmp_type = p.icmpType;
    const fresh = this.#fresh;
    this.#fresh = false;
    const r = await this.#request({
      op: "probe",
      packet,
      save: [this.binary(p.family, "save"), "-c"],
      fresh,
      // Packets are handled while they are sent; a late one is found by recheck().
      wait_ms: options.waitMs ?? 5,
    });
    return r as unknown as LabResult;
  }

  /**
   * Looks again, later, for a packet's arrival and the counters (when the
   * first look disagrees with the tracer, the kernel may not have finished).
   */
  async recheck(p: LabPacket, first: LabResult): Promise<LabResult> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const r = await this.#request({
      op: "recheck",
      token: `RPLAB${String(this.#counter).padStart(8, "0")}`,
      save: [this.binary(p.family, "save"), "-c"],
    });
    return {
      ...first,
      after: r.after as string,
      arrived: (r.arrived as LabResult["arrived"]) ?? first.arrived,
      header: (r.header as LabResult["header"]) ?? first.header,
    };
  }

  /**
   * The built-in chains of the family's tables that iptables-nft-save
   * prints but that do not exist in the kernel (`table chain`); none for
   * legacy.
   */
  async absentChains(family: 4 | 6, save: string): Promise<Set<string>> {
    const out = new Set<string>();
    if (this.backend !== "nft") return out;
    const listed = JSON.parse(
      await this.exec(["nft", "-j", "list", "chains", family === 4 ? "ip" : "ip6"]),
    ) as {
      nftables: { chain?: { table: string; name: string } }[];
    };
    const present = new Set(
      listed.nftables.flatMap((x) =>
        x.chain === undefined ? [] : [`${x.chain.table} ${x.chain.name}`]
      ),
    );
    let table = "";
    for (const line of save.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1);
      const m = /^:(\S+) (ACCEPT|DROP) /.exec(line);
      if (m !== null && !present.has(`${table} ${m[1]}`)) out.add(`${table} ${m[1]}`);
    }
    return out;
  }

  /** Reads the counters afresh before the next packet (after changing the rules from outside the lab). */
  forget(): void {
    this.#fresh = true;
  }

  /** Stops the helper and deletes the namespaces. */
  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    try {
      await this.#child.status;
    } finally {
      for (const n of Object.values(this.names)) {
        await run("ip", ["netns", "del", n]).catch(() => {});
      }
    }
  }
}

function multicastMac(dst: string): string | undefined {
  if (dst === "10.1.0.255") return "ff:ff:ff:ff:ff:ff";
  if (dst === "224.0.0.1") return "01:00:5e:00:00:01";
  if (dst === "ff02::1") return "33:33:00:00:00:01";
  return undefined;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let at;
    while ((at = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
    }
  }
}

/** The conntrack state the kernel gives a lone packet (no earlier traffic). */
export function kernelState(p: LabPacket): "NEW" | "INVALID" {
  if (p.proto === "tcp") return p.flags === "S" || p.flags === "A" ? "NEW" : "INVALID";
  if (p.proto === "icmp") {
    const t = p.icmpType ?? (p.family === 6 ? 128 : 8);
    return [8, 13, 128].includes(t) ? "NEW" : "INVALID";
  }
  return "NEW";
}

const FLAG_NAMES: Record<string, string> = { S: "SYN", A: "ACK", R: "RST", F: "FIN", P: "PSH" };

/** The packet as the tracer takes it, with what the lab knows of the host. */
export function tracePacketOf(p: LabPacket, lab: PacketLab, length: number): TracePacket {
  const packet: TracePacket = {
    direction: p.direction,
    source: p.src,
    destination: p.dst,
    protocol: p.proto === "icmp" && p.family === 6 ? "icmpv6" : p.proto,
    state: kernelState(p),
    length,
    ttl: p.ttl ?? 64,
    dscp: (p.tos ?? 0) >> 2,
  };
  if (p.sport !== undefined) packet.sourcePort = p.sport;
  if (p.dport !== undefined) packet.destPort = p.dport;
  if (p.proto === "tcp") packet.tcpFlags = [...(p.flags ?? "S")].map((c) => FLAG_NAMES[c]!);
  if (p.proto === "icmp") packet.icmpType = p.icmpType ?? (p.family === 6 ? 128 : 8);
  if (p.direction === "out") {
    packet.outInterface = "b1";
    packet.mark = LAB_MARK;
    packet.uid = 0;
    packet.gid = 0;
  } else {
    packet.inInterface = "b0";
    packet.outInterface = "b1";
    packet.sourceMac = lab.macs.outside;
    if (multicastMac(p.dst) !== undefined) {
      packet.pktType = p.dst === "10.1.0.255" ? "broadcast" : "multicast";
    }
  }
  return packet;
}

/** The host's addresses, as the tracer's `localAddresses` (the outside link's first). */
export const LOCAL_ADDRESSES: readonly string[] = [...LAB[4].hostCidrs, ...LAB[6].hostCidrs];

/** Packet counters of each rule and chain policy in `iptables-save -c` text. */
export function counters(save: string): Map<string, number> {
  const out = new Map<string, number>();
  let table = "";
  const positions = new Map<string, number>();
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      positions.clear();
      continue;
    }
    const policy = /^:(\S+) (\S+) \[(\d+):\d+\]$/.exec(line);
    if (policy !== null) {
      if (policy[2] !== "-") out.set(`${table} ${policy[1]} policy`, Number(policy[3]));
      continue;
    }
    const rule = /^\[(\d+):\d+\] -A (\S+)/.exec(line);
    if (rule !== null) {
      const n = (positions.get(rule[2]!) ?? 0) + 1;
      positions.set(rule[2]!, n);
      out.set(`${table} ${rule[2]} #${n}`, Number(rule[1]));
    }
  }
  return out;
}

/** What the counters moved by between two saves (only what moved). */
export function counterDelta(before: string, after: string): Map<string, number> {
  const a = counters(before);
  const out = new Map<string, number>();
  for (const [k, v] of counters(after)) {
    const d = v - (a.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

/** What the tracer says the counters move by: one per rule step and per policy step. */
export function traceCounts(path: readonly TraceStep[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of path) {
    const key = s.kind === "rule"
      ? `${s.table} ${s.chain} #${s.position}`
      : s.kind === "policy"
      ? `${s.table} ${s.chain} policy`
      : undefined;
    if (key !== undefined) out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/** Where the tracer says the packet arrives. */
export function expectedArrival(trace: TraceResult): LabResult["arrived"] {
  const o = trace.outcomes[0]!;
  if (o.verdict !== "ACCEPT") return null;
  return o.packet.direction === "in" ? "host" : "inside";
}

/**
 * The differences between the tracer's answer and what the kernel did (none
 * when they agree): the trace must be decided (one branch), move the same
 * counters by the same amounts, arrive where the packet arrived, and end
 * with the addresses, ports, TTL and DSCP the packet arrived with.
 */
export function compareWithTrace(
  trace: TraceResult,
  seen: LabResult,
  options: { absentChains?: ReadonlySet<string> } = {},
): string[] {
  const problems: string[] = [];
  if (trace.outcomes.length !== 1) {
    problems.push(`the trace is undecided (${trace.outcomes.length} branches)`);
    return problems;
  }
  const want = traceCounts(trace.path);
  // iptables-nft-save prints every built-in chain of a table, also those never created
  // (no hook, no counter): passing them by their ACCEPT policy is not counted.
  for (const chain of options.absentChains ?? []) want.delete(`${chain} policy`);
  const got = counterDelta(seen.before, seen.after);
  for (const k of new Set([...want.keys(), ...got.keys()])) {
    if ((want.get(k) ?? 0) !== (got.get(k) ?? 0)) {
      problems.push(`${k}: tracer ${want.get(k) ?? 0}, kernel ${got.get(k) ?? 0}`);
    }
  }
  const arrival = expectedArrival(trace);
  if (arrival !== seen.arrived) {
    problems.push(
      `verdict ${trace.verdict} (${arrival ?? "not delivered"}), but the packet ${
        seen.arrived === null ? "did not arrive" : `arrived (${seen.arrived})`
      }`,
    );
  }
  if (seen.arrived !== null && seen.header !== null && arrival === seen.arrived) {
    const end = trace.outcomes[0]!.packet;
    const check = (field: string, want: string | number | undefined) => {
      const have = seen.header![field];
      if (want === undefined || have === undefined || want === "?" || /-/.test(String(want))) {
        return;
      }
      if (String(have) !== String(want)) {
        problems.push(`arrived with ${field} ${have}, tracer ${want}`);
      }
    };
    check("source", end.source);
    check("destination", end.destination);
    check("sourcePort", end.sourcePort);
    check("destPort", end.destPort);
    check("ttl", end.ttl);
    check("dscp", end.dscp);
  }
  return problems;
}
