import { describe, expect, it } from "vitest";
import type { Dataset, ReelEvent, Video } from "../../src/data/types";
import { HOUR_MS, type UserAggregates, type VideoAggregates } from "../../src/features/aggregates";
import { fitFeatureArtifacts } from "../../src/features/artifacts";
import { userFeatures, videoFeatures } from "../../src/features/derived";
import { aggregatesAt, replayEvents } from "../../src/features/replay";
import { buildRankerRows, eventContext, rankerSpec, type RankerRowInput } from "../../src/features/rows";
import { createBatchPool, type FeatureBatch } from "../../src/features/spec";
import { T0, tinyDataset } from "./fixtures";

const video: Video = {
  id: "v1",
  creatorId: "c1",
  title: "t",
  tags: [],
  category: "music",
  durationSec: 100,
  uploadedAt: T0 - 1000,
};

function ds(events: ReelEvent[]): Dataset {
  return { source: "test", users: [{ id: "u1" }], creators: [], videos: [video], follows: [], subscriptions: [], events };
}

const watch = (id: string, ts: number, watchedSec = 90): ReelEvent => ({
  id,
  type: "watch",
  userId: "u1",
  videoId: "v1",
  ts,
  watchedSec,
  videoDurationSec: 100,
});

function bytes(b: FeatureBatch): Buffer {
  return Buffer.concat([
    ...b.categorical.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
    ...b.bags.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
    Buffer.from(b.dense.buffer, b.dense.byteOffset, b.dense.byteLength),
  ]);
}

describe("point-in-time replay", () => {
  it("shows each event the aggregates strictly before it; events sharing a timestamp do not see each other", () => {
    const events = [watch("a", T0), watch("b", T0 + 10), watch("c", T0 + 10), watch("d", T0 + 20)];
    const seen: Record<string, number | undefined> = {};
    const final = replayEvents(ds(events), (e, before) => {
      seen[e.id] = before.userAgg?.watches;
      expect(before.videoAgg?.views).toBe(before.userAgg?.watches);
    });
    expect(seen).toEqual({ a: undefined, b: 1, c: 1, d: 3 });
    expect(final.users.get("u1")!.watches).toBe(4);
  });

  it("a feature computed at T ignores an event at T+1 and one at exactly T", () => {
    const base = [watch("a", T0), watch("b", T0 + HOUR_MS)];
    const T = T0 + 2 * HOUR_MS;
    const withLater = [...base, watch("late", T + 1, 5)];
    const withSameTs = [...base, watch("same", T, 5)];
    const at = (events: ReelEvent[]) => {
      const s = aggregatesAt(ds(events), T);
      return {
        user: userFeatures(s.users.get("u1"), T),
        video: videoFeatures(s.videos.get("v1"), video, T),
      };
    };
    const reference = at(base);
    expect(reference.user.watches).toBe(2);
    expect(at(withLater)).toEqual(reference);
    expect(at(withSameTs)).toEqual(reference);
    // ...and the replay snapshot for an event at T agrees with the serving state at T.
    let snapshot: { userAgg?: UserAggregates; videoAgg?: VideoAggregates } | undefined;
    replayEvents(ds([...withSameTs, watch("z", T + 5)]), (e, before) => {
      if (e.id === "same") snapshot = before;
    });
    expect(userFeatures(snapshot!.userAgg, T)).toEqual(reference.user);
    expect(videoFeatures(snapshot!.videoAgg, video, T)).toEqual(reference.video);
  });

  it("replays unsorted input in time order (stable for ties) and honours until", () => {
    const events = [watch("b", T0 + 10), watch("a", T0), watch("c", T0 + 30)];
    const order: string[] = [];
    const final = replayEvents(ds(events), (e) => order.push(e.id), { until: T0 + 30 });
    expect(order).toEqual(["a", "b"]);
    expect(final.users.get("u1")!.watches).toBe(2);
    expect(aggregatesAt(ds(events), T0 + 30).users.get("u1")).toEqual(final.users.get("u1"));
  });

  it("the third visitor argument is the whole state before the event's timestamp group (negatives read it)", () => {
    const data = tinyDataset();
    const checks = new Set([5, 40, 41, 120]);
    let n = 0;
    replayEvents(data, (e, _before, state) => {
      if (!checks.has(n++)) return;
      const serving = aggregatesAt(data, e.ts);
      expect(new Map(state.users)).toEqual(serving.users);
      expect(new Map(state.videos)).toEqual(serving.videos);
    });
    expect(n).toBe(data.events.length);
  });

  it("snapshots handed to the visitor are not mutated by later events", () => {
    const kept: UserAggregates[] = [];
    replayEvents(ds([watch("a", T0), watch("b", T0 + 1), watch("c", T0 + 2)]), (_, before) => {
      if (before.userAgg) kept.push(before.userAgg);
    });
    expect(kept.map((k) => k.watches)).toEqual([1, 2]);
  });
});

