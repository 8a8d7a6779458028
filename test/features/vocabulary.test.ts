import { describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { createVocabulary, fitVocabulary, vocabularyFromJSON } from "../../src/features/vocabulary";
import { fnv1a } from "../../src/util/random";

describe("vocabulary", () => {
  it("reserves 0 for missing values, hashes unseen values into OOV buckets, then lists known values by frequency", () => {
    const v = fitVocabulary(["b", "a", "b", "c", "b", "a", undefined, ""], { oovBuckets: 4 });
    expect(v.size).toBe(1 + 4 + 3);
    expect(v.values).toEqual(["b", "a", "c"]);
    expect(v.index(undefined)).toBe(0);
    expect(v.index("")).toBe(0);
    expect(v.index("b")).toBe(5);
    expect(v.index("a")).toBe(6);
    expect(v.index("c")).toBe(7);
    const oov = v.index("never-seen");
    expect(oov).toBeGreaterThanOrEqual(1);
    expect(oov).toBeLessThanOrEqual(4);
    expect(oov).toBe(1 + (fnv1a("never-seen") % 4));
    // Stable across instances (a restarted server hashes the same way).
    expect(fitVocabulary(["x"], { oovBuckets: 4 }).index("never-seen")).toBe(oov);
  });

  it("spreads unseen values over the buckets", () => {
    const v = createVocabulary([], 8);
    const hit = new Set(Array.from({ length: 200 }, (_, i) => v.index(`id-${i}`)));
    expect(hit.size).toBe(8);
  });

  it("applies minCount and maxSize, ties broken by value", () => {
    const counts = new Map([
      ["z", 3],
      ["y", 3],
      ["x", 1],
      ["w", 5],
    ]);
    const v = fitVocabulary(counts, { minCount: 2, maxSize: 2, oovBuckets: 1 });
    expect(v.values).toEqual(["w", "y"]);
    expect(v.has("z")).toBe(false);
    expect(v.index("z")).toBe(1);
    expect(v.index("x")).toBe(1);
  });

  it("with no OOV buckets maps unseen values to 0", () => {
    const v = createVocabulary(["a"], 0);
    expect(v.index("a")).toBe(1);
    expect(v.index("b")).toBe(0);
    expect(v.size).toBe(2);
  });

  it("round-trips through JSON", () => {
    const v = fitVocabulary(["a", "b", "b"], { oovBuckets: 3 });
    const back = vocabularyFromJSON(JSON.parse(JSON.stringify(v.toJSON())));
    for (const x of ["a", "b", "c", undefined]) expect(back.index(x)).toBe(v.index(x));
    expect(back.size).toBe(v.size);
  });

  it("rejects malformed JSON with BAD_BUNDLE naming the field", () => {
    const err = (j: unknown) => {
      try {
        vocabularyFromJSON(j, "vocabularies.tag");
      } catch (e) {
        return e as ReelfeedError;
      }
      throw new Error("did not throw");
    };
    expect(err(null).code).toBe("BAD_BUNDLE");
    expect(err({ oovBuckets: -1, values: [] }).message).toContain("vocabularies.tag.oovBuckets");
    expect(err({ oovBuckets: 1, values: ["a", 2] }).message).toContain("vocabularies.tag.values");
    expect(err({ oovBuckets: 1, values: ["a", "a"] }).message).toContain("duplicate");
  });
});
