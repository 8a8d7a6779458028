/**
 * npm run bench:vectors — the embedded vector index on clustered unit vectors: build time, queries per second
 * (single thread, one query at a time, query cache off so every search scans) and recall@k against an exact float64
 * brute force, as a recall/QPS curve over the probe depth, drawn as an SVG chart. Times are taken both on the wall
 * clock and as this process's CPU time: on a shared machine the wall clock also counts the time other processes
 * held the core, so the chart plots queries per CPU second (what one idle core would serve, a little less for the
 * cache the neighbours share).
 *
 *   npm run bench:vectors -- [--preset faiss-1m] [--sizes 100000] [--dim 65] [--k 300] [--clusters 1000]
 *       [--noise 0.35] [--query-noise 0.1] [--queries 500] [--passes 3] [--recall-queries 200]
 *       [--nprobes 4,8,16,32,64] [--baseline path/to/vector-index-embedded.ts] [--baseline-nprobes 16,32,64]
 *       [--churn 0.1] [--svg docs/images/vector-recall-qps.svg]
 *
 * Data: n vectors around `clusters` Gaussian centres (per-dimension noise `noise`, L2-normalised:
 * src/testkit/clustered-vectors.ts). Queries: with --query-noise, stored vectors plus Gaussian noise of that much
 * per dimension, normalised (the data set issue 15 compares with FAISS on); without it, fresh points of the same
 * distribution. `--preset faiss-1m` is that comparison: 1M × 64, 1,000 centres, noise 0.35, queries = stored + 0.1,
 * k = 100, with FAISS HNSW's figures from the issue drawn in for reference (measured on another machine: compare
 * with care) and the target (recall ≥ 0.95 at ≥ 1,814 q/s) shaded.
 *
 * The curve: one build of the index, probed with `nprobe` from --nprobes and no row floor (probeRows 0, as FAISS
 * probes), plus the default settings as their own point. --baseline loads another build of the index (any module
 * exporting createEmbeddedVectorIndex, e.g. the file from before a change, checked out elsewhere) and runs it on
 * the same data and queries in the same process with --baseline-nprobes (one build per point: it may lack
 * setProbes); timed passes are interleaved, so every configuration sees the same machine state. --churn f then
 * upserts f·n new vectors and deletes f/10·n old ones on the default indexes (new and baseline nprobe 32) and measures
 * them again, against a fresh ground truth: what serving looks like between rebuilds.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createEmbeddedVectorIndex, type EmbeddedVectorIndex, type EmbeddedVectorIndexOptions } from "../src/stores/vector-index-embedded";
import { clusteredVectors } from "../src/testkit/clustered-vectors";
import { seededRandom } from "../src/util/random";
import { formatMachine, machineInfo } from "./lib/machine-info";
import { markdownTable } from "./lib/markdown-table";

type Factory = (options: EmbeddedVectorIndexOptions) => EmbeddedVectorIndex;

const PRESETS: Record<string, Record<string, string>> = {
  "faiss-1m": {
    sizes: "1000000",
    dim: "64",
    k: "100",
    clusters: "1000",
    noise: "0.35",
    "query-noise": "0.1",
    queries: "1000",
    "recall-queries": "200",
    nprobes: "4,6,8,12,16,24,32,64",
    "baseline-nprobes": "16,32,64",
    svg: "docs/images/vector-recall-qps-1m.svg",
  },
};
/** Issue 15's FAISS HNSW (M 32) figures on the faiss-1m data: another machine's run, drawn for reference only. */
const FAISS_HNSW_ISSUE_15 = [
  { recall: 0.906, qps: 2533 },
  { recall: 0.956, qps: 1814 },
  { recall: 0.982, qps: 1278 },
];
const TARGET_FAISS_1M = { recall: 0.95, qps: 1814 };

