/**
 * The line editor as an operator uses it: pasted lines stay on the screen,
 * Ctrl-R searches the history, Tab completes file names where a command
 * takes one.
 */
import assert from "assert";
import {
  completeFileName,
  completeInput,
  decodeKeys,
  HistorySearch,
  LineEditor,
} from "../../repl.ts";
import { scripted } from "./scripted_terminal.ts";

/** What a terminal shows: each write after the last "\r\x1b[J" of its row, by lines. */
function screenLines(output: string): string[] {
  // The editor redraws a row with "\r\x1b[J" + prompt + text; a row ends at "\r\n".
  // deno-lint-ignore no-control-regex
  const moves = /\x1b\[\d*[A-Z]|\r/g;
  const rows = output.split("\r\n").map((row) => row.split("\r\x1b[J").at(-1)!.replace(moves, ""));
  return rows.filter((r) => r !== "");
}

Deno.test("LineEditor: a pasted line (with its Enter) is echoed; so is each line of a paste", async () => {
  const io = scripted(["Drop()\r", "a()\rb()\rc(\r"]);
  const editor = new LineEditor(io);
  assert.deepEqual(await editor.readLine("rampart> "), { kind: "line", text: "Drop()" });
  assert.deepEqual(screenLines(io.output), ["rampart> Drop()"]);
  for (const text of ["a()", "b()", "c("]) {
    assert.deepEqual(await editor.readLine("rampart> "), { kind: "line", text });
  }
  assert.deepEqual(screenLines(io.output), [
    "rampart> Drop()",
    "rampart> a()",
    "rampart> b()",
    "rampart> c(",
  ]);
});

Deno.test("HistorySearch: newest match first, older on Ctrl-R, Backspace, failure", () => {
  const s = new HistorySearch(["plan()", "apply()", "Match().protocol('udp')", "apply()"]);
  assert.equal(s.match, undefined);
  s.type("ap");
  assert.equal(s.match, "apply()");
  s.older();
  assert.equal(s.match, "apply()", "the older copy");
  s.older();
  assert.equal(s.match, "apply()", "nothing older: stays");
  assert.equal(s.failed, true);
  assert.equal(s.prompt(), "(failed reverse-i-search)'ap': ");
  s.backspace();
  s.backspace();
  s.type("udp");
  assert.equal(s.match, "Match().protocol('udp')");
  assert.equal(s.matchOffset, 18);
  assert.equal(s.prompt(), "(reverse-i-search)'udp': ");
});

Deno.test("LineEditor: Ctrl-R finds, Enter runs the match; Ctrl-G gives the line back; keys edit the match", async () => {
  const history = ["Match().protocol('tcp')", "plan()", "Drop()"];
  const keys = decodeKeys("\x12\x07").keys.map((k) => k.name);
  assert.deepEqual(keys, ["reverseSearch", "cancel"]);
  const io = scripted([
    "\x12",
    "pro",
    "\r", // search "pro", Enter: the match
    "dr\x12",
    "ze",
    "\x07",
    "\r", // nothing found for "ze"; Ctrl-G: back to "dr"
    "\x12Dr",
    "\x05",
    "x\r", // Ctrl-E takes the match, then edits it
    "\x12pl\x12",
    "\r", // Ctrl-R again on the oldest: stays
  ]);
  const editor = new LineEditor(io, { history });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Match().protocol('tcp')" });
  assert.match(io.output, /\(reverse-i-search\)'pro': Match\(\)\.protocol\('tcp'\)/);
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "dr" });
  assert.match(io.output, /\(failed reverse-i-search\)'ze': /);
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "Drop()x" });
  assert.deepEqual(await editor.readLine("> "), { kind: "line", text: "plan()" });
  // The line read is left on the screen with the prompt, not the search.
  assert.ok(screenLines(io.output).includes("> plan()"));
});

Deno.test('completeFileName: .load/.save/.export and load("…")/save(…)/exportTs(…), on a real directory', async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-files-" });
  try {
    for (const f of ["rules.yaml", "rules-old.yml", "notes.txt", "policy.ts", ".hidden.yaml"]) {
      await Deno.writeTextFile(`${dir}/${f}`, "");
    }
    await Deno.mkdir(`${dir}/rp`);
    await Deno.symlink(`${dir}/rp`, `${dir}/link`);
    const c = (line: string) => completeInput(line, line.length, { scope: {} });
    assert.deepEqual(c(`.load ${dir}/r`), {
      start: 6,
      candidates: [`${dir}/rp/`, `${dir}/rules-old.yml`, `${dir}/rules.yaml`],
    });
    assert.deepEqual(c(`.load ${dir}/`).candidates, [
      `${dir}/link/`,
      `${dir}/rp/`,
      `${dir}/rules-old.yml`,
      `${dir}/rules.yaml`,
    ]);
    assert.deepEqual(c(`.load ${dir}/.h`).candidates, [`${dir}/.hidden.yaml`]);
    assert.deepEqual(c(`load("${dir}/rules.`).candidates, [`${dir}/rules.yaml`]);
    assert.deepEqual(c(`x = await load('${dir}/rules.`).start, `x = await load('`.length);
    assert.deepEqual(c(`save(\`${dir}/n`).candidates, []);
    assert.deepEqual(c(`.export ${dir}/p`).candidates, [`${dir}/policy.ts`]);
    assert.deepEqual(c(`exportTs("${dir}/p`).candidates, [`${dir}/policy.ts`]);
    assert.deepEqual(c(`.load /nonexistent-dir/x`).candidates, []);
    // Not a file argument: names in scope as before.
    assert.equal(completeFileName("filter.load", 11), undefined);
    assert.equal(completeFileName('reload("x', 9), undefined);
    assert.deepEqual(completeInput("lo", 2, { scope: { load: 1 } }).candidates, ["load"]);
    // In the editor: Tab completes the path.
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      const io = scripted([".load ru\t", "\t", "\r"]);
      const editor = new LineEditor(io, { complete: (l, k) => completeInput(l, k, { scope: {} }) });
      assert.deepEqual(await editor.readLine("> "), { kind: "line", text: ".load rules" });
      assert.match(io.output, /rules-old\.yml +rules\.yaml/);
      const one = scripted(['load("rules.y\t', '")\r']);
      const e2 = new LineEditor(one, { complete: (l, k) => completeInput(l, k, { scope: {} }) });
      assert.deepEqual(await e2.readLine("> "), { kind: "line", text: 'load("rules.yaml")' });
    } finally {
      Deno.chdir(cwd);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
