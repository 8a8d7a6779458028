import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Video } from "../data/types";
import { ReelfeedError } from "../errors";
import { base64ToFloat32, float32ToBase64 } from "../util/float32-base64";
import { writeFileAtomic } from "../util/fs";
import { seededRandom } from "../util/random";

/**
 * Content vectors from a video's text (title, description, tags, category): the cold-start answer, since a video
 * uploaded a second ago has no interactions but does have words. TF-IDF (sublinear tf, smoothed idf, L2-normalised
 * rows) followed by a truncated SVD (latent semantic analysis) computed by randomized subspace iteration on the
 * sparse matrix, in plain TypeScript: no native dependency, ~10k videos × 20k terms in a couple of seconds.
 *
 * A fitted video's vector and `embedVideoText` of the same video at serving time come from the same function
 * (`embedTokens`), so a new upload lands in the same space as the catalog it is compared with.
 */

export interface ContentModel {
  version: number;
  /** Output width (columns of `projection`); components past the data's rank are zero. */
  dim: number;
  /** Term vocabulary, in projection row order. */
  terms: string[];
  /** Inverse document frequency per term. */
  idf: Float32Array;
  /** terms.length × dim, row-major: the top right singular vectors of the TF-IDF matrix. */
  projection: Float32Array;
}

export interface ContentEmbeddings {
  ids: string[];
  dim: number;
  /** ids.length × dim, row-major, every row L2-normalised (or all zeros when a video has no known term). */
  matrix: Float32Array;
}

export interface ContentModelOptions {
  /** Embedding width. @default 64 */
  dim?: number;
  /** Seed of the random test matrix: same videos + same seed → same model. @default 42 */
  seed?: number;
  /** Terms used by fewer videos are dropped (they cannot relate two videos). @default 2 */
  minDf?: number;
  /** Most terms kept, by document frequency. @default 20000 */
  maxTerms?: number;
  /** Terms used by more than this share of videos carry no signal and are dropped. @default 0.5 */
  maxDfRatio?: number;
  /** Extra random directions beyond `dim` (accuracy of the randomized SVD). @default 10 */
  oversample?: number;
  /** Subspace (power) iterations. @default 3 */
  iterations?: number;
}

export const CONTENT_MODEL_VERSION = 1;
const FORMAT = "reelfeed.content-model";

// Common English function words: they appear everywhere and would make every title look alike.
const STOP_WORDS = new Set(
  (
    "a an and are as at be been but by can did do does for from had has have he her his how i if in into is it its " +
    "just me my no not of on or our out over she so than that the their them then there these they this those to " +
    "too up us was we were what when where which who whom why will with you your yours about after all also any " +
    "because before being between both each few more most other own same should some such only very via vs de la " +
    "le les el los der die das und"
  ).split(" "),
);

/** Lower-cased words (letters/digits runs, diacritics folded), without stop words, 1-letter words and bare numbers. */
export function tokenize(text: string): string[] {
  const lower = text.toLowerCase();
  // Folding diacritics is the slow part: skip it for plain ASCII, which most titles are.
  const folded = /^[\x00-\x7f]*$/.test(lower) ? lower : lower.normalize("NFKD").replace(/\p{M}+/gu, "");
  const out: string[] = [];
  for (const m of folded.matchAll(/[\p{L}\p{N}]+/gu)) {
    const w = m[0];
    if (w.length < 2 || STOP_WORDS.has(w) || /^\p{N}+$/u.test(w)) continue;
    out.push(w);
  }
  return out;
}

/** The text of a video the content model reads. */
export function videoTokens(video: Pick<Video, "title" | "description" | "tags" | "category">): string[] {
  return tokenize([video.title, video.description ?? "", video.tags.join(" "), video.category].join(" "));
}

function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** Sparse TF-IDF rows of the documents (CSR). */
interface Csr {
  rows: number;
  cols: number;
  ptr: Int32Array;
  idx: Int32Array;
  val: Float64Array;
}

/** Sparse, L2-normalised TF-IDF vector of one token list: the single encoding for fitting and serving. */
function tfidf(tokens: readonly string[], termIndex: ReadonlyMap<string, number>, idf: Float32Array): { idx: number[]; val: number[] } {
  const tf = new Map<number, number>();
  for (const t of tokens) {
    const j = termIndex.get(t);
    if (j !== undefined) tf.set(j, (tf.get(j) ?? 0) + 1);
  }
  const idx = [...tf.keys()].sort((a, b) => a - b);
  const val = idx.map((j) => (1 + Math.log(tf.get(j)!)) * idf[j]);
  let norm = 0;
  for (const v of val) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < val.length; i++) val[i] /= norm;
  return { idx, val };
}

