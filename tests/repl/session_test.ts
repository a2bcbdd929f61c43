/**
 * A REPL session: every `.help` example as the help shows it, `netns()`
 * checked when typed, and Ctrl-C (the input's signal) stopping a command
 * whose processes hang, with the kernel state kept consistent.
 */
import assert from "assert";
import { DOT_COMMANDS, InterruptibleRunner, isInterruption, ReplSession } from "../../repl.ts";
import {
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
  type RunOptions,
} from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";

function session(
  options: { runner?: CommandRunner; namespaces?: () => string[]; answers?: string[] } = {},
) {
  const fake = new FakeDataplane({ backend: "nft" });
  let out = "";
  const answers = options.answers ?? [];
  const s = new ReplSession({
    io: {
      write: (t) => void (out += t),
      ask: (q) => {
        out += q;
        return Promise.resolve(answers.shift());
      },
    },
    runner: options.runner ?? fake.runner,
    backend: "nft",
    ...(options.namespaces === undefined ? {} : { namespaces: options.namespaces }),
  });
  const run = async (input: string, signal?: AbortSignal) => {
    out = "";
    const r = await s.run(input, signal === undefined ? {} : { signal });
    return { r, out };
  };
  return { fake, session: s, run };
}

Deno.test(".help: every example runs as shown (the input, then the first line it prints)", async () => {
  const { run } = session();
  const help = (await run(".help")).out;
  assert.equal((await run("help()")).out, help);
  const block = help.split("\n\n").find((p) => p.startsWith("Examples"))!;
  const examples: { input: string; first?: string }[] = [];
  for (const line of block.split("\n").slice(1)) {
    if (line.startsWith("    ")) examples.at(-1)!.first = line.slice(4);
    else if (line.startsWith("  ")) examples.push({ input: line.slice(2) });
  }
  assert.ok(examples.length >= 8, block);
  for (const { input, first } of examples) {
    const { r, out } = await run(input);
    assert.equal(r, "ok", `${input}: ${out}`);
    if (first === undefined) assert.equal(out, "", input);
    else assert.equal(out.split("\n")[0], first, input);
  }
  // The LOG example: one ": " (the action adds it, as the reference does).
  assert.match(help, /Log\("dropped"\)\n {4}--jump LOG --log-prefix "dropped: " --log-level 5/);
  assert.doesNotMatch(help, /: : /);
  // Every command the help names is a dot command.
  for (const c of ["show", "plan", "apply", "undo", "load", "save", "netns", "reset", "help"]) {
    assert.ok(DOT_COMMANDS.includes(`.${c}`), c);
  }
});

Deno.test("netns(name): an unknown namespace is refused at once, naming it", async () => {
  const { run, session: s } = session({ namespaces: () => ["lab", "lab-peer"] });
  const r = await run('netns("nope")');
  assert.equal(r.r, "error");
  assert.equal(
    r.out,
    `TypeError: Unknown network namespace "nope": 'ip netns list' shows lab, lab-peer (create it with 'ip netns add nope')\n`,
  );
  assert.equal(s.currentNetns, undefined, "the target stays");
  assert.match((await run(".netns nope")).out, /Unknown network namespace "nope"/);
  assert.equal((await run('netns("lab")')).out, 'Target: network namespace "lab"\n');
  assert.equal((await run("netns(null)")).out, "Target: the HOST\n");
  const none = session({ namespaces: () => [] });
  assert.match(
    (await none.run('netns("x")')).out,
    /"x": there is none \(create it with 'ip netns add x'\)/,
  );
});

/**
 * A runner whose matching commands hang until their signal aborts (as a real
 * process would until it is killed); records the signals it was given.
 */
function hangingRunner(inner: CommandRunner, hangs: (cmd: string) => boolean) {
  const state = { started: 0, killed: 0, hang: true, signals: [] as (AbortSignal | undefined)[] };
  const runner: CommandRunner & { state: typeof state } = {
    state,
    run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult> {
      state.signals.push(opts?.signal);
      if (!state.hang || !hangs(cmd)) return inner.run(cmd, args, opts);
      state.started++;
      return new Promise((_, reject) => {
        const signal = opts?.signal;
        signal?.addEventListener("abort", () => {
          state.killed++;
          reject(signal.reason);
        });
      });
    },
  };
  return runner;
}

Deno.test("Ctrl-C during plan(): the hanging save is killed, and the next plan reads the kernel", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  const runner = hangingRunner(fake.runner, (cmd) => cmd.endsWith("-save"));
  const { run } = session({ runner });
  await run('filter.updateChain(chain("rp-in", Drop()))');
  await run('filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])');
  const stop = new AbortController();
  const pending = run("plan()", stop.signal);
  while (runner.state.started === 0) await new Promise((r) => setTimeout(r, 1));
  stop.abort();
  const { r, out } = await pending;
  assert.equal(r, "error");
  assert.equal(out, "Interrupted: the command's iptables processes were stopped\n");
  assert.equal(runner.state.killed, 1);
  runner.state.hang = false;
  assert.match((await run("plan()")).out, /chain rp-in \(new\)/);
});

