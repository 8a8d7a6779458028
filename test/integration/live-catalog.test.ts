import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type Serving } from "../../src/app/serve";
import { createVideoEmbedder } from "../../src/catalog/video-embedder";
import { configSchema, type ReelfeedConfig } from "../../src/config";
import { trainBundle } from "../../src/training/train-pipeline";
import { silentProgress } from "../../src/util/progress";
import { reelfeedErrorOf } from "../reelfeed-error-of";

/**
 * The live catalogue end to end on a real (tiny) trained bundle served by the real start-up path: a video uploaded
 * over GraphQL gets its content vector (content model) and its two-tower vector (the bundle's ONNX video tower),
 * and the next feed proposes it from Fresh and TwoTower; a takedown reaches cached sessions, similarVideos and
 * trending; a restart rebuilds it all from the catalogue log.
 */

let dir: string;
let bundleDir: string;
let serving: Serving;
let now: number;
let user: string;

function testConfig(varDir: string): ReelfeedConfig {
  const defaults = configSchema.parse({});
  return configSchema.parse({
    server: { host: "127.0.0.1" },
    paths: { varDir, bootstrapData: join(varDir, "no-such-data") },
    ranking: { executionProviders: ["cpu"], timeoutMs: 5000 },
    pipeline: {
      // TwoTower's quota above the catalogue's size: the test asks whether the index proposes the new video at all,
      // not where a barely trained tower ranks it.
      sources: defaults.pipeline.sources.map((s) => ({ ...s, timeoutMs: 5000, ...(s.name === "TwoTower" && { quota: 1000 }) })),
      overload: { maxEventLoopLagMs: 1_000_000 },
    },
  });
}

type Gql = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
async function gql(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(serving.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as Gql;
  if (body.errors?.length) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const FEED = `query($u: ID!, $first: Int, $after: String, $context: FeedContextInput) {
  feed(userId: $u, first: $first, after: $after, context: $context, debug: true) {
    pageInfo { endCursor hasNextPage }
    edges { node { position video { id } } }
    trace { candidates { videoId sources { source } removedBy { stage reason } } }
  }
}`;
const UPSERT = `mutation($v: [VideoInput!]!) { upsertVideos(videos: $v) { accepted rejected results { id status code field message } } }`;
const REMOVE = `mutation($ids: [ID!]!, $r: String!) { removeVideos(ids: $ids, reason: $r) { accepted results { id status code } } }`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-live-catalog-"));
  bundleDir = join(dir, "bundle");
  await trainBundle({
    synthetic: { users: 200, videos: 300, days: 10 },
    out: bundleDir,
    refit: false,
    twoTower: { epochs: 1, dim: 16 },
    ranker: { epochs: 1 },
    contentDim: 16,
    ks: [10, 20],
    progress: silentProgress,
  });
  serving = await serve({ config: testConfig(join(dir, "var")), bundle: bundleDir, port: 0, handleSignals: false, progress: silentProgress, runtime: { service: { stateTimeoutMs: 2000 } } });
  const { dataset } = serving.loaded;
  now = dataset.events[dataset.events.length - 1].ts + 60_000;
  const watches = new Map<string, number>();
  for (const e of dataset.events) if (e.type === "watch") watches.set(e.userId, (watches.get(e.userId) ?? 0) + 1);
  user = [...watches.entries()].sort((a, b) => b[1] - a[1])[0][0];
}, 240_000);

