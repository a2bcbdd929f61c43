/**
 * The packet flags of `rampart trace`, `rampart graph --trace` and the
 * REPL's `trace()` by name, with their meanings (for `--help`) and their
 * `node:util` `parseArgs` specification. Kept apart from `flags.ts` (which
 * reads them into a packet) so that help texts load nothing else.
 *
 * @module
 */
/** The packet flags by name (without `--`), each with its meaning for `--help`. */
export const PACKET_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  in: "incoming interface (-i)",
  out: "outgoing interface (-o)",
  src: "source address",
  dst: "destination address",
  proto: "protocol: tcp (default), udp, icmp, icmpv6, sctp or a number",
  sport: "source port",
  dport: "destination port",
  "icmp-type": "ICMP type, by name or number, optionally /CODE (echo-request, 3/1)",
  state: "conntrack state: NEW (default), ESTABLISHED, RELATED, INVALID, UNTRACKED",
  mark: "packet mark when it enters (decimal or 0x hex)",
  "conn-mark": "connection mark (existing connections)",
  direction: "in (for this host, default), forward, or out (sent by this host)",
  "tcp-flags": "TCP flags set, comma-separated (default SYN for NEW, else ACK)",
  length: "IP total length in bytes",
  ttl: "TTL or hop limit (default 64)",
  dscp: "DSCP value 0-63",
  "src-mac": "source MAC address",
  uid: "sending socket's user ID (direction out)",
  gid: "sending socket's group ID (direction out)",
});

/** The packet flags as `node:util` `parseArgs` options (all strings). */
export const PACKET_FLAG_OPTIONS: Readonly<Record<string, { type: "string" }>> = Object.freeze(
  Object.fromEntries(Object.keys(PACKET_FLAGS).map((k) => [k, { type: "string" as const }])),
);
