import { describe, expect, it } from "vitest";
import { validateCreatorInput, validateRemoval, validateUserInput, validateVideoInput, type CatalogCheck } from "../../src/catalog/validate-catalog";

const NOW = Date.UTC(2026, 11, 7, 6, 0, 0);
const opts = { now: () => NOW };
const video = (extra: Record<string, unknown> = {}) => ({
  id: "v-new",
  creatorId: "c1",
  title: "Cats playing piano",
  tags: ["cats", "music"],
  category: "music",
  durationSec: 95,
  uploadedAt: "2026-12-07T05:00:00Z",
  updatedAt: NOW - 1000,
  ...extra,
});
const rejection = (check: CatalogCheck) => {
  expect(check.ok).toBe(false);
  return check as Extract<CatalogCheck, { ok: false }>;
};

describe("validateVideoInput", () => {
  it("turns a good item into a versioned change: ISO times as epoch ms, language to its primary subtag, regions upper case", () => {
    const check = validateVideoInput(video({ language: "pt-BR", blockedRegions: ["de", "FR", "de"], policyFlags: ["spam"], ageRestricted: true }), opts);
    expect(check).toMatchObject({
      ok: true,
      change: {
        id: `catalog:video:v-new@${NOW - 1000}`,
        kind: "video",
        updatedAt: NOW - 1000,
        video: { id: "v-new", language: "pt", blockedRegions: ["DE", "FR"], policyFlags: ["spam"], ageRestricted: true, uploadedAt: Date.parse("2026-12-07T05:00:00Z"), tags: ["cats", "music"] },
      },
    });
  });

  it("treats explicit nulls as absent (GraphQL inputs carry them)", () => {
    const check = validateVideoInput(video({ description: null, tags: null, language: null }), opts);
    expect(check.ok).toBe(true);
    if (check.ok && check.change.kind === "video") expect(check.change.video).not.toHaveProperty("description");
  });

  it.each([
    [{ id: undefined }, "MISSING_FIELD", "id"],
    [{ id: 42 }, "INVALID_FIELD", "id"],
    [{ id: "x".repeat(257) }, "INVALID_FIELD", "id"],
    [{ id: "a\nb" }, "INVALID_FIELD", "id"],
    [{ creatorId: "" }, "MISSING_FIELD", "creatorId"],
    [{ title: "   " }, "MISSING_FIELD", "title"],
    [{ title: "t".repeat(501) }, "INVALID_FIELD", "title"],
    [{ description: "" }, "INVALID_FIELD", "description"],
    [{ tags: "cats" }, "INVALID_FIELD", "tags"],
    [{ tags: ["ok", 3] }, "INVALID_FIELD", "tags[1]"],
    [{ tags: ["ok", ""] }, "INVALID_FIELD", "tags[1]"],
    [{ tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, "INVALID_FIELD", "tags"],
    [{ category: undefined }, "MISSING_FIELD", "category"],
    [{ language: "english!" }, "INVALID_FIELD", "language"],
    [{ durationSec: 0 }, "INVALID_FIELD", "durationSec"],
    [{ durationSec: -3 }, "INVALID_FIELD", "durationSec"],
    [{ durationSec: "95" }, "INVALID_FIELD", "durationSec"],
    [{ durationSec: 8 * 24 * 3600 }, "INVALID_FIELD", "durationSec"],
    [{ durationSec: undefined }, "MISSING_FIELD", "durationSec"],
    [{ uploadedAt: "yesterday" }, "INVALID_FIELD", "uploadedAt"],
    [{ uploadedAt: 1_700_000_000 }, "INVALID_FIELD", "uploadedAt"],
    [{ uploadedAt: NOW + 3_600_000 }, "FUTURE_TIMESTAMP", "uploadedAt"],
    [{ ageRestricted: "yes" }, "INVALID_FIELD", "ageRestricted"],
    [{ policyFlags: ["removed"] }, "INVALID_FIELD", "policyFlags[0]"],
    [{ policyFlags: ["nsfw"] }, "INVALID_FIELD", "policyFlags[0]"],
    [{ blockedRegions: ["USA"] }, "INVALID_FIELD", "blockedRegions[0]"],
    [{ updatedAt: undefined }, "MISSING_FIELD", "updatedAt"],
    [{ updatedAt: 1.5e12 + 0.5 }, "INVALID_FIELD", "updatedAt"],
    [{ durationSecs: 12 }, "INVALID_FIELD", "durationSecs"],
  ])("rejects %j with %s naming %s", (extra, code, field) => {
    const r = rejection(validateVideoInput(video(extra), opts));
    expect(r).toMatchObject({ code, field });
    expect(r.message).toContain(field.replace(/\[\d+\]$/, ""));
  });

  it("rejects what is not an object, and keeps the id of a bad item when it has one", () => {
    expect(rejection(validateVideoInput("v1", opts))).toMatchObject({ code: "INVALID_ITEM" });
    expect(rejection(validateVideoInput([video()], opts))).toMatchObject({ code: "INVALID_ITEM" });
    expect(rejection(validateVideoInput(video({ durationSec: -1 }), opts)).id).toBe("v-new");
  });
});

describe("validateUserInput / validateCreatorInput / validateRemoval", () => {
  it("accepts a profile: country upper case, language primary, device lower case", () => {
    expect(validateUserInput({ id: "u1", age: 30, country: "gb", language: "en-GB", device: "TV", updatedAt: NOW }, opts)).toMatchObject({
      ok: true,
      change: { kind: "user", user: { id: "u1", age: 30, country: "GB", language: "en", device: "tv" }, id: `catalog:user:u1@${NOW}` },
    });
  });

  it.each([
    [{ age: 17.5 }, "INVALID_FIELD", "age"],
    [{ age: -1 }, "INVALID_FIELD", "age"],
    [{ age: 131 }, "INVALID_FIELD", "age"],
    [{ country: "United Kingdom" }, "INVALID_FIELD", "country"],
    [{ country: "G1" }, "INVALID_FIELD", "country"],
    [{ language: "1x" }, "INVALID_FIELD", "language"],
    [{ device: "phone" }, "INVALID_FIELD", "device"],
    [{ createdAt: "2026-13-45" }, "INVALID_FIELD", "createdAt"],
    [{ updatedAt: NOW + 3_600_000 }, "FUTURE_TIMESTAMP", "updatedAt"],
    [{ id: "" }, "MISSING_FIELD", "id"],
  ])("rejects user %j with %s naming %s", (extra, code, field) => {
    expect(rejection(validateUserInput({ id: "u1", updatedAt: NOW, ...extra }, opts))).toMatchObject({ code, field });
  });

  it("checks creators and removals", () => {
    expect(validateCreatorInput({ id: "c9", name: "Nine", country: "fr", updatedAt: NOW }, opts)).toMatchObject({ ok: true, change: { creator: { id: "c9", country: "FR" } } });
    expect(rejection(validateCreatorInput({ id: "c9", name: "n".repeat(201), updatedAt: NOW }, opts))).toMatchObject({ code: "INVALID_FIELD", field: "name" });
    expect(validateRemoval({ id: "v1", reason: "copyright claim" }, opts)).toMatchObject({ ok: true, change: { kind: "removal", videoId: "v1", removedAt: NOW, id: "catalog:removal:v1" } });
    expect(rejection(validateRemoval({ id: "v1", reason: " " }, opts))).toMatchObject({ code: "MISSING_FIELD", field: "reason" });
    expect(rejection(validateRemoval({ id: "v1", reason: "r".repeat(1001) }, opts))).toMatchObject({ code: "INVALID_FIELD", field: "reason" });
  });
});
