/**
 * Other programs' rules as an adversary writes them, and the one view of a
 * namespace that every adversarial kernel test compares: everything that is
 * not Rampart's, byte for byte, counters included.
 *
 * - {@linkcode seedHostile} adds, with `iptables -w` argument arrays (never a
 *   shell, never the restore tokenizer), rules whose comments, LOG and NFLOG
 *   prefixes imitate Rampart's markers (ID-shaped strings, `-j rp-x`,
 *   `--goto`, quotes, backslashes, our hash prefix as a second comment,
 *   unicode, a tab, a line break), jumps to chains named like ours
 *   (`rp_x`, `RP-x`, `rpx`, `xrp-in`), in every table of both families, and
 *   then sends TCP over `lo` so that their counters are non-zero on every
 *   backend (`ip6tables-nft` ignores `-c` and `--counters`).
 * - {@linkcode assertForeignKept} compares the namespace with what it held
 *   before Rampart ran: every line there before must still be there, in
 *   order, byte for byte, and every other line must be Rampart's, decided
 *   independently of the engine ({@linkcode isOurLine}: its own tokenizer,
 *   `tests/fixtures/import_corpus.ts`, and the chain names the test's policy
 *   defines), so a rule the engine misreads shows up as missing or changed.
 *
 * @module
 */
import { tokenize } from "../fixtures/import_corpus.ts";
import { binary, nsExec, saveTable, tcpTraffic, type Variant } from "./netns.ts";

/** The four tables, in the order Rampart writes them. */
export const TABLES = ["raw", "mangle", "nat", "filter"] as const;

/** A foreign rule: where it goes and its `iptables -A <chain>` arguments. */
export interface ForeignRule {
  /** The table. */
  table: (typeof TABLES)[number];
  /** The chain it is appended to. */
  chain: string;
  /** Its arguments after `-A <chain>`. */
  args: string[];
}

const ID = "AAAAAAAAAAAAAAAA";

/** Chains other programs made, named like ours but not under the prefix `rp-`. */
export const LOOKALIKE_CHAINS: readonly string[] = ["rp_x", "RP-x", "rpx", "xrp-in", "FOREIGN-RET"];

/**
 * Rules another program might write (or an adversary would), for one family.
 * Every rule of INPUT, OUTPUT and the other tables' hooks matches TCP over
 * `lo` and lets the packet go on (no target, LOG, NFLOG, MARK, or a jump to
 * a chain that returns), so each one counts the test's traffic.
 */
