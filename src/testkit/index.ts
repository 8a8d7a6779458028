import { configSchema, type FilterEntry, type ReelfeedConfig, type SourceEntry, type StageEntry } from "../config";
import { createCatalog, type Catalog } from "../data/catalog";
import type { Creator, ReelEvent, User, Video } from "../data/types";
import type { ItemNeighbours } from "../features/item-neighbours";
import { safetyFilters } from "../filters";
import { isServableReason } from "../pipeline/components";
import type { FeedPage, FeedRequest } from "../pipeline/feed-page";
import { createFeedService, type FeedServiceOptions, type PipelineFeedService } from "../pipeline/feed-pipeline";
import { definePipeline, type FunnelSettingsInput, type PipelineDefinition } from "../pipeline/pipeline-definition";
import { createRegistry } from "../pipeline/registry";
import { withTimeout } from "../pipeline/timeout";
import type {
  Candidate,
  CandidateFilter,
  CandidateSource,
  FeedQuery,
  FeedRuntime,
  FilterFactory,
  FilterResult,
  MergedCandidate,
  RankerModel,
  ReelfeedPlugin,
  RerankStage,
  ScoredCandidate,
  SourceFactory,
  StageContext,
  StageFactory,
  StageResult,
  UserTowerModel,
  VideoAggregates,
} from "../plugin";
import { createEmbeddedGraphStore } from "../stores/graph-store-embedded";
import type { GraphStore } from "../stores/graph-store";
import { EMPTY_SEEN } from "../stores/seen-set";
import { createMemoryStateStore } from "../stores/state-store-memory";
import type { StateStore } from "../stores/state-store";
import { createEmbeddedVectorIndex, type EmbeddedVectorIndex } from "../stores/vector-index-embedded";
import { createAverageUserTower } from "./average-user-tower";
import { categoryEmbeddings, createTinyCatalog } from "./tiny-catalog";

export { createAverageUserTower } from "./average-user-tower";
export { categoryEmbeddings, createTinyCatalog, type TinyCatalog, type TinyCatalogOptions } from "./tiny-catalog";

/**
 * A testkit for plugin authors (and the pipeline's own tests): a real FeedRuntime on in-memory stores (the
 * in-process state store, embedded graph and vector index) over a small catalog, no server and no files. Sources,
 * filters and stages run exactly as the pipeline runs them — a factory (defineSource / defineFilter / defineStage)
 * is built with its options through the same validation as at start-up — and `feed` goes through the real
 * pipeline. Its types are the public plugin module's (src/plugin).
 */
export interface TestkitOptions {
  /** Catalog videos. @default a generated 60-video catalog (createTinyCatalog) */
  videos?: Video[];
  /** @default the generated catalog's users (u1–u7: adults, a minor, an unknown age) */
  users?: User[];
  /** @default the generated catalog's creators */
  creators?: Creator[];
  /** "Now" for queries, events and the service clock; `advance` moves it. @default 1_700_000_000_000 */
  now?: number;
  /** Embedding width of the generated two-tower and content vectors. @default 8 */
  dim?: number;
  /**
   * Two-tower video vectors: given, generated from category/creator structure, or none (sources requiring
   * twoTower are then disabled). @default "generated"
   */
  twoTower?: Map<string, Float32Array> | "generated" | false;
  /** Content vectors, as `twoTower`. @default "generated" */
  content?: Map<string, Float32Array> | "generated" | false;
  /**
   * Item neighbours for the Neighbours source and the ranker's affinity: a fitted model, or "generated" (each video
   * linked to the other videos of its category, nearest in catalog order first). @default none (the source is
   * disabled with a start-up warning, as for a bundle without them)
   */
  neighbours?: ItemNeighbours | "generated";
  /** Models. userTower "average" = mean of recent-history embeddings (createAverageUserTower). @default { userTower: "average" } */
  models?: { userTower?: UserTowerModel | "average"; ranker?: RankerModel };
  /** Source entries, as in config (defaults filled by the config schema). @default the config's default sources */
  sources?: Array<Partial<SourceEntry> & { name: string }>;
  /** Stage entries. @default the config's default stages */
  stages?: Array<Partial<StageEntry> & { name: string }>;
  /** Plugin filter entries (the built-in hard rules always run first). @default [] */
  filters?: Array<Partial<FilterEntry> & { name: string }>;
  /** Plugins to register (already imported; the loader is for folders). @default [] */
  plugins?: ReelfeedPlugin[];
  /**
   * Source timeout when an entry does not set one, and the state-store and ranker budgets unless `service` sets
   * them. Generous: the testkit runs on loaded CI machines, and the timeout paths are tested with explicit values.
   * @default 2000
   */
  defaultTimeoutMs?: number;
  /** Extra feed-service options (blend, candidatesToRank, onServed, ...). */
  service?: Partial<Omit<FeedServiceOptions, "runtime" | "definition" | "clock">>;
  /** Replaces parts of the runtime (e.g. a failing state store). */
  runtime?: Partial<FeedRuntime>;
}

