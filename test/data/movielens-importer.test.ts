import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { loadDataset } from "../../src/data/load-dataset";
import {
  detectMovieLensLayout,
  importMovieLens,
  movieLensCreatorId,
  parseTitleYear,
} from "../../src/data/movielens-importer";
import type { Dataset, ReelEvent } from "../../src/data/types";

const FIX = resolve(__dirname, "../fixtures/data");
const REAL = "/work/shared/data/movielens-small";
const tmpDirs: string[] = [];
async function tmpCopy(fixture: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "reelfeed-ml-"));
  tmpDirs.push(dir);
  await cp(join(FIX, fixture), dir, { recursive: true });
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

const byId = (ds: Dataset) => new Map(ds.videos.map((v) => [v.id, v]));
const eventIds = (ds: Dataset) => new Set(ds.events.map((e) => e.id));

async function expectBadFile(p: Promise<unknown>, pathPart: string, line?: number): Promise<ReelfeedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReelfeedError);
  const re = err as ReelfeedError;
  expect(re.code).toBe("BAD_FILE");
  expect(String(re.details.path)).toContain(pathPart);
  expect(re.message).toContain(pathPart);
  if (line !== undefined) {
    expect(re.details.line).toBe(line);
    expect(re.message).toContain(`:${line}:`);
  }
  return re;
}

describe("title years and creator stand-ins", () => {
  it("parses years, series ranges and titles without one", () => {
    expect(parseTitleYear("Toy Story (1995)")).toBe(1995);
    expect(parseTitleYear("Babylon 5")).toBeUndefined();
    expect(parseTitleYear("Fawlty Towers (1975-1979)")).toBe(1975);
    expect(parseTitleYear("Show (2007-) ")).toBe(2007);
    expect(parseTitleYear("1984 (1984)")).toBe(1984);
  });
  it("names creators by decade and primary genre", () => {
    expect(movieLensCreatorId(1995, "Comedy")).toBe("ml:1990s:Comedy");
    expect(movieLensCreatorId(2000, "Drama")).toBe("ml:2000s:Drama");
    expect(movieLensCreatorId(undefined, "unknown")).toBe("ml:unknown:unknown");
  });
});

