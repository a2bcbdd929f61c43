/**
 * The benchmark workload: `chains × rulesPerChain` realistic rules (comments,
 * multiport, IP sets, conntrack, marks, ICMP) in owned chains that form a
 * binary tree of jumps reached from one `INPUT` insertion, described once as
 * plain data and rendered both as Rampart DSL rules and as a ferm config, so
 * both tools load exactly the same policy.
 *
 * @module
 */
import {
  Accept,
  type Action,
  type Chain,
  Drop,
  Jump,
  Log,
  Match,
  type MatchCriteria,
  Return,
  type Rule,
} from "../../mod.ts";

/** Number of IP sets the rules use (created in each namespace first). */
export const IP_SETS = 100;

/** One rule of the workload, as plain data. */
export interface RuleSpec {
  /** Protocol (`tcp`, `udp`, `icmp`) or absent. */
  proto?: "tcp" | "udp" | "icmp";
  /** Source IP set. */
  srcSet?: string;
  /** Negated destination IP set. */
  notDstSet?: string;
  /** Destination network. */
  dstNet?: string;
  /** Destination ports (multiport). */
  dports?: number[];
  /** Destination port ranges (multiport). */
  dportRanges?: [number, number][];
  /** Input interface. */
  inIface?: string;
  /** Conntrack state. */
  ctState?: string;
  /** Mark that must have its single bit set. */
  markBit?: number;
  /** ICMP type and code. */
  icmp?: [number, number];
  /** Free-text comment. */
  comment?: string;
  /** Verdict or jump target. */
  target: "ACCEPT" | "DROP" | "RETURN" | { jump: string } | { log: string };
}

/** The chain name of tree node `c`. */
export function chainName(c: number): string {
  return `rp-c${c}`;
}

/** The name of IP set `i`. */
export function setName(i: number): string {
  return `rp-s${i}`;
}

/**
 * The rule at position `i` of chain `c` (of `chains`). `variant` changes the
 * rule (a different port), to simulate an edited rule.
 */
export function ruleSpec(c: number, i: number, chains: number, variant = 0): RuleSpec {
  const n = c * 1000 + i;
  switch (i % 5) {
    case 0:
      return {
        proto: "tcp",
        srcSet: setName(n % IP_SETS),
        dports: [80, 443, 8000 + ((n + variant) % 1000)],
        comment: `policy default.allow-web-${c} rule ${i}`,
        target: "ACCEPT",
      };
    case 1:
      return {
        proto: "udp",
        dstNet: `10.${c % 256}.${i % 256}.0/24`,
        dportRanges: [[53, 53], [30000 + variant, 32767]],
        comment: "dns and node ports",
        target: "ACCEPT",
      };
    case 2: {
      // The binary tree: rule 2 jumps to the left child, rule 7 to the right one.
      const child = i === 2 ? 2 * c + 1 : i === 7 ? 2 * c + 2 : -1;
      return {
        inIface: `eth${(i + variant) % 8}`,
        ctState: "NEW",
        target: child > 0 && child < chains ? { jump: chainName(child) } : "RETURN",
      };
    }
    case 3:
      return {
        notDstSet: setName((n * 7) % IP_SETS),
        markBit: 0x20000,
        target: { log: `drop ${c + variant}` },
      };
    default:
      return { proto: "icmp", icmp: [3, (4 + variant) % 16], target: "DROP" };
  }
}

function dslAction(t: RuleSpec["target"]): Action {
  if (t === "ACCEPT") return Accept();
  if (t === "DROP") return Drop();
  if (t === "RETURN") return Return();
  if ("jump" in t) return Jump(t.jump);
  return Log(t.log);
}

/** Renders a spec with the DSL (validation included). */
export function dslRule(s: RuleSpec): Rule {
  let m: MatchCriteria = Match();
  if (s.proto !== undefined) m = m.protocol(s.proto);
  if (s.srcSet !== undefined) m = m.sourceIpSet(s.srcSet);
  if (s.notDstSet !== undefined) m = m.notDestIpSet(s.notDstSet);
  if (s.dstNet !== undefined) m = m.destNet(s.dstNet);
  if (s.dports !== undefined) m = m.destPorts(...s.dports);
  if (s.dportRanges !== undefined) {
    m = m.destPortRanges(s.dportRanges.map(([first, last]) => ({ first, last })));
  }
  if (s.inIface !== undefined) m = m.inInterface(s.inIface);
  if (s.ctState !== undefined) m = m.conntrackState(s.ctState);
  if (s.markBit !== undefined) m = m.markSingleBitSet(s.markBit);
  if (s.icmp !== undefined) m = m.icmpTypeAndCode(s.icmp[0], s.icmp[1]);
  const rule: Rule = { match: m, action: dslAction(s.target) };
  if (s.comment !== undefined) rule.comment = s.comment;
  return rule;
}

/** An edit of the workload: rule `rule` of chain `chain` uses variant `variant`. */
export interface Edit {
  /** Chain index. */
  chain: number;
  /** Rule index. */
  rule: number;
  /** Variant (0: the original rule). */
  variant: number;
}

/** Builds every owned chain of the workload from the DSL. */
export function buildChains(chains: number, rulesPerChain: number, edit?: Edit): Chain[] {
  const out: Chain[] = new Array(chains);
  for (let c = 0; c < chains; c++) {
    const rules: Rule[] = new Array(rulesPerChain);
    for (let i = 0; i < rulesPerChain; i++) {
      const variant = edit !== undefined && edit.chain === c && edit.rule === i ? edit.variant : 0;
      rules[i] = dslRule(ruleSpec(c, i, chains, variant));
    }
    out[c] = { name: chainName(c), rules };
  }
  return out;
}

