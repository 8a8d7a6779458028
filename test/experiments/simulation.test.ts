import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuntime, type LoadedRuntime } from "../../src/app/runtime";
import { generateSynthetic, type SyntheticTruth } from "../../src/data/synthetic";
import type { ReelEvent } from "../../src/data/types";
import { summarizeResults } from "../../src/events/ingest";
import { experimentSchema } from "../../src/experiments/experiment-config";
import { buildExperimentReport, compareMetric, METRICS } from "../../src/experiments/report";
import { seededRandom } from "../../src/util/random";
import { silentProgress } from "../../src/util/progress";
import { testConfig, trainTinyBundle } from "./experiment-fixtures";

/**
 * The proof end to end, on the synthetic platform whose true tastes are known (src/data/synthetic.ts): simulated
 * viewers respond to what the real serving runtime shows them — they click with the generator's own probability
 * (taste·topic, quality, position), watch with its completion model, like and say "not interested" — and the
 * responses flow back through the ingestor, the log, the consumer and the join into the per-variant counters.
 *
 * - "ranker": the control ignores the trained ranker (a flat blend: every head's weight 0), the treatment uses it.
 *   The treatment must come out significantly better on CTR.
 * - 40 A/A experiments (two identical variants, each its own salt) on the same traffic: independent re-randomizations
 *   of the same users. Their share of "significant" results must stay near α; the per-impression z-test, which
 *   ignores that users (not impressions) were randomized, is shown beside it for comparison.
 */
const SYNTHETIC = { users: 150, videos: 200, days: 7, seed: 21 };
const AA = 40;
const ROUNDS = 4;
const PAGE = 10;
const ALPHA = 0.05;

let root: string;
let bundle: string;
let runtime: LoadedRuntime | undefined;
let truth: SyntheticTruth;

