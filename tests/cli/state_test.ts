import assert from "assert";
import {
  createExclusive,
  describeIntentRecord,
  FileApplyJournal,
  inspectTarget,
  intentRecordJson,
  isTargetLocked,
  lockTarget,
  readIntentRecord,
  TargetBusyError,
  targetFiles,
  targetStateNotes,
  writeDurable,
} from "../../cli.ts";
import type { ApplyIntent, Snapshot } from "../../mod.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rp-state-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SNAPSHOT: Snapshot = {
  version: 1,
  takenAt: "2025-01-01T00:00:00.000Z",
  hashPrefix: "rampart:",
  chainPrefixes: ["rp-"],
  tables: [{
    table: "filter",
    ipVersion: 4,
    backend: "nft",
    chains: [{ name: "rp-in", rules: ["-j ACCEPT"] }],
    foreignChainRules: {},
    policies: {},
  }],
};

const INTENT: ApplyIntent = {
  operation: "apply",
  startedAt: "2025-01-01T00:00:00.000Z",
  tables: [
    { table: "raw", ipVersion: 4 },
    { table: "filter", ipVersion: 4 },
    { table: "raw", ipVersion: 6 },
    { table: "filter", ipVersion: 6 },
  ],
  snapshot: SNAPSHOT,
};

Deno.test("writeDurable: replaces a file whole, mode 0600, no temporary file left", async () => {
  await withDir(async (dir) => {
    await writeDurable(`${dir}/f`, "one\n");
    await writeDurable(`${dir}/f`, "two\n");
    assert.equal(await Deno.readTextFile(`${dir}/f`), "two\n");
    assert.equal((await Deno.stat(`${dir}/f`)).mode! & 0o777, 0o600);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["f"]);
    await assert.rejects(() => writeDurable(`${dir}/missing/f`, "x"), Deno.errors.NotFound);
  });
});

Deno.test("createExclusive: of racing creators exactly one wins, and the file is never seen empty", async () => {
  await withDir(async (dir) => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createExclusive(`${dir}/d`, `writer ${i}`)),
    );
    assert.equal(results.filter((r) => r).length, 1);
    assert.equal(await Deno.readTextFile(`${dir}/d`), `writer ${results.indexOf(true)}`);
  });
});

Deno.test("lockTarget: a second holder is refused with the first one's name; release frees it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/host.lock`;
    assert.equal(await isTargetLocked(path), false, "a missing lock file is free");
    const lock = await lockTarget(path, { command: "apply a.yaml", target: "this host" });
    assert.equal(await isTargetLocked(path), true);
    await assert.rejects(
      () => lockTarget(path, { command: "apply b.yaml", target: "this host", graceMs: 0 }),
      (e: unknown) => {
        assert.ok(e instanceof TargetBusyError);
        assert.equal(e.holder?.pid, Deno.pid);
        assert.match(
          e.message,
          /Another rampart command is changing this host \(pid \d+, 'rampart apply a\.yaml'/,
        );
        assert.match(e.message, /nothing was changed/);
        return true;
      },
    );
    lock.release();
    lock.release();
    assert.equal(await isTargetLocked(path), false);
    (await lockTarget(path, { command: "apply b.yaml", target: "this host", graceMs: 0 }))
      .release();
  });
});

Deno.test("lockTarget: the lock of a process killed with SIGKILL is free at once", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/host.lock`;
    const code = `
      import { lockTarget } from ${JSON.stringify(new URL("../../cli.ts", import.meta.url).href)};
      await lockTarget(${JSON.stringify(path)}, { command: "apply held", target: "t" });
      console.log("locked");
      setInterval(() => {}, 60_000);
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the holder ended early: ${out}`);
      out += value;
    }
    await assert.rejects(
      () => lockTarget(path, { command: "apply", target: "t", graceMs: 0 }),
      /pid \d+, 'rampart apply held'/,
    );
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    (await lockTarget(path, { command: "apply", target: "t", graceMs: 0 })).release();
  });
});

Deno.test("FileApplyJournal: begin, tables done, end; a rollback puts back the earlier record", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/host.intent.jsonl`;
    const journal = new FileApplyJournal(path, { command: "apply x.yaml" });
    await journal.begin(INTENT);
    await journal.tableDone({ table: "raw", ipVersion: 4 });
    const record = await readIntentRecord(path);
    assert.equal(record?.pid, Deno.pid);
    assert.equal(record?.command, "apply x.yaml");
    assert.deepEqual(record?.done, [{ table: "raw", ipVersion: 4 }]);
    assert.deepEqual(record?.intent?.snapshot, SNAPSHOT);
    await journal.end("applied");
    assert.equal(await readIntentRecord(path), undefined);

    const earlier = record!.text;
    const second = new FileApplyJournal(path, { command: "apply y.yaml", previous: earlier });
    const { snapshot: _, ...withoutSnapshot } = INTENT;
    await second.begin(withoutSnapshot);
    assert.equal((await readIntentRecord(path))?.command, "apply y.yaml");
    await second.end("rolled-back");
    assert.equal(
      await Deno.readTextFile(path),
      earlier,
      "the kernel is as the earlier one left it",
    );
    await second.begin(INTENT);
    await second.end("applied");
    await second.begin(INTENT);
    await second.end("rolled-back");
    assert.equal(await readIntentRecord(path), undefined, "settled once an apply succeeded");

    const third = new FileApplyJournal(path, { command: "remove" });
    await third.begin(INTENT);
    await third.fail("iptables-restore said no");
    assert.equal((await readIntentRecord(path))?.error, "iptables-restore said no");
  });
});

