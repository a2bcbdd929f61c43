/**
 * The help text of `rampart adopt` and the header of the files it writes,
 * apart from the command (`adopt_command.ts`) so that `rampart help` loads
 * nothing of it.
 *
 * @module
 */
/** The header of an adopted policy file. */
export const ADOPT_HEADER =
  "Rampart policy written by 'rampart adopt' (format: README.md#yaml-rule-files)";

/** `rampart adopt --help`. */
export const ADOPT_HELP = `Usage: rampart adopt --chain CHAIN… [flags]

Takes over chains of this host (or of namespace NAME): their rules are
replaced by Rampart's own (with rule IDs; counters carried over, except by
ip6tables-nft, whose restore drops them) in one iptables-restore transaction
per table and family. Adopted user chains are
renamed with the chain prefix (the jumps to them rewritten); the rules of
adopted built-in chains become insert lists, and their policies are kept. The
policy that keeps them is written to -o FILE: 'rampart apply FILE' later
changes nothing. Refused, with nothing written, when an adopted chain holds a
rule that cannot be imported exactly, jumps to a chain that is not adopted or
is jumped to from one, or when Rampart already manages the table.

Chains:
  -c, --chain CHAIN         adopt CHAIN (repeatable; '*' matches any characters,
                            e.g. --chain INPUT --chain 'ufw*')
  -t, --table T             the chains of table T (filter, nat, mangle, raw;
                            repeatable; default filter, as iptables)
Target:
  -n, --netns NAME          work inside network namespace NAME (default: this host)
  -4, --ipv4 / -6, --ipv6   only this family (default both)
      --backend B           nft, legacy or auto (default auto)
      --chain-prefix P      prefix of the adopted chains (default "rp-")
      --hash-prefix P       rule-ID comment prefix (default "rampart:")
      --state-dir DIR       pending confirmations and locks (default /run/rampart)
Safety:
  -o, --output FILE         write the adopted policy to FILE (must not exist;
                            default: print it on stdout once adopted)
  -y, --yes                 adopt without asking (required without a terminal)
      --confirm-timeout D   keep the adoption only if confirmed within D (30s, 2m):
                            a watchdog restores the chains as they were otherwise;
                            'rampart confirm' confirms
  -h, --help                this help

Exit codes: 0 adopted, 1 refused or failed, 2 usage error, 3 declined or not
confirmed (the chains are as they were).`;
