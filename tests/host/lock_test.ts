import assert from "assert";
import type { Features } from "../../dsl/features.ts";
import {
  grabIptablesLocks,
  type GrabIptablesLocksOptions,
  type Locker,
  LockTimeoutError,
  restoreLockArgs,
  SharedLock,
} from "../../src/host/lock.ts";

// --- SharedLock (the reference's lock_test.go "SharedLock" table) ---

class MockLocker implements Locker {
  closed = false;
  error: Error | undefined;
  close(): void {
    assert.equal(this.closed, false, "closed twice");
    this.closed = true;
    if (this.error !== undefined) throw this.error;
  }
}

function sharedLock(grabbed: MockLocker[], failWith?: Error) {
  return new SharedLock({
    lockFilePath: "/foo/bar.lock",
    timeoutMs: 1000,
    probeIntervalMs: 1,
    grab: () => {
      if (failWith !== undefined) return Promise.reject(failWith);
      const l = new MockLocker();
      grabbed.push(l);
      return Promise.resolve(l);
    },
  });
}

Deno.test("SharedLock closes the lock after the final unlock", async () => {
  const grabbed: MockLocker[] = [];
  const lock = sharedLock(grabbed);
  await lock.lock();
  assert.equal(grabbed[0]?.closed, false);
  lock.unlock();
  assert.equal(grabbed[0]?.closed, true);
  assert.equal(lock.count, 0);
});

Deno.test("SharedLock allows multiple holders", async () => {
  const grabbed: MockLocker[] = [];
  const lock = sharedLock(grabbed);
  await lock.lock();
  await lock.lock();
  assert.equal(lock.count, 2);
  lock.unlock();
  assert.equal(grabbed[0]?.closed, false);
  lock.unlock();
  assert.equal(grabbed[0]?.closed, true);
  assert.equal(grabbed.length, 1);
  await lock.lock(); // re-acquires after a full release
  assert.equal(grabbed.length, 2);
  lock.unlock();
});

Deno.test("SharedLock throws on an unmatched unlock", () => {
  const lock = sharedLock([]);
  assert.throws(() => lock.unlock(), /Unmatched unlock\(\)/);
});

Deno.test("SharedLock throws when the lock cannot be taken, leaving the count at 0", async () => {
  const timeout = new LockTimeoutError({ version: "1.4", target: "@xtables", timeoutMs: 1 });
  const lock = sharedLock([], timeout);
  await assert.rejects(lock.lock(), (e: unknown) => e === timeout);
  assert.equal(lock.count, 0);
  assert.throws(() => lock.unlock(), /Unmatched/);
});

Deno.test("SharedLock throws when closing fails", async () => {
  const grabbed: MockLocker[] = [];
  const lock = sharedLock(grabbed);
  await lock.lock();
  (grabbed[0] as MockLocker).error = new Error("close failed");
  assert.throws(() => lock.unlock(), /close failed/);
  assert.equal(lock.count, 0);
});

Deno.test("SharedLock: concurrent first lock() calls take the locks once", async () => {
  const grabbed: MockLocker[] = [];
  const lock = sharedLock(grabbed);
  await Promise.all([lock.lock(), lock.lock(), lock.lock()]);
  assert.equal(grabbed.length, 1);
  assert.equal(lock.count, 3);
  lock.unlock();
  lock.unlock();
  lock.unlock();
  assert.equal(grabbed[0]?.closed, true);
});

Deno.test("SharedLock.run holds the lock around fn, also when it throws", async () => {
  const grabbed: MockLocker[] = [];
  const lock = sharedLock(grabbed);
  assert.equal(await lock.run(() => Promise.resolve(lock.count)), 1);
  assert.equal(grabbed[0]?.closed, true);
  await assert.rejects(lock.run(() => Promise.reject(new Error("inner"))), /inner/);
  assert.equal(lock.count, 0);
  assert.equal(grabbed[1]?.closed, true);
  const failing = sharedLock([], new Error("no lock"));
  let ran = false;
  await assert.rejects(failing.run(() => Promise.resolve(ran = true)), /no lock/);
  assert.equal(ran, false);
});

