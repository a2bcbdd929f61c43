/**
 * A named network namespace is checked when it is named: the REPL's
 * `netns()` and every command's `--netns`, before anything runs in it.
 */
import assert from "assert";
import {
  checkNamespace,
  namespaceProblem,
  networkNamespaces,
  UnknownNamespaceError,
} from "../../src/host/network_namespaces.ts";
import { denoCliEnvironment } from "../../src/cli/environment.ts";
import { DenoCommandRunner } from "../../src/host/runner.ts";
import { rampart } from "../kernel/netns.ts";

const ABSENT = `rp-absent-${crypto.randomUUID().slice(0, 8)}`;

Deno.test("checkNamespace: a known name passes; an unknown one names those there are", () => {
  checkNamespace("lab", ["lab", "web"]);
  assert.throws(
    () => checkNamespace("nope", ["lab", "web"]),
    (e) =>
      e instanceof UnknownNamespaceError && e.netns === "nope" &&
      e.message === namespaceProblem("nope", ["lab", "web"]) &&
      e.message.includes("'ip netns list' shows lab, web") &&
      e.message.includes("ip netns add nope"),
  );
  // The namespaces cannot be listed: the commands run in it will tell.
  checkNamespace("nope", undefined);
});

Deno.test("DenoCommandRunner checkNetns: nothing runs in a namespace that does not exist", async () => {
  assert.equal(networkNamespaces()?.includes(ABSENT), false);
  const runner = new DenoCommandRunner({ netns: ABSENT, checkNetns: true });
  await assert.rejects(runner.run("true", []), UnknownNamespaceError);
  // The CLI's runners check; without the option, `ip netns exec` tells.
  await assert.rejects(
    denoCliEnvironment().runnerFor(ABSENT).run("true", []),
    UnknownNamespaceError,
  );
  const unchecked = await new DenoCommandRunner({ netns: ABSENT }).run("true", []);
  assert.notEqual(unchecked.code, 0);
  assert.match(unchecked.stderr, /Cannot open network namespace/);
  // The host needs no namespace.
  const host = denoCliEnvironment().runnerFor(undefined);
  assert.ok(host instanceof DenoCommandRunner);
  assert.equal(host.netns, undefined);
  assert.equal((await host.run("true", [])).code, 0);
});

Deno.test("rampart --netns ABSENT: usage error (2) at once, no retries, for every command that runs something there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-netns-flag-" });
  try {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(
      file,
      "family: ipv4\ntables:\n  filter:\n    chains:\n      rp-in: [{action: accept}]\n",
    );
    const state = ["--state-dir", `${dir}/state`];
    for (
      const args of [
        ["plan", file, ...state],
        ["apply", file, "--yes", ...state],
        ["watch", file, ...state],
        ["show", ...state],
        ["show", file, ...state],
        ["diff", file, ...state],
        ["trace", file, "--src", "192.0.2.1", "--dst", "192.0.2.2"],
        ["remove", "--yes", ...state],
        ["import"],
        ["trace", "--src", "192.0.2.1", "--dst", "192.0.2.2"],
        ["graph"],
        ["adopt", "--chain", "INPUT", "--yes", ...state],
      ]
    ) {
      const r = await rampart([...args, "--netns", ABSENT]);
      assert.equal(r.code, 2, `${args[0]}: ${r.err}`);
      assert.match(r.err, new RegExp(`Unknown network namespace "${ABSENT}"`), args[0]);
      assert.doesNotMatch(r.err, /retrying|failed with exit code/, args[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rampart --netns ABSENT: an invalid policy file is still reported first (exit 4)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rp-netns-flag-" });
  try {
    const file = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      file,
      "family: ipv4\ntables:\n  filter:\n    chains:\n      rp-in: [{action: bogus}]\n",
    );
    const state = ["--state-dir", `${dir}/state`];
    for (
      const args of [
        ["plan", file, ...state],
        ["apply", file, "--yes", ...state],
        ["watch", file, ...state],
        ["show", file, ...state],
        ["diff", file, ...state],
        ["trace", file, "--src", "192.0.2.1", "--dst", "192.0.2.2"],
        ["graph", file],
      ]
    ) {
      const r = await rampart([...args, "--netns", ABSENT]);
      assert.equal(r.code, 4, `${args[0]}: ${r.err}`);
      assert.match(r.err, /bad\.yaml:5:\d+: Invalid action "bogus"/, args[0]);
      assert.doesNotMatch(r.err, /Unknown network namespace/, args[0]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