/**
 * Modified Gram-Schmidt on `k` column-major columns of height `n`. One pass is enough between power iterations;
 * the final basis gets two ("twice is enough") so it is orthogonal to working precision.
 */
function orthonormalize(m: Float64Array, n: number, k: number, passes = 1): void {
  for (let pass = 0; pass < passes; pass++) {
    for (let c = 0; c < k; c++) {
      const col = c * n;
      for (let p = 0; p < c; p++) {
        const prev = p * n;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += m[prev + i] * m[col + i];
        for (let i = 0; i < n; i++) m[col + i] -= dot * m[prev + i];
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += m[col + i] * m[col + i];
      norm = Math.sqrt(norm);
      // A dependent column (rank below k) is zeroed rather than amplified noise.
      const inv = norm > 1e-10 ? 1 / norm : 0;
      for (let i = 0; i < n; i++) m[col + i] *= inv;
    }
  }
}

/** out (rows × k, row-major) = X · m (cols × k, row-major): each non-zero touches one contiguous k-vector. */
function multiply(x: Csr, m: Float64Array, k: number, out: Float64Array): void {
  out.fill(0);
  for (let r = 0; r < x.rows; r++) {
    const o = r * k;
    for (let p = x.ptr[r]; p < x.ptr[r + 1]; p++) {
      const w = x.val[p];
      const mi = x.idx[p] * k;
      for (let c = 0; c < k; c++) out[o + c] += w * m[mi + c];
    }
  }
}

/** out (cols × k, row-major) = Xᵀ · m (rows × k, row-major). */
function multiplyT(x: Csr, m: Float64Array, k: number, out: Float64Array): void {
  out.fill(0);
  for (let r = 0; r < x.rows; r++) {
    const mr = r * k;
    for (let p = x.ptr[r]; p < x.ptr[r + 1]; p++) {
      const w = x.val[p];
      const o = x.idx[p] * k;
      for (let c = 0; c < k; c++) out[o + c] += w * m[mr + c];
    }
  }
}

/** Transposes an n × k row-major matrix into `out` (k × n row-major, i.e. column-major of the input). */
function transpose(m: Float64Array, n: number, k: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) out[c * n + i] = m[i * k + c];
}

