import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { assignAll, assignVariant, decodeExposures, encodeExposures } from "../../src/experiments/assignment";
import { murmur3Utf16 as murmur3 } from "../../src/util/murmur3";
import { experimentSchema, type ExperimentConfig } from "../../src/experiments/experiment-config";
import { reelfeedErrorOf } from "../reelfeed-error-of";

const exp = (raw: Record<string, unknown>): ExperimentConfig => experimentSchema.parse(raw);
const users = Array.from({ length: 20_000 }, (_, i) => `u${i}`);

describe("assignment", () => {
  it("murmur3 matches the reference implementation", () => {
    // MurmurHash3_x86_32 over UTF-16 code units as little-endian pairs: "" → 0, and fixed values for regression.
    expect(murmur3("")).toBe(0);
    expect(murmur3("", 1)).toBe(0x514e28b7);
  });

  it("is sticky: the same user gets the same variant on every call, process and restart (pure function)", () => {
    const e = exp({ name: "ranker-v2", variants: [{ name: "control" }, { name: "treatment" }] });
    const first = users.slice(0, 500).map((u) => assignVariant(e, u, 0));
    const again = users.slice(0, 500).map((u) => assignVariant(exp({ name: "ranker-v2", variants: [{ name: "control" }, { name: "treatment" }] }), u, 0));
    expect(again).toEqual(first);
    // Another salt reshuffles.
    const salted = users.slice(0, 500).map((u) => assignVariant(exp({ name: "ranker-v2", salt: "x", variants: [{ name: "control" }, { name: "treatment" }] }), u, 0));
    expect(salted).not.toEqual(first);
  });

  it("splits by weight and traffic share", () => {
    const e = exp({ name: "e", traffic: 0.5, variants: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }] });
    const counts = { a: 0, b: 0, out: 0 };
    for (const u of users) counts[(assignVariant(e, u, 0) ?? "out") as keyof typeof counts]++;
    // 20k users: binomial SDs are ~70, so ±400 is over 5 SD.
    expect(Math.abs(counts.out - 10_000)).toBeLessThan(400);
    expect(Math.abs(counts.a - 2_500)).toBeLessThan(300);
    expect(Math.abs(counts.b - 7_500)).toBeLessThan(400);
  });

  it("raising traffic only adds users: nobody already in changes variant", () => {
    const small = exp({ name: "e", traffic: 0.1, variants: [{ name: "a" }, { name: "b" }] });
    const large = exp({ name: "e", traffic: 0.6, variants: [{ name: "a" }, { name: "b" }] });
    let inSmall = 0;
    for (const u of users) {
      const v = assignVariant(small, u, 0);
      if (v === undefined) continue;
      inSmall++;
      expect(assignVariant(large, u, 0)).toBe(v);
    }
    expect(inSmall).toBeGreaterThan(1500);
  });

  it("two experiments are independent: the joint split is the product of the marginals", () => {
    const e1 = exp({ name: "one", variants: [{ name: "a" }, { name: "b" }] });
    const e2 = exp({ name: "two", variants: [{ name: "a" }, { name: "b" }] });
    const joint = new Map<string, number>();
    for (const u of users) {
      const k = assignAll([e1, e2], u, 0).map((x) => x.variant).join("");
      joint.set(k, (joint.get(k) ?? 0) + 1);
    }
    // Chi-square against 5,000 per cell, 3 df: 16.27 is the 0.001 critical value.
    const chi = ["aa", "ab", "ba", "bb"].reduce((s, k) => s + ((joint.get(k) ?? 0) - 5000) ** 2 / 5000, 0);
    expect(chi).toBeLessThan(16.27);
  });

  it("assigns only between start and stop", () => {
    const e = exp({ name: "e", start: "2026-12-01T00:00:00Z", stop: "2026-12-08T00:00:00Z", variants: [{ name: "a" }, { name: "b" }] });
    expect(assignVariant(e, "u1", Date.parse("2026-11-30T23:59:59Z"))).toBeUndefined();
    expect(assignVariant(e, "u1", Date.parse("2026-12-03T00:00:00Z"))).toBeDefined();
    expect(assignVariant(e, "u1", Date.parse("2026-12-08T00:00:00Z"))).toBeUndefined();
  });

  it("encodes exposures for the impression log and decodes them back", () => {
    const x = [{ experiment: "ranker-v2", variant: "treatment" }, { experiment: "blend", variant: "control" }];
    expect(encodeExposures(x)).toBe("ranker-v2=treatment;blend=control");
    expect(decodeExposures(encodeExposures(x))).toEqual(x);
    expect(encodeExposures([])).toBeUndefined();
    expect(decodeExposures("junk;=x;a=;ok=v")).toEqual([{ experiment: "ok", variant: "v" }]);
  });
});

