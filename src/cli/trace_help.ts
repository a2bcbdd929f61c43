/**
 * The help texts of `rampart trace` and `rampart graph`, apart from the
 * commands (`trace_command.ts`) so that `rampart help` loads no tracer.
 *
 * @module
 */
import { PACKET_FLAGS } from "../trace/packet_flags.ts";

/** The commands of this module. */
export type PacketCommandName = "trace" | "graph";

const PACKET_FLAG_HELP = Object.entries(PACKET_FLAGS).map(([flag, meaning]) =>
  `      --${flag} ${flag === "in" || flag === "out" ? "IF" : "V"}`.padEnd(30) + meaning
).join("\n");

const SOURCE_HELP = `Rules:
  FILES                     YAML policy files, rendered as 'apply' would write them
                            (no kernel, no root); without FILES, the live tables of
                            the namespace (or this host), every program's rules
  -n, --netns NAME          read the live tables, the host's addresses and IP sets
                            in network namespace NAME (with FILES: only the
                            addresses and IP sets)
  -4, --ipv4 / -6, --ipv6   only this family
      --backend B           nft, legacy or auto (default auto; FILES: nft unless legacy)
      --local-address A/P   an address of the host (repeatable): decides addrtype
                            and whether the packet is for this host or forwarded
                            (live tables: read with 'ip address' unless given)
      --ipsets FILE         IP set contents, as 'ipset save' prints them (live
                            tables: read with 'ipset save' unless given)
      --assume M=match|no-match
                            outcome for a match module the tracer cannot decide
                            (rpfilter=no-match, limit=match; repeatable)
      --hash-prefix P       rule-ID comment prefix (default "rampart:")
      --chain-prefix P      prefix of chains Rampart owns (repeatable; default "rp-")
      --rule-ids S          stable or chained (default: the files' ruleIds, else stable)
      --insert-mode M       insert (default) or append
      --max-file-size S     refuse policy files larger than S (default 64M)`;

const OUTPUT_HELP = `Output:
      --json                one JSON document on stdout
      --color WHEN          auto, always or never (NO_COLOR is honoured)
  -h, --help                this help`;

/** The help texts of `trace` and `graph`. */
export const PACKET_COMMAND_HELP: Readonly<Record<PacketCommandName, string>> = Object.freeze({
  trace: `Usage: rampart trace [FILES…] --src ADDR --dst ADDR [packet flags] [flags]

Walks a packet through the rules in the kernel's order (raw, mangle, nat for
a new connection, filter, POSTROUTING), following jumps, gotos and returns,
applying NAT and marks, and prints the verdict, the rule that decided it and
the path: table, chain, position, rule, rule ID and, for rules of FILES,
file:line. A match the tracer cannot decide (rate limits, rpfilter, IP sets
it was not given) is shown with both outcomes, never guessed; the verdict is
then UNKNOWN unless every branch agrees. Nothing is sent; nothing is changed.

Packet:
${PACKET_FLAG_HELP}

${SOURCE_HELP}

${OUTPUT_HELP}

Exit codes: 0 traced (whatever the verdict), 1 failure (the rules could not
be read), 2 usage error, 4 invalid policy file.`,
  graph: `Usage: rampart graph [FILES…] [--format mermaid|dot] [--trace packet flags] [flags]

Writes the chains of each table and the jumps between them as a Mermaid
flowchart (default) or Graphviz DOT: each chain with its rule count (and
policy), each jump or goto (dashed) with the positions of its rules. Given a
packet (--trace, or any packet flag), the chains it passes, the jumps it
takes, its way from hook to hook and its verdict are highlighted.

      --format F            mermaid (default) or dot
      --trace               highlight the path of the packet the flags describe
  -t, --table T             only table T (repeatable; default all)
      --branch N            with undecided matches: the branch to highlight (default 1)

Packet:
${PACKET_FLAG_HELP}

${SOURCE_HELP}

${OUTPUT_HELP}

Exit codes: 0 ok, 1 failure, 2 usage error, 4 invalid policy file.`,
});
