import { DEFAULT_MIN_TS } from "../data/validate-event";
import { DEVICES, type Creator, type Device, type PolicyFlag, type User, type Video } from "../data/types";
import { changeId, type CatalogChange } from "./catalog-changes";

/**
 * The per-item check of the catalogue write API, shared by the GraphQL mutations and POST /catalog (same JSON, same
 * rules). Returns the change to log, or the first problem as a code and the field, so a client can fix exactly that
 * item; a bad item never rejects its batch.
 *
 * Absent means undefined or null (GraphQL inputs carry explicit nulls). An upsert is the whole item: optional fields
 * left out are absent afterwards, not kept from the previous version.
 */

export type CatalogRejectCode = "INVALID_ITEM" | "MISSING_FIELD" | "INVALID_FIELD" | "FUTURE_TIMESTAMP";

export type CatalogCheck = { ok: true; change: CatalogChange } | { ok: false; code: CatalogRejectCode; field?: string; message: string; id?: string };

/** Limits of the catalogue fields (docs/schema.md lists them). */
export const CATALOG_LIMITS = {
  maxIdLength: 256,
  maxTitleLength: 500,
  maxDescriptionLength: 10_000,
  maxTags: 50,
  maxTagLength: 100,
  maxCategoryLength: 100,
  maxNameLength: 200,
  maxReasonLength: 1000,
  maxShortTextLength: 100,
  maxBlockedRegions: 250,
  /** A week of seconds: anything longer is a client bug (the event validator's bound too). */
  maxDurationSec: 7 * 24 * 3600,
  maxAge: 130,
} as const;

export const POLICY_FLAGS_SETTABLE: readonly PolicyFlag[] = ["violence", "adult", "spam", "copyright", "misinformation"];

export interface CatalogValidationOptions {
  /** @default Date.now */
  now?: () => number;
  /** Times further than this in the future are rejected (clock skew allowance). @default 300_000 */
  maxFutureSkewMs?: number;
}

class Reject {
  constructor(
    readonly code: CatalogRejectCode,
    readonly field: string | undefined,
    readonly message: string,
  ) {}
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const COUNTRY = /^[A-Za-z]{2}$/;
const LANGUAGE = /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$/;
const DEVICE_SET: ReadonlySet<string> = new Set(DEVICES);
const FLAG_SET: ReadonlySet<string> = new Set(POLICY_FLAGS_SETTABLE);

/** Reads the fields of one raw item, throwing a Reject that names the field. */
class Fields {
  constructor(
    private readonly o: Record<string, unknown>,
    private readonly options: Required<CatalogValidationOptions>,
  ) {}

  private present(field: string): boolean {
    return this.o[field] !== undefined && this.o[field] !== null;
  }

  id(field: string): string {
    const v = this.o[field];
    if (v === undefined || v === null || v === "") throw new Reject("MISSING_FIELD", field, `${field} is required`);
    if (typeof v !== "string") throw new Reject("INVALID_FIELD", field, `${field} must be a string`);
    if (v.length > CATALOG_LIMITS.maxIdLength) throw new Reject("INVALID_FIELD", field, `${field} must be at most ${CATALOG_LIMITS.maxIdLength} characters`);
    if (v.trim() !== v || CONTROL.test(v)) throw new Reject("INVALID_FIELD", field, `${field} must not contain control characters or surrounding spaces`);
    return v;
  }

  text(field: string, max: number, required: true): string;
  text(field: string, max: number, required?: false): string | undefined;
  text(field: string, max: number, required = false): string | undefined {
    if (!this.present(field)) {
      if (required) throw new Reject("MISSING_FIELD", field, `${field} is required`);
      return undefined;
    }
    const v = this.o[field];
    if (typeof v !== "string") throw new Reject("INVALID_FIELD", field, `${field} must be a string`);
    if (v.trim().length === 0) throw new Reject(required ? "MISSING_FIELD" : "INVALID_FIELD", field, `${field} must not be blank`);
    if (v.length > max) throw new Reject("INVALID_FIELD", field, `${field} must be at most ${max} characters, got ${v.length}`);
    return v;
  }

  stringList(field: string, maxItems: number, check: (s: string, at: string) => string): string[] | undefined {
    if (!this.present(field)) return undefined;
    const v = this.o[field];
    if (!Array.isArray(v)) throw new Reject("INVALID_FIELD", field, `${field} must be a list of strings`);
    if (v.length > maxItems) throw new Reject("INVALID_FIELD", field, `${field} must have at most ${maxItems} entries, got ${v.length}`);
    return v.map((s, i) => {
      const at = `${field}[${i}]`;
      if (typeof s !== "string") throw new Reject("INVALID_FIELD", at, `${at} must be a string`);
      return check(s, at);
    });
  }

