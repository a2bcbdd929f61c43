/**
 * The shape of the code, checked so that it cannot rot: every import of
 * every module in `dsl/`, `src/` and the entry points, as Deno itself parses
 * them (`deno info --json`: static, dynamic and type-only imports; JSDoc
 * examples are not imports), must form no cycle and cross layers only
 * downwards:
 *
 * - `dsl/` is pure: it imports only `dsl/`.
 * - `src/engine/` imports `dsl/`, `src/engine/` and `src/host/`, never the
 *   tools (`src/policy/`, `src/yaml/`, `src/cli/`, `src/repl/`) nor
 *   `src/trace/` or `src/fake/`.
 * - `src/host/` imports `dsl/` and `src/host/`, and of `src/engine/` only
 *   types (the seam it implements, `src/engine/dataplane.ts`).
 * - `src/fake/` imports `dsl/`, `src/engine/`, `src/fake/` and the types of
 *   `src/host/` (`CommandRunner`).
 * - `src/trace/` imports `dsl/`, `src/engine/`, `src/host/` (reading the
 *   live kernel), `src/fake/`, `src/policy/` and `src/yaml/`; `src/import/` imports `dsl/`, `src/engine/`,
 *   `src/host/`, `src/fake/` (its parser) and `src/policy/`; `src/cli/` and
 *   `src/repl/` never import each other.
 *
 * The main entry point (`mod.ts`) reaches no YAML, CLI, REPL, fake, trace or
 * import module
 * and no bare (import-map) specifier, and a script outside the project
 * imports it by file URL with no configuration at all.
 */
import assert from "assert";

const ROOT = new URL("../", import.meta.url);
const ENTRY_POINTS = [
  "mod.ts",
  "yaml.ts",
  "testing.ts",
  "import.ts",
  "trace.ts",
  "repl.ts",
  "cli.ts",
];

/** The layers each layer may import (values and types). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  dsl: ["dsl"],
  engine: ["dsl", "engine", "host"],
  host: ["dsl", "host"],
  fake: ["dsl", "engine", "fake"],
  policy: ["dsl", "engine", "host", "policy"],
  yaml: ["dsl", "engine", "host", "policy", "yaml"],
  trace: ["dsl", "engine", "host", "fake", "policy", "yaml", "trace"],
  // The importer reads rules with the fake dataplane's model of iptables' parser.
  import: ["dsl", "engine", "host", "fake", "policy", "import"],
  cli: ["dsl", "engine", "host", "policy", "yaml", "trace", "import", "cli"],
  // The REPL's scope is everything the entry points export.
  repl: [
    "dsl",
    "engine",
    "host",
    "policy",
    "yaml",
    "trace",
    "import",
    "repl",
    "entry:mod.ts",
    "entry:yaml.ts",
  ],
};

/** The layers each layer may import types from (besides {@linkcode MAY_IMPORT}). */
const MAY_IMPORT_TYPES: Record<string, readonly string[]> = {
  host: ["engine"],
  fake: ["host"],
};

/** The layers `mod.ts` must not reach. */
const NOT_FROM_MOD = ["yaml", "cli", "repl", "fake", "trace", "import"];

interface Edge {
  from: string;
  to: string;
  /** The specifier as written. */
  specifier: string;
  typeOnly: boolean;
  /** A dynamic `import()`: loaded when that code runs, not with the module. */
  dynamic: boolean;
}

interface Graph {
  /** Project modules (paths relative to the root). */
  modules: Set<string>;
  /** Imports between project modules. */
  edges: Edge[];
  /** Imports of anything outside the project, by importing module. */
  external: Edge[];
}

interface InfoDependency {
  specifier: string;
  isDynamic?: boolean;
  code?: { specifier?: string };
  type?: { specifier?: string };
}

interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

async function projectModules(): Promise<string[]> {
  const out = [...ENTRY_POINTS];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
    }
  }
  await walk("dsl/");
  await walk("src/");
  return out.sort();
}

let cached: Promise<Graph> | undefined;

