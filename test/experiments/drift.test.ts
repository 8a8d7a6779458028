import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuntime, type LoadedRuntime } from "../../src/app/runtime";
import { configSchema } from "../../src/config";
import { binOf, psi, quantileEdges } from "../../src/experiments/drift";
import { labelDrift } from "../../src/experiments/report";
import { silentProgress } from "../../src/util/progress";
import { testConfig, trainTinyBundle } from "./experiment-fixtures";

describe("PSI", () => {
  it("is 0 for the same distribution and matches the hand computation", () => {
    expect(psi([10, 20, 30, 40], [1, 2, 3, 4])).toBeCloseTo(0, 12);
    // (0.4 − 0.1)·ln(4) + (0.1 − 0.4)·ln(1/4) + 0 + 0 = 0.6·ln 4
    expect(psi([1, 4, 2, 3], [4, 1, 2, 3])).toBeCloseTo(0.6 * Math.log(4), 12);
    // An empty bin on one side is floored, not infinite.
    expect(Number.isFinite(psi([0, 10], [10, 0]))).toBe(true);
    expect(psi([], [])).toBeNaN();
  });

  it("decile edges and bins", () => {
    const values = Array.from({ length: 100 }, (_, i) => i);
    const edges = quantileEdges(values, 10);
    expect(edges).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(binOf(edges, -5)).toBe(0);
    expect(binOf(edges, 10)).toBe(1);
    expect(binOf(edges, 95)).toBe(9);
    // A constant column has no inner edge: one bin.
    expect(quantileEdges([3, 3, 3], 10)).toEqual([3]);
  });

  it("label drift: observed CTR against the ranker's served click probability", () => {
    expect(labelDrift({ impressions: 100, clicks: 10, predictedClick: 10, predictedRows: 100 }, 1.5)).toEqual({ predictedCtr: 0.1, labelRatio: 1, labelDrift: false });
    expect(labelDrift({ impressions: 100, clicks: 30, predictedClick: 10, predictedRows: 100 }, 1.5).labelDrift).toBe(true);
    expect(labelDrift({ impressions: 100, clicks: 5, predictedClick: 10, predictedRows: 100 }, 1.5).labelDrift).toBe(true);
  });
});

describe("feature drift of served rows (serving runtime)", () => {
  let root: string;
  let bundle: string;
  const runtimes: LoadedRuntime[] = [];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "reelfeed-drift-"));
    bundle = join(root, "bundle");
    await trainTinyBundle(bundle);
  }, 180_000);
  afterAll(async () => {
    for (const r of runtimes) await r.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Serves every user once at `now` and returns the drift report once the rows are in. */
  async function serveAt(varName: string, shift: number) {
    const rt = await loadRuntime({ bundleDir: bundle, config: testConfig(join(root, varName), { experiments: { drift: { referenceDelayMs: 0 } } }), progress: silentProgress, service: { stateTimeoutMs: 2000 } });
    runtimes.push(rt);
    const end = rt.dataset.events[rt.dataset.events.length - 1].ts;
    for (const user of rt.dataset.users.slice(0, 60)) await rt.feed.feed({ userId: user.id, surface: "home", context: { now: end + shift }, first: 5, debug: false });
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && (!rt.drift().ready || rt.drift().servedRows < 250); ) await new Promise((r) => setTimeout(r, 50));
    return rt.drift();
  }

  it("observes only rows the ranker scored: pages of popular videos (no source, a shed request) add none", async () => {
    const rt = await loadRuntime({
      bundleDir: bundle,
      config: testConfig(join(root, "var-fill"), {
        experiments: { drift: { referenceDelayMs: 0 } },
        // Every source off: each page is the popularity fill, with no ranker heads.
        pipeline: { sources: configSchema.parse({}).pipeline.sources.map((s) => ({ ...s, enabled: false })), overload: { maxEventLoopLagMs: 1_000_000 } },
      }),
      progress: silentProgress,
      service: { stateTimeoutMs: 2000 },
    });
    runtimes.push(rt);
    const end = rt.dataset.events[rt.dataset.events.length - 1].ts;
    const pages = [];
    for (const user of rt.dataset.users.slice(0, 20)) pages.push(await rt.feed.feed({ userId: user.id, surface: "home", context: { now: end + 60_000 }, first: 5, debug: false }));
    expect(pages.every((p) => p.items.length > 0 && p.items.every((i) => Object.keys(i.heads).length === 0))).toBe(true);
    for (const deadline = Date.now() + 3_000; Date.now() < deadline && !rt.drift().ready; ) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(rt.drift().servedRows).toBe(0);
  });

  it("rows served a year after training drift on the time features; rows served right after training much less", async () => {
    const fresh = await serveAt("var-fresh", 60_000);
    const late = await serveAt("var-late", 365 * 86_400_000);
    expect(fresh.ready).toBe(true);
    expect(fresh.referenceRows).toBeGreaterThan(500);
    expect(fresh.servedRows).toBeGreaterThanOrEqual(250);
    expect(fresh.features.length).toBeGreaterThan(5);
    const byName = (r: typeof fresh) => new Map(r.features.map((f) => [f.feature, f.psi]));
    const f = byName(fresh);
    const l = byName(late);
    // A video's age at request time is a ranker feature: a year later every served video is a year older.
    const ageish = [...l.keys()].filter((k) => /age|fresh|since|upload/i.test(k));
    expect(ageish.length, [...l.keys()].join(", ")).toBeGreaterThan(0);
    const worst = ageish.sort((a, b) => l.get(b)! - l.get(a)!)[0];
    console.log(`drift: ${worst} PSI ${f.get(worst)!.toFixed(3)} right after training, ${l.get(worst)!.toFixed(3)} a year later; threshold ${late.threshold}`);
    expect(l.get(worst)!).toBeGreaterThan(late.threshold);
    expect(l.get(worst)!).toBeGreaterThan(2 * f.get(worst)!);
    expect(late.features.find((x) => x.feature === worst)!.drifting).toBe(true);
  });
});
