import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ReelfeedConfig } from "../config";
import { createCatalog } from "../data/catalog";
import type { Dataset, Surface } from "../data/types";
import { badFile, badInput } from "../errors";
import { loadFeatureArtifacts, type FeatureArtifacts } from "../features/artifacts";
import type { FeedRequest, FeedService } from "../pipeline/feed-page";
import type { FeedRuntime } from "../pipeline/types";
import { createEmbeddedGraphStore } from "../stores/graph-store-embedded";
import { createMemoryStateStore } from "../stores/state-store-memory";
import { withSeen } from "../stores/seen-set";
import type { StateStore } from "../stores/state-store";
import { BUNDLE_FILES } from "../training/bundle";
import type { Recommender } from "../training/baselines/recommender";
import type { EvaluationContext } from "../training/train-pipeline";
import { createProgress, silentProgress, type Progress } from "../util/progress";
import { bootstrapGraph } from "./graph-sync";
import { loadRuntime } from "./runtime";
import { assembleFeedRuntime, folderModelFiles, releaseAll, type Closers } from "./runtime-assembly";
import { createServingFeed } from "./serving-feed";
import { applyHistory, bootstrapEvents } from "./state-bootstrap";

/**
 * The serving pipeline, offline: `reelfeed recommend` writes each user's feed as JSONL, and `funnelRecommenders`
 * lets the training report score the whole funnel (sources → filters → ranker → re-rank stages) beside the
 * two-tower model and the baselines, with the same metrics on the same users.
 *
 * Both run the feed exactly as the server wires it (createServingFeed: config's sources, stages, blend, budgets,
 * plugins) with three deliberate differences from a live server, so that one user's list cannot depend on
 * another's, nor on how busy the machine is:
 * - nothing is logged: batch lists were never shown to anyone, so they must not become impressions (training data)
 *   or real-time state; the served-set bookkeeping (markServed) only touches the user being served;
 * - everything is embedded and private to the run (memory state bootstrapped from the bundle's history, embedded
 *   vectors and graph, a throwaway var directory): a configured Redis, Qdrant or Neo4j is never written to;
 * - no deadlines (see {@link withOfflineDeadlines}): a source or the ranker that misses its live budget on a loaded
 *   box would silently drop out of that one list, and the same run would score differently from one try to the next.
 */

/**
 * Per-step budget offline (sources, ranker, state reads). The live budgets (tens of ms) protect a waiting client;
 * a batch has none, and on a shared 2-core machine they made the funnel's Recall@20 swing by ±0.006 between
 * identical runs (measured: MovieLens, same bundle).
 */
export const OFFLINE_DEADLINE_MS = 60_000;

/** `config` with every per-request deadline raised to {@link OFFLINE_DEADLINE_MS} (never lowered). */
export function withOfflineDeadlines(config: ReelfeedConfig): ReelfeedConfig {
  const raise = (ms: number): number => Math.max(ms, OFFLINE_DEADLINE_MS);
  return {
    ...config,
    ranking: { ...config.ranking, timeoutMs: raise(config.ranking.timeoutMs) },
    pipeline: { ...config.pipeline, sources: config.pipeline.sources.map((s) => ({ ...s, timeoutMs: raise(s.timeoutMs) })) },
  };
}

/**
 * The funnel evaluation's config: offline deadlines, and a fixed seed for the Exploration stage when the config
 * gives none. Live, exploration is seeded by the random session id, so two evaluations of the same bundle would
 * explore different slots and differ by noise alone; a fixed seed keeps the same share of explored slots and makes
 * the report reproducible.
 */
export function funnelEvaluationConfig(config: ReelfeedConfig): ReelfeedConfig {
  const offline = withOfflineDeadlines(config);
  return {
    ...offline,
    pipeline: {
      ...offline.pipeline,
      stages: offline.pipeline.stages.map((s) => (s.name === "Exploration" && s.options.seed === undefined ? { ...s, options: { ...s.options, seed: "funnel-evaluation" } } : s)),
    },
  };
}

