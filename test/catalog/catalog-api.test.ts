import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embedVideoText } from "../../src/features/content-embeddings";
import { createFreshSource } from "../../src/sources/fresh-source";
import { TESTKIT_NOW } from "../../src/testkit";
import { REMOVE_VIDEOS, startCatalogHarness, UPSERT_CREATORS, UPSERT_USERS, UPSERT_VIDEOS, videoInput, type CatalogHarness } from "./harness";

/**
 * The write API over real HTTP on a testkit runtime: per-item results and coded errors, versions, takedowns,
 * profiles, NDJSON bulk loads, and the catalogue rebuilt from its log after a restart.
 */
let h: CatalogHarness;
beforeAll(async () => {
  h = await startCatalogHarness();
});
afterAll(async () => h?.stop());

const feedIds = async (userId: string, first = 50) => (await h.kit.service.feed({ userId, surface: "home", first, context: {}, debug: true })).items.map((i) => i.video.id);

describe("upsertVideos", () => {
  it("answers one result per item in order: good ones written, bad ones REJECTED with code, field and path", async () => {
    const r = await h.gql(UPSERT_VIDEOS, {
      v: [
        videoInput("new-1"),
        videoInput("bad-duration", { durationSec: "long" }),
        videoInput("bad-tag", { tags: ["ok", ""] }),
        videoInput("bad-country", { blockedRegions: ["Germany"] }),
        { ...videoInput("no-title"), title: null },
        videoInput("future", { uploadedAt: Date.now() + 86_400_000 }),
        videoInput("bad-flag", { policyFlags: ["removed"] }),
      ],
    });
    expect(r.status).toBe(200);
    const out = r.body.data.upsertVideos;
    expect(out).toMatchObject({ accepted: 1, duplicates: 0, stale: 0, rejected: 6 });
    expect(out.results.map((x: any) => [x.index, x.id, x.status, x.code, x.field])).toEqual([
      [0, "new-1", "ACCEPTED", null, null],
      [1, "bad-duration", "REJECTED", "INVALID_FIELD", "durationSec"],
      [2, "bad-tag", "REJECTED", "INVALID_FIELD", "tags[1]"],
      [3, "bad-country", "REJECTED", "INVALID_FIELD", "blockedRegions[0]"],
      [4, "no-title", "REJECTED", "MISSING_FIELD", "title"],
      [5, "future", "REJECTED", "FUTURE_TIMESTAMP", "uploadedAt"],
      [6, "bad-flag", "REJECTED", "INVALID_FIELD", "policyFlags[0]"],
    ]);
    expect(out.results[1].message).toMatch(/^videos\[1\]\.durationSec: /);
    for (const id of ["bad-duration", "bad-tag", "no-title", "future"]) expect(h.kit.catalog.video(id)).toBeUndefined();
  });

  it("makes an accepted video servable before the answer: in the catalog, its content vector in the index, proposed by Fresh", async () => {
    expect(h.kit.catalog.video("new-1")).toMatchObject({ title: "comedy sketch with music", uploadedAt: TESTKIT_NOW - 60_000 });
    const stored = await h.kit.runtime.vectors.content!.get("new-1");
    expect(Array.from(stored!)).toEqual(Array.from(embedVideoText(h.contentModel, h.kit.catalog.video("new-1")!)).map((x) => expect.closeTo(x, 6)));
    const page = await h.kit.service.feed({ userId: "u1", surface: "home", first: 50, context: {}, debug: true });
    const traced = page.trace!.candidates.find((c) => c.videoId === "new-1");
    expect(traced?.sources.map((s) => s.source)).toContain("Fresh");
    // Content neighbours of a video with the same words find it (the Content source and similarVideos read this).
    const hits = await h.kit.runtime.vectors.content!.search(stored!, 3);
    expect(hits[0].id).toBe("new-1");
  });

  it("is idempotent by (id, updatedAt): the same version is DUPLICATE, an older one STALE, a newer one an edit that re-embeds", async () => {
    const v1 = videoInput("versioned", { updatedAt: 1_700_000_000_000 });
    expect((await h.gql(UPSERT_VIDEOS, { v: [v1] })).body.data.upsertVideos.results[0].status).toBe("ACCEPTED");
    const again = await h.gql(UPSERT_VIDEOS, { v: [v1, { ...v1, title: "older title", updatedAt: 1_600_000_000_000 }] });
    expect(again.body.data.upsertVideos).toMatchObject({ accepted: 0, duplicates: 1, stale: 1 });
    expect(h.kit.catalog.video("versioned")!.title).toBe(v1.title);
    const before = await h.kit.runtime.vectors.content!.get("versioned");
    const edit = { ...v1, title: "drama science documentary", tags: ["drama"], category: "drama", updatedAt: 1_700_000_000_001 };
    expect((await h.gql(UPSERT_VIDEOS, { v: [edit] })).body.data.upsertVideos.accepted).toBe(1);
    expect(h.kit.catalog.video("versioned")).toMatchObject({ title: "drama science documentary", category: "drama" });
    const after = await h.kit.runtime.vectors.content!.get("versioned");
    expect(Array.from(after!)).not.toEqual(Array.from(before!));
  });

  it("refuses a batch over the bound as a whole: PAYLOAD_TOO_LARGE naming the argument", async () => {
    const r = await h.gql(UPSERT_VIDEOS, { v: Array.from({ length: 51 }, (_, i) => videoInput(`many-${i}`)) });
    expect(r.body.errors![0].extensions).toMatchObject({ code: "PAYLOAD_TOO_LARGE", argument: "videos", limit: 50 });
    expect(h.kit.catalog.video("many-0")).toBeUndefined();
  });
});

