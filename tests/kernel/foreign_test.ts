/**
 * Scenario 3: 1000 rules of another program, interleaved with stale rules of
 * ours in INPUT and FORWARD, stay byte-identical (text, order and counters)
 * across 50 applies of a changing policy, in insert and append mode.
 */
import assert from "assert";
import {
  Accept,
  calculateRuleIds,
  Drop,
  type Features,
  Jump,
  Match,
  Return,
  type Rule,
} from "../../mod.ts";
import { FeatureDetector } from "../../src/host/feature_detector.ts";
import { prng } from "../fixtures/neighbours.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import {
  chainIds,
  chainLinesWithCounters,
  kernelTable,
  kernelTest,
  restoreScript,
  saveTable,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const FOREIGN_PER_CHAIN = 500;
const ROUNDS = 50;

/** The other program's rules, with stale rules of ours interleaved every 97 rules. */
function foreignScript(v: Variant): string {
  const lines = ["*filter", ":rp-old - [0:0]", ":OTHER-PROG - [0:0]"];
  for (const chain of ["INPUT", "FORWARD"]) {
    for (let i = 0; i < FOREIGN_PER_CHAIN; i++) {
      const addr = v.ipVersion === 6
        ? `2001:db8:${i.toString(16)}::/48`
        : `10.${i >> 8}.${i & 255}.0/24`;
      switch (i % 5) {
        case 0:
          lines.push(`-A ${chain} -s ${addr} -m comment --comment "other ${chain} ${i}" -j ACCEPT`);
          break;
        case 1:
          lines.push(`-A ${chain} -p tcp -m tcp --dport ${1000 + i} -j DROP`);
          break;
        case 2:
          // A comment that looks like ours but is not the first comment.
          lines.push(
            `-A ${chain} -m comment --comment "x${i}" -m comment --comment "rampart:AAAAAAAAAAAAAAA${
              i % 10
            }" -j OTHER-PROG`,
          );
          break;
        case 3:
          lines.push(`-A ${chain} -m comment --comment "rampart:short${i}" -j RETURN`);
          break;
        default:
          lines.push(`-A ${chain} -i eth${i % 4} -m conntrack --ctstate NEW -j OTHER-PROG`);
      }
      if (i % 97 === 50) {
        // Stale rules of ours: an old ID, and an old-style jump matched by the cleanup pattern.
        lines.push(
          `-A ${chain} -m comment --comment "rampart:STALEstale${
            String(i).padStart(6, "0")
          }" -j DROP`,
        );
        lines.push(`-A ${chain} -j rp-old`);
      }
    }
  }
  // rp-old is a stale chain of ours: a rule of ours in it says so (an empty
  // chain that only ID-less rules jump to would be another program's).
  lines.push(
    "-A OTHER-PROG -j RETURN",
    '-A rp-old -m comment --comment "rampart:OLDoldOLDold0000" -j RETURN',
    "COMMIT",
    "",
  );
  return lines.join("\n");
}

/** Ours when the FIRST comment is one of our IDs (as the engine reads it). */
function isOurs(line: string): boolean {
  const at = line.indexOf(" --comment ");
  return at >= 0 && /^ --comment "?rampart:[A-Za-z0-9_-]{16}(?:"| |$)/.test(line.slice(at));
}

function randomRules(rand: () => number, n: number, tag: string): Rule[] {
  const out: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const port = 2000 + Math.floor(rand() * 30000);
    const choice = Math.floor(rand() * 3);
    out.push(
      choice === 0
        ? { match: Match().protocol("tcp").destPorts(port), action: Accept(), comment: tag }
        : choice === 1
        ? { match: Match().protocol("udp").sourcePorts(port), action: Drop() }
        : { match: Match().conntrackState("INVALID"), action: Jump("rp-pol") },
    );
  }
  return out;
}

async function foreign(netns: string, v: Variant, insertMode: "insert" | "append") {
  await restoreScript(netns, v, foreignScript(v));
  const features: Features = await new FeatureDetector({
    runner: new DenoCommandRunner({ netns }),
  }).getFeatures();
  const initial = await saveTable(netns, v, "filter", { counters: true });
  const foreignOf = (save: string, chain: string) =>
    chainLinesWithCounters(save, chain).filter((r) => !isOurs(r.line)).map((r) =>
      `${r.counters} ${r.line}`
    ).filter((l) => !/ -j rp-old$/.test(l) && !/rampart:STALE/.test(l));
  const expectedForeign = new Map(
    ["INPUT", "FORWARD"].map((c) => [c, foreignOf(initial, c)] as const),
  );
  assert.equal(expectedForeign.get("INPUT")!.length, FOREIGN_PER_CHAIN);

  const table = kernelTable(netns, "filter", v, { insertMode });
  const rand = prng(
    v.ipVersion * 1000 + (v.backend === "nft" ? 1 : 2) + (insertMode === "insert" ? 10 : 20),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const inserts = new Map<string, Rule[]>([
      ["INPUT", [
        { action: Jump("rp-pol") },
        ...randomRules(rand, Math.floor(rand() * 4), `in${round}`),
      ]],
      ["FORWARD", randomRules(rand, Math.floor(rand() * 3), `fw${round}`)],
    ]);
    const appends = new Map<string, Rule[]>([
      ["INPUT", randomRules(rand, Math.floor(rand() * 2), `ap${round}`)],
      ["FORWARD", round % 3 === 0 ? [] : [{ action: Return() }]],
    ]);
    table.updateChain({
      name: "rp-pol",
      rules: randomRules(rand, 1 + Math.floor(rand() * 5), "pol").filter((r) =>
        r.action?.kind !== "Jump"
      ),
    });
    for (const [c, r] of inserts) table.setRuleInsertions(c, r);
    for (const [c, r] of appends) table.setRuleAppends(c, r);
    await table.apply();

    const save = await saveTable(netns, v, "filter", { counters: true });
    for (const chain of ["INPUT", "FORWARD"]) {
      assert.deepEqual(
        foreignOf(save, chain),
        expectedForeign.get(chain),
        `round ${round} ${chain}`,
      );
      const ins = calculateRuleIds(chain, inserts.get(chain)!, { features });
      const app = calculateRuleIds(`${chain}*appends*`, appends.get(chain)!, { features });
      const ids = chainLinesWithCounters(save, chain).map((r) =>
        isOurs(r.line) ? chainIds(r.line, chain)[0]! : ""
      );
      const block = new Array<string>(FOREIGN_PER_CHAIN).fill("");
      const expected = insertMode === "insert"
        ? [...ins, ...block, ...app]
        : [...block, ...ins, ...app];
      assert.deepEqual(ids, expected, `round ${round} ${chain} (${insertMode})`);
    }
    assert.equal(save.includes("STALE"), false, "stale rules of ours are gone");
    assert.equal(
      / -j rp-old$/m.test(save) || save.includes(":rp-old "),
      false,
      "old-style rules are gone",
    );
  }
  assert.equal(table.metrics().restoreErrors, 0);
}

for (const v of VARIANTS) {
  for (const mode of ["insert", "append"] as const) {
    kernelTest(
      `1000 foreign rules stay byte-identical over ${ROUNDS} applies (${variantName(v)}, ${mode})`,
      (netns) => foreign(netns, v, mode),
    );
  }
}
