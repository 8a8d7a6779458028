/**
 * npm run bench:train — the whole offline pipeline on MovieLens-small (import → … → refit → bundle), timed, with
 * peak memory. Target (issue 2): under 5 minutes on 2 cores and under 4 GB peak RSS.
 *   npm run bench:train -- [--data ../shared/data/movielens-small] [--out .bench-out/ml-bundle]
 */
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { trainBundle } from "../src/training/train-pipeline";
import { createProgress } from "../src/util/progress";

const { values } = parseArgs({ options: { data: { type: "string" }, out: { type: "string" }, "no-refit": { type: "boolean" } } });
const data = values.data ?? "../shared/data/movielens-small";
const out = values.out ?? ".bench-out/ml-bundle";
const started = Date.now();
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
const { manifest, report } = await trainBundle({ data, out, refit: !values["no-refit"], progress: createProgress() });
clearInterval(sampler);
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
const r = report;
const metric = (name: string, m: string) => r.retrieval[name]?.[m]?.toFixed(4);
const row = (name: string) =>
  `${name}: recall@20=${metric(name, "recall@20")} ndcg@20=${metric(name, "ndcg@20")} hit@20=${metric(name, "hit@20")} coverage@20=${metric(name, "coverage@20")}`;
console.log(
  JSON.stringify(
    {
      machine: `${cpus().length} × ${cpus()[0]?.model}`,
      node: process.version,
      wallSeconds: (Date.now() - started) / 1000,
      peakRssMiB: Math.round(peakRss / 2 ** 20),
      timings: manifest.timings,
      version: manifest.version,
    },
    null,
    2,
  ),
);
for (const name of Object.keys(r.retrieval)) console.log(row(name));
for (const [head, m] of Object.entries(r.ranker)) console.log(`ranker ${head}: auc=${m.auc?.toFixed(4)} logLoss=${m.logLoss?.toFixed(4)} (n=${m.n})`);