describe("a new upload in the other sources", () => {
  it("Subscriptions proposes it to a subscriber of its creator; Trending once it is watched", async () => {
    const up = await h.gql(UPSERT_VIDEOS, { v: [videoInput("sub-upload", { creatorId: "c3", title: "weekly show", tags: [], category: "music" })] });
    expect(up.body.data.upsertVideos.accepted).toBe(1);
    await h.kit.record([h.kit.events.subscribe("u4", "c3")]);
    const page = await h.kit.service.feed({ userId: "u4", surface: "home", first: 50, context: {}, debug: true });
    expect(page.trace!.candidates.find((c) => c.videoId === "sub-upload")?.sources.map((s) => s.source)).toContain("Subscriptions");
    await h.kit.record(["u1", "u2", "u3", "u5"].flatMap((u) => [h.kit.events.watch(u, "sub-upload"), h.kit.events.watch(u, "sub-upload")]));
    const trending = await h.gql(`{ trending(first: 5) { video { id } } }`);
    expect(trending.body.data.trending[0].video.id).toBe("sub-upload");
  });
});

describe("removeVideos", () => {
  it("takes a video down at once: out of feeds, cached later pages, lookups, similarVideos and the indexes; final", async () => {
    // A ranked session whose later page holds the victim.
    const first = await h.kit.service.feed({ userId: "u2", surface: "home", first: 5, context: {}, debug: false });
    const second = await h.kit.service.feed({ userId: "u2", surface: "home", first: 5, after: first.endCursor, context: {}, debug: false });
    const victim = second.items[2].video.id;
    // Another session ranked before the takedown, to read its second page after it.
    const cachedFirst = await h.kit.service.feed({ userId: "u3", surface: "home", first: 5, context: {}, debug: false });

    const r = await h.gql(REMOVE_VIDEOS, { ids: [victim, "new-1"], r: "copyright claim" });
    expect(r.body.data.removeVideos).toMatchObject({ accepted: 2, rejected: 0 });

    const cachedSecond = await h.kit.service.feed({ userId: "u3", surface: "home", first: 50, after: cachedFirst.endCursor, context: {}, debug: false });
    expect(cachedSecond.items.map((i) => i.video.id)).not.toContain(victim);
    // Positions keep their session numbering: a removed slot is skipped, not renumbered.
    for (const it of cachedSecond.items) expect(it.trackingId).toBe(`${it.trackingId.split(".")[0]}.${it.position}`);
    for (const user of ["u1", "u2", "u5", "u7"]) {
      const ids = await feedIds(user);
      expect(ids).not.toContain(victim);
      expect(ids).not.toContain("new-1");
    }
    expect(await h.kit.runtime.vectors.content!.get(victim)).toBeUndefined();
    expect(await h.kit.runtime.vectors.twoTower!.get(victim)).toBeUndefined();
    expect(await h.kit.runtime.vectors.content!.get("new-1")).toBeUndefined();
    const look = await h.gql(`{ video(id: "${victim}") { id } similarVideos(videoId: "v1", first: 50) { video { id } } trending(first: 50) { video { id } } }`);
    expect(look.body.data.video).toBeNull();
    expect(look.body.data.similarVideos.map((s: any) => s.video.id)).not.toContain(victim);
    expect(look.body.data.trending.map((s: any) => s.video.id)).not.toContain(victim);
    const similar = await h.gql(`{ similarVideos(videoId: "${victim}") { video { id } } }`);
    expect(similar.body.errors![0].extensions.code).toBe("NOT_FOUND");

    // Final: the same removal again changes nothing, and the id cannot be uploaded again, whatever its version.
    const again = await h.gql(REMOVE_VIDEOS, { ids: [victim], r: "again" });
    expect(again.body.data.removeVideos.results[0].status).toBe("DUPLICATE");
    const back = await h.gql(UPSERT_VIDEOS, { v: [videoInput("new-1", { updatedAt: Date.now() + 1000 })] });
    expect(back.body.data.upsertVideos.results[0]).toMatchObject({ status: "REJECTED", code: "REMOVED", field: "id" });
  });

  it("blocks an id not in the catalogue yet (ACCEPTED, code NOT_IN_CATALOG) and rejects a blank reason per item", async () => {
    const r = await h.gql(REMOVE_VIDEOS, { ids: ["not-uploaded-yet"], r: "known bad upload" });
    expect(r.body.data.removeVideos.results[0]).toMatchObject({ status: "ACCEPTED", code: "NOT_IN_CATALOG" });
    const up = await h.gql(UPSERT_VIDEOS, { v: [videoInput("not-uploaded-yet")] });
    expect(up.body.data.upsertVideos.results[0].code).toBe("REMOVED");
    const blank = await h.gql(REMOVE_VIDEOS, { ids: ["v2", "v3"], r: "  " });
    expect(blank.body.data.removeVideos.results.map((x: any) => [x.status, x.code, x.field])).toEqual([
      ["REJECTED", "MISSING_FIELD", "reason"],
      ["REJECTED", "MISSING_FIELD", "reason"],
    ]);
    expect(blank.body.data.removeVideos.results[0].message).toMatch(/^reason: /);
  });
});

