import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { loadConfig } from "../../src/config";
import { writeGenericDataset } from "../../src/data/generic-writer";
import { loadDataset } from "../../src/data/load-dataset";
import { generateSynthetic } from "../../src/data/synthetic";
import type { Dataset, ReelEvent } from "../../src/data/types";
import { validateDataset } from "../../src/data/validate";
import { exportTraining, joinServedImpressions, JOINED_REPORT_FILE, type JoinedImpression } from "../../src/events/export-training";
import { createIngestor } from "../../src/events/ingest";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { createRedisEventLog } from "../../src/stores/event-log-redis";
import { createRedisClient, waitForRedis } from "../../src/stores/redis-client";
import { BUNDLE_FORMAT } from "../../src/training/bundle";
import { registerBundle } from "../../src/training/registry";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "./redis-test-helpers";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const tmpDirs: string[] = [];
async function tmp(what: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `reelfeed-export-${what}-`));
  tmpDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

/**
 * export-training reads only a bundle's manifest and data/ folder; the model files need to exist for the manifest
 * check but are never opened, so they are empty here (no training in a unit test).
 */
async function writeBundle(dir: string, dataset: Dataset): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of ["user-tower.onnx", "ranker.onnx", "video-ids.json", "features.json"]) await writeFile(join(dir, f), "");
  await writeFile(
    join(dir, "manifest.json"),
    JSON.stringify({
      format: BUNDLE_FORMAT,
      version: "test-bundle-1",
      createdAt: new Date().toISOString(),
      source: dataset.source,
      dataFingerprint: "x",
      refit: false,
      config: {},
      metrics: {},
      models: { userTower: { file: "user-tower.onnx", dim: 8, inputs: [], parityMaxAbsDiff: 0 }, ranker: { file: "ranker.onnx", heads: [], inputs: [], parityMaxAbsDiff: 0 } },
      embeddings: { videoIds: "video-ids.json", twoTower: "x", twoTowerDim: 8, content: "y", contentDim: 8 },
      timings: {},
    }),
  );
  await writeGenericDataset(join(dir, "data"), dataset);
}

const NOW = Date.now();
let base: Dataset;
let bundle: string;

beforeAll(async () => {
  const { dataset } = validateDataset(generateSynthetic({ users: 30, videos: 40, days: 2, seed: 3 }).dataset, { now: NOW });
  base = dataset;
  bundle = join(await tmp("bundle"), "bundle");
  await writeBundle(bundle, base);
});

/** A served page of three items for `userId`, as the server's impression logger writes them. */
function servedPage(userId: string, session: string, videoIds: string[], ts: number): ReelEvent[] {
  return videoIds.map((videoId, position) => ({
    id: `imp:${session}.${position}`,
    type: "impression",
    userId,
    videoId,
    ts,
    trackingId: `${session}.${position}`,
    position,
    surface: "home",
    served: { modelVersion: "test-bundle-1", scores: { click: 0.1 * (position + 1), completion: 0.5 }, score: 1 - position / 10, sources: ["TwoTower", "Trending"] },
  }));
}

