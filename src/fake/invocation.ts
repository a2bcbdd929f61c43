/**
 * Which iptables binary the fake dataplane was asked to run, and the words
 * the binaries answer errors with.
 *
 * @module
 */
import type { IptablesVariant } from "../host/iptables_variant.ts";

/** The iptables version the fake reports. */
export const VERSION = "v1.8.9";

/** One run of an iptables binary: its family, backend and kind, and how it names itself. */
export interface Invocation {
  /** The IP family. */
  family: 4 | 6;
  /** The backend the binary uses. */
  backend: IptablesVariant;
  /** `iptables` itself, `iptables-save` or `iptables-restore`. */
  kind: "main" | "save" | "restore";
  /** The name it prints in messages. */
  prog: string;
  /** The backend as its version line prints it (`nf_tables`, `legacy`). */
  tag: string;
}

/**
 * Reads a binary's name (`ip6tables-nft-restore`, `iptables-save`, …);
 * `undefined` for anything that is not an iptables binary.
 */
export function parseInvocation(
  base: string,
  defaultBackend: IptablesVariant,
): Invocation | undefined {
  const m = /^(ip6?tables)(-nft|-legacy)?(-save|-restore)?$/.exec(base);
  if (!m) return undefined;
  const family = m[1] === "iptables" ? 4 : 6;
  const backend = m[2] === "-legacy" ? "legacy" : m[2] === "-nft" ? "nft" : defaultBackend;
  const kind = m[3] === "-save" ? "save" : m[3] === "-restore" ? "restore" : "main";
  const prog = kind === "main" ? m[1]! : backend === "nft" ? base : `${m[1]}${m[3]}`;
  return { family, backend, kind, prog, tag: backend === "nft" ? "nf_tables" : "legacy" };
}

/** The name `iptables-save` of a family and backend prints in its comment lines. */
export function saveProg(family: 4 | 6, backend: IptablesVariant): string {
  const base = family === 4 ? "iptables" : "ip6tables";
  return backend === "nft" ? `${base}-nft-save` : `${base}-save`;
}

/** A command that fails with this exit code and standard error. */
export class Failure {
  constructor(readonly code: number, readonly stderr: string) {}
}

/** A kernel rejection in an nft batch: reported (with the others) at COMMIT. */
export class KernelReject extends Failure {
  constructor(readonly detail: string, readonly warning: string) {
    super(4, warning + detail);
  }
}

/** A usage error at a line of the input, with the binary's help hint. */
export function usage(inv: Invocation, message: string, line: number, bare = false): string {
  const head = bare ? message : `${inv.prog} ${VERSION} (${inv.tag}): ${message}`;
  return `${head}\nError occurred at line: ${line}\n` +
    `Try \`${inv.prog} -h' or '${inv.prog} --help' for more information.\n`;
}

/** `line N failed` (with the reason, as iptables-nft words it). */
export function lineFailed(inv: Invocation, line: number, reason?: string): string {
  return inv.backend === "nft" && reason !== undefined
    ? `${inv.prog}: line ${line} failed: ${reason}\n`
    : `${inv.prog}: line ${line} failed\n`;
}

/** The line nf_tables reports for a rejected batch operation. */
export function kernelError(line: number, op: string, errno: string, what: string): string {
  return `line ${line}: ${op} failed (${errno}): ${what}\n`;
}
