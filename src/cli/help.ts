/**
 * `rampart --help` and `rampart <command> --help` texts.
 *
 * @module
 */
import type { CommandName } from "./args.ts";
import { IMPORT_HELP } from "./import_help.ts";
import { ADOPT_HELP } from "./adopt_help.ts";
import { PACKET_COMMAND_HELP } from "./trace_help.ts";

const COMMON = `Target and scope:
  -n, --netns NAME          work inside network namespace NAME (default: this host)
  -4, --ipv4 / -6, --ipv6   only this family (default: the families of the policy)
  -t, --table T             only table T (filter, nat, mangle, raw; repeatable; default all)
      --backend B           nft, legacy or auto (default auto)
      --hash-prefix P       rule-ID comment prefix (default "rampart:")
      --chain-prefix P      prefix of chains Rampart owns (repeatable; default "rp-")
      --insert-mode M       insert (above other programs' rules, default) or append
      --max-file-size S     refuse policy files larger than S (default 64M)
      --rule-ids S          stable (default) or chained (Felix's IDs); default: the
                            files' ruleIds key, else stable
Output:
      --json                machine-readable output on stdout (progress stays on stderr)
      --color WHEN          auto, always or never (NO_COLOR is honoured)
  -h, --help                this help`;

const EXIT = `Exit codes: 0 ok, 1 failure, 2 usage error (or a question with no terminal),
3 not confirmed (declined, or rolled back after --confirm-timeout), 4 invalid policy file,
5 changes pending (plan and diff with --exit-code).`;

const EXIT_CODE_FLAG =
  `      --exit-code           exit 5 when the kernel differs from the policy, 0 when
                            in sync (errors keep 1, 2 and 4): a gate for CI and
                            config management (--json says "inSync" and "exitCode")`;

