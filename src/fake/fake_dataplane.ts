/**
 * An in-memory emulator of `iptables-restore` / `iptables-save` (and plain
 * `iptables` commands) for tests: what the engine's unit tests run on, and
 * what users run their own tests on.
 *
 * @module
 */
import type { CommandResult, CommandRunner, RunOptions } from "../host/runner.ts";
import { KNOWN_TARGETS, type ParsedRule, parseRule, RuleParseError } from "./normalise.ts";
import {
  type ChainState,
  cloneTable,
  emptyTable,
  type FakeTableName,
  hooksByChain,
  isFakeTableName,
  kernelHookCheck,
  kernelRuleCheck,
  referenceCount,
  type RuleState,
  type TableState,
} from "./state.ts";
import { tokenizeRestoreLine } from "../../dsl/tokenize.ts";
import { wholeStdin } from "./stdin.ts";
import type { IptablesVariant } from "../host/iptables_variant.ts";

export type { FakeTableName } from "./state.ts";

/** The iptables version the fake reports. */
const VERSION = "v1.8.9";
const TABLE_ORDER: readonly FakeTableName[] = ["filter", "nat", "mangle", "raw"];
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

/** Options of the fault injectors. */
export interface FakeFaultOptions {
  /** Standard error of the failing call. */
  stderr?: string;
  /** Standard output of the failing call (default empty). */
  stdout?: string;
  /** Exit code (default 1). */
  code?: number;
  /** How many consecutive calls fail (default 1). */
  count?: number;
}

/** A callback run when an `iptables-restore` starts, before it reads the state. */
export type FakeRestoreHook = (call: FakeCall, fake: FakeDataplane) => void | Promise<void>;

/** Which incompatibility `iptables-nft-save` reports for a table. */
export type FakeIncompatibility = "incompatible" | "base-chains";

interface Fault {
  result: CommandResult;
  count: number;
}

interface Invocation {
  family: 4 | 6;
  backend: IptablesVariant;
  kind: "main" | "save" | "restore";
  prog: string;
  tag: string;
}

class Failure {
  constructor(readonly code: number, readonly stderr: string) {}
}

