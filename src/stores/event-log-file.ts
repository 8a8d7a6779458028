import { mkdir, open, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ReelEvent } from "../data/types";
import { ReelfeedError, badFile } from "../errors";
import { createIdWindowDeduper, type IdempotentEventLog } from "../events/id-window-deduper";
import type { LogRecord, LogStats, RetentionResult } from "./event-log";

/**
 * The embedded-mode event log: append-only JSON-lines segments in one directory.
 *
 * - Durability: `append` resolves only after the bytes are written and fdatasync'd. Appends that arrive while a
 *   write is in flight are coalesced into the next single write + fsync (group commit), so throughput grows with
 *   concurrency instead of being bounded by one fsync per batch.
 * - Rotation: a new segment starts once the current one reaches `segmentBytes` (one group commit never spans two).
 * - Crash recovery at open: only a torn tail is cut — the bytes after the last newline of the last segment. Everything
 *   acknowledged had been fsync'd and ends in a newline; an unterminated last line is by construction unacknowledged.
 * - Damage before the tail (a complete line that does not parse: bit rot, a stray edit) is never cut: cutting there
 *   would delete every acknowledged event after it. The line is skipped — by recovery, the id scan and readers alike,
 *   in every segment, so a segment does not turn fatal once it rotates — counted in `corruptRecords` and reported
 *   through `onWarning` with file and line, and everything after it is kept. Its one event is lost either way; the
 *   report tells the operator where to look.
 * - Readers never see bytes that are not yet durable, so a consumer cannot apply an event a crash then loses.
 * - Idempotency: a window of recent ids, rebuilt from the newest segments at open, so a retried batch is not stored
 *   twice, across restarts too.
 *
 * - Retention (opt-in, `retention`): `retain(processedThrough)` deletes closed segments, oldest first, that are past
 *   the age or size limit *and* lie wholly at or before the position every consumer has checkpointed. Unconsumed
 *   records are never deleted, whatever the limits: a stalled consumer makes the log grow (watch its lag) rather
 *   than lose events. The segment being written is never deleted.
 *
 * Cursor: "SSSSSSSSSS:OOOOOOOOOOOO", the segment number and the byte offset just past the record, zero-padded.
 */
export interface FileLogRetention {
  /** Closed segments last written longer ago than this may go, ms. @default undefined (no age limit) */
  maxAgeMs?: number;
  /** While all segments together are larger than this, the oldest may go, bytes. @default undefined (no size limit) */
  maxBytes?: number;
}

export interface FileEventLogOptions {
  /** Directory holding the segments; created when missing. */
  dir: string;
  /** Segment size that triggers rotation, bytes. @default 67_108_864 (config events.segmentBytes) */
  segmentBytes?: number;
  /** Event ids remembered for deduplication (rebuilt from the newest segments at open). @default 1_000_000 */
  dedupeIds?: number;
  /** fdatasync every group commit. Only benchmarks of something else should turn this off. @default true */
  fsync?: boolean;
  /** Receives each report of corrupt records skipped (file, line, count). @default a console.warn line */
  onWarning?: (message: string) => void;
  /** Deleting consumed segments by age or size (see the file comment). @default undefined (keep everything) */
  retention?: FileLogRetention;
}

/** A complete line that does not parse as an event: skipped, never cut (see the file comment). */
export interface CorruptRecord {
  path: string;
  /** Byte offset of the line's first byte in its segment. */
  offset: number;
  /** 1-based line number when known (records found at open); readers only know the offset. */
  line?: number;
  reason: string;
}

export interface FileEventLog extends IdempotentEventLog {
  readonly kind: "file";
  readonly dir: string;
  /** Bytes cut from a torn tail at open (0 after a clean shutdown). */
  readonly recoveredBytes: number;
  /** Corrupt complete lines skipped so far: found at open (last segment and the segments scanned for ids) or by reads. */
  readonly corruptRecords: readonly CorruptRecord[];
  /** Cursor just past the last durable record; undefined when the log is empty. */
  end(): string | undefined;
  retain(processedThrough: string | undefined): Promise<RetentionResult>;
  stats(position?: string): Promise<LogStats>;
}

const SEGMENT = /^seg-(\d{10})\.jsonl$/;
const READ_CHUNK = 1 << 20;

