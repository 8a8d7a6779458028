import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Video } from "../../src/data/types";
import {
  contentModelToJSON,
  embedVideoText,
  fitContentModel,
  loadContentModel,
  saveContentModel,
  tfidfVector,
  videoTokens,
  tokenize,
} from "../../src/features/content-embeddings";

const dir = await mkdtemp(join(tmpdir(), "reelfeed-content-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

function video(id: string, title: string, tags: string[] = [], description?: string): Video {
  return { id, creatorId: "c", title, description, tags, category: tags[0] ?? "misc", durationSec: 60, uploadedAt: 0 };
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? d / Math.sqrt(na * nb) : 0;
}

const row = (m: { matrix: Float32Array; dim: number }, i: number) => m.matrix.subarray(i * m.dim, (i + 1) * m.dim);

/** Minimal RFC 4180 line parser: quoted fields may hold commas and doubled quotes. */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

describe("content embeddings", () => {
  const corpus = [
    video("a", "Guitar lessons for beginners", ["music", "guitar"], "learn chords and strumming on acoustic guitar"),
    video("b", "Advanced guitar solo techniques", ["music", "guitar"], "shred faster: chords, scales and solo tricks"),
    video("c", "Easy pasta recipe", ["cooking", "pasta"], "a quick tomato pasta dinner recipe"),
    video("d", "Homemade pasta from scratch", ["cooking", "pasta"], "fresh egg pasta dough recipe"),
    video("e", "Marathon training plan", ["sports", "running"], "weekly running plan for your first marathon"),
    video("f", "Running shoes review", ["sports", "running"], "the best running shoes for marathon training"),
  ];

  it("tokenises: lower case, stop words, numbers and diacritics", () => {
    expect(tokenize("The Café of Amélie (2001), a FILM")).toEqual(["cafe", "amelie", "film"]);
  });

  it("videos sharing words are closer than unrelated ones; vectors are unit length", () => {
    const { model, embeddings } = fitContentModel(corpus, { dim: 8, minDf: 1 });
    expect(embeddings.ids).toEqual(corpus.map((v) => v.id));
    expect(embeddings.matrix).toHaveLength(corpus.length * 8);
    for (let i = 0; i < corpus.length; i++) expect(Math.hypot(...row(embeddings, i))).toBeCloseTo(1, 5);
    const sim = (i: number, j: number) => cosine(row(embeddings, i), row(embeddings, j));
    expect(sim(0, 1)).toBeGreaterThan(sim(0, 2) + 0.3);
    expect(sim(2, 3)).toBeGreaterThan(sim(2, 4) + 0.3);
    expect(sim(4, 5)).toBeGreaterThan(sim(4, 0) + 0.3);
    // A new upload with no interactions lands near its topic.
    const upload = embedVideoText(model, video("new", "Pasta carbonara recipe", ["cooking"]));
    expect(cosine(upload, row(embeddings, 3))).toBeGreaterThan(cosine(upload, row(embeddings, 0)) + 0.3);
    // No known word: a zero vector, not NaN.
    expect([...embedVideoText(model, video("x", "zzz qqq"))].every((v) => v === 0)).toBe(true);
  });

  it("is deterministic for a seed, and serving reproduces the fitted vector", () => {
    const a = fitContentModel(corpus, { dim: 4, minDf: 1, seed: 7 });
    const b = fitContentModel(corpus, { dim: 4, minDf: 1, seed: 7 });
    expect(b.embeddings.matrix).toEqual(a.embeddings.matrix);
    corpus.forEach((v, i) => {
      const served = embedVideoText(a.model, v);
      for (let c = 0; c < 4; c++) expect(Math.abs(served[c] - row(a.embeddings, i)[c])).toBeLessThan(1e-6);
    });
    // dim larger than the data's rank: components past it are zero, vectors stay normalised.
    const wide = fitContentModel(corpus, { dim: 64, minDf: 1 });
    expect(wide.embeddings.dim).toBe(64);
    expect(Math.hypot(...row(wide.embeddings, 0))).toBeCloseTo(1, 5);
  });

  it("saves and loads; a bad file is BAD_BUNDLE", async () => {
    const { model } = fitContentModel(corpus, { dim: 4, minDf: 1 });
    const path = join(dir, "content.json");
    await saveContentModel(path, model);
    const back = await loadContentModel(path);
    expect(back.terms).toEqual(model.terms);
    expect(back.projection).toEqual(model.projection);
    expect(embedVideoText(back, corpus[2])).toEqual(embedVideoText(model, corpus[2]));
    const bad = JSON.parse(JSON.stringify(contentModelToJSON(model)));
    bad.projection = "AAAA";
    await writeFile(join(dir, "bad.json"), JSON.stringify(bad));
    await expect(loadContentModel(join(dir, "bad.json"))).rejects.toMatchObject({ code: "BAD_BUNDLE", message: expect.stringContaining("projection") });
    await expect(loadContentModel(join(dir, "missing.json"))).rejects.toMatchObject({ code: "BAD_BUNDLE" });
  });

  it("works on the real MovieLens titles and genres", () => {
    const lines = readFileSync("/work/shared/data/movielens-small/movies.csv", "utf8").split(/\r?\n/).slice(1).filter(Boolean);
    const movies = lines.map((l) => {
      const [id, title, genres] = parseCsvLine(l);
      const tags = genres === "(no genres listed)" ? [] : genres.split("|");
      return video(id, title, tags);
    });
    expect(movies.length).toBeGreaterThan(9000);
    const started = performance.now();
    const { model, embeddings } = fitContentModel(movies, { dim: 32 });
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(30_000); // generous: the test machine is shared; a few seconds alone
    const at = new Map(embeddings.ids.map((id, i) => [id, i]));
    const byTitle = (t: string) => at.get(movies.find((m) => m.title === t)!.id)!;
    const sim = (a: string, b: string) => cosine(row(embeddings, byTitle(a)), row(embeddings, byTitle(b)));
    // Toy Story 2 (sequel, same genres) is closer to Toy Story than a crime thriller is.
    expect(sim("Toy Story (1995)", "Toy Story 2 (1999)")).toBeGreaterThan(sim("Toy Story (1995)", "Heat (1995)") + 0.2);
    expect(sim("Heat (1995)", "Casino (1995)")).toBeGreaterThan(sim("Heat (1995)", "Toy Story (1995)"));
    // Serving a fitted movie reproduces its vector.
    const i = byTitle("Heat (1995)");
    const served = embedVideoText(model, movies[i]);
    for (let c = 0; c < 32; c++) expect(Math.abs(served[c] - row(embeddings, i)[c])).toBeLessThan(1e-6);
  });
});

describe("randomized SVD accuracy", () => {
  it("finds the top singular directions of the TF-IDF matrix (checked against dense power iteration)", () => {
    let s = 11;
    const rand = () => (s = (s * 16807) % 2147483647) / 2147483647;
    const words = Array.from({ length: 60 }, (_, i) => `word${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`);
    // Three topics of 20 words each, plus noise: a matrix with a clear spectrum and a long tail.
    const docs = Array.from({ length: 90 }, (_, d) =>
      video(`d${d}`, Array.from({ length: 12 }, () => words[rand() < 0.8 ? (d % 3) * 20 + Math.floor(rand() * 20) : Math.floor(rand() * 60)]).join(" ")),
    );
    const k = 5;
    const { model } = fitContentModel(docs, { dim: k, minDf: 1, maxDfRatio: 1 });
    const V = model.terms.length;
    const gram = new Float64Array(V * V);
    for (const d of docs) {
      const { idx, val } = tfidfVector(model, videoTokens(d));
      for (let a = 0; a < idx.length; a++) for (let b = 0; b < idx.length; b++) gram[idx[a] * V + idx[b]] += val[a] * val[b];
    }
    const mulG = (x: Float64Array) => {
      const y = new Float64Array(V);
      for (let i = 0; i < V; i++) for (let j = 0; j < V; j++) y[i] += gram[i * V + j] * x[j];
      return y;
    };
    const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => {
      let t = 0;
      for (let i = 0; i < x.length; i++) t += x[i] * y[i];
      return t;
    };
    // Exact top-k eigenvalues of XᵀX by power iteration with deflation.
    const exact: number[] = [];
    const found: Float64Array[] = [];
    for (let c = 0; c < k; c++) {
      let x = Float64Array.from({ length: V }, () => rand() - 0.5);
      for (let it = 0; it < 3000; it++) {
        for (const f of found) {
          const p = dot(x, f);
          for (let i = 0; i < V; i++) x[i] -= p * f[i];
        }
        const y = mulG(x);
        const n = Math.sqrt(dot(y, y));
        x = y.map((v) => v / n);
      }
      exact.push(dot(x, mulG(x)));
      found.push(x);
    }
    const col = (c: number) => Float64Array.from({ length: V }, (_, j) => model.projection[j * k + c]);
    let captured = 0;
    for (let c = 0; c < k; c++) {
      const p = col(c);
      expect(dot(p, p)).toBeCloseTo(1, 6);
      for (let c2 = 0; c2 < c; c2++) expect(Math.abs(dot(p, col(c2)))).toBeLessThan(1e-6);
      const rayleigh = dot(p, mulG(p));
      captured += rayleigh;
      // The three topic directions (well separated from the noise) are found to high accuracy.
      if (c < 3) expect(rayleigh / exact[c]).toBeGreaterThan(0.999);
    }
    // Components inside the noise tail are approximate (that is what a randomized SVD trades for speed).
    expect(captured / exact.reduce((a, b) => a + b)).toBeGreaterThan(0.97);
  });
});