/** A kernel rejection in an nft batch: reported (with the others) at COMMIT. */
class KernelReject extends Failure {
  constructor(readonly detail: string, readonly warning: string) {
    super(4, warning + detail);
  }
}

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
  readonly #state: Record<IptablesVariant, Record<4 | 6, Record<FakeTableName, TableState>>>;
  readonly #now: () => Date;
  readonly #unsupported: Set<string>;
  readonly #restoreFaults: Fault[] = [];
  readonly #saveFaults: Fault[] = [];
  #hangs = 0;
  readonly #hooks: FakeRestoreHook[] = [];
  readonly #incompatible = new Map<string, FakeIncompatibility>();
  /** Legacy tables a legacy command has used, by `"<family>/<table>"` (see `#cat`). */
  readonly #legacyLoaded = new Set<string>();

  /**
   * Creates a fake with only the kernel's built-in chains.
   *
   * @param options Backend, clock, IP sets and missing extensions.
   */
  constructor(options: FakeDataplaneOptions = {}) {
    this.backend = options.backend ?? "nft";
    this.#now = options.now ?? (() => DEFAULT_DATE);
    this.ipsets = new Set(options.ipsets ?? []);
    this.#unsupported = new Set(options.unsupportedExtensions ?? ["ipvs"]);
    const fresh = () => ({
      4: Object.fromEntries(TABLE_ORDER.map((t) => [t, emptyTable(t)])) as Record<
        FakeTableName,
        TableState
      >,
      6: Object.fromEntries(TABLE_ORDER.map((t) => [t, emptyTable(t)])) as Record<
        FakeTableName,
        TableState
      >,
    });
    this.#state = { nft: fresh(), legacy: fresh() };
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
   * assert.equal(r.stdout, "rp-allowed\n");
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
   * assert.deepEqual(
   *   fake.rules("filter", "INPUT"),
   *   ["-A INPUT -s 192.0.2.1/32 -j DROP", "-A INPUT -j ACCEPT"],
   * );
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
   * assert.equal(r.stdout, "# Table `filter' is incompatible, use 'nft' tool.\n");
   * ```
   */
  setIncompatible(
    table: FakeTableName,
    options: { ipVersion?: 4 | 6; kind?: FakeIncompatibility | undefined } = {},
  ): void {
    const key = `${options.ipVersion ?? 4}/${table}`;
    const kind = "kind" in options ? options.kind : "incompatible";
    if (kind === undefined) this.#incompatible.delete(key);
    else this.#incompatible.set(key, kind);
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
    const body = renderTable(table, this.#state[backend][family][table], options.counters ?? false);
    if (!options.comments) return body;
    const prog = saveProg(family, backend);
    const date = ctime(this.#now());
    return `# Generated by ${prog} ${VERSION}${
      backend === "nft" ? " (nf_tables)" : ""
    } on ${date}\n` +
      body + `# Completed on ${date}\n`;
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
    const r = this.#restore(inv, args, text);
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
   * assert.deepEqual(
   *   fake.rules("filter", "INPUT"),
   *   ["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"],
   * );
   * ```
   */
  rules(
    table: FakeTableName,
    chain: string,
    options: { ipVersion?: 4 | 6; backend?: IptablesVariant } = {},
  ): string[] {
    const c = this.#state[options.backend ?? this.backend][options.ipVersion ?? 4][table].get(
      chain,
    );
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
    return orderedChains(
      this.#state[options.backend ?? this.backend][options.ipVersion ?? 4][table],
    );
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
    const c = this.#state[options.backend ?? this.backend][options.ipVersion ?? 4][table].get(
      chain,
    );
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
    if (base === "ipset") return this.#ipset(args);
    if (base === "cat") return this.#cat(args);
    const inv = parseInvocation(base, this.backend);
    if (!inv) return { code: 127, stdout: "", stderr: `${cmd}: command not found` };
    if (args.includes("--version") || args.includes("-V")) {
      return { code: 0, stdout: `${inv.prog} ${VERSION} (${inv.tag})\n`, stderr: "" };
    }
    if (inv.kind === "save") {
      const f = takeFault(this.#saveFaults);
      if (f) return f;
      return this.#save(inv, args);
    }
    if (inv.kind === "restore") {
      for (const hook of [...this.#hooks]) await hook(call, this);
      if (this.#hangs > 0) {
        this.#hangs--;
        return await hang(opts.timeoutMs);
      }
      const f = takeFault(this.#restoreFaults);
      if (f) return f;
      return this.#restore(inv, args, stdin ?? "");
    }
    return this.#command(inv, args);
  }

  #ipset(args: string[]): CommandResult {
    const [sub, ...rest] = args;
    if ((sub === "list" || sub === "-L") && rest.includes("-n")) {
      const names = [...this.ipsets];
      return { code: 0, stdout: names.map((n) => n + "\n").join(""), stderr: "" };
    }
    if ((sub === "create" || sub === "-N") && rest[0] !== undefined) {
      if (this.ipsets.has(rest[0]) && !rest.includes("-exist")) {
        return {
          code: 1,
          stdout: "",
          stderr: "ipset v7.17: Set cannot be created: set with the same name already exists\n",
        };
      }
      this.ipsets.add(rest[0]);
      return { code: 0, stdout: "", stderr: "" };
    }
    if ((sub === "destroy" || sub === "-X") && rest[0] !== undefined) {
      this.ipsets.delete(rest[0]);
      return { code: 0, stdout: "", stderr: "" };
    }
    if (sub === "version" || sub === "--version" || sub === "-v") {
      return { code: 0, stdout: "ipset v7.17, protocol version: 7\n", stderr: "" };
    }
    return { code: 1, stdout: "", stderr: `ipset v7.17: The fake does not emulate this command\n` };
  }

  /**
   * `cat /proc/net/ip[6]_tables_names`: the legacy tables of the family that
   * exist, i.e. that a legacy command has used (as the kernel instantiates a
   * legacy table when iptables-legacy first touches it).
   */
  #cat(args: string[]): CommandResult {
    const path = args.filter((a) => a !== "--")[0];
    const family = path === "/proc/net/ip_tables_names"
      ? 4
      : path === "/proc/net/ip6_tables_names"
      ? 6
      : undefined;
    if (family === undefined) {
      return { code: 1, stdout: "", stderr: `cat: ${path}: No such file or directory\n` };
    }
    const names = TABLE_ORDER.filter((t) => this.#legacyLoaded.has(`${family}/${t}`));
    return { code: 0, stdout: names.map((t) => t + "\n").join(""), stderr: "" };
  }

  /** Notes that a legacy command used a table (see `#cat`). */
  #touch(inv: Invocation, table: string | undefined): void {
    if (inv.backend === "legacy" && table !== undefined && isFakeTableName(table)) {
      this.#legacyLoaded.add(`${inv.family}/${table}`);
    }
  }

  #save(inv: Invocation, args: string[]): CommandResult {
    let table: string | undefined;
    let counters = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === "-t" || a === "--table") table = args[++i];
      else if (a.startsWith("--table=")) table = a.slice("--table=".length);
      else if (a === "-c" || a === "--counters") counters = true;
      else if (a === "-M" || a === "--modprobe" || a === "-f" || a === "--file") i++;
      else {
        return {
          code: 2,
          stdout: "",
          stderr: `${inv.prog} ${VERSION} (${inv.tag}): unknown option "${a}"\n`,
        };
      }
    }
    if (table !== undefined && !isFakeTableName(table)) {
      return inv.backend === "nft"
        ? { code: 1, stdout: "", stderr: `Table \`${table}' does not exist\n` }
        : {
          code: 1,
          stdout: "",
          stderr:
            `${inv.prog} ${VERSION} (legacy): Cannot initialize: Table does not exist (do you need to insmod?)\n`,
        };
    }
    this.#touch(inv, table);
    const tables = table === undefined ? TABLE_ORDER : [table as FakeTableName];
    const date = ctime(this.#now());
    let out = "";
    for (const t of tables) {
      const incompatible = inv.backend === "nft"
        ? this.#incompatible.get(`${inv.family}/${t}`)
        : undefined;
      if (incompatible === "incompatible") {
        out += `# Table \`${t}' is incompatible, use 'nft' tool.\n`;
        continue;
      }
      if (incompatible === "base-chains") {
        out += `# Table \`${t}' contains incompatible base-chains, use 'nft' tool to list them.\n`;
      }
      out += `# Generated by ${inv.prog} ${VERSION}${
        inv.backend === "nft" ? " (nf_tables)" : ""
      } on ${date}\n`;
      out += renderTable(t, this.#state[inv.backend][inv.family][t], counters);
      out += `# Completed on ${date}\n`;
    }
    return { code: 0, stdout: out, stderr: "" };
  }

  #restore(inv: Invocation, args: string[], stdin: string): CommandResult {
    let noflush = false;
    let counters = false;
    let onlyTable: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === "--noflush" || a === "-n") noflush = true;
      else if (a === "--counters" || a === "-c") counters = true;
      else if (a === "--verbose" || a === "-v" || a === "--test" || a === "-t") continue;
      else if (a === "--wait" || a === "-w" || a === "--wait-interval" || a === "-W") {
        if (args[i + 1] !== undefined && /^[0-9]+$/.test(args[i + 1]!)) i++;
      } else if (a.startsWith("--wait=") || a.startsWith("--wait-interval=")) continue;
      else if (a === "--table" || a === "-T") onlyTable = args[++i];
      else if (a === "--modprobe" || a === "-M") i++;
      else {
        return {
          code: 2,
          stdout: "",
          stderr: `${inv.prog} ${VERSION} (${inv.tag}): unknown option "${a}"\n`,
        };
      }
    }
    const lines = stdin.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const tables = this.#state[inv.backend][inv.family];
    let cur:
      | { name: FakeTableName; work: TableState; skip: boolean; rejects: KernelReject[] }
      | undefined;
    const stderr = "";
    try {
      for (let idx = 0; idx < lines.length; idx++) {
        const n = idx + 1;
        const line = lines[idx]!;
        if (line === "" || line.startsWith("#")) continue;
        if (line.startsWith("*")) {
          if (cur) throw new Failure(2, usage(inv, `Bad argument \`${line}'`, n, true));
          const name = line.slice(1).trim();
          this.#touch(inv, name);
          if (!isFakeTableName(name)) {
            throw new Failure(
              2,
              usage(
                inv,
                inv.backend === "nft"
                  ? `${inv.prog}: line ${n} table name '${name}' invalid`
                  : `${inv.prog}: unable to initialize table '${name}'`,
                n,
              ),
            );
          }
          const skip = onlyTable !== undefined && onlyTable !== name;
          const work = cloneTable(tables[name]);
          if (!noflush && !skip) {
            for (const [cname, c] of [...work]) {
              if (c.builtin) c.rules = [];
              else work.delete(cname);
            }
          }
          cur = { name, work, skip, rejects: [] };
          continue;
        }
        if (line === "COMMIT") {
          if (!cur) throw new Failure(1, lineFailed(inv, n));
          if (cur.rejects.length > 0) {
            throw new Failure(
              4,
              cur.rejects.map((r) => r.warning).join("") +
                `${inv.prog} ${VERSION} (${inv.tag}): \n` +
                cur.rejects.map((r) => r.detail).join(""),
            );
          }
          if (!cur.skip) {
            if (inv.backend === "legacy") this.#commitChecks(inv, cur.work, n);
            for (const c of cur.work.values()) for (const r of c.rules) delete r.line;
            tables[cur.name] = cur.work;
          }
          cur = undefined;
          continue;
        }
        if (!cur) throw new Failure(1, lineFailed(inv, n));
        if (cur.skip) continue;
        if (line.startsWith(":")) {
          this.#chainLine(inv, cur.work, line, n, counters);
          continue;
        }
        let tokens = tokenizeRestoreLine(line);
        let lineCounters: [bigint, bigint] | undefined;
        const m = /^\[(\d+):(\d+)\]$/.exec(tokens[0] ?? "");
        if (m) {
          if (counters) lineCounters = [BigInt(m[1]!), BigInt(m[2]!)];
          tokens = tokens.slice(1);
        }
        if (inv.backend === "nft" && inv.family === 6) lineCounters = undefined;
        try {
          this.#command1(inv, cur.name, cur.work, tokens, {
            line: n,
            lineCounters,
            commitLine: () => findCommit(lines, idx),
          });
        } catch (e) {
          if (!(e instanceof KernelReject)) throw e;
          cur.rejects.push(e);
        }
      }
      if (cur) {
        throw new Failure(1, `${inv.prog}: COMMIT expected at line ${lines.length + 1}\n`);
      }
    } catch (e) {
      if (e instanceof Failure) return { code: e.code, stdout: "", stderr: stderr + e.stderr };
      throw e;
    }
    return { code: 0, stdout: "", stderr };
  }

  #chainLine(inv: Invocation, work: TableState, line: string, n: number, counters: boolean): void {
    const parts = line.slice(1).trim().split(/\s+/);
    const [name = "", policy = "-", cnt] = parts;
    const c = work.get(name);
    const m = cnt === undefined ? null : /^\[(\d+):(\d+)\]$/.exec(cnt);
    if (c?.builtin) {
      if (policy !== "ACCEPT" && policy !== "DROP") {
        if (policy === "-") return;
        throw new Failure(
          1,
          inv.backend === "nft"
            ? lineFailed(inv, n, "Bad policy name.")
            : `${inv.prog} ${VERSION} (legacy): Can't set policy \`${policy}' on \`${name}' line ${n}: Bad policy name\n`,
        );
      }
      c.policy = policy;
      if (counters && m) [c.packets, c.bytes] = [BigInt(m[1]!), BigInt(m[2]!)];
      return;
    }
    if (policy !== "-" && inv.backend === "legacy") {
      throw new Failure(
        1,
        `${inv.prog} ${VERSION} (legacy): Can't set policy \`${policy}' on \`${name}' line ${n}: Bad built-in chain name\n`,
      );
    }
    const bad = chainNameProblem(name);
    if (bad) throw new Failure(2, usage(inv, bad, n));
    if (c) c.rules = [];
    else work.set(name, { builtin: false, policy: "-", packets: 0n, bytes: 0n, rules: [] });
  }

  /** Applies one command line to a table copy; returns warnings for stderr. */
  #command1(
    inv: Invocation,
    table: FakeTableName,
    work: TableState,
    tokens: string[],
    ctx: {
      line: number;
      lineCounters: [bigint, bigint] | undefined;
      commitLine: () => number | undefined;
    },
  ): string {
    const n = ctx.line;
    const [cmd, ...rest] = tokens;
    const failed = (reason: string) => new Failure(1, lineFailed(inv, n, reason));
    const NO_CHAIN = "No chain/target/match by that name.";
    const chainOf = (name: string | undefined): ChainState => {
      if (name === undefined) {
        throw new Failure(2, usage(inv, `option "${cmd}" requires an argument`, n));
      }
      const c = work.get(name);
      if (!c) throw failed(NO_CHAIN);
      return c;
    };
    const build = (ruleArgs: string[], op: string, chainName: string): RuleState => {
      const parsed = this.#parse(inv, ruleArgs, n, { table, chain: chainName });
      this.#checkTarget(inv, work, parsed, n, ctx.commitLine);
      let warn = "";
      for (const mm of parsed.matches) {
        if (this.#unsupported.has(mm.name)) {
          warn +=
            `Warning: Extension ${mm.name} revision 0 not supported, missing kernel module?\n`;
          if (inv.backend === "nft") {
            throw new KernelReject(
              kernelError(n, op, "No such file or directory", `rule in chain ${chainName}`),
              warn,
            );
          }
          throw new Failure(1, warn + lineFailed(inv, ctx.commitLine() ?? n));
        }
      }
      const why = kernelRuleCheck(table, parsed, inv.backend, inv.family);
      if (why) {
        if (inv.backend === "nft") {
          throw new KernelReject(
            kernelError(n, op, "Invalid argument", `rule in chain ${chainName}`),
            "",
          );
        }
        throw new Failure(1, lineFailed(inv, ctx.commitLine() ?? n));
      }
      if (inv.backend === "nft") {
        // nf_tables validates the chains a new rule makes reachable, with the
        // hooks of its chain; checkentry() sees a hook mask only in a base chain.
        const hooks = hooksByChain(work).get(chainName);
        if (hooks && hooks.size > 0) {
          const probe = cloneTable(work);
          probe.get(chainName)!.rules.push({ spec: parsed.spec, parsed, packets: 0n, bytes: 0n });
          const reach = reachableFrom(probe, parsed, chainName);
          const base = work.get(chainName)!.builtin;
          for (const cname of reach) {
            const rules = cname === chainName
              ? [parsed]
              : probe.get(cname)!.rules.map((r) => r.parsed);
            const entry = base && cname === chainName;
            if (rules.some((r) => kernelHookCheck(r, hooks, entry))) {
              throw new KernelReject(
                kernelError(n, op, "Invalid argument", `rule in chain ${chainName}`),
                "",
              );
            }
          }
        }
      }
      const cnt = ctx.lineCounters ??
        (inv.backend === "nft" && inv.family === 6 ? undefined : parsed.counters) ?? [0n, 0n];
      return { spec: parsed.spec, parsed, packets: cnt[0], bytes: cnt[1], line: n };
    };
    switch (cmd) {
      case "-A":
      case "--append": {
        const c = chainOf(rest[0]);
        c.rules.push(build(rest.slice(1), "RULE_APPEND", rest[0]!));
        return "";
      }
      case "-I":
      case "--insert": {
        const c = chainOf(rest[0]);
        let pos = 1;
        let ruleArgs = rest.slice(1);
        if (ruleArgs[0] !== undefined && /^[0-9]+$/.test(ruleArgs[0])) {
          pos = Number(ruleArgs[0]);
          ruleArgs = ruleArgs.slice(1);
          if (pos < 1) throw new Failure(2, usage(inv, `Invalid rule number \`${pos}'`, n));
        }
        if (pos > c.rules.length + 1) throw failed("Index of insertion too big.");
        c.rules.splice(pos - 1, 0, build(ruleArgs, "RULE_INSERT", rest[0]!));
        return "";
      }
      case "-R":
      case "--replace": {
        const c = chainOf(rest[0]);
        const num = rest[1];
        if (num === undefined || !/^[0-9]+$/.test(num) || Number(num) < 1) {
          throw new Failure(2, usage(inv, `Invalid rule number \`${num ?? ""}'`, n));
        }
        const pos = Number(num);
        if (pos > c.rules.length) throw failed("Index of replacement too big.");
        c.rules[pos - 1] = build(rest.slice(2), "RULE_REPLACE", rest[0]!);
        return "";
      }
      case "-D":
      case "--delete": {
        const c = chainOf(rest[0]);
        if (rest.length === 2 && /^[0-9]+$/.test(rest[1]!)) {
          const pos = Number(rest[1]);
          if (pos < 1) throw new Failure(2, usage(inv, `Invalid rule number \`${pos}'`, n));
          if (pos > c.rules.length) throw failed("Index of deletion too big.");
          c.rules.splice(pos - 1, 1);
          return "";
        }
        const parsed = this.#parse(inv, rest.slice(1), n, { table, chain: rest[0]! });
        if (parsed.target !== undefined && !parsed.targetIsExtension && !work.has(parsed.target)) {
          this.#checkTarget(inv, work, parsed, n, ctx.commitLine);
        }
        const i = c.rules.findIndex((r) => r.parsed.identity === parsed.identity);
        if (i === -1) throw failed("Bad rule (does a matching rule exist in that chain?).");
        c.rules.splice(i, 1);
        return "";
      }
      case "-N":
      case "--new-chain": {
        const name = rest[0];
        if (name === undefined) {
          throw new Failure(2, usage(inv, `option "${cmd}" requires an argument`, n));
        }
        const bad = chainNameProblem(name);
        if (bad) throw new Failure(2, usage(inv, bad, n));
        if (work.has(name)) throw failed("Chain already exists.");
        work.set(name, { builtin: false, policy: "-", packets: 0n, bytes: 0n, rules: [] });
        return "";
      }
      case "-X":
      case "--delete-chain": {
        const names = rest[0] === undefined
          ? [...work].filter(([, c]) => !c.builtin).map(([k]) => k)
          : [rest[0]];
        for (const name of names) {
          const c = work.get(name);
          if (!c || c.builtin) throw failed(NO_CHAIN);
          if (c.rules.length > 0 || referenceCount(work, name) > 0) {
            if (inv.backend === "nft") {
              throw new KernelReject(
                kernelError(n, "CHAIN_DEL", "Device or resource busy", `chain ${name}`),
                "",
              );
            }
            throw new Failure(1, lineFailed(inv, n));
          }
          work.delete(name);
        }
        return "";
      }
      case "-F":
      case "--flush": {
        if (rest[0] === undefined) { for (const c of work.values()) c.rules = []; }
        else chainOf(rest[0]).rules = [];
        return "";
      }
      case "-Z":
      case "--zero": {
        const list = rest[0] === undefined ? [...work.values()] : [chainOf(rest[0])];
        for (const c of list) {
          c.packets = c.bytes = 0n;
          for (const r of c.rules) r.packets = r.bytes = 0n;
        }
        return "";
      }
      case "-P":
      case "--policy": {
        const c = chainOf(rest[0]);
        if (!c.builtin) throw failed("Bad built-in chain name.");
        if (rest[1] !== "ACCEPT" && rest[1] !== "DROP") throw failed("Bad policy name.");
        c.policy = rest[1];
        return "";
      }
      case "-E":
      case "--rename-chain": {
        const c = chainOf(rest[0]);
        const to = rest[1];
        if (to === undefined) {
          throw new Failure(2, usage(inv, `option "${cmd}" requires an argument`, n));
        }
        if (c.builtin) throw failed(NO_CHAIN);
        if (work.has(to)) throw failed("File exists.");
        work.delete(rest[0]!);
        work.set(to, c);
        for (const ch of work.values()) {
          for (const r of ch.rules) {
            if (r.parsed.target === rest[0] && !r.parsed.targetIsExtension) {
              const toks = [...(r.spec.split(" "))];
              const i = toks.lastIndexOf(rest[0]!);
              toks[i] = to;
              const parsed = this.#parse(inv, tokenizeRestoreLine(toks.join(" ")), n);
              r.parsed = parsed;
              r.spec = parsed.spec;
            }
          }
        }
        return "";
      }
      default:
        throw new Failure(2, usage(inv, `Bad argument \`${cmd ?? ""}'`, n, true));
    }
  }

  #parse(
    inv: Invocation,
    ruleArgs: string[],
    n: number,
    where?: { table: string; chain: string },
  ): ParsedRule {
    let parsed: ParsedRule;
    try {
      parsed = parseRule(ruleArgs, {
        ipVersion: inv.family,
        backend: inv.backend,
        ...(where === undefined ? {} : { where }),
      });
    } catch (e) {
      if (e instanceof RuleParseError) throw new Failure(2, usage(inv, e.message, n, e.bare));
      throw e;
    }
    for (const m of parsed.matches) {
      if (inv.backend === "nft" && (m.name === "tcp" || m.name === "udp")) {
        if (parsed.protocol !== (m.name === "tcp" ? 6 : 17)) {
          throw new Failure(
            2,
            usage(inv, `${m.name.toUpperCase()} match requires '-p ${m.name}'`, n),
          );
        }
      }
      if (m.name !== "set") continue;
      for (const o of m.options) {
        if (o.name === "--match-set" && !this.ipsets.has(o.args[0]!)) {
          throw new Failure(2, usage(inv, `Set ${o.args[0]} doesn't exist.\n`, n));
        }
      }
    }
    return parsed;
  }

  #checkTarget(
    inv: Invocation,
    work: TableState,
    parsed: ParsedRule,
    n: number,
    commitLine: () => number | undefined,
  ): void {
    const t = parsed.target;
    if (t === undefined || parsed.targetIsExtension) return;
    const c = work.get(t);
    if (c && !c.builtin) return;
    if (inv.backend === "legacy") {
      throw new Failure(
        2,
        usage(
          inv,
          parsed.goto
            ? `goto '${t}' is not a chain`
            : `Couldn't load target \`${t}':No such file or directory\n`,
          n,
        ),
      );
    }
    const at = commitLine();
    if (at === undefined) throw new Failure(1, `${inv.prog}: COMMIT expected at line ${n + 1}\n`);
    throw new Failure(2, usage(inv, `Chain '${t}' does not exist`, at));
  }

  #commitChecks(inv: Invocation, work: TableState, commitLine: number): void {
    const hooks = hooksByChain(work);
    for (const [name, c] of work) {
      const h = hooks.get(name);
      if (!h) continue;
      // nf_tables runs checkentry() with a hook mask for base chains only.
      const entry = inv.backend === "legacy" || c.builtin;
      for (const r of c.rules) {
        if (!kernelHookCheck(r.parsed, h, entry)) continue;
        if (inv.backend === "legacy") throw new Failure(1, lineFailed(inv, commitLine));
        let line = r.line;
        if (line === undefined) {
          for (const cc of work.values()) {
            for (const rr of cc.rules) {
              if (rr.line !== undefined) line = Math.min(line ?? rr.line, rr.line);
            }
          }
        }
        throw new Failure(
          4,
          `${inv.prog} ${VERSION} (${inv.tag}): \n` +
            kernelError(
              line ?? commitLine,
              "RULE_APPEND",
              "Invalid argument",
              `rule in chain ${name}`,
            ),
        );
      }
    }
  }

  /** Plain `iptables [-t table] -A/-I/-D/-R/-N/-X/-F/-P/-Z/-E/-C/-S …`. */
  #command(inv: Invocation, args: string[]): CommandResult {
    let table: string = "filter";
    const rest: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === "-w" || a === "--wait" || a === "-W" || a === "--wait-interval") {
        if (args[i + 1] !== undefined && /^[0-9.]+$/.test(args[i + 1]!)) i++;
      } else if (a === "-t" || a === "--table") table = args[++i] ?? "";
      else rest.push(a);
    }
    const name = inv.family === 4 ? "iptables" : "ip6tables";
    const helpLine = `Try \`${name} -h' or '${name} --help' for more information.\n`;
    if (!isFakeTableName(table)) {
      return {
        code: 3,
        stdout: "",
        stderr:
          `${name} ${VERSION} (${inv.tag}): can't initialize ${name} table \`${table}': Table does not exist (do you need to insmod?)\n`,
      };
    }
    this.#touch(inv, table);
    const tables = this.#state[inv.backend][inv.family];
    const cmd = rest[0];
    if (cmd === "-S" || cmd === "--list-rules") {
      const t = tables[table];
      const only = rest[1];
      if (only !== undefined && !t.has(only)) {
        return { code: 1, stdout: "", stderr: `${name}: No chain/target/match by that name.\n` };
      }
      let out = "";
      for (const c of orderedChains(t)) {
        if (only !== undefined && c !== only) continue;
        const ch = t.get(c)!;
        out += ch.builtin ? `-P ${c} ${ch.policy}\n` : `-N ${c}\n`;
      }
      for (const c of orderedChains(t)) {
        if (only !== undefined && c !== only) continue;
        for (const r of t.get(c)!.rules) out += ruleLine(c, r) + "\n";
      }
      return { code: 0, stdout: out, stderr: "" };
    }
    if (cmd === "-C" || cmd === "--check") {
      const t = tables[table];
      const c = t.get(rest[1] ?? "");
      if (!c) {
        return {
          code: 1,
          stdout: "",
          stderr: `${name}: Bad rule (does a matching rule exist in that chain?).\n`,
        };
      }
      try {
        const parsed = this.#parse(inv, rest.slice(2), 1);
        return c.rules.some((r) => r.parsed.identity === parsed.identity)
          ? { code: 0, stdout: "", stderr: "" }
          : {
            code: 1,
            stdout: "",
            stderr: `${name}: Bad rule (does a matching rule exist in that chain?).\n`,
          };
      } catch (e) {
        if (e instanceof Failure) return { code: 2, stdout: "", stderr: e.stderr };
        throw e;
      }
    }
    const work = cloneTable(tables[table]);
    try {
      this.#command1(inv, table, work, rest, {
        line: 1,
        lineCounters: undefined,
        commitLine: () => 1,
      });
      this.#commitChecks(inv, work, 1);
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      // Re-word restore-style errors the way the iptables command prints them.
      const reason = /line \d+ failed: (.*)\n$/.exec(e.stderr)?.[1];
      if (e.code === 2) {
        const msg = e.stderr.split("\nError occurred at line")[0]!.replace(/^.*?: /, "");
        return {
          code: 2,
          stdout: "",
          stderr: `${name} ${VERSION} (${inv.tag}): ${msg}\n${helpLine}`,
        };
      }
      return {
        code: e.code === 4 ? 4 : 1,
        stdout: "",
        stderr: `${name}: ${reason ?? "Invalid argument. Run `dmesg' for more information."}\n`,
      };
    }
    for (const c of work.values()) for (const r of c.rules) delete r.line;
    tables[table] = work;
    return { code: 0, stdout: "", stderr: "" };
  }
}

