/**
 * The checks iptables and the kernel make on what a command adds: a rule's
 * arguments (with iptables' usage errors), its jump target, the rules a new
 * rule makes reachable from a hook, a chain's name, and the hook checks at
 * COMMIT.
 *
 * @module
 */
import { KNOWN_TARGETS, type ParsedRule, parseRule, RuleParseError } from "./normalise.ts";
import { hooksByChain, type TableState } from "./state.ts";
import { kernelHookCheck } from "./kernel_checks.ts";
import { Failure, type Invocation, kernelError, lineFailed, usage, VERSION } from "./invocation.ts";

/**
 * Parses a rule's arguments as the binary does: a usage error at `line` for
 * what iptables refuses, TCP/UDP options without their `-p` on nft, and sets
 * that do not exist.
 */
export function parseRuleArgs(
  inv: Invocation,
  ruleArgs: string[],
  at: { line: number; ipsets: ReadonlySet<string>; where?: { table: string; chain: string } },
): ParsedRule {
  const n = at.line;
  let parsed: ParsedRule;
  try {
    parsed = parseRule(ruleArgs, {
      ipVersion: inv.family,
      backend: inv.backend,
      ...(at.where === undefined ? {} : { where: at.where }),
    });
  } catch (e) {
    if (e instanceof RuleParseError) throw new Failure(2, usage(inv, e.message, n, e.bare));
    throw e;
  }
  for (const m of parsed.matches) {
    if (inv.backend === "nft" && (m.name === "tcp" || m.name === "udp")) {
      if (parsed.protocol !== (m.name === "tcp" ? 6 : 17)) {
        throw new Failure(
          2,
          usage(inv, `${m.name.toUpperCase()} match requires '-p ${m.name}'`, n),
        );
      }
    }
    if (m.name !== "set") continue;
    for (const o of m.options) {
      if (o.name === "--match-set" && !at.ipsets.has(o.args[0]!)) {
        throw new Failure(2, usage(inv, `Set ${o.args[0]} doesn't exist.\n`, n));
      }
    }
  }
  return parsed;
}

/**
 * Refuses a jump or goto to a chain that does not exist (or is built in):
 * at the line itself on legacy, at the table's COMMIT on nft.
 */
export function checkTarget(
  inv: Invocation,
  work: TableState,
  parsed: ParsedRule,
  at: { line: number; commitLine: () => number | undefined },
): void {
  const n = at.line;
  const t = parsed.target;
  if (t === undefined || parsed.targetIsExtension) return;
  const c = work.get(t);
  if (c && !c.builtin) return;
  if (inv.backend === "legacy") {
    throw new Failure(
      2,
      usage(
        inv,
        parsed.goto
          ? `goto '${t}' is not a chain`
          : `Couldn't load target \`${t}':No such file or directory\n`,
        n,
      ),
    );
  }
  const commit = at.commitLine();
  if (commit === undefined) {
    throw new Failure(1, `${inv.prog}: COMMIT expected at line ${n + 1}\n`);
  }
  throw new Failure(2, usage(inv, `Chain '${t}' does not exist`, commit));
}

/**
 * The hook checks the legacy kernel makes on a whole table when it is
 * committed (and nf_tables on a base chain's rules for plain `iptables`
 * commands).
 */
export function checkCommit(inv: Invocation, work: TableState, commitLine: number): void {
  const hooks = hooksByChain(work);
  for (const [name, c] of work) {
    const h = hooks.get(name);
    if (!h) continue;
    // nf_tables runs checkentry() with a hook mask for base chains only.
    const entry = inv.backend === "legacy" || c.builtin;
    for (const r of c.rules) {
      if (!kernelHookCheck(r.parsed, h, entry)) continue;
      if (inv.backend === "legacy") throw new Failure(1, lineFailed(inv, commitLine));
      let line = r.line;
      if (line === undefined) {
        for (const cc of work.values()) {
          for (const rr of cc.rules) {
            if (rr.line !== undefined) line = Math.min(line ?? rr.line, rr.line);
          }
        }
      }
      throw new Failure(
        4,
        `${inv.prog} ${VERSION} (${inv.tag}): \n` +
          kernelError(
            line ?? commitLine,
            "RULE_APPEND",
            "Invalid argument",
            `rule in chain ${name}`,
          ),
      );
    }
  }
}

/** The chains whose rules a new rule in `chain` brings under that chain's hooks. */
export function reachableFrom(t: TableState, rule: ParsedRule, chain: string): string[] {
  const out = [chain];
  const seen = new Set([chain]);
  const stack = rule.target !== undefined && !rule.targetIsExtension ? [rule.target] : [];
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (seen.has(c) || !t.has(c)) continue;
    seen.add(c);
    out.push(c);
    for (const r of t.get(c)!.rules) {
      if (r.parsed.target !== undefined && !r.parsed.targetIsExtension) stack.push(r.parsed.target);
    }
  }
  return out;
}

/** Why iptables refuses a chain name, or `undefined`. */
export function chainNameProblem(name: string): string | undefined {
  if (name.length > 28) return `chain name \`${name}' too long (must be under 29 chars)`;
  if (name.startsWith("-") || name.startsWith("!")) {
    return `chain name not allowed to start with \`${name[0]}'`;
  }
  if (KNOWN_TARGETS.has(name)) return "chain name may not clash with target name";
  if (name === "" || /\s/.test(name)) return `Invalid chain name \`${name}'`;
  return undefined;
}
