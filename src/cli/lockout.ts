/**
 * The warning `rampart apply` prints before it sets a DROP policy on the
 * filter table's INPUT or OUTPUT chain of this host (not of a `--netns`):
 * the change that locks an operator out when no rule accepts their own
 * connection.
 *
 * This is a warning, not a proof: only "Rampart's rules accept nothing in
 * INPUT" is checked against the connection in `SSH_CONNECTION`. Telling
 * whether the rules accept that connection needs a packet tracer; until
 * then `--confirm-timeout` is the safety net the warning points to.
 *
 * @module
 */
import type { Rule } from "../../dsl/rule.ts";
import { isReferrer } from "../../dsl/action.ts";
import { type IpFamily, type Policy, policyForFamily } from "../policy/policy.ts";

/** One table's planned script (as `Firewall.plan()` returns it). */
export interface PlannedTable {
  /** The table. */
  table: string;
  /** The family. */
  ipVersion: IpFamily;
  /** The restore script (`""` when in sync). */
  script: string;
}

/** A DROP policy the plan sets on filter INPUT or OUTPUT. */
export interface PlannedDrop {
  /** `INPUT` or `OUTPUT`. */
  chain: "INPUT" | "OUTPUT";
  /** The family. */
  ipVersion: IpFamily;
}

/**
 * The DROP policies a plan sets on filter INPUT or OUTPUT (the script's
 * `:INPUT DROP [0:0]` lines: exactly what apply writes).
 *
 * @param tables The plan.
 * @returns The chains and families.
 */
export function plannedDrops(tables: readonly PlannedTable[]): PlannedDrop[] {
  const out: PlannedDrop[] = [];
  for (const t of tables) {
    if (t.table !== "filter") continue;
    for (const line of t.script.split("\n")) {
      const m = /^:(INPUT|OUTPUT) DROP /.exec(line);
      if (m !== null) out.push({ chain: m[1] as "INPUT" | "OUTPUT", ipVersion: t.ipVersion });
    }
  }
  return out;
}

/** Whether a rule reachable from filter INPUT through the policy's own chains accepts anything. */
function inputMayAccept(policy: Policy, ipVersion: IpFamily): boolean {
  const filter = policyForFamily(policy, ipVersion).find((t) => t.table === "filter");
  if (filter === undefined) return false;
  const chains = new Map(filter.chains.map((c) => [c.name, c.rules]));
  const queue: (readonly Rule[])[] = [filter.insertions.INPUT ?? [], filter.appends.INPUT ?? []];
  const seen = new Set<string>();
  for (let rules = queue.pop(); rules !== undefined; rules = queue.pop()) {
    for (const rule of rules) {
      if (rule.action?.kind === "Accept") return true;
      if (isReferrer(rule.action) && !seen.has(rule.action.target)) {
        seen.add(rule.action.target);
        // A jump to another program's chain: it may accept.
        const target = chains.get(rule.action.target);
        if (target === undefined) return true;
        queue.push(target);
      }
    }
  }
  return false;
}

/** Options of {@linkcode lockoutWarning}. */
export interface LockoutWarningOptions {
  /** The policy being applied. */
  policy: Policy;
  /** `SSH_CONNECTION` (`client-ip client-port server-ip server-port`), if set. */
  sshConnection?: string | undefined;
}

/**
 * The warning for a plan that sets DROP on filter INPUT or OUTPUT of this
 * host, or `undefined` when it sets none.
 *
 * @param drops The DROP policies planned ({@linkcode plannedDrops}).
 * @param options The policy and the SSH connection the CLI runs over.
 * @returns The text (several lines, no trailing newline).
 */
export function lockoutWarning(
  drops: readonly PlannedDrop[],
  options: LockoutWarningOptions,
): string | undefined {
  if (drops.length === 0) return undefined;
  const what = drops.map((d) => `filter ${d.chain} (IPv${d.ipVersion})`).join(", ");
  let text = `this sets the policy of ${what} to DROP on THIS HOST: a connection no ` +
    "rule accepts is cut, yours included.";
  const ssh = options.sshConnection?.trim().split(/\s+/);
  if (ssh !== undefined && ssh.length === 4) {
    const [client, , server, port] = ssh;
    const family: IpFamily = server!.includes(":") ? 6 : 4;
    text += `\nYou are connected over SSH from ${client} to ${server} port ${port}.`;
    if (
      drops.some((d) => d.chain === "INPUT" && d.ipVersion === family) &&
      !inputMayAccept(options.policy, family)
    ) {
      text += ` No rule of this policy in filter INPUT (IPv${family}) accepts anything: ` +
        "unless another program's rule accepts it, applying this cuts that connection.";
    }
  }
  text += "\nApply with --confirm-timeout (e.g. --confirm-timeout 60s): unless you confirm " +
    "in time, the previous rules and policies come back.";
  return text;
}
