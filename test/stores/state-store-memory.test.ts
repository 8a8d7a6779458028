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

  it("checkpoints the applied cursor with the state", async () => {
    const store = createMemoryStateStore();
    expect(await store.checkpoint()).toBeUndefined();
    await store.applyAt([], () => undefined, "0000000001:000000000042");
    expect(await store.checkpoint()).toBe("0000000001:000000000042");
  });
});
