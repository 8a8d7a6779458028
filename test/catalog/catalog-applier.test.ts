import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCatalogApplier } from "../../src/catalog/catalog-applier";
import type { CatalogChange } from "../../src/catalog/catalog-changes";
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { createVideoEmbedder, type VideoEmbedder } from "../../src/catalog/video-embedder";
import { validateRemoval, validateVideoInput } from "../../src/catalog/validate-catalog";
import { configSchema } from "../../src/config";
import { createCatalog } from "../../src/data/catalog";
import { fitContentModel } from "../../src/features/content-embeddings";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { createTinyCatalog, TESTKIT_NOW } from "../../src/testkit";
import { videoInput } from "./harness";

const change = (raw: unknown, validate = validateVideoInput): CatalogChange => {
  const c = validate(raw);
  if (!c.ok) throw new Error(c.message);
  return c.change;
};

function setup(embedder?: VideoEmbedder) {
  const tiny = createTinyCatalog({ now: TESTKIT_NOW });
  const catalog = createCatalog(tiny);
  const { model } = fitContentModel(tiny.videos, { dim: 8, minDf: 1 });
  const content = createEmbeddedVectorIndex({ dim: 8 });
  const applier = createCatalogApplier({ catalog, vectors: { content }, embedder: embedder ?? createVideoEmbedder({ contentModel: model }) });
  return { catalog, content, applier, model };
}

