import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type Serving } from "../../src/app/serve";
import { generateApiKey, hashApiKey } from "../../src/auth/api-keys";
import { writeKeyFile } from "../../src/auth/key-file";
import { duration, fmt, reasonText } from "../../src/dashboard/client/format";
import { registerBundle } from "../../src/training/registry";
import { silentProgress } from "../../src/util/progress";
import { copyBundle, testConfig, trainTinyBundle } from "../experiments/experiment-fixtures";
import { startBrowser, type Browser } from "./browser";

/**
 * The operator dashboard in headless Chromium against a real server: a trained bundle (the shared tiny-bundle
 * fixture) served from the registry (so activate / roll back hot-swap it), an A/B experiment, drift, and auth
 * enforced with an operator key typed into the page. Each view is clicked through and what it shows is checked
 * against the API's own answers — the very responses the page received, or the same query sent by the test.
 *
 * Screenshots go to a temporary folder; UPDATE_SCREENSHOTS=1 writes them to docs/images/dashboard-*.png instead.
 */

let root: string;
let serving: Serving;
let base: string;
let shots: string;
const adminKey = generateApiKey();
const feedKey = generateApiKey();
const collectorKey = generateApiKey();

interface Gql<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}
async function api<T = any>(query: string, variables: Record<string, unknown> = {}, key = adminKey): Promise<Gql<T>> {
  const res = await fetch(serving.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as Gql<T>;
}

const isOp = (name: string) => (r: Response) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes(name);
const waitFor = async (check: () => Promise<boolean>, ms: number, what: string) => {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) if (await check()) return;
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "rf-dashboard-"));
  shots = process.env.UPDATE_SCREENSHOTS === "1" ? resolve("docs/images") : join(root, "shots");
  await mkdir(shots, { recursive: true });
  const trained = join(root, "trained");
  await trainTinyBundle(trained);
  const warm = (v: number) => (r: Record<string, any>) => {
    // The promotion gate compares the warm funnel's NDCG@20; everything else in the report stays as trained.
    const warmReport = r.protocols?.warm ?? {};
    r.protocols = { ...(r.protocols ?? {}), warm: { ...warmReport, retrieval: { ...(warmReport.retrieval ?? {}), funnel: { ...(warmReport.retrieval?.funnel ?? {}), "ndcg@20": v } } } };
  };
  const varDir = join(root, "var");
  for (const [version, score] of [["v1", 0.3], ["v2", 0.31], ["worse", 0.1]] as const) {
    await copyBundle(trained, join(root, version), version, { report: warm(score) });
    await registerBundle(varDir, join(root, version), version === "v1");
  }
  const keysFile = join(root, "keys.json");
  await writeKeyFile(keysFile, [
    { id: "ops", hash: hashApiKey(adminKey), scopes: ["admin", "feed:read", "debug"] },
    { id: "partner", hash: hashApiKey(feedKey), scopes: ["feed:read"] },
    { id: "collector", hash: hashApiKey(collectorKey), scopes: ["events:write"] },
  ]);
  const config = testConfig(varDir, {
    auth: { keysFile },
    experiments: {
      definitions: [{ name: "aa", variants: [{ name: "a" }, { name: "b" }] }],
      // Clicks below are sent right after their feed answers: 2 s attributes them even on a loaded box.
      analysis: { minImpressionsPerVariant: 10, attributionWindowMs: 2000 },
      drift: { referenceDelayMs: 0 },
    },
  });
  serving = await serve({ config, port: 0, handleSignals: false, production: false, progress: silentProgress, registryPollMs: 100, runtime: { service: { stateTimeoutMs: 2000 } } });
  base = serving.url.replace(/\/graphql$/, "");
}, 300_000);

