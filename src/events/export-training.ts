import { existsSync } from "node:fs";
import { open, readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { applyCatalogueChanges, CATALOG_CHANGES_FILE, readCatalogueLog } from "../catalog/catalog-export";
import type { ReelfeedConfig } from "../config";
import { writeGenericDataset } from "../data/generic-writer";
import { loadDataset } from "../data/load-dataset";
import type { Dataset, Follow, ImpressionEvent, ReelEvent, Subscription, User } from "../data/types";
import { DATASET_ENTITIES, formatValidationReport, validateDataset, type DatasetEntity, type ValidationReport } from "../data/validate";
import { badFile, ReelfeedError } from "../errors";
import { COMPLETION_THRESHOLD } from "../features/aggregates";
import { createRedisEventLog } from "../stores/event-log-redis";
import { connectRedis, redactUrl } from "../stores/redis-client";
import { BUNDLE_FILES, readManifest } from "../training/bundle";
import { activeBundlePath } from "../training/registry";
import { writeDirAtomic } from "../util/fs";
import { silentProgress, type Progress } from "../util/progress";

/**
 * export-training: closes the feedback loop. The served pages the server logged (impressions carrying `served`:
 * model version, head scores, sources) and what clients did next (click, watch, like, ... carrying the page's
 * `trackingId`) sit in the durable event log; this writes them, together with a bundle's catalog and history, as
 * one point-in-time dataset in the generic layout that `npm run train -- --data <out>` reads.
 *
 * Point in time: nothing is pre-aggregated. Every event keeps its own timestamp, so training replays features as
 * they were just before each impression (features/replay.ts), exactly as for any other data.
 *
 * The log is only read, never opened for writing: the file log is read segment by segment without the recovery
 * step a writer runs at open (which cuts a torn tail and would race a live server's in-flight write); an
 * incomplete last line is skipped as not yet acknowledged. The Redis log is read with XRANGE through the same
 * constructor the server uses.
 */
export interface ExportTrainingOptions {
  /** Where the log lives: `paths.varDir` (file log under `<varDir>/events`) or `backends.redisUrl` (Streams). */
  config: ReelfeedConfig;
  /** Folder to write; replaced atomically (it appears complete or not at all). */
  out: string;
  /** Bundle whose catalog and history (its data/ folder) the export starts from. @default config.paths.bundle, else the registry's active bundle (as `serve` picks) */
  bundle?: string;
  /** Keep only events at or after this time, epoch ms (history and log alike); catalog and edges are kept whole. @default undefined (every event) */
  since?: number;
  /** Key prefix of the Redis stream `{prefix}events` (Redis log only). @default config.backends.redisKeyPrefix (the server's) */
  redisKeyPrefix?: string;
  /** Records per log read. @default 10_000 */
  batchSize?: number;
  /** Validation clock (future-timestamp check). @default Date.now() */
  now?: number;
  /** @default silentProgress */
  progress?: Progress;
}

/** One served impression with what followed it, joined by trackingId (impressions-joined.jsonl). */
export interface JoinedImpression {
  trackingId: string;
  userId: string;
  videoId: string;
  /** When the page was served. */
  ts: number;
  position: number;
  surface: string;
  modelVersion: string;
  experiment?: string;
  /** Final blended score, and the probability per ranker head, as served. */
  score: number;
  scores: Record<string, number>;
  sources: string[];
  /** Outcome events joined to it (any video event but impressions). */
  outcomes: number;
  clicked: boolean;
  /** Longest watch reported for it, seconds. */
  watchedSec: number;
  /** A watch reached the ranker's completion threshold (COMPLETION_THRESHOLD of the duration): its completion label. */
  completed: boolean;
  liked: boolean;
  disliked: boolean;
  /** The viewer said "not interested" in it. */
  notInterested: boolean;
}

export interface JoinStats {
  /** Impressions logged by the server (with `served`). */
  servedImpressions: number;
  /** ... of which had no trackingId (cannot be joined). */
  servedWithoutTrackingId: number;
  /** Served impressions repeating an earlier one's (trackingId, video) (the first is kept for the join). */
  duplicateServed: number;
  /** Served impressions with at least one joined outcome. */
  impressionsWithOutcome: number;
  /** Outcome events (video events other than impressions) that carry a trackingId. */
  outcomesWithTrackingId: number;
  /** ... joined to a served impression of the same user and video. */
  joined: number;
  /** ... matching an impression the client logged itself (no `served`: nothing to report on, e.g. imported history). */
  clientJoined: number;
  /** ... whose trackingId matches no impression at all (served before the log began, or a client bug). */
  unjoined: number;
  /** ... whose trackingId names impressions of another user or video (a client bug): not joined. */
  mismatched: number;
}

export interface ExportTrainingResult {
  out: string;
  bundle: string;
  log: { kind: "file" | "redis"; where: string; records: number; duplicates: number; skippedTornBytes: number };
  /** Records written per entity. */
  counts: Record<DatasetEntity, number>;
  /** Logged events that were new relative to the bundle's history (after `since`). */
  loggedEvents: number;
  join: JoinStats;
  validation: ValidationReport;
}

/** The report file written beside the generic layout (the importer ignores it). */
export const JOINED_REPORT_FILE = "impressions-joined.jsonl";

export async function exportTraining(options: ExportTrainingOptions): Promise<ExportTrainingResult> {
  const { config, out, since, redisKeyPrefix = config.backends.redisKeyPrefix, batchSize = 10_000, now = Date.now(), progress = silentProgress } = options;
  if (since !== undefined && !Number.isFinite(since)) throw new ReelfeedError("BAD_USER_INPUT", `since: expected epoch milliseconds, got ${since}`, { argument: "since" });

  const bundle = resolveBundle(config, options.bundle);
  const manifest = await readManifest(bundle);
  const dataDir = join(bundle, BUNDLE_FILES.data);
  if (!existsSync(join(dataDir, "videos.jsonl")) && !existsSync(join(dataDir, "videos.csv"))) {
    throw new ReelfeedError("BAD_BUNDLE", `${bundle}: the bundle has no catalog (${BUNDLE_FILES.data}/ missing; it was trained with includeData: false)`, { path: dataDir });
  }

  // Read the log first: a missing log should fail before the (slower) history load.
  const logged = await readWholeLog(config, { redisKeyPrefix, batchSize, progress });
  progress.log(`export-training: ${logged.events.length} records in the ${logged.kind} event log (${logged.where})`);

  progress.log(`export-training: catalog and history of bundle ${manifest.version} (${bundle})`);
  const { dataset: bundled } = await loadDataset(dataDir, { format: "generic", progress });
  // The live catalogue since the bundle (src/catalog/catalog-export.ts): uploads, edits, takedowns, profiles.
  const catalogue = await readCatalogueLog(config, { redisKeyPrefix, readFileLog: readFileLogReadOnly, batchSize });
  const { dataset: base } = await applyCatalogueChanges(bundled, catalogue.changes, progress);

  const merged = mergeLoggedEvents(base, logged.events, { since });
  const { dataset, report } = validateDataset(merged.dataset, { now, autoCreateUsers: false, autoCreateCreators: false });
  const droppedTotal = Object.values(report.dropped).reduce((a, b) => a + b, 0);
  if (droppedTotal > 0) progress.log(`export-training: validation dropped ${droppedTotal} records\n${formatValidationReport(report)}`);

  const { rows, stats } = joinServedImpressions(dataset.events);
  progress.log(
    `export-training: ${merged.newEvents} logged events added (${logged.duplicates + merged.duplicates} duplicates skipped); ` +
      `${stats.servedImpressions} served impressions, ${stats.impressionsWithOutcome} with an outcome; ` +
      `outcomes with a trackingId: ${stats.joined} joined, ${stats.unjoined} unjoined, ${stats.mismatched} mismatched` +
        (stats.clientJoined ? ` (and ${stats.clientJoined} on client-logged impressions)` : ""),
  );

  await writeDirAtomic(out, async (tmp) => {
    // The generic writer replaces `tmp` atomically itself; the report then joins it before `out` appears.
    await writeGenericDataset(tmp, { ...dataset, source: `export-training:${manifest.source}+log` }, { progress });
    await writeJsonl(join(tmp, JOINED_REPORT_FILE), rows);
    // Every catalogue version with its time: the catalogue as it was at any point (the dataset holds the newest).
    await writeJsonl(join(tmp, CATALOG_CHANGES_FILE), catalogue.changes);
  });
  const counts = Object.fromEntries(DATASET_ENTITIES.map((e) => [e, dataset[e].length])) as Record<DatasetEntity, number>;
  progress.log(`export-training: wrote ${counts.users} users, ${counts.videos} videos, ${counts.events} events and ${JOINED_REPORT_FILE} to ${out}`);
  return {
    out: resolve(out),
    bundle,
    log: { kind: logged.kind, where: logged.where, records: logged.events.length, duplicates: logged.duplicates, skippedTornBytes: logged.tornBytes },
    counts,
    loggedEvents: merged.newEvents,
    join: stats,
    validation: report,
  };
}

function resolveBundle(config: ReelfeedConfig, explicit: string | undefined): string {
  if (explicit) return resolve(explicit);
  const active = config.paths.bundle ?? activeBundlePath(config.paths.varDir);
  if (!active) {
    throw new ReelfeedError(
      "BAD_USER_INPUT",
      `bundle: no --bundle given, no REELFEED_BUNDLE and no active bundle in ${join(config.paths.varDir, "registry.json")}; train one (npm run train) or pass --bundle <dir>`,
      { argument: "bundle" },
    );
  }
  return resolve(active);
}

// Reading the log ------------------------------------------------------------------------------------------------

interface LoggedEvents {
  kind: "file" | "redis";
  where: string;
  /** Unique by id, in log order. */
  events: ReelEvent[];
  /** Records repeating an earlier record's id (the log deduplicates within a window only). */
  duplicates: number;
  tornBytes: number;
}

async function readWholeLog(config: ReelfeedConfig, o: { redisKeyPrefix: string; batchSize: number; progress: Progress }): Promise<LoggedEvents> {
  const ids = new Set<string>();
  const events: ReelEvent[] = [];
  let duplicates = 0;
  const add = (e: ReelEvent): void => {
    if (ids.has(e.id)) duplicates++;
    else {
      ids.add(e.id);
      events.push(e);
    }
  };
  const step = o.progress.step("read event log");
  const { redisUrl } = config.backends;
  if (redisUrl) {
    const redis = await connectRedis({ url: redisUrl });
    try {
      const log = await createRedisEventLog({ redis, keyPrefix: o.redisKeyPrefix });
      try {
        if ((await redis.exists(log.streamKey)) === 0) {
          throw new ReelfeedError(
            "NOT_FOUND",
            `no event log to export: the Redis stream ${log.streamKey} does not exist at ${redactUrl(redisUrl)} (no events were ever recorded with this key prefix)`,
            { key: log.streamKey },
          );
        }
        let cursor: string | undefined;
        for (;;) {
          const records = await log.read(cursor, o.batchSize);
          if (records.length === 0) break;
          for (const r of records) add(r.event);
          cursor = records[records.length - 1].cursor;
          step.tick(records.length);
        }
        // Events the server accepted while Redis was down wait in its local buffer until replayed; replayed ones are
        // also in the stream, so reading both and deduplicating by id misses nothing and counts nothing twice.
        const bufferDir = resolve(config.paths.varDir, "redis-buffer");
        let tornBytes = 0;
        let buffered = 0;
        if (await hasSegments(bufferDir)) {
          tornBytes = await readFileLogReadOnly(bufferDir, (e) => {
            if (ids.has(e.id)) return;
            ids.add(e.id);
            events.push(e);
            buffered++;
          });
        }
        step.done(buffered > 0 ? `${buffered} more from the local buffer ${bufferDir} (not yet replayed into Redis)` : undefined);
        return { kind: "redis", where: `${redactUrl(redisUrl)} ${log.streamKey}`, events, duplicates, tornBytes };
      } finally {
        await log.close();
      }
    } finally {
      redis.disconnect();
    }
  }
  const dir = resolve(config.paths.varDir, "events");
  const tornBytes = await readFileLogReadOnly(dir, (e) => {
    add(e);
    step.tick(1);
  });
  step.done();
  return { kind: "file", where: dir, events, duplicates, tornBytes };
}

const SEGMENT = /^seg-(\d{10})\.jsonl$/;

/**
 * Calls `onEvent` for every complete record of a file event log, in log order, without opening it for writing.
 * Returns the bytes of an incomplete last line skipped (a write in flight, or a torn tail a writer will cut).
 */
export async function readFileLogReadOnly(dir: string, onEvent: (e: ReelEvent) => void): Promise<number> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw badFile(dir, "the event log path is not a folder");
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof ReelfeedError) throw err;
    throw noFileLog(dir, "the folder does not exist");
  }
  const segments = names
    .map((f) => SEGMENT.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (segments.length === 0) throw noFileLog(dir, "it holds no log segments (seg-*.jsonl)");
  let torn = 0;
  for (let i = 0; i < segments.length; i++) {
    const path = join(dir, `seg-${String(segments[i]).padStart(10, "0")}.jsonl`);
    const buf = await readFile(path);
    let start = 0;
    let line = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      line++;
      if (nl > start) onEvent(parseRecord(path, buf.toString("utf8", start, nl), line));
      start = nl + 1;
    }
    if (start < buf.length) {
      // Only the newest segment can have an unterminated tail; anywhere else the log is damaged.
      if (i < segments.length - 1) throw badFile(path, "incomplete last record in a closed segment", line + 1);
      torn += buf.length - start;
    }
  }
  return torn;
}

