import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createMemoryCountsStore, createRedisCountsStore, type CountsSnapshot, type ExperimentCountsStore, type VariantCounts } from "../../src/experiments/counts-store";
import { createExperimentMetrics, isRequestField } from "../../src/experiments/online-metrics";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";

/**
 * The per-variant counters: impressions joined to outcomes by export-training's join within the attribution window,
 * per-user sums for the delta method, request counters; the same numbers from the memory store and from Redis, and
 * from two "replicas" that each see the users they own, added up in one Redis.
 */
const T0 = Date.UTC(2026, 0, 1);

/** User u sees 3 items; the first is clicked and watched 30 s of 60; user 0 likes it, user 1 says not interested in the second. */
function traffic(users: string[], experiment = "exp=a"): ReelEvent[] {
  const out: ReelEvent[] = [];
  users.forEach((u, i) => {
    const variant = i % 2 === 0 ? "exp=a" : "exp=b";
    for (let p = 0; p < 3; p++) {
      out.push({
        id: `imp-${u}-${p}`,
        type: "impression",
        userId: u,
        videoId: `v${p}`,
        ts: T0 + i * 1000,
        trackingId: `s-${u}.${p}`,
        position: p,
        surface: "home",
        served: { modelVersion: "m", scores: {}, score: 1, sources: ["Trending"], experiment: experiment === "exp=a" ? variant : experiment },
      });
    }
    out.push({ id: `c-${u}`, type: "click", userId: u, videoId: "v0", trackingId: `s-${u}.0`, ts: T0 + i * 1000 + 10 });
    out.push({ id: `w-${u}`, type: "watch", userId: u, videoId: "v0", trackingId: `s-${u}.0`, ts: T0 + i * 1000 + 20, watchedSec: 30, videoDurationSec: 60 });
    // A second click on the same item is the same joined row: CTR counts it once.
    out.push({ id: `c2-${u}`, type: "click", userId: u, videoId: "v0", trackingId: `s-${u}.0`, ts: T0 + i * 1000 + 30 });
    if (i === 0) out.push({ id: `l-${u}`, type: "like", userId: u, videoId: "v0", trackingId: `s-${u}.0`, ts: T0 + 40 });
    if (i === 1) out.push({ id: `n-${u}`, type: "not_interested", userId: u, videoId: "v1", trackingId: `s-${u}.1`, ts: T0 + 1040 });
  });
  return out;
}

const USERS = ["u0", "u1", "u2", "u3", "u4"];

function expectTotals(snap: CountsSnapshot) {
  // Counters never incremented are absent (0).
  const zero: VariantCounts = { completions: 0, likes: 0, dislikes: 0, notInterested: 0 };
  const a: VariantCounts = { ...zero, ...snap.get("exp")!.get("a")! }; // u0, u2, u4
  const b: VariantCounts = { ...zero, ...snap.get("exp")!.get("b")! }; // u1, u3
  expect(a).toMatchObject({ impressions: 9, clicks: 3, watchSec: 90, watchSecSq: 2700, completions: 0, likes: 1, notInterested: 0, units: 3 });
  expect(b).toMatchObject({ impressions: 6, clicks: 2, watchSec: 60, likes: 0, notInterested: 1, units: 2 });
  // Per-user sums: each user 3 impressions and 1 click, 30 s.
  expect(a["u2.impressions"]).toBe(27);
  expect(a["u2.clicks"]).toBe(3);
  expect(a["ux.clicks"]).toBe(9);
  expect(a["u2.watchSec"]).toBe(2700);
  expect(a["ux.watchSec"]).toBe(270);
  expect(b["u2.notInterested"]).toBe(1);
  expect(b["ux.notInterested"]).toBe(3);
}

