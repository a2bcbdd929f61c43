/**
 * The documentation's links and its map of the code, checked so that moving
 * a section or a file cannot leave a reader at a dead end:
 *
 * - every link from `README.md` or `docs/*.md` to a file of the repository
 *   names a file that exists, and its `#anchor`, if any, a heading of that
 *   file (as GitHub makes anchors: `github-slugger`); markdown is parsed by
 *   `marked`, so text in code spans and code blocks is not a link;
 * - every `README.md#anchor` named in the code (a saved YAML file's header,
 *   module docs) is a heading of the README;
 * - the tree of `docs/architecture.md` names every module of `dsl/` and
 *   `src/`, in its folder, and no file that does not exist;
 * - no JSDoc example in `dsl/`, `src/` or an entry point shows a value only
 *   through `console.log(…); // …` (`deno test --doc` runs it but checks
 *   nothing): examples assert what they show.
 */
import assert from "assert";
import GithubSlugger from "github-slugger";
import { marked, type Token, type Tokens } from "marked";

const ROOT = new URL("../", import.meta.url);

/** The markdown files a reader starts from: the README and every page of docs/. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md"];
  for await (const e of Deno.readDir(new URL("docs/", ROOT))) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  return files.sort();
}

/** The text a heading shows (what GitHub makes its anchor from). */
function plainText(tokens: readonly Token[]): string {
  return tokens.map((t) => {
    const children = (t as { tokens?: Token[] }).tokens;
    if (children !== undefined && children.length > 0) return plainText(children);
    return "text" in t && typeof t.text === "string" ? t.text : "";
  }).join("");
}

interface Parsed {
  anchors: Set<string>;
  links: { href: string; text: string }[];
}

const parsed = new Map<string, Parsed>();

/** The anchors and links of one markdown file of the repository. */
async function parse(path: string): Promise<Parsed> {
  const known = parsed.get(path);
  if (known !== undefined) return known;
  const text = await Deno.readTextFile(new URL(path, ROOT));
  const slugger = new GithubSlugger();
  const result: Parsed = { anchors: new Set(), links: [] };
  marked.walkTokens(marked.lexer(text), (t) => {
    if (t.type === "heading") {
      result.anchors.add(slugger.slug(plainText((t as Tokens.Heading).tokens)));
    } else if (t.type === "link") {
      const link = t as Tokens.Link;
      result.links.push({ href: link.href, text: link.raw });
    }
  });
  parsed.set(path, result);
  return result;
}

/** Why a link from `from` (a path relative to the root) does not resolve, or undefined. */
async function brokenLink(from: string, href: string): Promise<string | undefined> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return undefined; // https:, mailto:, …
  const [file = "", anchor] = href.split("#", 2);
  const target = file === "" ? new URL(from, ROOT) : new URL(file, new URL(from, ROOT));
  if (!target.href.startsWith(ROOT.href)) return `${href} leaves the repository`;
  const path = target.href.slice(ROOT.href.length);
  try {
    await Deno.stat(target);
  } catch {
    return `${href}: no file ${path}`;
  }
  if (anchor === undefined) return undefined;
  if (!path.endsWith(".md")) return `${href}: an anchor into a file that is not markdown`;
  const { anchors } = await parse(path);
  return anchors.has(anchor) ? undefined : `${href}: ${path} has no heading #${anchor}`;
}

