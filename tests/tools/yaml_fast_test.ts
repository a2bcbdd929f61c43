/**
 * The loader's fast path (`src/yaml/fast_tree.ts`: js-yaml 4 `load`, no
 * positions) against its positioned path (`src/yaml/document.ts`): on every
 * test file and thousands of seeded mutations of them, a text the fast path
 * accepts has exactly the positioned parser's values, and loads into the
 * same policy with the same positions and the same errors.
 */
import assert from "assert";
import {
  parsePolicy,
  type Policy,
  PolicyFileError,
  sourcePositionOf,
  stringifyPolicy,
} from "../../mod.ts";
import { YamlDocument } from "../../src/yaml/document.ts";
import { FastPathRefused, FastTree } from "../../src/yaml/fast_tree.ts";
import { policyFromText } from "../../src/yaml/load.ts";
import { yamlPolicy } from "../bench/workload.ts";

const BAD_DIR = new URL("./yaml_bad/", import.meta.url);
const RULES_YAML = new URL("../../examples/rules.yaml", import.meta.url);

/** Scalars whose core-schema values differ from YAML 1.1's or from JSON's. */
const SCALARS = `tables:
  mangle:
    family: ipv4
    chains:
      rp-a:
        - comment: [yes, no, on, off, y, n, "0x10", '12', 2001-12-14, 1_000, 0b11, 0o17, +1, -0]
          protocol: tcp
          destPortRanges: [1000:2000, "3000-3005", {first: 7, last: 0x9}]
          markClear: 0x10
          action: accept
        - comment: 0o17
          markMatchesWithMask: {mark: 0x1000, mask: 0xf000}
          setMark: 4096
        - comment: ~
          protocolNum: 47
          jump: rp-b
        - comment: "tab\\there, quote \\" and \\u00e9"
          notProtocol: 'it''s'
          action: Return
        - {comment: flow rule, protocol: udp, destPorts: [53], action: accept}
        - comment: .inf
          action: drop
        - comment: 1e3
          action: drop
        - comment: True
          log: {prefix: "a: b"}
      rp-b: []
`;

function sources(): string[] {
  const out = [...Deno.readDirSync(BAD_DIR)]
    .filter((e) => e.name.endsWith(".yaml"))
    .sort((a, b) => a.name < b.name ? -1 : 1)
    .map((e) => Deno.readTextFileSync(new URL(e.name, BAD_DIR)));
  out.push(Deno.readTextFileSync(RULES_YAML), SCALARS, yamlPolicy(3, 12));
  return out;
}

/** A tree's nodes as comparable values: scalars with their types, mappings as pair lists. */
function canonical(
  tree: {
    root: unknown;
    kind(n: unknown): string;
    value(n: unknown): unknown;
    source(n: unknown): string;
    items(n: unknown): readonly unknown[];
    flatPairs(n: unknown): readonly unknown[];
    aliasTarget(n: unknown): unknown;
  },
): unknown {
  const walk = (n: unknown): unknown => {
    switch (tree.kind(n)) {
      case "alias":
        return walk(tree.aliasTarget(n));
      case "scalar": {
        const v = tree.value(n);
        return typeof v === "string" || v === null
          ? { v }
          : { v: String(Object.is(v, -0) ? "-0" : v), t: typeof v };
      }
      case "seq":
        return tree.items(n).map(walk);
      default: {
        const pairs = tree.flatPairs(n);
        const out: unknown[] = [];
        for (let i = 0; i < pairs.length; i += 2) out.push([walk(pairs[i]), walk(pairs[i + 1])]);
        return { map: out };
      }
    }
  };
  return walk(tree.root);
}

/** A policy and where each of its items is, or the error it raised. */
function loaded(text: string, fast: boolean): string {
  let policy: Policy;
  try {
    policy = policyFromText(text, { file: "f.yaml" }, undefined, fast);
  } catch (e) {
    if (!(e instanceof PolicyFileError)) throw e;
    return `error ${e.message} field=${e.field} allowed=${e.allowed?.join(",")}`;
  }
  const at = (item: object | undefined) =>
    item === undefined ? "-" : JSON.stringify(sourcePositionOf(item));
  const positions: string[] = [];
  for (const t of policy.tables) {
    positions.push(at(t));
    for (const c of t.chains) {
      positions.push(at(c));
      for (const r of c.rules) positions.push(at(r), at(r.action));
    }
    for (const list of [...Object.values(t.insertions), ...Object.values(t.appends)]) {
      for (const r of list) positions.push(at(r), at(r.action));
    }
  }
  return stringifyPolicy(policy) + positions.join("\n");
}