const { values: cli } = parseArgs({
  options: {
    preset: { type: "string" },
    sizes: { type: "string" },
    dim: { type: "string" },
    k: { type: "string" },
    clusters: { type: "string" },
    noise: { type: "string" },
    "query-noise": { type: "string" },
    queries: { type: "string" },
    passes: { type: "string" },
    "recall-queries": { type: "string" },
    nprobes: { type: "string" },
    baseline: { type: "string" },
    "baseline-nprobes": { type: "string" },
    churn: { type: "string" },
    svg: { type: "string" },
  },
});
if (cli.preset && !PRESETS[cli.preset]) throw new Error(`--preset: expected one of ${Object.keys(PRESETS).join(", ")}, got ${cli.preset}`);
const preset = cli.preset ? PRESETS[cli.preset] : {};
const DEFAULTS: Record<string, string> = {
  sizes: "100000",
  dim: "65",
  k: "300",
  clusters: "1000",
  noise: "0.35",
  queries: "500",
  passes: "3",
  "recall-queries": "200",
  nprobes: "4,8,16,32,64",
  "baseline-nprobes": "16,32,64",
  churn: "0",
};
/** Command line over preset over defaults. */
const arg = (name: string): string | undefined => (cli as Record<string, string | undefined>)[name] ?? preset[name] ?? DEFAULTS[name];

