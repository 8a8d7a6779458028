import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Catalog } from "../data/catalog";
import type { Creator, User, Video } from "../data/types";
import type { VectorIndex } from "../stores/vector-index";
import { base64ToFloat32, float32ToBase64 } from "../util/float32-base64";
import type { CarriedVector, CarriedVectors, CatalogChange } from "./catalog-changes";
import type { VideoEmbedder, VideoVectors } from "./video-embedder";

/**
 * Applies catalogue changes, in log order, to this process's catalog and vector indexes. Every process that serves
 * (the writer's own and every replica) runs one over the same log, so all of them converge on the same catalogue.
 *
 * Idempotent by version (catalog-changes.ts): a change whose `updatedAt` is not newer than the applied one for its
 * item does nothing, so replaying the log from its start — what every process does at start-up, and what a crash
 * between applying and remembering a position amounts to — leaves the catalogue exactly as it was. A removal is
 * final: the video stays in the catalog flagged "removed" (so every filter, cached session and lookup sees the flag),
 * leaves the lists sources scan, and its vectors are deleted from both indexes; later upserts of its id are ignored.
 */
export interface CatalogApplierOptions {
  catalog: Catalog;
  vectors: { twoTower?: VectorIndex; content?: VectorIndex };
  embedder: VideoEmbedder;
  /**
   * Videos embedded per slice of a batch; between slices the applier yields to the event loop, so a feed request
   * that arrives during a large batch (a burst of uploads, the start-up replay) waits for one slice, not the batch.
   * @default 50
   */
  sliceSize?: number;
}

/** What a change would do if applied now (the write path answers DUPLICATE / STALE / REMOVED early with it). */
export type ChangeStanding = "new" | "duplicate" | "stale" | "removed";

export interface CatalogApplierStats {
  applied: number;
  skipped: number;
  /** Videos this process ran a model on (content model or video tower). */
  videosEmbedded: number;
  /** Videos whose vectors all came with their log record (embedded by the writing process). */
  videosCarried: number;
  removed: number;
}

export interface CatalogApplier {
  apply(changes: readonly CatalogChange[]): Promise<void>;
  /**
   * The writer's part: the videos' vectors from this applier's current models, to carry in their log records
   * (CarriedVectors), so the processes that apply the record — this one included — reuse them instead of embedding
   * again. One entry per video; undefined where no model has a fingerprint.
   */
  carry(videos: readonly Video[]): Promise<Array<CarriedVectors | undefined>>;
  standing(change: CatalogChange): ChangeStanding;
  /** The applied version of an item (0 for the bundle's own items and unknown ones). */
  version(kind: "video" | "user" | "creator", id: string): number;
  isRemoved(videoId: string): boolean;
  /** Whether the catalog has the video (removed or not). */
  hasVideo(videoId: string): boolean;
  /**
   * Moves the two-tower side to another bundle's (a hot swap): every video this applier added or edited is embedded
   * with `embedder` into `twoTower`, every takedown it applied is deleted there, and later changes go there too.
   * Runs between batches, never inside one. The content index and model stay (a swap keeps them).
   */
  retargetTwoTower(next: { twoTower?: VectorIndex; embedder: VideoEmbedder }): Promise<void>;
  stats(): CatalogApplierStats;
}

