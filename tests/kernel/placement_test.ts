/**
 * The evidence behind `checkPlacement`: every measured placement case
 * (`tests/engine/placement_cases.ts`) is fed to the real restore binaries of
 * both backends, and
 * - what they do must be what the case records (accepted, refused by
 *   iptables with its message, or refused by the kernel): a case recorded as
 *   refused that a future iptables accepts fails here, as does the opposite;
 * - the fake must answer exactly as they did (exit code and stderr, byte for
 *   byte), and save accepted rules exactly as they do;
 * - `checkPlacement` must refuse exactly what the binary refused (no stricter
 *   than the kernel, no laxer), with the backend given.
 */
import assert from "assert";
import { checkPlacement, type Placement, PlacementError } from "../../mod.ts";
import { FakeDataplane } from "../../testing.ts";
import {
  CASE_CHAIN,
  caseScript,
  DSL_REFUSED,
  DSL_REFUSED_LOSSY,
  PLACEMENT_CASES,
  placeOf,
  verdictMismatch,
  verdictOf,
} from "../engine/placement_cases.ts";
import { BACKENDS, binary, kernelTest, nsRunner, saveTable } from "./netns.ts";

/** The `-A` lines of a save, in order. */
function ruleLines(save: string): string[] {
  return save.split("\n").filter((l) => l.startsWith("-A "));
}

for (const backend of BACKENDS) {
  kernelTest(
    `placement: every measured case on ${backend}, the fake and checkPlacement agree`,
    async (
      netns,
    ) => {
      const problems: string[] = [];
      for (const c of PLACEMENT_CASES) {
        const v = { backend, ipVersion: c.ipVersion };
        const script = caseScript(c);
        // Without --noflush: the table is replaced, so every case starts clean.
        const real = await nsRunner(netns).run(binary(v, "restore"), [], { stdin: script });
        const verdict = verdictOf(c, backend);
        const at = `${c.name} (${backend}, IPv${c.ipVersion}):\n${script}`;
        const mismatch = verdictMismatch(verdict, backend, real);
        if (mismatch !== undefined) problems.push(`${at}the binary: ${mismatch}`);
        // The fake, fresh, with the same binary name and script.
        const fake = new FakeDataplane({ backend });
        const faked = await fake.runner.run(binary(v, "restore"), [], { stdin: script });
        if (faked.code !== real.code || faked.stderr !== real.stderr) {
          problems.push(
            `${at}the fake: exit ${faked.code} ${
              JSON.stringify(faked.stderr)
            }, the binary: exit ${real.code} ${JSON.stringify(real.stderr)}`,
          );
        }
        if (real.code === 0 && faked.code === 0) {
          const saved = ruleLines(await saveTable(netns, v, c.table));
          const fakeSaved = ruleLines(
            (await fake.runner.run(binary(v, "save"), ["-t", c.table])).stdout,
          );
          if (saved.join("\n") !== fakeSaved.join("\n")) {
            problems.push(
              `${at}saved:\n${saved.join("\n")}\nthe fake saved:\n${fakeSaved.join("\n")}`,
            );
          }
        }
        // Rampart refuses exactly what this backend refused.
        const { chain, hooks } = placeOf(c);
        const where: Placement = {
          table: c.table,
          ipVersion: c.ipVersion,
          chain,
          list: chain === CASE_CHAIN ? "chain" : "insert",
          ruleIndex: 0,
          hooks,
          backend,
        };
        let refused = false;
        try {
          checkPlacement(c.rule, where);
        } catch (e) {
          if (!(e instanceof PlacementError)) throw e;
          refused = true;
        }
        if (refused !== (real.code !== 0)) {
          problems.push(
            `${at}checkPlacement ${refused ? "refuses" : "accepts"} what the binary ${
              real.code === 0 ? "accepts" : "refuses"
            }`,
          );
        }
      }
      assert.deepEqual(problems, [], problems.join("\n\n"));
    },
  );
}

kernelTest("placement: what the DSL refuses, iptables refuses in every table and family", async (
  netns,
) => {
  for (const backend of BACKENDS) {
    for (const ipVersion of [4, 6] as const) {
      for (const [fragment, message] of DSL_REFUSED) {
        const r = await nsRunner(netns).run(binary({ backend, ipVersion }, "restore"), [], {
          stdin: `*filter\n-A INPUT ${fragment} -j ACCEPT\nCOMMIT\n`,
        });
        assert.equal(r.code, 2, `${backend} IPv${ipVersion} ${fragment}`);
        assert.match(r.stderr, new RegExp(message));
      }
    }
  }
});

kernelTest(
  "placement: the negated wildcard the DSL refuses is lost by iptables-legacy-save",
  async (
    netns,
  ) => {
    for (const backend of BACKENDS) {
      for (const [fragment] of DSL_REFUSED_LOSSY) {
        const v = { backend, ipVersion: 4 as const };
        const r = await nsRunner(netns).run(binary(v, "restore"), [], {
          stdin: `*filter\n-A FORWARD ${fragment} -j DROP\nCOMMIT\n`,
        });
        assert.equal(r.code, 0, r.stderr);
        const saved = ruleLines(await saveTable(netns, v, "filter"));
        // nft prints it; legacy prints a rule that drops every packet.
        assert.deepEqual(
          saved,
          [backend === "nft" ? `-A FORWARD ${fragment} -j DROP` : "-A FORWARD -j DROP"],
        );
        const fake = new FakeDataplane({ backend });
        await fake.runner.run(binary(v, "restore"), [], {
          stdin: `*filter\n-A FORWARD ${fragment} -j DROP\nCOMMIT\n`,
        });
        assert.deepEqual(fake.rules("filter", "FORWARD"), saved);
      }
    }
  },
);
