import { appendFile, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { compareCursors } from "../../src/events/cursor";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { ingestThenKill } from "../events/kill-helpers";

const ev = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: `u${i % 3}`, videoId: `v${i}`, ts: 1_700_000_000_000 + i });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-filelog-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(log: { read: (a: string | undefined, m: number) => Promise<{ cursor: string; event: ReelEvent }[]> }, step = 7) {
  const out: { cursor: string; event: ReelEvent }[] = [];
  let cursor: string | undefined;
  for (;;) {
    const recs = await log.read(cursor, step);
    if (recs.length === 0) return out;
    out.push(...recs);
    cursor = recs[recs.length - 1].cursor;
  }
}

describe("file event log", () => {
  it("appends, rotates by size and reads back in order with increasing cursors", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 1024 });
    for (let b = 0; b < 10; b++) await log.append(Array.from({ length: 10 }, (_, i) => ev(b * 10 + i)));
    const segs = (await readdir(dir)).filter((f) => f.endsWith(".jsonl"));
    expect(segs.length).toBeGreaterThan(3);
    const all = await readAll(log);
    expect(all.map((r) => r.event.id)).toEqual(Array.from({ length: 100 }, (_, i) => `e${i}`));
    for (let i = 1; i < all.length; i++) expect(compareCursors(all[i - 1].cursor, all[i].cursor)).toBeLessThan(0);
    expect(log.end()).toBe(all[all.length - 1].cursor);
    // Reading after a cursor continues exactly after that record, also across segments.
    expect((await log.read(all[41].cursor, 3)).map((r) => r.event.id)).toEqual(["e42", "e43", "e44"]);
    await log.close();
    const again = await createFileEventLog({ dir, segmentBytes: 1024 });
    expect((await readAll(again, 1000)).length).toBe(100);
    await again.close();
  });

  it("serves a reader that keeps up from memory: the same records and cursors as the file, across group commits and rotations", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 2048 });
    // Multi-byte text moves byte offsets away from character counts; concurrent appends share one group commit.
    const wide = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: `u${i % 3}`, videoId: `v${i}-é漢字`, ts: 1_700_000_000_000 + i });
    for (let b = 0; b < 8; b++) await Promise.all(Array.from({ length: 6 }, (_, i) => log.append([wide(b * 6 + i), ev(1000 + b * 6 + i)])));
    const reopened = await createFileEventLog({ dir: dir, segmentBytes: 2048 });
    const fromFile = await readAll(reopened, 5);
    await reopened.close();
    expect(fromFile).toHaveLength(96);
    expect((await readdir(dir)).filter((f) => f.endsWith(".jsonl")).length).toBeGreaterThan(2);
    // With the segments gone, only memory can answer: every position a consumer checkpoints reads as the file did.
    for (const f of await readdir(dir)) await rm(join(dir, f));
    for (const at of [0, 1, 17, 40, 94]) expect(await log.read(fromFile[at].cursor, 5)).toEqual(fromFile.slice(at + 1, at + 6));
    expect(await log.read(fromFile[95].cursor, 5)).toEqual([]);
    await log.close();
  });

  it("group-commits concurrent appends: all durable, one write per burst", async () => {
    const log = await createFileEventLog({ dir });
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append([ev(i)])));
    const all = await readAll(log, 1000);
    expect(new Set(all.map((r) => r.event.id)).size).toBe(300);
    await log.close();
  });

  it("cuts a torn last line at open and keeps appending on a line boundary", async () => {
    const log = await createFileEventLog({ dir });
    await log.append([ev(1), ev(2)]);
    await log.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.endsWith(".jsonl"))!);
    const good = (await stat(seg)).size;
    const torn = '{"id":"e3","type":"li';
    await appendFile(seg, torn);
    const reopened = await createFileEventLog({ dir });
    expect(reopened.recoveredBytes).toBe(Buffer.byteLength(torn));
    expect((await stat(seg)).size).toBe(good);
    await reopened.append([ev(4)]);
    expect((await readAll(reopened)).map((r) => r.event.id)).toEqual(["e1", "e2", "e4"]);
    await reopened.close();
    expect((await readFile(seg, "utf8")).endsWith("\n")).toBe(true);
  });

  it("deduplicates by id, across reopen", async () => {
    const log = await createFileEventLog({ dir });
    expect(await log.appendNew([ev(1), ev(2), ev(1)])).toEqual([true, true, false]);
    expect(await log.appendNew([ev(2), ev(3)])).toEqual([false, true]);
    await log.close();
    const again = await createFileEventLog({ dir });
    expect(await again.appendNew([ev(1), ev(3), ev(4)])).toEqual([false, false, true]);
    expect((await readAll(again)).map((r) => r.event.id)).toEqual(["e1", "e2", "e3", "e4"]);
    await again.close();
  });

  it("skips a corrupt record in a closed segment, reports it with file and line, and keeps the records after it", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 200 });
    for (let i = 0; i < 6; i++) await log.append([ev(i)]);
    await log.close();
    const first = join(dir, (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort()[0]);
    const lines = (await readFile(first, "utf8")).split("\n").length - 1;
    await appendFile(first, "not json\n");
    const warnings: string[] = [];
    const again = await createFileEventLog({ dir, segmentBytes: 200, onWarning: (m) => warnings.push(m) });
    expect(again.corruptRecords).toMatchObject([{ path: first, line: lines + 1 }]);
    expect(warnings).toEqual([expect.stringContaining(`${first}: 1 corrupt record skipped`)]);
    expect(warnings[0]).toContain(`line ${lines + 1}`);
    expect((await readAll(again)).map((r) => r.event.id)).toEqual(["e0", "e1", "e2", "e3", "e4", "e5"]);
    await again.close();
  });

  it("rejects an unterminated record in a closed segment with BAD_FILE naming the file and line", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 200 });
    for (let i = 0; i < 6; i++) await log.append([ev(i)]);
    await log.close();
    const first = join(dir, (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort()[0]);
    const lines = (await readFile(first, "utf8")).split("\n").length - 1;
    await appendFile(first, '{"id":"torn');
    await expect(createFileEventLog({ dir, segmentBytes: 200 })).rejects.toMatchObject({
      code: "BAD_FILE",
      message: expect.stringContaining(`${first}:${lines + 1}: incomplete last record`),
    });
  });

  it("kill -9 mid-stream: every acknowledged event is there exactly once after reopen", async () => {
    const { acked } = await ingestThenKill(["file", dir], 40);
    const log = await createFileEventLog({ dir, segmentBytes: 64 * 1024 });
    const ids = (await readAll(log, 5000)).map((r) => r.event.id);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const n of acked) for (let i = 0; i < 50; i++) expect(counts.get(`b${n}-e${i}`), `b${n}-e${i}`).toBe(1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    await log.close();
  });
});
