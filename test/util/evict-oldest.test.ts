import { describe, expect, it } from "vitest";
import { evictOldest } from "../../src/util/evict-oldest";

describe("evictOldest", () => {
  it("leaves a Map or Set within its bound alone", () => {
    const set = new Set(["a", "b"]);
    evictOldest(set, 2);
    expect([...set]).toEqual(["a", "b"]);
  });

  it("below a bound of 100 deletes exactly the excess, oldest (first inserted) first", () => {
    const map = new Map([["a", 1], ["b", 2], ["c", 3]]);
    // An LRU write: delete and set again makes "a" the newest.
    map.delete("a");
    map.set("a", 4);
    map.set("d", 5);
    evictOldest(map, 3);
    expect([...map.keys()]).toEqual(["c", "a", "d"]);
  });

  it("past a larger bound goes back down to 99 % of it in one batch, oldest first", () => {
    const set = new Set<number>();
    for (let i = 0; i < 1000; i++) set.add(i);
    evictOldest(set, 1000);
    expect(set.size).toBe(1000);
    set.add(1000);
    evictOldest(set, 1000);
    expect(set.size).toBe(990);
    expect(Math.min(...set)).toBe(11);
    expect(set.has(1000)).toBe(true);
    // The next 10 inserts fit without another batch.
    for (let i = 1001; i <= 1010; i++) {
      set.add(i);
      evictOldest(set, 1000);
    }
    expect(set.size).toBe(1000);
    expect(Math.min(...set)).toBe(11);
  });
});