const segName = (n: number): string => `seg-${String(n).padStart(10, "0")}.jsonl`;
const cursorOf = (seg: number, offset: number): string => `${String(seg).padStart(10, "0")}:${String(offset).padStart(12, "0")}`;

function parseCursor(cursor: string): { seg: number; offset: number } {
  const m = /^(\d+):(\d+)$/.exec(cursor);
  if (!m) throw new ReelfeedError("BAD_USER_INPUT", `cursor: "${cursor}" is not a file-log cursor (segment:offset)`, { argument: "cursor" });
  return { seg: Number(m[1]), offset: Number(m[2]) };
}

interface Pending {
  data: Buffer;
  /** The records of `data`, one JSON line each (newline included), for the tail of recent records. */
  lines: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export async function createFileEventLog(options: FileEventLogOptions): Promise<FileEventLog> {
  const {
    dir,
    segmentBytes = 64 * 1024 * 1024,
    dedupeIds = 1_000_000,
    fsync = true,
    onWarning = (message: string) => console.warn(`reelfeed: ${message}`),
    retention = {},
  } = options;
  for (const [key, v] of Object.entries(retention)) {
    if (v !== undefined && !(typeof v === "number" && v > 0)) {
      throw new ReelfeedError("BAD_CONFIG", `event log ${dir}: retention.${key} must be a positive number, got ${String(v)}`, { key: `retention.${key}` });
    }
  }
  await mkdir(dir, { recursive: true });
  const segments = (await readdir(dir))
    .map((f) => SEGMENT.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  // Sizes of closed segments never change; the current one's durable size is tracked in `durable`.
  const sizes = new Map<number, number>();
  for (const n of segments.slice(0, -1)) sizes.set(n, (await stat(join(dir, segName(n)))).size);

  let current = segments.length > 0 ? segments[segments.length - 1] : 1;
  if (segments.length === 0) segments.push(current);
  const recovered = await recoverSegment(join(dir, segName(current)));
  let fh: FileHandle = await open(join(dir, segName(current)), "a");
  if (recovered.createdOrCut) await syncDir(dir);
  let durable = recovered.size;

  // Keyed by path and offset: recovery and the id scan both see the last segment, readers may pass a line again.
  const corrupt = new Map<string, CorruptRecord>();
  const noteCorrupt = (found: readonly CorruptRecord[]): CorruptRecord[] => {
    const fresh = found.filter((c) => !corrupt.has(`${c.path}@${c.offset}`));
    for (const c of fresh) corrupt.set(`${c.path}@${c.offset}`, c);
    return fresh;
  };
  let seed: string[];
  try {
    seed = await collectRecentIds(dir, segments, dedupeIds, (found) => noteCorrupt(found));
  } catch (err) {
    await fh.close();
    throw err;
  }
  noteCorrupt(recovered.corrupt);
  // One line per segment at open, not one per record: a damaged region can hold thousands of lines.
  const bySegment = new Map<string, CorruptRecord[]>();
  for (const c of corrupt.values()) bySegment.set(c.path, [...(bySegment.get(c.path) ?? []), c]);
  for (const [path, list] of bySegment) onWarning(corruptReport(path, list));

  let pending: Pending[] = [];
  let writing = false;
  let broken: Error | undefined;
  let closed = false;

  async function rotate(): Promise<void> {
    await fh.close();
    sizes.set(current, durable);
    current += 1;
    segments.push(current);
    fh = await open(join(dir, segName(current)), "a");
    durable = 0;
    // The new file's directory entry must be durable before anything in it is acknowledged.
    await syncDir(dir);
  }

  async function flush(): Promise<void> {
    writing = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      const data = batch.length === 1 ? batch[0].data : Buffer.concat(batch.map((p) => p.data));
      try {
        if (broken) throw broken;
        if (durable > 0 && durable + data.length > segmentBytes) await rotate();
        let written = 0;
        while (written < data.length) {
          const { bytesWritten } = await fh.write(data, written, data.length - written);
          written += bytesWritten;
        }
        if (fsync) await fh.datasync();
        let at = durable;
        for (const p of batch) {
          tail.add(current, at, p.lines);
          at += p.data.length;
        }
        durable += data.length;
        for (const p of batch) p.resolve();
      } catch (err) {
        // Cut a partial write back so the next append starts on a line boundary; if even that fails, refuse
        // further appends (a reopen recovers the file).
        try {
          await fh.truncate(durable);
        } catch (truncErr) {
          broken ??= truncErr as Error;
        }
        const wrapped = new ReelfeedError("UNAVAILABLE", `event log ${dir}: write failed: ${(err as Error).message}`, { path: dir, retryable: true });
        for (const p of batch) p.reject(wrapped);
      }
    }
    writing = false;
  }

  function append(events: readonly ReelEvent[]): Promise<void> {
    if (closed) return Promise.reject(new ReelfeedError("UNAVAILABLE", `event log ${dir} is closed`, { path: dir, retryable: true }));
    if (events.length === 0) return Promise.resolve();
    const lines = events.map((e) => JSON.stringify(e) + "\n");
    return new Promise<void>((resolve, reject) => {
      pending.push({ data: Buffer.from(lines.join(""), "utf8"), lines, resolve, reject });
      if (!writing) void flush();
    });
  }

  const deduper = createIdWindowDeduper({ append, maxIds: dedupeIds, seed });

  /** A record, or undefined for a corrupt line: skipped (the reader moves past it), reported once. */
  function readRecord(path: string, text: string, offset: number): ReelEvent | undefined {
    const parsed = parseRecord(text);
    if (typeof parsed !== "string") return parsed;
    const fresh = noteCorrupt([{ path, offset, reason: parsed }]);
    if (fresh.length > 0) onWarning(corruptReport(path, fresh));
    return undefined;
  }

  /**
   * The newest durable records, kept as their lines: a consumer that keeps up (the embedded server applying its own
   * impressions a moment after they were logged) reads them from here instead of opening the segment, reading and
   * closing it again on every poll. The same lines as the file holds, parsed the same way.
   */
  const tail = createRecentTail(TAIL_RECORDS);

  async function readSegment(seg: number, from: number, max: number, out: LogRecord[]): Promise<number> {
    const limit = seg === current ? durable : (sizes.get(seg) ?? 0);
    const path = join(dir, segName(seg));
    let offset = from;
    if (offset >= limit) return offset;
    let rh: FileHandle;
    try {
      rh = await open(path, "r");
    } catch (err) {
      // Deleted by retention while this read was under way: a reader that far behind was not a consumer retention
      // waited for; it continues with the oldest segment kept.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && !segments.includes(seg)) return offset;
      throw err;
    }
    try {
      while (offset < limit && out.length < max) {
        const len = Math.min(READ_CHUNK, limit - offset);
        const buf = Buffer.allocUnsafe(len);
        const { bytesRead } = await rh.read(buf, 0, len, offset);
        if (bytesRead === 0) break;
        let start = 0;
        let nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= bytesRead) {
          // One record longer than a chunk: read it whole.
          const whole = await readLine(rh, offset, limit);
          const event = readRecord(path, whole.toString("utf8"), offset);
          if (event) out.push({ cursor: cursorOf(seg, offset + whole.length + 1), event });
          offset += whole.length + 1;
          continue;
        }
        while (nl >= 0 && nl < bytesRead && out.length < max) {
          const event = readRecord(path, buf.toString("utf8", start, nl), offset + start);
          if (event) out.push({ cursor: cursorOf(seg, offset + nl + 1), event });
          start = nl + 1;
          nl = buf.indexOf(10, start);
        }
        offset += start;
      }
    } finally {
      await rh.close();
    }
    return offset;
  }

