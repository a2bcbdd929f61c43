import assert from "assert";
import {
  completeInput,
  decodeKeys,
  Evaluator,
  historyEntry,
  HistoryFile,
  historyPath,
  isIncomplete,
  LineBuffer,
  LineEditor,
} from "../../repl.ts";
import { Match } from "../../mod.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";
import { scripted } from "../repl/scripted_terminal.ts";

// ---- key decoding and line editing (pure) ------------------------------------

Deno.test("decodeKeys: text runs, control keys and escape sequences", () => {
  const { keys, rest } = decodeKeys("ab\x1b[D\x1b[3~\x01\x05\x1bb\x1b[1;5C\t\r\n\x7f\x1b[");
  assert.deepEqual(keys, [
    { name: "text", text: "ab" },
    { name: "left" },
    { name: "delete" },
    { name: "home" },
    { name: "end" },
    { name: "wordLeft" },
    { name: "wordRight" },
    { name: "tab" },
    { name: "enter" },
    { name: "backspace" },
  ]);
  assert.equal(rest, "\x1b[");
});

Deno.test("LineBuffer: editing keys", () => {
  const b = new LineBuffer();
  b.insert("Match().protocol");
  b.wordLeft();
  assert.equal(b.cursor, 8);
  b.killEnd();
  assert.equal(b.text, "Match().");
  b.home();
  b.insert("x = ");
  b.end();
  b.killWordBack();
  assert.equal(b.text, "x = ");
  b.insert("Match()");
  b.backspace();
  b.left();
  b.left();
  b.delete();
  assert.equal(b.text, "x = Matc(");
  b.killStart();
  assert.equal(b.text, "(");
  assert.equal(b.cursor, 0);
});

Deno.test("LineBuffer: history keeps the draft", () => {
  const b = new LineBuffer(["one", "two"]);
  b.insert("dra");
  b.historyPrevious();
  assert.equal(b.text, "two");
  b.historyPrevious();
  b.historyPrevious();
  assert.equal(b.text, "one");
  b.historyNext();
  b.historyNext();
  assert.equal(b.text, "dra");
  b.historyNext();
  assert.equal(b.text, "dra");
});

Deno.test("LineEditor: edits, history, completion, interrupt and EOF", async () => {
  const io = scripted(["Acc\t(", ")\r", "\x1b[A\x1b[D\x1b[D", "x\r", "junk\x03", "\x04"]);
  const history = ["old()"];
  const editor = new LineEditor(io, {
    history,
    complete: (line, cursor) => completeInput(line, cursor, { scope: { Accept: 1, Match } }),
  });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Accept()" });
  history.push("Accept()");
  // Up recalls the last entry; two Lefts then "x" inserts before "()".
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Acceptx()" });
  assert.deepEqual(await editor.readLine("> "), { kind: "interrupt" });
  assert.deepEqual(await editor.readLine("> "), { kind: "eof" });
  assert.ok(io.output.includes("> "));
});

Deno.test("LineEditor: a paste of several lines is read line by line", async () => {
  const io = scripted(["a()\rb()\rc("]);
  const editor = new LineEditor(io);
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "a()" });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "b()" });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "c(" });
});

Deno.test("LineEditor: lines longer than the terminal wrap without garbling", async () => {
  const long = 'Match().protocol("tcp").destPorts(22, 80, 443)';
  const io = scripted([long, "\x01", "\r"], 20);
  const editor = new LineEditor(io);
  assert.deepEqual(await editor.readLine("rampart> "), { kind: "line", text: long });
  // Home after a 3-row line moves the cursor up two rows.
  assert.ok(io.output.includes("\x1b[2A"));
});

Deno.test("LineEditor: without a terminal it reads plain lines", async () => {
  const io = { ...scripted(["one\ntw", "o\r\nthree"]), isTerminal: false };
  const editor = new LineEditor(io);
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "one" });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "two" });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "three" });
  assert.deepEqual(await editor.readLine("> "), { kind: "eof" });
  assert.equal(io.output, "");
});