/**
 * Feed-service settings of the offline runs: the state-read budget config does not carry, raised as above, and no
 * load shedding (a batch job wants every user ranked, however busy its process is).
 */
const OFFLINE_SERVICE = { stateTimeoutMs: OFFLINE_DEADLINE_MS, overload: {} };

/** Options of {@link recommendFile}. */
export interface RecommendFileOptions {
  /** The model bundle folder. */
  bundle: string;
  /** User ids, in output order (repeats allowed), or the path of a file with one id per line. */
  users: readonly string[] | string;
  /** Items per user. Pages of `config.server.maxPageSize` are requested until there are k. */
  k: number;
  config: ReelfeedConfig;
  /** Where the JSONL goes (stdout for the CLI). Not closed. */
  out: NodeJS.WritableStream;
  /** Surface of every request. @default "home" */
  surface?: Surface;
  /**
   * Request time, epoch ms. @default just after the newest event of the bundle's data: the moment the history
   * describes, so every time feature (recency, trending, the seen window) means what it meant in training, and the
   * same bundle gives the same lists whenever it is run. `--now` asks for another moment.
   */
  now?: number;
  /** Progress on stderr. @default silentProgress */
  progress?: Progress;
}

export interface RecommendFileResult {
  users: number;
  /** Users the bundle does not know (no profile): they got the cold-start feed. */
  coldStart: number;
  /** Users who got fewer than k items (the catalog left too few after filters). */
  short: number;
  msPerUser: number;
}

