import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { CATALOG_CHANGES_FILE } from "../../src/catalog/catalog-export";
import { openLiveCatalog } from "../../src/catalog/live-catalog";
import { loadConfig } from "../../src/config";
import { createCatalog } from "../../src/data/catalog";
import { writeGenericDataset } from "../../src/data/generic-writer";
import { loadDataset } from "../../src/data/load-dataset";
import { generateSynthetic } from "../../src/data/synthetic";
import { validateDataset } from "../../src/data/validate";
import { exportTraining } from "../../src/events/export-training";
import { createIngestor } from "../../src/events/ingest";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { BUNDLE_FORMAT } from "../../src/training/bundle";

/** export-training folds the live catalogue into the exported dataset and keeps every version beside it. */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it("exports the catalogue as the servers have it: uploads (with their upload time), edits, takedowns, profiles", async () => {
  const root = await mkdtemp(join(tmpdir(), "rf-catalog-export-"));
  dirs.push(root);
  const NOW = Date.now();
  const { dataset: base } = validateDataset(generateSynthetic({ users: 20, videos: 30, days: 2, seed: 5 }).dataset, { now: NOW });
  const bundle = join(root, "bundle");
  await mkdir(bundle, { recursive: true });
  for (const f of ["user-tower.onnx", "ranker.onnx", "video-ids.json", "features.json"]) await writeFile(join(bundle, f), "");
  await writeFile(
    join(bundle, "manifest.json"),
    JSON.stringify({
      format: BUNDLE_FORMAT,
      version: "b1",
      createdAt: new Date().toISOString(),
      source: base.source,
      dataFingerprint: "x",
      refit: false,
      config: {},
      metrics: {},
      models: { userTower: { file: "user-tower.onnx", dim: 8, inputs: [], parityMaxAbsDiff: 0 }, ranker: { file: "ranker.onnx", heads: [], inputs: [], parityMaxAbsDiff: 0 } },
      embeddings: { videoIds: "video-ids.json", twoTower: "x", twoTowerDim: 8, content: "y", contentDim: 8 },
      timings: {},
    }),
  );
  await writeGenericDataset(join(bundle, "data"), base);
  const varDir = join(root, "var");
  const config = loadConfig({ env: {}, overrides: { paths: { varDir } } });
  const events = await createFileEventLog({ dir: join(varDir, "events") });
  await createIngestor({ log: events }).ingest([{ id: "e1", type: "like", userId: base.users[0].id, videoId: base.videos[0].id, ts: NOW - 1000 }]);
  await events.close();

  const live = await openLiveCatalog({ config, catalog: createCatalog(base), vectors: {} });
  await live.start();
  const edited = base.videos[1];
  const uploadedAt = NOW - 30_000;
  const results = await live.writer.write([
    { kind: "video", raw: { id: "uploaded-later", creatorId: base.creators[0].id, title: "new", category: "music", durationSec: 30, uploadedAt, updatedAt: NOW - 20_000 } },
    { kind: "video", raw: { ...edited, title: "edited title", description: null, updatedAt: NOW - 20_000 } },
    { kind: "video", raw: { ...edited, title: "older edit", description: null, updatedAt: NOW - 25_000 } },
    { kind: "removal", raw: { id: base.videos[2].id, reason: "takedown" } },
    { kind: "user", raw: { id: base.users[0].id, age: 44, country: "NZ", updatedAt: NOW - 20_000 } },
  ]);
  expect(results.map((r) => r.status)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED", "ACCEPTED", "ACCEPTED"]);
  await live.close();

  const out = join(root, "out");
  const result = await exportTraining({ config, out, bundle });
  const { dataset } = await loadDataset(out, { format: "generic" });
  expect(result.counts.videos).toBe(base.videos.length + 1);
  expect(dataset.videos.find((v) => v.id === "uploaded-later")).toMatchObject({ uploadedAt, title: "new" });
  // The newest version wins, whatever order the versions were logged in.
  expect(dataset.videos.find((v) => v.id === edited.id)!.title).toBe("edited title");
  expect(dataset.videos.find((v) => v.id === base.videos[2].id)!.policyFlags).toContain("removed");
  expect(dataset.users.find((u) => u.id === base.users[0].id)).toMatchObject({ age: 44, country: "NZ" });
  // Every version, with its time, beside the dataset.
  const changes = (await readFile(join(out, CATALOG_CHANGES_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  expect(changes.map((c) => [c.kind, c.updatedAt ?? c.removedAt > 0])).toEqual([
    ["video", NOW - 20_000],
    ["video", NOW - 20_000],
    ["video", NOW - 25_000],
    ["removal", true],
    ["user", NOW - 20_000],
  ]);
});

