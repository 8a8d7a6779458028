import { describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";
import { CONTRACT_CAPS, stateStoreContract } from "./state-store.contract";

describe("memory state store", () => {
  stateStoreContract(async () => createMemoryStateStore(CONTRACT_CAPS));

  it("bounds users and videos (least recently updated out)", async () => {
    const store = createMemoryStateStore({ maxUsers: 3, maxVideos: 2 });
    const like = (u: string, v: string): ReelEvent => ({ id: `${u}${v}`, type: "like", userId: u, videoId: v, ts: 1 });
    await store.apply([like("a", "x"), like("b", "y"), like("c", "z"), like("a", "x"), like("d", "x")], () => undefined);
    expect(await store.getUser("b")).toBeUndefined();
    expect((await store.getUser("a"))?.likes).toBe(2);
    expect([...(await store.getVideos(["x", "y", "z"])).keys()].sort()).toEqual(["x", "z"]);
  });

  it("reads do not make a user or video recent: only writes keep them in", async () => {
    const store = createMemoryStateStore({ maxUsers: 2, maxVideos: 2 });
    const like = (u: string, v: string): ReelEvent => ({ id: `${u}${v}`, type: "like", userId: u, videoId: v, ts: 1 });
    await store.apply([like("a", "x"), like("b", "y")], () => undefined);
    // Read a and x (a feed request would): still the least recently written, so the next writes push them out.
    expect(await store.getUser("a")).toBeDefined();
    expect(await store.getSeen("a")).toBeDefined();
    expect((await store.getVideos(["x"])).size).toBe(1);
    await store.apply([like("c", "z")], () => undefined);
    expect(await store.getUser("a")).toBeUndefined();
    expect(await store.getUser("b")).toBeDefined();
    expect([...(await store.getVideos(["x", "y", "z"])).keys()].sort()).toEqual(["y", "z"]);
  });

  it("keeps a board's order between reads, exact by default, at most trendingStaleMs behind with it", async () => {
    const watch = (u: string, v: string, ts: number): ReelEvent => ({ id: `${u}${v}${ts}`, type: "watch", userId: u, videoId: v, ts, watchedSec: 10, videoDurationSec: 10 }) as ReelEvent;
    const exact = createMemoryStateStore();
    const lagging = createMemoryStateStore({ trendingStaleMs: 60_000 });
    for (const store of [exact, lagging]) {
      await store.apply([watch("a", "v1", 1000)], () => undefined);
      expect((await store.trending(undefined, 5, 1000)).map((h) => h.videoId)).toEqual(["v1"]);
      await store.apply([watch("b", "v2", 1000), watch("c", "v2", 1000)], () => undefined);
    }
    // Exact: the change shows at once. Lagging: the previous order is served (within the minute).
    expect((await exact.trending(undefined, 5, 1000)).map((h) => h.videoId)).toEqual(["v2", "v1"]);
    expect((await lagging.trending(undefined, 5, 1000)).map((h) => h.videoId)).toEqual(["v1"]);
    // Repeated reads of an unchanged board answer the same (from the kept order), limits applied per read.
    expect(await exact.trending(undefined, 1, 1000)).toEqual((await exact.trending(undefined, 5, 1000)).slice(0, 1));
  });

  it("checkpoints the applied cursor with the state", async () => {
    const store = createMemoryStateStore();
    expect(await store.checkpoint()).toBeUndefined();
    await store.applyAt([], () => undefined, "0000000001:000000000042");
    expect(await store.checkpoint()).toBe("0000000001:000000000042");
  });
});