export function hostileRules(ipVersion: 4 | 6): ForeignRule[] {
  const tcpIn = ["-i", "lo", "-p", "tcp"];
  const tcpOut = ["-o", "lo", "-p", "tcp"];
  const comment = (...values: string[]) => values.flatMap((v) => ["-m", "comment", "--comment", v]);
  const input = (args: string[]): ForeignRule => ({
    table: "filter",
    chain: "INPUT",
    args: [...tcpIn, ...args],
  });
  const rules: ForeignRule[] = [
    input(comment("see -j rp-x for details")),
    input([...comment("x -g rp-in"), "-j", "FOREIGN-RET"]),
    input(["-j", "NFLOG", "--nflog-prefix", `x --comment rampart:${"B".repeat(16)} y`]),
    input(["-j", "LOG", "--log-prefix", "a --goto rp-in"]),
    input(comment("x", `rampart:${ID}`)),
    input(comment(`rampart:${ID} `)),
    input(comment(`"rampart:${ID}"`)),
    input(comment(`rampart:${ID.slice(1)}`)),
    input(comment(`rampart:${ID}A`)),
    input(comment(`Rampart:${ID}`)),
    input(comment(`xrampart:${ID}`)),
    input(comment(`rampart:AAAAAAAA\\AAAAAAA`)),
    input(comment(`a\\" -m comment --comment rampart:${ID} \\`)),
    input(comment("x\\")),
    input([...comment("-j rp-in"), "-j", "FOREIGN-RET"]),
    input(comment(`rampart:\u00c4${ID.slice(1)}`)),
    input(comment(`\uff52\uff41\uff4d\uff50\uff41\uff52\uff54\uff1a${ID} \u{1f525} -j rp-in`)),
    input(comment("a\t-j\trp-in")),
    input(comment("it's -g rp-in")),
    // A line break whose second line does not look like a line of iptables-save.
    input(comment("first line\nsecond line -j rp-in")),
    input(["-j", "LOG", "--log-prefix", '" -j rp-in \\']),
    input(["-j", "LOG", "--log-prefix", `rampart:${ID}`]),
    input(["-j", "NFLOG", "--nflog-prefix", "-g rp-in"]),
    input(["-j", "LOG", "--log-prefix", "-g rp-in"]),
    ...LOOKALIKE_CHAINS.filter((c) => c !== "FOREIGN-RET").map((c) =>
      input([...comment(`rampart:${ID} jumps to ${c}`), "-j", c])
    ),
    { table: "filter", chain: "rp_x", args: [...tcpIn, ...comment("-j rp-in")] },
    { table: "filter", chain: "OUTPUT", args: [...tcpOut, ...comment("x", `rampart:${ID}`)] },
    {
      table: "filter",
      chain: "OUTPUT",
      args: [...tcpOut, "-j", "NFLOG", "--nflog-prefix", "rp-out"],
    },
    {
      table: "raw",
      chain: "PREROUTING",
      args: [...tcpIn, ...comment(`rampart:${ID} x`)],
    },
    { table: "raw", chain: "OUTPUT", args: [...tcpOut, ...comment("-j rp-raw")] },
    {
      table: "mangle",
      chain: "OUTPUT",
      args: [...tcpOut, ...comment("-g rp-mangle"), "-j", "MARK", "--set-xmark", "0x10/0xff"],
    },
    {
      table: "mangle",
      chain: "PREROUTING",
      args: [...tcpIn, "-j", "LOG", "--log-prefix", `rampart:${ID}`],
    },
    { table: "nat", chain: "OUTPUT", args: [...tcpOut, ...comment("x", `rampart:${ID}`)] },
    {
      table: "nat",
      chain: "POSTROUTING",
      args: [...tcpOut, "-j", "LOG", "--log-prefix", "-j rp-nat"],
    },
    // FORWARD sees no traffic here: counters as `-c` sets them (zero on ip6tables-nft).
    {
      table: "filter",
      chain: "FORWARD",
      args: [
        "-c",
        "5",
        "300",
        "-s",
        ipVersion === 4 ? "10.0.0.1" : "2001:db8::1",
        ...comment("see -j rp-fwd"),
        "-j",
        "DROP",
      ],
    },
  ];
  return rules;
}

/** Runs `iptables -w <args>` of a variant in the namespace. */
export async function iptables(netns: string, v: Variant, args: string[]): Promise<string> {
  return await nsExec(netns, binary(v, ""), ["-w", ...args]);
}

/**
 * Adds {@linkcode hostileRules} of both families of a backend (and the
 * lookalike chains they jump to), then sends TCP over `lo` so that they count.
 */
export async function seedHostile(netns: string, backend: "nft" | "legacy"): Promise<void> {
  for (const ipVersion of [4, 6] as const) {
    const v: Variant = { backend, ipVersion };
    for (const chain of LOOKALIKE_CHAINS) await iptables(netns, v, ["-t", "filter", "-N", chain]);
    await iptables(netns, v, ["-t", "filter", "-A", "FOREIGN-RET", "-j", "RETURN"]);
    for (const r of hostileRules(ipVersion)) {
      await iptables(netns, v, ["-t", r.table, "-A", r.chain, ...r.args]);
    }
    await tcpTraffic(netns, v);
  }
}

/** `iptables-save -c` of every table of both families of a backend, `#` lines dropped. */
export async function saveAll(netns: string, backend: "nft" | "legacy"): Promise<string> {
  let out = "";
  for (const ipVersion of [4, 6] as const) {
    for (const table of TABLES) {
      const text = await saveTable(netns, { backend, ipVersion }, table, { counters: true });
      out += `# IPv${ipVersion}\n${text}`;
    }
  }
  return out;
}

const ID_CHARS = /^[A-Za-z0-9_-]{16}$/;
const BUILTIN = /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) (ACCEPT|DROP) \[\d+:\d+\]$/;

/**
 * Tells whether a line of `iptables-save -c` is Rampart's, decided without the
 * engine's code: a declaration or rule of one of `ourChains`, or a rule whose
 * first `-m comment --comment` value is exactly `<hash prefix><16 ID
 * characters>` (`rampart:` unless the test says otherwise), or whose last two
 * arguments jump or go to one of `ourChains`.
 */