const TEXTS: Record<CommandName, string> = {
  help: `Usage: rampart <command> [files…] [flags]

Keeps the iptables rules of YAML policy files in the kernel, touching only
Rampart's own rules and chains.

Commands:
  plan FILES     print the exact iptables-restore scripts apply would write
  diff FILES     coloured diff of the policy against the kernel, by rule ID
  apply FILES    show the plan, ask, apply (--yes skips the question;
                 --confirm-timeout 30s reverts unless confirmed in time)
  confirm        keep the rules of an apply waiting for confirmation
  show [FILES]   the desired state with rule IDs (no files: our rules in the kernel)
  export FILES   the policy as TypeScript using the DSL
  watch FILES    keep the policy enforced (re-applies on refresh and after writes;
                 SIGHUP reloads the files; SIGINT/SIGTERM stop)
  remove         remove all of Rampart's rules and chains (nothing else)
  recover        roll back an interrupted (or abandoned unconfirmed) apply
  top [FILES]    live view of the rules whose counters move, busiest first
  completions SHELL
                 print the completion script of bash, zsh or fish
  import         the live tables (or saved files) as a policy file
  trace [FILES]  walk a packet through the rules (no files: the live tables) and
                 show its path and verdict: --src A --dst B --proto tcp --dport 22
  graph [FILES]  the chains and jumps as Mermaid or DOT, a traced path highlighted
  adopt          take over chosen chains of the live tables (--chain; --confirm-timeout)

Run 'rampart <command> --help' for a command's flags.

${EXIT}`,
  plan: `Usage: rampart plan FILES… [flags]

Prints, per table and family, the exact script 'apply' would write now
(nothing when in sync). Reads the kernel; writes nothing. Rules the kernel
accepts but that cannot work where they are placed (inInterface in a chain
reached only from OUTPUT, …) are reported on stderr as
'file:line:col: warning: …' (also by diff and apply, and under "warnings"
with --json).

${EXIT_CODE_FLAG}

${COMMON}

${EXIT}`,
  diff: `Usage: rampart diff FILES… [flags]

Shows what 'apply' would change, matched by rule ID (the kernel prints rules in
its own normalised form): + added, - removed, = kept, · other programs' rules.

${EXIT_CODE_FLAG}

${COMMON}

${EXIT}`,
  apply: `Usage: rampart apply FILES… [--yes] [--confirm-timeout 30s] [flags]

Shows the plan and asks before applying (no terminal and no --yes: refused with
exit code 2). Progress goes to stderr. If a table fails, the tables already
written are put back. One command at a time changes a target: while another
apply, remove, recover or watch runs on it (or an apply waits for
confirmation), this one is refused (exit 1) and changes nothing.

  -y, --yes                 apply without asking
      --confirm-timeout D   after applying, wait up to D (30s, 2m, 1m30s) for
                            confirmation: on the terminal, or 'rampart confirm'
                            from another session. Without it, a detached
                            watchdog restores the previous rules (ours only),
                            even if this process, the terminal or SSH dies.
      --state-dir DIR       where locks, intent records and pending
                            confirmations live (default $RAMPART_STATE_DIR,
                            /run/rampart for root)

${COMMON}

${EXIT}`,
  confirm: `Usage: rampart confirm [--netns NAME] [--state-dir DIR] [--json]

Confirms the apply waiting for confirmation on this host (or namespace), so
its watchdog keeps the new rules. Exactly one confirmation counts: exit 0 when
this one confirmed, 1 when it was already confirmed or nothing was pending, 3
when it is too late (the deadline passed, or the apply was declined).

${EXIT}`,
  show: `Usage: rampart show [FILES…] [--counters] [flags]

With files: the desired state, every rule with the ID this host gives it
(runs 'iptables --version' for the host's features). Without: Rampart's
rules and chains as the kernel holds them now.

      --counters            Rampart's rules in the kernel with their packet and
                            byte counters, and each built-in chain's policy with
                            the packets it decided; with files, the file:line of
                            each rule ('rampart top' shows them live)

${COMMON}

${EXIT}`,
  export: `Usage: rampart export FILES… [flags]

Prints the policy as a TypeScript module that rebuilds it with the DSL.

${COMMON}

${EXIT}`,
  watch: `Usage: rampart watch FILES… [flags]

Applies the policy, then keeps it enforced: re-applies when the engine asks
(periodic refresh, checks after each write), so rules another program removes
come back. SIGHUP reloads the files; SIGINT or SIGTERM stop cleanly (exit 0),
leaving the rules in place. While it runs, apply, remove and recover on the
same target are refused. See examples/rampart.service.

${COMMON}

${EXIT}`,
  remove: `Usage: rampart remove [--yes] [flags]

Removes every rule and chain Rampart owns (by rule ID and chain prefix) from the
selected tables and families; other programs' rules are not touched. Asks first
unless --yes.

${COMMON}

${EXIT}`,
  recover: `Usage: rampart recover [--yes] [--netns NAME] [--state-dir DIR] [--json]

Rolls back an apply or remove that was interrupted (the process was killed, the
machine lost power) or an apply left unconfirmed after its watchdog and command
both died: puts back Rampart's rules as they were before it, from the snapshot
in its record, and clears the record. Other programs' rules are not touched.
Every rampart command reports such a record; 'rampart apply FILES' completes
it with your policy instead. For a --netns that no longer exists (its rules
went with it), clears the record instead. Asks first unless --yes; exit 0 when
there is nothing to recover.

      --state-dir DIR       where records live (default $RAMPART_STATE_DIR,
                            /run/rampart for root)

${COMMON}

${EXIT}`,
  top: `Usage: rampart top [FILES…] [flags]

A terminal view, refreshed every second, of Rampart's rules (and the
built-in chains' policies) whose packet counters moved in the last second,
busiest first: packets and bytes per second, packets since the view
started, table, chain, position, rule ID and the rule. With files, the
file:line of each rule. q or Ctrl-C quits (the terminal is put back).
Needs a terminal; 'rampart show --counters' prints the counters once.

${COMMON}

${EXIT}`,
  completions: `Usage: rampart completions bash|zsh|fish

Prints the shell's completion script for rampart: commands, flags, table
names, flag values, policy files and (at completion time, from
'ip netns list') network namespaces.

  bash   eval "$(rampart completions bash)" in ~/.bashrc, or save it as
         /etc/bash_completion.d/rampart
  zsh    eval "$(rampart completions zsh)" in ~/.zshrc after compinit, or
         save it as _rampart in a directory of $fpath
  fish   rampart completions fish > ~/.config/fish/completions/rampart.fish

${EXIT}`,
  import: IMPORT_HELP,
  adopt: ADOPT_HELP,
  trace: PACKET_COMMAND_HELP.trace,
  graph: PACKET_COMMAND_HELP.graph,
};

/**
 * The help text of a command (or the overview for `help`).
 *
 * @param command The command.
 * @returns The text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "@rampart/iptables/cli";
 * assert.equal(helpText("plan").split("\n")[0], "Usage: rampart plan FILES… [flags]");
 * ```
 */
export function helpText(command: CommandName): string {
  return TEXTS[command];
}