function fault(options: FakeFaultOptions, stderr: string): Fault {
  return {
    result: {
      code: options.code ?? 1,
      stdout: options.stdout ?? "",
      stderr: options.stderr ?? stderr,
    },
    count: options.count ?? 1,
  };
}

function takeFault(queue: Fault[]): CommandResult | undefined {
  const f = queue[0];
  if (!f) return undefined;
  if (--f.count <= 0) queue.shift();
  return { ...f.result };
}

function hang(timeoutMs: number | undefined): Promise<CommandResult> {
  if (timeoutMs === undefined) return new Promise<CommandResult>(() => {});
  return new Promise((resolve) =>
    setTimeout(() => resolve({ code: 137, stdout: "", stderr: "", timedOut: true }), timeoutMs)
  );
}

function parseInvocation(base: string, defaultBackend: IptablesVariant): Invocation | undefined {
  const m = /^(ip6?tables)(-nft|-legacy)?(-save|-restore)?$/.exec(base);
  if (!m) return undefined;
  const family = m[1] === "iptables" ? 4 : 6;
  const backend = m[2] === "-legacy" ? "legacy" : m[2] === "-nft" ? "nft" : defaultBackend;
  const kind = m[3] === "-save" ? "save" : m[3] === "-restore" ? "restore" : "main";
  const prog = kind === "main" ? m[1]! : backend === "nft" ? base : `${m[1]}${m[3]}`;
  return { family, backend, kind, prog, tag: backend === "nft" ? "nf_tables" : "legacy" };
}

