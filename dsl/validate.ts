/**
 * Validators shared by the match builders and the action constructors.
 *
 * Every string that can reach an iptables-restore script goes through one of
 * these grammars, so no space, quote, NUL, CR or LF (or anything else that
 * could split a word or forge a rule ID) ever gets through. Each validator
 * throws {@linkcode RuleError} (via `invalid()`) naming the field and the
 * value given.
 *
 * What was checked against the real binaries (iptables 1.8.9, nft and legacy
 * backends, IPv4 and IPv6, in a private network namespace) is recorded next to
 * each grammar.
 *
 * Internal module: the package's public API is re-exported by `mod.ts`.
 *
 * @module
 */
import type { RejectType } from "./reject_type.ts";
import { ADDR_TYPES } from "./addr_type.ts";
import { invalid } from "./errors.ts";
import { BUILTIN_TARGETS } from "./targets.ts";
import { KERNEL_CHAINS } from "./kernel_chains.ts";

/** Throws a {@linkcode RuleError} for `field`. */
export function fail(field: string, value: unknown, expected: string): never {
  throw invalid(field, value, expected);
}

/** Go's `%#x`: lowercase, `0x` prefix, no padding, zero is `0x0`. */
export function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Largest unsigned 32-bit integer (marks, masks, connlimit counts). */
export const UINT32_MAX = 0xffffffff;

/** Checks an integer in `[min, max]`. */
export function checkInt(
  field: string,
  value: unknown,
  min: number,
  max: number,
  what = "an integer",
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(field, value, `${what} from ${min} to ${max}`);
  }
  return value;
}

/** Checks an unsigned 32-bit integer (a mark or mask). */
export function checkUint32(field: string, value: unknown): number {
  return checkInt(field, value, 0, UINT32_MAX, "an unsigned 32-bit integer");
}

/** Checks a boolean. */
export function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") fail(field, value, "true or false");
  return value;
}

/** Checks that a value is a string (no control characters are ever allowed by the grammars). */
export function checkString(field: string, value: unknown, expected: string): string {
  if (typeof value !== "string") fail(field, value, expected);
  return value;
}

// ---------------------------------------------------------------------------
// Ports

/** Checks a port number (0–65535). */
export function checkPort(field: string, value: unknown): number {
  return checkInt(field, value, 0, 65535);
}

/** The multiport match takes at most 15 slots; a range takes 2. */
export const MAX_MULTIPORT_SLOTS = 15;

/** Checks a port range object `{ first, last }`. */
export function checkPortRange(field: string, value: unknown): { first: number; last: number } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(field, value, "a port range { first, last }");
  }
  const r = value as { first?: unknown; last?: unknown };
  const first = checkPort(field, r.first);
  const last = checkPort(field, r.last);
  if (first > last) fail(field, value, "a port range with first <= last");
  return { first, last };
}

function checkSlots(field: string, value: unknown, slots: number, count: number): void {
  if (count === 0) {
    fail(field, value, "at least one port (an empty multiport list would match nothing)");
  }
  if (slots > MAX_MULTIPORT_SLOTS) {
    fail(
      field,
      value,
      `at most ${MAX_MULTIPORT_SLOTS} multiport slots (a range takes 2), got ${slots}; ` +
        "use splitPortList() to split the list over several rules",
    );
  }
}

/** Checks a multiport list of single ports: 1–15 ports. */
export function checkPortList(field: string, ports: readonly unknown[]): number[] {
  const out = ports.map((p) => checkPort(field, p));
  checkSlots(field, ports, out.length, out.length);
  return out;
}

/** Checks a multiport list of ranges: 1–15 slots (a range with `first < last` takes 2). */
export function checkPortRangeList(
  field: string,
  ranges: unknown,
): { first: number; last: number }[] {
  if (!Array.isArray(ranges)) fail(field, ranges, "an array of port ranges { first, last }");
  const out = ranges.map((r) => checkPortRange(field, r));
  let slots = 0;
  for (const r of out) slots += r.first === r.last ? 1 : 2;
  checkSlots(field, ranges, slots, out.length);
  return out;
}

/** Joins already-validated ports. */
export function formatPorts(ports: readonly number[]): string {
  return ports.join(",");
}