async function hasSegments(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).some((f) => SEGMENT.test(f));
  } catch {
    return false;
  }
}

function noFileLog(dir: string, why: string): ReelfeedError {
  return new ReelfeedError(
    "NOT_FOUND",
    `no event log to export at ${dir}: ${why}. Serve and record events first (npm start), or point REELFEED_VAR_DIR / --config at the server's var directory (or set REDIS_URL for the Redis log)`,
    { path: dir },
  );
}

function parseRecord(path: string, text: string, line: number): ReelEvent {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch (err) {
    throw badFile(path, `corrupt record: ${(err as Error).message}`, line);
  }
  if (typeof e !== "object" || e === null || typeof (e as { id?: unknown }).id !== "string") throw badFile(path, "corrupt record: not an event", line);
  return e as ReelEvent;
}

// Merging --------------------------------------------------------------------------------------------------------

/**
 * The bundle's dataset plus logged events: events deduplicated by id (history first) and sorted by ts; id-only
 * users added for people who first appeared in the log (new sign-ups the bundle never saw), with `createdAt` at
 * their first event; logged follows become Follow edges and subscribe/unsubscribe update the current
 * subscriptions, the same convention the importers use. Pure.
 */
export function mergeLoggedEvents(
  base: Dataset,
  logged: readonly ReelEvent[],
  options: { since?: number } = {},
): { dataset: Dataset; newEvents: number; duplicates: number } {
  const { since = -Infinity } = options;
  const ids = new Set<string>();
  const events: ReelEvent[] = [];
  for (const e of base.events) {
    if (e.ts < since || ids.has(e.id)) continue;
    ids.add(e.id);
    events.push(e);
  }
  const fresh: ReelEvent[] = [];
  let duplicates = 0;
  for (const e of logged) {
    if (ids.has(e.id)) {
      duplicates++;
      continue;
    }
    ids.add(e.id);
    if (e.ts >= since) fresh.push(e);
  }
  fresh.sort((a, b) => a.ts - b.ts);
  const all = events.concat(fresh).sort((a, b) => a.ts - b.ts);

  const users = base.users.slice();
  const known = new Set(users.map((u) => u.id));
  const addUser = (id: unknown, ts: number): void => {
    if (typeof id !== "string" || known.has(id)) return;
    known.add(id);
    const u: User = { id, createdAt: ts };
    users.push(u);
  };
  const follows: Follow[] = base.follows.slice();
  const followKeys = new Set(follows.map((f) => `${f.followerId}\u0000${f.followeeId}`));
  const subs = new Map<string, Subscription>(base.subscriptions.map((s) => [`${s.userId}\u0000${s.creatorId}`, s]));
  for (const e of fresh) {
    addUser(e.userId, e.ts);
    if (e.type === "follow") {
      addUser(e.followeeId, e.ts);
      const key = `${e.userId}\u0000${e.followeeId}`;
      if (!followKeys.has(key)) {
        followKeys.add(key);
        follows.push({ followerId: e.userId, followeeId: e.followeeId, ts: e.ts });
      }
    } else if (e.type === "subscribe") {
      const key = `${e.userId}\u0000${e.creatorId}`;
      if (!subs.has(key)) subs.set(key, { userId: e.userId, creatorId: e.creatorId, ts: e.ts });
    } else if (e.type === "unsubscribe") {
      subs.delete(`${e.userId}\u0000${e.creatorId}`);
    }
  }
  return {
    dataset: { ...base, users, follows, subscriptions: [...subs.values()].sort((a, b) => a.ts - b.ts), events: all },
    newEvents: fresh.length,
    duplicates,
  };
}

