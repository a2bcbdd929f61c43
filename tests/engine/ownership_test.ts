/**
 * Ownership decided on the arguments of saved lines, and the prefixes that
 * mark what is ours (`src/host/ownership.ts`), on the fake dataplane: foreign
 * rules whose text imitates ours, chains whose names look like ours, and
 * prefixes that collide with targets or other programs' chains.
 */
import assert from "assert";
import {
  Accept,
  AmbiguousSaveError,
  chainPrefixProblem,
  Drop,
  extractRuleId,
  Firewall,
  hashPrefixProblem,
  Jump,
  type LogFields,
  type Logger,
  type LogLevel,
  Match,
  parseSave,
  PrefixError,
  readSnapshotTable,
  Table,
  TableConfigError,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import { EMULATED_TARGETS, KNOWN_TARGETS } from "../../src/fake/normalise.ts";
import { jumpsToOwnedChain, lastArgumentMay, ruleIdOf } from "../../src/host/ownership.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import { dockerScripts, prng } from "../fixtures/neighbours.ts";

const ID = "AAAAAAAAAAAAAAAA";

/** Foreign rules whose text mentions our markers (IPv4; `v6` rewrites the addresses). */
const IMITATIONS = [
  '-A INPUT -s 10.0.0.1/32 -m comment --comment "see -j rp-x for details" -j ACCEPT',
  `-A INPUT -s 10.0.0.4/32 -j NFLOG --nflog-prefix "x --comment rampart:BBBBBBBBBBBBBBBB y"`,
  '-A INPUT -s 10.0.0.5/32 -j LOG --log-prefix "a --goto rp-z"',
  `-A INPUT -s 10.0.0.6/32 -m comment --comment x -m comment --comment "rampart:${ID}" -j ACCEPT`,
  `-A INPUT -s 10.0.0.7/32 -m comment --comment "rampart:${ID} " -j ACCEPT`,
  `-A INPUT -s 10.0.0.8/32 -m comment --comment "rampart:${ID}A" -j ACCEPT`,
  `-A INPUT -s 10.0.0.9/32 -m comment --comment "xrampart:${ID}" -j ACCEPT`,
  `-A INPUT -s 10.0.0.10/32 -m comment --comment "\\"rampart:${ID}\\"" -j ACCEPT`,
  '-A INPUT -s 10.0.0.11/32 -m comment --comment "-j rp-x" -j DROP',
  "-A INPUT -s 10.0.0.12/32 -m comment --comment rp-x -j DROP",
  '-A INPUT -s 10.0.0.13/32 -j LOG --log-prefix "-g rp-x"',
  `-A INPUT -s 10.0.0.14/32 -m comment --comment "a -m comment --comment rampart:${ID}" -j DROP`,
  '-A INPUT -s 10.0.0.15/32 -m comment --comment "-j" -j RETURN',
];

function v6(line: string): string {
  return line.replace(/-s 10\.0\.0\.(\d+)\/32/, (_, n) => `-s 2001:db8::${n}/128`);
}

/** The fake's iptables-save lines for the imitations, counters included. */
async function seedImitations(fake: FakeDataplane, ipVersion: 4 | 6): Promise<string[]> {
  const lines = IMITATIONS.map((l, i) =>
    `[${i + 1}:${(i + 1) * 60}] ${ipVersion === 6 ? v6(l) : l}`
  );
  await fake.load(["*filter", ...lines, "COMMIT", ""].join("\n"), { ipVersion, counters: true });
  return inputWithCounters(fake, ipVersion);
}

function inputWithCounters(fake: FakeDataplane, ipVersion: 4 | 6): string[] {
  return fake.dump("filter", { ipVersion, counters: true }).split("\n").filter((l) =>
    / -A INPUT /.test(l)
  );
}

Deno.test("ownership: imitations of our markers are not ours", () => {
  for (const line of IMITATIONS) {
    assert.equal(extractRuleId(line, "rampart:"), undefined, line);
    assert.equal(jumpsToOwnedChain(line, (c) => c.startsWith("rp-")), false, line);
  }
  const ours =
    `-A INPUT -p tcp -m comment --comment "rampart:${ID}" -m comment --comment x -j rp-in`;
  assert.equal(extractRuleId(ours, "rampart:"), ID);
  assert.equal(jumpsToOwnedChain("-A INPUT -j rp-in", (c) => c.startsWith("rp-")), true);
  assert.equal(jumpsToOwnedChain("-A INPUT -g rp-in", (c) => c.startsWith("rp-")), true);
  assert.equal(jumpsToOwnedChain("-A INPUT --goto rp-in", (c) => c.startsWith("rp-")), true);
  // An unquoted ID comment (a prefix of ID characters only) is read too.
  assert.equal(extractRuleId(`-A INPUT -m comment --comment rp${ID} -j DROP`, "rp"), ID);
});

/** The first comment, from every argument of the line (what `ruleIdOf` must agree with). */
function referenceId(line: string, hashPrefix: string): string | undefined {
  const a = tokenizeRestoreLine(line);
  for (let i = 0; i + 1 < a.length; i++) {
    if ((a[i] === "-m" || a[i] === "--match") && a[i + 1] === "comment") {
      const value = a[i + 2] === "--comment" ? a[i + 3] : undefined;
      if (value === undefined || !value.startsWith(hashPrefix)) return undefined;
      const id = value.slice(hashPrefix.length);
      return /^[A-Za-z0-9_-]{16}$/.test(id) ? id : undefined;
    }
  }
  return undefined;
}

Deno.test("ownership: the shortcuts decide as the arguments do (random lines)", () => {
  const pieces = [
    "-A INPUT",
    " ",
    " ",
    "\t",
    '"',
    "\\",
    "-m",
    "--match",
    "comment",
    "--comment",
    "-j",
    "-g",
    "rp-x",
    "rampart:",
    ID,
    `"rampart:${ID}"`,
    " -m comment --comment ",
    "x",
  ];
  const rand = prng(13);
  const owned = (c: string) => c.startsWith("rp-");
  for (let n = 0; n < 20_000; n++) {
    let line = "";
    const len = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < len; i++) line += pieces[Math.floor(rand() * pieces.length)];
    assert.equal(ruleIdOf(line, "rampart:"), referenceId(line, "rampart:"), JSON.stringify(line));
    const args = tokenizeRestoreLine(line);
    if (!lastArgumentMay(line, owned) && args.length > 0) {
      assert.equal(owned(args.at(-1)!), false, JSON.stringify(line));
    }
  }
});

