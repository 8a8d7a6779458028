import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DEVICES, SURFACES, type Dataset, type User, type Video } from "../data/types";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";
import type { Progress } from "../util/progress";
import {
  emptyStats,
  fitQuantileBuckets,
  normalizerFromJSON,
  normalizerFromStats,
  preTransform,
  pushStats,
  quantileBucketsFromJSON,
  type Normalizer,
  type QuantileBuckets,
  type RunningStats,
} from "./normalizers";
import { replayEvents } from "./replay";
import { loadItemNeighbours, saveItemNeighbours, type ItemNeighbours } from "./item-neighbours";
import { DEFAULT_ROW_LAYOUT, DENSE_COLUMNS, USER_TOWER_DENSE, eventContext, rawRankerDense, type RowLayout } from "./rows";
import { countValues, createVocabulary, fitVocabulary, vocabularyFromJSON, type Vocabulary } from "./vocabulary";

/**
 * Everything the row builders need besides the data: vocabularies, age buckets, and the normaliser statistics of
 * every dense column. Fitted once per bundle on the training portion of the data (events with ts < until) and
 * shipped in the bundle, so serving encodes a request exactly as training encoded its rows.
 */
export interface FeatureArtifacts {
  version: number;
  /** Dataset the artifacts were fitted on. */
  source: string;
  /** Only events with ts < fittedUntil were used. */
  fittedUntil: number;
  /** Rows the dense statistics were fitted on. */
  fittedRows: number;
  layout: RowLayout;
  vocabularies: {
    userId: Vocabulary;
    videoId: Vocabulary;
    category: Vocabulary;
    tag: Vocabulary;
    creatorId: Vocabulary;
    country: Vocabulary;
    language: Vocabulary;
    device: Vocabulary;
    surface: Vocabulary;
  };
  ageBuckets: QuantileBuckets;
  /** Normaliser per dense column name (every column of DENSE_COLUMNS). */
  dense: Record<string, Normalizer>;
  /**
   * Item-to-item neighbours for the ranker's affinity features and the Neighbours source. Stored in their own
   * binary file beside the JSON (NEIGHBOURS_FILE), loaded with it. Absent: affinity features read as "no history".
   */
  neighbours?: ItemNeighbours;
  /**
   * The user tower's dense inputs, in order (rows.ts USER_TOWER_DENSE when fitted). Absent in bundles made before
   * it existed: they read every user column then the clock, as they were trained.
   */
  userTowerDense?: readonly string[];
}

export const FEATURE_ARTIFACTS_VERSION = 1;
const FORMAT = "reelfeed.feature-artifacts";
/** Ages used when a dataset has no ages at all: the usual audience brackets. */
const DEFAULT_AGE_EDGES = [18, 25, 35, 45, 55, 65];

export interface FitFeatureArtifactsInput {
  dataset: Dataset;
  /** Only events with ts < until are used (the training portion). */
  until: number;
  /** Users with fewer training events are out of vocabulary (hashed). @default 1 */
  userMinCount?: number;
  /** Videos with fewer training events are out of vocabulary (hashed). @default 1 */
  videoMinCount?: number;
  /** Tags used by fewer videos are hashed. @default 2 */
  tagMinCount?: number;
  /** Rows the dense statistics are fitted on at most (a stride sample of the training events). @default 200000 */
  maxRows?: number;
  /** Age buckets. @default 8 */
  ageBuckets?: number;
  layout?: Partial<RowLayout>;
  /** @default the dataset's videos */
  videoOf?: (id: string) => Video | undefined;
  progress?: Progress;
}

/**
 * Fits feature artifacts on the training portion. Dense statistics come from ranker rows built by the very
 * builders training and serving use (replayed point-in-time), so they describe what the model will be fed.
 */