describe("ml-100k layout", () => {
  it("detects the layout and decodes latin1 titles", async () => {
    expect(await detectMovieLensLayout(join(FIX, "ml-100k"))).toBe("ml-100k");
    const { dataset, malformed } = await importMovieLens(join(FIX, "ml-100k"));
    expect(malformed.count).toBe(0);
    expect(dataset.source).toBe("movielens:ml-100k");
    const videos = byId(dataset);
    expect(videos.get("3")!.title).toBe("Misérables, Les (1995)");
    // Prove it was decoded, not passed through: the file holds the single latin1 byte 0xE9.
    const raw = await readFile(join(FIX, "ml-100k/u.item"));
    expect(raw.includes(Buffer.from([0xe9]))).toBe(true);
    expect(raw.includes(Buffer.from("é", "utf8"))).toBe(false);
  });

  it("maps genres, years, creators and profiles", async () => {
    const { dataset } = await importMovieLens(join(FIX, "ml-100k"));
    const videos = byId(dataset);
    const toy = videos.get("1")!;
    expect(toy.category).toBe("Animation");
    expect(toy.tags).toEqual(["animation", "children's", "comedy"]);
    expect(toy.creatorId).toBe("ml:1990s:Animation");
    expect(toy.durationSec).toBe(6000);
    expect(toy.uploadedAt).toBe(Date.UTC(1995, 0, 1));
    // No year in the title: the release date supplies it.
    expect(videos.get("4")!.creatorId).toBe("ml:1970s:Action");
    const unknown = videos.get("5")!;
    expect(unknown.category).toBe("unknown");
    expect(unknown.tags).toEqual([]);
    // No year at all: uploaded when first rated.
    expect(unknown.uploadedAt).toBe(888552000 * 1000);
    expect(unknown.creatorId).toBe("ml:unknown:unknown");
    const creatorIds = new Set(dataset.creators.map((c) => c.id));
    for (const v of dataset.videos) expect(creatorIds.has(v.creatorId)).toBe(true);
    expect(dataset.creators.find((c) => c.id === "ml:1990s:Animation")!.createdAt).toBe(Date.UTC(1995, 0, 1));

    const users = new Map(dataset.users.map((u) => [u.id, u]));
    expect(users.size).toBe(4);
    expect(users.get("1")).toMatchObject({ id: "1", age: 24, gender: "M", occupation: "technician" });
    expect(users.get("2")).toMatchObject({ age: 53, gender: "F", occupation: "other" });
    expect(users.get("1")!.createdAt).toBe(874965758 * 1000);
    expect(users.get("4")!.createdAt).toBeUndefined(); // in u.user, never rated
  });

  it("turns every rating into a watch, ≥4 into a like and ≤2 into a dislike", async () => {
    const { dataset } = await importMovieLens(join(FIX, "ml-100k"));
    const watches = dataset.events.filter((e) => e.type === "watch");
    expect(watches).toHaveLength(8);
    expect(dataset.events.filter((e) => e.type === "like").map((e) => e.id).sort()).toEqual(
      ["ml:l:1:1", "ml:l:2:1", "ml:l:3:1", "ml:l:3:3"],
    );
    expect(dataset.events.filter((e) => e.type === "dislike").map((e) => e.id).sort()).toEqual(["ml:d:1:3", "ml:d:2:4"]);
    const w = dataset.events.find((e) => e.id === "ml:w:1:2") as Extract<ReelEvent, { type: "watch" }>;
    expect(w).toEqual({
      id: "ml:w:1:2",
      type: "watch",
      userId: "1",
      videoId: "2",
      ts: 876893171000,
      watchedSec: 6000,
      videoDurationSec: 6000,
    });
    // A like carries its rating's timestamp.
    expect(dataset.events.find((e) => e.id === "ml:l:1:1")!.ts).toBe(874965758000);
  });

  it("uses a configurable duration stand-in", async () => {
    const { dataset } = await importMovieLens(join(FIX, "ml-100k"), { durationSec: 5400 });
    expect(dataset.videos.every((v) => v.durationSec === 5400)).toBe(true);
    const w = dataset.events.find((e) => e.type === "watch") as Extract<ReelEvent, { type: "watch" }>;
    expect(w.watchedSec).toBe(5400);
  });

  it("counts bad rows and keeps going", async () => {
    const dir = await tmpCopy("ml-100k");
    await writeFile(
      join(dir, "u.data"),
      "1\t1\t5\t874965758\n1\t2\tx\t876893171\n2\t1\n\n3\t3\t5\t-4\n3\t1\t4\t889237269\n",
    );
    const { dataset, malformed } = await importMovieLens(dir);
    expect(malformed.count).toBe(3);
    expect(malformed.examples).toEqual([
      'u.data:2: rating "x" is not a number in [0.5, 5]',
      "u.data:3: expected 4 fields, got 2",
      'u.data:5: timestamp "-4" is not epoch seconds',
    ]);
    expect(dataset.events.filter((e) => e.type === "watch")).toHaveLength(2);
  });

  it("rejects a u.data whose first row has the wrong shape, naming file and line", async () => {
    const dir = await tmpCopy("ml-100k");
    await writeFile(join(dir, "u.data"), "1,1,5,874965758\n");
    await expectBadFile(importMovieLens(dir), "u.data", 1);
  });

  it("rejects a folder without u.data", async () => {
    const dir = await tmpCopy("ml-100k");
    await rm(join(dir, "u.data"));
    await expectBadFile(importMovieLens(dir), "u.data");
  });
});

