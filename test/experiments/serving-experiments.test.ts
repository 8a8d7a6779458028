import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuntime, type LoadedRuntime } from "../../src/app/runtime";
import type { ExperimentFeedPage } from "../../src/app/serving-feed";
import type { ReelfeedConfig } from "../../src/config";
import type { ReelEvent } from "../../src/data/types";
import { summarizeResults } from "../../src/events/ingest";
import { encodeExposures } from "../../src/experiments/assignment";
import { silentProgress } from "../../src/util/progress";
import { Redis } from "ioredis";
import { deleteKeys, REDIS_URL, skipRedis, uniquePrefix } from "../events/redis-test-helpers";
import { reelfeedErrorOf } from "../reelfeed-error-of";
import { copyBundle, testConfig, trainTinyBundle } from "./experiment-fixtures";
import { readLog } from "../read-log";

/**
 * Experiments through the real serving runtime (embedded mode): one pipeline per overriding variant built at load,
 * each request routed by its user's sticky assignment, the exposures in the page, the trace and every logged
 * impression, and the online metrics per variant rebuilt identically after a restart.
 */
const ROOT = resolve(__dirname, "../..");
let root: string;
let bundle: string;
let runtime: LoadedRuntime | undefined;

const DEFINITIONS = [
  {
    name: "no-explore",
    variants: [{ name: "control" }, { name: "treatment", overrides: { pipeline: { stages: [{ name: "Freshness" }, { name: "Guardrails" }, { name: "Diversity" }] }, ranking: { candidatesToRank: 200 } } }],
  },
  { name: "aa", traffic: 0.7, variants: [{ name: "a" }, { name: "b" }] },
];

const config = (varDir: string, extra: Record<string, unknown> = {}): ReelfeedConfig => testConfig(varDir, { experiments: { definitions: DEFINITIONS }, ...extra });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-exp-"));
  bundle = join(root, "bundle");
  await trainTinyBundle(bundle);
}, 180_000);
afterAll(async () => {
  await runtime?.close();
  await rm(root, { recursive: true, force: true });
});

