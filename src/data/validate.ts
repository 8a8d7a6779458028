/**
 * Validation of a whole dataset (offline import). Each event goes through `validateEvent` (./validate-event, the
 * check online ingestion uses too, so a rule means the same thing in both places); this module adds the entity
 * checks and the dataset-level rules. Nothing here throws for bad data: every record is kept or dropped,
 * and every drop is counted under one rule, with a few examples, so an operator can see what was lost and why.
 *
 * Rules are applied in this order and a record is counted under the first rule that drops it:
 * shape (missing_id, missing_timestamp, invalid_field, future/stale_timestamp) → duplicates (duplicate,
 * conflicting_id) → references (unknown_user, unknown_video, unknown_creator) → bot_user.
 */
import {
  DEVICES,
  type Creator,
  type Dataset,
  type EventType,
  type Follow,
  type PolicyFlag,
  type ReelEvent,
  type Subscription,
  type User,
  type Video,
} from "./types";
import { DAY_MS, MINUTE_MS, validateEvent, type EventRejectCode, type EventValidationOptions } from "./validate-event";

export const DATASET_ENTITIES = ["users", "creators", "videos", "follows", "subscriptions", "events"] as const;
export type DatasetEntity = (typeof DATASET_ENTITIES)[number];

export const VALIDATION_RULES = [
  "malformed_row",
  "missing_id",
  "missing_timestamp",
  "invalid_field",
  "future_timestamp",
  "stale_timestamp",
  "duplicate",
  "conflicting_id",
  "unknown_user",
  "unknown_video",
  "unknown_creator",
  "bot_user",
] as const;
export type ValidationRule = (typeof VALIDATION_RULES)[number];

export interface ValidationReport {
  /** Records handed to validation, per entity (rows that did not parse are under dropped.malformed_row). */
  input: Record<DatasetEntity, number>;
  /** Records in the validated dataset, per entity (auto-created ones included). */
  kept: Record<DatasetEntity, number>;
  /** Id-only records created for ids that events or edges mention when the source had no list of them. */
  created: Record<DatasetEntity, number>;
  /** Records dropped, per rule; every rule is present, 0 when it never fired. */
  dropped: Record<ValidationRule, number>;
  /** Up to `maxExamples` examples per rule. */
  examples: Record<ValidationRule, string[]>;
  /** Users whose events were dropped as bot-like, sorted. */
  botUsers: string[];
}

/** Options for {@link validateDataset}. */
export interface ValidateOptions extends Omit<EventValidationOptions, "now" | "horizonDays" | "requireVideoDuration"> {
  /** The instant every event's time window is judged against: one for the whole dataset. @default Date.now() */
  now?: number;
  /**
   * Events older than `now - horizonDays` are stale. Offline history is old by nature, so there is no relative
   * horizon unless one is given (the absolute `minTs` floor still applies). @default Infinity
   */
  horizonDays?: number;
  /** Watch events must carry the video's duration (`videoDurationSec > 0`). @default true */
  requireVideoDuration?: boolean;
  /**
   * Create id-only users for ids that events and edges mention but `users` lacks, instead of dropping those
   * records as unknown_user. Right when the source has no user list. @default ds.users.length === 0
   */
  autoCreateUsers?: boolean;
  /** Same for creators (videos, subscriptions, subscribe/block events). @default ds.creators.length === 0 */
  autoCreateCreators?: boolean;
  /**
   * A user is bot-like with more than this many actions within any 60-second window. Calibrated on MovieLens,
   * where people rate films in bursts on sign-up (a few per second at most): only scripted-looking sprees pass
   * it (docs/data-formats.md). @default 120
   */
  botMaxPerMinute?: number;
  /** ... or more than this many actions within any 24-hour window. @default 5000 */
  botMaxPerDay?: number;
  /**
   * Event types that count as actions for the bot rule. Player telemetry (progress, pause, seek, ...) and server
   * logged impressions come in bursts for every real view, so they do not count.
   * @default BOT_ACTION_TYPES
   */
  botActionTypes?: ReadonlySet<EventType>;
  /** Examples kept per rule. @default 3 */
  maxExamples?: number;
}

export const BOT_ACTION_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  "click",
  "watch",
  "search",
  "like",
  "dislike",
  "comment",
  "share",
  "subscribe",
  "unsubscribe",
  "follow",
  "save",
  "not_interested",
  "report",
  "block_creator",
]);


const POLICY_FLAGS: ReadonlySet<string> = new Set<PolicyFlag>([
  "violence",
  "adult",
  "spam",
  "copyright",
  "misinformation",
  "removed",
]);
const DEVICE_SET: ReadonlySet<string> = new Set(DEVICES);