describe("catalog applier", () => {
  it("folds a batch in log order: upload + edit embeds the last version once; upload + removal keeps it flagged, unembedded", async () => {
    const { catalog, content, applier } = setup();
    await applier.apply([
      change(videoInput("a", { updatedAt: 1_700_000_000_001, title: "first" })),
      change(videoInput("a", { updatedAt: 1_700_000_000_003, title: "comedy third" })),
      change(videoInput("a", { updatedAt: 1_700_000_000_002, title: "second, late" })),
      change(videoInput("b")),
      change({ id: "b", reason: "spam" }, validateRemoval),
    ]);
    expect(catalog.video("a")!.title).toBe("comedy third");
    expect(catalog.video("b")!.policyFlags).toEqual(["removed"]);
    expect(await content.get("b")).toBeUndefined();
    expect(applier.stats()).toMatchObject({ applied: 4, skipped: 1, videosEmbedded: 1, removed: 1 });
    expect(catalog.newest().map((v) => v.id)).not.toContain("b");
    // Replaying the same batch (a restart, a retried read) changes nothing.
    await applier.apply([change(videoInput("a", { updatedAt: 1_700_000_000_003, title: "comedy third" })), change({ id: "b", reason: "spam" }, validateRemoval)]);
    expect(applier.stats()).toMatchObject({ applied: 4, skipped: 3 });
  });

  it("a failed embedding leaves nothing applied, so the consumer's retry of the batch applies it", async () => {
    let fail = true;
    const { model } = setup();
    const real = createVideoEmbedder({ contentModel: model });
    const flaky: VideoEmbedder = { ...real, embed: (videos) => (fail ? Promise.reject(new Error("onnx session lost")) : real.embed(videos)) };
    const { catalog, content, applier } = setup(flaky);
    const batch = [change(videoInput("c")), change({ id: "v1", reason: "x" }, validateRemoval)];
    await expect(applier.apply(batch)).rejects.toThrow("onnx session lost");
    expect(catalog.video("c")).toBeUndefined();
    expect(applier.standing(batch[0])).toBe("new");
    fail = false;
    await applier.apply(batch);
    expect(catalog.video("c")).toBeDefined();
    expect(await content.get("c")).toBeDefined();
    expect(applier.isRemoved("v1")).toBe(true);
  });

  it("reuses the vectors a record carries when they name its model; embeds itself when they name another or do not decode", async () => {
    const writer = setup();
    const upload = change(videoInput("carried", { title: "comedy night", tags: ["comedy"] }));
    const [vectors] = await writer.applier.carry([(upload as Extract<CatalogChange, { kind: "video" }>).video]);
    expect(vectors?.content?.model).toBe(createVideoEmbedder({ contentModel: writer.model }).models.content);
    const record: CatalogChange = { ...upload, vectors } as CatalogChange;
    // A replica with the same model: no model run, the writer's vector.
    let runs = 0;
    const { model } = setup();
    const real = createVideoEmbedder({ contentModel: model });
    const counted: VideoEmbedder = { ...real, embed: (videos, want) => (runs++, real.embed(videos, want)) };
    const same = setup(counted);
    await same.applier.apply([record]);
    expect(runs).toBe(0);
    expect(same.applier.stats()).toMatchObject({ videosEmbedded: 0, videosCarried: 1 });
    const [expected] = await real.embed([(upload as Extract<CatalogChange, { kind: "video" }>).video]);
    expect(Array.from((await same.content.get("carried"))!)).toEqual(Array.from(expected.content!));
    // A process with another content model embeds the video with its own.
    const tiny = createTinyCatalog({ now: TESTKIT_NOW });
    const other = fitContentModel(tiny.videos, { dim: 8, minDf: 1, seed: 99 }).model;
    const otherSide = setup(createVideoEmbedder({ contentModel: other }));
    await otherSide.applier.apply([record]);
    expect(otherSide.applier.stats()).toMatchObject({ videosEmbedded: 1, videosCarried: 0 });
    const [own] = await createVideoEmbedder({ contentModel: other }).embed([(upload as Extract<CatalogChange, { kind: "video" }>).video]);
    expect(Array.from((await otherSide.content.get("carried"))!)).toEqual(Array.from(own.content!));
    // "The model gives none" is carried too; a vector that does not decode is embedded again.
    const none = setup();
    await none.applier.apply([{ ...record, vectors: { content: { model: vectors!.content!.model } } } as CatalogChange]);
    expect(await none.content.get("carried")).toBeUndefined();
    expect(none.applier.stats()).toMatchObject({ videosEmbedded: 0, videosCarried: 1 });
    const broken = setup();
    await broken.applier.apply([{ ...record, vectors: { content: { model: vectors!.content!.model, vector: "abc" } } } as CatalogChange]);
    expect(broken.applier.stats()).toMatchObject({ videosEmbedded: 1, videosCarried: 0 });
    expect(await broken.content.get("carried")).toBeDefined();
  });

  it("a model failure while the writer embeds costs nothing: the change is logged without vectors and embedded where it is applied", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-carry-"));
    const tiny = createTinyCatalog({ now: TESTKIT_NOW });
    const catalog = createCatalog(tiny);
    const { model } = fitContentModel(tiny.videos, { dim: 8, minDf: 1 });
    const content = createEmbeddedVectorIndex({ dim: 8 });
    const errors: string[] = [];
    const live = await openLiveCatalog({ config: configSchema.parse({ paths: { varDir: dir } }), catalog, vectors: { content }, contentModel: model, pollMs: 10, onError: (_, where) => errors.push(where) });
    try {
      await live.start(5000);
      live.applier.carry = () => Promise.reject(new Error("video tower lost"));
      const [result] = await live.writer.write([{ kind: "video", raw: videoInput("uncarried", { title: "comedy night" }) }]);
      expect(result.status).toBe("ACCEPTED");
      expect(errors).toContain("catalogue vectors for the log");
      expect(await content.get("uncarried")).toBeDefined();
      expect(live.applier.stats()).toMatchObject({ videosEmbedded: 1, videosCarried: 0 });
    } finally {
      await live.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an edit whose words the content model does not know drops the old content vector", async () => {
    const { content, applier } = setup();
    await applier.apply([change(videoInput("d", { updatedAt: 1_700_000_000_001 }))]);
    expect(await content.get("d")).toBeDefined();
    await applier.apply([change(videoInput("d", { updatedAt: 1_700_000_000_002, title: "zzzqqq", tags: [], category: "xxyyzz" }))]);
    expect(await content.get("d")).toBeUndefined();
  });

  it("embeds a large batch in slices with the event loop free between them, and shows the batch all at once", async () => {
    const tiny = createTinyCatalog({ now: TESTKIT_NOW });
    const catalog = createCatalog(tiny);
    catalog.newest(); // built: puts merge into the lists
    const { model } = fitContentModel(tiny.videos, { dim: 8, minDf: 1 });
    const content = createEmbeddedVectorIndex({ dim: 8 });
    const real = createVideoEmbedder({ contentModel: model });
    const slices: number[] = [];
    const counting: VideoEmbedder = {
      ...real,
      embed: (videos) => {
        slices.push(videos.length);
        return real.embed(videos);
      },
    };
    const applier = createCatalogApplier({ catalog, vectors: { content }, embedder: counting, sliceSize: 40 });
    const batch = Array.from({ length: 130 }, (_, i) => change(videoInput(`s${i}`, { updatedAt: 1_700_000_000_000 + i })));
    // Queued before the apply starts: it runs during the apply only if the apply yields between its slices, and
    // what it sees is what a request served then would see: none of the batch yet.
    const between = new Promise<{ slices: number; visible: boolean }>((r) => setImmediate(() => r({ slices: slices.length, visible: catalog.video("s0") !== undefined })));
    await applier.apply(batch);
    expect(slices).toEqual([40, 40, 40, 10]);
    expect(await between).toEqual({ slices: 1, visible: false });
    expect(catalog.newest().filter((v) => v.id.startsWith("s"))).toHaveLength(130);
    expect(await content.get("s129")).toBeDefined();
    expect(() => createCatalogApplier({ catalog, vectors: {}, embedder: real, sliceSize: 0 })).toThrow(RangeError);
  });
});