describe("upsertUsers and upsertCreators", () => {
  it("drive the age rule from the next request: an unknown age is a minor, an adult age lifts it", async () => {
    const up = await h.gql(UPSERT_VIDEOS, { v: [videoInput("adult-only", { ageRestricted: true })] });
    expect(up.body.data.upsertVideos.accepted).toBe(1);
    const removedBy = async (userId: string) =>
      (await h.kit.service.feed({ userId, surface: "home", first: 50, context: {}, debug: true })).trace!.candidates.find((c) => c.videoId === "adult-only")?.removedBy;
    expect(await removedBy("u7")).toMatchObject({ reason: "age_restricted" });
    const r = await h.gql(UPSERT_USERS, { u: [{ id: "u7", age: 34, country: "de", language: "de-AT", updatedAt: Date.now() }] });
    expect(r.body.data.upsertUsers.accepted).toBe(1);
    expect(h.kit.catalog.user("u7")).toMatchObject({ age: 34, country: "DE", language: "de" });
    expect(await removedBy("u7")).toBeUndefined();
    // A new user, a bad one, and a creator.
    const more = await h.gql(UPSERT_USERS, { u: [{ id: "brand-new", age: 15, updatedAt: Date.now() }, { id: "bad", age: 300, updatedAt: Date.now() }] });
    expect(more.body.data.upsertUsers.results.map((x: any) => [x.status, x.code, x.field])).toEqual([
      ["ACCEPTED", null, null],
      ["REJECTED", "INVALID_FIELD", "age"],
    ]);
    expect(await removedBy("brand-new")).toMatchObject({ reason: "age_restricted" });
    const c = await h.gql(UPSERT_CREATORS, { c: [{ id: "c-new", name: "New Channel", country: "br", updatedAt: Date.now() }, { id: "c-bad", country: "Brazil", updatedAt: Date.now() }] });
    expect(c.body.data.upsertCreators).toMatchObject({ accepted: 1, rejected: 1 });
    expect(h.kit.catalog.creator("c-new")).toMatchObject({ name: "New Channel", country: "BR" });
  });

  it("drives the language logic: Fresh boosts uploads in the profile's (updated) language", async () => {
    const t = TESTKIT_NOW - 10_000;
    await h.gql(UPSERT_VIDEOS, { v: [videoInput("lang-de", { language: "de", uploadedAt: t }), videoInput("lang-fr", { language: "fr", uploadedAt: t })] });
    // The source on the query the pipeline would hydrate for this user now (profile from the live catalog).
    const fresh = async () => new Map((await h.kit.runSource(createFreshSource(), await h.kit.query("u8-lang"), { limit: 50 })).map((c) => [c.videoId, c.score]));
    await h.gql(UPSERT_USERS, { u: [{ id: "u8-lang", age: 25, country: "DE", language: "de", updatedAt: Date.now() - 1000 }] });
    let scores = await fresh();
    expect(scores.get("lang-de")!).toBeGreaterThan(scores.get("lang-fr")!);
    await h.gql(UPSERT_USERS, { u: [{ id: "u8-lang", age: 25, country: "DE", language: "fr-CA", updatedAt: Date.now() }] });
    scores = await fresh();
    expect(scores.get("lang-fr")!).toBeGreaterThan(scores.get("lang-de")!);
  });

  it("drives the region rule: a video blocked in the user's (updated) country is filtered", async () => {
    await h.gql(UPSERT_VIDEOS, { v: [videoInput("geo", { blockedRegions: ["fr"] })] });
    const trace = async () => (await h.kit.service.feed({ userId: "u2", surface: "home", first: 50, context: {}, debug: true })).trace!.candidates.find((c) => c.videoId === "geo");
    expect((await trace())?.removedBy).toMatchObject({ reason: "region_blocked" });
    await h.gql(UPSERT_USERS, { u: [{ id: "u2", age: 41, country: "US", updatedAt: Date.now() }] });
    expect((await trace())?.removedBy).toBeUndefined();
  });
});