Deno.test("docs: every link of README.md and docs/*.md resolves, anchors included", async () => {
  const broken: string[] = [];
  let count = 0;
  for (const file of await markdownFiles()) {
    for (const { href, text } of (await parse(file)).links) {
      count++;
      const problem = await brokenLink(file, href);
      if (problem !== undefined) broken.push(`${file}: ${text}: ${problem}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(count > 50, `only ${count} links found: is the parser reading the files?`);
});

Deno.test("docs: a broken link or anchor is reported", async () => {
  assert.equal(await brokenLink("docs/cli.md", "engine.md#what-a-table-guarantees"), undefined);
  assert.equal(await brokenLink("README.md", "#safety-promises"), undefined);
  assert.match((await brokenLink("README.md", "#no-such-section"))!, /no heading/);
  assert.match((await brokenLink("docs/cli.md", "no_such_page.md"))!, /no file docs\/no_such_page/);
  assert.match((await brokenLink("docs/cli.md", "../../etc/passwd"))!, /leaves the repository/);
  assert.equal(await brokenLink("README.md", "https://example.com/#x"), undefined);
});

/** Every `.ts` file under `dir` (relative to the root), recursively. */
async function modules(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    if (e.isDirectory) out.push(...await modules(`${dir}${e.name}/`));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(`${dir}${e.name}`);
  }
  return out;
}

Deno.test("docs: README.md#anchors named in the code are headings of the README", async () => {
  const { anchors } = await parse("README.md");
  const missing: string[] = [];
  const files = [...await modules("dsl/"), ...await modules("src/"), "examples/rules.yaml"];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const m of text.matchAll(/README\.md#([\w-]+)/g)) {
      if (!anchors.has(m[1]!)) missing.push(`${file}: README.md#${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});

/** The files the tree of docs/architecture.md names, as paths from the root. */
async function treeFiles(): Promise<string[]> {
  const text = await Deno.readTextFile(new URL("docs/architecture.md", ROOT));
  const tree = /## The tree\n[\s\S]*?```text\n([\s\S]*?)```/.exec(text)?.[1];
  assert.ok(tree !== undefined, "docs/architecture.md has no text block under ## The tree");
  const named: string[] = [];
  let folder = "";
  for (const line of tree.split("\n")) {
    let rest = line;
    if (/^\S/.test(line)) {
      const first = line.split(/\s+/, 1)[0]!;
      folder = first.endsWith("/") ? first : "";
      if (first.endsWith("/")) rest = line.slice(first.length);
    }
    // Indented lines (and the root's own line) name files of the current folder
    // before their description; descriptions name no `.ts` file.
    const files = /^\s*((?:[\w.]+\.ts\s+)*[\w.]+\.ts)(?=\s|$)/.exec(rest)?.[1];
    if (files !== undefined) named.push(...files.split(/\s+/).map((f) => folder + f));
  }
  return named;
}

Deno.test("docs: the tree of docs/architecture.md names every module of dsl/ and src/", async () => {
  const named = await treeFiles();
  const onDisk = [...await modules("dsl/"), ...await modules("src/")];
  const stale: string[] = [];
  for (const path of named) {
    try {
      await Deno.stat(new URL(path, ROOT));
    } catch {
      stale.push(path);
    }
  }
  assert.deepEqual(stale, [], "docs/architecture.md names files that do not exist");
  const missing = onDisk.filter((path) => !named.includes(path)).sort();
  assert.deepEqual(missing, [], "docs/architecture.md's tree does not name these modules");
  for (const entry of ["mod.ts", "yaml.ts", "testing.ts", "repl.ts", "cli.ts"]) {
    assert.ok(named.includes(entry), `the tree does not name the entry point ${entry}`);
  }
});

/** Folders whose JSDoc examples may still show values through `console.log` (none). */
const CONSOLE_EXAMPLES_ALLOWED_IN: readonly string[] = [];

/**
 * The lines (1-based) of `text`'s JSDoc code examples that show a value only
 * through `console.log(…)` and a comment: `console.log(x); // y` on one line,
 * or `console.log(x);` followed by a line that is only `// y`.
 */
function consoleShownLines(text: string): number[] {
  const lines = text.split("\n");
  const found: number[] = [];
  let inDoc = false;
  let inCode = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!inDoc) {
      inDoc = /^\s*\/\*\*/.test(line) && !line.includes("*/");
      continue;
    }
    if (line.includes("*/")) {
      inDoc = inCode = false;
      continue;
    }
    const code = line.replace(/^\s*\*\s?/, "");
    if (/^\s*```/.test(code)) {
      inCode = !inCode;
      continue;
    }
    if (!inCode || !code.includes("console.log(")) continue;
    const next = (lines[i + 1] ?? "").replace(/^\s*\*\s?/, "");
    if (/console\.log\(.*\);?\s*\/\//.test(code) || /^\s*\/\//.test(next)) found.push(i + 1);
  }
  return found;
}

Deno.test("docs: no JSDoc example shows a value only through console.log(…); // …", async () => {
  const files = [
    ...await modules("dsl/"),
    ...await modules("src/"),
    ...["mod.ts", "yaml.ts", "testing.ts", "import.ts", "trace.ts", "repl.ts", "cli.ts"],
  ];
  const shown: string[] = [];
  for (const file of files) {
    if (CONSOLE_EXAMPLES_ALLOWED_IN.some((folder) => file.startsWith(folder))) continue;
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const line of consoleShownLines(text)) shown.push(`${file}:${line}`);
  }
  assert.deepEqual(shown, [], "these examples print what they should assert (assert.equal, …)");
});

Deno.test("docs: an example that shows a value through console.log is found", () => {
  const text = [
    "/**",
    " * @example",
    " * ```ts",
    " * console.log(1 + 1); // 2",
    " * console.log(String(2));",
    " * // 2",
    ' * console.log("printed, not shown");',
    " * assert.equal(1 + 1, 2);",
    " * ```",
    " * console.log(x); // outside the code block",
    " */",
    "console.log(y); // not a JSDoc example",
  ].join("\n");
  assert.deepEqual(consoleShownLines(text), [4, 5]);
});