/** Thrown inside the field readers, caught at the top of each check: one failure ends a record's check. */
class Invalid {
  constructor(
    readonly code: "MISSING_FIELD" | "INVALID_FIELD",
    readonly field: string,
    readonly message: string,
  ) {}
}

type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);
const absent = (x: unknown) => x === undefined || x === null || x === "";

function reqString(o: Obj, field: string): string {
  const v = o[field];
  if (absent(v)) throw new Invalid("MISSING_FIELD", field, `${field} is required`);
  if (typeof v !== "string") throw new Invalid("INVALID_FIELD", field, `${field} must be a string`);
  return v;
}
function optString(o: Obj, field: string): string | undefined {
  const v = o[field];
  if (absent(v)) return undefined;
  if (typeof v !== "string") throw new Invalid("INVALID_FIELD", field, `${field} must be a string`);
  return v;
}
function reqNumber(o: Obj, field: string, min = -Infinity, exclusiveMin = false): number {
  const v = o[field];
  if (absent(v)) throw new Invalid("MISSING_FIELD", field, `${field} is required`);
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Invalid("INVALID_FIELD", field, `${field} must be a finite number`);
  if (exclusiveMin ? v <= min : v < min) {
    throw new Invalid("INVALID_FIELD", field, `${field} must be ${exclusiveMin ? ">" : "≥"} ${min}, got ${v}`);
  }
  return v;
}
function optNumber(o: Obj, field: string, min = -Infinity): number | undefined {
  return absent(o[field]) ? undefined : reqNumber(o, field, min);
}
function optBoolean(o: Obj, field: string): boolean | undefined {
  const v = o[field];
  if (absent(v)) return undefined;
  if (typeof v !== "boolean") throw new Invalid("INVALID_FIELD", field, `${field} must be true or false`);
  return v;
}
function optStringList(o: Obj, field: string): string[] | undefined {
  const v = o[field];
  if (absent(v)) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new Invalid("INVALID_FIELD", field, `${field} must be a list of strings`);
  }
  return v as string[];
}
function optEnum<T extends string>(o: Obj, field: string, allowed: ReadonlySet<string>): T | undefined {
  const v = o[field];
  if (absent(v)) return undefined;
  if (typeof v !== "string" || !allowed.has(v)) {
    throw new Invalid("INVALID_FIELD", field, `${field} must be one of ${[...allowed].join(", ")}`);
  }
  return v as T;
}
/** Copies only the fields that are present, so a checked record has no `undefined` keys. */
function put(target: Obj, field: string, value: unknown): void {
  if (value !== undefined) target[field] = value;
}

type EntityCheck<T> = { ok: true; value: T } | { ok: false; rule: ValidationRule; message: string };

/** Maps a field failure (of an entity or an event) to the rule it is counted under. */
function ruleOf(code: EventRejectCode, field: string | undefined): ValidationRule {
  if (code === "FUTURE_TIMESTAMP") return "future_timestamp";
  if (code === "STALE_TIMESTAMP") return "stale_timestamp";
  if (code === "MISSING_FIELD" && field !== undefined) {
    if (field === "ts" || field === "uploadedAt") return "missing_timestamp";
    if (field === "id" || /Id$/.test(field)) return "missing_id";
  }
  return "invalid_field";
}

function entityCheck<T>(raw: unknown, build: (o: Obj) => T): EntityCheck<T> {
  if (!isObj(raw)) return { ok: false, rule: "invalid_field", message: "not an object" };
  try {
    return { ok: true, value: build(raw) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, rule: ruleOf(err.code, err.field), message: err.message };
    throw err;
  }
}

export function checkUser(raw: unknown): EntityCheck<User> {
  return entityCheck(raw, (o) => {
    const u: Obj = { id: reqString(o, "id") };
    const age = optNumber(o, "age", 0);
    if (age !== undefined && (!Number.isInteger(age) || age > 130)) {
      throw new Invalid("INVALID_FIELD", "age", `age must be a whole number of years in [0, 130], got ${age}`);
    }
    put(u, "age", age);
    put(u, "gender", optString(o, "gender"));
    put(u, "occupation", optString(o, "occupation"));
    put(u, "country", optString(o, "country"));
    put(u, "language", optString(o, "language"));
    put(u, "createdAt", optNumber(o, "createdAt"));
    put(u, "device", optEnum(o, "device", DEVICE_SET));
    return u as unknown as User;
  });
}

