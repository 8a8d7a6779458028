import { mkdtemp, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";

/**
 * Issue 10, defect 1: recovery used to cut the active segment at the first line that did not parse, so one damaged
 * byte deleted every later acknowledged event without a word. Only an unterminated tail may be cut.
 */
const ev = (i: number): ReelEvent => ({ id: `e${i}`, type: "like", userId: `u${i % 7}`, videoId: `v${i}`, ts: 1_700_000_000_000 + i });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-filelog-corrupt-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readIds(log: FileEventLog): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const recs = await log.read(cursor, 5000);
    if (recs.length === 0) return ids;
    for (const r of recs) ids.push(r.event.id);
    cursor = recs[recs.length - 1].cursor;
  }
}

/** Overwrites the first byte of 1-based line `line` with `byte`. */
async function damageLine(path: string, line: number, byte: string): Promise<number> {
  const buf = await readFile(path);
  let offset = 0;
  for (let l = 1; l < line; l++) offset = buf.indexOf(10, offset) + 1;
  const fh = await open(path, "r+");
  try {
    await fh.write(Buffer.from(byte), 0, 1, offset);
  } finally {
    await fh.close();
  }
  return offset;
}

describe("file event log: damage before the tail of the active segment", () => {
  it("keeps all 19,999 intact events after a corrupt line 100 of 20,000, and reports the line", async () => {
    const log = await createFileEventLog({ dir });
    for (let b = 0; b < 20; b++) await log.append(Array.from({ length: 1000 }, (_, i) => ev(b * 1000 + i)));
    await log.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.endsWith(".jsonl"))!);
    const size = (await stat(seg)).size;
    const offset = await damageLine(seg, 100, "X");

    const warnings: string[] = [];
    const reopened = await createFileEventLog({ dir, onWarning: (m) => warnings.push(m) });
    // Nothing is cut: the damaged line stays for the operator to inspect.
    expect((await stat(seg)).size).toBe(size);
    expect(reopened.recoveredBytes).toBe(0);
    expect(reopened.corruptRecords).toEqual([{ path: seg, offset, line: 100, reason: expect.any(String) }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${seg}: 1 corrupt record skipped`);
    expect(warnings[0]).toContain("line 100");

    const expected = Array.from({ length: 20_000 }, (_, i) => `e${i}`).filter((id) => id !== "e99");
    expect(await readIds(reopened)).toEqual(expected);
    // The id window still knows the later events, and new appends land after them.
    expect(await reopened.appendNew([ev(19_999), ev(20_000)])).toEqual([false, true]);
    expect((await readIds(reopened)).slice(-2)).toEqual(["e19999", "e20000"]);
    await reopened.close();
  });

  it("still cuts only a torn tail when a corrupt complete line precedes it", async () => {
    const log = await createFileEventLog({ dir });
    await log.append([ev(1), ev(2), ev(3)]);
    await log.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.endsWith(".jsonl"))!);
    await damageLine(seg, 2, "\0");
    const fh = await open(seg, "a");
    await fh.write('{"id":"e4","ty');
    await fh.close();
    const reopened = await createFileEventLog({ dir, onWarning: () => {} });
    expect(reopened.recoveredBytes).toBe(Buffer.byteLength('{"id":"e4","ty'));
    expect(reopened.corruptRecords.map((c) => c.line)).toEqual([2]);
    expect(await readIds(reopened)).toEqual(["e1", "e3"]);
    await reopened.close();
  });

  it("a reader skips and reports a corrupt line in an old segment the id scan at open did not reach", async () => {
    const log = await createFileEventLog({ dir, segmentBytes: 300, dedupeIds: 2 });
    for (let i = 0; i < 12; i++) await log.append([ev(i)]);
    await log.close();
    const first = join(dir, (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort()[0]);
    await damageLine(first, 1, "X");
    const warnings: string[] = [];
    const reopened = await createFileEventLog({ dir, segmentBytes: 300, dedupeIds: 2, onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(await readIds(reopened)).toEqual(Array.from({ length: 11 }, (_, i) => `e${i + 1}`));
    expect(reopened.corruptRecords).toMatchObject([{ path: first, offset: 0 }]);
    expect(warnings).toEqual([expect.stringContaining(`${first}: 1 corrupt record skipped`)]);
    // Reading again does not report it twice.
    await readIds(reopened);
    expect(warnings).toHaveLength(1);
    await reopened.close();
  });
});