/** The `INPUT` insertion that reaches the tree's root. */
export function rootJump(): Rule {
  return { action: Jump(chainName(0)) };
}

function fermRule(s: RuleSpec): string {
  const w: string[] = [];
  if (s.proto !== undefined) w.push(`proto ${s.proto}`);
  if (s.srcSet !== undefined) w.push(`mod set match-set ${s.srcSet} src`);
  if (s.notDstSet !== undefined) w.push(`mod set match-set !${s.notDstSet} dst`);
  if (s.dstNet !== undefined) w.push(`daddr ${s.dstNet}`);
  if (s.dports !== undefined) w.push(`mod multiport destination-ports (${s.dports.join(" ")})`);
  if (s.dportRanges !== undefined) {
    const ports = s.dportRanges.map(([a, b]) => a === b ? `${a}` : `${a}:${b}`);
    w.push(`mod multiport destination-ports (${ports.join(" ")})`);
  }
  if (s.inIface !== undefined) w.push(`interface ${s.inIface}`);
  if (s.ctState !== undefined) w.push(`mod conntrack ctstate ${s.ctState}`);
  if (s.markBit !== undefined) {
    w.push(`mod mark mark 0x${s.markBit.toString(16)}/0x${s.markBit.toString(16)}`);
  }
  if (s.icmp !== undefined) w.push(`icmp-type ${s.icmp[0]}/${s.icmp[1]}`);
  if (s.comment !== undefined) w.push(`mod comment comment "${s.comment}"`);
  const t = s.target;
  if (typeof t === "string") w.push(t);
  else if ("jump" in t) w.push(`jump ${t.jump}`);
  else w.push(`LOG log-prefix "${t.log}"`);
  return w.join(" ") + ";";
}

/** The same policy as a ferm configuration (filter table, legacy backend). */
export function fermConfig(chains: number, rulesPerChain: number, edit?: Edit): string {
  const out: string[] = ["table filter {", `  chain INPUT jump ${chainName(0)};`];
  for (let c = 0; c < chains; c++) {
    out.push(`  chain ${chainName(c)} {`);
    for (let i = 0; i < rulesPerChain; i++) {
      const variant = edit !== undefined && edit.chain === c && edit.rule === i ? edit.variant : 0;
      out.push("    " + fermRule(ruleSpec(c, i, chains, variant)));
    }
    out.push("  }");
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** `ipset restore` input creating every set of the workload. */
export function ipSetScript(family: "inet" | "inet6" = "inet"): string {
  const lines: string[] = [];
  for (let i = 0; i < IP_SETS; i++) {
    lines.push(`create ${setName(i)} hash:net family ${family}`);
  }
  return lines.join("\n") + "\n";
}

/** Name of the long chain used for the first-rule change. */
export const BIG_CHAIN = "rp-big";

/** A chain of `rules` workload rules named {@linkcode BIG_CHAIN}; `variant` changes its first rule. */
export function bigChain(rules: number, variant = 0): Chain {
  const out: Rule[] = new Array(rules);
  // Chain index 1_000_000: its jump rules have no children, so they RETURN.
  for (let i = 0; i < rules; i++) {
    out[i] = dslRule(ruleSpec(1_000_000, i, 0, i === 0 ? variant : 0));
  }
  return { name: BIG_CHAIN, rules: out };
}

function yamlRule(s: RuleSpec): string {
  const w: string[] = [];
  if (s.proto !== undefined) w.push(`protocol: ${s.proto}`);
  if (s.srcSet !== undefined) w.push(`sourceIpSet: ${s.srcSet}`);
  if (s.notDstSet !== undefined) w.push(`notDestIpSet: ${s.notDstSet}`);
  if (s.dstNet !== undefined) w.push(`destNet: ${s.dstNet}`);
  if (s.dports !== undefined) w.push(`destPorts: [${s.dports.join(", ")}]`);
  if (s.dportRanges !== undefined) {
    w.push(`destPortRanges: [${s.dportRanges.map(([a, b]) => `"${a}:${b}"`).join(", ")}]`);
  }
  if (s.inIface !== undefined) w.push(`inInterface: ${s.inIface}`);
  if (s.ctState !== undefined) w.push(`conntrackState: [${s.ctState}]`);
  if (s.markBit !== undefined) w.push(`markSingleBitSet: 0x${s.markBit.toString(16)}`);
  if (s.icmp !== undefined) w.push(`icmpTypeAndCode: {type: ${s.icmp[0]}, code: ${s.icmp[1]}}`);
  if (s.comment !== undefined) w.push(`comment: ${s.comment}`);
  const t = s.target;
  if (typeof t === "string") w.push(`action: ${t.toLowerCase()}`);
  else if ("jump" in t) w.push(`jump: ${t.jump}`);
  else w.push(`log: ${t.log}`);
  return "        - " + w.join("\n          ") + "\n";
}

/**
 * The same policy as a Rampart YAML rule file (IPv4, the filter table), for
 * the operator's path: `rampart apply FILE`.
 */
export function yamlPolicy(chains: number, rulesPerChain: number, edit?: Edit): string {
  const out: string[] = [
    "family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n" +
    `          - jump: ${chainName(0)}\n    chains:\n`,
  ];
  for (let c = 0; c < chains; c++) {
    out.push(`      ${chainName(c)}:\n`);
    for (let i = 0; i < rulesPerChain; i++) {
      const variant = edit !== undefined && edit.chain === c && edit.rule === i ? edit.variant : 0;
      out.push(yamlRule(ruleSpec(c, i, chains, variant)));
    }
  }
  return out.join("");
}
