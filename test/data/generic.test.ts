import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findGenericFiles, importGeneric } from "../../src/data/generic-importer";
import { writeGenericDataset } from "../../src/data/generic-writer";
import { loadDataset } from "../../src/data/load-dataset";
import { generateSynthetic } from "../../src/data/synthetic";
import type { Dataset } from "../../src/data/types";
import { validateDataset } from "../../src/data/validate";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const FIX = resolve(__dirname, "../fixtures/data");
const NOW = Date.UTC(2026, 0, 1);
const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "reelfeed-generic-"));
  tmpDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

describe("generic JSONL round trip", () => {
  it("writes what it reads: synthetic data survives write → load unchanged", async () => {
    const { dataset: raw } = generateSynthetic({ users: 40, videos: 60, days: 3, seed: 7 });
    const { dataset, report } = validateDataset(raw, { now: NOW });
    expect(Object.values(report.dropped).every((n) => n === 0)).toBe(true);
    const dir = join(await tmp(), "export");
    await writeGenericDataset(dir, dataset);
    expect((await readdir(dir)).sort()).toEqual(
      ["creators.jsonl", "events.jsonl", "follows.jsonl", "manifest.json", "subscriptions.jsonl", "users.jsonl", "videos.jsonl"],
    );
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ format: "reelfeed-generic", version: 1, source: dataset.source });
    expect(manifest.counts.events).toBe(dataset.events.length);

    const loaded = await loadDataset(dir, { validate: { now: NOW } });
    expect(loaded.dataset).toEqual(dataset);
    // Exactly: same JSON text, not only deep-equal modulo undefined.
    for (const entity of ["users", "creators", "videos", "follows", "subscriptions", "events"] as const) {
      expect(loaded.dataset[entity].map((x) => JSON.stringify(x, Object.keys(x).sort()))).toEqual(
        dataset[entity].map((x) => JSON.stringify(x, Object.keys(x).sort())),
      );
    }
    expect(loaded.report.kept).toEqual(report.kept);
  });

  it("round-trips MovieLens too (the `reelfeed import --out` path)", async () => {
    const first = await loadDataset(join(FIX, "ml-latest"), { validate: { now: NOW } });
    const dir = join(await tmp(), "ml-out");
    await writeGenericDataset(dir, first.dataset);
    const again = await loadDataset(dir, { validate: { now: NOW } });
    expect(again.dataset).toEqual(first.dataset);
    expect(again.dataset.source).toBe("movielens:ml-latest");
  });

  it("replaces an existing export and leaves nothing behind when writing fails", async () => {
    const parent = await tmp();
    const dir = join(parent, "out");
    const small: Dataset = { source: "s", users: [{ id: "a" }], creators: [], videos: [], follows: [], subscriptions: [], events: [] };
    await writeGenericDataset(dir, small);
    await writeGenericDataset(dir, { ...small, users: [{ id: "b" }] });
    expect(await readFile(join(dir, "users.jsonl"), "utf8")).toBe('{"id":"b"}\n');
    // JSON.stringify throws on a BigInt: the old export must survive untouched and no temp folder remain.
    const broken = { ...small, events: [{ id: "x", ts: 10n }] } as unknown as Dataset;
    await expect(writeGenericDataset(dir, broken)).rejects.toThrow();
    expect(await readFile(join(dir, "users.jsonl"), "utf8")).toBe('{"id":"b"}\n');
    expect(await readdir(parent)).toEqual(["out"]);
  });
});