export interface Testkit {
  runtime: FeedRuntime;
  catalog: Catalog;
  state: StateStore;
  graph: GraphStore;
  definition: PipelineDefinition;
  service: PipelineFeedService;
  /** Current "now" (epoch ms). */
  now(): number;
  /** Moves "now" forward (session TTLs, decays). */
  advance(ms: number): void;
  /** A hydrated FeedQuery for `userId`, read from the state store like the pipeline does. */
  query(userId: string, overrides?: Partial<Omit<FeedQuery, "context">> & { context?: Partial<FeedQuery["context"]> }): Promise<FeedQuery>;
  /**
   * Runs a source as the pipeline would: signal with a timeout, quota as `limit`. A factory is first built with
   * `options` (validated as from config: a bad one throws BAD_CONFIG naming it). Every candidate's reason is
   * checked as the pipeline checks a plugin's: a code neither built-in nor declared by a registered plugin throws.
   */
  runSource(
    source: CandidateSource | SourceFactory<any>,
    query: FeedQuery,
    options?: { limit?: number; options?: Record<string, unknown>; timeoutMs?: number },
  ): Promise<readonly Candidate[]>;
  /** Runs a filter (a factory is built with `options` first) on merged candidates. */
  runFilter(
    filter: CandidateFilter | FilterFactory<any>,
    candidates: readonly MergedCandidate[],
    options?: { query?: FeedQuery; options?: Record<string, unknown> },
  ): FilterResult;
  /**
   * Runs a stage (a factory is built with `options` first) on a ranked list. `sessionId` defaults to
   * "<userId>:<now>" of the query.
   */
  runStage(
    stage: RerankStage | StageFactory<any>,
    ranked: readonly ScoredCandidate[],
    options?: {
      query?: FeedQuery;
      options?: Record<string, unknown>;
      servedEarlier?: readonly Video[];
      sessionId?: string;
      videoStats?: ReadonlyMap<string, VideoAggregates>;
    },
  ): StageResult;
  /** Ranked candidates for stage tests: the given videos in order, scores descending from 1 unless given. */
  ranked(videoIds: readonly string[], scores?: readonly number[]): ScoredCandidate[];
  /** Merged candidates for filter tests: the given videos in order, each proposed by source "Test". */
  merged(videoIds: readonly string[]): MergedCandidate[];
  /** A feed page through the real pipeline (defaults: surface home, first 10, debug on). */
  feed(request: Partial<FeedRequest> & { userId: string }): Promise<FeedPage>;
  /** Applies events to the state store and the graph (engagements, follows), as the event consumer does. */
  record(events: readonly ReelEvent[]): Promise<void>;
  /** Event builders with unique ids, `ts` = now unless given. */
  events: EventBuilders;
}

export interface EventBuilders {
  watch(userId: string, videoId: string, completion?: number, ts?: number): ReelEvent;
  like(userId: string, videoId: string, ts?: number): ReelEvent;
  notInterested(userId: string, videoId: string, ts?: number): ReelEvent;
  report(userId: string, videoId: string, ts?: number): ReelEvent;
  blockCreator(userId: string, creatorId: string, ts?: number): ReelEvent;
  subscribe(userId: string, creatorId: string, ts?: number): ReelEvent;
  follow(userId: string, followeeId: string, ts?: number): ReelEvent;
}

export const TESTKIT_NOW = 1_700_000_000_000;

function vectorIndex(dim: number, vectors: Map<string, Float32Array>): EmbeddedVectorIndex {
  const index = createEmbeddedVectorIndex({ dim });
  const ids = [...vectors.keys()];
  const matrix = new Float32Array(ids.length * dim);
  ids.forEach((id, i) => matrix.set(vectors.get(id)!, i * dim));
  index.bulkLoad(ids, matrix);
  return index;
}