afterAll(async () => {
  await serving?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the dashboard's server side", () => {
  it("builds nothing and runs nothing until someone opens it: feed requests leave it untouched", async () => {
    // Traffic for the experiment, before anyone opens the dashboard: feeds, and a click on some of what they served.
    let seq = 0;
    for (const u of serving.loaded.dataset.users.slice(0, 30)) {
      const r = await api(`query($u: ID!) { feed(userId: $u, first: 5) { edges { node { trackingId video { id } } } } }`, { u: u.id });
      expect(r.errors).toBeUndefined();
      const clicks = r.data.feed.edges
        .filter((_: unknown, i: number) => (i + seq) % 3 === 0)
        .map((e: any) => JSON.stringify({ id: `dash-click-${seq++}`, type: "click", userId: u.id, videoId: e.node.video.id, trackingId: e.node.trackingId, ts: Date.now() }));
      const sent = await fetch(`${base}/events`, { method: "POST", headers: { "content-type": "application/x-ndjson", authorization: `Bearer ${collectorKey}` }, body: clicks.join("\n") + "\n" });
      expect(sent.status).toBe(200);
    }
    expect(serving.server.dashboard.built()).toBe(false);
    // The shell and its script are static code, public like the IDE page; the data behind them needs the admin key.
    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/dashboard/app.js">');
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    const js = await fetch(`${base}/dashboard/app.js`);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    expect(serving.server.dashboard.built()).toBe(true);
    expect((await fetch(`${base}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/dashboard`, { method: "POST" })).status).toBe(405);
  });

  it("answers bad input with coded errors naming the argument, and never a bundle path", async () => {
    const rollback = await api(`mutation { rollbackModel { active } }`);
    expect(rollback.errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND" });
    const worse = await api(`mutation { activateModel(version: "worse") { active } }`);
    expect(worse.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "version", check: "promotion-gate" });
    expect(worse.errors?.[0].message).not.toContain(root);
    const unknown = await api(`mutation { activateModel(version: "v9") { active } }`);
    expect(unknown.errors?.[0]).toMatchObject({ message: 'version: no bundle "v9" in the registry', extensions: { code: "NOT_FOUND", argument: "version" } });
    expect((await api(`mutation { activateModel(version: " ") { active } }`)).errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "version" });
    expect((await api(`{ searchVideos(query: "  ") { id } }`)).errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "query" });
    expect((await api(`{ searchVideos(query: "x", first: 0) { id } }`)).errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "first" });
    expect((await api(`{ metricsSnapshot(names: ["not a name"]) { takenAt } }`)).errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", argument: "names[0]" });
    // A partner's feed key reads feeds, not the registry.
    expect((await api(`{ models { active } }`, {}, feedKey)).errors?.[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: "admin" });
    // Nothing was activated by any of that.
    expect((await api(`{ models { active history } }`)).data).toEqual({ models: { active: "v1", history: [] } });
  });
});

