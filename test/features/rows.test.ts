import { describe, expect, it } from "vitest";
import type { Video } from "../../src/data/types";
import { DAY_MS } from "../../src/features/aggregates";
import { fitFeatureArtifacts } from "../../src/features/artifacts";
import { PRIORS, userFeatures, videoFeatures } from "../../src/features/derived";
import { aggregatesAt } from "../../src/features/replay";
import { affinityFeatures } from "../../src/features/item-neighbours";
import { normalize } from "../../src/features/normalizers";
import { fitItemNeighbours } from "../../src/training/item-neighbours-fit";
import {
  AFFINITY_DENSE,
  DENSE_COLUMNS,
  rawRankerDense,
  buildRankerRows,
  buildUserTowerRows,
  buildVideoTowerRows,
  rankerSpec,
  userTowerSpec,
  videoTowerSpec,
} from "../../src/features/rows";
import type { FeatureBatch, FeatureSpec } from "../../src/features/spec";
import { T0, tinyDataset } from "./fixtures";

const data = tinyDataset();
const until = T0 + 7 * DAY_MS;
const artifacts = fitFeatureArtifacts({ dataset: data, until });
const state = aggregatesAt(data, until);
const now = until + 3_600_000;

function checkShape(spec: FeatureSpec, batch: FeatureBatch, n: number) {
  expect(batch.size).toBe(n);
  expect(batch.categorical).toHaveLength(spec.categorical.length);
  spec.categorical.forEach((c, i) => {
    expect(batch.categorical[i]).toHaveLength(n);
    for (const x of batch.categorical[i]) expect(x >= 0 && x < c.vocabSize).toBe(true);
  });
  spec.bags.forEach((c, i) => {
    expect(batch.bags[i]).toHaveLength(n * c.length);
    for (const x of batch.bags[i]) expect(x >= 0 && x < c.vocabSize).toBe(true);
  });
  expect(batch.dense).toHaveLength(n * spec.dense.length);
  for (const x of batch.dense) expect(Number.isFinite(x)).toBe(true);
}

const newVideo: Video = {
  id: "brand-new",
  creatorId: "new-creator",
  title: "fresh upload",
  tags: ["never-seen-tag"],
  category: "unboxing",
  durationSec: 30,
  uploadedAt: now - 60_000,
};