const positiveInt = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got ${text}`);
  return n;
};
const nonNegative = (name: string, text: string | undefined): number => {
  const x = Number(text);
  if (!(x >= 0)) throw new Error(`--${name}: expected a non-negative number, got ${text}`);
  return x;
};
const intList = (name: string): number[] => (arg(name) ?? "").split(",").map((s) => positiveInt(name, s.trim()));
const sizes = intList("sizes");
const dim = positiveInt("dim", arg("dim"));
const k = positiveInt("k", arg("k"));
const clusters = positiveInt("clusters", arg("clusters"));
const noise = nonNegative("noise", arg("noise"));
const queryNoise = arg("query-noise") === undefined ? undefined : nonNegative("query-noise", arg("query-noise"));
const queryCount = positiveInt("queries", arg("queries"));
const passes = positiveInt("passes", arg("passes"));
const recallQueries = Math.min(queryCount, positiveInt("recall-queries", arg("recall-queries")));
const nprobes = intList("nprobes");
const baselineNprobes = intList("baseline-nprobes");
const churn = nonNegative("churn", arg("churn"));
const svgPath = arg("svg");
const isFaissPreset = cli.preset === "faiss-1m";

let baselineFactory: Factory | undefined;
if (cli.baseline) {
  const module = (await import(pathToFileURL(resolve(cli.baseline)).href)) as { createEmbeddedVectorIndex?: Factory };
  if (typeof module.createEmbeddedVectorIndex !== "function") throw new Error(`--baseline ${cli.baseline}: exports no createEmbeddedVectorIndex`);
  baselineFactory = module.createEmbeddedVectorIndex;
}

/** `count` queries: stored rows plus per-dimension Gaussian noise, normalised; or fresh points (see the header). */
function makeQueries(data: Float32Array, n: number, count: number): Float32Array[] {
  if (queryNoise === undefined) {
    const fresh = clusteredVectors(n + count, dim, clusters, 1, noise).subarray(n * dim);
    return Array.from({ length: count }, (_, q) => fresh.slice(q * dim, (q + 1) * dim));
  }
  const rand = seededRandom(99);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return Array.from({ length: count }, () => {
    const r = Math.floor(rand() * n);
    const v = new Float32Array(dim);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      v[d] = data[r * dim + d] + queryNoise * gauss();
      norm += v[d] * v[d];
    }
    for (let d = 0; d < dim; d++) v[d] /= Math.sqrt(norm);
    return v;
  });
}

/**
 * Ids of the exact top k by float64 inner product over the live rows of `parts` (each a matrix and its ids; an
 * id in `deleted` is skipped): the ground truth for recall. A bounded min-heap keeps the best k.
 */
function bruteForce(parts: ReadonlyArray<{ matrix: Float32Array; ids: readonly string[] }>, deleted: ReadonlySet<string>, query: Float32Array): Set<string> {
  const heapScores = new Float64Array(k);
  const heapIds: string[] = new Array(k);
  let size = 0;
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && heapScores[l] < heapScores[m]) m = l;
      if (r < size && heapScores[r] < heapScores[m]) m = r;
      if (m === i) return;
      [heapScores[i], heapScores[m]] = [heapScores[m], heapScores[i]];
      [heapIds[i], heapIds[m]] = [heapIds[m], heapIds[i]];
      i = m;
    }
  };
  for (const { matrix, ids } of parts) {
    for (let i = 0; i < ids.length; i++) {
      let s = 0;
      const o = i * dim;
      for (let d = 0; d < dim; d++) s += query[d] * matrix[o + d];
      if (size === k && s <= heapScores[0]) continue;
      if (deleted.size > 0 && deleted.has(ids[i])) continue;
      if (size < k) {
        heapScores[size] = s;
        heapIds[size] = ids[i];
        size++;
        if (size === k) for (let j = (k >> 1) - 1; j >= 0; j--) siftDown(j);
      } else {
        heapScores[0] = s;
        heapIds[0] = ids[i];
        siftDown(0);
      }
    }
  }
  return new Set(heapIds.slice(0, size));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

interface Config {
  series: "new" | "baseline";
  label: string;
  index: EmbeddedVectorIndex;
  /** Sets the index's probes before each pass (the new index serves several configurations from one build). */
  apply(): void;
  /** Per timed pass: queries per wall-clock second, and per second of this process's CPU time. */
  qps: number[];
  cpuQps: number[];
  recall: number;
}

/** One untimed pass (warm-up, and the answers for recall), then `passes` timed passes, interleaved across configs. */
async function measure(configs: Config[], queries: Float32Array[], truth: Set<string>[]): Promise<void> {
  for (const c of configs) {
    c.apply();
    let recall = 0;
    for (let q = 0; q < queries.length; q++) {
      const hits = await c.index.search(queries[q], k);
      if (q < truth.length) recall += hits.filter((h) => truth[q].has(h.id)).length / truth[q].size;
    }
    c.recall = recall / truth.length;
    c.qps = [];
    c.cpuQps = [];
  }
  for (let p = 0; p < passes; p++) {
    for (const c of configs) {
      c.apply();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (const query of queries) await c.index.search(query, k);
      const cpu = process.cpuUsage(cpu0);
      c.qps.push(queries.length / ((performance.now() - t0) / 1000));
      c.cpuQps.push(queries.length / ((cpu.user + cpu.system) / 1e6));
    }
  }
}

console.log(
  `# embedded vector index: dim ${dim}, k ${k}, ${clusters} centres (noise ${noise}), queries ${queryNoise === undefined ? "fresh" : `stored + noise ${queryNoise}`}, ` +
    `${queryCount} queries × ${passes} passes, recall on ${recallQueries}, single thread, cache off`,
);
const machine = formatMachine(machineInfo());
console.log(machine);