export function checkCreator(raw: unknown): EntityCheck<Creator> {
  return entityCheck(raw, (o) => {
    const c: Obj = { id: reqString(o, "id") };
    put(c, "name", optString(o, "name"));
    put(c, "country", optString(o, "country"));
    put(c, "language", optString(o, "language"));
    put(c, "createdAt", optNumber(o, "createdAt"));
    return c as unknown as Creator;
  });
}

export function checkVideo(raw: unknown): EntityCheck<Video> {
  return entityCheck(raw, (o) => {
    const v: Obj = { id: reqString(o, "id"), creatorId: reqString(o, "creatorId") };
    const title = o.title;
    if (title === undefined || title === null) throw new Invalid("MISSING_FIELD", "title", "title is required");
    if (typeof title !== "string") throw new Invalid("INVALID_FIELD", "title", "title must be a string");
    v.title = title;
    put(v, "description", optString(o, "description"));
    v.tags = [...(optStringList(o, "tags") ?? [])];
    v.category = optString(o, "category") ?? "unknown";
    put(v, "language", optString(o, "language"));
    v.durationSec = reqNumber(o, "durationSec", 0, true);
    v.uploadedAt = reqNumber(o, "uploadedAt");
    put(v, "ageRestricted", optBoolean(o, "ageRestricted"));
    const flags = optStringList(o, "policyFlags");
    if (flags?.some((f) => !POLICY_FLAGS.has(f))) {
      throw new Invalid("INVALID_FIELD", "policyFlags", `policyFlags must be among ${[...POLICY_FLAGS].join(", ")}`);
    }
    if (flags) v.policyFlags = [...flags];
    const blocked = optStringList(o, "blockedRegions");
    if (blocked) v.blockedRegions = [...blocked];
    return v as unknown as Video;
  });
}

export function checkFollow(raw: unknown): EntityCheck<Follow> {
  return entityCheck(raw, (o) => ({
    followerId: reqString(o, "followerId"),
    followeeId: reqString(o, "followeeId"),
    ts: reqNumber(o, "ts"),
  }));
}

export function checkSubscription(raw: unknown): EntityCheck<Subscription> {
  return entityCheck(raw, (o) => ({ userId: reqString(o, "userId"), creatorId: reqString(o, "creatorId"), ts: reqNumber(o, "ts") }));
}

function emptyCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** A report with nothing in it; loaders add their malformed rows before validation. */
export function emptyValidationReport(): ValidationReport {
  return {
    input: emptyCounts(DATASET_ENTITIES),
    kept: emptyCounts(DATASET_ENTITIES),
    created: emptyCounts(DATASET_ENTITIES),
    dropped: emptyCounts(VALIDATION_RULES),
    examples: Object.fromEntries(VALIDATION_RULES.map((r) => [r, []])) as unknown as Record<ValidationRule, string[]>,
    botUsers: [],
  };
}

const stableKey = (x: unknown) => JSON.stringify(x);

/**
 * Validates a dataset: returns a new dataset holding only valid, unique, resolvable records (events sorted by
 * ts, stable) and a report of what was dropped. For repeated ids the first record in input order is kept.
 */