/** Eigen-decomposition of a symmetric k×k matrix (row-major) by cyclic Jacobi. Returns values desc + vectors (columns). */
function symmetricEigen(a: Float64Array, k: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < k; i++) {
      diag += m[i * k + i] * m[i * k + i];
      for (let j = i + 1; j < k; j++) off += m[i * k + j] * m[i * k + j];
    }
    if (off <= 1e-22 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = m[p * k + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * k + q] - m[p * k + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const mrp = m[r * k + p];
          const mrq = m[r * k + q];
          m[r * k + p] = c * mrp - s * mrq;
          m[r * k + q] = s * mrp + c * mrq;
        }
        for (let r = 0; r < k; r++) {
          const mpr = m[p * k + r];
          const mqr = m[q * k + r];
          m[p * k + r] = c * mpr - s * mqr;
          m[q * k + r] = s * mpr + c * mqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = v[r * k + p];
          const vrq = v[r * k + q];
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((i, j) => m[j * k + j] - m[i * k + i] || i - j);
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  order.forEach((src, dst) => {
    values[dst] = m[src * k + src];
    for (let r = 0; r < k; r++) vectors[r * k + dst] = v[r * k + src];
  });
  return { values, vectors };
}

/** Fits the TF-IDF vocabulary and SVD projection on `videos`, and embeds every one of them. */
export function fitContentModel(
  videos: readonly Video[],
  options: ContentModelOptions = {},
): { model: ContentModel; embeddings: ContentEmbeddings } {
  const { dim = 64, seed = 42, minDf = 2, maxTerms = 20_000, maxDfRatio = 0.5, oversample = 10, iterations = 3 } = options;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  const docs = videos.map(videoTokens);
  const df = new Map<string, number>();
  for (const tokens of docs) for (const t of new Set(tokens)) df.set(t, (df.get(t) ?? 0) + 1);
  const maxDf = Math.max(minDf, Math.floor(maxDfRatio * docs.length));
  const kept = [...df.entries()]
    .filter(([, n]) => n >= minDf && n <= maxDf)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, maxTerms);
  const terms = kept.map(([t]) => t);
  const termIndex = new Map(terms.map((t, i) => [t, i]));
  const n = docs.length;
  const idf = Float32Array.from(kept, ([, d]) => Math.log((1 + n) / (1 + d)) + 1);

  // The TF-IDF matrix, CSR.
  const ptr = new Int32Array(n + 1);
  const idxList: number[] = [];
  const valList: number[] = [];
  docs.forEach((tokens, r) => {
    const { idx, val } = tfidf(tokens, termIndex, idf);
    for (let i = 0; i < idx.length; i++) {
      idxList.push(idx[i]);
      valList.push(val[i]);
    }
    ptr[r + 1] = idxList.length;
  });
  const x: Csr = { rows: n, cols: terms.length, ptr, idx: Int32Array.from(idxList), val: Float64Array.from(valList) };

  const projection = new Float32Array(terms.length * dim);
  const l = Math.min(dim + oversample, terms.length, n);
  if (l > 0) {
    // Randomized subspace iteration for the top right singular vectors of X (Halko, Martinsson, Tropp 2011).
    // Only the term side is re-orthonormalised each iteration: it is the smaller side and the one we keep.
    const g = gaussian(seededRandom(seed));
    const qCols = new Float64Array(x.cols * l);
    for (let i = 0; i < qCols.length; i++) qCols[i] = g();
    orthonormalize(qCols, x.cols, l);
    const q = new Float64Array(x.cols * l);
    transpose(qCols, l, x.cols, q);
    const z = new Float64Array(x.rows * l);
    for (let it = 0; it < iterations; it++) {
      multiply(x, q, l, z);
      multiplyT(x, z, l, q);
      transpose(q, x.cols, l, qCols);
      orthonormalize(qCols, x.cols, l, it === iterations - 1 ? 2 : 1);
      transpose(qCols, l, x.cols, q);
    }
    // Rayleigh-Ritz: eigenvectors of Qᵀ XᵀX Q rotate Q onto the singular directions, strongest first.
    multiply(x, q, l, z);
    const gram = new Float64Array(l * l);
    for (let r = 0; r < x.rows; r++) {
      const o = r * l;
      for (let a = 0; a < l; a++) {
        const za = z[o + a];
        if (za === 0) continue;
        for (let b = a; b < l; b++) gram[a * l + b] += za * z[o + b];
      }
    }
    for (let a = 0; a < l; a++) for (let b = 0; b < a; b++) gram[a * l + b] = gram[b * l + a];
    const { values, vectors } = symmetricEigen(gram, l);
    const k = Math.min(dim, l);
    for (let c = 0; c < k; c++) {
      if (!(values[c] > 1e-12)) continue; // beyond the data's rank: leave the component at zero
      const col = new Float64Array(x.cols);
      for (let j = 0; j < x.cols; j++) {
        let s = 0;
        for (let a = 0; a < l; a++) s += q[j * l + a] * vectors[a * l + c];
        col[j] = s;
      }
      // Singular vectors have no sign: fix it (largest entry positive) so refits with the same seed agree.
      let big = 0;
      for (let j = 0; j < x.cols; j++) if (Math.abs(col[j]) > Math.abs(big)) big = col[j];
      const sign = big < 0 ? -1 : 1;
      for (let j = 0; j < x.cols; j++) projection[j * dim + c] = sign * col[j];
    }
  }
  const model: ContentModel = { version: CONTENT_MODEL_VERSION, dim, terms, idf, projection };
  indexes.set(model, termIndex);
  const matrix = new Float32Array(n * dim);
  docs.forEach((tokens, r) => matrix.set(embedTokens(model, tokens), r * dim));
  return { model, embeddings: { ids: videos.map((v) => v.id), dim, matrix } };
}

const indexes = new WeakMap<ContentModel, Map<string, number>>();

function termIndexOf(model: ContentModel): Map<string, number> {
  let m = indexes.get(model);
  if (!m) {
    m = new Map(model.terms.map((t, i) => [t, i]));
    indexes.set(model, m);
  }
  return m;
}

/** The L2-normalised TF-IDF vector of a token list under a fitted model, sparse (term indices ascending). */
export function tfidfVector(model: ContentModel, tokens: readonly string[]): { idx: number[]; val: number[] } {
  return tfidf(tokens, termIndexOf(model), model.idf);
}