describe("experiment config", () => {
  const load = (definitions: unknown[]) => loadConfig({ env: {}, overrides: { experiments: { definitions } } });

  it("accepts variants overriding sources, stages, blend, candidates ranked and the bundle", () => {
    const config = load([
      {
        name: "pipeline-b",
        variants: [
          { name: "control" },
          { name: "b", overrides: { pipeline: { sources: [{ name: "Trending", quota: 50 }], stages: [] }, ranking: { blend: { like: 2 }, candidatesToRank: 100 } } },
        ],
      },
      { name: "canary", traffic: 0.05, variants: [{ name: "control" }, { name: "new-model", overrides: { bundle: "/tmp/bundle-2" } }] },
    ]);
    expect(config.experiments.definitions).toHaveLength(2);
  });

  it.each([
    [[{ name: "e", variants: [{ name: "only" }] }], "experiments.definitions.0.variants"],
    [[{ name: "e", traffic: 2, variants: [{ name: "a" }, { name: "b" }] }], "experiments.definitions.0.traffic"],
    [[{ name: "bad name", variants: [{ name: "a" }, { name: "b" }] }], "experiments.definitions.0.name"],
    [[{ name: "e", variants: [{ name: "a" }, { name: "a" }] }], "experiments.definitions.0.variants.1.name"],
    [[{ name: "e", start: 10, stop: 5, variants: [{ name: "a" }, { name: "b" }] }], "experiments.definitions.0.stop"],
    [[{ name: "e", variants: [{ name: "a" }, { name: "b", overrides: { ranking: { timeoutMs: 5 } } }] }], "experiments.definitions.0.variants.1.overrides.ranking"],
    // The override is checked by the real config schema: a negative quota names the variant's own key.
    [
      [{ name: "e", variants: [{ name: "a" }, { name: "b", overrides: { pipeline: { sources: [{ name: "Trending", quota: -1 }] } } }] }],
      "experiments.definitions.0.variants.1.overrides.pipeline.sources.0.quota",
    ],
    [
      [{ name: "e", variants: [{ name: "a" }, { name: "b", overrides: { ranking: { blend: { like: "much" } } } }] }],
      "experiments.definitions.0.variants.1.overrides.ranking.blend.like",
    ],
    [
      [
        { name: "e", variants: [{ name: "a" }, { name: "b" }] },
        { name: "e", variants: [{ name: "a" }, { name: "b" }] },
      ],
      "experiments.definitions.1.name",
    ],
    [
      [
        { name: "one", variants: [{ name: "a" }, { name: "b", overrides: { ranking: { blend: { like: 1 } } } }] },
        { name: "two", variants: [{ name: "a" }, { name: "b", overrides: { ranking: { blend: { click: 2 } } } }] },
      ],
      "experiments.definitions.1.variants",
    ],
  ])("refuses bad experiment config with BAD_CONFIG naming the key (%#)", async (definitions, key) => {
    const err = await reelfeedErrorOf(Promise.resolve().then(() => load(definitions)));
    expect(err.code).toBe("BAD_CONFIG");
    expect(err.details?.key).toBe(key);
    expect(err.message).toContain(key);
  });
});