const definitions = [
  {
    name: "ranker",
    variants: [{ name: "flat", overrides: { ranking: { blend: { click: 0, completion: 0, like: 0, dislike: 0, affinity: 0 } } } }, { name: "ranked" }],
  },
  ...Array.from({ length: AA }, (_, i) => ({ name: `aa-${i}`, variants: [{ name: "a" }, { name: "b" }] })),
];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-exp-sim-"));
  bundle = join(root, "bundle");
  await trainTinyBundle(bundle);
  truth = generateSynthetic(SYNTHETIC).truth;
}, 180_000);
afterAll(async () => {
  await runtime?.close();
  await rm(root, { recursive: true, force: true });
});

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe("simulated viewers on the synthetic platform", () => {
  it("detects the better ranker, and A/A experiments come out significant at about α", async () => {
    runtime = await loadRuntime({
      bundleDir: bundle,
      config: testConfig(join(root, "var"), { experiments: { definitions, analysis: { minImpressionsPerVariant: 500, alpha: ALPHA } } }),
      progress: silentProgress,
      service: { stateTimeoutMs: 2000 },
    });
    const rt = runtime;
    const next = seededRandom(2026);
    const rng = {
      chance: (p: number) => next() < p,
      // Box–Muller.
      normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
    };
    const userIndex = new Map(truth.userIds.map((id, i) => [id, i]));
    const videoIndex = new Map(truth.videoIds.map((id, i) => [id, i]));
    const maxTaste = truth.userTaste.map((t) => Math.max(...t));
    const start = rt.dataset.events[rt.dataset.events.length - 1].ts + 60_000;
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const events: ReelEvent[] = [];
      for (const userId of truth.userIds) {
        let t = start + round * 3_600_000 + (userIndex.get(userId)! * 10_000);
        const page = await rt.feed.feed({ userId, surface: "home", context: { now: t }, first: PAGE, debug: false });
        for (const item of page.items) {
          const v = videoIndex.get(item.video.id);
          const rel = v === undefined ? 0 : truth.affinity(userId, item.video.id) / maxTaste[userIndex.get(userId)!];
          const quality = v === undefined ? 0 : truth.videoQuality[v];
          const base = { userId, videoId: item.video.id, trackingId: item.trackingId };
          // The generator's own click model (src/data/synthetic.ts), position within the page.
          const pClick = sigmoid(-3.2 + 4.2 * rel + 0.4 * quality - 0.35 * Math.log1p(item.position % PAGE));
          t += 1000;
          if (!rng.chance(pClick)) {
            if (rng.chance(0.03 * (1 - rel))) events.push({ ...base, id: `s${n++}`, type: "not_interested", ts: t });
            continue;
          }
          events.push({ ...base, id: `s${n++}`, type: "click", ts: t, surface: "home", position: item.position });
          const dur = item.video.durationSec;
          const completion = Math.min(1, sigmoid(-0.3 + 3 * rel + 0.5 * quality + 0.6 * rng.normal()));
          events.push({ ...base, id: `s${n++}`, type: "watch", ts: t + 500, watchedSec: Math.max(1, Math.round(completion * dur)), videoDurationSec: dur });
          if (rng.chance(0.3 * rel)) events.push({ ...base, id: `s${n++}`, type: "like", ts: t + 600 });
        }
      }
      expect(summarizeResults(await rt.ingestor.ingest(events)).rejected).toBe(0);
    }
    // Impressions are logged off the request path: wait until the consumer has applied them all.
    const expected = ROUNDS * truth.userIds.length * PAGE;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      await rt.consumer.catchUp(10_000);
      const snap = await rt.experimentMetrics.snapshot();
      const ranker = snap.get("ranker");
      const pending = rt.experimentMetrics.pending();
      if (pending + [...(ranker?.values() ?? [])].reduce((s, c) => s + (c.impressions ?? 0), 0) >= expected) break;
    }
    // The last outcomes are in: close every attribution window.
    rt.experimentMetrics.drain();
    const snapshot = await rt.experimentMetrics.snapshot();
    const parse = (d: (typeof definitions)[number]) => experimentSchema.parse(d);

    const ranker = buildExperimentReport(parse(definitions[0]), snapshot, { alpha: ALPHA, minImpressionsPerVariant: 500, attributionWindowMs: 1 });
    expect(ranker.variants.reduce((s, v) => s + v.impressions, 0)).toBeGreaterThan(expected * 0.95);
    expect(ranker.decided).toBe(true);
    const ctr = ranker.comparisons[0].metrics.find((m) => m.metric === "ctr")!;
    console.log(
      `ranker: CTR flat ${ctr.control.toFixed(4)} vs ranked ${ctr.treatment.toFixed(4)}, diff ${ctr.diff.toFixed(4)} ` +
        `[${ctr.ciLow.toFixed(4)}, ${ctr.ciHigh.toFixed(4)}], p = ${ctr.pValue.toExponential(2)} (${ctr.test}); users ${ranker.variants.map((v) => v.users).join("/")}`,
    );
    expect(ctr.test).toBe("ratio-delta-z");
    expect(ctr.significant).toBe(true);
    expect(ctr.diff).toBeGreaterThan(0);
    expect(ctr.worse).toBe(false);

    // A/A: every primary metric of every A/A experiment; the delta method decides, the naive test is only counted.
    const primaries = METRICS.filter((m) => m.kind === "primary");
    let tests = 0;
    let rejected = 0;
    let naiveRejected = 0;
    let ctrRejected = 0;
    for (const d of definitions.slice(1)) {
      const report = buildExperimentReport(parse(d), snapshot, { alpha: ALPHA, minImpressionsPerVariant: 500, attributionWindowMs: 1 });
      expect(report.decided).toBe(true);
      const [a, b] = report.variants.map((v) => snapshot.get(d.name)!.get(v.name)!);
      for (const m of primaries) {
        const c = report.comparisons[0].metrics.find((x) => x.metric === m.name)!;
        tests++;
        if (c.pValue < ALPHA) rejected++;
        if (m.name === "ctr" && c.pValue < ALPHA) ctrRejected++;
        if (compareMetric(m, a, b, ALPHA, true).pValue < ALPHA) naiveRejected++;
      }
    }
    console.log(
      `A/A: ${rejected}/${tests} primary-metric tests significant at α = ${ALPHA} (${((rejected / tests) * 100).toFixed(1)} %; CTR ${ctrRejected}/${AA}); ` +
        `per-impression tests that ignore the user randomization: ${naiveRejected}/${tests} (${((naiveRejected / tests) * 100).toFixed(1)} %)`,
    );
    // Near α: 240 correlated tests; a calibrated test lands around 12 of them. Twice α would be miscalibrated.
    expect(rejected / tests).toBeLessThan(2 * ALPHA);
    expect(ctrRejected).toBeLessThanOrEqual(6);
  }, 600_000);
});