describe("train/serve identity", () => {
  it("training rows (replay snapshot) and serving rows (aggregatesAt) are byte-identical for every event", () => {
    const data = tinyDataset();
    const until = data.events[Math.floor(data.events.length * 0.7)].ts;
    const artifacts = fitFeatureArtifacts({ dataset: data, until });
    const users = new Map(data.users.map((u) => [u.id, u]));
    const videos = new Map(data.videos.map((v) => [v.id, v]));
    const training: { input: RankerRowInput; event: ReelEvent }[] = [];
    replayEvents(data, (e, before) => {
      if (!("videoId" in e)) return;
      const user = users.get(e.userId);
      const input = { user, userAgg: before.userAgg, video: videos.get(e.videoId)!, videoAgg: before.videoAgg, context: eventContext(e, user) };
      training.push({ input, event: e });
    });
    expect(training.length).toBeGreaterThan(100);
    // Several cut-offs, each one a serving state: rows for events right at the cut-off must match the replay.
    const cutoffs = [...new Set(training.map((t) => t.event.ts))].filter((_, i) => i % 17 === 3);
    let compared = 0;
    for (const ts of cutoffs) {
      const state = aggregatesAt(data, ts);
      for (const { input, event } of training.filter((t) => t.event.ts === ts)) {
        const served: RankerRowInput = {
          ...input,
          userAgg: state.users.get(event.userId),
          videoAgg: state.videos.get(input.video.id),
        };
        const train = buildRankerRows(artifacts, [input]);
        const serve = buildRankerRows(artifacts, [served]);
        expect(bytes(serve).equals(bytes(train))).toBe(true);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5);
    // Batched serving (many candidates, one user) gives the same bytes as row-by-row.
    const sample = training.slice(50, 90).map((t) => t.input);
    const one = sample.map((i) => bytes(buildRankerRows(artifacts, [i])));
    const batch = buildRankerRows(artifacts, sample);
    const d = batch.dense.length / batch.size;
    for (let r = 0; r < sample.length; r++) {
      const row = bytes({
        size: 1,
        categorical: batch.categorical.map((a) => a.slice(r, r + 1)),
        bags: batch.bags.map((a) => a.slice((r * a.length) / batch.size, ((r + 1) * a.length) / batch.size)),
        dense: batch.dense.slice(r * d, (r + 1) * d),
      });
      expect(row.equals(one[r])).toBe(true);
    }
  });

  it("rows written into a reused batch (a BatchPool's, holding another request's values) are those of a new batch", () => {
    const data = tinyDataset();
    const artifacts = fitFeatureArtifacts({ dataset: data, until: data.events[data.events.length - 1].ts + 1 });
    const state = aggregatesAt(data, data.events[data.events.length - 1].ts + 1);
    const context = (userId: string) => eventContext({ ...data.events[0], userId } as ReelEvent, data.users.find((u) => u.id === userId));
    // The user with the longest history first, then one with the shortest: every bag slot the second request leaves
    // empty was written by the first.
    const byHistory = [...state.users].sort((a, b) => b[1].recent.length - a[1].recent.length);
    const requestOf = ([userId, userAgg]: (typeof byHistory)[number]): RankerRowInput[] =>
      data.videos.slice(0, 12).map((video) => ({ user: data.users.find((u) => u.id === userId), userAgg, video, videoAgg: state.videos.get(video.id), context: context(userId) }));
    const long = requestOf(byHistory[0]);
    const short = requestOf(byHistory[byHistory.length - 1]);
    expect(long[0].userAgg!.recent.length).toBeGreaterThan(short[0].userAgg!.recent.length);
    const pool = createBatchPool(rankerSpec(artifacts));
    const first = buildRankerRows(artifacts, long, pool.take(long.length));
    pool.give(first);
    const reused = pool.take(short.length);
    expect(reused).toBe(first);
    expect(bytes(buildRankerRows(artifacts, short, reused)).equals(bytes(buildRankerRows(artifacts, short)))).toBe(true);
    expect(() => buildRankerRows(artifacts, short.slice(1), pool.take(short.length))).toThrow(/12 rows cannot take 11/);
  });
});
