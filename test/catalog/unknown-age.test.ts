import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { createAgeFilter } from "../../src/filters";
import { createTestkit } from "../../src/testkit";

/** config pipeline.unknownAge: how the age rule treats a user with no known age (the live catalogue's new users). */
describe("unknown age", () => {
  const kit = createTestkit();
  const restricted = kit.ranked(["v1", "v2"]).map((c, i) => ({ ...c, video: { ...c.video, ageRestricted: i === 0 } }));

  it("defaults to minor: u7 (no age) does not get age-restricted videos, a known adult does", async () => {
    expect(configSchema.parse({}).pipeline.unknownAge).toBe("minor");
    const filter = createAgeFilter();
    expect(filter.apply(await kit.query("u7"), restricted, kit.runtime).removed.map((r) => r.reason)).toEqual(["age_restricted"]);
    expect(filter.apply(await kit.query("u1"), restricted, kit.runtime).removed).toEqual([]);
  });

  it("'adult' lets a user of unknown age through, never a known minor", async () => {
    const filter = createAgeFilter({ unknownAge: "adult" });
    expect(filter.apply(await kit.query("u7"), restricted, kit.runtime).removed).toEqual([]);
    expect(filter.apply(await kit.query("u6"), restricted, kit.runtime).removed.map((r) => r.reason)).toEqual(["age_restricted"]);
    expect(() => configSchema.parse({ pipeline: { unknownAge: "teen" } })).toThrow();
  });
});
