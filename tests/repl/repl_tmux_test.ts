/**
 * The REPL in a real terminal (tmux), working in a namespace: a paste is
 * echoed line by line, Ctrl-R finds an earlier input, Tab completes a file
 * name after `.load` and in `load("…")`, `netns("…")` of a namespace that does
 * not exist is refused, and Ctrl-C kills a hanging iptables-restore (one
 * that ignores SIGINT, so only the REPL's kill can end it) and puts the
 * previous rules back, after which apply works; a second Ctrl-C stops
 * waiting for JavaScript that does not stop.
 */
import assert from "assert";
import { defaultLookPath } from "../../mod.ts";
import { kernelTest, nsExec } from "../kernel/netns.ts";
import { requireTool, TmuxSession } from "../cli/tmux.ts";

const REPL = new URL("../../repl.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

const RULES = `family: ipv4
tables:
  filter:
    kernelChains:
      INPUT:
        insert:
          - jump: rp-in
    chains:
      rp-in:
        - {protocol: tcp, destPorts: [22], action: accept, comment: ssh}
`;

/** Whether a process still runs (not gone, not a zombie). */
async function alive(pid: string): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  return stat !== "" && !/\) [ZX] /.test(stat);
}

kernelTest(
  "REPL in tmux: paste echo, Ctrl-R, file completion, netns check, Ctrl-C kills a hanging restore",
  async (netns) => {
    if (!await requireTool("tmux", ["-V"])) return;
    const dir = await Deno.makeTempDir({ prefix: "rp-repl-tmux-" });
    const real = await defaultLookPath("iptables-nft-restore");
    assert.ok(real !== undefined, "iptables-nft-restore is installed");
    // iptables-nft-restore, slowed down once: while the file "slow" exists it
    // ignores SIGINT (as the terminal's Ctrl-C reaches it too) and hangs.
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(
      `${dir}/bin/iptables-nft-restore`,
      `#!/bin/sh
if [ -e "${dir}/slow" ]; then
  rm -f "${dir}/slow"
  trap '' INT
  echo $$ > "${dir}/slow.pid"
  exec sleep 600
fi
exec ${real} "$@"
`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const command = [
      `cd ${dir} &&`,
      `PATH=${dir}/bin:$PATH NO_COLOR=1`,
      Deno.execPath(),
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=ip",
      `--config=${CONFIG}`,
      REPL,
      "--netns",
      netns,
      "--backend",
      "nft",
      "--no-history",
    ].join(" ");
    const repl = await TmuxSession.start(command, { columns: 200, rows: 50 });
    try {
      await repl.waitFor("rampart> ");
      // A paste of two lines with their Enters: each is echoed after its prompt.
      await repl.paste("Drop()\nAccept()\n");
      await repl.waitFor("rampart> Drop()\n--jump DROP\nrampart> Accept()\n--jump ACCEPT\n");
      // Ctrl-R: the newest input with "Dro"; Enter runs it.
      await repl.keys("C-r");
      await repl.type("Dro");
      await repl.waitFor("(reverse-i-search)'Dro': Drop()");
      await repl.keys("Enter");
      await repl.waitFor("rampart> Drop()\n--jump DROP\n");
      // netns() of a namespace that does not exist: refused at once, named.
      await repl.line('netns("rp-no-such-ns")');
      await repl.waitFor(
        `TypeError: Unknown network namespace "rp-no-such-ns": 'ip netns list' shows `,
      );
      // Tab completes file names where a command takes one.
      await repl.type(".load ru");
      await repl.keys("Tab");
      await repl.waitFor("rampart> .load rules.yaml");
      await repl.keys("Enter");
      await repl.waitFor("Loaded rules.yaml: 1 table(s), 1 chain(s)");
      await repl.type('load("ru');
      await repl.keys("Tab");
      await repl.type('")');
      await repl.keys("Enter");
      await repl.waitFor('rampart> load("rules.yaml")\nLoaded rules.yaml');
      // Ctrl-C while the restore hangs: the REPL kills it, puts our rules
      // back as they were (none) and stays usable.
      await Deno.writeTextFile(`${dir}/slow`, "");
      await repl.line("apply()");
      await repl.waitFor(`Apply these changes to network namespace "${netns}"? [y/N]`);
      await repl.line("y");
      let pid = "";
      for (let i = 0; i < 300 && pid === ""; i++) {
        pid = (await Deno.readTextFile(`${dir}/slow.pid`).catch(() => "")).trim();
        if (pid === "") await new Promise((r) => setTimeout(r, 100));
      }
      assert.notEqual(pid, "", `the restore did not start:\n${await repl.screen()}`);
      assert.ok(await alive(pid));
      await repl.keys("C-c");
      await repl.waitFor("Interrupted: putting back our rules from before the apply…");
      await repl.waitFor("Our rules are as they were before the apply");
      await repl.waitFor("Interrupted: the command's iptables processes were stopped");
      assert.equal(await alive(pid), false, "the hanging iptables-nft-restore was killed");
      assert.doesNotMatch(
        await nsExec(netns, "iptables-nft-save", ["-t", "filter"]),
        /rampart|rp-in/,
      );
      // The engine is consistent: plan reads the kernel, apply writes it all.
      await repl.line("plan()");
      await repl.waitFor("chain rp-in (new)");
      await repl.line("apply()");
      await repl.waitFor("[y/N]");
      await repl.line("y");
      await repl.waitFor("undo() puts the previous rules back");
      assert.match(
        await nsExec(netns, "iptables-nft-save", ["-t", "filter"]),
        /-A rp-in -p tcp .*--comment ssh .*-j ACCEPT/,
      );
      // JavaScript that awaits something else: the first Ctrl-C cannot stop
      // it, the second stops waiting.
      await repl.line("await new Promise((resolve) => setTimeout(resolve, 600000))");
      await repl.keys("C-c");
      await repl.keys("C-c");
      await repl.waitFor("(the command did not stop: it goes on in the background)");
      await repl.line("Accept()");
      await repl.waitFor("rampart> Accept()\n--jump ACCEPT");
      await repl.line(".exit");
      await repl.waitExit();
    } finally {
      await repl.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