describe("POST /catalog (NDJSON)", () => {
  it("takes mixed kinds in line order, each line answered alone", async () => {
    const r = await h.ndjson([
      JSON.stringify({ kind: "creator", id: "c-bulk", name: "Bulk", updatedAt: Date.now() }),
      JSON.stringify({ kind: "video", ...videoInput("bulk-1", { creatorId: "c-bulk" }) }),
      "{not json",
      JSON.stringify({ kind: "playlist", id: "p1" }),
      JSON.stringify({ kind: "video", ...videoInput("bulk-bad", { durationSec: -1 }) }),
      JSON.stringify({ kind: "removal", id: "bulk-1", reason: "uploaded by mistake" }),
      JSON.stringify({ kind: "user", id: "u-bulk", age: 20, updatedAt: Date.now() }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => [x.index, x.status, x.code ?? null])).toEqual([
      [0, "ACCEPTED", null],
      [1, "ACCEPTED", null],
      [2, "REJECTED", "INVALID_JSON"],
      [3, "REJECTED", "UNKNOWN_KIND"],
      [4, "REJECTED", "INVALID_FIELD"],
      [5, "ACCEPTED", null],
      [6, "ACCEPTED", null],
    ]);
    expect(r.body.results[4].message).toMatch(/^catalog line 5: durationSec/);
    // An upload after its own removal in one batch is refused like any upload of a removed id.
    const again = await h.ndjson([
      JSON.stringify({ kind: "removal", id: "bulk-2", reason: "pre-emptive" }),
      JSON.stringify({ kind: "video", ...videoInput("bulk-2") }),
    ]);
    expect(again.body.results.map((x: any) => [x.status, x.code ?? null])).toEqual([
      ["ACCEPTED", "NOT_IN_CATALOG"],
      ["REJECTED", "REMOVED"],
    ]);
    expect(h.kit.catalog.video("bulk-1")?.policyFlags).toContain("removed");
    expect(h.kit.catalog.user("u-bulk")?.age).toBe(20);
  });

  it("answers 405, 415, 400 and 413 in the { error } shape", async () => {
    const get = await fetch(`${h.base}/catalog`);
    expect(get.status).toBe(405);
    const wrongType = await fetch(`${h.base}/catalog`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as any).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const empty = await h.ndjson(["", "  "]);
    expect(empty).toMatchObject({ status: 400, body: { error: { code: "BAD_USER_INPUT" } } });
    const many = await h.ndjson(Array.from({ length: 51 }, (_, i) => JSON.stringify({ kind: "user", id: `m${i}`, updatedAt: Date.now() })));
    expect(many).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
    const invalidUtf8 = await fetch(`${h.base}/catalog`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: Buffer.concat([Buffer.from('{"kind":"user","id":"x\xff"}', "latin1"), Buffer.from("\n")]),
    });
    expect(((await invalidUtf8.json()) as any).results[0]).toMatchObject({ status: "REJECTED", code: "INVALID_UTF8" });
  });
});