/** Each video's neighbours: the other videos of its category, nearest in catalog order first (weights 1/distance). */
function categoryNeighbours(videos: readonly Video[], k = 20): ItemNeighbours {
  const itemIds = videos.map((v) => v.id);
  const offsets = new Uint32Array(videos.length + 1);
  const targets: number[] = [];
  const weights: number[] = [];
  videos.forEach((v, i) => {
    const same = videos.map((w, j) => j).filter((j) => j !== i && videos[j].category === v.category);
    same.sort((a, b) => Math.abs(a - i) - Math.abs(b - i) || a - b);
    for (const j of same.slice(0, k)) {
      targets.push(j);
      weights.push(1 / Math.abs(j - i));
    }
    offsets[i + 1] = targets.length;
  });
  return { itemIds, index: new Map(itemIds.map((id, i) => [id, i])), offsets, targets: Uint32Array.from(targets), weights: Float32Array.from(weights), halfLife: 20 };
}

export function createTestkit(options: TestkitOptions = {}): Testkit {
  let now = options.now ?? TESTKIT_NOW;
  const { dim = 8, twoTower = "generated", content = "generated", plugins = [], defaultTimeoutMs = 2000 } = options;
  const tiny = createTinyCatalog({ now });
  const videos = options.videos ?? tiny.videos;
  const users = options.users ?? tiny.users;
  const firstUser = users[0]?.id ?? "u1";
  const catalog = createCatalog({ videos, users, creators: options.creators ?? tiny.creators });
  const state = createMemoryStateStore();
  const graph = createEmbeddedGraphStore();
  const toIndex = (spec: Map<string, Float32Array> | "generated" | false, seed: string): EmbeddedVectorIndex | undefined => {
    if (spec === false) return undefined;
    const vectors = spec === "generated" ? categoryEmbeddings(videos, dim, seed) : spec;
    const d = vectors.values().next().value?.length ?? dim;
    return vectorIndex(d, vectors);
  };
  const twoTowerIndex = toIndex(twoTower, "two-tower");
  const contentIndex = toIndex(content, "content");
  const { userTower = "average", ranker } = options.models ?? {};
  const runtime: FeedRuntime = {
    catalog,
    state,
    graph,
    vectors: { twoTower: twoTowerIndex, content: contentIndex },
    models: {
      userTower: userTower === "average" ? (twoTowerIndex ? createAverageUserTower(twoTowerIndex) : undefined) : userTower,
      ranker,
      neighbours: options.neighbours === "generated" ? categoryNeighbours(videos) : options.neighbours,
    },
    modelVersion: ranker?.version ?? "testkit",
    ...options.runtime,
  };
  const defaults = configSchema.parse({}).pipeline as ReelfeedConfig["pipeline"];
  // Config defaults carry 40 ms timeouts, meant for production: keep only names and quotas from them.
  const sourceEntries: Array<Partial<SourceEntry> & { name: string }> = options.sources ?? defaults.sources.map(({ name, quota }) => ({ name, quota }));
  const sources = sourceEntries.map(
    (e): SourceEntry => ({ enabled: true, quota: 200, weight: 1, failOpen: true, options: {}, ...e, timeoutMs: e.timeoutMs ?? defaultTimeoutMs }),
  );
  const stages = (options.stages ?? defaults.stages).map((e): StageEntry => ({ enabled: true, options: {}, ...e }));
  const filters = (options.filters ?? []).map((e): FilterEntry => ({ enabled: true, options: {}, ...e }));
  const registry = createRegistry({ plugins });
  // State and ranker budgets as generous as the sources': an in-memory store never legitimately takes 50 ms, but a
  // loaded CI machine can stall that long; the timeout paths are tested with explicit values.
  const settings: FunnelSettingsInput = { hydrate: { stateTimeoutMs: defaultTimeoutMs }, rank: { timeoutMs: defaultTimeoutMs } };
  const definition = definePipeline({ pipeline: { sources, filters, stages }, registry, runtime, settings });
  const service = createFeedService({ runtime, definition, clock: () => now, onError: () => {}, ...options.service });
  const build = <T>(component: T | { create(options?: unknown): T }, opts: Record<string, unknown> | undefined, kind: string): T => {
    if (typeof (component as { create?: unknown }).create === "function") return (component as { create(options?: unknown): T }).create(opts ?? {});
    if (opts && Object.keys(opts).length) throw new Error(`testkit: options go to the ${kind}'s factory (pass the define${kind}(...) result, not a built ${kind})`);
    return component as T;
  };

  let eventSeq = 0;
  const id = () => `tk-${++eventSeq}`;
  const events: EventBuilders = {
    watch: (userId, videoId, completion = 1, ts = now) => {
      const d = catalog.video(videoId)?.durationSec ?? 100;
      return { id: id(), type: "watch", userId, videoId, ts, watchedSec: d * completion, videoDurationSec: d };
    },
    like: (userId, videoId, ts = now) => ({ id: id(), type: "like", userId, videoId, ts }),
    notInterested: (userId, videoId, ts = now) => ({ id: id(), type: "not_interested", userId, videoId, ts }),
    report: (userId, videoId, ts = now) => ({ id: id(), type: "report", userId, videoId, ts, reason: "spam" }),
    blockCreator: (userId, creatorId, ts = now) => ({ id: id(), type: "block_creator", userId, creatorId, ts }),
    subscribe: (userId, creatorId, ts = now) => ({ id: id(), type: "subscribe", userId, creatorId, ts }),
    follow: (userId, followeeId, ts = now) => ({ id: id(), type: "follow", userId, followeeId, ts }),
  };

  const emptyQuery = (userId: string): FeedQuery => {
    const user = catalog.user(userId);
    return {
      userId,
      user,
      surface: "home",
      context: { device: user?.device ?? "unknown", country: user?.country, language: user?.language, now, sessionVideoIds: [] },
      relations: { notInterested: [], blockedCreators: [], reported: [], subscriptions: [], follows: [] },
      seen: EMPTY_SEEN,
      pageSize: 10,
    };
  };

  return {
    runtime,
    catalog,
    state,
    graph,
    definition,
    service,
    now: () => now,
    advance(ms) {
      now += ms;
    },
    async query(userId, overrides = {}) {
      const [userAgg, relations, seen] = await Promise.all([state.getUser(userId), state.getRelations(userId), state.getSeen(userId)]);
      const base = emptyQuery(userId);
      const { context, ...rest } = overrides;
      return { ...base, userAgg, relations, seen, ...rest, context: { ...base.context, ...context } };
    },
    async runSource(factoryOrSource, query, opts = {}) {
      const { limit = 50, timeoutMs = defaultTimeoutMs } = opts;
      const source = build<CandidateSource>(factoryOrSource, opts.options, "Source");
      const out = await withTimeout(`source ${source.name}`, timeoutMs, (signal) => source.fetch(query, { runtime, signal, limit }));
      for (const c of out) {
        if (!isServableReason(c.reason, registry.reasons)) {
          throw new Error(`testkit: ${source.name} proposed ${c.videoId} with reason ${JSON.stringify(c.reason)}, which the pipeline would drop: use a built-in code or one the plugin declares (defineReason) and registers (createTestkit({ plugins }))`);
        }
      }
      return out;
    },
    runFilter(factoryOrFilter, candidates, opts = {}) {
      const filter = build<CandidateFilter>(factoryOrFilter, opts.options, "Filter");
      return filter.apply(opts.query ?? emptyQuery(firstUser), candidates, runtime);
    },
    runStage(factoryOrStage, ranked, opts = {}) {
      const stage = build<RerankStage>(factoryOrStage, opts.options, "Stage");
      const query = opts.query ?? emptyQuery(firstUser);
      const ctx: StageContext = {
        runtime,
        servedEarlier: opts.servedEarlier ?? [],
        sessionId: opts.sessionId ?? `${query.userId}:${query.context.now}`,
        videoStats: opts.videoStats,
      };
      return stage.apply(query, ranked, ctx);
    },
    ranked(videoIds, scores) {
      return videoIds.map((vid, i): ScoredCandidate => {
        const video = catalog.video(vid);
        if (!video) throw new Error(`testkit.ranked: unknown video ${vid}`);
        const reason = { code: "PERSONALIZED" as const, params: {} };
        const merged: MergedCandidate = { videoId: vid, video, sources: [{ source: "Test", score: 1, reason }], sourceScore: 1 };
        return { ...merged, score: scores?.[i] ?? 1 - i / (videoIds.length + 1), heads: {}, reason };
      });
    },
    merged(videoIds) {
      return videoIds.map((vid, i): MergedCandidate => {
        const video = catalog.video(vid);
        if (!video) throw new Error(`testkit.merged: unknown video ${vid}`);
        const score = 1 / (1 + i);
        return { videoId: vid, video, sources: [{ source: "Test", score, reason: { code: "PERSONALIZED", params: {} } }], sourceScore: score };
      });
    },
    feed(request) {
      const { context, ...rest } = request;
      return service.feed({ surface: "home", first: 10, debug: true, ...rest, context: { now, ...context } });
    },
    async record(list) {
      await state.apply(list, (vid) => catalog.video(vid));
      for (const e of list) {
        if (e.type === "follow") await graph.follow(e.userId, e.followeeId, e.ts);
        else if (e.type === "watch" || e.type === "like" || e.type === "share" || e.type === "save" || e.type === "comment") {
          await graph.recordEngagement(e.userId, e.videoId, e.type, e.ts);
        }
      }
    },
    events,
  };
}

/** The user-independent safety rules, for plugin tests of similar-video style sources. */
export { safetyFilters };