// --- grabIptablesLocks against itself (the reference's "GrabIptablesLocks FV") ---

async function withLockFile(fn: (path: string, socketName: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ prefix: "rp-iptlocktest-" });
  try {
    await fn(path, `@rp-test-${crypto.randomUUID()}`);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

function opts(
  lockFilePath: string,
  socketName: string,
  timeoutMs: number,
  probeIntervalMs: number,
): GrabIptablesLocksOptions {
  return { lockFilePath, socketName, timeoutMs, probeIntervalMs };
}

function isTimeout(version: "1.4" | "1.6") {
  return (e: unknown) => e instanceof LockTimeoutError && e.version === version;
}

Deno.test("grabIptablesLocks blocks concurrent invocations", async () => {
  await withLockFile(async (path, socket) => {
    const l = await grabIptablesLocks(opts(path, socket, 1000, 50));
    try {
      const retries: string[] = [];
      await assert.rejects(
        grabIptablesLocks({ ...opts(path, socket, 100, 10), onRetry: (v) => retries.push(v) }),
        isTimeout("1.6"),
      );
      assert.ok(retries.length > 0 && retries.every((v) => v === "1.6"));
    } finally {
      l.close();
    }
  });
});

Deno.test("grabIptablesLocks allows access after being released", async () => {
  await withLockFile(async (path, socket) => {
    const l = await grabIptablesLocks(opts(path, socket, 1000, 50));
    l.close();
    l.close(); // idempotent
    const l2 = await grabIptablesLocks(opts(path, socket, 1000, 50));
    l2.close();
  });
});

Deno.test("grabIptablesLocks blocks concurrent invocations using only the 1.4 lock", async () => {
  await withLockFile(async (path, socket) => {
    const l = await grabIptablesLocks(opts(path, socket, 1000, 50));
    // Remove the locked file so the second grab gets a fresh file and
    // falls through to the 1.4 socket.
    await Deno.remove(path);
    try {
      await assert.rejects(grabIptablesLocks(opts(path, socket, 100, 10)), isTimeout("1.4"));
      // The failed grab released the 1.6 lock it had taken on the new file.
      // Polled: other test modules are workers of this process (--parallel),
      // and a child they spawn holds a copy of every descriptor until it
      // execs, so a lock closed a moment ago can still be held.
      await until(
        "the 1.6 lock on the new file to be released",
        async () => !(await flockHeld(path)),
      );
    } finally {
      l.close();
    }
  });
});

Deno.test("grabIptablesLocks allows access after release using only the 1.4 lock", async () => {
  await withLockFile(async (path, socket) => {
    const l = await grabIptablesLocks(opts(path, socket, 1000, 50));
    await Deno.remove(path);
    l.close();
    const l2 = await grabIptablesLocks(opts(path, socket, 1000, 50));
    l2.close();
  });
});

Deno.test("grabIptablesLocks with a filesystem socket removes it on close", async () => {
  await withLockFile(async (path) => {
    const socketPath = `${path}.sock`;
    const l = await grabIptablesLocks(opts(path, socketPath, 1000, 10));
    assert.ok((await Deno.lstat(socketPath)).isSocket);
    await assert.rejects(
      grabIptablesLocks(opts(`${path}.2`, socketPath, 50, 10)),
      isTimeout("1.4"),
    );
    l.close();
    await assert.rejects(Deno.lstat(socketPath), Deno.errors.NotFound);
    await Deno.remove(`${path}.2`);
  });
});

// --- real second holders ---

async function flockHeld(path: string): Promise<boolean> {
  const out = await new Deno.Command("flock", { args: ["-n", "-E", "75", path, "true"] }).output();
  return out.code === 75;
}

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

const hasFlock = (() => {
  try {
    return new Deno.Command("flock", { args: ["--version"], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "grabIptablesLocks waits for flock(1) holding the lock file",
  ignore: !hasFlock,
  async fn() {
    await withLockFile(async (path, socket) => {
      // flock(1) holds the file while `cat` waits on its stdin.
      const holder = new Deno.Command("flock", {
        args: [path, "cat"],
        stdin: "piped",
        stdout: "null",
      })
        .spawn();
      try {
        await until("flock(1) to hold the lock", () => flockHeld(path));
        await assert.rejects(grabIptablesLocks(opts(path, socket, 150, 10)), isTimeout("1.6"));
      } finally {
        await holder.stdin.close();
        await holder.status;
      }
      const l = await grabIptablesLocks(opts(path, socket, 1000, 10));
      try {
        assert.equal(await flockHeld(path), true, "flock(1) sees our lock");
      } finally {
        l.close();
      }
      // Deno may finish closing the descriptor just after close() returns.
      await until("the lock to be released", async () => !(await flockHeld(path)));
    });
  },
});

Deno.test("grabIptablesLocks waits for another process bound to the abstract socket", async () => {
  await withLockFile(async (path, socket) => {
    const code = `const l = Deno.listen({ transport: "unix", path: "\\0" + Deno.args[0] });
      console.log("ready"); await l.accept();`;
    const holder = new Deno.Command(Deno.execPath(), {
      args: ["eval", code, socket.slice(1)],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.getReader();
    try {
      const first = await reader.read();
      assert.match(new TextDecoder().decode(first.value), /ready/);
      await assert.rejects(grabIptablesLocks(opts(path, socket, 150, 10)), isTimeout("1.4"));
      // The 1.6 lock taken first is released on failure (Deno may finish
      // closing the descriptor just after the rejection).
      await until("the 1.6 lock to be released", async () => !(await flockHeld(path)));
    } finally {
      reader.releaseLock();
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdout.cancel().catch(() => {});
    }
    const l = await grabIptablesLocks(opts(path, socket, 1000, 10));
    l.close();
  });
});

// --- restore lock arguments ---

Deno.test("restoreLockArgs per backend and feature set", () => {
  const lock: Features = { restoreSupportsLock: true };
  const lockAndInterval: Features = {
    restoreSupportsLock: true,
    restoreSupportsWaitInterval: true,
  };
  const cases: [Features, Parameters<typeof restoreLockArgs>[1], string[], boolean][] = [
    [lockAndInterval, { backend: "nft" }, [], false],
    [{}, { backend: "nft" }, [], false],
    [lockAndInterval, { backend: "legacy" }, ["--wait", "10", "--wait-interval", "50000"], false],
    [lock, { backend: "legacy" }, ["--wait", "10"], false],
    [lock, { backend: "legacy", lockTimeoutMs: 30_000 }, ["--wait", "30"], false],
    [lock, { backend: "legacy", lockTimeoutMs: 0 }, ["--wait", "10"], false],
    [lock, { backend: "legacy", lockTimeoutMs: 200 }, ["--wait", "1"], false],
    [lockAndInterval, { backend: "legacy", lockProbeIntervalMs: 5_000 }, [
      "--wait",
      "10",
      "--wait-interval",
      "999999",
    ], false],
    [lockAndInterval, { backend: "legacy", lockProbeIntervalMs: 1.5 }, [
      "--wait",
      "10",
      "--wait-interval",
      "1500",
    ], false],
    [{}, { backend: "legacy" }, [], true],
    [{}, { backend: "legacy", lockTimeoutMs: 0 }, [], false],
  ];
  for (const [features, options, args, tableTakesLock] of cases) {
    assert.deepEqual(
      restoreLockArgs(features, options),
      { args, tableTakesLock },
      JSON.stringify([features, options]),
    );
  }
});
