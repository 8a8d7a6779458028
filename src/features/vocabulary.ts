import { ReelfeedError } from "../errors";
import { fnv1a } from "../util/random";

/**
 * A string → index mapping for one categorical column, laid out as the FeatureSpec contract requires:
 *
 *   0                      padding / missing value (undefined or "")
 *   1 .. oovBuckets        values never seen when fitting, hashed (FNV-1a) so an unseen id always lands in the
 *                          same bucket and the model can still learn "new thing" embeddings
 *   oovBuckets + 1 ..      known values, most frequent first (ties by value) so the layout is deterministic
 *
 * Vocabularies are immutable once fitted; a new bundle fits new ones.
 */
export interface Vocabulary {
  /** Total number of indices, padding and OOV buckets included: the embedding table's row count. */
  readonly size: number;
  readonly oovBuckets: number;
  /** Known values in index order (index of values[i] is 1 + oovBuckets + i). */
  readonly values: readonly string[];
  index(value: string | undefined): number;
  has(value: string): boolean;
  toJSON(): VocabularyJson;
}

export interface VocabularyJson {
  oovBuckets: number;
  values: string[];
}

export interface VocabularyOptions {
  /** Values seen fewer times than this are treated as unseen (hashed into an OOV bucket). @default 1 */
  minCount?: number;
  /** Most known values kept (the most frequent). @default Infinity */
  maxSize?: number;
  /** Hashed buckets for unseen values; 0 maps every unseen value to index 0. @default 1 */
  oovBuckets?: number;
}

/** Builds a vocabulary directly from known values, in the given order. */
export function createVocabulary(values: readonly string[], oovBuckets = 1): Vocabulary {
  if (!Number.isInteger(oovBuckets) || oovBuckets < 0) throw new RangeError(`oovBuckets must be a non-negative integer, got ${oovBuckets}`);
  const map = new Map<string, number>();
  const kept: string[] = [];
  for (const v of values) {
    if (v === "" || map.has(v)) continue;
    map.set(v, 1 + oovBuckets + kept.length);
    kept.push(v);
  }
  const size = 1 + oovBuckets + kept.length;
  return {
    size,
    oovBuckets,
    values: kept,
    index(value) {
      if (value === undefined || value === "") return 0;
      const known = map.get(value);
      if (known !== undefined) return known;
      return oovBuckets === 0 ? 0 : 1 + (fnv1a(value) % oovBuckets);
    },
    has: (value) => map.has(value),
    toJSON: () => ({ oovBuckets, values: kept.slice() }),
  };
}

/** Counts values (undefined and "" are skipped). */
export function countValues(values: Iterable<string | undefined>, into: Map<string, number> = new Map()): Map<string, number> {
  for (const v of values) {
    if (v === undefined || v === "") continue;
    into.set(v, (into.get(v) ?? 0) + 1);
  }
  return into;
}

/** Fits a vocabulary from observed counts: drops rare values, keeps the `maxSize` most frequent. */
export function fitVocabulary(counts: ReadonlyMap<string, number> | Iterable<string | undefined>, options: VocabularyOptions = {}): Vocabulary {
  const { minCount = 1, maxSize = Infinity, oovBuckets = 1 } = options;
  const map = counts instanceof Map ? (counts as ReadonlyMap<string, number>) : countValues(counts as Iterable<string | undefined>);
  const entries = [...map.entries()].filter(([v, c]) => v !== "" && c >= minCount);
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return createVocabulary(
    entries.slice(0, Math.min(entries.length, maxSize)).map(([v]) => v),
    oovBuckets,
  );
}

/** Restores a vocabulary from its JSON form; `where` names the field in error messages. Throws BAD_BUNDLE. */
export function vocabularyFromJSON(json: unknown, where = "vocabulary"): Vocabulary {
  if (typeof json !== "object" || json === null) throw new ReelfeedError("BAD_BUNDLE", `${where}: expected an object`, { field: where });
  const { oovBuckets, values } = json as Record<string, unknown>;
  if (typeof oovBuckets !== "number" || !Number.isInteger(oovBuckets) || oovBuckets < 0) {
    throw new ReelfeedError("BAD_BUNDLE", `${where}.oovBuckets: expected a non-negative integer`, { field: `${where}.oovBuckets` });
  }
  if (!Array.isArray(values) || values.some((v) => typeof v !== "string" || v === "")) {
    throw new ReelfeedError("BAD_BUNDLE", `${where}.values: expected an array of non-empty strings`, { field: `${where}.values` });
  }
  if (new Set(values).size !== values.length) {
    throw new ReelfeedError("BAD_BUNDLE", `${where}.values: duplicate values`, { field: `${where}.values` });
  }
  return createVocabulary(values as string[], oovBuckets);
}