function fakeTable(fake: FakeDataplane, ipVersion: 4 | 6, backend: "nft" | "legacy") {
  return new Table("filter", {
    runner: fake.runner,
    backend,
    ipVersion,
    featureDetector: {
      getFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
      refreshFeatures: () => Promise.resolve({ nftPositionalEdits: true }),
    },
  });
}

for (const backend of ["nft", "legacy"] as const) {
  for (const ipVersion of [4, 6] as const) {
    Deno.test(`ownership: apply and cleanUp keep imitating rules byte for byte (${backend}, IPv${ipVersion})`, async () => {
      const fake = new FakeDataplane({ backend });
      const before = await seedImitations(fake, ipVersion);
      assert.equal(before.length, IMITATIONS.length);
      const table = fakeTable(fake, ipVersion, backend);
      table.updateChain({
        name: "rp-in",
        rules: [{ match: Match().protocol("tcp").destPorts(22), action: Accept() }],
      });
      table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
      table.setRuleAppends("INPUT", [{ action: Drop() }]);
      await table.apply();
      const applied = inputWithCounters(fake, ipVersion);
      assert.equal(applied.length, IMITATIONS.length + 2);
      assert.deepEqual(applied.slice(1, -1), before);
      table.invalidateDataplaneCache("test");
      assert.equal(await table.plan(), "");
      await table.cleanUp();
      assert.deepEqual(inputWithCounters(fake, ipVersion), before);
      assert.deepEqual(fake.chains("filter", { ipVersion }), ["INPUT", "FORWARD", "OUTPUT"]);
    });
  }
}

Deno.test("ownership: old ID-less jumps to a chain of ours are ours; text mentioning it is not", async () => {
  const fake = new FakeDataplane();
  await fake.load([
    "*filter",
    ":rp-old - [0:0]",
    `-A rp-old -m comment --comment "rampart:${ID}" -j RETURN`,
    "-A INPUT -j rp-old",
    "-A FORWARD -g rp-old",
    ...IMITATIONS,
    "COMMIT",
    "",
  ].join("\n"));
  const table = fakeTable(fake, 4, "nft");
  await table.cleanUp();
  assert.deepEqual(fake.chains("filter"), ["INPUT", "FORWARD", "OUTPUT"]);
  assert.deepEqual(fake.rules("filter", "FORWARD"), []);
  assert.equal(fake.rules("filter", "INPUT").length, IMITATIONS.length);
});

