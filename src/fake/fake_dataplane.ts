/**
 * An in-memory emulator of `iptables-restore` / `iptables-save` (and plain
 * `iptables` commands) for tests: what the engine's unit tests run on, and
 * what users run their own tests on.
 *
 * @module
 */
import type { CommandResult, CommandRunner, RunOptions } from "../host/runner.ts";
import {
  emptyTables,
  type FakeIncompatibility,
  type FakeKernel,
  type FakeTableName,
  type FamilyTables,
} from "./state.ts";
import { parseInvocation, saveProg, VERSION } from "./invocation.ts";
import { type FakeFaultOptions, type Fault, fault, hang, takeFault } from "./faults.ts";
import { orderedChains, renderTable, ruleLine, runSave, withSaveComments } from "./save.ts";
import { runRestore } from "./restore.ts";
import { runIptables } from "./iptables_command.ts";
import { runCat, runIpset } from "./host_commands.ts";
import { wholeStdin } from "./stdin.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

export type { FakeIncompatibility, FakeTableName } from "./state.ts";
export type { FakeFaultOptions } from "./faults.ts";

const DEFAULT_DATE = new Date(Date.UTC(2026, 0, 1, 0, 0, 0));

/** Options of {@linkcode FakeDataplane}. */
export interface FakeDataplaneOptions {
  /** The backend plain `iptables*` binaries use (default `"nft"`). */
  backend?: IptablesVariant;
  /** The date printed in iptables-save's comment lines (default 2026-01-01 00:00 UTC). */
  now?: () => Date;
  /** IP sets that exist (rules naming any other set are refused, as by the kernel). */
  ipsets?: Iterable<string>;
  /** Match extensions this "kernel" lacks (default `["ipvs"]`, as on the capture host). */
  unsupportedExtensions?: Iterable<string>;
}

/** One recorded command. */
export interface FakeCall {
  /** The binary name. */
  cmd: string;
  /** Its arguments. */
  args: string[];
  /** What was written to its standard input, if anything. */
  stdin: string | undefined;
}

/** A callback run when an `iptables-restore` starts, before it reads the state. */
export type FakeRestoreHook = (call: FakeCall, fake: FakeDataplane) => void | Promise<void>;

/**
 * An in-memory iptables for tests. Starts with the built-in chains of all four
 * tables for IPv4 and IPv6 (policy ACCEPT, counters `[0:0]`) in each backend's
 * own state; its {@linkcode FakeDataplane.runner} answers every binary name a
 * `Table` may run (and `cat /proc/net/ip[6]_tables_names`, listing the legacy
 * tables a legacy command has used), parses the restore protocol fully, validates like the
 * kernel (a failing transaction changes nothing) and prints rules in the form
 * the real iptables-save of the chosen backend prints.
 *
 * @example Seeding and reading the fake like a real host
 * ```ts
 * import assert from "node:assert/strict";
 * import { FakeDataplane } from "@rampart/iptables/testing";
 * const fake = new FakeDataplane();
 * await fake.runner.run("iptables-restore", ["--noflush"], {
 *   stdin: "*filter\n-N rp-web\n-A rp-web --source 10.0.0.4 --jump ACCEPT\nCOMMIT\n",
 * });
 * assert.deepEqual(fake.rules("filter", "rp-web"), ["-A rp-web -s 10.0.0.4/32 -j ACCEPT"]);
 * ```
 */
export class FakeDataplane {
  /** The backend plain `iptables*` binaries use. */
  readonly backend: IptablesVariant;
  /** Every command run through {@linkcode FakeDataplane.runner}, in order. */
  readonly calls: FakeCall[] = [];
  /** The IP sets that exist (`ipset list -n`); rules may only name these. */
  readonly ipsets: Set<string>;
  /** A {@linkcode CommandRunner} that runs commands against this fake. */
  readonly runner: CommandRunner;
  /** The tables of both backends and families, and what the commands consult beside them. */
  readonly #kernel: FakeKernel;
  readonly #restoreFaults: Fault[] = [];
  readonly #saveFaults: Fault[] = [];
  #hangs = 0;
  readonly #hooks: FakeRestoreHook[] = [];

