/**
 * The parameter types of rule files (`ParamType` in `dsl/rule_schema.ts`),
 * one entry each: what error messages say a value must be, how the loader
 * reads a value, and how the saver writes an argument. Adding a type is
 * adding its entry here (the type checker asks for it).
 *
 * @module
 */
import type { DslArg } from "../../dsl/action.ts";
import type { ParamSpec, ParamType } from "../../dsl/rule_schema.ts";
import type { IpFamily } from "../policy/policy.ts";
import type { Node, Site, YamlWalker } from "./walker.ts";

/** A parameter's value where it is, and the IP families of its rule. */
export interface ParamSite extends Site {
  /** The families of the rule (addresses must be of one of them). */
  families: readonly IpFamily[];
}

/** How the saver writes what is not plain data (see `save.ts`). */
export interface YamlOut {
  /** An integer written in hex (`0x1000`). */
  hex(value: number): unknown;
  /** A list written on one line (`[80, 443]`). */
  flow(values: unknown[]): unknown;
  /** A mapping written on one line (`{mask: [SYN, ACK], set: [SYN]}`). */
  flowMap(entries: readonly (readonly [string, unknown])[]): unknown;
}

/** One parameter type. */
interface ParamTypeSpec {
  /** What a value must be, as error messages say it ("an integer"). */
  readonly expected: string;
  /**
   * Reads a value: `n` is its node with aliases resolved; a wrong value is
   * refused with {@linkcode badValue}.
   */
  read(w: YamlWalker, n: Node, at: ParamSite, q: ParamSpec): DslArg;
  /** Writes an argument as YAML data (or a node made by `out`). */
  write(arg: DslArg, out: YamlOut): unknown;
}

const PARAM_TYPES: Readonly<Record<ParamType, ParamTypeSpec>> = {
  string: {
    expected: "a string",
    read: readString,
    write: writeData,
  },
  integer: {
    expected: "an integer",
    read: readInteger,
    write: writeData,
  },
  boolean: {
    expected: "true or false",
    read: (w, n, at, q) => {
      const v = w.scalar(n);
      return typeof v === "boolean" ? v : badValue(w, n, at, q);
    },
    write: writeData,
  },
  mark: {
    expected: "a non-negative integer mark, e.g. 0x1000",
    read: (w, n, at, q) => {
      const v = w.scalar(n);
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) badValue(w, n, at, q);
      return v as number;
    },
    write: (arg, out) => typeof arg === "number" ? out.hex(arg) : writeData(arg, out),
  },
  ports: {
    expected: "a port number from 0 to 65535",
    read: readInteger,
    write: writeData,
  },
  ranges: {
    expected: 'a list of ports or port ranges: N, "N:M" or {first: N, last: M}',
    read: (w, n, at) => {
      const list = w.isSeq(n);
      const items: readonly Node[] = list ? w.items(n) : [n];
      return items.map((item, i) =>
        readRange(w, { node: item, path: list ? `${at.path}[${i}]` : at.path, keyNode: at.keyNode })
      );
    },
    write: (arg, out) =>
      Array.isArray(arg) ? out.flow(arg.map((r) => compactRange(r))) : writeData(arg, out),
  },
  strings: {
    expected: "a string or a list of strings",
    read: (w, n, at, q) => {
      if (w.isSeq(n)) {
        return w.items(n).map((item, i) =>
          readParam(w, { name: q.name, type: "string" }, {
            node: item,
            path: `${at.path}[${i}]`,
            keyNode: at.keyNode,
            families: at.families,
          })
        );
      }
      return readString(w, n, at, q);
    },
    write: writeData,
  },
  address: {
    expected: "an IP address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32",
    read: readAddress,
    write: writeData,
  },
  portSpec: {
    expected: 'a port or port range, e.g. 8080 or "1024-65535"',
    read: (w, n, at, q) => {
      const v = w.scalar(n);
      if (typeof v === "number" && Number.isInteger(v)) return String(v);
      if (typeof v !== "string") badValue(w, n, at, q);
      return v as string;
    },
    write: writeData,
  },
  port: {
    expected: 'a port or port range: N, "N:M" or {first: N, last: M}',
    read: (w, n, at) => readNumberOrRange(w, n, { at, separator: ":" }),
    write: (arg, out) => isRange(arg) ? compactRange(arg, ":") : writeData(arg, out),
  },
  idRange: {
    expected: 'an ID or ID range: N, "N-M" or {first: N, last: M}',
    read: (w, n, at) => readNumberOrRange(w, n, { at, separator: "-" }),
    write: (arg, out) => isRange(arg) ? compactRange(arg, "-") : writeData(arg, out),
  },
  tcpFlags: {
    expected: "TCP flags {mask: [FIN, SYN, RST, PSH, ACK, URG], set: [...]}",
    read: (w, n, at, q) => {
      if (!w.isMap(n)) badValue(w, n, at, q);
      const out: Record<string, DslArg> = {};
      for (const e of w.entries(n, at.path, ["mask", "set"])) {
        out[e.key] = readParam(w, { name: e.key, type: "strings" }, {
          node: e.node,
          path: e.path,
          keyNode: e.keyNode,
          families: at.families,
        });
        if (typeof out[e.key] === "string") out[e.key] = [out[e.key] as string];
      }
      if (out.mask === undefined || out.set === undefined) badValue(w, n, at, q);
      return out;
    },
    write: (arg, out) => {
      if (arg === null || typeof arg !== "object" || Array.isArray(arg)) {
        return writeData(arg, out);
      }
      return out.flowMap(
        Object.entries(arg as Record<string, DslArg>).map(([k, v]) =>
          [k, Array.isArray(v) ? out.flow(v.map(plain)) : plain(v)] as const
        ),
      );
    },
  },
  number: {
    expected: "a number",
    read: (w, n, at, q) => {
      const v = w.scalar(n);
      return typeof v === "number" ? v : badValue(w, n, at, q);
    },
    write: writeData,
  },
};

