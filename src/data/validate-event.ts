import {
  DEVICES,
  EVENT_TYPES,
  SURFACES,
  VIDEO_EVENT_TYPES,
  assertNever,
  type Device,
  type EventType,
  type ReelEvent,
  type ServedInfo,
  type Surface,
} from "./types";

/**
 * The one per-event check, shared by the online edge (the ingestor: recordEvents, POST /events) and offline imports
 * (validateDataset), so a rule means the same thing in both places. It lives with the domain types rather than in
 * src/events so the data layer does not depend on the serving side. Returns a clean, normalized `ReelEvent` (only
 * the fields its type defines, `ts` as epoch ms, country upper case) or the first problem as a machine-readable
 * code and the offending field, so a client can fix exactly that event; a bad event never rejects its batch.
 *
 * Absent means undefined or null (GraphQL inputs carry explicit nulls for fields a client left out); a required
 * string that is empty (or blank, for free text) is missing too, while an optional one sent empty is invalid.
 */

export type EventRejectCode =
  | "INVALID_EVENT" // not a JSON object
  | "INVALID_JSON" // (HTTP) the line is not JSON at all
  | "MISSING_FIELD"
  | "INVALID_FIELD"
  | "UNKNOWN_TYPE"
  | "FUTURE_TIMESTAMP"
  | "STALE_TIMESTAMP";

export type EventCheck =
  | { ok: true; event: ReelEvent }
  | { ok: false; code: EventRejectCode; field?: string; message: string };

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
/** The default absolute floor for event times; it also catches epoch seconds written where ms belong. */
export const DEFAULT_MIN_TS = Date.UTC(1995, 0, 1);

/** Bounds an event must satisfy. The defaults are the online edge's; validateDataset sets the offline ones. */
export interface EventValidationOptions {
  /** Clock used for the timestamp window. @default Date.now */
  now?: () => number;
  /** Events further than this in the future are rejected (client clock skew allowance). @default 300_000 (5 min) */
  maxFutureSkewMs?: number;
  /**
   * Events older than `now - horizonDays` are rejected as stale (config events.horizonDays). Offline history is
   * old by nature: validateDataset passes Infinity (no relative horizon) unless told otherwise.
   * @default 10_950 (30 years)
   */
  horizonDays?: number;
  /**
   * Absolute floor for any event time: earlier ones are stale. It also catches epoch *seconds* written where
   * milliseconds belong (they land in January 1970). @default Date.UTC(1995, 0, 1)
   */
  minTs?: number;
  /** Longest id (event, user, video, creator, session...). @default 256 */
  maxIdLength?: number;
  /** Longest free text (comment, search query, report reason). @default 10_000 */
  maxTextLength?: number;
  /**
   * Whether a watch must carry its video's duration (`videoDurationSec > 0`). Online clients may not know it and
   * send 0 ("unknown": the aggregates then use the catalog's duration, see the EventInput docs); offline imports
   * require it (validateDataset sets it, docs/data-formats.md). @default false
   */
  requireVideoDuration?: boolean;
}

/** The longest plausible watch of a single video: a week of seconds. Anything larger is a client bug. */
const MAX_SECONDS = 7 * 24 * 3600;
const PROGRESS_PERCENTS = new Set([25, 50, 75, 100]);
const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const DEVICE_SET: ReadonlySet<string> = new Set(DEVICES);
const SURFACE_SET: ReadonlySet<string> = new Set(SURFACES);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

class Reject {
  constructor(
    readonly code: EventRejectCode,
    readonly field: string | undefined,
    readonly message: string,
  ) {}
}