export function fitFeatureArtifacts(input: FitFeatureArtifactsInput): FeatureArtifacts {
  const {
    dataset,
    until,
    userMinCount = 1,
    videoMinCount = 1,
    tagMinCount = 2,
    maxRows = 200_000,
    ageBuckets = 8,
    progress,
  } = input;
  const layout: RowLayout = { ...DEFAULT_ROW_LAYOUT, ...input.layout };
  const byId = new Map(dataset.videos.map((v) => [v.id, v]));
  const videoOf = input.videoOf ?? ((id: string) => byId.get(id));
  const users = new Map<string, User>(dataset.users.map((u) => [u.id, u]));

  const userCounts = new Map<string, number>();
  const videoCounts = new Map<string, number>();
  const countryCounts = new Map<string, number>();
  let rowCandidates = 0;
  for (const e of dataset.events) {
    if (e.ts >= until) continue;
    countValues([e.userId], userCounts);
    countValues([e.country], countryCounts);
    if ("videoId" in e) {
      countValues([e.videoId], videoCounts);
      if (videoOf(e.videoId)) rowCandidates++;
    }
  }
  // Catalog metadata is not a label, but a video uploaded after the cut-off did not exist in training time.
  const trainVideos = dataset.videos.filter((v) => v.uploadedAt < until || videoCounts.has(v.id));
  for (const u of dataset.users) countValues([u.country], countryCounts);

  const vocabularies: FeatureArtifacts["vocabularies"] = {
    userId: fitVocabulary(userCounts, { minCount: userMinCount, oovBuckets: 16 }),
    videoId: fitVocabulary(videoCounts, { minCount: videoMinCount, oovBuckets: 64 }),
    category: fitVocabulary(trainVideos.map((v) => v.category), { oovBuckets: 1 }),
    tag: fitVocabulary(
      trainVideos.flatMap((v) => [...new Set(v.tags)]),
      { minCount: tagMinCount, maxSize: 50_000, oovBuckets: 16 },
    ),
    creatorId: fitVocabulary(trainVideos.map((v) => v.creatorId), { oovBuckets: 16 }),
    country: fitVocabulary(countryCounts, { oovBuckets: 1 }),
    language: fitVocabulary(
      [...trainVideos.map((v) => v.language), ...dataset.users.map((u) => u.language)],
      { oovBuckets: 1 },
    ),
    // Closed enums: every value gets a slot even when training never saw it.
    device: createVocabulary([...DEVICES], 1),
    surface: createVocabulary([...SURFACES], 1),
  };

  const ages = dataset.users.map((u) => u.age).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const fittedAges = fitQuantileBuckets(ages, ageBuckets);
  const ageBucketsFit: QuantileBuckets = fittedAges.edges.length > 0 ? fittedAges : { edges: DEFAULT_AGE_EDGES.slice() };

  // Dense statistics: a deterministic stride sample of the training events that name a catalog video.
  const stride = Math.max(1, Math.ceil(rowCandidates / maxRows));
  const stats: RunningStats[] = DENSE_COLUMNS.map(() => emptyStats());
  let seen = 0;
  let fittedRows = 0;
  replayEvents(
    dataset,
    (e, before) => {
      if (!("videoId" in e)) return;
      const video = videoOf(e.videoId);
      if (!video) return;
      if (seen++ % stride !== 0) return;
      const user = users.get(e.userId);
      const raw = rawRankerDense({ user, userAgg: before.userAgg, video, videoAgg: before.videoAgg, context: eventContext(e, user) });
      for (let i = 0; i < raw.length; i++) pushStats(stats[i], preTransform(DENSE_COLUMNS[i].kind, raw[i]));
      fittedRows++;
    },
    { until, videoOf, progress },
  );
  const dense: Record<string, Normalizer> = {};
  DENSE_COLUMNS.forEach((c, i) => {
    dense[c.name] = normalizerFromStats(c.kind, stats[i]);
  });
  return {
    version: FEATURE_ARTIFACTS_VERSION,
    source: dataset.source,
    fittedUntil: until,
    fittedRows,
    layout,
    vocabularies,
    ageBuckets: ageBucketsFit,
    dense,
    userTowerDense: USER_TOWER_DENSE,
  };
}

/** The JSON form of the artifacts (what `saveFeatureArtifacts` writes). */
export function featureArtifactsToJSON(a: FeatureArtifacts): unknown {
  const vocabularies: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a.vocabularies)) vocabularies[k] = v.toJSON();
  return {
    format: FORMAT,
    version: a.version,
    source: a.source,
    // JSON has no Infinity ("fitted on everything"): null stands for it.
    fittedUntil: Number.isFinite(a.fittedUntil) ? a.fittedUntil : null,
    fittedRows: a.fittedRows,
    layout: a.layout,
    vocabularies,
    ageBuckets: a.ageBuckets,
    dense: a.dense,
    ...(a.userTowerDense ? { userTowerDense: a.userTowerDense } : {}),
  };
}

const VOCAB_NAMES = ["userId", "videoId", "category", "tag", "creatorId", "country", "language", "device", "surface"] as const;

