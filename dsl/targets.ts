/**
 * The targets built into iptables: a user chain may not share their names,
 * and a rule reaches them through the matching action, not a jump.
 *
 * @module
 */

/** Targets built into iptables or shipped as extensions (a chain may not share their names). */
export const BUILTIN_TARGETS: ReadonlySet<string> = new Set([
  "ACCEPT",
  "DROP",
  "QUEUE",
  "RETURN",
  // Every target extension in /usr/lib/*/xtables of iptables 1.8.9; `iptables-nft -N LOG`
  // fails with "chain name may not clash with target name".
  "AUDIT",
  "CHECKSUM",
  "CLASSIFY",
  "CLUSTERIP",
  "CONNMARK",
  "CONNSECMARK",
  "CT",
  "DNAT",
  "DNPT",
  "DSCP",
  "ECN",
  "HL",
  "HMARK",
  "IDLETIMER",
  "LED",
  "LOG",
  "MARK",
  "MASQUERADE",
  "MIRROR",
  "NAT",
  "NETMAP",
  "NFLOG",
  "NFQUEUE",
  "NOTRACK",
  "RATEEST",
  "REDIRECT",
  "REJECT",
  "SAME",
  "SECMARK",
  "SET",
  "SNAT",
  "SNPT",
  "SYNPROXY",
  "TCPMSS",
  "TCPOPTSTRIP",
  "TEE",
  "TOS",
  "TPROXY",
  "TRACE",
  "TTL",
  "ULOG",
]);