export function validateDataset(ds: Dataset, options: ValidateOptions = {}): { dataset: Dataset; report: ValidationReport } {
  const {
    autoCreateUsers = ds.users.length === 0,
    autoCreateCreators = ds.creators.length === 0,
    botMaxPerMinute = 120,
    botMaxPerDay = 5000,
    botActionTypes = BOT_ACTION_TYPES,
    maxExamples = 3,
  } = options;
  const { now = Date.now(), horizonDays = Infinity, requireVideoDuration = true, maxFutureSkewMs, minTs, maxIdLength, maxTextLength } = options;
  // Left-out bounds stay undefined, so validateEvent's defaults apply.
  const eventOptions: EventValidationOptions = { now: () => now, horizonDays, requireVideoDuration, maxFutureSkewMs, minTs, maxIdLength, maxTextLength };
  const report = emptyValidationReport();
  for (const entity of DATASET_ENTITIES) report.input[entity] = ds[entity].length;
  const drop = (rule: ValidationRule, example: string) => {
    report.dropped[rule]++;
    if (report.examples[rule].length < maxExamples) report.examples[rule].push(example);
  };

  /** Entities keyed by id: first wins; an identical repeat is a duplicate, a different one a conflict. */
  function byId<T extends { id: string }>(entity: DatasetEntity, list: readonly unknown[], check: (raw: unknown) => EntityCheck<T>) {
    const kept = new Map<string, T>();
    list.forEach((raw, i) => {
      const r = check(raw);
      if (!r.ok) return drop(r.rule, `${entity}[${i}]${idOf(raw)}: ${r.message}`);
      const prev = kept.get(r.value.id);
      if (!prev) kept.set(r.value.id, r.value);
      else if (stableKey(prev) === stableKey(r.value)) drop("duplicate", `${entity} ${r.value.id}: exact duplicate`);
      else drop("conflicting_id", `${entity} ${r.value.id}: same id, different content`);
    });
    return kept;
  }

  const creators = byId("creators", ds.creators, checkCreator);
  const users = byId("users", ds.users, checkUser);
  const videosChecked = byId("videos", ds.videos, checkVideo);
  const createdUsers: User[] = [];
  const createdCreators: Creator[] = [];
  /** True when the user is known (or was just created); counts the drop otherwise. */
  const resolveUser = (id: string, what: string): boolean => {
    if (users.has(id)) return true;
    if (!autoCreateUsers) {
      drop("unknown_user", `${what}: unknown user ${id}`);
      return false;
    }
    const u: User = { id };
    users.set(id, u);
    createdUsers.push(u);
    return true;
  };
  const resolveCreator = (id: string, what: string): boolean => {
    if (creators.has(id)) return true;
    if (!autoCreateCreators) {
      drop("unknown_creator", `${what}: unknown creator ${id}`);
      return false;
    }
    const c: Creator = { id };
    creators.set(id, c);
    createdCreators.push(c);
    return true;
  };

  const videos = new Map<string, Video>();
  for (const v of videosChecked.values()) if (resolveCreator(v.creatorId, `video ${v.id}`)) videos.set(v.id, v);

  // Events: shape, then id uniqueness, then references.
  const eventsById = new Map<string, { event: ReelEvent; key?: string }>();
  const events: ReelEvent[] = [];
  ds.events.forEach((raw, i) => {
    const r = validateEvent(raw, eventOptions);
    if (!r.ok) return drop(ruleOf(r.code, r.field), `event[${i}]${idOf(raw)}: ${r.message}`);
    const e = r.event;
    const prev = eventsById.get(e.id);
    if (prev) {
      prev.key ??= stableKey(prev.event);
      if (prev.key === stableKey(e)) drop("duplicate", `event ${e.id}: exact duplicate`);
      else drop("conflicting_id", `event ${e.id}: same id, different content`);
      return;
    }
    eventsById.set(e.id, { event: e });
    const what = `event ${e.id}`;
    if ("videoId" in e && !videos.has(e.videoId)) return drop("unknown_video", `${what}: unknown video ${e.videoId}`);
    if (!resolveUser(e.userId, what)) return;
    if (e.type === "follow" && !resolveUser(e.followeeId, what)) return;
    if ((e.type === "subscribe" || e.type === "unsubscribe" || e.type === "block_creator") && !resolveCreator(e.creatorId, what)) return;
    events.push(e);
  });
  events.sort((a, b) => a.ts - b.ts);

  // Bot-like users: sliding windows over each user's actions, in time order.
  // Events on the same target at the very same instant are one gesture (a MovieLens rating is both a watch and a
  // like), so they count once; many targets at one instant still count each (second-resolution bulk ratings).
  const actionTimes = new Map<string, { times: number[]; lastTs: number; targets: Set<string> }>();
  for (const e of events) {
    if (!botActionTypes.has(e.type)) continue;
    const target = "videoId" in e ? e.videoId : e.type;
    let acc = actionTimes.get(e.userId);
    if (!acc) actionTimes.set(e.userId, (acc = { times: [], lastTs: NaN, targets: new Set() }));
    if (acc.lastTs !== e.ts) {
      acc.lastTs = e.ts;
      acc.targets.clear();
    } else if (acc.targets.has(target)) continue;
    acc.targets.add(target);
    acc.times.push(e.ts);
  }
  const bots = new Map<string, string>();
  for (const [userId, { times }] of actionTimes) {
    const perMinute = maxInWindow(times, MINUTE_MS);
    const perDay = maxInWindow(times, DAY_MS);
    if (perMinute > botMaxPerMinute) bots.set(userId, `${perMinute} actions within 60 s (limit ${botMaxPerMinute})`);
    else if (perDay > botMaxPerDay) bots.set(userId, `${perDay} actions within 24 h (limit ${botMaxPerDay})`);
  }
  let keptEvents = events;
  if (bots.size > 0) {
    keptEvents = [];
    const examplesPerBot = new Map<string, number>();
    for (const e of events) {
      const why = bots.get(e.userId);
      if (why === undefined) {
        keptEvents.push(e);
        continue;
      }
      report.dropped.bot_user++;
      // One example per bot user (its reason) is more telling than three events of the same user.
      if (!examplesPerBot.has(e.userId) && report.examples.bot_user.length < maxExamples) {
        report.examples.bot_user.push(`user ${e.userId}: ${why}`);
        examplesPerBot.set(e.userId, 1);
      }
    }
    report.botUsers = [...bots.keys()].sort();
  }

  /** Edges: shape, duplicates by (from, to) pair (first wins), then references (`resolves` counts the drop). */
  function edges<T>(
    entity: "follows" | "subscriptions",
    list: readonly unknown[],
    check: (raw: unknown) => EntityCheck<T>,
    ends: (edge: T) => [from: string, to: string],
    resolves: (edge: T, what: string) => boolean,
  ): T[] {
    const kind = entity === "follows" ? "follow" : "subscription";
    const kept: T[] = [];
    const seen = new Map<string, string>();
    list.forEach((raw, i) => {
      const r = check(raw);
      if (!r.ok) return drop(r.rule, `${entity}[${i}]: ${r.message}`);
      const [from, to] = ends(r.value);
      const what = `${kind} ${from}→${to}`;
      const pair = `${from}\u0000${to}`;
      const prev = seen.get(pair);
      if (prev !== undefined) return drop(prev === stableKey(r.value) ? "duplicate" : "conflicting_id", `${what}: repeated`);
      seen.set(pair, stableKey(r.value));
      if (resolves(r.value, what)) kept.push(r.value);
    });
    return kept;
  }
  const follows = edges(
    "follows",
    ds.follows,
    checkFollow,
    (f) => [f.followerId, f.followeeId],
    (f, what) => resolveUser(f.followerId, what) && resolveUser(f.followeeId, what),
  );
  const subscriptions = edges(
    "subscriptions",
    ds.subscriptions,
    checkSubscription,
    (s) => [s.userId, s.creatorId],
    (s, what) => resolveUser(s.userId, what) && resolveCreator(s.creatorId, what),
  );

  const dataset: Dataset = {
    source: ds.source,
    users: [...users.values()],
    creators: [...creators.values()],
    videos: [...videos.values()],
    follows,
    subscriptions,
    events: keptEvents,
  };
  for (const entity of DATASET_ENTITIES) report.kept[entity] = dataset[entity].length;
  report.created.users = createdUsers.length;
  report.created.creators = createdCreators.length;
  return { dataset, report };
}