/** Joins already-validated ranges: `N` when `first === last`, else `first:last`. */
export function formatPortRanges(
  ranges: readonly { readonly first: number; readonly last: number }[],
): string {
  let s = "";
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (i > 0) s += ",";
    s += r.first === r.last ? String(r.first) : `${r.first}:${r.last}`;
  }
  return s;
}

const DECIMAL = /^(?:0|[1-9][0-9]{0,4})$/;

/** Parses a canonical decimal port inside a larger string, or returns undefined. */
function parsePortText(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/** Parses `N` or `N-M` (canonical decimal ports, `N <= M`), or returns undefined. */
function parsePortRangeText(text: string): [number, number] | undefined {
  const dash = text.indexOf("-");
  const first = parsePortText(dash < 0 ? text : text.slice(0, dash));
  const last = dash < 0 ? first : parsePortText(text.slice(dash + 1));
  if (first === undefined || last === undefined || first > last) return undefined;
  return [first, last];
}

/**
 * Checks MASQUERADE `--to-ports`: `N` or `N-M` (decimal, no leading zeros,
 * `N <= M`). iptables 1.8.9 rejects a reversed range ("Port range funky").
 */
export function checkMasqPorts(field: string, value: unknown): string {
  const s = checkString(field, value, 'a port "N" or a port range "N-M"');
  if (parsePortRangeText(s) === undefined) {
    fail(field, value, 'a port "N" or a port range "N-M" with ports from 0 to 65535 and N <= M');
  }
  return s;
}

// ---------------------------------------------------------------------------
// Addresses

/**
 * Parses a canonical dotted-quad IPv4 address (four decimal bytes, no leading
 * zeros) to a uint32, or returns undefined. One pass over the characters: it
 * runs for every address of every rule built.
 */
export function parseIpv4(s: string): number | undefined {
  let n = 0;
  let parts = 0;
  let i = 0;
  while (parts < 4) {
    const start = i;
    let b = 0;
    for (; i < s.length && i - start < 4; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      b = b * 10 + d;
    }
    const len = i - start;
    if (len === 0 || len > 3 || b > 255 || (len > 1 && s.charCodeAt(start) === 48)) {
      return undefined;
    }
    n = n * 256 + b;
    parts++;
    if (parts < 4) {
      if (s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === s.length ? n : undefined;
}

/** Parses any textual IPv6 address (RFC 4291 forms) to 8 groups, or returns undefined. */
export function parseIpv6(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  function groups(part: string, allowV4: boolean): number[] | undefined {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (item.includes(".")) {
        if (!allowV4 || i !== items.length - 1) return undefined;
        const v4 = parseIpv4(item);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  }
  if (halves.length === 1) {
    const g = groups(s, true);
    return g !== undefined && g.length === 8 ? g : undefined;
  }
  const head = groups(halves[0]!, false);
  const tail = groups(halves[1]!, true);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * Formats 8 groups as RFC 5952 text (what Go's netip and iptables-save print):
 * lowercase, no leading zeros, the first longest run of two or more zero
 * groups as `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`.
 */
export function formatIpv6(g: readonly number[]): string {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexes = g.map((x) => x.toString(16));
  if (best < 0) return hexes.join(":");
  return hexes.slice(0, best).join(":") + "::" + hexes.slice(best + bestLen).join(":");
}

/** The family of a canonical address, or undefined. */
function addressFamily(s: string): 4 | 6 | undefined {
  if (parseIpv4(s) !== undefined) return 4;
  const g = parseIpv6(s);
  return g !== undefined && formatIpv6(g) === s ? 6 : undefined;
}

/** A hint that names the canonical spelling of a non-canonical IPv6 address. */
function canonicalHint(s: string): string {
  const g = parseIpv6(s);
  return g === undefined ? "" : ` (the canonical form is "${formatIpv6(g)}")`;
}

/**
 * Checks a single canonical IPv4 or IPv6 address (no prefix) and returns its
 * family. iptables 1.8.9 rejects IPv4 octets with leading zeros ("Bad IP
 * address"); non-canonical IPv6 spellings are accepted by iptables but rewritten
 * by iptables-save, so only the canonical form is allowed.
 */
export function checkAddress(field: string, value: unknown): 4 | 6 {
  const s = checkString(field, value, "an IPv4 or IPv6 address");
  const family = addressFamily(s);
  if (family === undefined) {
    fail(field, value, `a canonical IPv4 or IPv6 address${canonicalHint(s)}`);
  }
  return family;
}

/**
 * Checks an address or CIDR (`10.0.0.4`, `10.0.0.0/8`, `2001:db8::/32`):
 * canonical address, prefix length within the family (decimal, no leading
 * zeros) and no host bits set (iptables-save would print the masked network).
 */
export function checkNet(field: string, value: unknown): string {
  const s = checkString(field, value, "an IPv4 or IPv6 address or CIDR");
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = addressFamily(addr);
  if (family === undefined) {
    fail(field, value, `a canonical IPv4 or IPv6 address or CIDR${canonicalHint(addr)}`);
  }
  if (slash < 0) return s;
  const max = family === 4 ? 32 : 128;
  const prefixText = s.slice(slash + 1);
  const prefix = /^(?:0|[1-9][0-9]{0,2})$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= max)) fail(field, value, `a prefix length from 0 to ${max} after "/"`);
  if (family === 4) {
    const n = parseIpv4(addr)!;
    const size = 2 ** (32 - prefix);
    if (n % size !== 0) {
      const net = n - (n % size);
      const dotted = [24, 16, 8, 0].map((sh) => Math.floor(net / 2 ** sh) % 256).join(".");
      fail(field, value, `a network address with no host bits set ("${dotted}/${prefix}")`);
    }
  } else {
    const g = parseIpv6(addr)!;
    const masked = g.map((x, i) => {
      const bits = Math.min(16, Math.max(0, prefix - i * 16));
      return bits === 16 ? x : x & (0xffff << (16 - bits)) & 0xffff;
    });
    if (masked.some((x, i) => x !== g[i])) {
      fail(
        field,
        value,
        `a network address with no host bits set ("${formatIpv6(masked)}/${prefix}")`,
      );
    }
  }
  return s;
}

function compareAddresses(a: string, b: string, family: 4 | 6): number {
  if (family === 4) return parseIpv4(a)! - parseIpv4(b)!;
  const ga = parseIpv6(a)!;
  const gb = parseIpv6(b)!;
  for (let i = 0; i < 8; i++) if (ga[i] !== gb[i]) return ga[i]! - gb[i]!;
  return 0;
}

/** Checks `A` or `A-B` (canonical addresses of one family, `A <= B`); returns the family. */
function checkAddressRangeText(field: string, value: unknown, text: string): 4 | 6 | undefined {
  const dash = text.indexOf("-");
  const a = dash < 0 ? text : text.slice(0, dash);
  const fa = addressFamily(a);
  if (fa === undefined) return undefined;
  if (dash < 0) return fa;
  const b = text.slice(dash + 1);
  if (addressFamily(b) !== fa) return undefined;
  if (compareAddresses(a, b, fa) > 0) {
    fail(field, value, "an address range whose first address is not above its last");
  }
  return fa;
}

/**
 * Checks an address range `A-B` (canonical addresses of one family, `A <= B`)
 * and returns its family (the iprange match).
 */
export function checkAddressRange(field: string, value: unknown): 4 | 6 {
  const s = checkString(field, value, 'an address range "A-B"');
  const family = s.includes("-") ? checkAddressRangeText(field, value, s) : undefined;
  if (family === undefined) {
    fail(field, value, `an address range "A-B" of two canonical addresses of one family`);
  }
  return family;
}

const NAT_SPEC_FORMS = 'an address or range, optionally with a port or port range: "10.0.0.1", ' +
  '"10.0.0.1-10.0.0.9", "10.0.0.1:8080", "10.0.0.1:1024-2047", "2001:db8::1", ' +
  '"2001:db8::1-2001:db8::9" or "[2001:db8::1]:8080" (IPv6 needs brackets when a port is given)';

/**
 * Checks a SNAT `--to-source` / DNAT `--to-destination` spec and returns its
 * family. Forms accepted (all checked against iptables/ip6tables 1.8.9, both
 * backends): IPv4 `A[-B][:P[-Q]]`; IPv6 `A[-B]` without a port, or
 * `[A[-B]]:P[-Q]` with one. Unbracketed `2001:db8::1:80` is an address, not
 * a port, to iptables; `[A]-[B]:P` is refused by iptables ("Port not valid");
 * `[A]` alone is accepted but is not canonical, so it is refused here.
 */
export function checkNatSpec(field: string, value: unknown): 4 | 6 {
  const s = checkString(field, value, NAT_SPEC_FORMS);
  let family: 4 | 6 | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    const ports = close < 0 ? undefined : s.slice(close + 1);
    if (ports !== undefined && ports.startsWith(":")) {
      const f = checkAddressRangeText(field, value, s.slice(1, close));
      if (f === 6 && parsePortRangeText(ports.slice(1)) !== undefined) family = 6;
    }
  } else if (/^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9.]+)?(?::|$)/.test(s)) {
    const colon = s.indexOf(":");
    const f = checkAddressRangeText(field, value, colon < 0 ? s : s.slice(0, colon));
    if (f === 4 && (colon < 0 || parsePortRangeText(s.slice(colon + 1)) !== undefined)) family = 4;
  } else {
    if (checkAddressRangeText(field, value, s) === 6) family = 6;
  }
  if (family === undefined) fail(field, value, NAT_SPEC_FORMS);
  return family;
}

/** Checks a DNAT address given together with a port: `A` or `A-B`, no port, no brackets. */
export function checkNatAddressRange(field: string, value: unknown): 4 | 6 {
  const s = checkString(field, value, "an IPv4 or IPv6 address or address range");
  const family = checkAddressRangeText(field, value, s);
  if (family === undefined) {
    fail(
      field,
      value,
      `a canonical IPv4 or IPv6 address or range "A-B" without a port when a port is given separately${
        canonicalHint(s)
      }`,
    );
  }
  return family;
}

// ---------------------------------------------------------------------------
// Names

/** iptables' chain name limit (the kernel's 29 bytes with the NUL). */
export const MAX_CHAIN_NAME = 28;

/** The kernel's built-in chains (hooks) of every table. */
export const KERNEL_CHAIN_NAMES: ReadonlySet<string> = new Set(Object.values(KERNEL_CHAINS).flat());

const CHAIN_NAME = /^[^\s"'`\\\-!#][^\s"'`\\]*$/u;
const CHAIN_NAME_EXPECTED =
  `a chain name of 1 to ${MAX_CHAIN_NAME} printable ASCII characters without whitespace, quotes ` +
  "or backslashes, not starting with '-', '!' or '#'";

/**
 * Checks a chain name: 1–28 printable ASCII characters, no whitespace,
 * quotes or backslash, not starting with `-`, `!` (iptables refuses both) or
 * `#`. Kernel chain names are allowed (rules can be placed in them).
 */
export function checkChainName(field: string, value: unknown): string {
  const s = checkString(field, value, CHAIN_NAME_EXPECTED);
  if (
    s.length < 1 || s.length > MAX_CHAIN_NAME || !CHAIN_NAME.test(s) || !/^[\x21-\x7e]+$/.test(s)
  ) {
    fail(field, value, CHAIN_NAME_EXPECTED);
  }
  return s;
}

/**
 * Checks the target of a `Jump`/`Goto`: a user chain name, i.e. a valid chain
 * name that is neither a built-in target (`ACCEPT`, `LOG`, …: use the matching
 * action) nor a kernel chain (`INPUT`, …: iptables cannot jump to those).
 */
export function checkUserChainName(field: string, value: unknown): string {
  const s = checkChainName(field, value);
  if (BUILTIN_TARGETS.has(s)) {
    fail(field, value, `a user chain name, not the built-in target ${s} (use its action instead)`);
  }
  if (KERNEL_CHAIN_NAMES.has(s)) {
    fail(field, value, `a user chain name, not the kernel chain ${s}`);
  }
  return s;
}

/** Linux `IFNAMSIZ - 1`. */
export const MAX_INTERFACE_NAME = 15;
const INTERFACE = /^(?:[A-Za-z0-9_][A-Za-z0-9_.@-]*\+?|\+)$/;

/**
 * Checks an interface name: 1–15 characters of `[A-Za-z0-9_.@-]` (not
 * starting with `.`, `-` or `@`), optionally ending in the `+` wildcard (a
 * `+` elsewhere would be literal to iptables), or a bare `+` (any
 * interface). iptables 1.8.9 refuses 16 characters ("must be shorter than
 * IFNAMSIZ") and only warns about `/` and space; the kernel also refuses `:`.
 */
export function checkInterface(field: string, value: unknown): string {
  const expected =
    `an interface name of 1 to ${MAX_INTERFACE_NAME} characters [A-Za-z0-9_.@-], optionally ending in the wildcard "+"`;
  const s = checkString(field, value, expected);
  const bare = s.endsWith("+") ? s.slice(0, -1) : s;
  if (!INTERFACE.test(s) || bare.length > MAX_INTERFACE_NAME || bare === "." || bare === "..") {
    fail(field, value, expected);
  }
  if (s.length > MAX_INTERFACE_NAME) fail(field, value, expected);
  return s;
}

/** The kernel's ipset name limit (`IPSET_MAXNAMELEN - 1`). */
export const MAX_IPSET_NAME = 31;
const IPSET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:@%+=/-]*$/;

/** Checks an ipset name: 1–31 characters of `[A-Za-z0-9_.:@%+=/-]`, starting with a letter, digit or `_`. */
export function checkIpSetName(field: string, value: unknown): string {
  const expected =
    `an ipset name of 1 to ${MAX_IPSET_NAME} characters [A-Za-z0-9_.:@%+=/-] starting with a letter, digit or "_"`;
  const s = checkString(field, value, expected);
  if (s.length > MAX_IPSET_NAME || !IPSET_NAME.test(s)) fail(field, value, expected);
  return s;
}

// ---------------------------------------------------------------------------
// Protocols, states, address types

/**
 * Protocol names accepted by `-p`: iptables' built-in list (always resolvable)
 * plus common `/etc/protocols` names. All were accepted by iptables 1.8.9
 * here; names outside the built-in list need `/etc/protocols` on the host
 * (numbers never do). `icmp6` is refused by iptables ("unknown protocol").
 */
export const PROTOCOL_NAMES: ReadonlySet<string> = new Set([
  // xtables built-ins
  "all",
  "tcp",
  "udp",
  "udplite",
  "icmp",
  "icmpv6",
  "ipv6-icmp",
  "esp",
  "ah",
  "sctp",
  "mh",
  "ipv6-mh",
  "dccp",
  // /etc/protocols
  "gre",
  "igmp",
  "ipip",
  "ipencap",
  "ipv6",
  "ipv6-frag",
  "ipv6-route",
  "ipv6-nonxt",
  "ipv6-opts",
  "vrrp",
  "ospf",
  "pim",
  "l2tp",
  "ipcomp",
  "egp",
  "rsvp",
  "encap",
]);

/** Checks a protocol name (lowercase known name) or a decimal number 0–255 as a string. */
export function checkProtocolName(field: string, value: unknown): string {
  if (typeof value === "string") {
    if (PROTOCOL_NAMES.has(value)) return value;
    if (/^(?:0|[1-9][0-9]{0,2})$/.test(value) && Number(value) <= 255) return value;
  }
  fail(
    field,
    value,
    `a protocol name (${[...PROTOCOL_NAMES].slice(0, 6).join(", ")}, …) or a number from 0 to 255`,
  );
}

/** The conntrack match's states. */
export const CONNTRACK_STATES: ReadonlySet<string> = new Set([
  "INVALID",
  "NEW",
  "ESTABLISHED",
  "RELATED",
  "UNTRACKED",
  "SNAT",
  "DNAT",
]);

/**
 * Checks a conntrack state list (`"RELATED,ESTABLISHED"` or
 * `["RELATED", "ESTABLISHED"]`): one or more known states, no duplicates.
 * Returns the comma-joined list.
 */
export function checkConntrackStates(field: string, value: unknown): string {
  function failStates(): never {
    fail(
      field,
      value,
      `one or more distinct conntrack states (${
        [...CONNTRACK_STATES].join(", ")
      }) as a comma-separated string or an array`,
    );
  }
  let states: unknown[];
  if (typeof value === "string") states = value.split(",");
  else if (Array.isArray(value)) states = value;
  else failStates();
  if (states.length === 0) failStates();
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    if (typeof s !== "string" || !CONNTRACK_STATES.has(s)) failStates();
    for (let j = 0; j < i; j++) if (states[j] === s) failStates();
  }
  // A valid string is its own comma-joined list.
  return typeof value === "string" ? value : states.join(",");
}

/** The kernel's address types (`ip route` types), as the addrtype match names them. */
const ADDR_TYPE_SET: ReadonlySet<string> = new Set(ADDR_TYPES);

/** Checks one address type. */
export function checkAddrType(field: string, value: unknown): string {
  if (typeof value !== "string" || !ADDR_TYPE_SET.has(value)) {
    fail(field, value, `an address type (${ADDR_TYPES.join(", ")})`);
  }
  return value;
}

/**
 * REJECT `--reject-with` types: the union of what iptables and ip6tables
 * 1.8.9 accept, in the spellings the engine's placement check knows (checked
 * with both backends: IPv4 also takes the aliases `net-unreach`, … and
 * `tcp-rst`, which ip6tables refuses; the family is checked at placement).
 */
/** The reject types ip(6)tables accepts for IPv4. */
export const REJECT_TYPES_V4: ReadonlySet<RejectType> = new Set<RejectType>([
  "icmp-net-unreachable",
  "icmp-host-unreachable",
  "icmp-port-unreachable",
  "icmp-proto-unreachable",
  "icmp-net-prohibited",
  "icmp-host-prohibited",
  "icmp-admin-prohibited",
  "tcp-reset",
]);

/** The reject types ip6tables accepts. */
export const REJECT_TYPES_V6: ReadonlySet<RejectType> = new Set<RejectType>([
  "icmp6-no-route",
  "no-route",
  "icmp6-adm-prohibited",
  "adm-prohibited",
  "icmp6-addr-unreachable",
  "addr-unreach",
  "icmp6-port-unreachable",
  "port-unreach",
  "icmp6-policy-fail",
  "policy-fail",
  "icmp6-reject-route",
  "reject-route",
  "tcp-reset",
]);

/** Every reject type of either family. */
export const REJECT_TYPES: ReadonlySet<string> = new Set<string>([
  ...REJECT_TYPES_V4,
  ...REJECT_TYPES_V6,
]);

/** Checks a reject type. */
export function checkRejectType(field: string, value: unknown): string {
  if (typeof value !== "string" || !REJECT_TYPES.has(value)) {
    fail(
      field,
      value,
      "a reject type: tcp-reset, icmp-port-unreachable, icmp-host-prohibited, " +
        "icmp-admin-prohibited, icmp6-port-unreachable, icmp6-adm-prohibited, … (the kernel's list)",
    );
  }
  return value;
}

// ---------------------------------------------------------------------------
// Rates, prefixes, DSCP

/** Seconds per unit of a limit rate. */
const RATE_UNITS: Readonly<Record<string, number>> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86400,
};