/** Embeds an already-tokenised text; the single code path behind fitting and serving. */
export function embedTokens(model: ContentModel, tokens: readonly string[]): Float32Array {
  const { idx, val } = tfidf(tokens, termIndexOf(model), model.idf);
  const dim = model.dim;
  const acc = new Float64Array(dim);
  for (let i = 0; i < idx.length; i++) {
    const row = idx[i] * dim;
    const w = val[i];
    for (let c = 0; c < dim; c++) acc[c] += w * model.projection[row + c];
  }
  let norm = 0;
  for (let c = 0; c < dim; c++) norm += acc[c] * acc[c];
  norm = Math.sqrt(norm);
  const out = new Float32Array(dim);
  if (norm > 0) for (let c = 0; c < dim; c++) out[c] = acc[c] / norm;
  return out;
}

/** Content vector of a (possibly new) video. All zeros when none of its words is in the model's vocabulary. */
export function embedVideoText(model: ContentModel, video: Pick<Video, "title" | "description" | "tags" | "category">): Float32Array {
  return embedTokens(model, videoTokens(video));
}

/** JSON form: floats as little-endian base64 (a 20k × 64 projection is ~7 MB instead of ~25 MB of decimals). */
export function contentModelToJSON(model: ContentModel): unknown {
  return {
    format: FORMAT,
    version: model.version,
    dim: model.dim,
    terms: model.terms,
    idf: float32ToBase64(model.idf),
    projection: float32ToBase64(model.projection),
  };
}

export function contentModelFromJSON(json: unknown, where = "content model"): ContentModel {
  const bad = (field: string, msg: string): never => {
    throw new ReelfeedError("BAD_BUNDLE", `${where}: ${field}: ${msg}`, { path: where, field });
  };
  if (typeof json !== "object" || json === null) return bad("(root)", "expected an object");
  const o = json as Record<string, unknown>;
  if (o.format !== FORMAT) bad("format", `expected "${FORMAT}"`);
  if (o.version !== CONTENT_MODEL_VERSION) bad("version", `unsupported version ${JSON.stringify(o.version)}`);
  if (typeof o.dim !== "number" || !Number.isInteger(o.dim) || o.dim < 1) return bad("dim", "expected a positive integer");
  if (!Array.isArray(o.terms) || o.terms.some((t) => typeof t !== "string")) return bad("terms", "expected an array of strings");
  const terms = o.terms as string[];
  const idf = typeof o.idf === "string" ? base64ToFloat32(o.idf) : undefined;
  if (!idf || idf.length !== terms.length) return bad("idf", `expected ${terms.length} base64 float32 values`);
  const projection = typeof o.projection === "string" ? base64ToFloat32(o.projection) : undefined;
  if (!projection || projection.length !== terms.length * o.dim) return bad("projection", `expected ${terms.length}×${o.dim} base64 float32 values`);
  return { version: CONTENT_MODEL_VERSION, dim: o.dim, terms, idf, projection };
}

const fingerprints = new WeakMap<ContentModel, string>();

/**
 * A digest of the model's values (terms, idf, projection): models with the same fingerprint embed every text alike,
 * so a vector computed by one process can be reused by another (catalogue log, catalog-changes.ts). Computed once
 * per model object.
 */
export function contentModelFingerprint(model: ContentModel): string {
  let fp = fingerprints.get(model);
  if (!fp) {
    const h = createHash("sha256").update(`content-model/${model.version}/${model.dim}\n`).update(model.terms.join("\n"));
    h.update(new Uint8Array(model.idf.buffer, model.idf.byteOffset, model.idf.byteLength));
    h.update(new Uint8Array(model.projection.buffer, model.projection.byteOffset, model.projection.byteLength));
    fp = `content:${h.digest("hex").slice(0, 32)}`;
    fingerprints.set(model, fp);
  }
  return fp;
}

export async function saveContentModel(path: string, model: ContentModel): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(contentModelToJSON(model)));
}

/** Throws BAD_BUNDLE naming the path when the file is missing, unreadable or malformed. */
export async function loadContentModel(path: string): Promise<ContentModel> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ReelfeedError("BAD_BUNDLE", `${path}: cannot read content model: ${(err as Error).message}`, { path });
  }
  return contentModelFromJSON(json, path);
}
