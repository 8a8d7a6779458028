/**
 * bench:experiments — the per-request cost experiments add to a feed request, measured in isolation (no model, no
 * stores): assigning the user to every configured experiment, picking the variant's pipeline, encoding the
 * exposures for the impression log, recording the request counters, and tagging a 20-item page's impressions.
 *
 *   npx tsx bench/experiments-bench.ts [--requests 200000]
 *
 * Results in docs/experiments.md ("What it costs per request").
 */
import { performance } from "node:perf_hooks";
import { assignAll, encodeExposures } from "../src/experiments/assignment";
import { experimentSchema } from "../src/experiments/experiment-config";
import { createMemoryCountsStore } from "../src/experiments/counts-store";
import { createExperimentMetrics } from "../src/experiments/online-metrics";
import { planExperiments } from "../src/experiments/variant-configs";
import { configSchema } from "../src/config";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = arg("requests", 200_000);
const base = configSchema.parse({});

function experiments(n: number) {
  return Array.from({ length: n }, (_, i) =>
    experimentSchema.parse({
      name: `exp-${i}`,
      traffic: 0.5,
      variants: [{ name: "control" }, { name: "treatment", overrides: i === 0 ? { ranking: { candidatesToRank: 300 } } : {} }],
    }),
  );
}

function bench(label: string, fn: (i: number) => void): number {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up (JIT)
  const t = performance.now();
  for (let i = 0; i < REQUESTS; i++) fn(i);
  const us = ((performance.now() - t) * 1000) / REQUESTS;
  console.log(`${label.padEnd(64)} ${us.toFixed(2)} µs/request`);
  return us;
}

console.log(`node ${process.version}, ${REQUESTS} requests per row`);
const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const now = Date.now();
let sink = 0;
for (const n of [1, 5, 20]) {
  const defs = experiments(n);
  const plan = planExperiments({ base, experiments: defs, schema: configSchema });
  const metrics = createExperimentMetrics({ store: createMemoryCountsStore() });
  bench(`${n} experiment(s): assign + pick pipeline`, (i) => {
    const x = assignAll(plan.experiments, users[i % users.length], now);
    sink += plan.pipelineKey(x).length;
  });
  bench(`${n} experiment(s): assign + pick + encode + record request`, (i) => {
    const x = assignAll(plan.experiments, users[i % users.length], now);
    sink += plan.pipelineKey(x).length;
    // The impression logger recomputes the assignment and encodes it once per page.
    sink += (encodeExposures(assignAll(plan.experiments, users[i % users.length], now)) ?? "").length;
    metrics.recordRequest(x, 20, false);
  });
  void metrics.close();
}
// The served events grow by the encoded string: the log and the consumer carry it once per impression.
const one = encodeExposures(assignAll(experiments(5), "user-1", now)) ?? "";
console.log(`encoded exposures, 5 experiments: ${one.length} bytes per impression (${JSON.stringify(one)})`);
if (sink === -1) console.log(sink);