/** The limit match's scale: at most 10000 packets per second. */
export const LIMIT_SCALE = 10000;

/**
 * Checks a limit rate `N/second|minute|hour|day`: N ≥ 1 (iptables: "bad
 * rate" for 0) and at most 10000 per second, i.e. N ≤ 10000 × the unit's
 * seconds (iptables 1.8.9: `10001/second` and `600001/minute` are "Rate too
 * fast", `600000/minute` is fine).
 */
export function checkLimitRate(field: string, value: unknown): string {
  const expected = 'a rate "N/second", "N/minute", "N/hour" or "N/day" with N >= 1 ' +
    "and at most 10000 per second";
  const s = checkString(field, value, expected);
  const m = /^([1-9][0-9]{0,9})\/(second|minute|hour|day)$/.exec(s);
  if (m === null || Number(m[1]) > LIMIT_SCALE * RATE_UNITS[m[2]!]!) fail(field, value, expected);
  return s;
}

/**
 * The largest `avg × burst` the limit match's kernel arithmetic handles for
 * every HZ (100, 250, 300, 1000), where `avg = 10000 × seconds per unit / N`.
 * Beyond it the legacy kernel's u32 credit computation overflows: it refuses
 * some such rules at COMMIT (seen on 1.8.9: `1/day` with the default burst of
 * 5, `3/hour` with burst 10000) and silently gets others wrong.
 */