  /**
   * Creates a fake with only the kernel's built-in chains.
   *
   * @param options Backend, clock, IP sets and missing extensions.
   */
  constructor(options: FakeDataplaneOptions = {}) {
    this.backend = options.backend ?? "nft";
    this.ipsets = new Set(options.ipsets ?? []);
    this.#kernel = {
      tables: emptyTables(),
      ipsets: this.ipsets,
      unsupported: new Set(options.unsupportedExtensions ?? ["ipvs"]),
      incompatible: new Map(),
      legacyLoaded: new Set(),
      now: options.now ?? (() => DEFAULT_DATE),
    };
    this.runner = {
      streamsStdin: true,
      run: (cmd, args, opts) => this.#run(cmd, args, opts ?? {}),
    };
  }

  /**
   * Adds an IP set name, so rules may match on it.
   *
   * @param name The set's name.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * fake.addIpSet("rp-allowed");
   * const r = await fake.runner.run("ipset", ["list", "-n"]);
   * assert.equal(r.stdout.trim(), "rp-allowed");
   * ```
   */
  addIpSet(name: string): void {
    this.ipsets.add(name);
  }

  /**
   * Makes the next `iptables-restore` call(s) fail without changing anything.
   *
   * @param options Output, exit code (default 1) and number of calls.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * fake.failNextRestore({ stderr: "iptables-restore: line 2 failed\n" });
   * const r = await fake.runner.run("iptables-restore", ["--noflush"], { stdin: "*filter\nCOMMIT\n" });
   * assert.equal(r.code, 1);
   * ```
   */
  failNextRestore(options: FakeFaultOptions = {}): void {
    this.#restoreFaults.push(fault(options, "iptables-restore: line 1 failed\n"));
  }

  /**
   * Makes the next `iptables-save` call(s) fail.
   *
   * @param options Output, exit code (default 1) and number of calls.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * fake.failNextSave({ count: 2 });
   * assert.equal((await fake.runner.run("iptables-save", ["-t", "filter"])).code, 1);
   * ```
   */
  failNextSave(options: FakeFaultOptions = {}): void {
    this.#saveFaults.push(
      fault(options, "iptables-save: Cannot initialize: Resource temporarily unavailable\n"),
    );
  }

  /**
   * Makes the next `iptables-restore` call(s) hang: the call resolves only
   * when the caller's `timeoutMs` passes (as killed: code 137, `timedOut`),
   * and never without a timeout. Nothing is applied.
   *
   * @param options How many calls hang (default 1).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * fake.hangNextRestore();
   * const r = await fake.runner.run("iptables-restore", [], { stdin: "", timeoutMs: 10 });
   * assert.ok(r.timedOut);
   * ```
   */
  hangNextRestore(options: { count?: number } = {}): void {
    this.#hangs += options.count ?? 1;
  }

  /**
   * Registers a callback run whenever an `iptables-restore` starts, before it
   * looks at the tables: the place to act as another program that rewrites
   * the tables between our save and our restore.
   *
   * @param hook The callback; it may change the fake (e.g. with {@linkcode FakeDataplane.load}).
   * @returns A function that unregisters it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * const off = fake.onBeforeRestore(async (_call, f) => {
   *   await f.load("*filter\n-I INPUT -s 192.0.2.1 -j DROP\nCOMMIT\n");
   * });
   * await fake.runner.run("iptables-restore", ["--noflush"], { stdin: "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n" });
   * off();
   * assert.deepEqual(fake.rules("filter", "INPUT"), ["-A INPUT -s 192.0.2.1/32 -j DROP", "-A INPUT -j ACCEPT"]);
   * ```
   */
  onBeforeRestore(hook: FakeRestoreHook): () => void {
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i !== -1) this.#hooks.splice(i, 1);
    };
  }

  /**
   * Makes `iptables-nft-save` report a table as written by the `nft` tool:
   * `"incompatible"` prints ``# Table `filter' is incompatible, use 'nft' tool.``
   * instead of the table; `"base-chains"` prints the "contains incompatible
   * base-chains" line before it. `undefined` clears it. Exit code stays 0.
   *
   * @param table The table.
   * @param options Family (default 4) and kind (default `"incompatible"`, `undefined` clears).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * fake.setIncompatible("filter");
   * const r = await fake.runner.run("iptables-nft-save", ["-t", "filter"]);
   * assert.ok(r.stdout.includes("# Table `filter' is incompatible, use 'nft' tool."));
   * ```
   */
  setIncompatible(
    table: FakeTableName,
    options: { ipVersion?: 4 | 6; kind?: FakeIncompatibility | undefined } = {},
  ): void {
    const key = `${options.ipVersion ?? 4}/${table}`;
    const kind = "kind" in options ? options.kind : "incompatible";
    if (kind === undefined) this.#kernel.incompatible.delete(key);
    else this.#kernel.incompatible.set(key, kind);
  }

  /**
   * Prints a table as `iptables-save -t <table>` would (without the
   * `# Generated`/`# Completed` comment lines unless `comments` is set).
   *
   * @param table The table.
   * @param options Family (default 4), backend (default the fake's), counters and comments.
   * @returns The text.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * assert.equal(
   *   new FakeDataplane().dump("raw"),
   *   "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
   * );
   * ```
   */
  dump(
    table: FakeTableName,
    options: {
      ipVersion?: 4 | 6;
      backend?: IptablesVariant;
      counters?: boolean;
      comments?: boolean;
    } = {},
  ): string {
    const backend = options.backend ?? this.backend;
    const family = options.ipVersion ?? 4;
    const body = renderTable(
      table,
      this.#kernel.tables[backend][family][table],
      options.counters ?? false,
    );
    if (!options.comments) return body;
    const prog = saveProg(family, backend);
    return withSaveComments(body, { prog, backend, date: this.#kernel.now() });
  }

  /**
   * Applies an iptables-restore script directly (`--noflush` unless
   * `flush` is set), as another program would; throws when it fails.
   *
   * @param text The script.
   * @param options Family (default 4), backend (default the fake's), flush, counters.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * await fake.load("*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n");
   * assert.deepEqual(fake.rules("nat", "POSTROUTING"), ["-A POSTROUTING -o eth0 -j MASQUERADE"]);
   * ```
   */
  load(
    text: string,
    options: {
      ipVersion?: 4 | 6;
      backend?: IptablesVariant;
      flush?: boolean;
      counters?: boolean;
    } = {},
  ): Promise<void> {
    const backend = options.backend ?? this.backend;
    const family = options.ipVersion ?? 4;
    const args = [...(options.flush ? [] : ["--noflush"]), ...(options.counters ? ["-c"] : [])];
    const inv = parseInvocation(
      `${family === 4 ? "iptables" : "ip6tables"}-${backend}-restore`,
      this.backend,
    )!;
    const r = runRestore(this.#kernel, inv, { args, stdin: text });
    if (r.code !== 0) return Promise.reject(new Error(`Restore failed: ${r.stderr.trim()}`));
    return Promise.resolve();
  }

  /**
   * The rules of one chain as iptables-save prints them (`-A <chain> …`).
   *
   * @param table The table.
   * @param chain The chain.
   * @param options Family (default 4) and backend (default the fake's).
   * @returns The lines; `[]` for an empty or missing chain.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * await fake.load("*filter\n-A INPUT --protocol tcp --destination-port 22 --jump ACCEPT\nCOMMIT\n");
   * assert.deepEqual(fake.rules("filter", "INPUT"), ["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]);
   * ```
   */
  rules(
    table: FakeTableName,
    chain: string,
    options: { ipVersion?: 4 | 6; backend?: IptablesVariant } = {},
  ): string[] {
    const c = this.#tables(options)[table].get(chain);
    return c ? c.rules.map((r) => ruleLine(chain, r)) : [];
  }

  /**
   * The chains of a table: built-in chains first, then user chains sorted.
   *
   * @param table The table.
   * @param options Family (default 4) and backend (default the fake's).
   * @returns The chain names.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * assert.deepEqual(new FakeDataplane().chains("raw"), ["PREROUTING", "OUTPUT"]);
   * ```
   */
  chains(
    table: FakeTableName,
    options: { ipVersion?: 4 | 6; backend?: IptablesVariant } = {},
  ): string[] {
    return orderedChains(this.#tables(options)[table]);
  }

  /**
   * Sets the packet and byte counters of a rule (1-based position), as
   * traffic would.
   *
   * @param table The table.
   * @param chain The chain.
   * @param options Position, counters, family (default 4) and backend.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FakeDataplane } from "@rampart/iptables/testing";
   * const fake = new FakeDataplane();
   * await fake.load("*filter\n-A INPUT -j ACCEPT\nCOMMIT\n");
   * fake.setCounters("filter", "INPUT", { position: 1, packets: 3n, bytes: 180n });
   * assert.ok(fake.dump("filter", { counters: true }).includes("[3:180] -A INPUT -j ACCEPT"));
   * ```
   */
  setCounters(
    table: FakeTableName,
    chain: string,
    options: {
      position: number;
      packets: bigint;
      bytes: bigint;
      ipVersion?: 4 | 6;
      backend?: IptablesVariant;
    },
  ): void {
    const c = this.#tables(options)[table].get(chain);
    const r = c?.rules[options.position - 1];
    if (!r) throw new RangeError(`No rule ${options.position} in chain ${chain}`);
    r.packets = options.packets;
    r.bytes = options.bytes;
  }

  async #run(cmd: string, args: string[], opts: RunOptions): Promise<CommandResult> {
    const stdin = opts.stdin === undefined ? undefined : await wholeStdin(opts.stdin);
    const call: FakeCall = { cmd, args: [...args], stdin };
    this.calls.push(call);
    const base = cmd.slice(cmd.lastIndexOf("/") + 1);
    if (base === "ipset") return runIpset(this.ipsets, args);
    if (base === "cat") return runCat(this.#kernel, args);
    const inv = parseInvocation(base, this.backend);
    if (!inv) return { code: 127, stdout: "", stderr: `${cmd}: command not found` };
    if (args.includes("--version") || args.includes("-V")) {
      return { code: 0, stdout: `${inv.prog} ${VERSION} (${inv.tag})\n`, stderr: "" };
    }
    if (inv.kind === "save") {
      const f = takeFault(this.#saveFaults);
      if (f) return f;
      return runSave(this.#kernel, inv, args);
    }
    if (inv.kind === "restore") {
      for (const hook of [...this.#hooks]) await hook(call, this);
      if (this.#hangs > 0) {
        this.#hangs--;
        return await hang(opts.timeoutMs);
      }
      const f = takeFault(this.#restoreFaults);
      if (f) return f;
      return runRestore(this.#kernel, inv, { args, stdin: stdin ?? "" });
    }
    return runIptables(this.#kernel, inv, args);
  }

  /** The tables of a family and backend (default IPv4 and the fake's backend). */
  #tables(options: { ipVersion?: 4 | 6; backend?: IptablesVariant }): FamilyTables {
    return this.#kernel.tables[options.backend ?? this.backend][options.ipVersion ?? 4];
  }
}