/** Longest user id accepted from a users file; longer lines are not ids (a wrong file). */
const MAX_USER_ID = 256;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Reads a users file: one id per line, blank lines skipped. BAD_FILE for a missing, empty or non-text file. */
export async function readUsersFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw badFile(path, `cannot read the users file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const ids: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const id = line.trim();
    if (id.length === 0) return;
    const why = userIdProblem(id);
    if (why) throw badFile(path, `not a user id (${why}): ${JSON.stringify(id.slice(0, 40))}`, i + 1);
    ids.push(id);
  });
  if (ids.length === 0) throw badFile(path, "the users file holds no ids (expected one user id per line)");
  return ids;
}

function userIdProblem(id: string): string | undefined {
  if (id.length > MAX_USER_ID) return `longer than ${MAX_USER_ID} characters`;
  if (CONTROL.test(id)) return "control characters";
  return undefined;
}

async function resolveUsers(users: readonly string[] | string): Promise<readonly string[]> {
  if (typeof users === "string") return readUsersFile(users);
  if (users.length === 0) throw badInput("users", "no user ids given");
  users.forEach((id, i) => {
    const why = typeof id !== "string" || id.length === 0 ? "empty" : userIdProblem(id);
    if (why) throw badInput("users", `users[${i}] is not a user id (${why})`);
  });
  return users;
}

/** `config` with every backend embedded: a configured Redis, Qdrant or Neo4j is never written to by an offline run. */
function embeddedBackends(config: ReelfeedConfig): ReelfeedConfig {
  return { ...config, backends: { ...config.backends, redisUrl: undefined, qdrantUrl: undefined, neo4jUri: undefined } };
}

/** The config an offline run uses: every backend embedded, state in a private var directory. */
function offlineConfig(config: ReelfeedConfig, varDir: string): ReelfeedConfig {
  const embedded = embeddedBackends(config);
  return { ...embedded, paths: { ...embedded.paths, varDir } };
}

/** Writes one line, waiting for the stream to drain when its buffer is full (a slow pipe must not grow memory). */
function writeLine(out: NodeJS.WritableStream, line: string): Promise<void> {
  return new Promise((resolveWrite, reject) => {
    const ok = out.write(line, (err?: Error | null) => (err ? reject(err) : undefined));
    if (ok) resolveWrite();
    else out.once("drain", () => resolveWrite());
  });
}

export interface FeedListOptions {
  userId: string;
  k: number;
  surface: Surface;
  /** Request time; undefined: the feed's clock. */
  now?: number;
  /** Never returned (on top of what the pipeline filters itself). @default none */
  exclude?: ReadonlySet<string>;
  /** Largest page the feed accepts (config.server.maxPageSize). */
  maxPageSize: number;
}

/**
 * Up to k distinct video ids for one user from one ranked feed session: the first page, then its continuation pages
 * (`after`), exactly as a client scrolling would get them.
 */
export async function feedList(feed: FeedService, options: FeedListOptions): Promise<string[]> {
  const { userId, k, surface, now, exclude, maxPageSize } = options;
  const items: string[] = [];
  const got = new Set<string>();
  let after: string | undefined;
  // A page that adds nothing new ends the loop: the session is exhausted (or only excluded items are left).
  for (;;) {
    const request: FeedRequest = {
      userId,
      surface,
      context: now === undefined ? {} : { now },
      first: Math.min(maxPageSize, Math.max(1, k - items.length)),
      after,
      debug: false,
    };
    const page = await feed.feed(request);
    let added = 0;
    for (const item of page.items) {
      const id = item.video.id;
      if (got.has(id) || exclude?.has(id)) continue;
      got.add(id);
      items.push(id);
      added++;
      if (items.length >= k) return items;
    }
    if (!page.hasNextPage || !page.endCursor || page.items.length === 0) return items;
    if (added === 0 && !page.items.some((i) => exclude?.has(i.video.id))) return items;
    after = page.endCursor;
  }
}

/**
 * `reelfeed recommend`: loads the bundle's runtime, serves each user's feed offline and writes
 * `{"userId":"...","items":["<video id>", ...]}` per user, in input order, with the dataset's own ids. An unknown
 * user gets the cold-start feed (the pipeline's popular / trending / fresh sources), as on the server.
 */
export async function recommendFile(options: RecommendFileOptions): Promise<RecommendFileResult> {
  const { bundle, k, config, out, surface = "home", progress = silentProgress } = options;
  if (!Number.isInteger(k) || k <= 0) throw badInput("k", `expected a positive integer, got ${k}`);
  const users = await resolveUsers(options.users);
  const bundleDir = resolve(bundle);
  const varDir = await mkdtemp(join(tmpdir(), "reelfeed-recommend-"));
  try {
    const offline = withOfflineDeadlines(offlineConfig(config, varDir));
    const loaded = await loadRuntime({ bundleDir, config: offline, progress });
    try {
      // The feed without an ingestor: the very wiring the server uses, minus impression logging (see top).
      const { feed } = await createServingFeed({ runtime: loaded.runtime, config: offline, service: OFFLINE_SERVICE });
      const events = loaded.dataset.events;
      const now = options.now ?? (events.length ? events.reduce((m, e) => Math.max(m, e.ts), 0) + 1 : Date.now());
      progress.log(`recommend: requests made at ${new Date(now).toISOString()}${options.now === undefined ? " (just after the bundle's newest event; --now to change)" : ""}`);
      const step = progress.step(`recommend: ${users.length} users, k = ${k}`, users.length);
      const started = performance.now();
      let coldStart = 0;
      let short = 0;
      for (const userId of users) {
        if (!loaded.catalog.user(userId)) coldStart++;
        const items = await feedList(feed, { userId, k, surface, now, maxPageSize: config.server.maxPageSize });
        if (items.length < k) short++;
        await writeLine(out, `${JSON.stringify({ userId, items })}\n`);
        step.tick();
      }
      const msPerUser = (performance.now() - started) / users.length;
      step.done(`${coldStart} cold-start, ${short} short of k, ${msPerUser.toFixed(1)} ms/user`);
      return { users: users.length, coldStart, short, msPerUser };
    } finally {
      await loaded.close();
    }
  } finally {
    await rm(varDir, { recursive: true, force: true });
  }
}

// Funnel evaluation ---------------------------------------------------------------------------------------------

/** Options of {@link funnelRecommenders}. */
export interface FunnelOptions {
  /** Surface of the evaluation requests. @default "home" */
  surface?: Surface;
  /** Where the set-up steps and the leakage warning go. @default createProgress() (stderr) */
  progress?: Progress;
  /** Report key. @default "funnel" ("funnelRefit" when the models saw the test period) */
  name?: string;
}

/** The funnel as a retrieval model; `close` releases its ONNX sessions and stores (the evaluator never calls it). */
export type FunnelRecommender = Recommender & {
  /** True when the models were fitted on events at or after `testFrom` (see funnelRecommenders). */
  readonly leaky: boolean;
  /** The point-in-time runtime it serves from (for inspection). */
  readonly runtime: FeedRuntime;
  /** Pages answered with a fallback so far, per "kind:component" (see FeedPage.fallbacks); empty when none was. */
  readonly fallbacks: Readonly<Record<string, number>>;
  close(): Promise<void>;
};

/**
 * One recommender, `funnel`, that answers with the full serving pipeline over the model files at `ctx.bundleDir`,
 * point-in-time: the state store and social graph hold only the history before `ctx.testFrom`, every request is
 * made at `now = ctx.testFrom`, and the evaluator's `exclude` (what each user consumed before) joins the user's
 * seen set, so the pipeline refills past them as it does past anything seen.
 *
 * Leakage: the training run (TrainOptions.extraRecommenders) passes a temporary folder with the evaluation-phase
 * models, fitted before the validation cut, refit or not. Models fitted past `ctx.testFrom` (e.g. a refit bundle
 * pointed at by hand) learned from the test period and make the numbers optimistic: the recommender is then named
 * `funnelRefit` and a warning says why.
 *
 * Runs under {@link funnelEvaluationConfig} (no deadlines, a fixed exploration seed), so the numbers are
 * reproducible. Reads only model files from `ctx.bundleDir` (no manifest) and the data from `ctx.dataset`. The
 * catalog is the full one, like the other models in the report.
 */
export async function funnelRecommenders(ctx: EvaluationContext, config: ReelfeedConfig, options: FunnelOptions = {}): Promise<Recommender[]> {
  // Beside it, the same funnel with every re-rank stage off: what diversity, exploration and guardrails cost.
  const stagesOff = { ...config, pipeline: { ...config.pipeline, stages: config.pipeline.stages.map((s) => ({ ...s, enabled: false })) } };
  const funnel = await createFunnelRecommender(ctx, config, options);
  try {
    return [funnel, await createFunnelRecommender(ctx, stagesOff, { ...options, name: "funnelStagesOff" })];
  } catch (err) {
    await funnel.close();
    throw err;
  }
}

export async function createFunnelRecommender(ctx: EvaluationContext, config: ReelfeedConfig, options: FunnelOptions = {}): Promise<FunnelRecommender> {
  const { surface = "home", progress = createProgress() } = options;
  const { dataset, bundleDir, testFrom } = ctx;
  if (!Number.isFinite(testFrom)) throw badInput("testFrom", `expected epoch milliseconds, got ${testFrom}`);
  const artifacts = await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features));
  const leaky = !(artifacts.fittedUntil <= testFrom);
  if (leaky) {
    progress.log(
      `! funnel evaluation: the models in ${bundleDir} were fitted on events up to ${isoOrAll(artifacts.fittedUntil)}, after the test ` +
        `period began (${new Date(testFrom).toISOString()}): they saw the test positives, so the funnel's numbers are optimistic. ` +
        `Reported as "funnelRefit"; train with --no-refit for a clean funnel evaluation.`,
    );
  }
  const closers: Closers = [];
  const close = (): Promise<void> => releaseAll(closers.splice(0).reverse(), () => undefined);
  try {
    const runtime = await pointInTimeRuntime({ dataset, bundleDir, until: testFrom, artifacts, config, progress, closers });
    const extraSeen = new Map<string, ReadonlySet<string>>();
    const state = withExtraSeen(runtime.state, extraSeen);
    const served = await createServingFeed({ runtime: { ...runtime, state }, config: funnelEvaluationConfig(config), service: OFFLINE_SERVICE });
    const fallbacks: Record<string, number> = {};
    // Counts what a degraded answer fell back on (a failing source, the ranker unavailable, ...): a clean
    // evaluation has none, and the pipeline's report says so when it has.
    const feed: FeedService = {
      feed: async (request) => {
        const page = await served.feed.feed(request);
        for (const f of page.fallbacks) fallbacks[`${f.kind}:${f.component}`] = (fallbacks[`${f.kind}:${f.component}`] ?? 0) + 1;
        return page;
      },
      similarVideos: (videoId, first) => served.feed.similarVideos(videoId, first),
      trending: (country, first) => served.feed.trending(country, first),
    };
    progress.log(`funnel evaluation: full pipeline at now = ${new Date(testFrom).toISOString()} over history before it`);
    return {
      name: leaky ? `${options.name ?? "funnel"}Refit` : (options.name ?? "funnel"),
      leaky,
      runtime,
      fallbacks,
      fit: () => undefined,
      // The evaluator awaits each list (RetrievalModel allows a promise); the Recommender type predates async models.
      recommend: (async (userId: string, k: number, exclude: ReadonlySet<string>) => {
        extraSeen.set(userId, exclude);
        try {
          return await feedList(feed, { userId, k, surface, now: testFrom, exclude, maxPageSize: config.server.maxPageSize });
        } finally {
          extraSeen.delete(userId);
        }
      }) as unknown as Recommender["recommend"],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function isoOrAll(t: number): string {
  return Number.isFinite(t) && t < 8.64e15 ? new Date(t).toISOString() : "the end of the data (refit on all of it)";
}

/** The state store with extra "seen" videos per user layered on (never written into the store). */
function withExtraSeen(store: StateStore, extra: ReadonlyMap<string, ReadonlySet<string>>): StateStore {
  return {
    kind: store.kind,
    apply: (events, videoOf) => store.apply(events, videoOf),
    getUser: (userId) => store.getUser(userId),
    getVideos: (ids) => store.getVideos(ids),
    getRelations: (userId) => store.getRelations(userId),
    async getSeen(userId) {
      return withSeen(await store.getSeen(userId), extra.get(userId) ?? []);
    },
    markServed: (userId, ids, ts) => store.markServed(userId, ids, ts),
    trending: (country, limit, now) => store.trending(country, limit, now),
    close: () => store.close(),
  };
}

interface PointInTimeOptions {
  dataset: Dataset;
  bundleDir: string;
  until: number;
  artifacts: FeatureArtifacts;
  config: ReelfeedConfig;
  progress: Progress;
  closers: Closers;
}

/**
 * A FeedRuntime over a bundle's model files with the world as it was at `until`: memory state and embedded graph
 * fed only the history before it (through the same bootstrap functions the server uses), and the bundle's vectors
 * and models assembled over them exactly as the server assembles its own (assembleFeedRuntime), with two
 * differences: every backend is embedded and private to the run, and the models run on the calling thread with
 * ONNX Runtime's own choice of intra-op threads — one list is scored at a time, so there are no concurrent
 * requests for an inference thread to keep the event loop free for. No video tower: offline nothing is uploaded.
 */
async function pointInTimeRuntime(o: PointInTimeOptions): Promise<FeedRuntime> {
  const { dataset, bundleDir, until, artifacts, config, progress, closers } = o;
  const history = dataset.events.filter((e) => e.ts < until);
  const catalog = createCatalog(dataset);
  const videoOf = (id: string) => catalog.video(id);

  const graph = createEmbeddedGraphStore();
  closers.push(() => graph.close());
  await bootstrapGraph(graph, { follows: dataset.follows.filter((f) => f.ts < until), events: history, progress: silentProgress });
  const state = createMemoryStateStore();
  closers.push(() => state.close());
  await applyHistory({ store: state, events: bootstrapEvents({ events: history, subscriptions: dataset.subscriptions.filter((s) => s.ts < until) }), videoOf, progress });

  const embedded = embeddedBackends(config);
  const { runtime } = await assembleFeedRuntime({
    bundleDir,
    config: { ...embedded, ranking: { ...embedded.ranking, inferenceThread: "main", onnxThreads: 0 } },
    files: folderModelFiles(bundleDir, "funnel-evaluation"),
    artifacts,
    catalog,
    state,
    graph,
    videoTower: false,
    progress,
    closers,
  });
  return runtime;
}
