import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuntime, type LoadedRuntime } from "../../src/app/runtime";
import { loadConfig } from "../../src/config";
import { loadDataset } from "../../src/data/load-dataset";
import type { Dataset, ReelEvent } from "../../src/data/types";
import { JOINED_REPORT_FILE, type JoinedImpression } from "../../src/events/export-training";
import { summarizeResults } from "../../src/events/ingest";
import type { FeedPage } from "../../src/pipeline/feed-page";
import { buildRankerExamples } from "../../src/training/examples";
import { trainBundle } from "../../src/training/train-pipeline";
import { silentProgress, type Progress } from "../../src/util/progress";
import { readLog } from "../read-log";

/**
 * The feedback loop end to end, with no hand work between the steps:
 *   train a bundle → load the serving runtime → serve pages (impressions logged with tracking ids) → clients send
 *   click / watch / like carrying those ids through the ingestor → `reelfeed export-training` (the CLI) →
 *   train a new bundle on the export → its ranker learned from the served impressions, labelled by what followed.
 * Tiny synthetic platform, one epoch: this checks the plumbing, not model quality.
 */
const ROOT = resolve(__dirname, "../..");
const USERS = 12;
const PAGE = 6;

let root: string;
let varDir: string;
let bundle: string;
let runtime: LoadedRuntime | undefined;
const pages: Array<{ userId: string; page: FeedPage }> = [];
const outcomes: ReelEvent[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-loop-"));
  varDir = join(root, "var");
  bundle = join(root, "bundle-1");
  await trainBundle({
    synthetic: { users: 150, videos: 200, days: 7, seed: 21 },
    twoTower: { epochs: 1 },
    ranker: { epochs: 1, maxExamples: 5000 },
    contentDim: 16,
    ks: [10],
    refit: false,
    out: bundle,
  });
}, 120_000);
afterAll(async () => {
  await runtime?.close();
  await rm(root, { recursive: true, force: true });
});

function capture(): Progress & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m), step: () => ({ tick: () => {}, done: () => {} }) };
}

