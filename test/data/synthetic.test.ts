import { describe, expect, it } from "vitest";
import { generateSynthetic } from "../../src/data/synthetic";
import { EVENT_TYPES, type ReelEvent } from "../../src/data/types";
import { validateDataset } from "../../src/data/validate";

const DAY = 86_400_000;
const START = Date.UTC(2025, 0, 1);
// One mid-sized run shared by the property tests: big enough for rare event types, small enough for seconds.
const OPTS = { users: 150, videos: 200, days: 7, seed: 1 };
const { dataset, truth } = generateSynthetic(OPTS);

const count = (events: readonly ReelEvent[], type: string) => events.filter((e) => e.type === type).length;

describe("generateSynthetic", () => {
  it("is deterministic: same seed, same data; another seed, other data", () => {
    const again = generateSynthetic(OPTS);
    expect(JSON.stringify(again.dataset)).toBe(JSON.stringify(dataset));
    expect(again.truth.userTaste).toEqual(truth.userTaste);
    const other = generateSynthetic({ ...OPTS, seed: 2 });
    expect(JSON.stringify(other.dataset.events.slice(0, 50))).not.toBe(JSON.stringify(dataset.events.slice(0, 50)));
  });

  it("produces every event type, sorted by time, that passes validation untouched", () => {
    for (const type of EVENT_TYPES) expect(count(dataset.events, type), type).toBeGreaterThan(0);
    for (let i = 1; i < dataset.events.length; i++) {
      if (dataset.events[i].ts < dataset.events[i - 1].ts) throw new Error(`events not sorted at ${i}`);
    }
    const { dataset: valid, report } = validateDataset(dataset, { now: START + 400 * DAY });
    expect(report.dropped).toEqual(Object.fromEntries(Object.keys(report.dropped).map((k) => [k, 0])));
    expect(valid.events).toHaveLength(dataset.events.length);
    expect(new Set(dataset.events.map((e) => e.id)).size).toBe(dataset.events.length);
  });

  it("clicks more on on-taste impressions than off-taste ones", () => {
    const clicked = new Set(
      dataset.events.filter((e) => e.type === "click").map((e) => `${e.userId}|${e.trackingId}|${"videoId" in e ? e.videoId : ""}`),
    );
    const buckets = { on: { n: 0, c: 0 }, off: { n: 0, c: 0 } };
    for (const e of dataset.events) {
      if (e.type !== "impression") continue;
      const taste = truth.userTaste[truth.userIds.indexOf(e.userId)];
      const rel = truth.affinity(e.userId, e.videoId) / Math.max(...taste);
      const b = rel > 0.5 ? buckets.on : rel < 0.2 ? buckets.off : undefined;
      if (!b) continue;
      b.n++;
      if (clicked.has(`${e.userId}|${e.trackingId}|${e.videoId}`)) b.c++;
    }
    expect(buckets.on.n).toBeGreaterThan(200);
    expect(buckets.off.n).toBeGreaterThan(200);
    const onRate = buckets.on.c / buckets.on.n;
    const offRate = buckets.off.c / buckets.off.n;
    expect(onRate).toBeGreaterThan(2 * offRate);
  });

  it("completes on-taste videos more and clicks less further down the page", () => {
    const watches = dataset.events.filter((e): e is Extract<ReelEvent, { type: "watch" }> => e.type === "watch");
    const completion = (pred: (rel: number) => boolean) => {
      const xs = watches
        .filter((w) => pred(truth.affinity(w.userId, w.videoId) / Math.max(...truth.userTaste[truth.userIds.indexOf(w.userId)])))
        .map((w) => w.watchedSec / w.videoDurationSec);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    expect(completion((r) => r > 0.5)).toBeGreaterThan(completion((r) => r < 0.2) + 0.1);
    const clicks = dataset.events.filter((e) => e.type === "click" && e.position !== undefined);
    const top = clicks.filter((e) => e.type === "click" && e.position! < 3).length;
    const low = clicks.filter((e) => e.type === "click" && e.position! >= 8 && e.position! < 11).length;
    expect(top).toBeGreaterThan(low);
  });

  it("builds a believable platform: profiles, fresh uploads, safety flags, topic vocabularies", () => {
    const ages = dataset.users.map((u) => u.age);
    expect(ages.some((a) => a === undefined)).toBe(true);
    expect(ages.some((a) => a !== undefined && a < 18)).toBe(true);
    expect(dataset.users.every((u) => u.country && u.language && u.device && u.createdAt !== undefined)).toBe(true);
    expect(dataset.users.some((u) => u.createdAt! >= START)).toBe(true); // some sign up during the window
    const end = START + OPTS.days * DAY;
    expect(dataset.videos.some((v) => v.uploadedAt >= end - 2 * DAY)).toBe(true);
    expect(dataset.videos.some((v) => v.uploadedAt < START)).toBe(true);
    const big = generateSynthetic({ users: 5, videos: 2000, days: 2, seed: 3 }).dataset.videos;
    expect(big.some((v) => v.ageRestricted)).toBe(true);
    expect(big.some((v) => (v.policyFlags ?? []).length > 0)).toBe(true);
    expect(big.some((v) => (v.blockedRegions ?? []).length > 0)).toBe(true);
    // Content carries the topic: a video's tags come from its main topic's vocabulary.
    const byTopic = new Map<string, Set<string>>();
    dataset.videos.forEach((v, i) => {
      expect(v.category).toBe(truth.topics[truth.videoMainTopic[i]]);
      const set = byTopic.get(v.category) ?? new Set<string>();
      for (const t of v.tags) set.add(t);
      byTopic.set(v.category, set);
    });
    const gaming = byTopic.get("gaming");
    const cooking = byTopic.get("cooking");
    if (gaming && cooking) expect([...gaming].filter((t) => cooking.has(t)).length).toBeLessThan(gaming.size / 2);
    // No event before its video was uploaded or its user signed up.
    const video = new Map(dataset.videos.map((v) => [v.id, v]));
    const user = new Map(dataset.users.map((u) => [u.id, u]));
    for (const e of dataset.events) {
      if ("videoId" in e && e.ts < video.get(e.videoId)!.uploadedAt) throw new Error(`${e.id} before upload`);
      if (e.ts < user.get(e.userId)!.createdAt!) throw new Error(`${e.id} before sign-up`);
    }
  });

  it("follows are homophilous and subscriptions favour liked topics", () => {
    const idx = new Map(truth.userIds.map((id, i) => [id, i]));
    const sim = (a: number, b: number) => truth.userTaste[a].reduce((s, x, k) => s + x * truth.userTaste[b][k], 0);
    const followSim =
      dataset.follows.reduce((s, f) => s + sim(idx.get(f.followerId)!, idx.get(f.followeeId)!), 0) / dataset.follows.length;
    let randomSim = 0;
    for (let i = 0; i < 500; i++) randomSim += sim(i % OPTS.users, (i * 7 + 3) % OPTS.users);
    randomSim /= 500;
    expect(dataset.follows.length).toBeGreaterThan(50);
    expect(followSim).toBeGreaterThan(1.5 * randomSim);
    expect(dataset.subscriptions.length).toBeGreaterThan(50);
  });

  it("truth is consistent with the dataset", () => {
    expect(truth.userIds).toEqual(dataset.users.map((u) => u.id));
    expect(truth.videoIds).toEqual(dataset.videos.map((v) => v.id));
    for (const row of [...truth.userTaste, ...truth.videoTopic]) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(truth.affinity("u0", "v0")).toBeGreaterThanOrEqual(0);
    expect(truth.affinity("nobody", "v0")).toBe(0);
  });

  it("generates 1000 users × 2000 videos × 30 days in seconds", () => {
    const started = Date.now();
    const big = generateSynthetic({ users: 1000, videos: 2000, days: 30, seed: 9 });
    const elapsed = Date.now() - started;
    expect(big.dataset.events.length).toBeGreaterThan(100_000);
    // A few seconds on a quiet machine; generous because test files share two cores.
    expect(elapsed).toBeLessThan(30_000);
  }, 60_000);

  it("rejects nonsense sizes", () => {
    expect(() => generateSynthetic({ users: 0, videos: 1, days: 1 })).toThrow(/users must be a positive integer/);
    expect(() => generateSynthetic({ users: 1, videos: 1, days: 1.5 })).toThrow(/days/);
  });
});
