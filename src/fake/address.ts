/**
 * IPv4/IPv6 address parsing and printing as iptables does it.
 *
 * @module
 */

/** Parses a dotted-quad IPv4 address into 4 bytes, or undefined. */
export function parseIpv4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? bytes : undefined;
}

/** Parses an IPv6 address into 16 bytes, or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = v4;
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  let words: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return undefined;
    words = [...head, ...new Array(fill).fill(0), ...rest];
  } else {
    if (head.length !== 8) return undefined;
    words = head;
  }
  const bytes: number[] = [];
  for (const w of words) bytes.push(w >> 8, w & 0xff);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Prints 4 bytes as a dotted quad. */
export function formatIpv4(bytes: readonly number[]): string {
  return bytes.join(".");
}

/** Prints 16 bytes as glibc's `inet_ntop` does. */
export function formatIpv6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    [bestBase, bestLen] = [curBase, curLen];
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (
      i === 6 && bestBase === 0 &&
      (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))
    ) {
      out += bytes.slice(12).join(".");
      break;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ":";
  return out;
}

/** A parsed network: address bytes (host bits cleared) and prefix length. */
export interface Network {
  /** The address bytes, host bits cleared. */
  bytes: number[];
  /** The prefix length. */
  prefix: number;
}

/**
 * Parses `addr[/mask]` for a family as iptables does; undefined when the
 * address is not of that family. Throws a string message for a bad mask.
 */
export function parseNetwork(text: string, ipVersion: 4 | 6): Network | undefined {
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const maskText = slash === -1 ? undefined : text.slice(slash + 1);
  // iptables reads the mask first ("invalid mask `64' specified" before the address).
  const bits = ipVersion === 4 ? 32 : 128;
  let prefix = bits;
  if (maskText !== undefined) {
    if (/^\d+$/.test(maskText) && Number(maskText) <= bits) prefix = Number(maskText);
    else if (ipVersion === 4 && parseIpv4(maskText)) {
      const m = parseIpv4(maskText)!;
      const n = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
      let count = 0;
      let seenZero = false;
      for (let i = 31; i >= 0; i--) {
        if ((n >>> i) & 1) {
          if (seenZero) return undefined;
          count++;
        } else seenZero = true;
      }
      prefix = count;
    } else {
      throw `invalid mask \`${maskText}' specified`;
    }
  }
  const bytes = ipVersion === 4 ? parseIpv4(addrText) : parseIpv6(addrText);
  if (!bytes) return undefined;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return { bytes, prefix };
}

/** Prints a network as iptables-save does (`a.b.c.d/len`). */
export function formatNetwork(net: Network, ipVersion: 4 | 6): string {
  return `${ipVersion === 4 ? formatIpv4(net.bytes) : formatIpv6(net.bytes)}/${net.prefix}`;
}