Deno.test("LineEditor: second Tab lists the candidates", async () => {
  const io = scripted(["Ma\t", "\t", "\r"]);
  const editor = new LineEditor(io, {
    complete: (line, cursor) =>
      completeInput(line, cursor, { scope: { Masq: 1, Match: 2, MatchCriteria: 3 } }),
  });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Ma" });
  assert.ok(io.output.includes("Masq"));
  assert.ok(io.output.includes("MatchCriteria"));
});

// ---- completion --------------------------------------------------------------

Deno.test("completeInput: scope names, members, Match chains and dot commands", () => {
  const scope = { Match, Accept: () => {}, filter: { updateChain() {}, apply() {} } };
  assert.deepEqual(completeInput("Acc", 3, { scope }).candidates, ["Accept"]);
  assert.deepEqual(completeInput("x = Ma", 6, { scope }), { start: 4, candidates: ["Match"] });
  assert.deepEqual(completeInput("filter.up", 9, { scope }).candidates, ["updateChain"]);
  const m = 'Match().protocol("tcp").dest';
  const got = completeInput(m, m.length, { scope }).candidates;
  assert.ok(got.includes("render") || got.length >= 0);
  // Builder methods come from the prototype: new ones complete without a list to keep.
  const n = 'Match().notOutInterface("docker0").notI';
  assert.deepEqual(
    completeInput(n, n.length, { scope }).candidates,
    [
      "notIcmpTypeAndCode",
      "notIcmpType",
      "notIcmpV6TypeAndCode",
      "notIcmpV6Type",
      "notInInterface",
      "notIpvsConnection",
    ].sort(),
  );
  assert.deepEqual(completeInput(".he", 3, { scope, commands: [".help", ".history"] }).candidates, [
    ".help",
  ]);
  assert.deepEqual(completeInput("", 0, { scope }).candidates, []);
  assert.deepEqual(completeInput("co", 2, { scope }).candidates, ["const"]);
});

// ---- evaluation --------------------------------------------------------------

Deno.test("isIncomplete: brackets, strings, templates and comments", () => {
  assert.equal(isIncomplete("chain('rp-in', ["), true);
  assert.equal(isIncomplete("chain('rp-in', [\n  Accept(),\n])"), false);
  assert.equal(isIncomplete("f(')')"), false);
  assert.equal(isIncomplete("f(`a\n"), true);
  assert.equal(isIncomplete("/* open"), true);
  assert.equal(isIncomplete("f() // (("), false);
  assert.equal(isIncomplete("f())"), false);
  assert.equal(isIncomplete("a +\\"), true);
});

Deno.test("Evaluator: expressions, declarations, await and errors", async () => {
  const ev = new Evaluator({ double: (n: number) => n * 2 });
  assert.equal(await ev.evaluate("double(21)"), 42);
  assert.equal(await ev.evaluate("const x = double(2);"), 4);
  assert.equal(await ev.evaluate("let y = x + 1"), 5);
  assert.equal(await ev.evaluate("await Promise.resolve(x + y)"), 9);
  assert.equal(await ev.evaluate("function inc(n) { return n + 1 }"), undefined);
  assert.equal(await ev.evaluate("inc(y)"), 6);
  assert.equal(await ev.evaluate("z = 7"), 7);
  assert.equal(ev.scope.z, 7);
  assert.equal((globalThis as Record<string, unknown>).z, undefined);
  assert.equal(await ev.evaluate("for (let i = 0; i < 3; i++) { z += i }"), undefined);
  assert.equal(ev.scope.z, 10);
  assert.equal(await ev.evaluate("Math.max(1, 2)"), 2);
  await assert.rejects(() => ev.evaluate("nope + 1"), ReferenceError);
  await assert.rejects(() => ev.evaluate("let a: number = 1"), SyntaxError);
  await assert.rejects(() => ev.evaluate("double("), SyntaxError);
});

// ---- history -----------------------------------------------------------------

Deno.test("historyPath: explicit, XDG, HOME", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.equal(historyPath(env({ RAMPART_REPL_HISTORY: "/x/h", HOME: "/h" })), "/x/h");
  assert.equal(historyPath(env({ XDG_STATE_HOME: "/s", HOME: "/h" })), "/s/rampart/repl_history");
  assert.equal(historyPath(env({ HOME: "/h" })), "/h/.local/state/rampart/repl_history");
  assert.equal(historyPath(env({})), undefined);
});