Deno.test("Ctrl-C during apply(): the restore is killed, our rules from before are put back, then apply works", async () => {
  const fake = new FakeDataplane({ backend: "nft" });
  // nat is written before filter: nat's restore goes through, filter's hangs.
  let restores = 0;
  const runner = hangingRunner(fake.runner, (cmd) => cmd.endsWith("-restore") && ++restores === 2);
  const answers: string[] = [];
  const { run } = session({ runner, answers });
  for (
    const input of [
      'table("nat").updateChain(chain("rp-nat", Accept()))',
      'table("nat").setRuleInsertions("PREROUTING", [rule(Jump("rp-nat"))])',
      'filter.updateChain(chain("rp-in", Drop()))',
      'filter.setRuleInsertions("INPUT", [rule(Jump("rp-in"))])',
    ]
  ) assert.equal((await run(input)).r, "ok");
  answers.push("y");
  const stop = new AbortController();
  const pending = run("apply()", stop.signal);
  while (runner.state.started === 0) await new Promise((r) => setTimeout(r, 1));
  // nat is written; filter's restore hangs.
  assert.match(fake.rules("nat", "PREROUTING").join("\n"), /rp-nat/);
  stop.abort();
  const { r, out } = await pending;
  assert.equal(r, "error", out);
  assert.match(
    out,
    /Interrupted: putting back our rules from before the apply…\nOur rules are as they were before the apply\nInterrupted: the command's iptables processes were stopped\n$/,
  );
  assert.equal(runner.state.killed, 1);
  // All or nothing: nat is put back, filter was never written.
  assert.deepEqual(fake.rules("nat", "PREROUTING"), []);
  assert.deepEqual(fake.rules("filter", "INPUT"), []);
  // The engine's queue and caches are consistent: the next apply writes everything.
  answers.push("y");
  const again = await run("apply()");
  assert.equal(again.r, "ok", again.out);
  assert.match(fake.rules("nat", "PREROUTING").join("\n"), /rp-nat/);
  assert.match(fake.rules("filter", "INPUT").join("\n"), /rp-in/);
  assert.match((await run("plan()")).out, /Nothing to do/);
  // undo() puts back what was there before that apply: nothing of ours.
  answers.push("y");
  assert.match((await run("undo()")).out, /Restored/);
  assert.deepEqual(fake.rules("nat", "PREROUTING"), []);
});

Deno.test("InterruptibleRunner: the input's signal reaches the inner runner; later commands fail at once", async () => {
  const seen: (AbortSignal | undefined)[] = [];
  const inner: CommandRunner = {
    run(_cmd, _args, opts) {
      seen.push(opts?.signal);
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
  };
  const input: { signal?: AbortSignal } = {};
  const runner = new InterruptibleRunner(inner, { signal: () => input.signal });
  await runner.run("a", []);
  assert.equal(seen[0], undefined);
  const stop = new AbortController();
  input.signal = stop.signal;
  await runner.run("b", []);
  assert.equal(seen[1], stop.signal);
  stop.abort();
  await assert.rejects(() => runner.run("c", []), (e: unknown) => isInterruption(e));
  assert.equal(seen.length, 2, "not started");
});

Deno.test("DenoCommandRunner: an aborted signal kills the process; aborted before, nothing starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-abort-" });
  try {
    const runner = new DenoCommandRunner();
    const stop = new AbortController();
    const running = runner.run("sh", ["-c", `echo $$ > ${dir}/pid; exec sleep 30`], {
      signal: stop.signal,
    });
    let pid = "";
    while (pid === "") {
      pid = (await Deno.readTextFile(`${dir}/pid`).catch(() => "")).trim();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await Deno.readTextFile(`/proc/${pid}/cmdline`), "sleep\x0030\x00");
    stop.abort();
    await assert.rejects(() => running, (e: unknown) => isInterruption(e));
    // Reaped: the process is gone.
    assert.equal(await Deno.stat(`/proc/${pid}`).then(() => "there", () => "gone"), "gone");
    await Deno.remove(`${dir}/pid`);
    await assert.rejects(
      () => runner.run("sh", ["-c", `echo $$ > ${dir}/pid`], { signal: stop.signal }),
      (e: unknown) => isInterruption(e),
    );
    assert.equal(
      await Deno.stat(`${dir}/pid`).then(() => "started", () => "not started"),
      "not started",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