function reject(code: EventRejectCode, field: string | undefined, message: string): never {
  throw new Reject(code, field, message);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

export function validateEvent(raw: unknown, options: EventValidationOptions = {}): EventCheck {
  try {
    return { ok: true, event: parseEvent(raw, options) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, code: err.code, field: err.field, message: err.message };
    throw err;
  }
}

/**
 * Typed field readers over one raw event. A class (methods on the prototype) rather than closures made per event:
 * ingestion validates tens of thousands of events a second, and per-event closures were most of its cost.
 */
class EventFields {
  constructor(
    private readonly r: Record<string, unknown>,
    private readonly maxIdLength: number,
    private readonly maxTextLength: number,
  ) {}

  id(field: string): string {
    const v = this.r[field];
    if (!present(v) || v === "") reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "string") reject("INVALID_FIELD", field, `${field} must be a non-empty string`);
    if (v.length > this.maxIdLength) reject("INVALID_FIELD", field, `${field} is longer than ${this.maxIdLength} characters`);
    return v;
  }

  optId(field: string): string | undefined {
    if (!present(this.r[field])) return undefined;
    if (this.r[field] === "") reject("INVALID_FIELD", field, `${field} must be a non-empty string (or left out)`);
    return this.id(field);
  }

  text(field: string): string {
    const v = this.r[field];
    if (!present(v) || (typeof v === "string" && v.trim().length === 0)) reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "string") reject("INVALID_FIELD", field, `${field} must be a non-empty string`);
    if (v.length > this.maxTextLength) reject("INVALID_FIELD", field, `${field} is longer than ${this.maxTextLength} characters`);
    return v;
  }

  optText(field: string): string | undefined {
    const v = this.r[field];
    if (!present(v)) return undefined;
    if (typeof v === "string" && v.trim().length === 0) reject("INVALID_FIELD", field, `${field} must be a non-empty string (or left out)`);
    return this.text(field);
  }

  num(field: string, min: number, max: number, integer = false): number {
    const v = this.r[field];
    if (!present(v)) reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "number" || !Number.isFinite(v)) reject("INVALID_FIELD", field, `${field} must be a finite number`);
    if (integer && !Number.isInteger(v)) reject("INVALID_FIELD", field, `${field} must be an integer`);
    if (v < min || v > max) reject("INVALID_FIELD", field, `${field} must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  bool(field: string): boolean {
    const v = this.r[field];
    if (!present(v)) reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "boolean") reject("INVALID_FIELD", field, `${field} must be true or false`);
    return v;
  }

  surface(field: string): Surface {
    const v = this.r[field];
    if (!present(v)) reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "string" || !SURFACE_SET.has(v)) reject("INVALID_FIELD", field, `${field} must be one of ${SURFACES.join(", ")}`);
    return v as Surface;
  }

  idList(field: string): string[] {
    const v = this.r[field];
    if (!Array.isArray(v) || v.length > 1000 || !v.every((x) => typeof x === "string" && x.length > 0 && x.length <= this.maxIdLength)) {
      reject("INVALID_FIELD", field, `${field} must be a list of at most 1000 non-empty strings`);
    }
    return v.slice() as string[];
  }
}

function parseEvent(raw: unknown, options: EventValidationOptions): ReelEvent {
  const {
    now = Date.now,
    maxFutureSkewMs = 5 * MINUTE_MS,
    horizonDays = 365 * 30,
    minTs = DEFAULT_MIN_TS,
    maxIdLength = 256,
    maxTextLength = 10_000,
    requireVideoDuration = false,
  } = options;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) reject("INVALID_EVENT", undefined, "an event must be a JSON object");
  const r = raw as Record<string, unknown>;

  const f = new EventFields(r, maxIdLength, maxTextLength);

  const eventId = f.id("id");
  if (!present(r.type)) reject("MISSING_FIELD", "type", "type is required");
  if (typeof r.type !== "string" || !EVENT_TYPE_SET.has(r.type)) {
    reject("UNKNOWN_TYPE", "type", `unknown event type ${JSON.stringify(r.type)}; expected one of ${EVENT_TYPES.join(", ")}`);
  }
  const type = r.type as EventType;
  const userId = f.id("userId");
  const ts = parseTs(r.ts);
  const t = now();
  if (ts > t + maxFutureSkewMs) reject("FUTURE_TIMESTAMP", "ts", `ts is ${ts - t} ms in the future (allowed skew ${maxFutureSkewMs} ms)`);
  if (ts < minTs) {
    const hint = ts < 1e11 ? " (seconds instead of milliseconds?)" : "";
    reject("STALE_TIMESTAMP", "ts", `ts ${iso(ts)} is before ${iso(minTs)}${hint}`);
  }
  if (ts < t - horizonDays * DAY_MS) reject("STALE_TIMESTAMP", "ts", `ts is older than the ${horizonDays}-day horizon`);

  const base: Record<string, unknown> = { id: eventId, type, userId, ts };
  const sessionId = f.optId("sessionId");
  if (sessionId !== undefined) base.sessionId = sessionId;
  const trackingId = f.optId("trackingId");
  if (trackingId !== undefined) base.trackingId = trackingId;
  if (present(r.device)) {
    if (typeof r.device !== "string" || !DEVICE_SET.has(r.device)) reject("INVALID_FIELD", "device", `device must be one of ${DEVICES.join(", ")}`);
    base.device = r.device as Device;
  }
  if (present(r.country)) {
    if (typeof r.country !== "string" || !/^[A-Za-z]{2}$/.test(r.country)) reject("INVALID_FIELD", "country", "country must be an ISO 3166-1 alpha-2 code");
    base.country = r.country.toUpperCase();
  }
  if (VIDEO_EVENT_TYPES.has(type)) base.videoId = f.id("videoId");

  switch (type) {
    case "impression":
      base.position = f.num("position", 0, 1_000_000, true);
      base.surface = f.surface("surface");
      if (present(r.served)) base.served = parseServed(r.served, maxIdLength);
      break;
    case "click":
      if (present(r.surface)) base.surface = f.surface("surface");
      if (present(r.position)) base.position = f.num("position", 0, 1_000_000, true);
      break;
    case "start":
    case "like":
    case "dislike":
    case "not_interested":
      break;
    case "watch":
      base.watchedSec = f.num("watchedSec", 0, MAX_SECONDS);
      base.videoDurationSec = f.num("videoDurationSec", 0, MAX_SECONDS);
      if (requireVideoDuration && base.videoDurationSec === 0) reject("INVALID_FIELD", "videoDurationSec", "videoDurationSec must be > 0");
      break;
    case "progress": {
      const percent = f.num("percent", 0, 100, true);
      if (!PROGRESS_PERCENTS.has(percent)) reject("INVALID_FIELD", "percent", "percent must be 25, 50, 75 or 100");
      base.percent = percent;
      break;
    }
    case "pause":
    case "resume":
      base.positionSec = f.num("positionSec", 0, MAX_SECONDS);
      break;
    case "seek":
      base.fromSec = f.num("fromSec", 0, MAX_SECONDS);
      base.toSec = f.num("toSec", 0, MAX_SECONDS);
      break;
    case "search":
      base.query = f.text("query");
      if (present(r.clickedVideoIds)) base.clickedVideoIds = f.idList("clickedVideoIds");
      break;
    case "dwell":
      base.dwellMs = f.num("dwellMs", 0, DAY_MS);
      base.scrolledPast = f.bool("scrolledPast");
      break;
    case "comment":
      base.text = f.text("text");
      break;
    case "share": {
      const target = f.optText("target");
      if (target !== undefined) base.target = target;
      break;
    }
    case "subscribe": {
      base.creatorId = f.id("creatorId");
      const sourceVideoId = f.optId("sourceVideoId");
      if (sourceVideoId !== undefined) base.sourceVideoId = sourceVideoId;
      break;
    }
    case "unsubscribe":
    case "block_creator":
      base.creatorId = f.id("creatorId");
      break;
    case "follow":
      base.followeeId = f.id("followeeId");
      if (base.followeeId === userId) reject("INVALID_FIELD", "followeeId", "a user cannot follow themselves");
      break;
    case "save": {
      const playlistId = f.optId("playlistId");
      if (playlistId !== undefined) base.playlistId = playlistId;
      break;
    }
    case "report":
      base.reason = f.text("reason");
      break;
    default:
      assertNever(type, "event type");
  }
  return base as unknown as ReelEvent;
}

/** A time for a message; never throws (a floor of -Infinity or a huge number has no ISO form). */
function iso(ms: number): string {
  return Number.isNaN(new Date(ms).getTime()) ? String(ms) : new Date(ms).toISOString();
}

/** Epoch milliseconds, or an ISO-8601 date-time string (clients in other languages send those). */
function parseTs(v: unknown): number {
  if (!present(v) || v === "") reject("MISSING_FIELD", "ts", "ts is required");
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) reject("INVALID_FIELD", "ts", "ts must be epoch milliseconds");
    return Math.round(v);
  }
  if (typeof v === "string" && ISO_DATE.test(v)) {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms;
  }
  return reject("INVALID_FIELD", "ts", "ts must be epoch milliseconds or an ISO-8601 date-time");
}

function parseServed(v: unknown, maxIdLength: number): ServedInfo {
  if (typeof v !== "object" || v === null || Array.isArray(v)) reject("INVALID_FIELD", "served", "served must be an object");
  const s = v as Record<string, unknown>;
  if (typeof s.modelVersion !== "string" || s.modelVersion.length === 0 || s.modelVersion.length > maxIdLength) {
    reject("INVALID_FIELD", "served.modelVersion", "served.modelVersion must be a non-empty string");
  }
  if (typeof s.score !== "number" || !Number.isFinite(s.score)) reject("INVALID_FIELD", "served.score", "served.score must be a finite number");
  const scores = s.scores;
  if (typeof scores !== "object" || scores === null || Array.isArray(scores)) reject("INVALID_FIELD", "served.scores", "served.scores must be an object");
  const cleanScores: Record<string, number> = {};
  for (const [head, p] of Object.entries(scores as Record<string, unknown>)) {
    if (typeof p !== "number" || !Number.isFinite(p)) reject("INVALID_FIELD", `served.scores.${head}`, "scores must be finite numbers");
    cleanScores[head] = p;
  }
  if (!Array.isArray(s.sources) || !s.sources.every((x) => typeof x === "string")) {
    reject("INVALID_FIELD", "served.sources", "served.sources must be a list of strings");
  }
  const out: ServedInfo = { modelVersion: s.modelVersion, scores: cleanScores, score: s.score, sources: (s.sources as string[]).slice() };
  if (present(s.experiment)) {
    if (typeof s.experiment !== "string") reject("INVALID_FIELD", "served.experiment", "served.experiment must be a string");
    out.experiment = s.experiment;
  }
  return out;
}
