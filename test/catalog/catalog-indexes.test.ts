import { describe, expect, it } from "vitest";
import { createCatalog } from "../../src/data/catalog";
import type { Video } from "../../src/data/types";
import { seededRandom } from "../../src/util/random";

/** The catalog's newest / per-creator / per-language lists, kept up to date in place by putVideo, equal a rebuild from scratch. */
const LANGUAGES = ["en", "fr", "pt"];
describe("catalog indexes under live writes", () => {
  it("match a fresh catalog after random uploads, edits (new creator, new time) and takedowns", () => {
    const random = seededRandom("catalog-indexes");
    const make = (i: number): Video => ({
      id: `v${i}`,
      creatorId: `c${Math.floor(random() * 7)}`,
      title: `t${i}`,
      tags: [],
      category: "x",
      language: LANGUAGES[Math.floor(random() * 4)], // one in four without a language
      durationSec: 10,
      uploadedAt: 1_700_000_000_000 + Math.floor(random() * 1e6) * 1000 + i,
    });
    const initial = Array.from({ length: 200 }, (_, i) => make(i));
    const catalog = createCatalog({ videos: initial, users: [], creators: [] });
    expect(catalog.newest()).toHaveLength(200); // built
    const finalById = new Map(initial.map((v) => [v.id, v]));
    for (let step = 0; step < 600; step++) {
      const r = random();
      let v: Video;
      if (r < 0.5) v = make(200 + step);
      else {
        const id = `v${Math.floor(random() * (200 + step))}`;
        const cur = finalById.get(id) ?? make(Number(id.slice(1)));
        v = r < 0.85 ? { ...cur, creatorId: `c${Math.floor(random() * 7)}`, language: LANGUAGES[Math.floor(random() * 4)], uploadedAt: cur.uploadedAt + 500 } : { ...cur, policyFlags: ["removed"] };
      }
      catalog.putVideo(v);
      finalById.set(v.id, v);
      if (step % 50 === 0) catalog.videosByCreator("c1"); // reads in between, as a serving process does
    }
    const rebuilt = createCatalog({ videos: [...finalById.values()], users: [], creators: [] });
    expect(catalog.newest().map((v) => v.id)).toEqual(rebuilt.newest().map((v) => v.id));
    for (let c = 0; c < 7; c++) expect(catalog.videosByCreator(`c${c}`).map((v) => v.id)).toEqual(rebuilt.videosByCreator(`c${c}`).map((v) => v.id));
    for (const l of LANGUAGES) {
      expect(catalog.newestInLanguage(l).length).toBeGreaterThan(0);
      expect(catalog.newestInLanguage(l).map((v) => v.id)).toEqual(rebuilt.newestInLanguage(l).map((v) => v.id));
    }
    expect(catalog.newest().some((v) => v.policyFlags?.includes("removed"))).toBe(false);
  });

  it("putVideos (a batch merged at once) leaves the same lists as one putVideo after another", () => {
    const random = seededRandom("catalog-indexes-batch");
    // Coarse upload times: ties are common, and their order must be the sequential one too.
    const make = (i: number): Video => ({ id: `v${i}`, creatorId: `c${Math.floor(random() * 5)}`, title: `t${i}`, tags: [], category: "x", language: LANGUAGES[i % 4], durationSec: 10, uploadedAt: Math.floor(random() * 40) * 1000 });
    const initial = Array.from({ length: 300 }, (_, i) => make(i));
    const one = createCatalog({ videos: initial, users: [], creators: [] });
    const batched = createCatalog({ videos: initial, users: [], creators: [] });
    one.newest();
    batched.newest();
    let next = 300;
    const current = new Map(initial.map((v) => [v.id, v]));
    for (let round = 0; round < 40; round++) {
      const batch: Video[] = [];
      for (let k = Math.floor(random() * 30); k >= 0; k--) {
        const r = random();
        let v: Video;
        if (r < 0.5) v = make(next++);
        else {
          const cur = current.get(`v${Math.floor(random() * next)}`)!;
          // Edits (another creator, another time), takedowns, and the same id twice in one batch.
          v = r < 0.8 ? { ...cur, creatorId: `c${Math.floor(random() * 5)}`, language: LANGUAGES[Math.floor(random() * 4)], uploadedAt: Math.floor(random() * 40) * 1000 } : r < 0.9 ? { ...cur, policyFlags: ["removed"] } : { ...cur, title: `${cur.title}'` };
        }
        batch.push(v);
        current.set(v.id, v);
      }
      for (const v of batch) one.putVideo(v);
      batched.putVideos(batch);
      expect(batched.newest().map((v) => v.id)).toEqual(one.newest().map((v) => v.id));
      for (let c = 0; c < 5; c++) expect(batched.videosByCreator(`c${c}`).map((v) => v.id)).toEqual(one.videosByCreator(`c${c}`).map((v) => v.id));
      for (const l of LANGUAGES) expect(batched.newestInLanguage(l).map((v) => v.id)).toEqual(one.newestInLanguage(l).map((v) => v.id));
    }
    for (const [id, v] of current) expect(batched.video(id)).toEqual(v);
  });

  it("keeps every video in one shape: the same fields in the same order, however it was put", () => {
    const bare: Video = { id: "a", creatorId: "c", title: "t", tags: [], category: "x", durationSec: 10, uploadedAt: 1 };
    const full: Video = { ...bare, id: "b", blockedRegions: ["DE"], ageRestricted: true, description: "d", policyFlags: ["spam"], language: "en" };
    const catalog = createCatalog({ videos: [bare, full], users: [], creators: [] });
    catalog.putVideo({ ...bare, id: "c", language: "fr", durationSec: 12.5 });
    catalog.putVideos([{ ...bare, id: "d", policyFlags: ["removed"] }]);
    const shapes = new Set(["a", "b", "c", "d"].map((id) => Object.keys(catalog.video(id)!).join(",")));
    expect([...shapes]).toEqual(["id,creatorId,title,description,tags,category,language,durationSec,uploadedAt,ageRestricted,policyFlags,blockedRegions"]);
    expect(catalog.video("b")).toEqual(full);
    expect(catalog.video("c")?.language).toBe("fr");
  });

  it("putVideos before the lists are built only records the videos (the lists are built from them later)", () => {
    const catalog = createCatalog({ videos: [], users: [], creators: [] });
    const v = (id: string, uploadedAt: number): Video => ({ id, creatorId: "c", title: id, tags: [], category: "x", durationSec: 1, uploadedAt });
    catalog.putVideos([v("a", 1), v("b", 3), v("a", 2)]);
    expect(catalog.newest().map((x) => [x.id, x.uploadedAt])).toEqual([["b", 3], ["a", 2]]);
    expect(catalog.videosByCreator("c").map((x) => x.id)).toEqual(["b", "a"]);
  });
});