describe("exportTraining (file log)", () => {
  let varDir: string;
  let out: string;
  let logged: ReelEvent[];
  const u = () => base.users[0].id;
  const v = (i: number) => base.videos[i].id;

  beforeAll(async () => {
    varDir = await tmp("var");
    out = join(await tmp("out"), "training");
    const log = await createFileEventLog({ dir: join(varDir, "events") });
    const ingestor = createIngestor({ log });
    const t = NOW - 60_000;
    const user = u();
    logged = [
      ...servedPage(user, "sA", [v(0), v(1), v(2)], t),
      ...servedPage("newbie", "sB", [v(3), v(4)], t + 10),
      // Outcomes of sA.0: click, a completed watch, a like.
      { id: "o1", type: "click", userId: user, videoId: v(0), ts: t + 1000, trackingId: "sA.0" },
      { id: "o2", type: "watch", userId: user, videoId: v(0), ts: t + 5000, trackingId: "sA.0", watchedSec: 90, videoDurationSec: 100 },
      { id: "o3", type: "like", userId: user, videoId: v(0), ts: t + 6000, trackingId: "sA.0" },
      // sA.1: a click and a short watch.
      { id: "o4", type: "click", userId: user, videoId: v(1), ts: t + 7000, trackingId: "sA.1" },
      { id: "o5", type: "watch", userId: user, videoId: v(1), ts: t + 8000, trackingId: "sA.1", watchedSec: 5, videoDurationSec: 100 },
      // The new user's click (user unknown to the bundle: must be added, not dropped).
      { id: "o6", type: "click", userId: "newbie", videoId: v(4), ts: t + 9000, trackingId: "sB.1" },
      // A tracking id that names no served impression, and one naming another video's impression.
      { id: "o7", type: "click", userId: user, videoId: v(5), ts: t + 9100, trackingId: "zz.9" },
      { id: "o8", type: "like", userId: user, videoId: v(6), ts: t + 9200, trackingId: "sA.2" },
      // Social: the new user follows someone and subscribes to a creator.
      { id: "o9", type: "follow", userId: "newbie", followeeId: user, ts: t + 9300 },
      { id: "o10", type: "subscribe", userId: "newbie", creatorId: base.creators[0].id, ts: t + 9400 },
    ] as ReelEvent[];
    const results = await ingestor.ingest(logged);
    expect(results.map((r) => r.status)).toEqual(logged.map(() => "ACCEPTED"));
    // A record repeated in the log (e.g. a replayed Redis buffer): exported once.
    await log.append([logged[logged.length - 1]]);
    await log.close();
  });

  it("writes a generic folder that loadDataset reads back with every logged event and nothing dropped", async () => {
    const config = loadConfig({ env: {}, overrides: { paths: { varDir } } });
    const lines: string[] = [];
    const progress = { log: (m: string) => lines.push(m), step: () => ({ tick: () => {}, done: () => {} }) };
    const result = await exportTraining({ config, out, bundle, progress });

    expect(result.log).toMatchObject({ kind: "file", records: logged.length, duplicates: 1 });
    expect(result.loggedEvents).toBe(logged.length);
    // The synthetic history's own outcomes carry page tracking ids of client-logged impressions (clientJoined).
    const history = joinServedImpressions(base.events).stats;
    expect(history).toMatchObject({ servedImpressions: 0, joined: 0, unjoined: 0, mismatched: 0 });
    expect(history.clientJoined).toBeGreaterThan(0);
    expect(result.join).toEqual({
      servedImpressions: 5,
      servedWithoutTrackingId: 0,
      duplicateServed: 0,
      impressionsWithOutcome: 3,
      outcomesWithTrackingId: 8 + history.outcomesWithTrackingId,
      joined: 6,
      clientJoined: history.clientJoined,
      unjoined: 1,
      mismatched: 1,
    });
    expect(lines.join("\n")).toMatch(/6 joined, 1 unjoined, 1 mismatched/);

    const { dataset, report } = await loadDataset(out);
    expect(Object.values(report.dropped).every((n) => n === 0)).toBe(true);
    expect(dataset.videos.length).toBe(base.videos.length);
    expect(dataset.events.length).toBe(base.events.length + logged.length);
    const byId = new Map(dataset.events.map((e) => [e.id, e]));
    for (const e of logged) expect(byId.get(e.id)).toEqual(e);
    // Served impressions keep their tracking id and what was served.
    const imp = byId.get("imp:sA.1");
    expect(imp).toMatchObject({ type: "impression", trackingId: "sA.1", served: { modelVersion: "test-bundle-1", sources: ["TwoTower", "Trending"] } });
    // Sorted by time; the new user exists with the time of their first event; follow and subscription edges added.
    for (let i = 1; i < dataset.events.length; i++) expect(dataset.events[i].ts).toBeGreaterThanOrEqual(dataset.events[i - 1].ts);
    expect(dataset.users.find((x) => x.id === "newbie")).toEqual({ id: "newbie", createdAt: NOW - 60_000 + 10 });
    expect(dataset.follows).toContainEqual({ followerId: "newbie", followeeId: u(), ts: NOW - 60_000 + 9300 });
    expect(dataset.subscriptions).toContainEqual({ userId: "newbie", creatorId: base.creators[0].id, ts: NOW - 60_000 + 9400 });
  });

  it("writes the trackingId join report", async () => {
    const text = await readFile(join(out, JOINED_REPORT_FILE), "utf8");
    const rows = text.trim().split("\n").map((l) => JSON.parse(l) as JoinedImpression);
    expect(rows.map((r) => r.trackingId)).toEqual(["sA.0", "sA.1", "sA.2", "sB.0", "sB.1"]);
    const [a0, a1, a2, b0, b1] = rows;
    expect(a0).toMatchObject({ userId: u(), videoId: v(0), position: 0, modelVersion: "test-bundle-1", scores: { click: 0.1, completion: 0.5 }, score: 1 });
    expect(a0).toMatchObject({ outcomes: 3, clicked: true, watchedSec: 90, completed: true, liked: true, disliked: false });
    expect(a1).toMatchObject({ outcomes: 2, clicked: true, watchedSec: 5, completed: false, liked: false });
    // The like naming sA.2 was for another video: not joined.
    expect(a2).toMatchObject({ outcomes: 0, clicked: false, liked: false });
    expect(b0).toMatchObject({ userId: "newbie", outcomes: 0, clicked: false });
    expect(b1).toMatchObject({ userId: "newbie", outcomes: 1, clicked: true });
  });

  it("uses the registry's active bundle when none is given, and `since` drops older events", async () => {
    const varDir2 = await tmp("var2");
    const log = await createFileEventLog({ dir: join(varDir2, "events") });
    await log.append(servedPage(u(), "sC", [v(7)], NOW - 1000));
    await log.close();
    await registerBundle(varDir2, bundle);
    const config = loadConfig({ env: {}, overrides: { paths: { varDir: varDir2 } } });
    const out2 = join(await tmp("out2"), "t");
    const since = base.events[Math.floor(base.events.length / 2)].ts;
    const result = await exportTraining({ config, out: out2, since });
    expect(result.bundle).toBe(bundle);
    const { dataset } = await loadDataset(out2);
    expect(dataset.events.every((e) => e.ts >= since)).toBe(true);
    expect(dataset.events.length).toBe(base.events.filter((e) => e.ts >= since).length + 1);
    expect(dataset.users.length).toBe(base.users.length);
  });

  it("reads a log with a torn tail without modifying it", async () => {
    const varDir3 = await tmp("var3");
    const dir = join(varDir3, "events");
    const log = await createFileEventLog({ dir });
    await log.append(servedPage(u(), "sD", [v(8), v(9)], NOW - 1000));
    await log.close();
    const seg = join(dir, "seg-0000000001.jsonl");
    await appendFile(seg, '{"id":"half","type":"cl');
    const before = (await stat(seg)).size;
    const config = loadConfig({ env: {}, overrides: { paths: { varDir: varDir3 } } });
    const result = await exportTraining({ config, out: join(await tmp("out3"), "t"), bundle });
    expect(result.log.records).toBe(2);
    expect(result.log.skippedTornBytes).toBe('{"id":"half","type":"cl'.length);
    expect((await stat(seg)).size).toBe(before);
  });

  it("fails clearly, writing nothing, when there is no log, no bundle, or a corrupt record", async () => {
    const empty = await tmp("empty");
    const outMissing = join(empty, "never");
    const config = loadConfig({ env: {}, overrides: { paths: { varDir: join(empty, "var") } } });
    const noLog = await reelfeedErrorOf(exportTraining({ config, out: outMissing, bundle }));
    expect(noLog.code).toBe("NOT_FOUND");
    expect(noLog.message).toMatch(/no event log to export at .*var\/events: the folder does not exist/);
    expect(existsSync(outMissing)).toBe(false);

    const noBundle = await reelfeedErrorOf(exportTraining({ config, out: outMissing }));
    expect(noBundle.code).toBe("BAD_USER_INPUT");
    expect(noBundle.message).toMatch(/no --bundle given, no REELFEED_BUNDLE and no active bundle/);

    const notABundle = await reelfeedErrorOf(exportTraining({ config, out: outMissing, bundle: empty }));
    expect(notABundle.code).toBe("BAD_BUNDLE");

    const varDir4 = await tmp("var4");
    await mkdir(join(varDir4, "events"));
    await writeFile(join(varDir4, "events", "seg-0000000001.jsonl"), '{"id":"a","type":"like","userId":"u","videoId":"v","ts":1}\nnot json\n');
    const corrupt = await reelfeedErrorOf(exportTraining({ config: loadConfig({ env: {}, overrides: { paths: { varDir: varDir4 } } }), out: outMissing, bundle }));
    expect(corrupt.code).toBe("BAD_FILE");
    expect(corrupt.message).toMatch(/seg-0000000001\.jsonl:2: corrupt record/);
    expect(existsSync(outMissing)).toBe(false);
  });
});