describe("row builders", () => {
  it("ranker rows match the spec for known users and videos", () => {
    const spec = rankerSpec(artifacts);
    expect(spec.categorical.map((c) => c.name)).toEqual(["userId", "videoId", "category", "creatorId", "country", "device", "surface", "ageBucket", "language"]);
    expect(spec.bags.map((b) => b.name)).toEqual(["tags", "history", "recentLikes", "userCategories"]);
    expect(new Set(spec.dense).size).toBe(spec.dense.length);
    const u = data.users[1];
    const inputs = data.videos.map((video) => ({
      user: u,
      userAgg: state.users.get(u.id),
      video,
      videoAgg: state.videos.get(video.id),
      context: { now, device: "mobile" as const, surface: "home" as const },
    }));
    const batch = buildRankerRows(artifacts, inputs);
    checkShape(spec, batch, inputs.length);
    // Known ids get known (non-OOV) indices.
    expect(batch.categorical[0][0]).toBe(artifacts.vocabularies.userId.index(u.id));
    expect(artifacts.vocabularies.userId.has(u.id)).toBe(true);
    // The history bag holds the user's most recent watch first.
    const agg = state.users.get(u.id)!;
    const hist = spec.bags[1];
    expect(batch.bags[1][0]).toBe(artifacts.vocabularies.videoId.index(agg.recent[agg.recent.length - 1].videoId));
    expect(batch.bags[1].subarray(0, hist.length).filter((x) => x !== 0).length).toBe(Math.min(hist.length, agg.recent.length));
    // Deterministic.
    expect(buildRankerRows(artifacts, inputs)).toEqual(batch);
  });

  it("dense values are the fitted normalisers applied to rawRankerDense (what the statistics were fitted on)", () => {
    const spec = rankerSpec(artifacts);
    // The normalised columns, then the scale-free affinity columns (no normaliser; 0/1/0 without neighbours).
    expect(spec.dense).toEqual([...DENSE_COLUMNS.map((c) => c.name), ...AFFINITY_DENSE]);
    const u = data.users[3];
    for (const video of data.videos.slice(0, 4)) {
      const input = { user: u, userAgg: state.users.get(u.id), video, videoAgg: state.videos.get(video.id), context: { now, position: 3 } };
      const raw = rawRankerDense(input);
      const row = buildRankerRows(artifacts, [input]);
      raw.forEach((x, i) => expect(row.dense[i]).toBe(Math.fround(normalize(artifacts.dense[spec.dense[i]], x))));
      expect(Array.from(row.dense.subarray(raw.length))).toEqual([0, 1, 0]);
    }
  });

  it("per-video blocks follow the artifacts' neighbour model when it is set after rows were built (training's order)", () => {
    const neighbours = fitItemNeighbours(
      data.events.filter((e) => e.type === "watch").map((e) => ({ userId: e.userId, videoId: e.videoId, ts: e.ts })),
      { k: 4, lambda: 5, halfLife: 2 },
    );
    const a = { ...artifacts, neighbours: undefined as typeof neighbours | undefined };
    const inputs = data.videos.map((video) => ({ user: data.users[0], userAgg: state.users.get(data.users[0].id), video, videoAgg: state.videos.get(video.id), context: { now } }));
    const without = Array.from(buildRankerRows(a, inputs).dense);
    a.neighbours = neighbours;
    const withModel = Array.from(buildRankerRows(a, inputs).dense);
    // A fresh artifacts object has no blocks yet: its rows are the reference.
    expect(withModel).toEqual(Array.from(buildRankerRows({ ...a }, inputs).dense));
    expect(withModel).not.toEqual(without);
  });

  it("rows from the per-video blocks and the once-per-request user part equal the table-driven reference, row for row", () => {
    // Neighbours fitted on the tiny platform's watches, so the affinity columns are not all 0 / 1 / 0.
    const neighbours = fitItemNeighbours(
      data.events.filter((e) => e.type === "watch").map((e) => ({ userId: e.userId, videoId: e.videoId, ts: e.ts })),
      { k: 4, lambda: 5, halfLife: 2 },
    );
    const a = { ...artifacts, neighbours };
    const spec = rankerSpec(a);
    const videos = [...data.videos, newVideo, { ...newVideo, id: "no-duration", durationSec: 0, language: "fr" }];
    const contexts = [{ now }, { now: now + 5 * DAY_MS, device: "tv" as const, country: "US", surface: "home" as const, language: "en" }];
    for (const user of [...data.users, undefined]) {
      for (const context of contexts) {
        // Warm videos with aggregates, the same videos without (the cold block), and a new upload.
        const inputs = videos.flatMap((video) => [
          { user, userAgg: user && state.users.get(user.id), video, videoAgg: state.videos.get(video.id), context },
          { user, userAgg: user && state.users.get(user.id), video, context },
        ]);
        const batch = buildRankerRows(a, inputs);
        const d = spec.dense.length;
        inputs.forEach((input, r) => {
          const raw = rawRankerDense(input);
          const expected = [
            ...raw.map((x, i) => Math.fround(normalize(a.dense[spec.dense[i]], x))),
            ...affinityFeatures(neighbours, input.userAgg?.recent, input.video.id).map(Math.fround),
          ];
          expect(Array.from(batch.dense.subarray(r * d, (r + 1) * d))).toEqual(expected);
          // Indices and bags: the same as the row built alone (no user part shared with another row).
          const alone = buildRankerRows(a, [input]);
          batch.categorical.forEach((col, i) => expect(col[r]).toBe(alone.categorical[i][0]));
          spec.bags.forEach((b, i) => expect(Array.from(batch.bags[i].subarray(r * b.length, (r + 1) * b.length))).toEqual(Array.from(alone.bags[i])));
        });
      }
    }
    expect(buildRankerRows(a, [{ user: data.users[0], userAgg: state.users.get("u0"), video: data.videos[1], context: { now } }]).dense.some((x, i) => spec.dense[i] === "affinity.relative" && x !== 0)).toBe(true);
  });

  it("cold start: unknown user, new video, no context gives sane finite rows", () => {
    const batch = buildRankerRows(artifacts, [{ video: newVideo, context: { now } }]);
    checkShape(rankerSpec(artifacts), batch, 1);
    const spec = rankerSpec(artifacts);
    const col = (name: string) => batch.categorical[spec.categorical.findIndex((c) => c.name === name)][0];
    expect(col("userId")).toBe(0);
    expect(col("country")).toBe(0);
    expect(col("ageBucket")).toBe(0);
    // An unseen video / creator / category hashes into an OOV bucket, not 0 and not a known id.
    const vid = col("videoId");
    expect(vid).toBeGreaterThan(0);
    expect(vid).toBeLessThanOrEqual(artifacts.vocabularies.videoId.oovBuckets);
    expect(batch.bags.every((b, i) => i === 0 || b.every((x) => x === 0))).toBe(true);
    expect(batch.bags[0][0]).toBeGreaterThan(0); // its one tag, hashed
    const dense = (name: string) => batch.dense[spec.dense.indexOf(name)];
    expect(dense("user.cold")).toBe(1);
    expect(dense("video.cold")).toBe(1);
    expect(dense("cross.languageMatch")).toBe(0.5);
    for (const x of batch.dense) expect(Math.abs(x)).toBeLessThanOrEqual(8);
  });

  it("cold-start derived features sit on the priors", () => {
    const uf = userFeatures(undefined, now);
    expect(uf.cold).toBe(true);
    expect(uf.completionRate).toBe(PRIORS.completion.mean);
    expect(uf.activityByHour.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    const vf = videoFeatures(undefined, newVideo, now);
    expect(vf).toMatchObject({ cold: true, views: 0, ctr: PRIORS.ctr.mean, likeRatio: PRIORS.likeRatio.mean });
    expect(vf.ageDays).toBeCloseTo(60_000 / DAY_MS, 12);
  });

  it("rates are smoothed: one impression and one click is not a 100 % CTR", () => {
    const agg = { ...state.videos.get("v0")!, impressions: 1, clicks: 1 };
    const vf = videoFeatures(agg, data.videos[0], now);
    expect(vf.ctr).toBeGreaterThan(PRIORS.ctr.mean);
    expect(vf.ctr).toBeLessThan(0.1);
  });

  it("velocity and trend decay with time since the last view", () => {
    const agg = state.videos.get("v3")!;
    const a = videoFeatures(agg, data.videos[3], agg.velocity.t);
    const b = videoFeatures(agg, data.videos[3], agg.velocity.t + 3_600_000);
    expect(b.viewVelocity).toBeCloseTo(a.viewVelocity / 2, 9);
    expect(b.trendingScore).toBeLessThan(a.trendingScore);
  });

  it("the per-request user cache does not leak between users in one batch", () => {
    const [u0, u1] = data.users;
    const video = data.videos[2];
    const row = (u: typeof u0) => ({ user: u, userAgg: state.users.get(u.id), video, videoAgg: state.videos.get(video.id), context: { now } });
    const mixed = buildRankerRows(artifacts, [row(u0), row(u1), row(u0)]);
    const alone = buildRankerRows(artifacts, [row(u1)]);
    const d = alone.dense.length;
    expect(mixed.dense.subarray(d, 2 * d)).toEqual(alone.dense);
    expect(mixed.categorical[0][1]).toBe(alone.categorical[0][0]);
    expect(mixed.dense.subarray(0, d)).toEqual(mixed.dense.subarray(2 * d, 3 * d));
  });

  it("user tower rows carry the user's history and context, never a candidate", () => {
    const spec = userTowerSpec(artifacts);
    const inputs = data.users.map((user) => ({ user, userAgg: state.users.get(user.id), context: { now, device: user.device } }));
    const batch = buildUserTowerRows(artifacts, [...inputs, { context: { now } }]);
    checkShape(spec, batch, inputs.length + 1);
    expect(spec.categorical.map((c) => c.name)).not.toContain("videoId");
    // Same user features as in the ranker (same column, same normaliser).
    const r = rankerSpec(artifacts);
    const rank = buildRankerRows(artifacts, [{ ...inputs[0], video: data.videos[0], videoAgg: state.videos.get("v0") }]);
    for (const name of spec.dense) {
      expect(batch.dense[spec.dense.indexOf(name)]).toBe(rank.dense[r.dense.indexOf(name)]);
    }
  });

  it("the user tower leaves out time since the first and last visit; bundles without the list keep every user column", () => {
    const spec = userTowerSpec(artifacts);
    expect(spec.dense).not.toContain("user.daysSinceLastSeen");
    expect(spec.dense).not.toContain("user.daysSinceFirstSeen");
    expect(spec.dense).toContain("user.watches");
    // A bundle fitted before the list existed: its tower was trained on every user column then the clock.
    const legacy = { ...artifacts, userTowerDense: undefined };
    const legacySpec = userTowerSpec(legacy);
    expect(legacySpec.dense.slice(0, 12)).toContain("user.daysSinceLastSeen");
    const input = { user: data.users[0], userAgg: state.users.get(data.users[0].id), context: { now, device: data.users[0].device } };
    const fresh = buildUserTowerRows(artifacts, [input]);
    const old = buildUserTowerRows(legacy, [input]);
    expect(old.dense).toHaveLength(legacySpec.dense.length);
    // Each column carries the same value whichever layout asks for it.
    for (const name of spec.dense) expect(fresh.dense[spec.dense.indexOf(name)]).toBe(old.dense[legacySpec.dense.indexOf(name)]);
  });

  it("video tower rows depend on the video, its aggregates and time only", () => {
    const spec = videoTowerSpec(artifacts);
    const inputs = [...data.videos, newVideo].map((video) => ({ video, videoAgg: state.videos.get(video.id), now }));
    const batch = buildVideoTowerRows(artifacts, inputs);
    checkShape(spec, batch, inputs.length);
    expect(spec.dense.some((n) => n.startsWith("user.") || n.startsWith("cross.") || n.startsWith("ctx."))).toBe(false);
    expect(spec.categorical.map((c) => c.name)).toEqual(["videoId", "category", "creatorId", "language"]);
    // Video-tower dense values equal the ranker's for the same video, whoever the user is.
    const r = rankerSpec(artifacts);
    for (const user of [undefined, data.users[0], data.users[3]]) {
      const rank = buildRankerRows(artifacts, [{ user, userAgg: user && state.users.get(user.id), video: data.videos[4], videoAgg: state.videos.get("v4"), context: { now } }]);
      for (const name of spec.dense) {
        expect(batch.dense[4 * spec.dense.length + spec.dense.indexOf(name)]).toBe(rank.dense[r.dense.indexOf(name)]);
      }
    }
  });
});
