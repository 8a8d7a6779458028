import { describe, expect, it } from "vitest";
import { fnv1a, seededRandom } from "../../src/util/random";

const take = (next: () => number, n: number) => Array.from({ length: n }, next);

describe("fnv1a", () => {
  it("matches the reference values", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });
});

describe("seededRandom", () => {
  it("keeps the streams seeds produced before (synthetic data, exploration slots and test fixtures depend on them)", () => {
    expect(take(seededRandom(42), 3)).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
    expect(take(seededRandom("exploration#0"), 3)).toEqual([0.8835082536097616, 0.2968235600274056, 0.3767736100126058]);
  });

  it("hashes a string seed with FNV-1a and uses the low 32 bits of a number", () => {
    expect(take(seededRandom("abc"), 5)).toEqual(take(seededRandom(fnv1a("abc")), 5));
    expect(take(seededRandom(-1), 5)).toEqual(take(seededRandom(0xffffffff), 5));
    expect(take(seededRandom(2 ** 32 + 7), 5)).toEqual(take(seededRandom(7), 5));
    expect(take(seededRandom(1), 5)).not.toEqual(take(seededRandom(2), 5));
  });

  it("draws uniform floats in [0, 1)", () => {
    const xs = take(seededRandom(7), 20_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const buckets = new Array(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]++;
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200);
  });
});