export function createCatalogApplier(options: CatalogApplierOptions): CatalogApplier {
  const { catalog, sliceSize = 50 } = options;
  // Replaced by retargetTwoTower (a hot swap); read per batch.
  const vectors = { ...options.vectors };
  let embedder = options.embedder;
  // Batches and retargets run one at a time, in call order.
  let tail: Promise<unknown> = Promise.resolve();
  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const next = tail.then(run);
    tail = next.catch(() => undefined);
    return next;
  };
  if (!(Number.isInteger(sliceSize) && sliceSize > 0)) throw new RangeError(`catalog applier: sliceSize must be a positive integer, got ${sliceSize}`);
  const versions = { video: new Map<string, number>(), user: new Map<string, number>(), creator: new Map<string, number>() };
  const removedIds = new Set<string>();
  const stats: CatalogApplierStats = { applied: 0, skipped: 0, videosEmbedded: 0, videosCarried: 0, removed: 0 };

  const isRemoved = (videoId: string): boolean => removedIds.has(videoId) || catalog.video(videoId)?.policyFlags?.includes("removed") === true;
  const version = (kind: "video" | "user" | "creator", id: string): number => versions[kind].get(id) ?? 0;

  function standing(change: CatalogChange): ChangeStanding {
    switch (change.kind) {
      case "removal":
        return removedIds.has(change.videoId) ? "duplicate" : "new";
      case "video":
        if (isRemoved(change.video.id)) return "removed";
        return compare(change.updatedAt, version("video", change.video.id));
      case "user":
        return compare(change.updatedAt, version("user", change.user.id));
      case "creator":
        return compare(change.updatedAt, version("creator", change.creator.id));
    }
  }

  async function embedAll(list: readonly Video[], want = { content: true, twoTower: true }): Promise<VideoVectors[]> {
    // Embedding is the long part (content model in JS on this thread, the video tower in ONNX): in slices with the
    // event loop free between them.
    const embedded: VideoVectors[] = [];
    for (let at = 0; at < list.length; at += sliceSize) {
      if (at > 0) await yieldToEventLoop();
      embedded.push(...(await embedder.embed(list.slice(at, at + sliceSize), want)));
    }
    return embedded;
  }

  async function carry(list: readonly Video[]): Promise<Array<CarriedVectors | undefined>> {
    const { content, twoTower } = embedder.models;
    if ((!content && !twoTower) || list.length === 0) return list.map(() => undefined);
    const embedded = await embedAll(list, { content: !!content, twoTower: !!twoTower });
    stats.videosEmbedded += list.length;
    const side = (model: string | undefined, v: Float32Array | undefined): CarriedVector | undefined =>
      model === undefined ? undefined : v ? { model, vector: float32ToBase64(v) } : { model };
    return embedded.map((e) => ({ content: side(content, e.content), twoTower: side(twoTower, e.twoTower) }));
  }

  /**
   * One side's vector from a record, when it was computed by the model this process has: `null` for "the model
   * gives none", undefined when this process must embed the side itself.
   */
  const reuse = (side: CarriedVector | undefined, model: string | undefined): Float32Array | null | undefined => {
    if (!side || model === undefined || side.model !== model) return undefined;
    if (side.vector === undefined) return null;
    const vector = base64ToFloat32(side.vector);
    return vector && vector.length > 0 ? vector : undefined;
  };

  /** Vectors of `list`: carried ones where their model is this process's, embedded here otherwise. */
  async function vectorsOf(list: readonly Video[], carried: ReadonlyMap<string, CarriedVectors | undefined>): Promise<VideoVectors[]> {
    const { content: contentModel, twoTower: towerModel } = embedder.models;
    const out: VideoVectors[] = [];
    const missing: number[] = [];
    const want = { content: false, twoTower: false };
    list.forEach((video, i) => {
      const record = carried.get(video.id);
      const content = embedder.hasContent ? reuse(record?.content, contentModel) : null;
      const twoTower = embedder.hasTwoTower ? reuse(record?.twoTower, towerModel) : null;
      out.push({ content: content ?? undefined, twoTower: twoTower ?? undefined });
      if (content === undefined || twoTower === undefined) {
        missing.push(i);
        want.content ||= content === undefined;
        want.twoTower ||= twoTower === undefined;
      }
    });
    if (missing.length > 0) {
      const embedded = await embedAll(missing.map((i) => list[i]), want);
      missing.forEach((i, j) => {
        if (want.content && out[i].content === undefined) out[i].content = embedded[j].content;
        if (want.twoTower && out[i].twoTower === undefined) out[i].twoTower = embedded[j].twoTower;
      });
    }
    // Counted once the batch has its vectors (a failed embedding is retried with the whole batch).
    stats.videosEmbedded += missing.length;
    stats.videosCarried += list.length - missing.length;
    return out;
  }

  async function retargetTwoTower(next: { twoTower?: VectorIndex; embedder: VideoEmbedder }): Promise<void> {
    const live = [...versions.video.keys()].filter((id) => !removedIds.has(id));
    const list = live.map((id) => catalog.video(id)).filter((v): v is Video => v !== undefined);
    const previous = embedder;
    embedder = next.embedder;
    try {
      const embedded = await embedAll(list, { content: false, twoTower: true });
      const twoTower = list.flatMap((v, i) => (embedded[i].twoTower ? [{ id: v.id, vector: embedded[i].twoTower! }] : []));
      if (next.twoTower && twoTower.length > 0) await next.twoTower.upsert(twoTower);
      if (next.twoTower && removedIds.size > 0) await next.twoTower.delete([...removedIds]);
    } catch (err) {
      embedder = previous;
      throw err;
    }
    vectors.twoTower = next.twoTower;
  }

  async function apply(changes: readonly CatalogChange[]): Promise<void> {
    // Fold the batch first (log order), so a video uploaded and edited in one batch is embedded once, and one
    // removed in the same batch is never embedded at all. Versions are committed only once the batch is applied:
    // when embedding or an index fails, the consumer retries the same batch, and it must not look applied then.
    const pending = { video: new Map<string, number>(), user: new Map<string, number>(), creator: new Map<string, number>() };
    const pendingRemoved = new Set<string>();
    const videos = new Map<string, Video>();
    const carried = new Map<string, CarriedVectors | undefined>();
    const removals: string[] = [];
    // Uploaded and removed in one batch (a replay at start-up folds a whole log): kept in the catalog, flagged.
    const uploadedThenRemoved = new Map<string, Video>();
    const users: User[] = [];
    const creators: Creator[] = [];
    let applied = 0;
    let skipped = 0;
    const fresh = (kind: "video" | "user" | "creator", id: string, updatedAt: number): boolean =>
      updatedAt > (pending[kind].get(id) ?? version(kind, id));
    for (const change of changes) {
      let take: boolean;
      switch (change.kind) {
        case "video":
          take = !isRemoved(change.video.id) && !pendingRemoved.has(change.video.id) && fresh("video", change.video.id, change.updatedAt);
          if (take) {
            pending.video.set(change.video.id, change.updatedAt);
            videos.set(change.video.id, change.video);
            carried.set(change.video.id, change.vectors);
          }
          break;
        case "removal":
          take = !removedIds.has(change.videoId) && !pendingRemoved.has(change.videoId);
          if (take) {
            pendingRemoved.add(change.videoId);
            const uploaded = videos.get(change.videoId);
            if (uploaded) uploadedThenRemoved.set(change.videoId, uploaded);
            videos.delete(change.videoId);
            removals.push(change.videoId);
          }
          break;
        case "user":
          take = fresh("user", change.user.id, change.updatedAt);
          if (take) {
            pending.user.set(change.user.id, change.updatedAt);
            users.push(change.user);
          }
          break;
        case "creator":
          take = fresh("creator", change.creator.id, change.updatedAt);
          if (take) {
            pending.creator.set(change.creator.id, change.updatedAt);
            creators.push(change.creator);
          }
          break;
      }
      if (take) applied++;
      else skipped++;
    }
    for (const c of creators) catalog.putCreator(c);
    for (const u of users) catalog.putUser(u);
    if (videos.size > 0) {
      const list = [...videos.values()];
      // Nothing is visible until the whole batch is embedded: then the catalog and the indexes take it at once,
      // without yielding, so a request sees all of the batch or none of it.
      const embedded = await vectorsOf(list, carried);
      // Catalog first: a vector whose video the catalog does not know yet is dropped by the merge, never served. One
      // batch put: the newest / per-creator lists are merged once, not spliced once per video.
      catalog.putVideos(list);
      const twoTower = list.flatMap((v, i) => (embedded[i].twoTower ? [{ id: v.id, vector: embedded[i].twoTower! }] : []));
      const content = list.flatMap((v, i) => (embedded[i].content ? [{ id: v.id, vector: embedded[i].content! }] : []));
      // An edit whose text no longer has a known word must not keep the old content vector.
      const noContent = list.flatMap((v, i) => (embedded[i].content ? [] : [v.id]));
      if (vectors.twoTower && twoTower.length > 0) await vectors.twoTower.upsert(twoTower);
      if (vectors.content && content.length > 0) await vectors.content.upsert(content);
      if (vectors.content && noContent.length > 0) await vectors.content.delete(noContent);
    }
    if (removals.length > 0) {
      const flagged: Video[] = [];
      for (const id of removals) {
        const v = catalog.video(id) ?? uploadedThenRemoved.get(id);
        if (v && !v.policyFlags?.includes("removed")) flagged.push({ ...v, policyFlags: [...(v.policyFlags ?? []), "removed"] });
      }
      catalog.putVideos(flagged);
      stats.removed += removals.length;
      if (vectors.twoTower) await vectors.twoTower.delete(removals);
      if (vectors.content) await vectors.content.delete(removals);
    }
    for (const kind of ["video", "user", "creator"] as const) for (const [id, v] of pending[kind]) versions[kind].set(id, v);
    for (const id of pendingRemoved) removedIds.add(id);
    stats.applied += applied;
    stats.skipped += skipped;
  }

  return {
    apply: (changes) => serially(() => apply(changes)),
    carry,
    standing,
    version,
    isRemoved,
    hasVideo: (id) => catalog.video(id) !== undefined,
    retargetTwoTower: (next) => serially(() => retargetTwoTower(next)),
    stats: () => ({ ...stats }),
  };
}

function compare(incoming: number, applied: number): ChangeStanding {
  return incoming > applied ? "new" : incoming === applied ? "duplicate" : "stale";
}