describe("generic CSV", () => {
  it("reads the documented columns: lists, booleans, ISO or epoch-ms times, a data column", async () => {
    const { dataset, report } = await loadDataset(join(FIX, "generic-csv"), { validate: { now: NOW } });
    expect(Object.values(report.dropped).every((n) => n === 0)).toBe(true);
    expect(dataset.source).toBe("generic:generic-csv");
    expect(dataset.users).toEqual([
      { id: "alice", age: 34, gender: "female", country: "US", language: "en", createdAt: Date.UTC(2024, 4, 1), device: "mobile" },
      { id: "bob", country: "DE", language: "de", createdAt: 1714521600000, device: "desktop" },
    ]);
    expect(dataset.creators).toEqual([{ id: "chef-1", name: "Pasta, Mostly", country: "IT", language: "it", createdAt: 1700000000000 }]);
    expect(dataset.videos).toEqual([
      {
        id: "v1",
        creatorId: "chef-1",
        title: "Carbonara, the real one",
        description: 'Eggs, cheese, "guanciale"',
        tags: ["pasta", "italian", "recipe"],
        category: "cooking",
        language: "it",
        durationSec: 540,
        uploadedAt: Date.UTC(2024, 5, 1, 12),
        ageRestricted: false,
      },
      {
        id: "v2",
        creatorId: "chef-1",
        title: "Knife skills",
        tags: ["knives"],
        category: "cooking",
        language: "en",
        durationSec: 95.5,
        uploadedAt: 1717243200000,
        ageRestricted: true,
        policyFlags: ["violence"],
        blockedRegions: ["DE", "FR"],
      },
    ]);
    expect(dataset.follows).toEqual([{ followerId: "alice", followeeId: "bob", ts: 1717245000000 }]);
    expect(dataset.subscriptions).toEqual([{ userId: "alice", creatorId: "chef-1", ts: 1717245100000 }]);
    expect(dataset.events.map((e) => e.id)).toEqual(["e1", "e2", "e4", "e3", "e6", "e7", "e8", "e5"]);
    const byId = new Map(dataset.events.map((e) => [e.id, e]));
    expect(byId.get("e1")).toEqual({
      id: "e1", type: "impression", userId: "alice", ts: 1717246000000, sessionId: "s1", trackingId: "t1",
      device: "mobile", country: "US", videoId: "v1", position: 0, surface: "home",
    });
    expect(byId.get("e3")).toMatchObject({ type: "watch", watchedSec: 300, videoDurationSec: 540 });
    expect(byId.get("e5")).toEqual({ id: "e5", type: "like", userId: "bob", ts: Date.UTC(2024, 5, 1, 13), videoId: "v2" });
    expect(byId.get("e6")).toMatchObject({ type: "search", query: "pasta", clickedVideoIds: ["v1"] });
    expect(byId.get("e7")).toMatchObject({ type: "subscribe", creatorId: "chef-1", sourceVideoId: "v1" });
    expect(byId.get("e8")).toMatchObject({ type: "comment", text: "Best one, really" });
  });

  it("rejects unknown or missing columns with path and line 1", async () => {
    const dir = await tmp();
    await cp(join(FIX, "generic-csv"), dir, { recursive: true });
    await writeFile(join(dir, "videos.csv"), "id,creatorId,title,durationSec,uploaded_at\n");
    const err = await reelfeedErrorOf(loadDataset(dir), "BAD_FILE");
    expect(err.message).toContain(`${join(dir, "videos.csv")}:1:`);
    expect(err.message).toContain("missing column(s) uploadedAt");
    await writeFile(join(dir, "videos.csv"), "id,creatorId,title,durationSec,uploadedAt,colour\n");
    expect((await reelfeedErrorOf(loadDataset(dir), "BAD_FILE")).message).toContain("unknown column(s) colour");
  });

  it("counts rows with a wrong field count or a bad data column, keeps the rest", async () => {
    const dir = await tmp();
    await cp(join(FIX, "generic-csv"), dir, { recursive: true });
    const events = await readFile(join(dir, "events.csv"), "utf8");
    await writeFile(join(dir, "events.csv"), `${events}e9,like,alice\ne10,like,alice,1717246000000,v1,,,,,{oops}\n`);
    const { dataset, report } = await loadDataset(dir, { validate: { now: NOW } });
    expect(report.dropped.malformed_row).toBe(2);
    expect(report.examples.malformed_row[0]).toBe("events.csv:10: expected 10 fields, got 3");
    expect(report.examples.malformed_row[1]).toMatch(/^events\.csv:11: data is not valid JSON/);
    expect(dataset.events).toHaveLength(8);
  });
});

describe("generic layout files", () => {
  const write = async (dir: string, files: Record<string, string>) => {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  };
  const video = '{"id":"v1","creatorId":"c1","title":"t","durationSec":10,"uploadedAt":1717243200000}\n';

  it("counts bad JSONL lines by file and line; auto-creates users and creators when their files are absent", async () => {
    const dir = await tmp();
    await write(dir, {
      "videos.jsonl": video,
      "events.jsonl": [
        '{"id":"1","type":"like","userId":"a","videoId":"v1","ts":1717243300000}',
        "{not json",
        "",
        "[1,2]",
        '{"id":"2","type":"like","userId":"b","videoId":"nope","ts":1717243300000}',
        '{"id":"3","type":"watch","userId":"b","videoId":"v1","ts":1717243300000,"watchedSec":-1,"videoDurationSec":10}',
      ].join("\n"),
    });
    const { dataset, report } = await loadDataset(dir, { validate: { now: NOW } });
    expect(report.dropped.malformed_row).toBe(2);
    expect(report.examples.malformed_row[0]).toMatch(/^events\.jsonl:2: not valid JSON/);
    expect(report.examples.malformed_row[1]).toBe("events.jsonl:4: expected a JSON object");
    expect(report.dropped.unknown_video).toBe(1);
    expect(report.dropped.invalid_field).toBe(1);
    expect(dataset.users).toEqual([{ id: "a" }]);
    expect(dataset.creators).toEqual([{ id: "c1" }]);
    expect(report.created).toMatchObject({ users: 1, creators: 1 });
  });

  it("drops events of unknown users when a users file exists", async () => {
    const dir = await tmp();
    await write(dir, {
      "users.jsonl": '{"id":"a"}\n',
      "videos.jsonl": video,
      "events.jsonl": '{"id":"1","type":"like","userId":"zed","videoId":"v1","ts":1717243300000}\n',
    });
    const { dataset, report } = await loadDataset(dir, { validate: { now: NOW } });
    expect(report.dropped.unknown_user).toBe(1);
    expect(dataset.events).toEqual([]);
  });

  it("requires videos and events, one file per entity, and a valid manifest", async () => {
    const dir = await tmp();
    await write(dir, { "videos.jsonl": video });
    const missing = await reelfeedErrorOf(importGeneric(dir), "BAD_FILE");
    expect(missing.message).toContain("events.jsonl");
    expect(missing.message).toContain("required file missing");
    await write(dir, { "events.jsonl": "", "events.csv": "id,type,userId,ts\n" });
    expect((await reelfeedErrorOf(findGenericFiles(dir), "BAD_FILE")).message).toContain("both events.jsonl and events.csv");
    await rm(join(dir, "events.csv"));
    await write(dir, { "manifest.json": "{oops" });
    expect((await reelfeedErrorOf(importGeneric(dir), "BAD_FILE")).message).toContain("manifest.json: not valid JSON");
    await write(dir, { "manifest.json": '{"format":"other"}' });
    expect((await reelfeedErrorOf(importGeneric(dir), "BAD_FILE")).message).toContain("manifest.json");
  });
});
