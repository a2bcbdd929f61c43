/**
 * `rampart adopt` on the kernel (issue 16 item 5), whole `rampart`
 * processes, both backends: ufw (run only inside the test's namespace, in a
 * private mount namespace, as the fixtures' capture does) writes its chains,
 * pings over a veth pair move their counters, and other programs' rules sit
 * in other chains and tables. Then:
 *
 * - an adopt with `--confirm-timeout` that nobody confirms is undone by the
 *   watchdog exactly: the save after is the save before (byte for byte, and
 *   the counters of every rule too);
 * - an adopt confirmed with `rampart confirm` leaves the same rules (apart
 *   from our ID comments and the renamed chains), the adopted rules keep
 *   their counters (where the backend carries them: not ip6tables-nft, whose
 *   restore drops rule counters), other programs' rules are untouched byte
 *   for byte (counters included), and `rampart plan` of the written file
 *   finds nothing to do;
 * - an adopt whose command and watchdog are both killed is undone exactly by
 *   `rampart recover` (the pending directory holds its undo scripts).
 */
import assert from "assert";
import { adoptionPolicy, type AdoptSource, parseSaveText } from "../../import.ts";
import { kernelTest, nsExec, rampart, RunningCli } from "../kernel/netns.ts";
import { PrivateMounts } from "../fixtures/private_mounts.ts";
import { VETH, withVethPeer } from "../cli/veth.ts";
import { comparable } from "./save_compare.ts";

const UFW = new URL("../fixtures/import/ufw/commands.json", import.meta.url);
const CHAINS = ["--chain", "INPUT", "--chain", "OUTPUT", "--chain", "FORWARD", "--chain", "ufw*"];

/** Other programs' rules: in a chain and tables adopt leaves alone. */
const FOREIGN = [
  ["-t", "mangle", "-A", "PREROUTING", "-i", "rpa", "-j", "MARK", "--set-mark", "7"],
  ["-t", "nat", "-A", "POSTROUTING", "-o", "rpa", "-j", "MASQUERADE"],
  ["-N", "other-app"],
  ["-A", "other-app", "-s", "192.0.2.1", "-j", "DROP"],
];

async function save(netns: string, backend: string, ipVersion: 4 | 6): Promise<string> {
  const text = await nsExec(
    netns,
    `${ipVersion === 6 ? "ip6tables" : "iptables"}-${backend}-save`,
    [
      "-c",
    ],
  );
  return text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
}

async function saves(netns: string, backend: string): Promise<Record<4 | 6, string>> {
  return { 4: await save(netns, backend, 4), 6: await save(netns, backend, 6) };
}

function withoutCounters(text: string): string {
  return text.split("\n").map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, ""))
    .join("\n");
}

async function ufw(netns: string, backend: "nft" | "legacy"): Promise<void> {
  const commands: string[][] = JSON.parse(await Deno.readTextFile(UFW));
  const pm = await PrivateMounts.start(netns, backend, true);
  try {
    for (const args of commands) {
      const r = await pm.exec("ufw", args);
      // ufw refuses nothing of this list (the fixture's capture records no refusal).
      assert.equal(r.code, 0, `ufw ${args.join(" ")}: ${r.stderr}`);
    }
  } finally {
    await pm.stop();
  }
  for (const [v, bin] of [[4, "iptables"], [6, "ip6tables"]] as const) {
    for (const args of FOREIGN) {
      if (v === 6 && args.includes("MASQUERADE")) continue;
      const a = v === 6 ? args.map((x) => x === "192.0.2.1" ? "2001:db8::1" : x) : args;
      await nsExec(netns, `${bin}-${backend}`, a);
    }
  }
}