const rows: Array<Array<string | number>> = [];
const charts: Array<{ n: number; configs: Config[] }> = [];
for (const n of sizes) {
  const tGen = performance.now();
  const data = clusteredVectors(n, dim, clusters, 1, noise);
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const queries = makeQueries(data, n, queryCount);
  const tTruth = performance.now();
  let truth = queries.slice(0, recallQueries).map((q) => bruteForce([{ matrix: data, ids }], new Set(), q));
  console.log(`n=${n}: data ${seconds(tTruth - tGen)}, ground truth ${seconds(performance.now() - tTruth)}`);

  const builds: Array<{ series: Config["series"]; label: string; index: EmbeddedVectorIndex; buildMs: number; buildCpuMs: number }> = [];
  const build = (series: Config["series"], label: string, create: Factory, options: Partial<EmbeddedVectorIndexOptions>) => {
    const index = create({ dim, queryCacheSize: 0, ...options });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    index.bulkLoad(ids, data);
    const cpu = process.cpuUsage(cpu0);
    const entry = { series, label, index, buildMs: performance.now() - t0, buildCpuMs: (cpu.user + cpu.system) / 1000 };
    builds.push(entry);
    console.log(`n=${n} ${series} ${label}: build ${seconds(entry.buildMs)} (CPU ${seconds(entry.buildCpuMs)}), nlist ${index.stats().nlist}`);
    return entry;
  };
  const mine = build("new", "default", createEmbeddedVectorIndex, {});
  const configs: Config[] = [];
  const config = (series: Config["series"], label: string, index: EmbeddedVectorIndex, apply: () => void = () => {}): Config => {
    const c: Config = { series, label, index, apply, qps: [], cpuQps: [], recall: 0 };
    configs.push(c);
    return c;
  };
  for (const nprobe of nprobes) config("new", `nprobe ${nprobe}`, mine.index, () => mine.index.setProbes({ nprobe, probeRows: 0 }));
  const newDefault = config("new", "default (nprobe 32, probeRows 4096)", mine.index, () => mine.index.setProbes({ nprobe: 32, probeRows: 4096 }));
  let baseDefault: Config | undefined;
  if (baselineFactory) {
    for (const nprobe of baselineNprobes) {
      const b = build("baseline", `nprobe ${nprobe}`, baselineFactory, { nprobe });
      const c = config("baseline", `nprobe ${nprobe}`, b.index);
      if (nprobe === 32) baseDefault = c;
    }
  }
  await measure(configs, queries, truth);
  const buildOf = (c: Config) => builds.find((b) => b.index === c.index);
  const report = (c: Config, stage: string) => {
    const qps = median(c.qps);
    const cpuQps = median(c.cpuQps);
    const b = buildOf(c);
    rows.push([
      n.toLocaleString("en-US"),
      stage,
      c.series,
      c.label,
      b ? `${seconds(b.buildMs)} (CPU ${seconds(b.buildCpuMs)})` : "–",
      c.index.stats().nlist,
      Math.round(qps).toLocaleString("en-US"),
      Math.round(cpuQps).toLocaleString("en-US"),
      `${(1000 / cpuQps).toFixed(3)} ms`,
      c.recall.toFixed(4),
    ]);
    console.log(
      `n=${n} ${stage} ${c.series} ${c.label}: ${Math.round(qps)} q/s wall, ${Math.round(cpuQps)} per CPU second ` +
        `(passes ${c.qps.map((x) => Math.round(x)).join(", ")} / ${c.cpuQps.map((x) => Math.round(x)).join(", ")}), recall@${k} ${c.recall.toFixed(4)}`,
    );
  };
  for (const c of configs) report(c, "built");
  charts.push({ n, configs: configs.map((c) => ({ ...c, qps: [...c.qps], cpuQps: [...c.cpuQps] })) });

  if (churn > 0) {
    // Writes between builds: f·n new vectors (fresh points around the same centres, none of them a query) and
    // f/10·n deletes.
    const added = Math.round(churn * n);
    const extra = clusteredVectors(n + queryCount + added, dim, clusters, 1, noise).subarray((n + queryCount) * dim);
    const extraIds = Array.from({ length: added }, (_, i) => `new${i}`);
    const removed = new Set(Array.from({ length: Math.round((churn / 10) * n) }, (_, i) => `v${Math.floor((i * n) / Math.max(1, (churn / 10) * n))}`));
    const churned = [newDefault, ...(baseDefault ? [baseDefault] : [])];
    for (const c of churned) {
      const t0 = performance.now();
      for (let start = 0; start < added; start += 1000) {
        const items = extraIds.slice(start, start + 1000).map((id, i) => ({ id, vector: extra.subarray((start + i) * dim, (start + i + 1) * dim) }));
        await c.index.upsert(items);
      }
      await c.index.delete([...removed]);
      const stats = c.index.stats();
      console.log(`n=${n} ${c.series} ${c.label}: ${added} upserts + ${removed.size} deletes in ${seconds(performance.now() - t0)}; pending ${stats.pendingRows}, dead ${stats.deadRows}`);
    }
    truth = queries.slice(0, recallQueries).map((q) => bruteForce([{ matrix: data, ids }, { matrix: extra, ids: extraIds }], removed, q));
    await measure(churned, queries, truth);
    for (const c of churned) report(c, `after ${added.toLocaleString("en-US")} upserts + ${removed.size.toLocaleString("en-US")} deletes`);
  }
  for (const b of builds) await b.index.close();
}