function saveProg(family: 4 | 6, backend: IptablesVariant): string {
  const base = family === 4 ? "iptables" : "ip6tables";
  return backend === "nft" ? `${base}-nft-save` : `${base}-save`;
}

function usage(inv: Invocation, message: string, line: number, bare = false): string {
  const head = bare ? message : `${inv.prog} ${VERSION} (${inv.tag}): ${message}`;
  return `${head}\nError occurred at line: ${line}\n` +
    `Try \`${inv.prog} -h' or '${inv.prog} --help' for more information.\n`;
}

function lineFailed(inv: Invocation, line: number, reason?: string): string {
  return inv.backend === "nft" && reason !== undefined
    ? `${inv.prog}: line ${line} failed: ${reason}\n`
    : `${inv.prog}: line ${line} failed\n`;
}

function kernelError(line: number, op: string, errno: string, what: string): string {
  return `line ${line}: ${op} failed (${errno}): ${what}\n`;
}

/** The chains whose rules a new rule in `chain` brings under that chain's hooks. */
function reachableFrom(t: TableState, rule: ParsedRule, chain: string): string[] {
  const out = [chain];
  const seen = new Set([chain]);
  const stack = rule.target !== undefined && !rule.targetIsExtension ? [rule.target] : [];
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (seen.has(c) || !t.has(c)) continue;
    seen.add(c);
    out.push(c);
    for (const r of t.get(c)!.rules) {
      if (r.parsed.target !== undefined && !r.parsed.targetIsExtension) stack.push(r.parsed.target);
    }
  }
  return out;
}