/** Pings from the peer over the veth pair, both families. */
async function traffic(peer: string): Promise<void> {
  for (
    const args of [["-c", "3", "-i", "0.2", VETH.local], [
      "-6",
      "-c",
      "3",
      "-i",
      "0.2",
      "fd00:199::1",
    ]]
  ) {
    const r = await new Deno.Command("ip", {
      args: ["netns", "exec", peer, "ping", "-q", "-n", ...args],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(r.success, `ping ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

async function setup(netns: string, backend: "nft" | "legacy", peer: string): Promise<void> {
  await nsExec(netns, "ip", ["addr", "add", "fd00:199::1/64", "dev", "rpa", "nodad"]);
  await nsExec(peer, "ip", ["addr", "add", "fd00:199::2/64", "dev", "rpb", "nodad"]);
  await ufw(netns, backend);
  await traffic(peer);
}

/** Chain → rule counters, of the chains `names` maps (saved name → name to compare under). */
function counters(
  text: string,
  names: ReadonlyMap<string, string>,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of parseSaveText(text)) {
    for (const c of t.chains.values()) {
      const name = names.get(c.name);
      if (name === undefined) continue;
      out[name] = c.rules.map((r) => `${r.counters?.[0]}:${r.counters?.[1]}`);
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

/** Every line of a save but those of the adopted chains (and ours), counters included. */
function foreignLines(text: string, adopted: ReadonlySet<string>): string[] {
  return text.split("\n").filter((l) => {
    const m = /^(?:\[\d+:\d+\] )?-A (\S+) /.exec(l) ?? /^:(\S+) /.exec(l);
    if (m === null) return l !== "";
    return !adopted.has(m[1]!) && !m[1]!.startsWith("rp-");
  });
}

for (const backend of ["nft", "legacy"] as const) {
  kernelTest(
    `rampart adopt: ufw's chains (${backend}), undone unconfirmed, then confirmed`,
    async (netns) => {
      await withVethPeer(netns, async (peer) => {
        await setup(netns, backend, peer);
        const dir = await Deno.makeTempDir({ prefix: "rp-adopt-test-" });
        try {
          const common = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
          const before = await saves(netns, backend);
          assert.match(before[4], /\[[1-9]\d*:\d+\] -A ufw-before-input -p icmp/, "ping counted");

          // Unconfirmed: the watchdog undoes it exactly.
          const undone = await rampart([
            "adopt",
            ...common,
            ...CHAINS,
            "--yes",
            "-o",
            `${dir}/undone.yaml`,
            "--confirm-timeout",
            "2s",
          ]);
          assert.equal(undone.code, 3, undone.err);
          assert.match(undone.err, /Not confirmed in time: the chains are as they were/);
          await assertMissing(`${dir}/undone.yaml`);
          const back = await saves(netns, backend);
          for (const v of [4, 6] as const) {
            assert.equal(
              withoutCounters(back[v]),
              withoutCounters(before[v]),
              `IPv${v}: undone exactly`,
            );
            // IPv4 sees no traffic but ours: its counters are exact. IPv6's neighbour probes
            // move counters on their own, so there they may only have grown.
            if (v === 4) assert.equal(back[v], before[v], `IPv${v}: counters too`);
            else if (backend === "legacy") assertGrown(back[v], before[v]);
          }

          // Confirmed with `rampart confirm`.
          const file = `${dir}/adopted.yaml`;
          const child = new RunningCli([
            "adopt",
            ...common,
            ...CHAINS,
            "--yes",
            "-o",
            file,
            "--confirm-timeout",
            "10m",
          ]);
          assert.ok(await child.waitFor("Adopted. Confirm within"), child.err);
          const confirm = await rampart(["confirm", ...common]);
          assert.equal(confirm.code, 0, confirm.err);
          const done = await child.finish();
          assert.equal(done.code, 0, done.err);
          assert.match(done.err, /Confirmed: the adopted chains stay Rampart's/);

          const after = await saves(netns, backend);
          const sources: AdoptSource[] = ([4, 6] as const).map((v) => ({
            ipVersion: v,
            backend,
            text: before[v],
          }));
          const adoption = adoptionPolicy(sources, {
            chains: ["INPUT", "OUTPUT", "FORWARD", "ufw*"],
          });
          assert.deepEqual(adoption.problems, []);
          for (const v of [4, 6] as const) {
            const mine = adoption.adopted.filter((a) => a.ipVersion === v);
            const rename = new Map(
              [[
                "filter",
                new Map(mine.filter((a) => a.saved !== a.name).map((a) => [a.saved, a.name])),
              ]],
            );
            // The same rules, apart from our ID comments and the renamed chains.
            assert.deepEqual(
              comparable(withoutCounters(after[v]), { recordChain: "rp-policy" }),
              comparable(withoutCounters(before[v]), { rename }),
              `IPv${v}: the adopted rules are the original ones`,
            );
            // Counters carried over (ip6tables-nft-restore drops rule counters: measured).
            const names = new Map(mine.map((a) => [a.saved, a.name]));
            const was = counters(before[v], names);
            const is = counters(after[v], new Map(mine.map((a) => [a.name, a.name])));
            assert.ok(Object.values(was).flat().some((c) => c !== "0:0"), "some counted");
            if (backend === "nft" && v === 6) {
              // ip6tables-nft-restore drops rule counters (measured, iptables 1.8.9): the rule
              // that counted the pings starts again at 0 (neighbour probes may move others).
              const at = parseSaveText(before[6]).find((t) => t.name === "filter")!.chains
                .get("ufw6-before-input")!.rules.findIndex((r) =>
                  r.text.includes("--icmpv6-type 128 ")
                );
              const ping = names.get("ufw6-before-input")!;
              assert.notEqual(was[ping]![at], "0:0", "the pings were counted");
              assert.equal(is[ping]![at], "0:0", "ip6tables-nft-restore dropped the counters");
            } else if (v === 4) {
              assert.deepEqual(is, was, `IPv${v}: counters carried`);
            } else {
              assertGrown(JSON.stringify(is), JSON.stringify(was));
            }
            // Other programs' rules: untouched byte for byte, counters included (IPv6: grown).
            const adopted = new Set(mine.map((a) => a.saved));
            const [x, y] = [foreignLines(after[v], adopted), foreignLines(before[v], adopted)];
            if (v === 4) assert.deepEqual(x, y);
            else {
              assert.deepEqual(x.map(withoutCounters), y.map(withoutCounters));
              assertGrown(x.join("\n"), y.join("\n"));
            }
          }
          const plan = await rampart(["plan", ...common, file]);
          assert.equal(plan.code, 0, plan.err);
          assert.match(plan.out, /Nothing to do/);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    },
  );
}

/** Same text, every counter (`N:M`) at least the one before. */
function assertGrown(after: string, before: string): void {
  const numbers = (t: string) => [...t.matchAll(/(\d+):(\d+)/g)].flatMap((m) => [m[1]!, m[2]!]);
  assert.equal(after.replace(/\d+:\d+/g, "N"), before.replace(/\d+:\d+/g, "N"));
  const [a, b] = [numbers(after), numbers(before)];
  assert.ok(a.every((n, i) => BigInt(n) >= BigInt(b[i]!)), "counters only grew");
}

async function assertMissing(path: string): Promise<void> {
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound, `${path} was removed`);
}

kernelTest(
  "rampart adopt: its command and its watchdog killed → rampart recover undoes it exactly (nft)",
  async (netns) => {
    for (const v of [4, 6] as const) {
      const text = await Deno.readTextFile(
        new URL(`../fixtures/import/ufw/nft_ipv${v}.save`, import.meta.url),
      );
      await nsExec(netns, `${v === 6 ? "ip6tables" : "iptables"}-nft-restore`, [], text);
    }
    const dir = await Deno.makeTempDir({ prefix: "rp-adopt-test-" });
    try {
      const common = ["--netns", netns, "--backend", "nft", "--state-dir", `${dir}/state`];
      const before = await saves(netns, "nft");
      const child = new RunningCli([
        "adopt",
        ...common,
        ...CHAINS,
        "--yes",
        "-o",
        `${dir}/adopted.yaml`,
        "--confirm-timeout",
        "10m",
      ]);
      assert.ok(await child.waitFor("Adopted. Confirm within"), child.err);
      child.child.kill("SIGKILL");
      await child.finish();
      const pid = Number(
        (await Deno.readTextFile(`${dir}/state/pending-netns-${netns}/watchdog.pid`)).trim(),
      );
      Deno.kill(pid, "SIGKILL");
      while (await Deno.stat(`/proc/${pid}`).then(() => true, () => false)) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.notEqual(withoutCounters((await saves(netns, "nft"))[4]), withoutCounters(before[4]));
      const recover = await rampart(["recover", ...common, "--yes"]);
      assert.equal(recover.code, 0, recover.err);
      assert.match(recover.out, /the unconfirmed apply was rolled back/);
      const after = await saves(netns, "nft");
      assert.deepEqual(after, before);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