function idOf(raw: unknown): string {
  return isObj(raw) && typeof raw.id === "string" && raw.id ? ` (${raw.id})` : "";
}

/** Most entries of a sorted list that fit in any window [t, t + windowMs). */
export function maxInWindow(sortedTimes: readonly number[], windowMs: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sortedTimes.length; hi++) {
    while (sortedTimes[hi] - sortedTimes[lo] >= windowMs) lo++;
    if (hi - lo + 1 > best) best = hi - lo + 1;
  }
  return best;
}

const RULE_HELP: Record<ValidationRule, string> = {
  malformed_row: "rows that could not be parsed",
  missing_id: "records without a required id",
  missing_timestamp: "records without a timestamp",
  invalid_field: "fields of the wrong type or out of range",
  future_timestamp: "events in the future",
  stale_timestamp: "events older than the horizon",
  duplicate: "exact duplicates",
  conflicting_id: "repeated ids with different content",
  unknown_user: "references to unknown users",
  unknown_video: "references to unknown videos",
  unknown_creator: "references to unknown creators",
  bot_user: "events of bot-like users",
};

/** A short human-readable summary (the CLI prints it after an import). */
export function formatValidationReport(report: ValidationReport): string {
  const lines: string[] = [];
  const entities = DATASET_ENTITIES.map((e) => {
    const created = report.created[e] ? `, ${report.created[e]} created` : "";
    return `  ${e.padEnd(13)} ${String(report.kept[e]).padStart(9)} kept of ${report.input[e]}${created}`;
  });
  lines.push("records:", ...entities);
  const fired = VALIDATION_RULES.filter((r) => report.dropped[r] > 0);
  if (fired.length === 0) lines.push("dropped: nothing");
  else {
    lines.push("dropped:");
    for (const rule of fired) {
      lines.push(`  ${rule.padEnd(17)} ${String(report.dropped[rule]).padStart(9)}  ${RULE_HELP[rule]}`);
      for (const ex of report.examples[rule]) lines.push(`      e.g. ${ex}`);
    }
  }
  if (report.botUsers.length > 0) {
    const shown = report.botUsers.slice(0, 20).join(", ");
    lines.push(`bot-like users (${report.botUsers.length}): ${shown}${report.botUsers.length > 20 ? ", ..." : ""}`);
  }
  return lines.join("\n");
}