/** What a value of a type must be, as error messages say it. */
export function expectedValue(type: ParamType): string {
  return PARAM_TYPES[type].expected;
}

/** Checks one parameter's YAML value against its type, and returns the argument. */
export function readParam(w: YamlWalker, q: ParamSpec, at: ParamSite): DslArg {
  const n = w.resolve(at.node, at.path);
  return PARAM_TYPES[q.type].read(w, n, at, q);
}

/** Writes one argument of a call (plain data when its parameter is unknown). */
export function writeParam(q: ParamSpec | undefined, arg: DslArg, out: YamlOut): unknown {
  if (q === undefined) return plain(arg);
  return PARAM_TYPES[q.type].write(arg, out);
}

/** An argument as plain data (the DSL's frozen objects copied). */
export function plain(arg: DslArg): unknown {
  if (Array.isArray(arg)) return arg.map(plain);
  if (arg !== null && typeof arg === "object") {
    return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, plain(v as DslArg)]));
  }
  return arg;
}

/** Refuses a value that is not of its parameter's type. */
function badValue(w: YamlWalker, n: Node, at: ParamSite, q: ParamSpec): never {
  return w.fail(
    n,
    at.path,
    `Invalid ${leaf(at.path)} ${w.show(n)}: expected ${PARAM_TYPES[q.type].expected}`,
    { fallback: at.keyNode },
  );
}

/** The key a field path ends with, without list indexes: `a.b[1].destPorts[0]` → `destPorts`. */
function leaf(path: string): string {
  const noIndex = path.replace(/(?:\[\d+\])+$/, "");
  return noIndex.slice(noIndex.lastIndexOf(".") + 1);
}

function readString(w: YamlWalker, n: Node, at: ParamSite, q: ParamSpec): DslArg {
  const v = w.scalar(n);
  return typeof v === "string" ? v : badValue(w, n, at, q);
}

function readInteger(w: YamlWalker, n: Node, at: ParamSite, q: ParamSpec): DslArg {
  const v = w.scalar(n);
  if (typeof v !== "number" || !Number.isInteger(v)) badValue(w, n, at, q);
  return v as number;
}