/** Parses and validates the JSON form. Throws BAD_BUNDLE naming `where` and the field. */
export function featureArtifactsFromJSON(json: unknown, where = "feature artifacts"): FeatureArtifacts {
  const bad = (field: string, msg: string): never => {
    throw new ReelfeedError("BAD_BUNDLE", `${where}: ${field}: ${msg}`, { path: where, field });
  };
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ReelfeedError) throw new ReelfeedError("BAD_BUNDLE", `${where}: ${err.message}`, { path: where, ...err.details });
      throw err;
    }
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) return bad("(root)", "expected an object");
  const o = json as Record<string, unknown>;
  if (o.format !== FORMAT) bad("format", `expected "${FORMAT}"`);
  if (o.version !== FEATURE_ARTIFACTS_VERSION) bad("version", `unsupported version ${JSON.stringify(o.version)} (expected ${FEATURE_ARTIFACTS_VERSION})`);
  if (typeof o.source !== "string") bad("source", "expected a string");
  if (o.fittedUntil !== null && typeof o.fittedUntil !== "number") bad("fittedUntil", "expected a number or null (fitted on all data)");
  if (typeof o.fittedRows !== "number") bad("fittedRows", "expected a number");
  const layoutIn = o.layout as Record<string, unknown> | undefined;
  if (typeof layoutIn !== "object" || layoutIn === null) return bad("layout", "expected an object");
  const layout = {} as RowLayout;
  for (const k of Object.keys(DEFAULT_ROW_LAYOUT) as (keyof RowLayout)[]) {
    const x = layoutIn[k];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 1) bad(`layout.${k}`, "expected a positive integer");
    layout[k] = x as number;
  }
  const vin = o.vocabularies as Record<string, unknown> | undefined;
  if (typeof vin !== "object" || vin === null) return bad("vocabularies", "expected an object");
  const vocabularies = {} as FeatureArtifacts["vocabularies"];
  for (const k of VOCAB_NAMES) {
    if (!(k in vin)) bad(`vocabularies.${k}`, "missing");
    vocabularies[k] = wrap(() => vocabularyFromJSON(vin[k], `vocabularies.${k}`));
  }
  const ageBuckets = wrap(() => quantileBucketsFromJSON(o.ageBuckets, "ageBuckets"));
  const din = o.dense as Record<string, unknown> | undefined;
  if (typeof din !== "object" || din === null) return bad("dense", "expected an object");
  const dense: Record<string, Normalizer> = {};
  for (const c of DENSE_COLUMNS) {
    if (!(c.name in din)) bad(`dense.${c.name}`, "missing");
    const n = wrap(() => normalizerFromJSON(din[c.name], `dense.${c.name}`));
    if (n.kind !== c.kind) bad(`dense.${c.name}`, `expected kind ${c.kind}, got ${n.kind}`);
    dense[c.name] = n;
  }
  let userTowerDense: string[] | undefined;
  if (o.userTowerDense !== undefined) {
    const known = new Set(DENSE_COLUMNS.map((c) => c.name));
    if (!Array.isArray(o.userTowerDense) || o.userTowerDense.some((n) => typeof n !== "string" || !known.has(n) || !/^(user|ctx)\./.test(n))) {
      bad("userTowerDense", "expected an array of user and clock dense column names");
    }
    userTowerDense = o.userTowerDense as string[];
  }
  return {
    version: FEATURE_ARTIFACTS_VERSION,
    source: o.source as string,
    fittedUntil: o.fittedUntil === null ? Infinity : (o.fittedUntil as number),
    fittedRows: o.fittedRows as number,
    layout,
    vocabularies,
    ageBuckets,
    dense,
    ...(userTowerDense ? { userTowerDense } : {}),
  };
}

/** Writes the artifacts as JSON, atomically (readers never see a half-written file). */
/** The neighbours' file, beside the artifacts' JSON (bundle.ts lists it). */
export const NEIGHBOURS_FILE = "item-neighbours.bin";

export async function saveFeatureArtifacts(path: string, a: FeatureArtifacts): Promise<void> {
  if (a.neighbours) await saveItemNeighbours(join(dirname(path), NEIGHBOURS_FILE), a.neighbours);
  await writeFileAtomic(path, JSON.stringify(featureArtifactsToJSON(a)));
}

/** Reads and validates artifacts. A missing, unreadable or malformed file throws BAD_BUNDLE naming the path. */
export async function loadFeatureArtifacts(path: string): Promise<FeatureArtifacts> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: cannot read feature artifacts: ${(err as Error).message}`, { path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: not valid JSON: ${(err as Error).message}`, { path });
  }
  const artifacts = featureArtifactsFromJSON(json, path);
  const neighboursPath = join(dirname(path), NEIGHBOURS_FILE);
  if (existsSync(neighboursPath)) artifacts.neighbours = await loadItemNeighbours(neighboursPath);
  return artifacts;
}