/** Every import of every project module, as `deno info --json` resolves them. */
function importGraph(): Promise<Graph> {
  cached ??= (async () => {
    const files = await projectModules();
    const dir = await Deno.makeTempDir({ prefix: "rp-architecture-" });
    try {
      const root = `${dir}/all.ts`;
      await Deno.writeTextFile(
        root,
        files.map((f) => `import ${JSON.stringify(new URL(f, ROOT).href)};\n`).join(""),
      );
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, root],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      const info = JSON.parse(new TextDecoder().decode(r.stdout)) as { modules: InfoModule[] };
      const rel = (url: string): string | undefined =>
        url.startsWith(ROOT.href) ? url.slice(ROOT.href.length) : undefined;
      const graph: Graph = { modules: new Set(files), edges: [], external: [] };
      for (const m of info.modules) {
        const from = rel(m.specifier);
        if (from === undefined) continue;
        for (const dep of m.dependencies ?? []) {
          const code = dep.code?.specifier;
          const type = dep.type?.specifier;
          const target = code ?? type ?? dep.specifier;
          const edge = {
            from,
            to: rel(target) ?? target,
            specifier: dep.specifier,
            dynamic: dep.isDynamic === true,
          };
          const typeOnly = code === undefined;
          if (rel(target) === undefined) graph.external.push({ ...edge, typeOnly });
          else graph.edges.push({ ...edge, typeOnly });
        }
      }
      return graph;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return cached;
}

/** `dsl`, `engine`, `host`, …, or `entry:mod.ts` for an entry point. */
function layerOf(path: string): string {
  const parts = path.split("/");
  if (parts.length === 1) return `entry:${path}`;
  if (parts[0] === "dsl") return "dsl";
  if (parts[0] === "src" && parts.length > 2) return parts[1]!;
  return `unplaced:${path}`;
}

/** The cycles of the graph: its strongly connected components of more than one module (Tarjan). */
function cycles(modules: Iterable<string>, edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  function visit(v: string): void {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  }
  for (const v of modules) if (!index.has(v)) visit(v);
  return out;
}

/** Everything `start` reaches, itself included. */
function reachable(start: string, edges: readonly Edge[]): Set<string> {
  const seen = new Set([start]);
  const todo = [start];
  while (todo.length > 0) {
    const v = todo.pop()!;
    for (const e of edges) {
      if (e.from === v && !seen.has(e.to)) {
        seen.add(e.to);
        todo.push(e.to);
      }
    }
  }
  return seen;
}

Deno.test("architecture: every module of dsl/ and src/ is in a layer folder", async () => {
  const { modules } = await importGraph();
  const unplaced = [...modules].filter((m) => {
    const layer = layerOf(m);
    return !layer.startsWith("entry:") && !(layer in MAY_IMPORT);
  });
  assert.deepEqual(unplaced, []);
});

Deno.test("architecture: no import cycles (type-only imports included)", async () => {
  const { modules, edges } = await importGraph();
  assert.deepEqual(cycles(modules, edges), []);
});

Deno.test("architecture: imports cross layers only where the rules allow", async () => {
  const { edges } = await importGraph();
  const forbidden: string[] = [];
  for (const e of edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === to || from.startsWith("entry:")) continue;
    if (MAY_IMPORT[from]?.includes(to)) continue;
    if (e.typeOnly && MAY_IMPORT_TYPES[from]?.includes(to)) continue;
    forbidden.push(`${e.from} -> ${e.to}${e.typeOnly ? " (type)" : ""}`);
  }
  assert.deepEqual(forbidden, []);
});

Deno.test("architecture: only the YAML, CLI and REPL modules import npm packages or the import map", async () => {
  const { external } = await importGraph();
  const bare = external.filter((e) =>
    !e.specifier.startsWith("node:") && !layerOf(e.from).startsWith("entry:") &&
    !["yaml", "cli", "repl"].includes(layerOf(e.from))
  );
  assert.deepEqual(bare.map((e) => `${e.from}: ${e.specifier}`), []);
});

Deno.test("architecture: mod.ts reaches no YAML, CLI, REPL, fake or trace module and no bare specifier", async () => {
  const { edges, external } = await importGraph();
  const graph = reachable("mod.ts", edges);
  assert.deepEqual([...graph].filter((m) => NOT_FROM_MOD.includes(layerOf(m))), []);
  assert.deepEqual(
    external.filter((e) => graph.has(e.from) && !e.specifier.startsWith("node:"))
      .map((e) => `${e.from}: ${e.specifier}`),
    [],
  );
});

Deno.test("architecture: the rampart process (src/cli/main.ts) loads no importer, tracer, fake or YAML writer before a command needs it", async () => {
  const { edges, external } = await importGraph();
  const loaded = reachable("src/cli/main.ts", edges.filter((e) => !e.dynamic));
  // The help texts of trace and graph name the packet flags.
  const heavy = [...loaded].filter((m) =>
    ["import", "trace", "fake"].includes(layerOf(m)) && m !== "src/trace/packet_flags.ts"
  );
  assert.deepEqual(heavy, []);
  const packages = new Set(
    external.filter((e) => loaded.has(e.from) && !e.dynamic).map((e) => e.specifier),
  );
  // npm:yaml writes policies (import, adopt, the REPL's save) and rewords syntax errors.
  assert.equal(packages.has("yaml"), false, [...packages].join(", "));
  assert.ok(packages.has("js-yaml-4"), "the loader's fast path is loaded");
});

Deno.test("architecture: a script outside the project imports mod.ts by file URL with no configuration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-outside-" });
  try {
    await Deno.writeTextFile(
      `${dir}/script.ts`,
      `import { Accept, Match, renderAppend } from ${
        JSON.stringify(new URL("mod.ts", ROOT).href)
      };\n` +
        `console.log(renderAppend({ match: Match().protocol("tcp").destPorts(22), action: Accept() }, "rp-in"));\n`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "script.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    assert.equal(
      dec.decode(r.stdout),
      "-A rp-in -p tcp -m multiport --destination-ports 22 --jump ACCEPT\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