Deno.test("readIntentRecord: a torn last line is ignored; a broken or hostile record is reported, not used", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/r.jsonl`;
    const header = JSON.stringify({ version: 1, pid: 9, command: "apply", intent: INTENT });
    await Deno.writeTextFile(
      path,
      `${header}\n{"done":{"table":"raw","ipVersion":4}}\n{"done":{"table":"filt`,
    );
    assert.deepEqual((await readIntentRecord(path))?.done, [{ table: "raw", ipVersion: 4 }]);

    await Deno.writeTextFile(path, "{not json");
    const broken = await readIntentRecord(path);
    assert.equal(broken?.intent, undefined);
    assert.ok(broken?.problem !== undefined);
    assert.match(describeIntentRecord(broken!, { target: "this host" }), /cannot be read/);

    const hostile = structuredClone(INTENT);
    hostile.snapshot!.tables[0]!.chains[0]!.rules = ["-j ACCEPT\nCOMMIT\n*nat"];
    await Deno.writeTextFile(
      path,
      JSON.stringify({ version: 1, pid: 9, command: "apply", intent: hostile }) + "\n",
    );
    const refused = await readIntentRecord(path);
    assert.equal(refused?.intent, undefined);
    assert.match(refused?.problem ?? "", /Invalid snapshot/);
  });
});

Deno.test("describeIntentRecord: done, being written, not reached; failed; the JSON form", () => {
  const record = {
    path: "/s/host.intent.jsonl",
    text: "",
    pid: 42,
    command: "apply rules.yaml",
    intent: INTENT,
    done: [{ table: "raw" as const, ipVersion: 4 as const }],
  };
  assert.equal(
    describeIntentRecord(record, { target: "this host" }),
    "An earlier 'rampart apply rules.yaml' on this host (pid 42, started 2025-01-01T00:00:00.000Z) " +
      "did not finish: it brought raw IPv4 in line; it was writing filter IPv4 when it stopped " +
      "(each table is one transaction: it holds either all of its old rules or all of its new " +
      "ones); raw IPv6 and filter IPv6 were not reached (record: /s/host.intent.jsonl)",
  );
  assert.match(
    describeIntentRecord({ ...record, error: "boom" }, { target: "this host" }),
    /failed and could not be rolled back \(boom\): .*when it failed/,
  );
  assert.match(
    describeIntentRecord({ ...record, done: INTENT.tables }, { target: "this host" }),
    /it stopped before clearing this record/,
  );
  assert.deepEqual(intentRecordJson(record), {
    record: "/s/host.intent.jsonl",
    pid: 42,
    command: "apply rules.yaml",
    operation: "apply",
    startedAt: "2025-01-01T00:00:00.000Z",
    tablesDone: [{ table: "raw", ipVersion: 4 }],
    tablesNotDone: INTENT.tables.slice(1),
    canRollBack: true,
  });
});

Deno.test("inspectTarget: a record nobody holds is interrupted; a held one is work in progress", async () => {
  await withDir(async (stateDir) => {
    const files = targetFiles(stateDir, "lab");
    assert.deepEqual(await inspectTarget(stateDir, { netns: "lab", holding: false }), {});
    const journal = new FileApplyJournal(files.intent, { command: "apply x.yaml" });
    await journal.begin(INTENT);
    const found = await inspectTarget(stateDir, { netns: "lab", holding: false });
    assert.equal(found.interrupted?.command, "apply x.yaml");
    const notes = targetStateNotes(found, { target: "lab", remedy: "none" });
    assert.match(notes[0]!, /^INTERRUPTED: An earlier 'rampart apply x\.yaml' on lab/);
    assert.match(notes[0]!, /'rampart recover' puts back/);

    const lock = await lockTarget(files.lock, { command: "apply x.yaml", target: "lab" });
    const busy = await inspectTarget(stateDir, { netns: "lab", holding: false });
    assert.equal(busy.interrupted, undefined, "the holder's record is its work in progress");
    assert.match(targetStateNotes(busy, { target: "lab", remedy: "none" })[0]!, /right now/);
    const mine = await inspectTarget(stateDir, { netns: "lab", holding: true });
    assert.ok(mine.interrupted !== undefined);
    lock.release();
  });
});