describe("edits reach cached sessions", () => {
  it("a video edited into an age restriction after ranking is not served to a minor from the cached session; an adult gets the edit", async () => {
    const minor = await h.kit.service.feed({ userId: "u6", surface: "home", first: 3, context: {}, debug: false });
    const adult = await h.kit.service.feed({ userId: "u5", surface: "home", first: 3, context: {}, debug: false });
    // Every video the testkit started with becomes age-restricted, with a new title.
    const edits = h.kit.catalog
      .newest()
      .filter((v) => /^v\d+$/.test(v.id))
      .map((v) => ({ ...v, title: `EDITED ${v.title}`, ageRestricted: true, updatedAt: Date.now() }));
    for (let i = 0; i < edits.length; i += 50) {
      const r = await h.gql(UPSERT_VIDEOS, { v: edits.slice(i, i + 50) });
      expect(r.body.data.upsertVideos.rejected).toBe(0);
    }
    const minorLater = await h.kit.service.feed({ userId: "u6", surface: "home", first: 50, after: minor.endCursor, context: {}, debug: false });
    for (const it of minorLater.items) expect(h.kit.catalog.video(it.video.id)!.ageRestricted, it.video.id).not.toBe(true);
    const adultLater = await h.kit.service.feed({ userId: "u5", surface: "home", first: 10, after: adult.endCursor, context: {}, debug: false });
    const edited = adultLater.items.filter((it) => /^v\d+$/.test(it.video.id));
    expect(edited.length).toBeGreaterThan(0);
    for (const it of edited) expect(it.video).toMatchObject({ title: expect.stringMatching(/^EDITED /), ageRestricted: true });
  });
});

describe("restart", () => {
  it("rebuilds the same catalogue from the log over a fresh bundle catalog: uploads, edits, takedowns, profiles", async () => {
    const dir = h.dir;
    const snapshot = {
      versioned: h.kit.catalog.video("versioned"),
      geo: h.kit.catalog.video("geo"),
      u7: h.kit.catalog.user("u7"),
      creator: h.kit.catalog.creator("c-new"),
    };
    await h.stop(false);
    h = await startCatalogHarness({ dir });
    expect(h.kit.catalog.video("versioned")).toEqual(snapshot.versioned);
    expect(h.kit.catalog.video("geo")).toEqual(snapshot.geo);
    expect(h.kit.catalog.user("u7")).toEqual(snapshot.u7);
    expect(h.kit.catalog.creator("c-new")).toEqual(snapshot.creator);
    expect(h.kit.catalog.video("new-1")?.policyFlags).toContain("removed");
    expect(await h.kit.runtime.vectors.content!.get("new-1")).toBeUndefined();
    expect(await h.kit.runtime.vectors.content!.get("geo")).toBeDefined();
    // Replaying changed nothing twice: every change counted once as applied, each retry as skipped.
    expect(await feedIds("u1")).not.toContain("new-1");
  });
});
