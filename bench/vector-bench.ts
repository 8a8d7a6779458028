/**
 * npm run bench:vectors — the embedded vector index on clustered vectors: build time, ms per search (k=300, IVF
 * defaults, query cache off so every search scans) and recall@k against an exact float64 brute force.
 *
 *   npm run bench:vectors -- [--sizes 100000,1000000] [--dim 65] [--k 300] [--queries 200] [--passes 5]
 *       [--recall-queries 50] [--clusters 1000] [--baseline path/to/vector-index-embedded.ts]
 *
 * --baseline loads another build of the index (any module exporting createEmbeddedVectorIndex, e.g. a copy of the
 * file from before a change) and runs it on the same data and queries in the same process, passes interleaved so
 * both see the same machine state; the table then gives the ratio. Data are generated before anything is timed.
 */
import { performance } from "node:perf_hooks";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createEmbeddedVectorIndex, type EmbeddedVectorIndex, type EmbeddedVectorIndexOptions } from "../src/stores/vector-index-embedded";
import { clusteredVectors } from "../src/testkit/clustered-vectors";
import { formatMachine, machineInfo } from "./lib/machine-info";
import { markdownTable } from "./lib/markdown-table";

type Factory = (options: EmbeddedVectorIndexOptions) => EmbeddedVectorIndex;

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    dim: { type: "string", default: "65" },
    k: { type: "string", default: "300" },
    queries: { type: "string", default: "200" },
    passes: { type: "string", default: "5" },
    "recall-queries": { type: "string", default: "50" },
    clusters: { type: "string", default: "1000" },
    baseline: { type: "string" },
  },
});

const positiveInt = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got ${text}`);
  return n;
};
const sizes = (args.sizes ?? "").split(",").map((s) => positiveInt("sizes", s.trim()));
const dim = positiveInt("dim", args.dim as string);
const k = positiveInt("k", args.k as string);
const queryCount = positiveInt("queries", args.queries as string);
const passes = positiveInt("passes", args.passes as string);
const recallQueries = Math.min(queryCount, positiveInt("recall-queries", args["recall-queries"] as string));
const clusters = positiveInt("clusters", args.clusters as string);

const impls: Array<{ name: string; create: Factory }> = [{ name: "wasm simd", create: createEmbeddedVectorIndex }];
if (args.baseline) {
  const module = (await import(pathToFileURL(resolve(args.baseline)).href)) as { createEmbeddedVectorIndex?: Factory };
  if (typeof module.createEmbeddedVectorIndex !== "function") throw new Error(`--baseline ${args.baseline}: exports no createEmbeddedVectorIndex`);
  impls.push({ name: "baseline", create: module.createEmbeddedVectorIndex });
}

/** Clustered unit vectors for this run's dim and cluster count (src/testkit/clustered-vectors.ts). */
const clusteredData = (n: number, seed: number): Float32Array => clusteredVectors(n, dim, clusters, seed);

/** Ids of the exact top k by float64 inner product: the ground truth for recall. */
function bruteForce(data: Float32Array, n: number, query: Float32Array): Set<number> {
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += query[d] * data[i * dim + d];
    scores[i] = s;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return new Set(order.slice(0, k));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`# embedded vector index: dim ${dim}, k ${k}, ${queryCount} queries × ${passes} passes, cache off`);
console.log(formatMachine(machineInfo()));

const rows: Array<Array<string | number>> = [];
for (const n of sizes) {
  // Queries come from the same distribution (same centres) as the data, drawn past its end.
  const all = clusteredData(n + queryCount, 1);
  const data = all.subarray(0, n * dim);
  const queries = Array.from({ length: queryCount }, (_, q) => all.slice((n + q) * dim, (n + q + 1) * dim));
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const truth = queries.slice(0, recallQueries).map((q) => bruteForce(data, n, q));

  const runs = impls.map((impl) => {
    const index = impl.create({ dim, queryCacheSize: 0 });
    const t0 = performance.now();
    index.bulkLoad(ids, data);
    const buildMs = performance.now() - t0;
    return { impl, index, buildMs, msPerSearch: [] as number[], recall: 0, results: [] as string[][] };
  });
  for (const run of runs) {
    // Warm-up (JIT tiers, caches), and the answers for recall.
    for (let q = 0; q < queryCount; q++) {
      const hits = await run.index.search(queries[q], k);
      if (q < recallQueries) run.results.push(hits.map((h) => h.id));
    }
    run.recall = run.results.reduce((sum, hits, q) => sum + hits.filter((id) => truth[q].has(Number(id.slice(1)))).length / k, 0) / recallQueries;
  }
  for (let p = 0; p < passes; p++) {
    for (const run of runs) {
      const t0 = performance.now();
      for (const query of queries) await run.index.search(query, k);
      run.msPerSearch.push((performance.now() - t0) / queryCount);
    }
  }
  const base = runs.find((r) => r.impl.name === "baseline");
  for (const run of runs) {
    const ms = median(run.msPerSearch);
    const same = base && base !== run ? run.results.reduce((s, hits, q) => s + hits.filter((id) => base.results[q].includes(id)).length / k, 0) / recallQueries : undefined;
    rows.push([
      n.toLocaleString("en-US"),
      run.impl.name,
      `${(run.buildMs / 1000).toFixed(2)} s`,
      `${ms.toFixed(3)} ms`,
      base ? `${(median(base.msPerSearch) / ms).toFixed(2)}×` : "–",
      run.recall.toFixed(4),
      same === undefined ? "–" : same.toFixed(4),
      run.index.stats().nlist,
    ]);
    console.log(`n=${n} ${run.impl.name}: build ${(run.buildMs / 1000).toFixed(2)} s, ${ms.toFixed(3)} ms/search (passes: ${run.msPerSearch.map((x) => x.toFixed(3)).join(", ")}), recall@${k} ${run.recall.toFixed(4)}`);
  }
  for (const run of runs) await run.index.close();
}

console.log();
console.log(markdownTable(["vectors", "index", "build", "ms/search (median pass)", "speed-up vs baseline", `recall@${k}`, "overlap with baseline", "nlist"], rows));
