/**
 * The import coverage of the corpus (`tests/fixtures/import/`), per source,
 * as the README's table. `import_test.ts` checks that the README holds
 * exactly this table; `deno run -A tests/import/coverage.ts` writes it.
 */
import { importSaves, type ImportSource } from "../../import.ts";

/** The README markers around the generated table. */
export const COVERAGE_BEGIN =
  "<!-- BEGIN IMPORT COVERAGE (deno run -A tests/import/coverage.ts) -->";
/** The end marker. */
export const COVERAGE_END = "<!-- END IMPORT COVERAGE -->";

const ROOT = new URL("../fixtures/import/", import.meta.url);

/** One source's counts over its four files. */
export interface SourceCoverage {
  /** The source (directory name). */
  source: string;
  /** `-A` lines in its files (both backends, both families). */
  rules: number;
  /** Rules imported exactly. */
  imported: number;
  /** What the others miss, with the number of rules. */
  missing: Map<string, number>;
}

/** The fixture saves of one source and backend. */
export function fixtureSaves(source: string, backend: "nft" | "legacy"): ImportSource[] {
  const out: ImportSource[] = [];
  for (const ipVersion of [4, 6] as const) {
    const name = `${source}/${backend}_ipv${ipVersion}.save`;
    try {
      out.push({ ipVersion, backend, text: Deno.readTextFileSync(new URL(name, ROOT)), name });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

/** The corpus's sources, sorted. */
export function corpusSources(): string[] {
  return [...Deno.readDirSync(ROOT)].filter((e) => e.isDirectory).map((e) => e.name).sort();
}

/** Imports every fixture and counts. */
export function measureCoverage(): SourceCoverage[] {
  return corpusSources().map((source) => {
    const c: SourceCoverage = { source, rules: 0, imported: 0, missing: new Map() };
    for (const backend of ["nft", "legacy"] as const) {
      const result = importSaves(fixtureSaves(source, backend));
      for (const n of result.counts) {
        c.rules += n.rules;
        c.imported += n.imported;
      }
      for (const p of result.problems) {
        if (!p.text.startsWith("-A ")) continue;
        const what = p.missing ?? p.reason;
        c.missing.set(what, (c.missing.get(what) ?? 0) + 1);
      }
    }
    return c;
  });
}

/** Rounded down, so a share is never shown above what it is. */
function percent(a: number, b: number, digits = 1): string {
  const scale = 10 ** digits;
  return `${(Math.floor((100 * scale * a) / b) / scale).toFixed(digits)} %`;
}

/** The README table (between the markers). */
export function renderCoverage(coverage: readonly SourceCoverage[]): string {
  const lines = [
    COVERAGE_BEGIN,
    "",
    "| source | rules | imported | share | not imported (rules) |",
    "| --- | ---: | ---: | ---: | --- |",
  ];
  let rules = 0, imported = 0;
  const all = new Map<string, number>();
  for (const c of coverage) {
    rules += c.rules;
    imported += c.imported;
    for (const [k, v] of c.missing) all.set(k, (all.get(k) ?? 0) + v);
    const missing = [...c.missing].map(([k, v]) => `\`${k}\` (${v})`).join(", ");
    lines.push(
      `| ${c.source} | ${c.rules} | ${c.imported} | ${percent(c.imported, c.rules)} | ${missing} |`,
    );
  }
  lines.push(`| **total** | ${rules} | ${imported} | ${percent(imported, rules, 2)} | |`);
  lines.push("", COVERAGE_END);
  return lines.join("\n");
}

/** A table's text without the padding `deno fmt` adds (so the check survives formatting). */
export function unpadded(text: string): string {
  return text.split("\n").map((l) => l.replace(/ {2,}/g, " ").replace(/-{3,}/g, "---")).join("\n");
}

/** The README's coverage section, as written. */
export function coverageSection(readme: string): string {
  const a = readme.indexOf(COVERAGE_BEGIN);
  const b = readme.indexOf(COVERAGE_END);
  if (a < 0 || b < a) throw new Error("README.md has no import coverage markers");
  return readme.slice(a, b + COVERAGE_END.length);
}

/** The README with its coverage table replaced. */
export function spliceCoverage(readme: string, table: string): string {
  const a = readme.indexOf(COVERAGE_BEGIN);
  const b = readme.indexOf(COVERAGE_END);
  if (a < 0 || b < a) throw new Error("README.md has no import coverage markers");
  return readme.slice(0, a) + table + readme.slice(b + COVERAGE_END.length);
}

if (import.meta.main) {
  const path = new URL("../../README.md", import.meta.url);
  const readme = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, spliceCoverage(readme, renderCoverage(measureCoverage())));
  await new Deno.Command(Deno.execPath(), { args: ["fmt", path.pathname] }).output();
}