console.log();
console.log(
  markdownTable(["vectors", "state", "index", "probes", "build (wall, CPU)", "nlist", "q/s wall", "q/s per CPU second", "CPU per query", `recall@${k}`], rows),
);

if (svgPath) {
  const { n, configs } = charts[charts.length - 1];
  const title = `${n.toLocaleString("en-US")} × ${dim}, k = ${k}, ${clusters} centres, queries ${queryNoise === undefined ? "fresh" : `stored + noise ${queryNoise}`}`;
  const svg = recallQpsSvg(title, machine, configs, isFaissPreset);
  mkdirSync(dirname(resolve(svgPath)), { recursive: true });
  writeFileSync(svgPath, svg);
  console.log(`\nwrote ${svgPath}`);
}

/** The recall/QPS curve as a standalone SVG: recall across, queries per second up, one line per index. */
function recallQpsSvg(title: string, machineLine: string, configs: Config[], faiss: boolean): string {
  const W = 760;
  const H = 480;
  const left = 70;
  const right = 230;
  const top = 50;
  const bottom = 60;
  // Queries per CPU second: on a shared machine the wall clock counts time other processes held the core.
  const points = configs.map((c) => ({ series: c.series, label: c.label, recall: c.recall, qps: median(c.cpuQps) }));
  const refs = faiss ? FAISS_HNSW_ISSUE_15 : [];
  const all = [...points, ...refs, ...(faiss ? [TARGET_FAISS_1M] : [])];
  // Recall on a scale of "nines", -log10(1 - recall): 0.9, 0.99 and 0.999 equally far apart, so the points near 1
  // do not pile up at the right edge.
  const nines = (r: number) => -Math.log10(Math.max(1 - r, 5e-4));
  const xMin = Math.min(nines(0.9), Math.floor(Math.min(...all.map((p) => nines(p.recall))) * 4) / 4);
  const xMax = nines(0.9995);
  const yMax = niceCeil(Math.max(...all.map((p) => p.qps)) * 1.08);
  const round = (v: number) => Math.round(v * 10) / 10;
  const x = (r: number) => round(left + ((nines(r) - xMin) / (xMax - xMin)) * (W - left - right));
  /** Right end of the plot area. */
  const right0 = left + (W - left - right);
  const y = (q: number) => round(H - bottom - (q / yMax) * (H - top - bottom));
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">Recall@${k} vs queries per second, embedded vector index</text>`);
  out.push(`<text x="${left}" y="38" fill="#444">${esc(title)}</text>`);
  if (faiss) {
    // The target: recall ≥ 0.95 at ≥ 1,814 q/s.
    const tx = x(TARGET_FAISS_1M.recall);
    const ty = y(TARGET_FAISS_1M.qps);
    out.push(`<rect x="${tx}" y="${top}" width="${round(right0 - tx)}" height="${round(ty - top)}" fill="#2a9d3a" fill-opacity="0.08" stroke="#2a9d3a" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${tx + 4}" y="${top + 14}" fill="#2a9d3a">target: ≥ 0.95 at ≥ 1,814 q/s</text>`);
  }
  // Axes and grid.
  for (let i = 0; i <= 5; i++) {
    const q = (yMax * i) / 5;
    out.push(`<line x1="${left}" x2="${right0}" y1="${y(q)}" y2="${y(q)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(q) + 4}" text-anchor="end">${Math.round(q).toLocaleString("en-US")}</text>`);
  }
  for (const r of [0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]) {
    if (nines(r) < xMin - 1e-9) continue;
    out.push(`<line x1="${x(r)}" x2="${x(r)}" y1="${top}" y2="${H - bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x(r)}" y="${H - bottom + 16}" text-anchor="middle">${r}</text>`);
  }
  out.push(`<line x1="${left}" x2="${right0}" y1="${H - bottom}" y2="${H - bottom}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="#333"/>`);
  out.push(`<text x="${(left + right0) / 2}" y="${H - 18}" text-anchor="middle">recall@${k} against exact inner-product search (scale: -log10(1 - recall))</text>`);
  out.push(`<text transform="translate(18 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">queries per CPU second (one thread, one query at a time)</text>`);
  const series = [
    { key: "new", name: "embedded IVF (this build)", color: "#1f5fbf" },
    { key: "baseline", name: "embedded IVF (baseline)", color: "#888" },
  ] as const;
  for (const s of series) {
    const curve = points.filter((p) => p.series === s.key && p.label.startsWith("nprobe")).sort((a, b) => a.recall - b.recall);
    if (curve.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${curve.map((p) => `${x(p.recall)},${y(p.qps)}`).join(" ")}"/>`);
    for (const p of points.filter((q) => q.series === s.key)) {
      const isDefault = p.label.startsWith("default");
      out.push(`<circle cx="${x(p.recall)}" cy="${y(p.qps)}" r="${isDefault ? 6 : 4}" fill="${isDefault ? "white" : s.color}" stroke="${s.color}" stroke-width="2"/>`);
      out.push(`<text x="${x(p.recall) + 8}" y="${y(p.qps) - 6}" fill="${s.color}" font-size="10">${esc(p.label.replace(/ \(.*\)/, ""))}</text>`);
    }
  }
  if (refs.length) {
    out.push(`<polyline fill="none" stroke="#d9822b" stroke-width="1.5" stroke-dasharray="5 3" points="${refs.map((p) => `${x(p.recall)},${y(p.qps)}`).join(" ")}"/>`);
    for (const p of refs) out.push(`<rect x="${x(p.recall) - 4}" y="${y(p.qps) - 4}" width="8" height="8" fill="white" stroke="#d9822b" stroke-width="2"/>`);
  }
  // Legend.
  const lx = W - right + 16;
  let ly = top + 10;
  const legend = (draw: string, text: string) => {
    out.push(draw.replace(/LX/g, String(lx)).replace(/LY/g, String(ly)));
    out.push(`<text x="${lx + 22}" y="${ly + 4}">${esc(text)}</text>`);
    ly += 22;
  };
  for (const s of series) {
    if (!points.some((p) => p.series === s.key)) continue;
    legend(`<circle cx="${lx + 8}" cy="LY" r="4" fill="${s.color}"/>`, `${s.name}, by nprobe`);
  }
  legend(`<circle cx="${lx + 8}" cy="LY" r="6" fill="white" stroke="#1f5fbf" stroke-width="2"/>`, "default settings");
  if (refs.length) {
    legend(`<rect x="${lx + 4}" y="${ly - 4}" width="8" height="8" fill="white" stroke="#d9822b" stroke-width="2"/>`, "FAISS HNSW M32 (issue 15,");
    out.push(`<text x="${lx + 22}" y="${ly - 4}">another machine's run)</text>`);
    ly += 10;
  }
  out.push(`<text x="${lx}" y="${ly + 10}" fill="#666" font-size="10">${esc(machineLine.split(" · ").slice(0, 2).join(" · "))}</text>`);
  out.push(`<text x="${lx}" y="${ly + 24}" fill="#666" font-size="10">${esc(machineLine.split(" · ").slice(2).join(" · "))}</text>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** A round axis maximum at least `v`: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