Deno.test("ownership: chain prefixes that start built-in chain or target names are refused", () => {
  for (const prefix of ["D", "DR", "DROP", "A", "R", "RE", "INPUT", "IN", "P", "LOG", "NF", "T"]) {
    const problem = chainPrefixProblem(prefix);
    assert.ok(problem !== undefined, prefix);
    assert.throws(
      () => new Table("filter", { chainPrefixes: ["rp-", prefix] }),
      (e: unknown) =>
        e instanceof PrefixError && e.prefix === prefix && e.field === "chainPrefixes",
    );
    assert.throws(() => new Firewall({ chainPrefixes: [prefix] }), PrefixError);
  }
  assert.match(chainPrefixProblem("D")!, /DROP/);
  assert.match(chainPrefixProblem("INPUT")!, /built-in chain name INPUT/);
  for (const prefix of ["", "-x", "a b", "x".repeat(23), 'a"']) {
    assert.throws(() => new Table("filter", { chainPrefixes: [prefix] }), TableConfigError);
  }
  for (const prefix of ["rp-", "DOCKER-", "fw_", "x", "drop-", "Input"]) {
    assert.equal(chainPrefixProblem(prefix), undefined, prefix);
  }
});

Deno.test("ownership: hash prefixes must end with a character no ID has", () => {
  for (const prefix of ["rp-", "rampart", "x_", "rp9", ""]) {
    assert.ok(hashPrefixProblem(prefix) !== undefined, prefix);
    assert.throws(() => new Table("filter", { hashPrefix: prefix }), PrefixError);
  }
  assert.match(hashPrefixProblem("rp-")!, /rp-allow-web-server/);
  for (const prefix of ["rampart:", "rp.", "cali:", "a/b@", "x="]) {
    assert.equal(hashPrefixProblem(prefix), undefined, prefix);
  }
});

Deno.test("ownership: the fake's chain-name check and the prefix check share the target list", () => {
  for (const t of EMULATED_TARGETS) assert.ok(KNOWN_TARGETS.has(t), t);
  for (const t of KNOWN_TARGETS) assert.ok(chainPrefixProblem(t) !== undefined, t);
});

for (const prefix of ["DOCKER", "DOCKER-", "DOCKER-USER"]) {
  Deno.test(`ownership: prefix ${prefix} matching Docker's chains is refused and nothing is written`, async () => {
    const fake = new FakeDataplane();
    await fake.load(dockerScripts(4).filter, { counters: true });
    const before = fake.dump("filter", { counters: true });
    const table = new Table("filter", {
      runner: fake.runner,
      backend: "nft",
      chainPrefixes: [prefix],
    });
    const refused = (e: unknown) =>
      e instanceof PrefixError && e.prefix === prefix && e.chain!.startsWith(prefix) &&
      e.table === "filter" && e.ipVersion === 4 && /not Rampart's/.test(e.message);
    await assert.rejects(() => table.cleanUp(), refused);
    await assert.rejects(() => table.plan(), refused);
    await assert.rejects(() => table.apply(), refused);
    const firewall = new Firewall({ runner: fake.runner, backend: "nft", chainPrefixes: [prefix] });
    await assert.rejects(() => firewall.cleanUp(), refused);
    await assert.rejects(() => firewall.snapshot(), refused);
    assert.equal(fake.calls.filter((c) => c.cmd.includes("restore")).length, 0);
    assert.equal(fake.dump("filter", { counters: true }), before);
  });
}

function collect(): Logger & {
  records: { level: LogLevel; message: string; fields?: LogFields }[];
} {
  const records: { level: LogLevel; message: string; fields?: LogFields }[] = [];
  return {
    records,
    log(level, message, fields) {
      records.push(fields === undefined ? { level, message } : { level, message, fields });
    },
  };
}