  number(field: string, opts: { required: boolean; integer?: boolean; min: number; max: number; minExclusive?: boolean }): number | undefined {
    if (!this.present(field)) {
      if (opts.required) throw new Reject("MISSING_FIELD", field, `${field} is required`);
      return undefined;
    }
    const v = this.o[field];
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Reject("INVALID_FIELD", field, `${field} must be a number`);
    if (opts.integer && !Number.isInteger(v)) throw new Reject("INVALID_FIELD", field, `${field} must be an integer`);
    if (v > opts.max || v < opts.min || (opts.minExclusive && v === opts.min)) {
      throw new Reject("INVALID_FIELD", field, `${field} must be ${opts.minExclusive ? "above" : "at least"} ${opts.min} and at most ${opts.max}, got ${v}`);
    }
    return v;
  }

  boolean(field: string): boolean | undefined {
    if (!this.present(field)) return undefined;
    const v = this.o[field];
    if (typeof v !== "boolean") throw new Reject("INVALID_FIELD", field, `${field} must be true or false`);
    return v;
  }

  /** Epoch ms (number) or an ISO-8601 date-time string; not before 1995, not past now + skew. */
  time(field: string, required: true): number;
  time(field: string, required: false): number | undefined;
  time(field: string, required: boolean): number | undefined {
    if (!this.present(field)) {
      if (required) throw new Reject("MISSING_FIELD", field, `${field} is required`);
      return undefined;
    }
    const v = this.o[field];
    let ms: number;
    if (typeof v === "number") ms = v;
    else if (typeof v === "string" && ISO_DATE.test(v)) ms = Date.parse(v);
    else throw new Reject("INVALID_FIELD", field, `${field} must be epoch milliseconds or an ISO-8601 date-time`);
    if (!Number.isFinite(ms) || !Number.isInteger(ms)) throw new Reject("INVALID_FIELD", field, `${field} is not a valid time`);
    if (ms < DEFAULT_MIN_TS) throw new Reject("INVALID_FIELD", field, `${field} is before 1995 (epoch seconds where milliseconds belong?)`);
    if (ms > this.options.now() + this.options.maxFutureSkewMs) throw new Reject("FUTURE_TIMESTAMP", field, `${field} is in the future`);
    return ms;
  }

  country(field: string): string | undefined {
    const v = this.text(field, 2);
    if (v === undefined) return undefined;
    return checkCountryCode(v, field);
  }

  language(field: string): string | undefined {
    const v = this.text(field, 35);
    if (v === undefined) return undefined;
    if (!LANGUAGE.test(v)) throw new Reject("INVALID_FIELD", field, `${field} must be a BCP 47 language tag like "en" or "pt-BR", got "${v.slice(0, 20)}"`);
    return v.split(/[-_]/)[0].toLowerCase();
  }

  enumValue<T extends string>(field: string, allowed: ReadonlySet<string>): T | undefined {
    if (!this.present(field)) return undefined;
    const v = this.o[field];
    if (typeof v !== "string" || !allowed.has(v.toLowerCase())) {
      throw new Reject("INVALID_FIELD", field, `${field} must be one of ${[...allowed].join(", ")}`);
    }
    return v.toLowerCase() as T;
  }

  /** Fields the item type does not define: a typo (`durationSecs`) must not silently drop a value. */
  onlyKnown(known: ReadonlySet<string>): void {
    for (const k of Object.keys(this.o)) {
      if (!known.has(k) && this.o[k] !== undefined && this.o[k] !== null) throw new Reject("INVALID_FIELD", k, `unknown field ${k}`);
    }
  }
}

function checkCountryCode(v: string, field: string): string {
  if (!COUNTRY.test(v)) throw new Reject("INVALID_FIELD", field, `${field} must be an ISO 3166-1 alpha-2 country code like "US", got "${v.slice(0, 20)}"`);
  return v.toUpperCase();
}

const VIDEO_FIELDS = new Set(["kind", "id", "creatorId", "title", "description", "tags", "category", "language", "durationSec", "uploadedAt", "ageRestricted", "policyFlags", "blockedRegions", "updatedAt"]);
const USER_FIELDS = new Set(["kind", "id", "age", "gender", "occupation", "country", "language", "createdAt", "device", "updatedAt"]);
const CREATOR_FIELDS = new Set(["kind", "id", "name", "country", "language", "createdAt", "updatedAt"]);
const REMOVAL_FIELDS = new Set(["kind", "id", "reason"]);

function run(raw: unknown, what: string, options: CatalogValidationOptions, read: (f: Fields) => CatalogChange): CatalogCheck {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, code: "INVALID_ITEM", message: `a ${what} must be a JSON object` };
  const o = raw as Record<string, unknown>;
  const id = typeof o.id === "string" && o.id.length > 0 && o.id.length <= CATALOG_LIMITS.maxIdLength ? o.id : undefined;
  try {
    return { ok: true, change: read(new Fields(o, { now: options.now ?? Date.now, maxFutureSkewMs: options.maxFutureSkewMs ?? 300_000 })) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, code: err.code, field: err.field, message: err.message, id };
    throw err;
  }
}