describe("ml-latest layout", () => {
  it("parses quoted titles, genres, tags and years", async () => {
    expect(await detectMovieLensLayout(join(FIX, "ml-latest"))).toBe("ml-latest");
    const { dataset, malformed } = await importMovieLens(join(FIX, "ml-latest"));
    expect(malformed.count).toBe(0);
    const videos = byId(dataset);
    expect(videos.size).toBe(7);
    expect(videos.get("2")!.title).toBe("Shawshank Redemption, The (1994)");
    expect(videos.get("6")!.title).toBe('Title with "quotes", and comma (2007-)');
    expect(videos.get("6")!.creatorId).toBe("ml:2000s:Sci-Fi");
    expect(videos.get("3")!.title).toBe("Misérables, Les (1995)");
    const toy = videos.get("1")!;
    expect(toy.category).toBe("Adventure");
    expect(toy.tags).toEqual(["adventure", "animation", "children", "comedy", "fantasy", "pixar", "funny, clever"]);
    expect(toy.description).toBe("Pixar, funny, clever");
    const noGenre = videos.get("5")!;
    expect(noGenre.category).toBe("unknown");
    expect(noGenre.tags).toEqual([]);
    expect(noGenre.description).toBeUndefined();
    expect(noGenre.uploadedAt).toBe(1520408880000); // no year: first rating
    // Rated before its release year: uploadedAt is the earlier of the two.
    expect(videos.get("7")!.uploadedAt).toBe(1520409300000);
    expect(videos.get("2")!.uploadedAt).toBe(Date.UTC(1994, 0, 1));
  });

  it("maps half-star ratings and creates users from ratings and tags", async () => {
    const { dataset } = await importMovieLens(join(FIX, "ml-latest"));
    const ids = eventIds(dataset);
    expect(ids.has("ml:l:1:1")).toBe(true); // 4.0
    expect(ids.has("ml:l:3:5")).toBe(true); // 4.5
    expect(ids.has("ml:d:2:1")).toBe(true); // 1.5
    expect(ids.has("ml:d:3:2")).toBe(true); // 0.5
    expect(ids.has("ml:d:3:6")).toBe(true); // 2.0
    expect(ids.has("ml:l:1:3") || ids.has("ml:d:1:3")).toBe(false); // 2.5: neither
    expect(ids.has("ml:l:2:4") || ids.has("ml:d:2:4")).toBe(false); // 3.0: neither
    expect(dataset.events.filter((e) => e.type === "watch")).toHaveLength(9);
    expect(dataset.users.map((u) => u.id).sort()).toEqual(["1", "2", "3", "4"]);
    expect(dataset.users.find((u) => u.id === "4")!.createdAt).toBe(1500000000000);
  });

  it("rejects a wrong ratings header with path and line 1", async () => {
    const dir = await tmpCopy("ml-latest");
    await writeFile(join(dir, "ratings.csv"), "user,movie,stars,when\n1,1,4.0,964982703\n");
    const err = await expectBadFile(importMovieLens(dir), "ratings.csv", 1);
    expect(err.message).toMatch(/missing column\(s\) userId, movieId, rating, timestamp/);
  });

  it("rejects a missing movies.csv and an unreadable ratings.csv", async () => {
    const dir = await tmpCopy("ml-latest");
    await rm(join(dir, "movies.csv"));
    await expectBadFile(importMovieLens(dir), "movies.csv");
    const dir2 = await tmpCopy("ml-latest");
    await rm(join(dir2, "ratings.csv"));
    await mkdir(join(dir2, "ratings.csv")); // a folder where a file belongs: cannot be read
    await expectBadFile(importMovieLens(dir2), "ratings.csv");
  });

  it("counts bad rows (with file:line) without aborting", async () => {
    const dir = await tmpCopy("ml-latest");
    const good = await readFile(join(dir, "ratings.csv"), "utf8");
    await writeFile(join(dir, "ratings.csv"), `${good}1,2\n4,1,9.0,1520409000\n,1,4.0,1520409000\n`);
    await writeFile(join(dir, "movies.csv"), `${await readFile(join(dir, "movies.csv"), "utf8")}8,"Open quote (2001),Drama\n`);
    const { dataset, malformed } = await importMovieLens(dir);
    expect(malformed.count).toBe(4);
    expect(malformed.examples).toEqual([
      "movies.csv:9: unterminated quoted field",
      "ratings.csv:11: expected 4 fields, got 2",
      'ratings.csv:12: rating "9.0" is not a number in [0.5, 5]',
    ]);
    expect(dataset.events.filter((e) => e.type === "watch")).toHaveLength(9);
  });
});

describe("real MovieLens (ml-latest-small)", () => {
  it("imports every rating, user and movie, fast, with small and explained drops", async () => {
    const ratingsText = await readFile(join(REAL, "ratings.csv"), "utf8");
    const rows = ratingsText.trim().split("\n").slice(1).map((l) => l.split(","));
    const likes = rows.filter((r) => Number(r[2]) >= 4).length;
    const dislikes = rows.filter((r) => Number(r[2]) <= 2).length;

    const started = Date.now();
    const { dataset, report } = await loadDataset(REAL);
    const elapsed = Date.now() - started;
    // A second or two on a quiet machine; generous here because test files share two cores.
    expect(elapsed).toBeLessThan(20_000);

    expect(report.input.events).toBe(100836 + likes + dislikes);
    expect(report.input.users).toBe(610);
    expect(report.input.videos).toBe(9742);
    expect(dataset.users).toHaveLength(610);
    expect(dataset.videos).toHaveLength(9742);
    expect(report.dropped.malformed_row).toBe(0);
    expect(report.dropped.unknown_video).toBe(0);
    expect(report.dropped.duplicate + report.dropped.conflicting_id).toBe(0);
    // The default bot thresholds flag only the one account that rated 392 films in a minute.
    expect(report.botUsers).toEqual(["534"]);
    const totalDropped = Object.values(report.dropped).reduce((a, b) => a + b, 0);
    expect(totalDropped / report.input.events).toBeLessThan(0.01);
    const watches = dataset.events.filter((e) => e.type === "watch").length;
    expect(watches).toBe(100836 - rows.filter((r) => r[0] === "534").length);
    let unsorted = 0;
    for (let i = 1; i < dataset.events.length; i++) if (dataset.events[i].ts < dataset.events[i - 1].ts) unsorted++;
    expect(unsorted).toBe(0);
    expect(dataset.videos.find((v) => v.id === "1")!.description).toContain("pixar");
  }, 60_000);
});
