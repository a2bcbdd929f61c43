/**
 * The help text of `rampart import` and the header of the files it writes,
 * apart from the command (`import_command.ts`) so that `rampart help` loads
 * nothing of it.
 *
 * @module
 */
/** The header of an imported YAML file (no date or source: importing again gives the same file). */
export const IMPORT_HEADER =
  "Rampart policy written by 'rampart import' (format: README.md#yaml-rule-files)";

/** `rampart import --help`. */
export const IMPORT_HELP = `Usage: rampart import [--netns NAME | --from FILE…] [flags]

Reads the iptables tables of this host (or of namespace NAME, or saved
iptables-save files) and prints a policy that reproduces them: built-in chain
policies, the rules of built-in chains as insert (or --append) lists, and user
chains as chains Rampart owns, renamed with the chain prefix (at most 28
characters; names that would collide are refused), jumps renamed to match.
Every rule is checked to print back exactly as saved. Rules that cannot be
written exactly are listed on stderr with their line and reason; then nothing
is written and the exit code is 1, unless --partial writes the rest.

Source:
  -n, --netns NAME          read the tables of network namespace NAME
      --from FILE           read a saved file (iptables-save output; repeatable,
                            one per family; the family and backend come from
                            its header, or from -4/-6 and --backend)
  -4, --ipv4 / -6, --ipv6   only this family (default both)
  -t, --table T             only table T (repeatable; default all)
      --backend B           nft, legacy or auto (default auto)
Output:
      --format F            yaml (default) or ts (TypeScript using the DSL)
  -o, --output FILE         write to FILE (atomically) instead of stdout
      --partial             write what can be imported even if some rules cannot
      --append              rules of built-in chains as append lists (default insert)
      --chain-prefix P      prefix of the imported chains (default "rp-")
      --hash-prefix P       rule-ID comment prefix dropped from rules (default "rampart:")
  -h, --help                this help

Exit codes: 0 ok, 1 rules that cannot be imported (without --partial) or a
failure, 2 usage error.`;