describe("serve → log → export-training → train", () => {
  let data: Dataset;

  it("serves pages whose impressions are logged, and ingests the clients' outcomes", async () => {
    // No load shedding: this process trains between requests (see end-to-end.test.ts).
    const config = loadConfig({ env: {}, overrides: { paths: { varDir }, pipeline: { overload: { maxEventLoopLagMs: 1_000_000 } } } });
    runtime = await loadRuntime({ bundleDir: bundle, config, progress: silentProgress });
    data = runtime.dataset;
    // Previews first (a dashboard looking): ranked pages, but nothing logged and nothing marked served.
    const previewed = [];
    for (const user of data.users.slice(0, 3)) previewed.push(await runtime.feed.feed({ userId: user.id, surface: "home", context: {}, first: PAGE, debug: false, preview: true }));
    expect(previewed.every((p) => p.items.length === PAGE)).toBe(true);
    for (const user of data.users.slice(0, USERS)) {
      const page = await runtime.feed.feed({ userId: user.id, surface: "home", context: {}, first: PAGE, debug: false });
      expect(page.items).toHaveLength(PAGE);
      pages.push({ userId: user.id, page });
    }
    // Impressions are logged off the request path: wait until every served item is in the durable log.
    const deadline = Date.now() + 15_000;
    let served: ReelEvent[] = [];
    while (Date.now() < deadline) {
      served = (await readLog(runtime)).filter((e) => e.type === "impression" && e.served);
      if (served.length >= USERS * PAGE) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(served).toHaveLength(USERS * PAGE);
    expect(new Set(served.map((e) => e.trackingId))).toEqual(new Set(pages.flatMap(({ page }) => page.items.map((i) => i.trackingId))));
    const previewIds = new Set(previewed.flatMap((p) => p.items.map((i) => i.trackingId)));
    expect(served.filter((e) => previewIds.has(e.trackingId!))).toEqual([]);

    // Clients: the top item of every page is clicked and watched to the end, the second clicked and abandoned,
    // every other page's top item liked. Each event carries the tracking id the page gave its item.
    let t = Date.now();
    pages.forEach(({ userId, page }, p) => {
      const [top, second] = page.items;
      const base = { userId, trackingId: top.trackingId, videoId: top.video.id };
      outcomes.push({ ...base, id: `c-${p}-0`, type: "click", ts: t++, surface: "home", position: top.position });
      outcomes.push({ ...base, id: `w-${p}-0`, type: "watch", ts: t++, watchedSec: top.video.durationSec, videoDurationSec: top.video.durationSec });
      if (p % 2 === 0) outcomes.push({ ...base, id: `l-${p}-0`, type: "like", ts: t++ });
      outcomes.push({ id: `c-${p}-1`, type: "click", userId, trackingId: second.trackingId, videoId: second.video.id, ts: t++ });
    });
    const results = await runtime.ingestor.ingest(outcomes);
    expect(summarizeResults(results)).toEqual({ accepted: outcomes.length, duplicates: 0, rejected: 0 });
    await runtime.consumer.catchUp(10_000);
    await runtime.close();
    runtime = undefined;
  });

  it("exports the log (CLI) with every served impression joined to its outcomes, and retrains on it", async () => {
    const out = join(root, "training");
    const cli = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "export-training", "--out", out, "--bundle", bundle], {
        cwd: ROOT,
        env: { ...process.env, REELFEED_VAR_DIR: varDir, REDIS_URL: "" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      child.on("close", (code) => done({ code, stderr }));
    });
    expect(cli.code, cli.stderr).toBe(0);
    const clicks = outcomes.filter((e) => e.type === "click").length;
    expect(cli.stderr).toContain(`${USERS * PAGE} served impressions, ${USERS * 2} with an outcome`);
    expect(cli.stderr).toContain(`${outcomes.length} joined, 0 unjoined, 0 mismatched`);

    // The join report: one row per served item, with the outcomes the clients sent.
    const rows = (await readFile(join(out, JOINED_REPORT_FILE), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as JoinedImpression);
    expect(rows).toHaveLength(USERS * PAGE);
    expect(rows.filter((r) => r.clicked)).toHaveLength(clicks);
    expect(rows.filter((r) => r.completed)).toHaveLength(USERS);
    expect(rows.filter((r) => r.liked)).toHaveLength(USERS / 2);
    for (const r of rows) {
      expect(r.modelVersion).toBe(pages[0].page.modelVersion);
      expect(Object.keys(r.scores).sort()).toEqual(["click", "completion", "dislike", "like"]);
      expect(r.sources.length).toBeGreaterThan(0);
    }

    // The exported data: the history plus every logged event, nothing dropped by validation.
    const { dataset: exported, report } = await loadDataset(out);
    expect(Object.values(report.dropped).every((n) => n === 0)).toBe(true);
    expect(exported.events.length).toBe(data.events.length + USERS * PAGE + outcomes.length);
    const servedIds = new Set(rows.map((r) => `imp:${r.trackingId}`));
    expect(exported.events.filter((e) => servedIds.has(e.id))).toHaveLength(USERS * PAGE);

    // The ranker's own examples (training/examples.ts) now include one row per served impression, labelled by what
    // the client did: clicked rows are exactly the clicked items, the completion label the completed watches.
    const examples = buildRankerExamples(exported, { until: Infinity });
    const historyImpressions = data.events.filter((e) => e.type === "impression").length;
    expect(examples.inputs).toHaveLength(historyImpressions + USERS * PAGE);
    const byItem = new Map(rows.map((r) => [`${r.userId}\u0000${r.videoId}\u0000${r.ts}`, r]));
    let matched = 0;
    examples.inputs.forEach((input, i) => {
      const row = byItem.get(`${input.user?.id}\u0000${input.video.id}\u0000${input.context.now}`);
      if (!row) return;
      matched++;
      expect(examples.labels.click[i]).toBe(row.clicked ? 1 : 0);
      if (row.clicked) expect(examples.labels.completion[i]).toBe(row.completed ? 1 : 0);
      if (row.clicked) expect(examples.labels.like[i]).toBe(row.liked ? 1 : 0);
    });
    expect(matched).toBe(USERS * PAGE);

    // Retrain on the export with `npm run train`'s path (refit on all data: the newest events, the served ones,
    // are the test period of the time split and reach the shipped models only through the refit).
    const progress = capture();
    const second = await trainBundle({
      data: out,
      twoTower: { epochs: 1 },
      ranker: { epochs: 1 },
      contentDim: 16,
      ks: [10],
      refit: true,
      includeData: false,
      out: join(root, "bundle-2"),
      progress,
    });
    expect(second.manifest.source).toContain("export-training:");
    const refitRows = progress.lines.map((l) => /^refit on all data: ranker: (\d+) rows \(impressions\)/.exec(l)).find(Boolean);
    expect(refitRows, progress.lines.join("\n")).toBeTruthy();
    expect(Number(refitRows![1])).toBe(historyImpressions + USERS * PAGE);
  }, 90_000);
});