describe("experiments in the serving runtime", () => {
  const varDir = () => join(root, "var");
  const pages: Array<{ userId: string; page: ExperimentFeedPage }> = [];
  let now = 0;

  it("routes each user to their variants' pipeline and returns, traces and logs the exposures", async () => {
    runtime = await loadRuntime({ bundleDir: bundle, config: config(varDir()), progress: silentProgress, service: { stateTimeoutMs: 2000 } });
    const rt = runtime;
    expect([...rt.serving.pipelines().keys()].sort()).toEqual(["", "no-explore=treatment"]);
    now = rt.dataset.events[rt.dataset.events.length - 1].ts + 60_000;
    for (const user of rt.dataset.users.slice(0, 40)) {
      const page = await rt.feed.feed({ userId: user.id, surface: "home", context: { now }, first: 5, debug: true });
      expect(page.items.length).toBeGreaterThan(0);
      pages.push({ userId: user.id, page });
      // Sticky: the exposures are the pure assignment, and asking again gives the same.
      expect(page.experiments).toEqual(rt.serving.assign(user.id, now));
      expect(page.trace?.experiments).toEqual(page.experiments);
      const treated = page.experiments.some((x) => x.experiment === "no-explore" && x.variant === "treatment");
      const stages = page.trace!.stages.map((s) => s.stage);
      // The variant's pipeline has no Exploration stage; the control's has.
      expect(stages.some((s) => s.endsWith("Exploration")), `${user.id} ${JSON.stringify(page.experiments)} ${stages.join(",")}`).toBe(!treated);
    }
    const variantsSeen = new Set(pages.flatMap(({ page }) => page.experiments.map((x) => `${x.experiment}=${x.variant}`)));
    expect(variantsSeen).toEqual(new Set(["no-explore=control", "no-explore=treatment", "aa=a", "aa=b"]));
    // Some users are outside the A/A experiment's 70 %.
    expect(pages.some(({ page }) => !page.experiments.some((x) => x.experiment === "aa"))).toBe(true);

    // Every served impression carries its request's exposures.
    const expected = pages.reduce((n, { page }) => n + page.items.length, 0);
    let served: ReelEvent[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      served = (await readLog(rt)).filter((e) => e.type === "impression" && e.served);
      if (served.length >= expected) break;
    }
    expect(served).toHaveLength(expected);
    const byUser = new Map(pages.map(({ userId, page }) => [userId, encodeExposures(page.experiments)]));
    for (const e of served) {
      if (e.type !== "impression") continue;
      expect(e.served?.experiment).toBe(byUser.get(e.userId));
    }
  });

  it("counts impressions and their joined outcomes per variant, and the same after a restart", async () => {
    const rt = runtime!;
    const outcomes: ReelEvent[] = [];
    let t = now + 1000;
    pages.forEach(({ userId, page }, p) => {
      const top = page.items[0];
      const base = { userId, trackingId: top.trackingId, videoId: top.video.id };
      outcomes.push({ ...base, id: `x-c-${p}`, type: "click", ts: t++, surface: "home", position: top.position });
      outcomes.push({ ...base, id: `x-w-${p}`, type: "watch", ts: t++, watchedSec: 10, videoDurationSec: top.video.durationSec });
      if (p % 3 === 0) outcomes.push({ ...base, id: `x-l-${p}`, type: "like", ts: t++ });
    });
    expect(summarizeResults(await rt.ingestor.ingest(outcomes)).accepted).toBe(outcomes.length);
    await rt.consumer.catchUp(10_000);

    const expectFor = (experiment: string, variant: string) => {
      const mine = pages.filter(({ page }) => page.experiments.some((x) => x.experiment === experiment && x.variant === variant));
      return {
        impressions: mine.reduce((n, { page }) => n + page.items.length, 0),
        clicks: mine.length,
        watchSec: mine.length * 10,
        likes: mine.filter(({ page }) => pages.findIndex((q) => q.page === page) % 3 === 0).length,
        requests: mine.length,
      };
    };
    const check = async (r: LoadedRuntime) => {
      // Close every attribution window now (they close by event time or after 30 min of wall clock otherwise).
      r.experimentMetrics.drain();
      const snap = await r.experimentMetrics.snapshot();
      for (const [experiment, variant] of [["no-explore", "control"], ["no-explore", "treatment"], ["aa", "a"], ["aa", "b"]]) {
        const c = snap.get(experiment)?.get(variant) ?? {};
        const want = expectFor(experiment, variant);
        expect({ impressions: c.impressions, clicks: c.clicks, watchSec: c.watchSec, likes: c.likes, requests: c.requests }, `${experiment}=${variant}`).toEqual(want);
        // One user per page here: the per-user sums of the delta method.
        expect(c.units).toBe(want.requests);
        expect(c["u2.impressions"]).toBe(pages.filter(({ page }) => page.experiments.some((x) => x.experiment === experiment && x.variant === variant)).reduce((n, { page }) => n + page.items.length ** 2, 0));
      }
    };
    await check(rt);

    // Restart: the impression counters are rebuilt from the log, the request counters read back from their file.
    await rt.close();
    runtime = await loadRuntime({ bundleDir: bundle, config: config(varDir()), progress: silentProgress, service: { stateTimeoutMs: 2000 } });
    await runtime.ready;
    await runtime.consumer.catchUp(10_000);
    await check(runtime);
  });

  it("reelfeed experiments report <name> (CLI) reads the same counters from var/ without the server", async () => {
    const configFile = join(root, "cli-config.json");
    await writeFile(configFile, JSON.stringify({ experiments: { definitions: DEFINITIONS, analysis: { minImpressionsPerVariant: 10, attributionWindowMs: 1000 } } }));
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
          cwd: ROOT,
          env: { ...process.env, REELFEED_VAR_DIR: varDir(), REELFEED_CONFIG: configFile, REDIS_URL: "" },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => done({ code, stdout, stderr }));
      });
    const json = await run(["experiments", "report", "no-explore", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    const served = (variant: string) => pages.filter(({ page }) => page.experiments.some((x) => x.experiment === "no-explore" && x.variant === variant));
    for (const v of report.variants) {
      expect(v.impressions).toBe(served(v.name).reduce((n, { page }) => n + page.items.length, 0));
      expect(v.requests).toBe(served(v.name).length);
      expect(v.values.ctr).toBeCloseTo(served(v.name).length / v.impressions, 12);
    }
    const text = await run(["experiments", "report", "no-explore"]);
    expect(text.stdout).toContain("treatment vs control");
    expect(text.stdout).toMatch(/ctr\s+\S+ \[\S+, \S+\]\s+rel .* p = \S+ \(ratio-delta-z\)/);
    console.log(text.stdout);
    const missing = await run(["experiments", "report", "nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no experiment "nope"');
  }, 60_000);

  it("reloads experiments from the file without a restart, and keeps serving the old ones on a bad edit", async () => {
    await runtime?.close();
    const file = join(root, "experiments.json");
    await writeFile(file, JSON.stringify({ definitions: [DEFINITIONS[1]] }));
    const errors: string[] = [];
    runtime = await loadRuntime({
      bundleDir: bundle,
      config: config(join(root, "var-reload"), { experiments: { file, reloadMs: 50 } }),
      progress: silentProgress,
      onError: (e, where) => errors.push(`${where}: ${(e as Error).message}`),
    });
    const rt = runtime;
    expect(rt.serving.experiments().map((e) => e.name)).toEqual(["aa"]);
    const waitFor = async (cond: () => boolean) => {
      for (const deadline = Date.now() + 5000; Date.now() < deadline && !cond(); ) await new Promise((r) => setTimeout(r, 25));
      expect(cond()).toBe(true);
    };
    await writeFile(file, JSON.stringify({ definitions: DEFINITIONS }));
    await waitFor(() => rt.serving.experiments().length === 2);
    expect([...rt.serving.pipelines().keys()].sort()).toEqual(["", "no-explore=treatment"]);
    const user = rt.dataset.users[0].id;
    const page = await rt.feed.feed({ userId: user, surface: "home", context: {}, first: 3, debug: false });
    expect(page.experiments.map((x) => x.experiment)).toContain("no-explore");

    // A bad edit: refused with the key named, the running experiments stay.
    await writeFile(file, JSON.stringify({ definitions: [{ ...DEFINITIONS[1], traffic: 3 }] }));
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toContain(`experiments.file(${file}).definitions.0.traffic`);
    expect(rt.serving.experiments().length).toBe(2);
  });
});

describe("canary: a variant serving another bundle", () => {
  it("serves the canary bundle's models to its variant only; a broken canary bundle fails the load", async () => {
    await runtime?.close();
    runtime = undefined;
    const canary = await copyBundle(bundle, join(root, "canary"), "canary-v1");
    const definitions = [{ name: "canary", traffic: 1, variants: [{ name: "control" }, { name: "canary", overrides: { bundle: canary } }] }];
    const rt = await loadRuntime({ bundleDir: bundle, config: config(join(root, "var-canary"), { experiments: { definitions } }), progress: silentProgress, service: { stateTimeoutMs: 2000 } });
    runtime = rt;
    expect([...rt.serving.pipelines().keys()].sort()).toEqual(["", "canary=canary"]);
    const versions = new Map<string, Set<string>>();
    for (const user of rt.dataset.users.slice(0, 30)) {
      const page = await rt.feed.feed({ userId: user.id, surface: "home", context: {}, first: 3, debug: false });
      const variant = page.experiments[0].variant;
      if (!versions.has(variant)) versions.set(variant, new Set());
      versions.get(variant)!.add(page.modelVersion);
    }
    expect(versions.get("canary")).toEqual(new Set(["canary-v1"]));
    expect(versions.get("control")).toEqual(new Set([rt.manifest.version]));

    const broken = await copyBundle(bundle, join(root, "canary-broken"), "canary-broken", { manifest: (m) => (m.models.ranker.parityMaxAbsDiff = 1) });
    const err = await reelfeedErrorOf(
      loadRuntime({
        bundleDir: bundle,
        config: config(join(root, "var-canary-broken"), { experiments: { definitions: [{ ...definitions[0], variants: [{ name: "control" }, { name: "canary", overrides: { bundle: broken } }] }] } }),
        progress: silentProgress,
      }),
      "BAD_BUNDLE",
    );
    expect(err.message).toContain("parity");
  });
});

describe.skipIf(await skipRedis())("experiment counters with Redis", () => {
  const prefix = uniquePrefix("exp-runtime");
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it("counts in the shared hashes, and a restarted server reads the same totals without counting twice", async () => {
    await runtime?.close();
    const cfg = config(join(root, "var-redis"), { backends: { redisUrl: REDIS_URL, redisKeyPrefix: prefix } });
    const open = async () => {
      const r = await loadRuntime({ bundleDir: bundle, config: cfg, progress: silentProgress, service: { stateTimeoutMs: 2000 } });
      await r.ready;
      return r;
    };
    runtime = await open();
    const rt = runtime;
    const now = rt.dataset.events[rt.dataset.events.length - 1].ts + 120_000;
    const served: ExperimentFeedPage[] = [];
    for (const user of rt.dataset.users.slice(0, 12)) served.push(await rt.feed.feed({ userId: user.id, surface: "home", context: { now }, first: 4, debug: false }));
    const clicks: ReelEvent[] = served.map((page, i) => ({
      id: `r-c-${i}`,
      type: "click",
      userId: rt.dataset.users[i].id,
      videoId: page.items[0].video.id,
      trackingId: page.items[0].trackingId,
      ts: now + 1000 + i,
    }));
    // The impressions are logged off the request path: wait for them in the log before the outcomes.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      if ((await readLog(rt)).filter((e) => e.type === "impression" && e.served).length >= 48) break;
    }
    await rt.ingestor.ingest(clicks);
    await rt.consumer.catchUp(10_000);
    const total = (snap: Awaited<ReturnType<LoadedRuntime["experimentMetrics"]["snapshot"]>>, field: string) =>
      [...(snap.get("aa")?.values() ?? [])].reduce((s, c) => s + (c[field] ?? 0), 0);
    const inAa = served.filter((p) => p.experiments.some((x) => x.experiment === "aa"));
    // Shutdown counts the impressions still in their window into Redis.
    await rt.close();
    runtime = await open();
    await runtime.consumer.catchUp(10_000);
    const snap = await runtime.experimentMetrics.snapshot();
    expect(total(snap, "impressions")).toBe(inAa.length * 4);
    expect(total(snap, "clicks")).toBe(inAa.length);
    expect(total(snap, "requests")).toBe(inAa.length);
    expect(total(snap, "units")).toBe(inAa.length);
    // The restart resumed after the consumer's checkpoint: nothing is pending again, nothing counted twice.
    expect(runtime.experimentMetrics.pending()).toBe(0);
  });
});