export const MAX_LIMIT_CREDITS = 1_100_000_000;

/**
 * Checks that a rate and burst (iptables' default 5 when absent) stay within
 * the kernel's limit arithmetic ({@linkcode MAX_LIMIT_CREDITS}).
 */
export function checkLimitCredits(field: string, rate: string, burst: number | undefined): void {
  const m = /^(\d+)\/(second|minute|hour|day)$/.exec(rate)!;
  const avg = Math.floor((LIMIT_SCALE * RATE_UNITS[m[2]!]!) / Number(m[1]));
  const b = burst === undefined || burst === 0 ? 5 : burst;
  if (avg * b > MAX_LIMIT_CREDITS) {
    fail(
      field,
      burst === undefined ? rate : [rate, burst],
      `a rate and burst whose 10000 × seconds per unit / N × burst (${avg} × ${b}) is at most ` +
        `${MAX_LIMIT_CREDITS}, or the kernel's limit arithmetic overflows: raise the rate or lower the burst`,
    );
  }
}

/** Checks a limit burst: 1–10000 (iptables' range for `--limit-burst`; 0 is refused by the legacy kernel). */
export function checkLimitBurst(field: string, value: unknown): number {
  return checkInt(field, value, 1, 10000);
}

/**
 * The LOG prefix limit. The kernel keeps 29 characters (iptables 1.8.9
 * silently cut a 30-character prefix to 29, both backends) and the rendering
 * appends `": "`, so at most 27 characters are given.
 */