/** An address, whose family must be the rule's (one family: a rule for both cannot hold it). */
function readAddress(w: YamlWalker, n: Node, at: ParamSite, q: ParamSpec): DslArg {
  const { path, families } = at;
  const s = readString(w, n, at, q) as string;
  // An IPv4 NAT spec may carry a port ("10.0.0.1:8080"): IPv6 only when not dotted-quad first.
  const family: IpFamily = s.includes(":") && !/^\d+\.\d+\.\d+\.\d+(?:-[\d.]+)?:/.test(s) ? 6 : 4;
  if (!families.includes(family)) {
    w.fail(
      n,
      path,
      `Invalid ${leaf(path)} ${JSON.stringify(s)}: an IPv${family} address in a rule for ${
        families.map((f) => `ipv${f}`).join(" and ")
      }: set "family: ipv${family}" on the rule, its chain or its table`,
    );
  }
  if (families.length > 1) {
    w.fail(
      n,
      path,
      `Invalid ${leaf(path)} ${
        JSON.stringify(s)
      }: an IPv${family} address in a rule for both families: ` +
        `set "family: ipv${family}" on the rule, its chain or its table`,
      { allowed: [`family: ipv${family}`] },
    );
  }
  return s;
}

/**
 * One range: `N`, `"N:M"`, `"N-M"` or `{first: N, last: M}` (with a
 * `separator`, only that one: `:` for ports, `-` for IDs up to 10 digits).
 */
function readRange(
  w: YamlWalker,
  at: Site,
  separator?: ":" | "-",
): { first: number; last: number } {
  const { path, keyNode } = at;
  const n = w.resolve(at.node, path);
  const bad = (): never =>
    w.fail(n, path, `Invalid port range ${w.show(n)}: expected ${PARAM_TYPES.ranges.expected}`, {
      fallback: keyNode,
    });
  if (w.isMap(n)) {
    const out: Record<string, number> = {};
    for (const e of w.entries(n, path, ["first", "last"])) {
      const v = w.resolve(e.node, e.path);
      const num = w.scalar(v);
      if (typeof num !== "number" || !Number.isInteger(num)) {
        w.fail(v, e.path, `Invalid ${e.key} ${w.show(v)}: expected a port number`, {
          fallback: e.keyNode,
        });
      }
      out[e.key] = num;
    }
    if (out.first === undefined || out.last === undefined) bad();
    return { first: out.first!, last: out.last! };
  }
  const v = w.scalar(n);
  if (typeof v === "number" && Number.isInteger(v)) return { first: v, last: v };
  if (typeof v === "string") {
    const m = (separator === undefined
      ? /^(\d{1,6})(?:[:-](\d{1,6}))?$/
      : separator === ":"
      ? /^(\d{1,6})(?::(\d{1,6}))?$/
      : /^(\d{1,10})(?:-(\d{1,10}))?$/).exec(v);
    if (m !== null) {
      return { first: Number(m[1]), last: Number(m[2] ?? m[1]) };
    }
  }
  return bad();
}

/** Data as it is; a list on one line. */
function writeData(arg: DslArg, out: YamlOut): unknown {
  if (Array.isArray(arg)) return out.flow(arg.map(plain));
  return plain(arg);
}

/** A port range as a rule file writes it: `N` or `"N:M"` (`"N-M"` for IDs). */
function compactRange(r: DslArg, separator: ":" | "-" = ":"): unknown {
  if (isRange(r)) return r.first === r.last ? r.first : `${r.first}${separator}${r.last}`;
  return plain(r);
}

/** Whether an argument is `{first, last}` with numbers. */
function isRange(arg: DslArg): arg is { first: number; last: number } {
  if (arg === null || typeof arg !== "object" || Array.isArray(arg)) return false;
  const r = arg as { first?: unknown; last?: unknown };
  return typeof r.first === "number" && typeof r.last === "number";
}

/** A number, or a range (a range of one is its number). */
function readNumberOrRange(
  w: YamlWalker,
  n: Node,
  of: { at: ParamSite; separator: ":" | "-" },
): DslArg {
  const v = w.scalar(n);
  if (typeof v === "number" && Number.isInteger(v)) return v;
  const r = readRange(w, { node: n, path: of.at.path, keyNode: of.at.keyNode }, of.separator);
  return r.first === r.last ? r.first : r;
}