export function validateVideoInput(raw: unknown, options: CatalogValidationOptions = {}): CatalogCheck {
  return run(raw, "video", options, (f) => {
    f.onlyKnown(VIDEO_FIELDS);
    const L = CATALOG_LIMITS;
    const id = f.id("id");
    const tag = (s: string, at: string): string => {
      const t = s.trim();
      if (t.length === 0 || t.length > L.maxTagLength || CONTROL.test(t)) throw new Reject("INVALID_FIELD", at, `${at} must be 1 to ${L.maxTagLength} characters without control characters`);
      return t;
    };
    const video: Video = {
      id,
      creatorId: f.id("creatorId"),
      title: f.text("title", L.maxTitleLength, true),
      tags: f.stringList("tags", L.maxTags, tag) ?? [],
      category: f.text("category", L.maxCategoryLength, true).trim(),
      durationSec: f.number("durationSec", { required: true, min: 0, max: L.maxDurationSec, minExclusive: true })!,
      uploadedAt: f.time("uploadedAt", true),
    };
    const description = f.text("description", L.maxDescriptionLength);
    if (description !== undefined) video.description = description;
    const language = f.language("language");
    if (language !== undefined) video.language = language;
    const ageRestricted = f.boolean("ageRestricted");
    if (ageRestricted !== undefined) video.ageRestricted = ageRestricted;
    const flags = f.stringList("policyFlags", POLICY_FLAGS_SETTABLE.length, (s, at) => {
      if (s === "removed") throw new Reject("INVALID_FIELD", at, `${at}: a takedown goes through removeVideos, not a policy flag`);
      if (!FLAG_SET.has(s)) throw new Reject("INVALID_FIELD", at, `${at} must be one of ${POLICY_FLAGS_SETTABLE.join(", ")}`);
      return s;
    });
    if (flags && flags.length > 0) video.policyFlags = [...new Set(flags)] as PolicyFlag[];
    const regions = f.stringList("blockedRegions", L.maxBlockedRegions, checkCountryCode);
    if (regions && regions.length > 0) video.blockedRegions = [...new Set(regions)];
    const updatedAt = f.time("updatedAt", true);
    return { id: changeId("video", id, updatedAt), kind: "video", updatedAt, video };
  });
}

export function validateUserInput(raw: unknown, options: CatalogValidationOptions = {}): CatalogCheck {
  return run(raw, "user", options, (f) => {
    f.onlyKnown(USER_FIELDS);
    const L = CATALOG_LIMITS;
    const id = f.id("id");
    const user: User = { id };
    const age = f.number("age", { required: false, integer: true, min: 0, max: L.maxAge });
    if (age !== undefined) user.age = age;
    const gender = f.text("gender", L.maxShortTextLength);
    if (gender !== undefined) user.gender = gender;
    const occupation = f.text("occupation", L.maxShortTextLength);
    if (occupation !== undefined) user.occupation = occupation;
    const country = f.country("country");
    if (country !== undefined) user.country = country;
    const language = f.language("language");
    if (language !== undefined) user.language = language;
    const createdAt = f.time("createdAt", false);
    if (createdAt !== undefined) user.createdAt = createdAt;
    const device = f.enumValue<Device>("device", DEVICE_SET);
    if (device !== undefined) user.device = device;
    const updatedAt = f.time("updatedAt", true);
    return { id: changeId("user", id, updatedAt), kind: "user", updatedAt, user };
  });
}

export function validateCreatorInput(raw: unknown, options: CatalogValidationOptions = {}): CatalogCheck {
  return run(raw, "creator", options, (f) => {
    f.onlyKnown(CREATOR_FIELDS);
    const id = f.id("id");
    const creator: Creator = { id };
    const name = f.text("name", CATALOG_LIMITS.maxNameLength);
    if (name !== undefined) creator.name = name;
    const country = f.country("country");
    if (country !== undefined) creator.country = country;
    const language = f.language("language");
    if (language !== undefined) creator.language = language;
    const createdAt = f.time("createdAt", false);
    if (createdAt !== undefined) creator.createdAt = createdAt;
    const updatedAt = f.time("updatedAt", true);
    return { id: changeId("creator", id, updatedAt), kind: "creator", updatedAt, creator };
  });
}

/** A takedown: `{ id, reason }`. `removedAt` is the server's clock (the acknowledgement's time). */
export function validateRemoval(raw: unknown, options: CatalogValidationOptions = {}): CatalogCheck {
  return run(raw, "removal", options, (f) => {
    f.onlyKnown(REMOVAL_FIELDS);
    const videoId = f.id("id");
    const reason = f.text("reason", CATALOG_LIMITS.maxReasonLength, true);
    return { id: changeId("removal", videoId), kind: "removal", videoId, reason, removedAt: (options.now ?? Date.now)() };
  });
}
