/**
 * Concurrent `rampart` processes on one target, and on two namespaces at
 * once, beside hostile foreign rules (`foreign_rules.ts`), on both backends:
 * apply against apply, apply against remove, plan during apply, watch
 * against apply. Which one wins is up to the scheduler, so the cases assert
 * what holds either way: every process ends with success or with the
 * refusal that names the other ("Another rampart command is changing …",
 * exit 1, nothing changed); the kernel ends in the state of one of the
 * policies, complete (`plan` has nothing to do); the other programs' lines
 * are byte for byte as before, counters included.
 *
 * The deterministic cases (an apply waiting for confirmation refuses the
 * others; two `apply --confirm-timeout` at once; `confirm` twice at once)
 * are in `confirm_test.ts`.
 */
import assert from "assert";
import {
  REALISTIC_CHAINS,
  REALISTIC_V1,
  REALISTIC_V3,
  realisticPolicy,
} from "../fixtures/neighbours.ts";
import {
  assertForeignKept,
  comparable,
  isOurLine,
  saveAll,
  seedHostile,
  withTempDir,
} from "./foreign_rules.ts";
import {
  BACKENDS,
  kernelTest,
  rampart,
  RunningCli,
  waitNamespaceIdle,
  withNetns,
} from "./netns.ts";

const OURS = { ourChains: REALISTIC_CHAINS, ourPolicies: new Set(["filter/FORWARD"]) };
const REFUSED = /Another rampart command is changing network namespace .* nothing was changed/;

/** Exit 0, or refused because the other held the target. */
function assertDoneOrRefused(r: { code: number; err: string }, why: string): boolean {
  if (r.code === 0) return true;
  assert.equal(r.code, 1, `${why}: ${r.err}`);
  assert.match(r.err, REFUSED, why);
  return false;
}

/** Which of the files `plan` finds in sync with the kernel ("" for none). */
async function inSyncWith(files: Record<string, string>, ns: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [name, file] of Object.entries(files)) {
    const plan = await rampart(["plan", file, ...ns]);
    assert.equal(plan.code, 0, plan.err);
    if (/Nothing to do/.test(plan.out)) out.push(name);
  }
  return out;
}