describe("the dashboard in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const userId = () => serving.loaded.dataset.users[0].id;

  beforeAll(async () => {
    browser = await startBrowser();
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // Console errors the page did not cause itself are expected (a 401 before the key is typed); CSP refusals are not.
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) pageErrors.push(m.text());
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("opens /dashboard?user=<id>: asks for a key, then shows that user's feed as the API answered it", async () => {
    await page.goto(`${base}/dashboard?user=${encodeURIComponent(userId())}`);
    await expect.poll(() => page.getByTestId("auth-mode").textContent(), { timeout: 60_000 }).toBe("auth: enforced");
    await page.getByTestId("error").waitFor();
    expect(await page.getByTestId("error").textContent()).toContain("UNAUTHENTICATED");

    const answered = page.waitForResponse(isOp("DashboardFeed"));
    await page.getByTestId("key-input").fill(adminKey);
    await page.getByTestId("key-save").click();
    const body = (await (await answered).json()) as Gql<{ feed: any }>;
    expect(body.errors).toBeUndefined();
    const edges = body.data!.feed.edges as Array<{ node: any }>;
    expect(edges.length).toBeGreaterThan(0);
    const cards = page.getByTestId("card");
    await expect.poll(() => cards.count(), { timeout: 60_000 }).toBe(edges.length);
    for (let i = 0; i < edges.length; i++) {
      const { node } = edges[i];
      const card = cards.nth(i);
      expect(await card.getAttribute("data-video-id")).toBe(node.video.id);
      expect(await card.getByTestId("card-title").textContent()).toBe(node.video.title);
      expect(await card.getByTestId("card-category").textContent()).toBe(node.video.category);
      expect(await card.getByTestId("card-creator").textContent()).toBe(node.video.creator.name ?? node.video.creator.id);
      expect(await card.getByTestId("card-duration").textContent()).toBe(duration(node.video.durationSec));
      expect(await card.getByTestId("card-score").textContent()).toBe(fmt(node.score, 4));
      expect(await card.locator("[data-head]").count()).toBe(node.heads.length);
      expect(await card.getByTestId("card-reason").textContent()).toBe(reasonText(node.reason));
      expect(await card.locator(".chip").allTextContents()).toEqual(node.sources);
    }
    const explored = edges.filter((e) => e.node.reason.code === "EXPLORATION").length;
    expect(await page.getByTestId("exploration").count()).toBe(explored);
    // The catalogue agrees with the card.
    const first = edges[0].node.video;
    const video = (await api(`query($id: ID!) { video(id: $id) { title category durationSec creator { name } } }`, { id: first.id })).data.video;
    expect(video).toEqual({ title: first.title, category: first.category, durationSec: first.durationSec, creator: { name: first.creator.name } });
    expect(await page.getByTestId("feed-summary").textContent()).toContain(`model ${body.data!.feed.modelVersion}`);
    await page.screenshot({ path: join(shots, "dashboard-feed.png") });
  }, 240_000);

  it("shows a card's trace (sources, ranking, re-ranking, what was filtered and why) and the request's funnel", async () => {
    // The feed answer the page shows: read back through a fresh page load of the same URL would rank again, so
    // take the trace from the response behind the cards on screen.
    const answered = page.waitForResponse(isOp("DashboardFeed"));
    await page.reload();
    const feed = ((await (await answered).json()) as Gql<{ feed: any }>).data!.feed;
    await page.getByTestId("card").first().waitFor();
    const node = feed.edges[0].node;
    const mine = feed.trace.candidates.find((c: any) => c.videoId === node.video.id);
    const removed = feed.trace.candidates.filter((c: any) => c.removedBy !== null);
    await page.getByTestId("card").first().getByTestId("card-trace").click();
    const panel = page.getByTestId("trace-panel");
    await panel.waitFor();
    expect(await panel.locator("[data-testid=trace-sources] td:first-child").allTextContents()).toEqual(mine.sources.map((s: any) => s.source));
    expect(await panel.getByTestId("trace-ranked-position").textContent()).toBe(String(mine.rankedPosition));
    expect(await panel.getByTestId("trace-score").textContent()).toBe(fmt(mine.score, 4));
    expect(await panel.getByTestId("trace-rerank").textContent()).toContain(`position ${mine.rankedPosition} → ${mine.finalPosition}`);
    expect(await panel.locator("[data-testid=trace-removed] tbody tr").count()).toBe(Math.min(200, removed.length));
    if (removed.length > 0) {
      const row = panel.locator("[data-testid=trace-removed] tbody tr").first();
      expect(await row.locator("td").allTextContents()).toEqual([removed[0].videoId, removed[0].removedBy.stage, removed[0].removedBy.reason, removed[0].sources.map((s: any) => s.source).join(", ")]);
    }
    const funnel = page.getByTestId("funnel");
    expect(await funnel.locator("[data-testid=stage-table] tbody tr").count()).toBe(feed.trace.stages.length);
    expect(await funnel.locator("[data-testid=stage-table] tbody tr td:first-child").allTextContents()).toEqual(feed.trace.stages.map((s: any) => s.stage));
    expect(await funnel.locator("[data-testid=funnel-counts] svg").count()).toBe(1);
    expect(await funnel.locator("[data-testid=funnel-ms] svg").count()).toBe(1);
    expect(await funnel.getByTestId("fallbacks").textContent()).toContain(feed.fallbacks.length === 0 ? "no fallback" : feed.fallbacks[0].kind);
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, "dashboard-trace.png") });
    await funnel.screenshot({ path: join(shots, "dashboard-funnel.png") });
  }, 240_000);

  it("pages with the cursor and switches the context", async () => {
    const before = await page.getByTestId("card").count();
    const next = page.waitForResponse(isOp("DashboardFeed"));
    await page.getByTestId("next-page").click();
    const response = await next;
    const variables = JSON.parse(response.request().postData()!).variables;
    expect(variables.after).toEqual(expect.any(String));
    const second = ((await response.json()) as Gql<{ feed: any }>).data!.feed;
    await expect.poll(() => page.getByTestId("card").count(), { timeout: 60_000 }).toBe(before + second.edges.length);
    expect(await page.getByTestId("card").nth(before).getAttribute("data-video-id")).toBe(second.edges[0].node.video.id);

    const switched = page.waitForResponse(isOp("DashboardFeed"));
    await page.getByTestId("ctx-device").selectOption("TV");
    const tv = await switched;
    const sent = JSON.parse(tv.request().postData()!).variables;
    expect(sent.context.device).toBe("TV");
    expect(sent.after).toBeNull();
    expect(page.url()).toContain("device=TV");
    const tvFeed = ((await tv.json()) as Gql<{ feed: any }>).data!.feed;
    await expect.poll(() => page.getByTestId("card").count(), { timeout: 60_000 }).toBe(tvFeed.edges.length);
  }, 240_000);

  it("searches videos and users, and shows a video's similar videos as the API lists them", async () => {
    const video = serving.loaded.dataset.videos[3];
    await page.getByTestId("search-input").fill(video.title);
    await page.getByTestId("search-submit").click();
    const row = page.locator(`[data-testid=search-videos] tr[data-video-id="${video.id}"]`);
    await row.waitFor();
    const answered = page.waitForResponse(isOp("DashboardVideo"));
    await row.getByTestId("video-link").click();
    await answered;
    await page.getByTestId("similar-videos").waitFor();
    const similar = (await api(`query($id: ID!) { similarVideos(videoId: $id, first: 12) { video { id } } }`, { id: video.id })).data.similarVideos.map((s: any) => s.video.id);
    expect(similar.length).toBeGreaterThan(0);
    await expect.poll(() => page.locator("[data-testid=similar-videos] tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-video-id"))), { timeout: 60_000 }).toEqual(similar);
    expect(await page.getByTestId("video-meta").textContent()).toContain(video.category);

    const other = serving.loaded.dataset.users[1].id;
    await page.getByTestId("search-input").fill(other);
    await page.getByTestId("search-submit").click();
    await page.getByTestId("user-link").waitFor();
    await page.getByTestId("user-link").click();
    await page.getByTestId("feed-view").waitFor();
    expect(new URL(page.url()).searchParams.get("user")).toBe(other);
    await page.getByTestId("card").first().waitFor();
  }, 240_000);

  it("draws live metrics from snapshots the page accumulates, with totals equal to the server's", async () => {
    await page.getByTestId("nav-metrics").click();
    // Feed traffic while the page samples: four snapshot intervals with feeds in them.
    const users = serving.loaded.dataset.users.slice(40, 80).map((u) => u.id);
    let stop = false;
    const traffic = (async () => {
      // The partner's key: its own rate budget, so the page's polls with the operator's key are never limited.
      for (let i = 0; !stop; i++) await api(`query($u: ID!) { feed(userId: $u, first: 5) { edges { node { trackingId } } } }`, { u: users[i % users.length] }, feedKey);
    })();
    await expect.poll(async () => Number(await page.getByTestId("metrics-charts").getAttribute("data-points").catch(() => "0")), { timeout: 90_000, interval: 500 }).toBeGreaterThanOrEqual(4);
    stop = true;
    await traffic;
    await page.locator("[data-testid=chart-requests] svg").waitFor({ timeout: 60_000 });
    for (const id of ["chart-latency", "chart-fallbacks", "chart-events", "chart-lag", "chart-memory"]) {
      expect(await page.locator(`[data-testid=${id}] svg`).count()).toBe(1);
    }
    // No feed request runs now: the page's feed total and the API's agree.
    const snapshot = (await api(`{ metricsSnapshot(names: ["reelfeed_graphql_requests_total"]) { samples { labels { key value } value } } }`)).data.metricsSnapshot.samples;
    const feedTotal = snapshot.filter((s: any) => s.labels.some((l: any) => l.key === "operation" && l.value === "feed")).reduce((n: number, s: any) => n + s.value, 0);
    expect(feedTotal).toBeGreaterThan(30);
    await expect.poll(() => page.getByTestId("total-feed").textContent(), { timeout: 30_000 }).toBe(String(feedTotal));
    // Events received, by status, as the server counts them (served pages' impressions are accepted events).
    const ingestedNow = async (): Promise<string> => {
      const samples = (await api(`{ metricsSnapshot(names: ["reelfeed_events_ingested_total"]) { samples { labels { key value } value } } }`)).data.metricsSnapshot.samples;
      return ["accepted", "duplicate", "rejected"].map((status) => samples.find((s: any) => s.labels.some((l: any) => l.value === status))?.value ?? 0).join(" / ");
    };
    expect(Number((await ingestedNow()).split(" / ")[0])).toBeGreaterThan(0);
    await expect.poll(async () => (await page.getByTestId("total-ingested").textContent()) === (await ingestedNow()), { timeout: 30_000 }).toBe(true);
    await page.screenshot({ path: join(shots, "dashboard-metrics.png") });
  }, 240_000);

  it("shows an experiment's variants, intervals and significance, and drift per feature, as the API reports them", async () => {
    // Impressions reach the counters through the log and the consumer: wait until none is pending and they settle.
    let last = "";
    await waitFor(async () => {
      const r = (await api(`{ experimentReport(name: "aa") { pendingImpressions variants { impressions } } }`)).data.experimentReport;
      const now = JSON.stringify(r);
      const settled = r.pendingImpressions === 0 && now === last;
      last = now;
      return settled;
    }, 60_000, "the experiment's counters to settle");
    await waitFor(async () => (await api(`{ featureDrift { ready } }`)).data.featureDrift.ready, 120_000, "the drift reference");

    const answered = page.waitForResponse(isOp("DashboardExperiment"));
    await page.getByTestId("nav-experiments").click();
    const report = ((await (await answered).json()) as Gql<{ experimentReport: any }>).data!.experimentReport;
    await page.getByTestId("variant-table").waitFor();
    for (const v of report.variants) {
      const row = page.locator(`[data-testid=variant-table] tr[data-variant="${v.name}"]`);
      expect(await row.getByTestId("variant-impressions").textContent()).toBe(String(v.impressions));
      expect(await row.getByTestId("variant-requests").textContent()).toBe(String(v.requests));
    }
    expect(report.variants.reduce((n: number, v: any) => n + v.impressions, 0)).toBeGreaterThan(0);
    const comparison = report.comparisons[0];
    const table = page.locator(`[data-testid=comparison-table][data-variant="${comparison.variant}"]`);
    expect(await table.locator("tbody tr").count()).toBe(comparison.metrics.length);
    for (const m of comparison.metrics) {
      const row = table.locator(`tr[data-metric="${m.metric}"]`);
      expect(await row.getByTestId("cmp-diff").textContent()).toBe(fmt(m.diff, 4));
      expect(await row.getByTestId("cmp-ci").textContent()).toBe(`[${fmt(m.ciLow, 4)}, ${fmt(m.ciHigh, 4)}]`);
      expect(await row.getByTestId("cmp-p").textContent()).toBe(fmt(m.pValue, 4));
      expect(await row.getByTestId("cmp-verdict").textContent()).toBe(m.worse ? (m.kind === "guardrail" ? "guardrail failed" : "significantly worse") : m.significant ? "significant" : "not significant");
    }
    expect(await page.locator("[data-testid=experiment-chart] svg").count()).toBe(1);
    const drift = (await api(`{ featureDrift { features { feature } } }`)).data.featureDrift.features.map((f: any) => f.feature);
    await page.getByTestId("drift-table").waitFor();
    expect(await page.locator("[data-testid=drift-table] tbody td:first-child").allTextContents()).toEqual(drift);
    await page.screenshot({ path: join(shots, "dashboard-experiments.png"), fullPage: true });
  }, 300_000);

  it("lists the models with their evaluation charts, and activates then rolls back, each confirmed, the server hot-swapping", async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes("models {"));
    await page.getByTestId("nav-models").click();
    const registry = ((await (await answered).json()) as Gql<{ models: any }>).data!.models;
    await expect.poll(() => page.getByTestId("registry-active").textContent(), { timeout: 60_000 }).toBe("v1");
    await expect.poll(() => page.getByTestId("served-version").textContent(), { timeout: 60_000 }).toBe("v1");
    expect(await page.getByTestId("bundle").locator("h2").allTextContents()).toEqual(registry.bundles.map((b: any) => b.version));

    const v1 = page.getByTestId("bundle").filter({ has: page.locator("h2", { hasText: /^v1$/ }) });
    await v1.getByTestId("toggle-evaluation").click();
    await v1.getByTestId("evaluation").waitFor();
    await page.screenshot({ path: join(shots, "dashboard-models.png") });
    await v1.screenshot({ path: join(shots, "dashboard-evaluation.png") });
    const evaluation = registry.bundles.find((b: any) => b.version === "v1").evaluation;
    for (const table of evaluation.tables) {
      for (const m of table.models) {
        for (const x of m.metrics.filter((x: any) => /^(recall|ndcg)@\d+$/.test(x.name))) {
          const cell = v1.locator(`[data-testid=eval-table-${table.protocol}] tr[data-model="${m.model}"] td[data-metric="${x.name}"]`);
          expect(await cell.textContent()).toBe(fmt(x.value, 4));
        }
      }
    }
    for (const protocol of ["warm", "global"]) {
      expect(await v1.locator(`[data-testid=eval-${protocol}-recall] svg`).count()).toBe(1);
      expect(await v1.locator(`[data-testid=eval-${protocol}-ndcg] svg`).count()).toBe(1);
    }

    // Activate v2: nothing happens until confirmed.
    const v2 = page.getByTestId("bundle").filter({ has: page.locator("h2", { hasText: /^v2$/ }) });
    await v2.getByTestId("activate").click();
    await page.getByTestId("confirm-dialog").waitFor();
    await page.screenshot({ path: join(shots, "dashboard-activate.png") });
    await page.getByTestId("confirm-cancel").click();
    expect((await api(`{ models { active } }`)).data.models.active).toBe("v1");
    await v2.getByTestId("activate").click();
    await page.getByTestId("confirm-ok").click();
    await page.getByTestId("activation-result").waitFor();
    expect(await page.getByTestId("activation-result").textContent()).toContain("Now active in the registry: v2 (was v1)");
    expect((await api(`{ models { active history } }`)).data.models).toEqual({ active: "v2", history: ["v1"] });
    await expect.poll(() => page.getByTestId("served-version").textContent(), { timeout: 90_000 }).toBe("v2");
    expect(serving.loaded.manifest.version).toBe("v2");

    await page.getByTestId("rollback").click();
    await page.getByTestId("confirm-ok").click();
    await expect.poll(() => page.getByTestId("registry-active").textContent(), { timeout: 60_000 }).toBe("v1");
    await expect.poll(() => page.getByTestId("served-version").textContent(), { timeout: 90_000 }).toBe("v1");
    expect((await api(`{ models { active } }`)).data.models.active).toBe("v1");
  }, 300_000);

  it("never asked for anything outside this machine, and threw no page error", () => {
    expect(browser.requests.length).toBeGreaterThan(10);
    expect(browser.external).toEqual([]);
    expect(browser.requests.every((u) => new URL(u).hostname === "127.0.0.1")).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
