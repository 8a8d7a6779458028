import { describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createIdWindowDeduper } from "../../src/events/id-window-deduper";

const like = (id: string): ReelEvent => ({ id, type: "like", userId: "u", videoId: "v", ts: 1 });

describe("id window deduper", () => {
  it("appends each id once, remembers the newest maxIds, and forgets the oldest first", async () => {
    const appended: string[] = [];
    const deduper = createIdWindowDeduper({ append: async (events) => void appended.push(...events.map((e) => e.id)), maxIds: 3, seed: ["s1"] });
    expect(await deduper.appendNew([like("a"), like("a"), like("s1"), like("b")])).toEqual([true, false, false, true]);
    expect(deduper.size).toBe(3);
    // A retry within the window is a duplicate; the window now holds s1, a, b.
    expect(await deduper.appendNew([like("b")])).toEqual([false]);
    // Two newer ids push out the two oldest (s1, then a), whatever was asked since.
    expect(await deduper.appendNew([like("c"), like("d")])).toEqual([true, true]);
    expect([deduper.has("s1"), deduper.has("a"), deduper.has("b"), deduper.has("c"), deduper.has("d")]).toEqual([false, false, true, true, true]);
    // A retry older than the window is stored again.
    expect(await deduper.appendNew([like("a")])).toEqual([true]);
    expect(appended).toEqual(["a", "b", "c", "d", "a"]);
  });

  it("a failed append remembers nothing: the retry is new", async () => {
    let fail = true;
    const deduper = createIdWindowDeduper({
      append: async () => {
        if (fail) throw new Error("disk full");
      },
    });
    await expect(deduper.appendNew([like("x")])).rejects.toThrow("disk full");
    expect(deduper.has("x")).toBe(false);
    fail = false;
    expect(await deduper.appendNew([like("x")])).toEqual([true]);
  });
});