export function isOurLine(
  line: string,
  ourChains: ReadonlySet<string>,
  hashPrefixes: readonly string[] = ["rampart:"],
): boolean {
  if (line.startsWith(":")) return ourChains.has(line.slice(1).split(" ")[0]!);
  const m = /^(?:\[\d+:\d+\] )?-A (\S+) (.*)$/.exec(line);
  if (m === null) return false;
  if (ourChains.has(m[1]!)) return true;
  let args: string[];
  try {
    args = tokenize(m[2]!);
  } catch {
    return false; // the first line of a value that holds a line break
  }
  const at = args.findIndex((a, i) => (a === "-m" || a === "--match") && args[i + 1] === "comment");
  const first = at >= 0 && args[at + 2] === "--comment" ? args[at + 3] ?? "" : "";
  if (hashPrefixes.some((p) => first.startsWith(p) && ID_CHARS.test(first.slice(p.length)))) {
    return true;
  }
  const n = args.length;
  return n >= 2 && ["-j", "--jump", "-g", "--goto"].includes(args[n - 2]!) &&
    ourChains.has(args[n - 1]!);
}

/** What of a namespace is Rampart's (see {@linkcode isOurLine}). */
export interface Ours {
  /** The chains the test's policy defines (and `rp-policy`). */
  ourChains: ReadonlySet<string>;
  /** Built-in chains whose policy the test's policy sets now, as `table/CHAIN`. */
  ourPolicies?: ReadonlySet<string>;
  /** The hash prefixes of our IDs (`rampart:` by default). */
  hashPrefixes?: readonly string[];
}

/**
 * The lines of `save` (from {@linkcode saveAll}) as the tests compare them,
 * counters included. iptables-legacy-restore zeroes the policy counters of
 * every built-in chain whoever restores, so on legacy those are left out (the
 * policies themselves are kept); a policy the test's policy sets is shown as
 * Rampart's while it does.
 */
export function comparable(
  save: string,
  options: { backend: "nft" | "legacy"; ourPolicies?: ReadonlySet<string> | undefined },
): string[] {
  let table = "";
  const out: string[] = [];
  for (const l of save.split("\n")) {
    if (l.startsWith("*")) table = l.slice(1);
    if (l === "") continue;
    const builtin = BUILTIN.exec(l);
    if (builtin !== null && options.ourPolicies?.has(`${table}/${builtin[1]}`)) {
      out.push(`:${builtin[1]} (Rampart's policy)`);
    } else if (builtin !== null && options.backend === "legacy") {
      out.push(l.replace(/ \[\d+:\d+\]$/, ""));
    } else out.push(l);
  }
  return out;
}

/**
 * Compares a namespace with what it held before Rampart ran: every line of
 * `before` must be there, in order, byte for byte (counters included), and
 * every other line must be Rampart's ({@linkcode isOurLine}). A line that
 * only looks like ours (e.g. a foreign rule whose interface name reads as a
 * jump) is matched as the foreign line it was.
 *
 * @returns The foreign lines missing or changed, and the lines that are
 * neither foreign nor Rampart's.
 */
export function foreignDiff(
  before: readonly string[],
  after: readonly string[],
  ourChains: ReadonlySet<string>,
  hashPrefixes?: readonly string[],
): { missing: string[]; unexpected: string[] } {
  let j = 0;
  const unexpected: string[] = [];
  for (const l of after) {
    if (j < before.length && l === before[j]) j++;
    else if (!isOurLine(l, ourChains, hashPrefixes)) unexpected.push(l);
  }
  return { missing: before.slice(j), unexpected };
}

/**
 * Asserts that every other program's line of the namespace is as it was
 * (`before`, from {@linkcode comparable} of {@linkcode saveAll}), and that
 * nothing else but Rampart's lines is there.
 */
export async function assertForeignKept(
  netns: string,
  backend: "nft" | "legacy",
  before: readonly string[],
  ours: Ours,
  why: string,
): Promise<void> {
  const after = comparable(await saveAll(netns, backend), { backend, ...ours });
  const diff = foreignDiff(before, after, ours.ourChains, ours.hashPrefixes);
  if (diff.missing.length > 0 || diff.unexpected.length > 0) {
    const show = (lines: string[]) =>
      lines.slice(0, 12).join("\n  ") +
      (lines.length > 12 ? `\n  … ${lines.length - 12} more` : "");
    throw new Error(
      `${why}: other programs' lines changed (${backend})\n` +
        `missing, from the first one missing or changed on:\n  ${show(diff.missing)}\n` +
        `neither theirs as before nor Rampart's:\n  ${show(diff.unexpected)}`,
    );
  }
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rp-adv-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
