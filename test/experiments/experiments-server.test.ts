import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type Serving } from "../../src/app/serve";
import { ROOT_FIELD_RULES } from "../../src/auth/root-fields";
import { activateBundle, readRegistry, registerBundle, rollbackBundle } from "../../src/training/registry";
import { silentProgress, type Progress } from "../../src/util/progress";
import { reelfeedErrorOf } from "../reelfeed-error-of";
import { copyBundle, testConfig, trainTinyBundle } from "./experiment-fixtures";

/**
 * A whole server (HTTP, GraphQL, /metrics) with experiments, then the model lifecycle on a server that follows the
 * registry: hot swap under load with no failed request, the promotion gate, refusal of broken bundles, rollback.
 */
let root: string;
let trained: string;

const FEED = `query($userId: ID!, $debug: Boolean) { feed(userId: $userId, first: 5, debug: $debug) {
  modelVersion experiments { name variant } edges { node { trackingId } } trace { experiments { name variant } } } }`;
const REPORT = `query($name: String!) { experimentReport(name: $name) {
  experiment control decided variants { name impressions requests metrics { metric value } latencyP50Ms latencyP99Ms }
  comparisons { variant metrics { metric kind test diff ciLow ciHigh pValue significant } } } }`;

interface Gql<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}
async function gql<T>(url: string, query: string, variables: Record<string, unknown>): Promise<Gql<T> & { status: number }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  return { ...((await res.json()) as Gql<T>), status: res.status };
}
type FeedData = { feed: { modelVersion: string; experiments: Array<{ name: string; variant: string }>; edges: unknown[]; trace: { experiments: unknown[] } | null } };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-exp-server-"));
  trained = join(root, "trained");
  await trainTinyBundle(trained);
}, 180_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("experiments over HTTP", () => {
  let serving: Serving;
  beforeAll(async () => {
    const config = testConfig(join(root, "var-http"), {
      experiments: { definitions: [{ name: "aa", variants: [{ name: "a" }, { name: "b" }] }], analysis: { minImpressionsPerVariant: 10, attributionWindowMs: 200 } },
    });
    serving = await serve({ config, bundle: trained, port: 0, handleSignals: false, progress: silentProgress, runtime: { service: { stateTimeoutMs: 2000 } } });
  });
  afterAll(async () => serving?.stop());

  it("answers feed with experiments { name variant }, traced, and the admin report with CIs and p-values", async () => {
    const users = serving.loaded.dataset.users.slice(0, 30).map((u) => u.id);
    for (const userId of users) {
      const r = await gql<FeedData>(serving.url, FEED, { userId, debug: true });
      expect(r.errors).toBeUndefined();
      const expected = serving.loaded.serving.assign(userId, Date.now()).map((x) => ({ name: x.experiment, variant: x.variant }));
      expect(r.data!.feed.experiments).toEqual(expected);
      expect(r.data!.feed.trace?.experiments).toEqual(expected);
    }
    // Impressions reach the log asynchronously, then the consumer: wait for the counters.
    const deadline = Date.now() + 10_000;
    let report: any;
    while (Date.now() < deadline) {
      const r = await gql<{ experimentReport: any }>(serving.url, REPORT, { name: "aa" });
      expect(r.errors).toBeUndefined();
      report = r.data!.experimentReport;
      if (report.variants.reduce((n: number, v: any) => n + v.impressions, 0) === users.length * 5) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(report.variants.reduce((n: number, v: any) => n + v.impressions, 0)).toBe(users.length * 5);
    expect(report.variants.reduce((n: number, v: any) => n + v.requests, 0)).toBe(users.length);
    expect(report.control).toBe("a");
    for (const v of report.variants) {
      expect(v.latencyP50Ms).toBeGreaterThan(0);
      expect(v.latencyP99Ms).toBeGreaterThanOrEqual(v.latencyP50Ms);
      // No outcomes were sent: a CTR of exactly 0.
      expect(v.metrics.find((m: any) => m.metric === "ctr").value).toBe(0);
    }
    const comparison = report.comparisons[0];
    expect(comparison.variant).toBe("b");
    expect(comparison.metrics.map((m: any) => m.metric)).toEqual(
      expect.arrayContaining(["ctr", "watchSecPerImpression", "completionRate", "likeRate", "dislikeRate", "notInterestedRate", "latencyMs", "fallbackRate"]),
    );
    const latency = comparison.metrics.find((m: any) => m.metric === "latencyMs");
    expect(latency.test).toBe("welch-t");
    expect(latency.ciLow).toBeLessThanOrEqual(latency.diff);
    expect(latency.ciHigh).toBeGreaterThanOrEqual(latency.diff);
    expect(latency.pValue).toBeGreaterThan(0);

    const unknown = await gql(serving.url, REPORT, { name: "nope" });
    expect(unknown.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    // Operators only.
    expect(ROOT_FIELD_RULES.Query.experimentReport.scope).toBe("admin");

    // /metrics renders a snapshot refreshed in the background (a scrape starts one): the next scrape shows it.
    let metrics = "";
    const shownImpressions = () =>
      [...metrics.matchAll(/reelfeed_experiment_total\{experiment="aa",variant="(a|b)",counter="impressions"\} (\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
    for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((res) => setTimeout(res, 1100))) {
      metrics = await (await fetch(serving.url.replace(/\/graphql$/, "/metrics"))).text();
      if (shownImpressions() === users.length * 5) break;
    }
    expect(shownImpressions()).toBe(users.length * 5);
    expect(metrics).toMatch(/reelfeed_experiment_value\{experiment="aa",variant="b",metric="latencyP99Ms"\} [\d.]+/);
  });
});

describe("model lifecycle on a server following the registry", () => {
  let serving: Serving;
  let varDir: string;
  const lines: string[] = [];
  const progress: Progress = { log: (m) => lines.push(m), step: () => ({ tick: () => {}, done: () => {} }) };
  const bundles: Record<string, string> = {};
  const warm = (v: number) => (r: Record<string, any>) => {
    r.protocols = { ...(r.protocols ?? {}), warm: { ...(r.protocols?.warm ?? {}), retrieval: { funnel: { "ndcg@20": v } } } };
  };

  beforeAll(async () => {
    varDir = join(root, "var-lifecycle");
    bundles.v1 = await copyBundle(trained, join(root, "v1"), "v1", { report: warm(0.3) });
    bundles.v2 = await copyBundle(trained, join(root, "v2"), "v2", { report: warm(0.31) });
    bundles.worse = await copyBundle(trained, join(root, "worse"), "worse", { report: warm(0.2) });
    bundles.noParity = await copyBundle(trained, join(root, "no-parity"), "no-parity", { report: warm(0.32), manifest: (m) => (m.models.ranker.parityMaxAbsDiff = 0.5) });
    bundles.corrupt = await copyBundle(trained, join(root, "corrupt"), "corrupt", { report: warm(0.33) });
    const manifest = JSON.parse(await readFile(join(bundles.corrupt, "manifest.json"), "utf8"));
    await writeFile(join(bundles.corrupt, manifest.models.ranker.file), "not an onnx model");
    for (const name of ["v1", "v2", "worse", "noParity", "corrupt"]) await registerBundle(varDir, bundles[name], name === "v1");
    serving = await serve({ config: testConfig(varDir), port: 0, handleSignals: false, progress, registryPollMs: 50, runtime: { service: { stateTimeoutMs: 2000 } } });
  });
  afterAll(async () => serving?.stop());

  const waitForVersion = async (version: string) => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && serving.loaded.manifest.version !== version; ) await new Promise((r) => setTimeout(r, 25));
    expect(serving.loaded.manifest.version).toBe(version);
  };

  it("hot-swaps an activated bundle under load: no failed request, old then new version served", async () => {
    expect(serving.loaded.manifest.version).toBe("v1");
    const users = serving.loaded.dataset.users.slice(0, 50).map((u) => u.id);
    let stop = false;
    let swapped = false;
    // Each answer with whether its request started after the swap had completed.
    const seen: Array<{ version: string; after: boolean }> = [];
    const failures: string[] = [];
    const worker = async (w: number) => {
      for (let i = w; !stop; i += 3) {
        const after = swapped;
        const r = await gql<FeedData>(serving.url, FEED, { userId: users[i % users.length], debug: false }).catch((e: unknown) => ({ status: 0, errors: [{ message: String(e) }] }) as any);
        if (r.status !== 200 || r.errors) failures.push(`${r.status} ${JSON.stringify(r.errors)}`);
        else {
          seen.push({ version: r.data.feed.modelVersion, after });
          if (r.data.feed.edges.length === 0) failures.push("empty page");
        }
      }
    };
    const load = [0, 1, 2].map(worker);
    await new Promise((r) => setTimeout(r, 300));
    const { gate } = await activateBundle(varDir, "v2");
    expect(gate.passed).toBe(true);
    await waitForVersion("v2");
    swapped = true;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && seen.filter((x) => x.after).length < 6; ) await new Promise((r) => setTimeout(r, 25));
    stop = true;
    await Promise.all(load);
    expect(failures).toEqual([]);
    expect(seen[0].version).toBe("v1");
    // Requests in flight during the swap finish on the old models; every request that started after it gets the new.
    expect(seen.filter((x) => x.after).length).toBeGreaterThanOrEqual(6);
    expect(new Set(seen.filter((x) => x.after).map((x) => x.version))).toEqual(new Set(["v2"]));
    expect(lines.some((l) => l.includes("now serving v2 (was v1)"))).toBe(true);
  });

  it("a hot swap carries the live catalogue: uploads from before and after it, and takedowns, reach the new two-tower index", async () => {
    const UPSERT = `mutation($v: [VideoInput!]!) { upsertVideos(videos: $v) { results { id status code field } } }`;
    const REMOVE = `mutation($ids: [ID!]!, $r: String!) { removeVideos(ids: $ids, reason: $r) { results { id status } } }`;
    const like = serving.loaded.dataset.videos[0];
    const upload = async (id: string) => {
      const video = { id, creatorId: like.creatorId, title: `${like.title} again`, tags: like.tags, category: like.category, language: like.language, durationSec: 300, uploadedAt: Date.now() - 60_000, updatedAt: Date.now() };
      const r = await gql<{ upsertVideos: { results: Array<{ status: string }> } }>(serving.url, UPSERT, { v: [video] });
      expect(r.data?.upsertVideos.results[0].status, JSON.stringify(r)).toBe("ACCEPTED");
    };
    const before = `swap-before-${process.pid}`;
    const gone = `swap-gone-${process.pid}`;
    await upload(before);
    await upload(gone);
    const old = serving.loaded.runtime.vectors.twoTower!;
    expect(await old.get(before)).toBeDefined();
    const dim = serving.loaded.manifest.embeddings.twoTowerDim;

    await serving.loaded.swapBundle(bundles.v1);
    const now = serving.loaded.runtime.vectors.twoTower!;
    expect(now).not.toBe(old);
    // Uploaded before the swap: embedded by the new bundle's video tower into its index before the swap completed.
    expect(await now.get(before)).toHaveLength(dim);
    // After it: straight into the new index.
    const after = `swap-after-${process.pid}`;
    await upload(after);
    expect(await now.get(after)).toHaveLength(dim);
    // A takedown after the swap leaves the index that serves.
    const removed = await gql<{ removeVideos: { results: Array<{ status: string }> } }>(serving.url, REMOVE, { ids: [gone], r: "test" });
    expect(removed.data?.removeVideos.results[0].status).toBe("ACCEPTED");
    expect(await now.get(gone)).toBeUndefined();
  });

  it("the promotion gate refuses a worse bundle unless forced", async () => {
    const err = await reelfeedErrorOf(activateBundle(varDir, "worse"), "BAD_BUNDLE");
    expect(err.details.check).toBe("promotion-gate");
    expect(err.message).toMatch(/worse than the active bundle's 0\.3100/);
    expect(readRegistry(varDir).active).toBe("v2");
    const forced = await activateBundle(varDir, "worse", { force: true });
    expect(forced.gate.passed).toBe(false);
    await waitForVersion("worse");
  });

  it("rollback returns to the previous bundle, and the server follows", async () => {
    const back = await rollbackBundle(varDir);
    expect(back.entry.version).toBe("v2");
    await waitForVersion("v2");
  });

  it("refuses a bundle whose parity check fails, at activation and at swap", async () => {
    const err = await reelfeedErrorOf(activateBundle(varDir, "no-parity", { force: true }), "BAD_BUNDLE");
    expect(err.details.check).toBe("parity");
    const swap = await reelfeedErrorOf(serving.loaded.swapBundle(bundles.noParity), "BAD_BUNDLE");
    expect(swap.message).toContain("parity");
    expect(serving.loaded.manifest.version).toBe("v2");
  });

  it("refuses a bundle that fails to load; the old one keeps serving", async () => {
    await activateBundle(varDir, "corrupt");
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !lines.some((l) => l.includes("bundle corrupt refused")); ) await new Promise((r) => setTimeout(r, 25));
    expect(lines.find((l) => l.includes("bundle corrupt refused"))).toContain("still serving v2");
    expect(serving.loaded.manifest.version).toBe("v2");
    const r = await gql<FeedData>(serving.url, FEED, { userId: serving.loaded.dataset.users[0].id });
    expect(r.errors).toBeUndefined();
    expect(r.data!.feed.modelVersion).toBe("v2");
    const metrics = await (await fetch(serving.url.replace(/\/graphql$/, "/metrics"))).text();
    expect(metrics).toContain('reelfeed_model_swaps_total{outcome="refused"} 1');
    // Roll the registry back to what serves.
    expect((await rollbackBundle(varDir)).entry.version).toBe("v2");
  });
});