  return {
    kind: "file",
    dir,
    recoveredBytes: recovered.cutBytes,
    get corruptRecords() {
      return [...corrupt.values()];
    },
    append: (events) => append(events),
    appendNew: (events) => deduper.appendNew(events),
    end() {
      for (let i = segments.length - 1; i >= 0; i--) {
        const n = segments[i];
        const size = n === current ? durable : (sizes.get(n) ?? 0);
        if (size > 0) return cursorOf(n, size);
      }
      return undefined;
    },
    async retain(processedThrough) {
      const result = { removed: 0, bytes: 0 };
      if (processedThrough === undefined || (retention.maxAgeMs === undefined && retention.maxBytes === undefined)) return result;
      const safe = parseCursor(processedThrough);
      let total = durable;
      for (const n of segments) if (n !== current) total += sizes.get(n) ?? 0;
      const now = Date.now();
      // Oldest first and contiguous: the log's start only ever moves forward.
      while (segments.length > 1 && segments[0] !== current) {
        const n = segments[0];
        const size = sizes.get(n) ?? 0;
        const consumed = safe.seg > n || (safe.seg === n && safe.offset >= size);
        if (!consumed) break;
        const path = join(dir, segName(n));
        const tooBig = retention.maxBytes !== undefined && total > retention.maxBytes;
        const tooOld = retention.maxAgeMs !== undefined && now - (await stat(path)).mtimeMs > retention.maxAgeMs;
        if (!tooBig && !tooOld) break;
        segments.shift();
        sizes.delete(n);
        await rm(path, { force: true });
        total -= size;
        result.removed++;
        result.bytes += size;
      }
      if (result.removed > 0) await syncDir(dir);
      return result;
    },
    async stats(position) {
      const sizeOf = (n: number): number => (n === current ? durable : (sizes.get(n) ?? 0));
      let bytes = 0;
      for (const n of segments) bytes += sizeOf(n);
      let newest: string | undefined;
      for (let i = segments.length - 1; i >= 0 && newest === undefined; i--) if (sizeOf(segments[i]) > 0) newest = cursorOf(segments[i], sizeOf(segments[i]));
      let pendingBytes = bytes;
      if (position !== undefined) {
        const at = parseCursor(position);
        pendingBytes = 0;
        for (const n of segments) if (n >= at.seg) pendingBytes += n === at.seg ? Math.max(0, sizeOf(n) - at.offset) : sizeOf(n);
      }
      return { bytes, newest, pendingBytes };
    },
    async read(after, max) {
      const out: LogRecord[] = [];
      if (max <= 0) return out;
      const recent = after === undefined ? undefined : tail.after(parseCursor(after), max);
      if (recent) {
        for (const r of recent) {
          const path = join(dir, segName(r.seg));
          const event = readRecord(path, r.line.slice(0, -1), r.end - Buffer.byteLength(r.line));
          if (event) out.push({ cursor: cursorOf(r.seg, r.end), event });
        }
        return out;
      }
      let seg = segments[0];
      let offset = 0;
      if (after !== undefined) ({ seg, offset } = parseCursor(after));
      // A copy: retention may drop the oldest segments while this read awaits.
      for (const n of [...segments]) {
        if (n < seg) continue;
        await readSegment(n, n === seg ? offset : 0, max, out);
        if (out.length >= max) break;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      while (writing || pending.length > 0) await new Promise((r) => setTimeout(r, 1));
      await fh.close();
    },
  };
}

/** Durable records kept in memory for readers that keep up (see `tail` in createFileEventLog). */
const TAIL_RECORDS = 4096;

interface TailRecord {
  seg: number;
  /** Byte offset just past the record: its cursor. */
  end: number;
  line: string;
}

/** The last `capacity` records appended, oldest first, and the reads they can answer. */
function createRecentTail(capacity: number) {
  let records: TailRecord[] = [];
  let head = 0;
  /** Start offset of records[i] in its segment. */
  const startOf = (r: TailRecord): number => r.end - Buffer.byteLength(r.line);
  return {
    /** Records written to segment `seg` from byte `from` on, in order. */
    add(seg: number, from: number, lines: readonly string[]): void {
      let at = from;
      for (const line of lines) {
        at += Buffer.byteLength(line);
        records.push({ seg, end: at, line });
      }
      if (records.length - head > capacity) head = records.length - capacity;
      // Compacted now and then, not on every add: dropping the front of an array copies the rest.
      if (head > capacity) {
        records = records.slice(head);
        head = 0;
      }
    },
    /**
     * Up to `max` records following the position `at` (a record boundary), when the tail holds everything after it:
     * [] when `at` is the end of the newest record; undefined when `at` lies before the tail (read the file).
     */
    after(at: { seg: number; offset: number }, max: number): TailRecord[] | undefined {
      if (records.length === head) return undefined;
      const last = records[records.length - 1];
      if (last.seg === at.seg && last.end === at.offset) return [];
      // The first record ending past `at`.
      let lo = head;
      let hi = records.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const r = records[mid];
        if (r.seg < at.seg || (r.seg === at.seg && r.end <= at.offset)) lo = mid + 1;
        else hi = mid;
      }
      if (lo === records.length) return undefined;
      // Only when `at` is exactly where that record starts, or where the one before it ended (a rotation between).
      const first = records[lo];
      const prev = lo > head ? records[lo - 1] : undefined;
      const boundary = (first.seg === at.seg && startOf(first) === at.offset) || (prev !== undefined && prev.seg === at.seg && prev.end === at.offset);
      if (!boundary) return undefined;
      return records.slice(lo, lo + max);
    },
  };
}

