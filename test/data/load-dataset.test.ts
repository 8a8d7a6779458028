import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectDatasetFormat, loadDataset } from "../../src/data/load-dataset";
import { createProgress } from "../../src/util/progress";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const FIX = resolve(__dirname, "../fixtures/data");
const NOW = Date.UTC(2026, 0, 1);
const tmpDirs: string[] = [];
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

describe("loadDataset", () => {
  it("detects each layout", async () => {
    expect(await detectDatasetFormat(join(FIX, "ml-100k"))).toBe("movielens");
    expect(await detectDatasetFormat(join(FIX, "ml-latest"))).toBe("movielens");
    expect(await detectDatasetFormat(join(FIX, "generic-csv"))).toBe("generic");
  });

  it("imports, validates and sorts the ml-100k fixture", async () => {
    const { dataset, report } = await loadDataset(join(FIX, "ml-100k"), { validate: { now: NOW } });
    expect(report.input.events).toBe(14);
    expect(report.kept.events).toBe(14);
    expect(report.kept.users).toBe(4);
    const ts = dataset.events.map((e) => e.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    // At one instant the watch comes before its like: consumers see the view, then the opinion.
    const first = dataset.events.filter((e) => e.ts === 874965758000).map((e) => e.type);
    expect(first).toEqual(["watch", "like"]);
  });

  it("honours an explicit format and fails when it does not fit the folder", async () => {
    const ok = await loadDataset(join(FIX, "ml-latest"), { format: "movielens", validate: { now: NOW } });
    expect(ok.dataset.source).toBe("movielens:ml-latest");
    const err = await reelfeedErrorOf(loadDataset(join(FIX, "ml-latest"), { format: "generic" }), "BAD_FILE");
    expect(err.message).toContain("videos.jsonl");
  });

  it("throws BAD_FILE for a missing folder, a file instead of a folder, an unrecognised folder", async () => {
    const missing = await reelfeedErrorOf(loadDataset("/nonexistent/reelfeed-data"), "BAD_FILE");
    expect(missing.message).toBe("/nonexistent/reelfeed-data: data folder not found");
    const notDir = await reelfeedErrorOf(loadDataset(join(FIX, "ml-latest/movies.csv")), "BAD_FILE");
    expect(notDir.message).toContain("not a folder");
    const dir = await mkdtemp(join(tmpdir(), "reelfeed-load-"));
    tmpDirs.push(dir);
    await writeFile(join(dir, "notes.txt"), "hello");
    const unknown = await reelfeedErrorOf(loadDataset(dir), "BAD_FILE");
    expect(unknown.message).toContain("unrecognised data folder");
    expect(await readdir(dir)).toEqual(["notes.txt"]); // reading never writes
  });

  it("reports progress when asked", async () => {
    const chunks: string[] = [];
    const stream = { write: (s: string) => chunks.push(s) > 0, isTTY: false } as unknown as NodeJS.WritableStream;
    await loadDataset(join(FIX, "ml-latest"), { progress: createProgress({ stream }), validate: { now: NOW } });
    const text = chunks.join("");
    expect(text).toContain("[import ml-latest]");
    expect(text).toContain("[validate]");
  });
});