describe("online metrics (memory store)", () => {
  it("joins outcomes to impressions within the window and keeps per-variant and per-user sums", async () => {
    const store = createMemoryCountsStore();
    const metrics = createExperimentMetrics({ store, attributionWindowMs: 60_000, clock: () => 0 });
    metrics.onEvents(traffic(USERS));
    // Nothing closed yet: every impression is within its window (event time and "wall clock").
    expect(metrics.pending()).toBe(15);
    expect((await metrics.snapshot()).size).toBe(0);
    // A later event closes the windows (event time): the late like below misses its impression.
    metrics.onEvents([{ id: "tick", type: "search", userId: "u9", query: "x", ts: T0 + 10 * 60_000 } as ReelEvent]);
    metrics.onEvents([{ id: "late", type: "like", userId: "u2", videoId: "v0", trackingId: "s-u2.0", ts: T0 + 11 * 60_000 }]);
    expect(metrics.pending()).toBe(0);
    expectTotals(await metrics.snapshot());
    await metrics.close();
  });

  it("closes a window after its length in wall-clock time on a quiet system", async () => {
    let wall = 0;
    const store = createMemoryCountsStore();
    const metrics = createExperimentMetrics({ store, attributionWindowMs: 1000, clock: () => wall });
    metrics.onEvents(traffic(["u0"]));
    expect(metrics.pending()).toBe(3);
    wall = 1001;
    metrics.onEvents([]);
    expect(metrics.pending()).toBe(0);
    expect((await metrics.snapshot()).get("exp")!.get("a")!.impressions).toBe(3);
    await metrics.close();
  });

  it("records requests per exposure and persists only the request counters", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-exp-counters-"));
    const file = join(dir, "request-counters.json");
    try {
      const store = createMemoryCountsStore({ persist: { file, fields: isRequestField } });
      const metrics = createExperimentMetrics({ store });
      metrics.recordRequest([{ experiment: "exp", variant: "a" }], 12, false);
      metrics.recordRequest([{ experiment: "exp", variant: "a" }], 300, true);
      metrics.onEvents(traffic(["u0"]));
      metrics.drain();
      await metrics.close();
      const again = await createMemoryCountsStore({ persist: { file, fields: isRequestField } }).read();
      const a = again.get("exp")!.get("a")!;
      expect(a).toMatchObject({ requests: 2, fallbackRequests: 1, latencyMsSum: 312, latencyMsSq: 144 + 90_000 });
      // Impression counters come back from the log replay, not from this file.
      expect(a.impressions).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(await skipRedis())("online metrics across replicas (Redis)", () => {
  const prefix = uniquePrefix("experiments");
  let admin: Redis;
  const stores: ExperimentCountsStore[] = [];
  const errors: string[] = [];
  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });
  const redisStore = () => {
    const s = createRedisCountsStore({ redis: admin, keyPrefix: prefix, flushMs: 50, onError: (e) => errors.push(String(e)) });
    stores.push(s);
    return s;
  };

  it("two replicas, each counting the users it owns, add up to one view; it survives a restart", async () => {
    const events = traffic(USERS);
    // Ownership is by user: replica 1 owns u0, u1, u2; replica 2 owns u3, u4.
    const own = (users: string[]) => events.filter((e) => users.includes(e.userId));
    const one = createExperimentMetrics({ store: redisStore(), attributionWindowMs: 60_000 });
    const two = createExperimentMetrics({ store: redisStore(), attributionWindowMs: 60_000 });
    one.onEvents(own(["u0", "u1", "u2"]));
    two.onEvents(own(["u3", "u4"]));
    one.recordRequest([{ experiment: "exp", variant: "a" }], 20, false);
    two.recordRequest([{ experiment: "exp", variant: "a" }], 40, false);
    // Shutdown counts what is still in its window (the next start resumes after the consumer's checkpoint).
    await one.close();
    await two.close();
    // A restarted replica reads the shared totals.
    const reader = createExperimentMetrics({ store: redisStore() });
    const snap = await reader.snapshot();
    expect(errors).toEqual([]);
    expectTotals(snap);
    expect(snap.get("exp")!.get("a")!).toMatchObject({ requests: 2, latencyMsSum: 60 });
    // And the memory store's arithmetic is the Redis script's.
    const memory = createExperimentMetrics({ store: createMemoryCountsStore(), attributionWindowMs: 60_000 });
    memory.onEvents(events);
    memory.drain();
    const m = (await memory.snapshot()).get("exp")!;
    for (const v of ["a", "b"]) {
      const r = snap.get("exp")!.get(v)!;
      for (const [f, value] of Object.entries(m.get(v)!)) expect(r[f], `${v} ${f}`).toBeCloseTo(value, 9);
    }
  });
});
