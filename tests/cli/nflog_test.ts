/**
 * The README's advice for logging from a namespace (LOG writes nothing there
 * unless the host sets `nf_log_all_netns`): NFLOG, applied with `rampart`,
 * reaches a listener in the same namespace (`tcpdump -i nflog:GROUP`).
 */
import assert from "assert";
import { kernelTest, rampart } from "../kernel/netns.ts";
import { requireTool } from "./tmux.ts";
import { VETH, withVethPeer } from "./veth.ts";

kernelTest(
  "NFLOG from a namespace: tcpdump -i nflog:5 in it sees the packets the rule logs",
  async (netns) => {
    if (!await requireTool("tcpdump", ["--version"])) return;
    const dir = await Deno.makeTempDir({ prefix: "rp-nflog-" });
    try {
      const file = `${dir}/rules.yaml`;
      await Deno.writeTextFile(
        file,
        "family: ipv4\ntables:\n  filter:\n    kernelChains:\n      INPUT:\n        insert:\n" +
          "          - {protocol: icmp, nflog: {group: 5, prefix: rp-test}}\n",
      );
      const apply = await rampart([
        "apply",
        file,
        "--netns",
        netns,
        "--yes",
        "--state-dir",
        `${dir}/s`,
      ]);
      assert.equal(apply.code, 0, apply.err);
      await withVethPeer(netns, async (peer) => {
        const tcpdump = new Deno.Command("ip", {
          args: ["netns", "exec", netns, "tcpdump", "-n", "-l", "-i", "nflog:5", "-c", "3"],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        try {
          // tcpdump says when it listens; ping until it has seen three packets.
          const err = tcpdump.stderr.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          while (!text.includes("listening on nflog:5")) {
            const { value, done } = await err.read();
            if (done) break;
            text += value;
          }
          assert.match(text, /listening on nflog:5/);
          const ping = new Deno.Command("ip", {
            args: ["netns", "exec", peer, "ping", "-q", "-n", "-c", "3", "-i", "0.2", VETH.local],
            stdout: "null",
            stderr: "null",
          });
          assert.equal((await ping.output()).code, 0);
          const out = await new Response(tcpdump.stdout).text();
          err.releaseLock();
          assert.match(out, new RegExp(`${VETH.peer} > ${VETH.local}: ICMP echo request`));
        } finally {
          try {
            tcpdump.kill("SIGTERM");
          } catch { /* it captured its three packets and ended */ }
          await tcpdump.status;
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