for (const backend of BACKENDS) {
  kernelTest(
    `concurrent commands on one namespace: apply/apply, apply/remove, plan during apply, watch/apply (${backend})`,
    async (netns) => {
      await seedHostile(netns, backend);
      const saved = await saveAll(netns, backend);
      const before = comparable(saved, { backend });
      const whileOurs = comparable(saved, { backend, ourPolicies: OURS.ourPolicies });
      await withTempDir(async (dir) => {
        const files = { v1: `${dir}/v1.yaml`, v3: `${dir}/v3.yaml` };
        await Deno.writeTextFile(files.v1, realisticPolicy(REALISTIC_V1));
        await Deno.writeTextFile(files.v3, realisticPolicy(REALISTIC_V3));
        const ns = ["--netns", netns, "--backend", backend, "--state-dir", `${dir}/state`];
        const apply = (file: string) => rampart(["apply", file, "--yes", ...ns]);

        for (let round = 0; round < 3; round++) {
          const why = `apply/apply, round ${round}`;
          const [a, b] = await Promise.all([apply(files.v1), apply(files.v3)]);
          const done = [assertDoneOrRefused(a, why), assertDoneOrRefused(b, why)];
          assert.ok(done.includes(true), `${why}: both refused`);
          const synced = await inSyncWith(files, ns);
          assert.equal(synced.length, 1, `${why}: in sync with ${synced}`);
          if (!done[0]) assert.deepEqual(synced, ["v3"], why);
          if (!done[1]) assert.deepEqual(synced, ["v1"], why);
          await assertForeignKept(netns, backend, whileOurs, OURS, why);
        }

        for (let round = 0; round < 2; round++) {
          const why = `apply/remove, round ${round}`;
          const [a, r] = await Promise.all([
            apply(files.v1),
            rampart(["remove", "--yes", ...ns]),
          ]);
          assertDoneOrRefused(a, why);
          assertDoneOrRefused(r, why);
          const synced = await inSyncWith(files, ns);
          const ours = (await saveAll(netns, backend)).split("\n").filter((l) =>
            isOurLine(l, OURS.ourChains)
          );
          // Either the policy is there, complete, or nothing of ours is.
          assert.ok(
            synced.includes("v1") || ours.length === 0,
            `${why}: in sync with ${synced}; ours: ${ours.join("\n")}`,
          );
          await assertForeignKept(
            netns,
            backend,
            synced.includes("v1") ? whileOurs : before,
            synced.includes("v1") ? OURS : { ourChains: OURS.ourChains },
            why,
          );
        }

        for (let round = 0; round < 1; round++) {
          const why = `plan during apply, round ${round}`;
          const file = round % 2 === 0 ? files.v3 : files.v1;
          const [a, p] = await Promise.all([apply(file), rampart(["plan", file, ...ns])]);
          assert.equal(a.code, 0, `${why}: ${a.err}`);
          assert.equal(p.code, 0, `${why}: ${p.err}`);
          assert.deepEqual(await inSyncWith({ file }, ns), ["file"], why);
          await assertForeignKept(netns, backend, whileOurs, OURS, why);
        }

        // watch and apply started together: watch holds the target for its whole run. From
        // nothing of ours, watch's first apply always changes something, and says so.
        assert.equal((await rampart(["remove", "--yes", ...ns])).code, 0);
        const watch = new RunningCli(["watch", files.v1, ...ns]);
        // Not a timing assertion: a watch that never says anything must fail the test, not hang it.
        const guard = setTimeout(() => watch.child.kill("SIGKILL"), 120_000);
        const a = await apply(files.v3);
        assertDoneOrRefused(a, "watch/apply");
        // (A watch that is refused ends, and waitFor says false.)
        const watching = await watch.waitFor(" applied ");
        if (watching) {
          // From now on it holds the target.
          const refused = await apply(files.v3);
          assert.equal(refused.code, 1, refused.err);
          assert.match(refused.err, /Another rampart command is changing .* 'rampart watch /);
          assert.deepEqual(await inSyncWith(files, ns), ["v1"], "watch keeps its policy");
          watch.child.kill("SIGTERM");
        }
        const w = await watch.finish();
        clearTimeout(guard);
        if (watching) assert.equal(w.code, 0, w.err);
        else assert.match(w.err, REFUSED, "watch refused while the apply ran");
        await waitNamespaceIdle(netns);
        await assertForeignKept(netns, backend, whileOurs, OURS, "watch/apply");

        const remove = await rampart(["remove", "--yes", ...ns]);
        assert.equal(remove.code, 0, remove.err);
        assert.deepEqual(comparable(await saveAll(netns, backend), { backend }), before);
      });
    },
  );
}

kernelTest(
  "two namespaces at once, one state directory: each apply and remove keeps to its own namespace",
  async (first) => {
    await withNetns(async (second) => {
      await withTempDir(async (dir) => {
        const v1 = `${dir}/v1.yaml`, v3 = `${dir}/v3.yaml`;
        await Deno.writeTextFile(v1, realisticPolicy(REALISTIC_V1));
        await Deno.writeTextFile(v3, realisticPolicy(REALISTIC_V3));
        const targets = [
          { netns: first, backend: "nft" as const, file: v1 },
          { netns: second, backend: "legacy" as const, file: v3 },
        ];
        const saves: string[] = [];
        for (const t of targets) {
          await seedHostile(t.netns, t.backend);
          saves.push(await saveAll(t.netns, t.backend));
        }
        const ns = (t: typeof targets[number]) => [
          "--netns",
          t.netns,
          "--backend",
          t.backend,
          "--state-dir",
          `${dir}/state`,
        ];
        const applied = await Promise.all(
          targets.map((t) => rampart(["apply", t.file, "--yes", ...ns(t)])),
        );
        for (const [i, t] of targets.entries()) {
          assert.equal(applied[i]!.code, 0, applied[i]!.err);
          const plan = await rampart(["plan", t.file, ...ns(t)]);
          assert.match(plan.out, /Nothing to do/, plan.out);
          const whileOurs = comparable(saves[i]!, { backend: t.backend, ...OURS });
          await assertForeignKept(t.netns, t.backend, whileOurs, OURS, t.netns);
        }
        const removed = await Promise.all(
          targets.map((t) => rampart(["remove", "--yes", ...ns(t)])),
        );
        for (const [i, t] of targets.entries()) {
          assert.equal(removed[i]!.code, 0, removed[i]!.err);
          assert.deepEqual(
            comparable(await saveAll(t.netns, t.backend), { backend: t.backend }),
            comparable(saves[i]!, { backend: t.backend }),
          );
        }
      });
    });
  },
);