function mutations(count: number, seed: number, texts = sources(), edits = 4): string[] {
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pieces = [
    " ",
    "\n",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "'",
    '"',
    "&a ",
    "*a",
    "!!str ",
    "? ",
    "\t",
    "|",
    ">",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "~",
    ".inf",
    "\\",
    "!",
    "<<: ",
    "0x",
    "- - ",
    ": ",
    "  ",
    "\\n",
    "\r\n",
    "\u00a0",
    "\ufeff",
    "\\x41",
    '"\\u0041"',
    "'it''s'",
    "|-\n",
    ">+\n",
    "@",
    "`",
    "%",
    "-1",
    "1e3",
    "null",
    "True",
    "%TAG ! tag:x,2000:\n",
    "!foo ",
    "!<?> ",
    '"a\nb" ',
    "\u0085",
    "\u2028",
    "a: b\n",
    "  - ",
    "\n  ",
    "\n    ",
    "---",
    "-",
    "'",
    "0o7",
  ];
  const out: string[] = [];
  for (let t = 0; t < count; t++) {
    let text = texts[random(texts.length)]!;
    for (let k = 0; k <= random(edits); k++) {
      const at = random(text.length);
      text = random(2) === 0
        ? text.slice(0, at) + pieces[random(pieces.length)] + text.slice(at)
        : text.slice(0, at) + text.slice(at + 1 + random(3));
    }
    out.push(text);
  }
  return out;
}

Deno.test("yaml fast path: the test files and the workload take it", () => {
  for (const text of [Deno.readTextFileSync(RULES_YAML), SCALARS, yamlPolicy(3, 12)]) {
    assert.ok(FastTree.parse(text) !== undefined, text.slice(0, 200));
  }
});

Deno.test("yaml fast path: the same values as the positioned parser, or refused", () => {
  let compared = 0;
  for (const text of [...sources(), ...mutations(6000, 11)]) {
    const fast = FastTree.parse(text);
    if (fast === undefined) continue;
    let slow: YamlDocument;
    try {
      slow = YamlDocument.parse(text);
    } catch (e) {
      assert.fail(`the fast path accepts a text the positioned parser refuses (${e}):\n${text}`);
    }
    let a: unknown;
    try {
      a = canonical(fast);
    } catch (e) {
      if (e instanceof FastPathRefused) continue; // a key that is not a plain string
      throw e;
    }
    assert.deepEqual(a, canonical(slow), `values differ in:\n${text}`);
    compared++;
  }
  assert.ok(compared > 2000, `only ${compared} texts compared`);
});

Deno.test("yaml fast path: the same policies, positions and errors as the positioned path", () => {
  let policies = 0, errors = 0;
  const valid = [Deno.readTextFileSync(RULES_YAML), SCALARS, yamlPolicy(3, 12)];
  for (const text of [...sources(), ...mutations(3000, 23, valid, 1)]) {
    const fast = loaded(text, true);
    assert.equal(fast, loaded(text, false), `in:\n${text}`);
    if (fast.startsWith("error ")) errors++;
    else policies++;
  }
  assert.ok(policies > 100 && errors > 1000, `${policies} policies, ${errors} errors`);
});

Deno.test("yaml fast path: texts it leaves to the positioned parser", () => {
  const refused = [
    "a: &x [1]\nb: *x\n", // an alias
    "a:\t1\n", // a tab
    "a: !<tag:yaml.org,2002:str> 1\n", // a verbatim tag
    "[a]: 1\n", // a collection as a key
    "? a\n: 1\n", // an explicit key
    "a: !!str 1\n", // an explicit tag
    "a: [1,\n  2]\n", // a flow collection over two lines
    "a: 'x\n  y'\n", // a quoted scalar over two lines
    "a: |\n  x\n", // a block scalar
    "1: a\n", // a key that is a number
    "null: a\n", // a key that is null
    '"true": a\n', // a quoted key that reads as a boolean when plain
    "a: 1\na: 2\n", // a duplicate key
    "a: 1\n---\nb: 2\n", // a second document
    "", // no document
    "a: " + "[".repeat(40) + "]".repeat(40) + "\n", // deeper than 32
  ];
  for (const text of refused) {
    let tree: FastTree | undefined;
    try {
      tree = FastTree.parse(text);
      if (tree !== undefined) canonical(tree);
    } catch (e) {
      assert.ok(e instanceof FastPathRefused, String(e));
      continue;
    }
    assert.equal(tree, undefined, JSON.stringify(text));
  }
});

Deno.test("yaml fast path: a loaded rule's position is found when asked", () => {
  const text = yamlPolicy(4, 30);
  const policy = parsePolicy(text, { file: "w.yaml" });
  const chain = policy.tables[0]!.chains[2]!;
  const rule = chain.rules[17]!;
  const at = sourcePositionOf(rule)!;
  assert.equal(at.field, `tables.filter.chains.${chain.name}[17]`);
  assert.equal(text.split("\n")[at.line - 1]!.slice(at.column - 3, at.column - 1), "- ");
  assert.deepEqual(sourcePositionOf(chain), {
    file: "w.yaml",
    line: text.split("\n").indexOf(`      ${chain.name}:`) + 1,
    column: 7,
    field: `tables.filter.chains.${chain.name}`,
  });
});
