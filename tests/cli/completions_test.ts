/**
 * `rampart completions bash|zsh|fish`: each script sourced in its shell and
 * asked for completions (bash through `complete -p` and the completion
 * function, fish through `complete -C`, zsh typed into in tmux), namespaces
 * from `ip netns list` included.
 */
import assert from "assert";
import {
  COMMAND_NAMES,
  completionCommands,
  OWN_PARSER_COMMANDS,
  parseCliArgs,
  runCli,
} from "../../cli.ts";
import { FakeDataplane } from "../../testing.ts";
import { kernelTest, rampart } from "../kernel/netns.ts";
import { recordingEnv } from "./fake_env.ts";
import { requireTool, TmuxSession } from "./tmux.ts";

/** A valid value for each flag that takes one. */
const VALUES: Record<string, string> = {
  "--netns": "lab",
  "--table": "nat",
  "--backend": "nft",
  "--hash-prefix": "rampart:",
  "--chain-prefix": "fw-",
  "--insert-mode": "append",
  "--max-file-size": "1M",
  "--rule-ids": "chained",
  "--color": "never",
  "--confirm-timeout": "30s",
  "--state-dir": "/tmp/rp",
  "--from": "saved.txt",
  "--output": "out.yaml",
  "--format": "yaml",
};

/**
 * Runs `argv` through the parser of a command that has its own (`import`,
 * `trace`, `graph`), with `--help` so that nothing is read: exit 0 means
 * every flag was accepted.
 */
async function ownParserAccepts(argv: readonly string[]): Promise<boolean> {
  const env = recordingEnv(new FakeDataplane().runner);
  return await runCli([...argv, "--help"], env) === 0;
}

Deno.test("completionCommands: every command, each flag valid for it, from the help texts", async () => {
  const commands = completionCommands();
  assert.deepEqual(commands.map((c) => c.name), [...COMMAND_NAMES]);
  for (const c of commands) {
    if (c.name !== "help") assert.notEqual(c.description, "", c.name);
    for (const f of c.flags) {
      const operands = c.operands === "files"
        ? ["r.yaml"]
        : c.operands === "shells"
        ? ["bash"]
        : [];
      for (const flag of [f.long, ...(f.short === undefined ? [] : [f.short])]) {
        const argv = [c.name, ...operands, flag];
        const own = (OWN_PARSER_COMMANDS as readonly string[]).includes(c.name);
        if (f.value !== undefined) {
          // The packet flags of trace and graph take any text up to --help.
          argv.push(VALUES[f.long] ?? (own ? "1" : assert.fail(`no value for ${flag}`)));
        }
        if (c.name === "help") continue;
        if (own) assert.ok(await ownParserAccepts(argv), `${argv.join(" ")}`);
        else assert.doesNotThrow(() => parseCliArgs(argv), `${argv.join(" ")}`);
      }
    }
  }
  const plan = commands.find((c) => c.name === "plan")!;
  assert.equal(plan.operands, "files");
  assert.deepEqual(plan.flags.find((f) => f.long === "--table"), {
    long: "--table",
    short: "-t",
    value: "T",
  });
  assert.ok(plan.flags.some((f) => f.long === "--exit-code"));
  const apply = commands.find((c) => c.name === "apply")!;
  assert.ok(!apply.flags.some((f) => f.long === "--exit-code"));
  assert.ok(apply.flags.some((f) => f.long === "--confirm-timeout" && f.value === "D"));
  // A usage line without the short form gets it from the option lines.
  const confirm = commands.find((c) => c.name === "confirm")!;
  assert.deepEqual(confirm.flags.map((f) => f.short ?? f.long), [
    "-n",
    "--state-dir",
    "--json",
    "-h",
  ]);
  assert.equal(commands.find((c) => c.name === "completions")!.operands, "shells");
  // Commands with a command line of their own are listed too, from their help.
  const trace = commands.find((c) => c.name === "trace")!;
  assert.equal(trace.operands, "files");
  assert.match(
    trace.description,
    /^walk a packet through the rules .* and show its path and verdict/,
  );
  for (const flag of ["--src", "--dst", "--proto", "--dport", "--state", "--assume", "--json"]) {
    assert.ok(trace.flags.some((f) => f.long === flag), flag);
  }
  assert.ok(commands.find((c) => c.name === "graph")!.flags.some((f) => f.long === "--format"));
  assert.ok(!await ownParserAccepts(["trace", "--bogus"]));
  const imported = commands.find((c) => c.name === "import")!;
  assert.equal(imported.operands, "none");
  assert.deepEqual(imported.flags.find((f) => f.long === "--output"), {
    long: "--output",
    short: "-o",
    value: "FILE",
  });
});

Deno.test("rampart completions: usage errors", async () => {
  for (
    const [argv, message] of [
      [["completions"], /Missing shell/],
      [["completions", "tcsh"], /Unknown shell "tcsh": expected bash, zsh or fish/],
      [["completions", "bash", "zsh"], /Unexpected argument "zsh"/],
    ] as const
  ) {
    const r = await rampart([...argv]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, message);
  }
});