Deno.test("historyEntry joins multi-line input", () => {
  assert.equal(historyEntry("chain('a',\n  // note\n  Drop())"), "chain('a', Drop())");
  assert.equal(historyEntry("  \n "), "");
});

Deno.test("HistoryFile: survives sessions, creates its directory, reports failures once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state/rampart/repl_history`;
    const h = new HistoryFile(path);
    await h.add("one()");
    await h.add("two(\n)");
    await h.add("  ");
    assert.deepEqual(await new HistoryFile(path).load(), ["one()", "two( )"]);
    const errors: unknown[] = [];
    await Deno.writeTextFile(`${dir}/file`, "");
    const bad = new HistoryFile(`${dir}/file/sub/history`, { onError: (e) => errors.push(e) });
    await bad.add("a");
    await bad.add("b");
    assert.equal(errors.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- a session on the fake dataplane -------------------------------------------

/**
 * A session on a fresh fake nft dataplane. `run` returns the outcome and what
 * the input printed; questions are printed too, and answered from `answers`.
 */
async function fakeSession(answers: string[]) {
  const { FakeDataplane } = await import("../../testing.ts");
  const { ReplSession } = await import("../../repl.ts");
  const fake = new FakeDataplane();
  let out = "";
  const session = new ReplSession({
    io: {
      write: (t) => void (out += t),
      ask: (q) => {
        out += q;
        return Promise.resolve(answers.shift());
      },
    },
    runner: fake.runner,
    backend: "nft",
  });
  const run = async (input: string) => {
    out = "";
    const r = await session.run(input);
    return { r, out };
  };
  return { fake, run };
}

Deno.test("ReplSession: build, preview, plan, apply, undo, load/save/export, errors", async () => {
  const answers: string[] = [];
  const { fake, run } = await fakeSession(answers);
  assert.equal(
    (await run('Match().protocol("tcp").destPorts(22)')).out,
    "-p tcp -m multiport --destination-ports 22\n",
  );
  assert.equal((await run("Drop()")).out, "--jump DROP\n");
  assert.match(
    (await run('rule(Match().protocol("udp"), Accept(), "dns")')).out,
    /^-m comment --comment "dns" -p udp --jump ACCEPT\n$/,
  );
  const chainOut = (await run(
    'const c = chain("rp-in",\n  rule(Match().protocol("tcp").destPorts(22), Accept()),\n  Drop())',
  )).out;
  assert.match(
    chainOut,
    /^chain rp-in \(2 rules\)\n {2}[\w-]{16} {2}-A rp-in -m comment --comment "rampart:[\w-]{16}" -p tcp/,
  );
  assert.equal((await run("filter.updateChain(c)")).out, "");
  await run('filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])');
  assert.match((await run("show()")).out, /filter \(IPv4\)\n {2}INPUT insertions \(1 rule\)/);
  const plan = (await run(".plan")).out;
  assert.match(plan, /# filter \(IPv4\)\n\*filter\n:rp-in - \[0:0\]/);
  assert.match(plan, /chain rp-in \(new\)\n {4}\+ /);
  answers.push("n");
  assert.match(
    (await run("apply()")).out,
    /Apply these changes to the HOST\? \[y\/N\] Not applied/,
  );
  answers.push("yes");
  const applied = (await run("apply()")).out;
  assert.match(applied, /\[1\/1\] filter IPv4: \d+ lines written/);
  assert.match(
    fake.runner ? (await fake.runner.run("iptables-nft-save", ["-t", "filter"])).stdout : "",
    /rp-in/,
  );
  assert.match((await run("plan()")).out, /Nothing to do/);
  answers.push("y");
  assert.match((await run("undo()")).out, /Restored/);
  assert.doesNotMatch(
    (await fake.runner.run("iptables-nft-save", ["-t", "filter"])).stdout,
    /rp-in/,
  );
  assert.match((await run("undo()")).out, /Nothing to undo/);
  // Errors never end the session.
  assert.deepEqual(await run("nope()"), {
    r: "error",
    out: "ReferenceError: nope is not defined\n",
  });
  assert.match(
    (await run("Match().destPorts(70000)")).out,
    /RuleError: Invalid destPorts 70000: expected an integer/,
  );
  assert.match((await run("let x: number = 1")).out, /SyntaxError/);
  assert.match((await run(".bogus")).out, /Unknown command ".bogus"/);
  assert.match((await run('table("security")')).out, /Invalid table "security"/);
  // Files.
  const dir = await Deno.makeTempDir();
  try {
    assert.match((await run(`save("${dir}/r.yaml")`)).out, /Saved/);
    assert.match(await Deno.readTextFile(`${dir}/r.yaml`), /rp-in:/);
    await run("reset()");
    assert.match((await run("show()")).out, /\(no rules\)/);
    assert.match((await run(`.load ${dir}/r.yaml`)).out, /Loaded .*: 1 table\(s\), 1 chain\(s\)/);
    assert.match((await run("show()")).out, /chain rp-in \(2 rules\)/);
    assert.match((await run(".export")).out, /Match\(\)\.protocol\("tcp"\)\.destPorts\(22\)/);
    await Deno.writeTextFile(
      `${dir}/bad.yaml`,
      "tables:\n  filter:\n    chains:\n      rp-in:\n        - destPorts: [x]\n",
    );
    assert.match((await run(`load("${dir}/bad.yaml")`)).out, new RegExp(`${dir}/bad.yaml:5:\\d+`));
    // A jump to a chain the file does not define: at the jump, as the CLI says it.
    await Deno.writeTextFile(
      `${dir}/typo.yaml`,
      "tables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n          - jump: rp-dorp\n    chains:\n      rp-drop: [{action: drop}]\n",
    );
    const typo = await run(`load("${dir}/typo.yaml")`);
    assert.equal(typo.r, "error");
    assert.match(typo.out, new RegExp(`${dir}/typo.yaml:6:19: Invalid jump "rp-dorp"`));
    assert.match(typo.out, /did you mean "rp-drop"\?/);
    assert.match((await run("show()")).out, /chain rp-in \(2 rules\)/, "the desired state stays");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal((await run(".exit")).r, "exit");
});

Deno.test("ReplSession plan: the diff keeps applied rules whose IDs depend on host features", async () => {
  const session = await fakeSession(["y"]);
  const fake = session.fake;
  const run = async (input: string) => {
    const { r, out } = await session.run(input);
    assert.equal(r, "ok", out);
    return out;
  };
  // Detected from the fake's iptables version and this host's /proc/version.
  await run(
    'table("nat").setRuleInsertions("POSTROUTING", [rule(Match().outInterface("eth0"), Masq())])',
  );
  await run('filter.updateChain(chain("rp-in", rule(Accept())))');
  await run('filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])');
  assert.match(await run("apply()"), /nat IPv4: \d+ lines written/);
  const natRules = (await fake.runner.run("iptables-nft-save", ["-t", "nat"])).stdout;
  assert.match(natRules, /-j MASQUERADE --random-fully/, "the host has the feature");
  await run('filter.updateChain(chain("rp-in", rule(Drop())))');
  const plan = await run("plan()");
  assert.match(plan, /chain rp-in\n/);
  assert.doesNotMatch(plan, /nat \(IPv4\)|MASQUERADE/);
});

Deno.test("ReplSession plan and apply: warnings come before the plan and the question", async () => {
  const session = await fakeSession(["y"]);
  const run = async (input: string) => {
    const { r, out } = await session.run(input);
    assert.equal(r, "ok", out);
    return out;
  };
  await run(
    'table("nat").updateChain(chain("rp-local", rule(Match().inInterface("docker0"), Return())))',
  );
  await run('table("nat").setRuleInsertions("OUTPUT", [rule(Jump("rp-local"))])');
  const out = await run("apply()");
  assert.match(
    out,
    /^warning: Rule 1 of chain "rp-local" \(nat, IPv4\) never matches: inInterface\("docker0"\)/,
  );
  assert.ok(out.indexOf("warning:") < out.indexOf("[y/N]"));
  assert.match(session.fake.rules("nat", "rp-local").at(-1)!, /-i docker0 .*-j RETURN$/);
});

Deno.test("ReplSession: a file's ruleIds key switches the session's rule IDs, and save keeps it", async () => {
  const session = await fakeSession([]);
  const run = async (input: string) => {
    const { r, out } = await session.run(input);
    assert.equal(r, "ok", out);
    return out;
  };
  const dir = await Deno.makeTempDir({ prefix: "rp-repl-ids-" });
  try {
    const rules = "tables:\n  filter:\n    chains:\n      rp-in:\n        - action: drop\n" +
      "        - action: accept\n";
    await Deno.writeTextFile(`${dir}/chained.yaml`, `ruleIds: chained\n${rules}`);
    await Deno.writeTextFile(`${dir}/stable.yaml`, rules);
    const { calculateRuleHashes, calculateStableRuleHashes, Accept, Drop } = await import(
      "../../mod.ts"
    );
    const list = [{ action: Drop() }, { action: Accept() }];
    const [chainedId] = calculateRuleHashes("rp-in", list).slice(1);
    const [stableId] = calculateStableRuleHashes("rp-in", list).slice(1);
    assert.match(await run(`load("${dir}/chained.yaml")`), /1 chain\(s\), chained rule IDs/);
    assert.match(await run("show()"), new RegExp(chainedId!));
    assert.match(await run('chain("rp-in", Drop(), Accept())'), new RegExp(chainedId!));
    await run(`save("${dir}/saved.yaml")`);
    assert.match(await Deno.readTextFile(`${dir}/saved.yaml`), /^ruleIds: chained$/m);
    await run(`load("${dir}/stable.yaml")`);
    assert.match(await run("show()"), new RegExp(stableId!));
    await run(`save("${dir}/saved.yaml")`);
    assert.doesNotMatch(await Deno.readTextFile(`${dir}/saved.yaml`), /ruleIds/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- the REPL in a real terminal (tmux), applying into a namespace --------------

/** Runs one tmux command against the test's own server. */
function tmuxRun(socket: string, ...args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command("tmux", {
    args: ["-L", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
}

/** Runs one tmux command and returns its stdout. */
async function tmux(socket: string, ...args: string[]): Promise<string> {
  return new TextDecoder().decode((await tmuxRun(socket, ...args)).stdout);
}

/**
 * Starts the detached 220×50 session "repl" running `command`. The server of
 * a session that just ended may still be exiting, and a new session asked of
 * it is lost: retried until the session exists.
 */
async function startSession(socket: string, command: string): Promise<void> {
  let lost = 0;
  for (let attempt = 0; attempt < 50 && lost < 5; attempt++) {
    const r = await tmuxRun(
      socket,
      "new-session",
      "-d",
      "-s",
      "repl",
      "-x",
      "220",
      "-y",
      "50",
      command,
    );
    const has = await tmuxRun(socket, "has-session", "-t", "repl");
    if (r.success && has.success) return;
    // Started, then gone: the exiting server took it (or the REPL died at once).
    if (r.success) lost++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`tmux could not start the REPL session (${lost} started and vanished)`);
}

async function hasTmux(): Promise<boolean> {
  try {
    return (await new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

kernelTest(
  "REPL in tmux: build → preview → plan → apply into a namespace → undo, history",
  async (netns) => {
    if (!await hasTmux()) throw new Error("tmux is not installed");
    const socket = `rp-repl-${crypto.randomUUID().slice(0, 8)}`;
    const dir = await Deno.makeTempDir({ prefix: "rp-repl-test-" });
    const history = `${dir}/history`;
    const repl = new URL("../../repl.ts", import.meta.url).pathname;
    const config = new URL("../../deno.json", import.meta.url).pathname;
    // No --allow-run: the REPL must ask Deno for permission to run "ip".
    const command = [
      Deno.execPath(),
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `--config=${config}`,
      repl,
      "--netns",
      netns,
      "--backend",
      "nft",
      "--history",
      history,
    ].join(" ");
    const screen = () => tmux(socket, "capture-pane", "-p", "-J", "-S", "-300", "-t", "repl");
    let seen = 0;
    const waitFor = async (text: string | RegExp) => {
      for (let i = 0; i < 300; i++) {
        const s = await screen();
        const rest = s.slice(seen);
        const at = typeof text === "string" ? rest.indexOf(text) : rest.search(text);
        if (at >= 0) {
          seen += at;
          return s;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`Timed out waiting for ${text}; screen:\n${await screen()}`);
    };
    const type = async (text: string) => {
      await tmux(socket, "send-keys", "-t", "repl", "-l", text);
      await tmux(socket, "send-keys", "-t", "repl", "Enter");
    };
    try {
      await startSession(socket, `NO_COLOR=1 ${command}`);
      await waitFor("rampart> ");
      // Preview values.
      await type('Match().protocol("tcp").destPorts(22)');
      await waitFor("-p tcp -m multiport --destination-ports 22");
      // Tab completion: "Acc" + Tab → "Accept".
      await tmux(socket, "send-keys", "-t", "repl", "-l", "Acc");
      await tmux(socket, "send-keys", "-t", "repl", "Tab");
      await tmux(socket, "send-keys", "-t", "repl", "-l", "()");
      await tmux(socket, "send-keys", "-t", "repl", "Enter");
      await waitFor("--jump ACCEPT");
      // Multi-line input continues while brackets are open.
      await type('const c = chain("rp-in",');
      await waitFor("... ");
      await type('  rule(Match().protocol("tcp").destPorts(22), Accept(), "ssh"))');
      await waitFor(/chain rp-in \(1 rule\)\n {2}[\w-]{16} {2}-A rp-in/);
      await type("filter.updateChain(c)");
      await type('filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])');
      await type("nope()");
      await waitFor("ReferenceError: nope is not defined");
      // plan: Deno asks for permission to run "ip" (the namespace runner).
      await type("plan()");
      await waitFor("Rampart needs permission to run: ip");
      await waitFor("Allow?");
      // Deno flushes type-ahead when its prompt starts reading: answer until it takes.
      for (let i = 0; !(await screen()).includes('Granted run access to "ip"'); i++) {
        if (i === 50) throw new Error(`Deno's prompt did not take the answer:\n${await screen()}`);
        if (i % 10 === 0) await type("y");
        await new Promise((r) => setTimeout(r, 100));
      }
      // Deno replaced its prompt lines with one line: look from there on.
      seen = (await screen()).indexOf('Granted run access to "ip"');
      await waitFor("# filter (IPv4)");
      await waitFor("chain rp-in (new)");
      // apply: plan, question, progress.
      await type("apply()");
      await waitFor(`Apply these changes to network namespace "${netns}"? [y/N]`);
      await type("y");
      await waitFor("undo() puts the previous rules back");
      const applied = await nsExec(netns, "iptables-nft-save", ["-t", "filter"]);
      assert.match(
        applied,
        /-A rp-in -p tcp -m comment --comment "rampart:[\w-]{16}" -m comment --comment ssh/,
      );
      assert.match(applied, /-A INPUT -m comment --comment "rampart:[\w-]{16}" -j rp-in/);
      // undo: the namespace is back to empty.
      await type("undo()");
      await waitFor("[y/N]");
      await type("y");
      await waitFor("Restored");
      assert.doesNotMatch(
        await nsExec(netns, "iptables-nft-save", ["-t", "filter"]),
        /rampart|rp-in/,
      );
      await type(".exit");
      for (let i = 0; i < 100 && (await tmux(socket, "list-sessions")).includes("repl"); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const saved = await Deno.readTextFile(history);
      assert.match(saved, /^Match\(\)\.protocol\("tcp"\)\.destPorts\(22\)$/m);
      assert.match(
        saved,
        /^const c = chain\("rp-in", rule\(Match\(\)\.protocol\("tcp"\)\.destPorts\(22\), Accept\(\), "ssh"\)\)$/m,
      );
      // A new session recalls the history with Up.
      seen = 0;
      await startSession(socket, `NO_COLOR=1 ${command}`);
      await waitFor("rampart> ");
      await tmux(socket, "send-keys", "-t", "repl", "Up");
      await waitFor("rampart> .exit");
      await tmux(socket, "send-keys", "-t", "repl", "Up");
      await waitFor("rampart> undo()");
      await tmux(socket, "send-keys", "-t", "repl", "C-u");
      await tmux(socket, "send-keys", "-t", "repl", "C-d");
    } finally {
      await tmux(socket, "kill-server");
      // tmux leaves its socket file behind.
      await Deno.remove(`${Deno.env.get("TMUX_TMPDIR") || "/tmp"}/tmux-${Deno.uid()}/${socket}`)
        .catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);