afterAll(async () => {
  await serving?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const context = () => ({ time: new Date(now).toISOString() });

describe("a video uploaded over GraphQL", () => {
  it("ships with the bundle's video tower (parity-checked at training) and is served from it", () => {
    expect(serving.loaded.manifest.models.videoTower).toMatchObject({ file: "video-tower.onnx", dim: serving.loaded.manifest.embeddings.twoTowerDim });
    expect(serving.loaded.manifest.models.videoTower!.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(serving.loaded.sessions.videoTower).toBeDefined();
  });

  it("refuses a video tower that does not fit the bundle: BAD_BUNDLE naming the model", async () => {
    const { sessions, artifacts, manifest, catalog } = serving.loaded;
    const video = catalog.newest()[0];
    const wrongWidth = createVideoEmbedder({ videoTower: sessions.videoTower, artifacts, twoTowerDim: manifest.embeddings.twoTowerDim + 1 });
    expect((await reelfeedErrorOf(wrongWidth.embed([video]), "BAD_BUNDLE")).message).toMatch(/video-tower: video tower returns \d+-wide vectors/);
    // The user tower where the video tower belongs: its inputs are not the video rows'.
    expect(() => createVideoEmbedder({ videoTower: sessions.userTower, artifacts })).toThrow(expect.objectContaining({ code: "BAD_BUNDLE" }));
    expect(() => createVideoEmbedder({ videoTower: sessions.videoTower })).toThrow(expect.objectContaining({ code: "INTERNAL" }));
  });

  it("reports the live catalogue and the video tower in /health", async () => {
    const res = await fetch(serving.url.replace(/\/graphql$/, "/health"));
    const body = (await res.json()) as { backends: Record<string, { ok: boolean; kind: string; detail?: string }> };
    expect(body.backends.catalogue).toMatchObject({ ok: true, kind: "file", detail: expect.stringMatching(/changes applied since the bundle/) });
    expect(body.backends.videoTower).toMatchObject({ ok: true, kind: "onnx" });
  });

  it("gets both vectors before the answer and is proposed by Fresh and TwoTower in the next feed", async () => {
    const { catalog, runtime } = serving.loaded;
    // Like the user's most recent watch (creator, category, words), uploaded a minute ago.
    const lastWatch = serving.loaded.dataset.events.filter((e) => e.type === "watch" && e.userId === user).pop()!;
    const like = catalog.video((lastWatch as { videoId: string }).videoId)!;
    const id = `live-upload-${process.pid}`;
    const out = await gql(UPSERT, {
      v: [{ id, creatorId: like.creatorId, title: `${like.title} part two`, tags: like.tags, category: like.category, language: like.language, durationSec: 300, uploadedAt: now - 60_000, updatedAt: Date.now() }],
    });
    expect(out.upsertVideos.results[0]).toMatchObject({ id, status: "ACCEPTED" });

    const twoTower = await runtime.vectors.twoTower!.get(id);
    const content = await runtime.vectors.content!.get(id);
    expect(twoTower).toHaveLength(serving.loaded.manifest.embeddings.twoTowerDim);
    expect(content).toHaveLength(serving.loaded.manifest.embeddings.contentDim);
    expect(Array.from(twoTower!).every(Number.isFinite)).toBe(true);
    expect(Math.hypot(...content!)).toBeCloseTo(1, 4);
    // With the item bias the last coordinate is the free bias; the rest is a unit vector, as for the bundle's videos.
    expect(Math.hypot(...twoTower!.subarray(0, twoTower!.length - 1))).toBeCloseTo(1, 4);
    // Near its look-alike in the content index (same words).
    expect((await runtime.vectors.content!.search((await runtime.vectors.content!.get(like.id))!, 10)).map((h) => h.id)).toContain(id);

    const feed = (await gql(FEED, { u: user, first: 20, context: context() })).feed;
    const traced = feed.trace.candidates.find((c: any) => c.videoId === id);
    expect(traced, "the new video is a candidate").toBeDefined();
    // Content too: it is a near neighbour of the user's last watch, one of that source's seeds.
    expect(traced.sources.map((s: any) => s.source)).toEqual(expect.arrayContaining(["Fresh", "TwoTower", "Content"]));
    expect(traced.removedBy).toBeNull();
  });
});

describe("a takedown", () => {
  it("is never served again: cached later pages, similarVideos and trending, and its vectors are gone", async () => {
    const { runtime } = serving.loaded;
    const first = (await gql(FEED, { u: user, first: 5, context: context() })).feed;
    const fromSession = (await gql(FEED, { u: user, first: 5, after: first.pageInfo.endCursor, context: context() })).feed.edges[1].node.video.id;
    // A second session, ranked before the takedown, whose later pages are read after it.
    const other = serving.loaded.dataset.users.find((u) => u.id !== user)!.id;
    const cached = (await gql(FEED, { u: other, first: 5, context: context() })).feed;
    const lists = async (seed: string) =>
      (await gql(`query($s: ID!) { similarVideos(videoId: $s, first: 30) { video { id } } trending(first: 30) { video { id } } }`, { s: seed })) as {
        similarVideos: Array<{ video: { id: string } }>;
        trending: Array<{ video: { id: string } }>;
      };
    const seed = first.edges[0].node.video.id;
    const before = await lists(seed);
    const fromSimilar = before.similarVideos[0].video.id;
    const fromTrending = before.trending.map((t) => t.video.id).find((v) => v !== fromSimilar && v !== seed)!;
    const victims = [...new Set([fromSession, fromSimilar, fromTrending])];
    const cachedLater = async () => (await gql(FEED, { u: other, first: 50, after: cached.pageInfo.endCursor, context: context() })).feed.edges.map((e: any) => e.node.video.id);
    const cachedBefore = await cachedLater();

    const out = await gql(REMOVE, { ids: victims, r: "trust and safety: test takedown" });
    expect(out.removeVideos.accepted).toBe(victims.length);

    const after = await lists(seed);
    const cachedAfter = await cachedLater();
    const restOfSession = (await gql(FEED, { u: user, first: 50, after: first.pageInfo.endCursor, context: context() })).feed.edges.map((e: any) => e.node.video.id);
    const fresh = (await gql(FEED, { u: user, first: 50, context: context() })).feed;
    for (const v of victims) {
      expect(after.similarVideos.map((s) => s.video.id)).not.toContain(v);
      expect(after.trending.map((s) => s.video.id)).not.toContain(v);
      expect(cachedAfter).not.toContain(v);
      expect(restOfSession).not.toContain(v);
      expect(fresh.edges.map((e: any) => e.node.video.id)).not.toContain(v);
      expect(await runtime.vectors.twoTower!.get(v)).toBeUndefined();
      expect(await runtime.vectors.content!.get(v)).toBeUndefined();
    }
    // The cached session still serves the rest of what it ranked.
    expect(cachedAfter).toEqual(cachedBefore.filter((v: string) => !victims.includes(v)));
    expect(before.trending.map((t) => t.video.id)).toContain(fromTrending);
  });
});

describe("/metrics", () => {
  it("counts catalogue writes by status, changes applied, videos embedded and takedowns", async () => {
    const text = await (await fetch(serving.url.replace(/\/graphql$/, "/metrics"))).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
    expect(value("reelfeed_catalog_items_accepted_total")).toBeGreaterThanOrEqual(4);
    expect(value("reelfeed_catalog_items_rejected_total")).toBe(0);
    expect(value("reelfeed_catalog_changes_applied_total")).toBeGreaterThanOrEqual(4);
    expect(value("reelfeed_catalog_videos_embedded_total")).toBe(1);
    // Embedded once, by the writer for the log record; its own apply took the vectors from the record.
    expect(value("reelfeed_catalog_videos_carried_total")).toBe(1);
    expect(value("reelfeed_catalog_takedowns_total")).toBeGreaterThanOrEqual(1);
    // The event log and consumer too (served pages' impressions and the events above went through them).
    expect(value("reelfeed_events_applied_total")).toBeGreaterThan(0);
    expect(Number(/^reelfeed_events_ingested_total\{status="accepted"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^reelfeed_events_ingested_total\{status="rejected"\} \d+$/m);
    expect(text).toMatch(/^reelfeed_event_consumer_lag_bytes \d+$/m);
  });
});

describe("a restart", () => {
  it("rebuilds uploads and takedowns from the catalogue log, vectors included", async () => {
    const removed = [...serving.loaded.catalog.newest()].length;
    const upload = `live-upload-${process.pid}`;
    const vector = await serving.loaded.runtime.vectors.twoTower!.get(upload);
    const removedIds = serving.loaded.dataset.videos.filter((v) => serving.loaded.catalog.video(v.id)?.policyFlags?.includes("removed")).map((v) => v.id);
    expect(removedIds.length).toBeGreaterThan(0);
    await serving.stop();
    serving = await serve({ config: testConfig(join(dir, "var")), bundle: bundleDir, port: 0, handleSignals: false, progress: silentProgress, runtime: { service: { stateTimeoutMs: 2000 } } });
    expect(serving.loaded.catalog.video(upload)).toBeDefined();
    expect(Array.from((await serving.loaded.runtime.vectors.twoTower!.get(upload))!)).toEqual(Array.from(vector!));
    // The replay ran no model: both vectors came with the log record.
    expect(serving.loaded.liveCatalog.applier.stats()).toMatchObject({ videosEmbedded: 0, videosCarried: 1 });
    for (const id of removedIds) {
      expect(serving.loaded.catalog.video(id)?.policyFlags).toContain("removed");
      expect(await serving.loaded.runtime.vectors.twoTower!.get(id)).toBeUndefined();
    }
    expect(serving.loaded.catalog.newest().length).toBe(removed);
  }, 120_000);
});