function findCommit(lines: readonly string[], from: number): number | undefined {
  for (let i = from + 1; i < lines.length; i++) {
    if (lines[i] === "COMMIT") return i + 1;
    if (lines[i]!.startsWith("*")) return undefined;
  }
  return undefined;
}

function chainNameProblem(name: string): string | undefined {
  if (name.length > 28) return `chain name \`${name}' too long (must be under 29 chars)`;
  if (name.startsWith("-") || name.startsWith("!")) {
    return `chain name not allowed to start with \`${name[0]}'`;
  }
  if (KNOWN_TARGETS.has(name)) return "chain name may not clash with target name";
  if (name === "" || /\s/.test(name)) return `Invalid chain name \`${name}'`;
  return undefined;
}

function orderedChains(t: TableState): string[] {
  const builtins = [...t].filter(([, c]) => c.builtin).map(([n]) => n);
  const users = [...t].filter(([, c]) => !c.builtin).map(([n]) => n).sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  return [...builtins, ...users];
}

function ruleLine(chain: string, r: RuleState): string {
  return `-A ${chain}${r.spec === "" ? "" : " " + r.spec}`;
}

function renderTable(name: FakeTableName, t: TableState, counters: boolean): string {
  let out = `*${name}\n`;
  const order = orderedChains(t);
  for (const c of order) {
    const ch = t.get(c)!;
    out += `:${c} ${ch.policy} [${ch.packets}:${ch.bytes}]\n`;
  }
  for (const c of order) {
    for (const r of t.get(c)!.rules) {
      out += (counters ? `[${r.packets}:${r.bytes}] ` : "") + ruleLine(c, r) + "\n";
    }
  }
  return out + "COMMIT\n";
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `ctime()` without the newline, in UTC: `Thu Jan  1 00:00:00 2026`. */
function ctime(d: Date): string {
  const p = (x: number) => String(x).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${
    String(d.getUTCDate()).padStart(2, " ")
  } ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}
