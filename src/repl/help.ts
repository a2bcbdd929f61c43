/**
 * The REPL's `.help` text. Each example is a line the REPL runs as it is
 * (`tests/repl/help_test.ts` runs every one and compares what it prints).
 *
 * @module
 */

/** The help text: examples (an input, then the first line it prints), commands, keys. */
export const REPL_HELP =
  `Rampart REPL: type JavaScript using the DSL; values print as iptables text.

Examples (an input, and under it the first line it prints; the others print nothing):
  Match().protocol("tcp").destPorts(22)
    -p tcp -m multiport --destination-ports 22
  Log("dropped")
    --jump LOG --log-prefix "dropped: " --log-level 5
  rule(Match().protocol("icmp"), Accept(), "ping")
    -m comment --comment "ping" -p icmp --jump ACCEPT
  const c = chain("rp-in", rule(Match().protocol("tcp").destPorts(22), Accept()), Drop())
    chain rp-in (2 rules)
  filter.updateChain(c)
  filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])
  filter.setChainPolicy("INPUT", "DROP")
  table("nat", 6)
    table nat (IPv6)
Log(prefix) adds ": " to its prefix, as Felix does (at most 27 characters).
Tables: filter nat mangle raw (IPv4), filter6 … (IPv6); firewall holds them all.

Commands (functions, or the same name with a dot and no parentheses):
  show()          the desired state, every rule with its ID
  plan()          the exact iptables-restore scripts, and a diff against the kernel
                  matched by rule ID (+ added, - removed, = kept, · other programs')
  apply()         show the plan, ask, then apply (asks Deno for run permission for
                  exactly the iptables binaries needed); remembers the rules before
  undo()          put back the rules from before the last apply (ours only)
  load("f.yaml")  replace the desired state with a YAML rule file
  importTables()  replace it with the target's tables as 'rampart import' reads them
                  (importTables("x.save"): an iptables-save file); lists what is left out
  save("f.yaml")  write the desired state as a YAML rule file
  exportTs()      print the desired state as TypeScript (exportTs("f.ts") writes it)
  netns("name")   work in a network namespace (netns(null): the host); netns() shows it
  reset()         clear the desired state (the kernel is untouched until apply)
  trace({ in: "eth0", src: "203.0.113.7", dst: "10.0.0.1", proto: "tcp", dport: 22 })
                  walk a packet through the desired state (fields as rampart trace's
                  flags; trace(packet, { live: true }): the target's live tables)
                  .trace --src 203.0.113.7 --dst 10.0.0.1 --dport 22 [--live]
  graph()         the chains and jumps as Mermaid (graph({ format: "dot" }); with
                  { packet: {…} } its path is highlighted)
  help()          this text        .history  recent inputs     .exit (or Ctrl-D)  leave

Input is JavaScript, not TypeScript (no type annotations); top-level await works;
const/let/var at the start of an input keep the name for later inputs. Unclosed
brackets continue on the next line. Tab completes names, methods, and file names
after .load/.save and in load("…"); Ctrl-R searches the history; Ctrl-C stops
the running command (its iptables processes are killed; an interrupted apply puts
the previous rules back).`;
