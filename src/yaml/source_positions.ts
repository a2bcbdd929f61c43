/**
 * Where the tables, chains, rules and actions of a loaded policy were
 * written: recorded by the loader, turned into a line and column only when
 * asked (`sourcePositionOf`).
 *
 * @module
 */
import { YamlDocument } from "./document.ts";
import { nodeAtField } from "./field_path.ts";
import { PolicyFileError } from "./errors.ts";

/** Where a table, chain or rule of a loaded policy was written. */
export interface SourcePosition {
  /** The file name. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The field path, e.g. `tables.filter.chains.rp-input[2]`. */
  field: string;
}

/** Where one load's items are: the file, and where its lines start (for line and column). */
export interface LoadedFile {
  /** The file name. */
  file: string;
  /** Where its lines start. */
  lines: { linePos(offset: number): { line: number; col: number } };
}

/**
 * A file loaded on the fast path: its text, parsed again with positions
 * (once) when a position is first asked for.
 */
export interface LazyFile {
  /** The file name. */
  file: string;
  /** Its text. */
  text: string;
  /** The positioned document, once parsed. */
  doc?: YamlDocument;
}

/**
 * Where an item was written: the offset in a positioned file, or, for a
 * file loaded on the fast path, the field path alone, whose node is found
 * when asked (at its key, or at its value).
 */
export type RecordedSource =
  | { at: LoadedFile; offset: number; field: string }
  | { lazy: LazyFile; field: string; atKey: boolean };

/**
 * Items and where they were written: the offset, turned into a line and
 * column only when asked (a large file has tens of thousands of items); or,
 * for a file loaded on the fast path, the field path alone.
 */
const SOURCES = new WeakMap<object, RecordedSource>();

/** Records where a loaded item was written. */
export function recordSource(item: object, source: RecordedSource): void {
  SOURCES.set(item, source);
}

/** Where a tree's node is in the file: the positioned parser's nodes only. */
function lazyPosition(
  lazy: LazyFile,
  field: string,
  atKey: boolean,
): { line: number; col: number } | undefined {
  lazy.doc ??= YamlDocument.parse(lazy.text);
  const found = nodeAtField(lazy.doc, field);
  if (found === undefined) return undefined;
  const node = atKey ? found.keyNode ?? found.node : found.node;
  return lazy.doc.linePos(lazy.doc.offset(node));
}

/**
 * Where a loaded item was written (see `sourcePositionOf`).
 *
 * @returns Its position, or `undefined` for objects not loaded from YAML.
 */
export function recordedPosition(item: object): SourcePosition | undefined {
  const source = SOURCES.get(item);
  if (source === undefined) return undefined;
  if ("lazy" in source) {
    const at = lazyPosition(source.lazy, source.field, source.atKey);
    if (at === undefined) return undefined;
    return { file: source.lazy.file, line: at.line, column: at.col, field: source.field };
  }
  const { line, col } = source.at.lines.linePos(source.offset);
  return { file: source.at.file, line, column: col, field: source.field };
}

/**
 * An error at where a loaded item was written: a {@linkcode PolicyFileError}
 * at its `file:line:column`, or `undefined` for an item not loaded from YAML
 * (the caller keeps its own error).
 *
 * @param item A rule, chain, table policy or action of a loaded policy.
 * @param reason The message.
 * @param options The field to report (from the recorded one), and the cause.
 * @returns The error, or `undefined`.
 */
export function locatedError(
  item: object,
  reason: string,
  options: { field?: (field: string) => string; cause?: unknown } = {},
): PolicyFileError | undefined {
  const at = recordedPosition(item);
  if (at === undefined) return undefined;
  return new PolicyFileError(reason, {
    file: at.file,
    line: at.line,
    column: at.column,
    field: options.field === undefined ? at.field : options.field(at.field),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}