/** The event on one line, or why the line is not one. */
function parseRecord(text: string): ReelEvent | string {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  if (typeof e !== "object" || e === null || typeof (e as { id?: unknown }).id !== "string") return "not an event";
  return e as ReelEvent;
}

/** "seg.jsonl: 2 corrupt records skipped (line 100 at byte 9000: Unexpected token ...; ...)" — first few named. */
function corruptReport(path: string, list: readonly CorruptRecord[]): string {
  const shown = list.slice(0, 5).map((c) => `${c.line === undefined ? "" : `line ${c.line} `}at byte ${c.offset}: ${c.reason}`);
  const more = list.length > shown.length ? `; and ${list.length - shown.length} more` : "";
  return `${path}: ${list.length} corrupt record${list.length === 1 ? "" : "s"} skipped, later records kept (${shown.join("; ")}${more})`;
}

/** Walks the complete lines of `buf`; returns the offset just past the last newline (where a torn tail starts). */
function scanLines(path: string, buf: Buffer, corrupt: CorruptRecord[], onEvent?: (e: ReelEvent) => void): number {
  let start = 0;
  let line = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl < 0) return start;
    line++;
    const parsed = parseRecord(buf.toString("utf8", start, nl));
    if (typeof parsed === "string") corrupt.push({ path, offset: start, line, reason: parsed });
    else onEvent?.(parsed);
    start = nl + 1;
  }
}

