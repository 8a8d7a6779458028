/**
 * Line-oriented reading for the importers. File-level failures (missing, not a file, unreadable) become BAD_FILE
 * naming the path; row-level failures are collected in a RowIssues tally and never thrown, so one bad row cannot
 * abort an import of millions. Lines are numbered from 1 like an editor, so `ratings.csv:17` can be opened.
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { basename } from "node:path";
import { badFile, ReelfeedError } from "../errors";
import type { Dataset } from "./types";

/** Rows an importer could not turn into records: counted, with the first few as `file:line: why`. */
export interface RowIssues {
  readonly count: number;
  readonly examples: readonly string[];
  add(path: string, line: number, message: string): void;
}

export function createRowIssues(maxExamples = 3): RowIssues {
  let count = 0;
  const examples: string[] = [];
  return {
    get count() {
      return count;
    },
    examples,
    add(path, line, message) {
      count++;
      if (examples.length < maxExamples) examples.push(`${basename(path)}:${line}: ${message}`);
    },
  };
}

/** What every importer hands to validation. */
export interface ImportResult {
  dataset: Dataset;
  malformed: RowIssues;
  /**
   * Whether the source had an authoritative list of users / creators. Without one, validation creates id-only
   * records for the ids events mention instead of dropping those events.
   */
  provided: { users: boolean; creators: boolean };
}

/** Throws BAD_FILE unless `path` is an existing regular file. */
export async function assertFile(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw badFile(path, code === "ENOENT" ? "file not found" : `unreadable (${code ?? (err as Error).message})`);
  }
  if (!st.isFile()) throw badFile(path, "not a regular file");
}

/** True when `path` exists and is a regular file. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Calls `onLine` for every line (without its line ending; a UTF-8 BOM is stripped). `onLine` may throw a
 * ReelfeedError (a bad header) and it propagates; read errors become BAD_FILE.
 */
export async function forEachLine(
  path: string,
  encoding: BufferEncoding,
  onLine: (line: string, lineNo: number) => void,
): Promise<void> {
  await assertFile(path);
  const size = (await stat(path)).size;
  // Whole-file reads are several times faster than readline; stream only what would not fit in one string.
  if (size < WHOLE_FILE_MAX_BYTES) {
    let text: string;
    try {
      text = (await readFile(path)).toString(encoding);
    } catch (err) {
      throw badFile(path, `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
    let lineNo = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      onLine(line, ++lineNo);
      start = end + 1;
    }
    return;
  }
  const stream = createReadStream(path, { encoding, highWaterMark: 1 << 20 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const line = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      onLine(line, lineNo);
    }
  } catch (err) {
    if (err instanceof ReelfeedError) throw err;
    throw badFile(path, `unreadable (${(err as Error).message})`, lineNo || undefined);
  } finally {
    rl.close();
    stream.destroy();
  }
}

/** Files below this size are read in one piece. */
const WHOLE_FILE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Splits one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote). Returns undefined when a quoted field is
 * left open, so the caller can join the next line (a quoted field with a line break).
 */
export function splitCsvLine(line: string, delimiter = ","): string[] | undefined {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) {
      out.push(field);
      field = "";
    } else field += c;
    i++;
  }
  if (quoted) return undefined;
  out.push(field);
  return out;
}

/**
 * Calls `onRecord` for every CSV record with the line it starts on. Records may span lines inside quotes. Blank
 * lines are skipped. A quote left open at the end of the file is reported as a bad row, not a bad file.
 */
export async function forEachCsvRecord(
  path: string,
  onRecord: (fields: string[], lineNo: number) => void,
  options: { encoding?: BufferEncoding; delimiter?: string; issues?: RowIssues } = {},
): Promise<void> {
  const { encoding = "utf8", delimiter = ",", issues } = options;
  let pending: string | undefined;
  let pendingLine = 0;
  await forEachLine(path, encoding, (line, lineNo) => {
    const text = pending === undefined ? line : `${pending}\n${line}`;
    const start = pending === undefined ? lineNo : pendingLine;
    if (pending === undefined && line.trim() === "") return;
    const fields = splitCsvLine(text, delimiter);
    if (fields === undefined) {
      pending = text;
      pendingLine = start;
      return;
    }
    pending = undefined;
    onRecord(fields, start);
  });
  if (pending !== undefined) issues?.add(path, pendingLine, "unterminated quoted field");
}

/** Quotes a CSV field when it needs it. */
export function csvField(value: string, delimiter = ","): string {
  return /["\r\n]/.test(value) || value.includes(delimiter) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Maps a header row to column indexes, or throws BAD_FILE (line 1) naming the missing or unknown columns.
 * `optional` columns may be absent; any column outside required ∪ optional is rejected when `strict`.
 */
export function headerIndex(
  path: string,
  header: string[],
  required: readonly string[],
  optional: readonly string[] = [],
  strict = false,
): Map<string, number> {
  const index = new Map<string, number>();
  header.forEach((name, i) => index.set(name.trim(), i));
  const missing = required.filter((c) => !index.has(c));
  if (missing.length > 0) {
    throw badFile(path, `missing column(s) ${missing.join(", ")}; header is "${header.join(",")}"`, 1);
  }
  if (strict) {
    const known = new Set([...required, ...optional]);
    const unknown = [...index.keys()].filter((c) => !known.has(c));
    if (unknown.length > 0) {
      throw badFile(path, `unknown column(s) ${unknown.join(", ")}; allowed: ${[...known].join(", ")}`, 1);
    }
  }
  return index;
}