Deno.test("ownership: an empty chain with our prefix that nothing jumps to is left alone, with a warning", async () => {
  const fake = new FakeDataplane();
  await fake.load("*filter\n:rp-canary - [0:0]\nCOMMIT\n");
  const logger = collect();
  const table = new Table("filter", { runner: fake.runner, backend: "nft", logger });
  table.updateChain({ name: "rp-in", rules: [{ action: Accept() }] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  await table.cleanUp();
  assert.deepEqual(fake.chains("filter"), ["INPUT", "FORWARD", "OUTPUT", "rp-canary"]);
  const warnings = logger.records.filter((r) => r.level === "warn");
  assert.equal(warnings.length, 1, "warned once");
  assert.match(warnings[0]!.message, /left chain rp-canary alone/);
  // A chain of ours emptied by `iptables -F` (its jump deleted too) is ours to fill again.
  const again = new Table("filter", { runner: fake.runner, backend: "nft" });
  again.updateChain({ name: "rp-canary", rules: [{ action: Accept() }] });
  again.setRuleInsertions("INPUT", [{ action: Jump("rp-canary") }]);
  await again.apply();
  assert.equal(fake.rules("filter", "rp-canary").length, 1);
});

Deno.test("ownership: a foreign rule in one of our chains is repaired, not a reason to refuse", async () => {
  const fake = new FakeDataplane();
  const table = fakeTable(fake, 4, "nft");
  table.updateChain({ name: "rp-in", rules: [] });
  table.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  await table.apply();
  // Our chain is empty by design: the rule of ours that jumps to it makes it ours.
  await fake.load("*filter\n-A rp-in -s 10.1.1.1/32 -j ACCEPT\nCOMMIT\n");
  table.invalidateDataplaneCache("test");
  await table.apply();
  assert.deepEqual(fake.rules("filter", "rp-in"), []);
});

Deno.test("ownership: parseSave marks chains with our prefix that are not ours", () => {
  const save = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":rp-a - [0:0]",
    ":rp-b - [0:0]",
    ":rp-c - [0:0]",
    ":rp-d - [0:0]",
    ":rp-e - [0:0]",
    ":rp-f - [0:0]",
    `-A INPUT -m comment --comment "rampart:${ID}" -j rp-b`,
    "-A INPUT -j rp-c",
    '-A INPUT -m comment --comment "jump to rp-f" -j ACCEPT',
    `-A rp-a -m comment --comment "rampart:${ID}" -j ACCEPT`,
    "-A rp-d -j RETURN",
    `-A rp-d -m comment --comment "x" -m comment --comment "rampart:${ID}" -j RETURN`,
    "COMMIT",
  ].join("\n");
  const state = parseSave(save, {
    hashPrefix: "rampart:",
    isOwnedChain: (c) => c.startsWith("rp-"),
  });
  const kinds = Object.fromEntries([...state].map(([n, c]) => [n, c.ownership ?? "ours"]));
  assert.deepEqual(kinds, {
    INPUT: "ours", // not an owned chain: no ownership mark
    "rp-a": "ours", // holds a rule of ours
    "rp-b": "ours", // empty, a rule of ours jumps to it
    "rp-c": "foreign", // empty, only a rule without our ID jumps to it
    "rp-d": "foreign", // rules, none of ours
    "rp-e": "unknown", // empty, nothing jumps to it
    "rp-f": "unknown", // a comment naming it is no jump
  });
  assert.deepEqual(state.get("INPUT")!.hashes, [ID, "OLD INSERT RULE", ""]);
});

Deno.test("ownership: a snapshot leaves out chains nothing shows to be ours", async () => {
  const fake = new FakeDataplane();
  await fake.load(
    `*filter\n:rp-canary - [0:0]\n:rp-x - [0:0]\n-A rp-x -m comment --comment "rampart:${ID}"\nCOMMIT\n`,
  );
  const t = await readSnapshotTable(
    { table: "filter", ipVersion: 4, backend: "nft" },
    { runner: fake.runner, hashPrefix: "rampart:", chainPrefixes: ["rp-"] },
  );
  assert.deepEqual(t.chains.map((c) => c.name), ["rp-x"]);
});

Deno.test("ownership: a line break in a foreign value that forges a line of iptables-save is refused", () => {
  const read = (rules: string[]) =>
    parseSave(
      ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ...rules, "COMMIT", ""].join("\n"),
      { hashPrefix: "rampart:", isOwnedChain: (c) => c.startsWith("rp-") },
    );
  const forged: [string[], RegExp][] = [
    [['-A INPUT -m comment --comment "x', ':INPUT DROP [0:0]" -j ACCEPT'], /line 5: .*open/],
    [['-A INPUT -m comment --comment "x', `-A INPUT -m comment --comment rampart:${ID}"`], /open/],
    [['-A INPUT -m comment --comment "x', "y", '-A INPUT -j rp-in"'], /line 6: .*open/],
    [['-A INPUT -m comment --comment "a\\"', '*nat" -j ACCEPT'], /open/],
    // An interface name is printed as it is: only what it forges after the rules shows.
    [["-A INPUT -i x", ":INPUT DROP -j ACCEPT"], /declared after the rules/],
    [["-A INPUT -i x", ":rp-in -"], /declared after the rules/],
  ];
  for (const [rules, why] of forged) {
    assert.throws(() => read(rules), (e) => e instanceof AmbiguousSaveError && why.test(e.message));
  }
  assert.throws(
    () =>
      parseSave("*filter\n:INPUT ACCEPT [0:0]\n:INPUT DROP [0:0]\nCOMMIT\n", {
        hashPrefix: "rampart:",
        isOwnedChain: () => false,
      }),
    /declared twice/,
  );
  // A line break whose next line looks like no line of iptables-save is read as before.
  const state = read([
    '-A INPUT -m comment --comment "first line',
    'second -j rp-in" -j ACCEPT',
    '-A INPUT -m comment --comment "a \\"quoted\\" \\\\" -j rp-x',
    `-A INPUT -m comment --comment "rampart:${ID}" -j ACCEPT`,
  ]);
  assert.deepEqual(state.get("INPUT")!.hashes, ["", "OLD INSERT RULE", ID]);
  assert.equal(state.get("FORWARD")!.policy, "DROP");
});