// The join -------------------------------------------------------------------------------------------------------

/**
 * Joins outcomes to the served impression that caused them, by (trackingId, video) with the same user. The server
 * issues one tracking id per served item (`<session>.<position>`); keying on the video as well also joins data whose
 * tracking id names a whole page (the synthetic generator's, some clients'). Rows come in impression order. Pure.
 *
 * The ranker itself (training/examples.ts) labels impressions by (user, video) within time windows, which also
 * works for data without tracking ids; this report shows the exact join so the two can be compared.
 */
export function joinServedImpressions(events: readonly ReelEvent[]): { rows: JoinedImpression[]; stats: JoinStats } {
  const stats: JoinStats = {
    servedImpressions: 0,
    servedWithoutTrackingId: 0,
    duplicateServed: 0,
    impressionsWithOutcome: 0,
    outcomesWithTrackingId: 0,
    joined: 0,
    clientJoined: 0,
    unjoined: 0,
    mismatched: 0,
  };
  const key = (trackingId: string, videoId: string): string => `${trackingId}\u0000${videoId}`;
  const rows: JoinedImpression[] = [];
  const served = new Map<string, JoinedImpression>();
  const clientLogged = new Set<string>();
  const trackingIds = new Set<string>();
  for (const e of events) {
    if (e.type !== "impression") continue;
    if (!e.served) {
      if (e.trackingId) {
        trackingIds.add(e.trackingId);
        clientLogged.add(key(e.trackingId, e.videoId));
      }
      continue;
    }
    stats.servedImpressions++;
    if (!e.trackingId) {
      stats.servedWithoutTrackingId++;
      continue;
    }
    trackingIds.add(e.trackingId);
    const k = key(e.trackingId, e.videoId);
    if (served.has(k)) {
      stats.duplicateServed++;
      continue;
    }
    const row = impressionRow(e as ImpressionEvent & { trackingId: string; served: NonNullable<ImpressionEvent["served"]> });
    served.set(k, row);
    rows.push(row);
  }
  for (const e of events) {
    if (e.type === "impression" || !e.trackingId || !("videoId" in e)) continue;
    stats.outcomesWithTrackingId++;
    const k = key(e.trackingId, e.videoId);
    const row = served.get(k);
    if (!row) {
      if (clientLogged.has(k)) stats.clientJoined++;
      else if (trackingIds.has(e.trackingId)) stats.mismatched++;
      else stats.unjoined++;
      continue;
    }
    if (row.userId !== e.userId) {
      stats.mismatched++;
      continue;
    }
    stats.joined++;
    if (row.outcomes === 0) stats.impressionsWithOutcome++;
    row.outcomes++;
    switch (e.type) {
      case "click":
        row.clicked = true;
        break;
      case "watch":
        row.watchedSec = Math.max(row.watchedSec, e.watchedSec);
        if (e.videoDurationSec > 0 && e.watchedSec / e.videoDurationSec >= COMPLETION_THRESHOLD) row.completed = true;
        break;
      case "like":
        row.liked = true;
        break;
      case "dislike":
        row.disliked = true;
        break;
      case "not_interested":
        row.notInterested = true;
        break;
      default:
        break;
    }
  }
  return { rows, stats };
}

function impressionRow(e: ImpressionEvent & { trackingId: string; served: NonNullable<ImpressionEvent["served"]> }): JoinedImpression {
  return {
    trackingId: e.trackingId,
    userId: e.userId,
    videoId: e.videoId,
    ts: e.ts,
    position: e.position,
    surface: e.surface,
    modelVersion: e.served.modelVersion,
    ...(e.served.experiment !== undefined && { experiment: e.served.experiment }),
    score: e.served.score,
    scores: e.served.scores,
    sources: e.served.sources,
    outcomes: 0,
    clicked: false,
    watchedSec: 0,
    completed: false,
    liked: false,
    disliked: false,
    notInterested: false,
  };
}

async function writeJsonl(path: string, rows: readonly unknown[]): Promise<void> {
  const fh = await open(path, "w");
  try {
    let chunk = "";
    for (const r of rows) {
      chunk += `${JSON.stringify(r)}\n`;
      if (chunk.length >= 1 << 22) {
        await fh.write(chunk);
        chunk = "";
      }
    }
    if (chunk) await fh.write(chunk);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
