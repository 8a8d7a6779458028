import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { ReelfeedError } from "../../src/errors";
import { DAY_MS } from "../../src/features/aggregates";
import {
  featureArtifactsToJSON,
  fitFeatureArtifacts,
  loadFeatureArtifacts,
  saveFeatureArtifacts,
} from "../../src/features/artifacts";
import { aggregatesAt } from "../../src/features/replay";
import { DENSE_COLUMNS, buildRankerRows, rankerSpec, userTowerSpec } from "../../src/features/rows";
import { T0, tinyDataset } from "./fixtures";

const dir = await mkdtemp(join(tmpdir(), "reelfeed-artifacts-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const data = tinyDataset();
const until = T0 + 7 * DAY_MS;

async function codeOf(p: Promise<unknown>): Promise<ReelfeedError> {
  try {
    await p;
  } catch (e) {
    return e as ReelfeedError;
  }
  throw new Error("did not throw");
}

describe("feature artifacts", () => {
  it("fit only on the training portion: later events change nothing", () => {
    const a = fitFeatureArtifacts({ dataset: data, until });
    // Wildly different data after the cut-off, including a new user and video.
    const later: ReelEvent[] = Array.from({ length: 50 }, (_, i) => ({
      id: `late${i}`,
      type: "watch",
      userId: i % 2 ? "u-new" : "u1",
      videoId: i % 3 ? "v1" : "v-new",
      ts: until + i,
      watchedSec: 1e6,
      videoDurationSec: 10,
    }));
    const b = fitFeatureArtifacts({ dataset: { ...data, events: [...data.events.filter((e) => e.ts < until), ...later] }, until });
    expect(featureArtifactsToJSON(b)).toEqual(featureArtifactsToJSON(a));
    expect(a.vocabularies.userId.has("u-new")).toBe(false);
    expect(a.fittedRows).toBe(data.events.filter((e) => e.ts < until).length);
    // But a different cut-off does change the statistics.
    const c = fitFeatureArtifacts({ dataset: data, until: until + 2 * DAY_MS });
    expect(c.dense["video.views"]).not.toEqual(a.dense["video.views"]);
  });

  it("fits every dense column, and the fitted columns are roughly standardised on training rows", () => {
    const a = fitFeatureArtifacts({ dataset: data, until });
    for (const c of DENSE_COLUMNS) expect(a.dense[c.name]?.kind).toBe(c.kind);
    expect(a.ageBuckets.edges.length).toBeGreaterThan(0);
    expect(a.vocabularies.device.values).toContain("tv");
    // Rows at one late time point: z-scored columns stay in a sane range.
    const s = aggregatesAt(data, until);
    const spec = rankerSpec(a);
    const batch = buildRankerRows(
      a,
      data.videos.map((video) => ({ user: data.users[0], userAgg: s.users.get("u0"), video, videoAgg: s.videos.get(video.id), context: { now: until } })),
    );
    const col = spec.dense.indexOf("video.avgCompletion");
    for (let r = 0; r < batch.size; r++) expect(Math.abs(batch.dense[r * spec.dense.length + col])).toBeLessThan(5);
  });

  it("subsamples rows deterministically with maxRows", () => {
    const a = fitFeatureArtifacts({ dataset: data, until, maxRows: 50 });
    expect(a.fittedRows).toBeLessThanOrEqual(50);
    expect(a.fittedRows).toBeGreaterThan(25);
    expect(featureArtifactsToJSON(fitFeatureArtifacts({ dataset: data, until, maxRows: 50 }))).toEqual(featureArtifactsToJSON(a));
  });

  it("save/load round-trips to identical rows; no temp file is left behind", async () => {
    const a = fitFeatureArtifacts({ dataset: data, until });
    const path = join(dir, "features.json");
    await saveFeatureArtifacts(path, a);
    expect(await readdir(dir)).toEqual(["features.json"]);
    const b = await loadFeatureArtifacts(path);
    expect(rankerSpec(b)).toEqual(rankerSpec(a));
    expect(userTowerSpec(b)).toEqual(userTowerSpec(a));
    const s = aggregatesAt(data, until);
    const inputs = data.videos.map((video) => ({ user: data.users[2], userAgg: s.users.get("u2"), video, videoAgg: s.videos.get(video.id), context: { now: until, device: "tv" as const } }));
    expect(buildRankerRows(b, inputs)).toEqual(buildRankerRows(a, inputs));
  });

  it("artifacts fitted on all data (until = Infinity, a refit bundle) survive a save/load", async () => {
    const a = fitFeatureArtifacts({ dataset: data, until: Infinity });
    const path = join(dir, "features-all.json");
    await saveFeatureArtifacts(path, a);
    const b = await loadFeatureArtifacts(path);
    expect(b.fittedUntil).toBe(Infinity);
    expect(rankerSpec(b)).toEqual(rankerSpec(a));
    await rm(path);
  });

  it("a bad file throws BAD_BUNDLE naming the path and the field", async () => {
    const a = fitFeatureArtifacts({ dataset: data, until });
    const missing = await codeOf(loadFeatureArtifacts(join(dir, "nope.json")));
    expect(missing.code).toBe("BAD_BUNDLE");
    expect(missing.message).toContain("nope.json");

    const garbled = join(dir, "garbled.json");
    await writeFile(garbled, "{not json");
    expect((await codeOf(loadFeatureArtifacts(garbled))).code).toBe("BAD_BUNDLE");

    const good = featureArtifactsToJSON(a) as Record<string, any>;
    const cases: [string, (j: Record<string, any>) => void, string][] = [
      ["version", (j) => (j.version = 99), "version"],
      ["format", (j) => (j.format = "other"), "format"],
      ["dense", (j) => delete j.dense["video.ctr"], "dense.video.ctr"],
      ["kind", (j) => (j.dense["video.ctr"] = { kind: "identity" }), "dense.video.ctr"],
      ["vocab", (j) => (j.vocabularies.tag = { oovBuckets: 1, values: [1] }), "vocabularies.tag"],
      ["layout", (j) => (j.layout.historyLength = 0), "layout.historyLength"],
      ["ages", (j) => (j.ageBuckets = { edges: [5, 1] }), "ageBuckets"],
      ["tower inputs", (j) => (j.userTowerDense = ["video.ctr"]), "userTowerDense"],
    ];
    for (const [name, mutate, field] of cases) {
      const j = JSON.parse(JSON.stringify(good));
      mutate(j);
      const path = join(dir, `bad-${name}.json`);
      await writeFile(path, JSON.stringify(j));
      const err = await codeOf(loadFeatureArtifacts(path));
      expect(err.code, name).toBe("BAD_BUNDLE");
      expect(err.message, name).toContain(path);
      expect(err.message, name).toContain(field);
    }
    expect(JSON.parse(await readFile(join(dir, "features.json"), "utf8")).format).toBe("reelfeed.feature-artifacts");
  });
});