async function readLine(rh: FileHandle, offset: number, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let pos = offset;
  while (pos < limit) {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, limit - pos));
    const { bytesRead } = await rh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    const nl = buf.subarray(0, bytesRead).indexOf(10);
    if (nl >= 0) {
      parts.push(buf.subarray(0, nl));
      return Buffer.concat(parts);
    }
    parts.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return Buffer.concat(parts);
}

/**
 * Cuts the segment back to its last newline. A crash mid-write leaves a torn or zero-filled unterminated tail; none
 * of it was acknowledged (acks follow the fsync of everything before them, and every record ends in a newline).
 * Complete lines that do not parse are reported, not cut: everything after them may be acknowledged.
 */
async function recoverSegment(path: string): Promise<{ size: number; cutBytes: number; createdOrCut: boolean; corrupt: CorruptRecord[] }> {
  const fh = await open(path, "a+");
  try {
    const { size } = await fh.stat();
    if (size === 0) return { size: 0, cutBytes: 0, createdOrCut: true, corrupt: [] };
    const buf = Buffer.allocUnsafe(size);
    await fh.read(buf, 0, size, 0);
    const corrupt: CorruptRecord[] = [];
    const good = scanLines(path, buf, corrupt);
    if (good < size) {
      await fh.truncate(good);
      await fh.sync();
    }
    return { size: good, cutBytes: size - good, createdOrCut: good < size, corrupt };
  } finally {
    await fh.close();
  }
}

/** Ids of the newest records, oldest first, at most `max`: segments are scanned newest first until enough. */
async function collectRecentIds(
  dir: string,
  segments: number[],
  max: number,
  onCorrupt: (found: CorruptRecord[]) => void,
): Promise<string[]> {
  const perSegment: string[][] = [];
  let total = 0;
  for (let i = segments.length - 1; i >= 0 && total < max; i--) {
    const path = join(dir, segName(segments[i]));
    const buf = await readIfExists(path);
    const ids: string[] = [];
    const corrupt: CorruptRecord[] = [];
    const end = scanLines(path, buf, corrupt, (e) => ids.push(e.id));
    // Only the last segment may end torn, and recovery has cut it; an unterminated line anywhere else is damage.
    if (end < buf.length) throw badFile(path, "incomplete last record in a closed segment", countLines(buf, end) + 1);
    onCorrupt(corrupt);
    perSegment.push(ids);
    total += ids.length;
  }
  const all = perSegment.reverse().flat();
  return all.length > max ? all.slice(all.length - max) : all;
}

function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

async function readIfExists(path: string): Promise<Buffer> {
  try {
    const fh = await open(path, "r");
    try {
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