/** Writes the script of a shell, as `rampart completions SHELL` prints it, to a file. */
async function scriptFile(dir: string, shell: string): Promise<string> {
  const r = await rampart(["completions", shell]);
  assert.equal(r.code, 0, r.err);
  const path = `${dir}/rampart.${shell}`;
  await Deno.writeTextFile(path, r.out);
  return path;
}

/** A directory with policy files and others, to complete file names in. */
async function filesDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rp-complete-" });
  for (const f of ["a.yaml", "b.yml", "c.txt", "rules one.yaml"]) {
    await Deno.writeTextFile(`${dir}/${f}`, "");
  }
  await Deno.mkdir(`${dir}/sub`);
  return dir;
}

/** Runs the bash completion function for `words` (the last is the word being completed). */
async function bashComplete(script: string, cwd: string, words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
  const program = `source '${script}'
COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}
COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}
_rampart rampart "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await new Deno.Command("bash", {
    args: ["--norc", "--noprofile", "-c", program],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(r.code, 0, dec.decode(r.stderr));
  return dec.decode(r.stdout).split("\n").filter((l) => l !== "").sort();
}

Deno.test("bash: complete -p, commands, flags, values, files", async () => {
  const dir = await filesDir();
  try {
    const script = await scriptFile(dir, "bash");
    const p = await new Deno.Command("bash", {
      args: ["--norc", "--noprofile", "-c", `source '${script}'; complete -p rampart`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(p.stdout).trim(), "complete -F _rampart rampart");
    const c = (...words: string[]) => bashComplete(script, dir, ["rampart", ...words]);
    assert.deepEqual(await c(""), [...COMMAND_NAMES, "--help"].sort());
    assert.deepEqual(await c("pl"), ["plan"]);
    assert.deepEqual(await c("tr"), ["trace"]);
    assert.deepEqual(await c("gr"), ["graph"]);
    assert.deepEqual(await c("im"), ["import"]);
    assert.deepEqual(await c("trace", "--sr"), ["--src", "--src-mac"]);
    assert.deepEqual(await c("trace", "--dp"), ["--dport"]);
    assert.deepEqual(await c("trace", "--backend", ""), ["auto", "legacy", "nft"]);
    assert.deepEqual(await c("trace", ""), ["a.yaml", "b.yml", "rules one.yaml", "sub/"]);
    assert.deepEqual(await c("graph", "--fo"), ["--format"]);
    assert.deepEqual(await c("import", "--fr"), ["--from"]);
    assert.deepEqual(await c("import", "--from", "c"), ["c.txt"]);
    assert.deepEqual(await c("trace", "--ipsets", "ru"), ["rules one.yaml"]);
    assert.deepEqual(await c("help", "tr"), ["trace"]);
    assert.deepEqual(await c("re"), ["recover", "remove"]);
    assert.deepEqual(await c("plan", "--ta"), ["--table"]);
    assert.deepEqual(await c("plan", "--ex"), ["--exit-code"]);
    assert.deepEqual(await c("apply", "--ex"), []);
    assert.deepEqual(await c("plan", "-t", ""), ["filter", "mangle", "nat", "raw"]);
    assert.deepEqual(await c("plan", "--table", "n"), ["nat"]);
    // --table=… : bash splits the word at "=".
    assert.deepEqual(await c("diff", "--table", "="), ["filter", "mangle", "nat", "raw"]);
    assert.deepEqual(await c("diff", "--table", "=", "ma"), ["mangle"]);
    assert.deepEqual(await c("apply", "--backend", ""), ["auto", "legacy", "nft"]);
    assert.deepEqual(await c("apply", "--confirm-timeout", ""), ["1m", "2m", "30s", "5m"]);
    assert.deepEqual(await c("apply", "--state-dir", "s"), ["sub"]);
    assert.deepEqual(await c("plan", "--hash-prefix", ""), []);
    // Policy files and directories, not other files.
    assert.deepEqual(await c("plan", ""), ["a.yaml", "b.yml", "rules one.yaml", "sub/"]);
    assert.deepEqual(await c("apply", "a.yaml", "r"), ["rules one.yaml"]);
    assert.deepEqual(await c("remove", ""), []);
    assert.deepEqual(await c("help", "co"), ["completions", "confirm"]);
    assert.deepEqual(await c("completions", ""), ["bash", "fish", "zsh"]);
    assert.deepEqual(await c("confirm", "-"), [
      "--help",
      "--json",
      "--netns",
      "--state-dir",
      "-h",
      "-n",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `complete -C` of fish: the candidates (without descriptions). */
async function fishComplete(script: string, cwd: string, line: string): Promise<string[]> {
  const r = await new Deno.Command("fish", {
    args: ["--no-config", "-c", `source '${script}'; complete -C '${line}'`],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(r.code, 0, dec.decode(r.stderr));
  return dec.decode(r.stdout).split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]!)
    .sort();
}

Deno.test("fish: commands with descriptions, flags, values, files", async () => {
  if (!await requireTool("fish")) return;
  const dir = await filesDir();
  try {
    const script = await scriptFile(dir, "fish");
    const c = (line: string) => fishComplete(script, dir, line);
    assert.deepEqual(await c("rampart "), [...COMMAND_NAMES].sort());
    const described = await new Deno.Command("fish", {
      args: ["--no-config", "-c", `source '${script}'; complete -C 'rampart pl'`],
      stdout: "piped",
    }).output();
    assert.match(new TextDecoder().decode(described.stdout), /^plan\tprint the exact/);
    assert.deepEqual(await c("rampart plan --ta"), ["--table"]);
    assert.deepEqual(await c("rampart plan --exit"), ["--exit-code"]);
    assert.deepEqual(await c("rampart apply --exit"), []);
    assert.deepEqual(await c("rampart plan -t "), ["filter", "mangle", "nat", "raw"]);
    assert.deepEqual(await c("rampart plan --table=ma"), ["--table=mangle"]);
    assert.deepEqual(await c("rampart apply --color "), ["always", "auto", "never"]);
    assert.deepEqual(await c("rampart plan "), ["a.yaml", "b.yml", "rules one.yaml", "sub/"]);
    assert.deepEqual(await c("rampart completions "), ["bash", "fish", "zsh"]);
    assert.deepEqual(await c("rampart remove "), []);
    assert.deepEqual(await c("rampart tr"), ["trace"]);
    assert.deepEqual(await c("rampart trace --dp"), ["--dport"]);
    assert.deepEqual(await c("rampart import --from c"), ["c.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** An interactive zsh in tmux with the script loaded (compinit, no rc files). */
async function zshSession(script: string, cwd: string): Promise<TmuxSession> {
  const zsh = await TmuxSession.start(`cd '${cwd}' && HOME='${cwd}' PS1='zsh> ' zsh -f`, {
    columns: 160,
    rows: 40,
  });
  await zsh.waitFor("zsh> ");
  await zsh.line(`autoload -Uz compinit && compinit -u -D && source '${script}' && echo loaded`);
  await zsh.waitFor(/^loaded$/m);
  return zsh;
}

/**
 * Types `text`, Tab and "@" into zsh (the "@" shows where the cursor was:
 * the terminal keeps no trailing space), and returns the edited line.
 */
async function zshTab(zsh: TmuxSession, text: string, expect: RegExp): Promise<string> {
  await zsh.keys("C-u");
  await zsh.type(text);
  await zsh.keys("Tab");
  await zsh.type("@");
  const screen = await zsh.waitUntil((s) => expect.test(lastPrompt(s)), `${expect} after ${text}`);
  return lastPrompt(screen);
}

function lastPrompt(screen: string): string {
  const lines = screen.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.startsWith("zsh> ")) return lines[i]!.slice("zsh> ".length);
  }
  return "";
}

Deno.test("zsh (in tmux): commands, flags, values and files complete on Tab", async () => {
  if (!await requireTool("zsh") || !await requireTool("tmux", ["-V"])) return;
  const dir = await filesDir();
  const script = await scriptFile(dir, "zsh");
  const zsh = await zshSession(script, dir);
  try {
    await zshTab(zsh, "rampart pl", /^rampart plan @$/);
    await zshTab(zsh, "rampart plan --exit", /^rampart plan --exit-code @$/);
    await zshTab(zsh, "rampart plan --table ma", /^rampart plan --table mangle @$/);
    await zshTab(zsh, "rampart apply --backend le", /^rampart apply --backend legacy @$/);
    await zshTab(zsh, "rampart completions f", /^rampart completions fish @$/);
    await zshTab(zsh, "rampart plan b", /^rampart plan b\.yml @$/);
    await zshTab(zsh, "rampart plan rul", /^rampart plan rules\\ one\.yaml @$/);
    await zshTab(zsh, "rampart apply --state-dir s", /^rampart apply --state-dir sub\/@$/);
  } finally {
    await zsh.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

kernelTest(
  "completions: --netns completes the namespaces of 'ip netns list' (bash, fish, zsh)",
  async (netns) => {
    const dir = await filesDir();
    try {
      // Other namespaces may exist: complete from a prefix only ours has.
      const prefix = netns.slice(0, -2);
      const bash = await scriptFile(dir, "bash");
      const got = await bashComplete(bash, dir, ["rampart", "plan", "--netns", prefix]);
      assert.deepEqual(got, [netns]);
      assert.deepEqual(await bashComplete(bash, dir, ["rampart", "remove", "-n", prefix]), [netns]);
      assert.ok(
        (await bashComplete(bash, dir, ["rampart", "plan", "--netns", ""])).includes(netns),
      );
      if (await requireTool("fish")) {
        const fish = await scriptFile(dir, "fish");
        assert.deepEqual(await fishComplete(fish, dir, `rampart show --netns ${prefix}`), [netns]);
      }
      if (await requireTool("zsh") && await requireTool("tmux", ["-V"])) {
        const zsh = await zshSession(await scriptFile(dir, "zsh"), dir);
        try {
          await zshTab(zsh, `rampart plan --netns ${prefix}`, new RegExp(`--netns ${netns} @$`));
        } finally {
          await zsh.kill();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