describe("joinServedImpressions", () => {
  it("counts served impressions without tracking ids and repeated tracking ids, and ignores client impressions", () => {
    const page = servedPage("u1", "s", ["a", "b"], 1000);
    const events: ReelEvent[] = [
      ...page,
      { ...page[0], id: "again" },
      { ...page[1], id: "untracked", trackingId: undefined },
      { id: "client", type: "impression", userId: "u1", videoId: "a", ts: 1001, position: 0, surface: "home", trackingId: "s.0" },
      { id: "c", type: "click", userId: "u1", videoId: "a", ts: 1002, trackingId: "s.0" },
      { id: "d", type: "dislike", userId: "u1", videoId: "b", ts: 1003, trackingId: "s.1" },
    ];
    const { rows, stats } = joinServedImpressions(events);
    expect(stats).toMatchObject({ servedImpressions: 4, servedWithoutTrackingId: 1, duplicateServed: 1, joined: 2, impressionsWithOutcome: 2, clientJoined: 0 });
    expect(rows.map((r) => [r.trackingId, r.clicked, r.disliked])).toEqual([
      ["s.0", true, false],
      ["s.1", false, true],
    ]);
  });
});

describe.skipIf(await skipRedis())("exportTraining (Redis Streams log, own key prefix)", () => {
  let redis: Redis;
  const prefix = uniquePrefix("export");
  beforeAll(async () => {
    redis = createRedisClient({ url: REDIS_URL });
    expect(await waitForRedis(redis, 3000)).toBe(true);
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it("exports the stream, and says so when the stream does not exist", async () => {
    const config = loadConfig({ env: {}, overrides: { backends: { redisUrl: REDIS_URL } } });
    const missing = await reelfeedErrorOf(exportTraining({ config, out: join(await tmp("r0"), "t"), bundle, redisKeyPrefix: prefix }));
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.message).toContain(`${prefix}events does not exist`);

    const log = await createRedisEventLog({ redis, keyPrefix: prefix });
    const page = servedPage(base.users[1].id, "sR", [base.videos[0].id, base.videos[1].id], NOW - 5000);
    await log.append([...page, { id: "rc", type: "click", userId: base.users[1].id, videoId: base.videos[1].id, ts: NOW - 4000, trackingId: "sR.1" }]);
    await log.close();
    const out = join(await tmp("r1"), "t");
    const result = await exportTraining({ config, out, bundle, redisKeyPrefix: prefix, batchSize: 2 });
    expect(result.log).toMatchObject({ kind: "redis", records: 3 });
    expect(result.join).toMatchObject({ servedImpressions: 2, joined: 1, unjoined: 0, mismatched: 0 });
    const { dataset, report } = await loadDataset(out);
    expect(Object.values(report.dropped).every((n) => n === 0)).toBe(true);
    expect(dataset.events.length).toBe(base.events.length + 3);
  });
});
