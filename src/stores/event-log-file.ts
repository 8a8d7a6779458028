import { mkdir, open, readdir, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ReelEvent } from "../data/types";
import { ReelfeedError, badFile } from "../errors";
import { createIdWindowDeduper, type IdempotentEventLog } from "../events/id-window-deduper";
import type { LogRecord } from "./event-log";

/**
 * The embedded-mode event log: append-only JSON-lines segments in one directory.
 *
 * - Durability: `append` resolves only after the bytes are written and fdatasync'd. Appends that arrive while a
 *   write is in flight are coalesced into the next single write + fsync (group commit), so throughput grows with
 *   concurrency instead of being bounded by one fsync per batch.
 * - Rotation: a new segment starts once the current one reaches `segmentBytes` (one group commit never spans two).
 * - Crash recovery at open: the last segment is cut back to its last complete, parseable line. Everything that was
 *   acknowledged had been fsync'd and so is intact; a torn tail is by construction unacknowledged.
 * - Readers never see bytes that are not yet durable, so a consumer cannot apply an event a crash then loses.
 * - Idempotency: a window of recent ids, rebuilt from the newest segments at open, so a retried batch is not stored
 *   twice, across restarts too.
 *
 * Cursor: "SSSSSSSSSS:OOOOOOOOOOOO", the segment number and the byte offset just past the record, zero-padded.
 */
export interface FileEventLogOptions {
  /** Directory holding the segments; created when missing. */
  dir: string;
  /** Segment size that triggers rotation, bytes. @default 67_108_864 (config events.segmentBytes) */
  segmentBytes?: number;
  /** Event ids remembered for deduplication (rebuilt from the newest segments at open). @default 1_000_000 */
  dedupeIds?: number;
  /** fdatasync every group commit. Only benchmarks of something else should turn this off. @default true */
  fsync?: boolean;
}

export interface FileEventLog extends IdempotentEventLog {
  readonly kind: "file";
  readonly dir: string;
  /** Bytes cut from a torn tail at open (0 after a clean shutdown). */
  readonly recoveredBytes: number;
  /** Cursor just past the last durable record; undefined when the log is empty. */
  end(): string | undefined;
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
  resolve: () => void;
  reject: (err: unknown) => void;
}

export async function createFileEventLog(options: FileEventLogOptions): Promise<FileEventLog> {
  const { dir, segmentBytes = 64 * 1024 * 1024, dedupeIds = 1_000_000, fsync = true } = options;
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

  const seed = await collectRecentIds(dir, segments, dedupeIds);

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
    let text = "";
    for (const e of events) text += JSON.stringify(e) + "\n";
    return new Promise<void>((resolve, reject) => {
      pending.push({ data: Buffer.from(text, "utf8"), resolve, reject });
      if (!writing) void flush();
    });
  }

  const deduper = createIdWindowDeduper({ append, maxIds: dedupeIds, seed });

  async function readSegment(seg: number, from: number, max: number, out: LogRecord[]): Promise<number> {
    const limit = seg === current ? durable : (sizes.get(seg) ?? 0);
    const path = join(dir, segName(seg));
    let offset = from;
    if (offset >= limit) return offset;
    const rh = await open(path, "r");
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
          out.push({ cursor: cursorOf(seg, offset + whole.length + 1), event: parseLine(path, whole.toString("utf8"), offset) });
          offset += whole.length + 1;
          continue;
        }
        while (nl >= 0 && nl < bytesRead && out.length < max) {
          const line = buf.toString("utf8", start, nl);
          out.push({ cursor: cursorOf(seg, offset + nl + 1), event: parseLine(path, line, offset + start) });
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
    async read(after, max) {
      const out: LogRecord[] = [];
      if (max <= 0) return out;
      let seg = segments[0];
      let offset = 0;
      if (after !== undefined) ({ seg, offset } = parseCursor(after));
      for (const n of segments) {
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

function parseLine(path: string, line: string, byteOffset: number): ReelEvent {
  try {
    const e = JSON.parse(line) as ReelEvent;
    if (typeof e !== "object" || e === null || typeof e.id !== "string") throw new Error("not an event");
    return e;
  } catch (err) {
    throw badFile(path, `corrupt record at byte ${byteOffset}: ${(err as Error).message}`);
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
 * Cuts the segment back to its longest prefix of complete, parseable lines. A crash mid-write leaves a torn or
 * zero-filled tail; none of it was acknowledged (acks follow the fsync of everything before them).
 */
async function recoverSegment(path: string): Promise<{ size: number; cutBytes: number; createdOrCut: boolean }> {
  const fh = await open(path, "a+");
  try {
    const { size } = await fh.stat();
    if (size === 0) return { size: 0, cutBytes: 0, createdOrCut: true };
    const buf = Buffer.allocUnsafe(size);
    await fh.read(buf, 0, size, 0);
    let good = 0;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      try {
        const e = JSON.parse(buf.toString("utf8", start, nl)) as { id?: unknown };
        if (typeof e !== "object" || e === null || typeof e.id !== "string") break;
      } catch {
        break;
      }
      good = nl + 1;
      start = nl + 1;
    }
    if (good < size) {
      await fh.truncate(good);
      await fh.sync();
    }
    return { size: good, cutBytes: size - good, createdOrCut: good < size };
  } finally {
    await fh.close();
  }
}

/** Ids of the newest records, oldest first, at most `max`: segments are scanned newest first until enough. */
async function collectRecentIds(dir: string, segments: number[], max: number): Promise<string[]> {
  const perSegment: string[][] = [];
  let total = 0;
  for (let i = segments.length - 1; i >= 0 && total < max; i--) {
    const path = join(dir, segName(segments[i]));
    const text = await readTextIfExists(path);
    const ids: string[] = [];
    let lineNo = 0;
    for (const line of text.split("\n")) {
      lineNo++;
      if (line.length === 0) continue;
      try {
        ids.push((JSON.parse(line) as { id: string }).id);
      } catch (err) {
        throw badFile(path, `corrupt record: ${(err as Error).message}`, lineNo);
      }
    }
    perSegment.push(ids);
    total += ids.length;
  }
  const all = perSegment.reverse().flat();
  return all.length > max ? all.slice(all.length - max) : all;
}

async function readTextIfExists(path: string): Promise<string> {
  try {
    const fh = await open(path, "r");
    try {
      return await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
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