export const MAX_LOG_PREFIX = 27;
const LOG_PREFIX = /^[\x20\x21\x23-\x26\x28-\x5b\x5d-\x5f\x61-\x7e]*$/;

/**
 * Checks a LOG prefix: at most 27 printable ASCII characters, without `"`,
 * `'`, `` ` `` or `\` (it is rendered inside double quotes).
 */
export function checkLogPrefix(field: string, value: unknown): string {
  const expected =
    `at most ${MAX_LOG_PREFIX} printable ASCII characters without quotes or backslashes ` +
    "(the kernel keeps 29 and ': ' is appended)";
  const s = checkString(field, value, expected);
  if (s.length > MAX_LOG_PREFIX || !LOG_PREFIX.test(s)) fail(field, value, expected);
  return s;
}

/** The NFLOG prefix limit (iptables-legacy cut a 64-character prefix to 63). */
export const MAX_NFLOG_PREFIX = 63;
const NFLOG_PREFIX = /^[A-Za-z0-9_@%+=:,./|][A-Za-z0-9_@%+=:,./|-]*$/;

/**
 * Checks an NFLOG prefix: 1–63 characters of `[A-Za-z0-9_@%+=:,./|-]`, not
 * starting with `-`. It is rendered unquoted, so a space would let a caller
 * append words (e.g. a forged `-m comment --comment "rampart:…"`).
 */
export function checkNflogPrefix(field: string, value: unknown): string {
  const expected =
    `1 to ${MAX_NFLOG_PREFIX} characters [A-Za-z0-9_@%+=:,./|-], not starting with "-"`;
  const s = checkString(field, value, expected);
  if (s.length > MAX_NFLOG_PREFIX || !NFLOG_PREFIX.test(s)) fail(field, value, expected);
  return s;
}

// ---------------------------------------------------------------------------
// Marks

/** Checks a non-zero uint32 mark (the reference panics on zero). */
export function checkNonZeroMark(field: string, mark: unknown): number {
  const m = checkUint32(field, mark);
  if (m === 0) fail(field, mark, "a non-zero unsigned 32-bit mark");
  return m;
}

/** Checks a uint32 mark with exactly one bit set. */
export function checkSingleBit(field: string, mark: unknown): number {
  const m = checkUint32(field, mark);
  if (m === 0 || (m & (m - 1)) !== 0) {
    fail(field, mark, "a mark with exactly one bit set, e.g. 0x4000");
  }
  return m;
}

/** Checks a mark and a non-zero mask with `(mark & mask) === mark`. */
export function checkMarkWithMask(
  field: string,
  mark: unknown,
  mask: unknown,
  maskField: string = field,
): void {
  const m = checkUint32(field, mark);
  const k = checkUint32(maskField, mask);
  if (k === 0) fail(maskField, mask, "a non-zero unsigned 32-bit mask");
  if (((m & k) >>> 0) !== m) {
    fail(field, mark, `a mark within its mask ${hex(k)} (mark & mask === mark)`);
  }
}
