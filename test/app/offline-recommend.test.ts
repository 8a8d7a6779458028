import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFunnelRecommender,
  funnelEvaluationConfig,
  funnelRecommenders,
  OFFLINE_DEADLINE_MS,
  readUsersFile,
  recommendFile,
  withOfflineDeadlines,
  type FunnelRecommender,
} from "../../src/app/offline-recommend";
import { bootstrapEvents } from "../../src/app/state-bootstrap";
import { loadConfig } from "../../src/config";
import type { Dataset } from "../../src/data/types";
import { BUNDLE_FILES } from "../../src/training/bundle";
import { trainBundle, type EvaluationContext, type TrainResult } from "../../src/training/train-pipeline";
import { silentProgress } from "../../src/util/progress";
import { reelfeedErrorOf } from "../reelfeed-error-of";

/**
 * `recommend` and the funnel evaluation on one tiny synthetic bundle (1 epoch, no refit), trained once for the
 * file. The funnel is evaluated by the real training run (extraRecommenders), as `npm run train` does.
 */
const ROOT = resolve(__dirname, "../..");
const config = loadConfig({ env: {}, overrides: { server: { maxPageSize: 8 } } });
let root: string;
let bundle: string;
let result: TrainResult;
let ctx: EvaluationContext;
let dataset: Dataset;
let videoIds: Set<string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "reelfeed-recommend-test-"));
  bundle = join(root, "bundle");
  result = await trainBundle({
    synthetic: { users: 150, videos: 200, days: 7, seed: 11 },
    twoTower: { epochs: 1 },
    ranker: { epochs: 1, maxExamples: 5000 },
    contentDim: 16,
    ks: [10, 20],
    refit: false,
    out: bundle,
    extraRecommenders: async (c) => {
      ctx = c;
      dataset = c.dataset;
      return funnelRecommenders(c, config, { progress: silentProgress });
    },
  });
  videoIds = new Set(JSON.parse(await readFile(join(bundle, BUNDLE_FILES.videoIds), "utf8")) as string[]);
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function parseLines(text: string): Array<{ userId: string; items: string[] }> {
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { userId: string; items: string[] });
}

describe("recommendFile", () => {
  it("writes one JSONL line per user, in input order, k distinct catalog ids each (paging past maxPageSize)", async () => {
    const known = dataset.users.slice(0, 5).map((u) => u.id);
    const users = [known[0], "nobody-1", ...known.slice(1), known[0], "nobody-2"];
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    const k = 20;
    const summary = await recommendFile({ bundle, users, k, config, out, progress: silentProgress });
    const lines = parseLines(Buffer.concat(chunks).toString("utf8"));
    expect(lines.map((l) => l.userId)).toEqual(users);
    for (const { items } of lines) {
      expect(items).toHaveLength(k);
      expect(new Set(items).size).toBe(k);
      for (const id of items) expect(videoIds.has(id), id).toBe(true);
    }
    expect(summary).toMatchObject({ users: users.length, coldStart: 2, short: 0 });
  });

  it("rejects a bad users file with BAD_FILE before loading anything", async () => {
    const missing = await reelfeedErrorOf(recommendFile({ bundle, users: join(root, "no-such-file"), k: 5, config, out: new PassThrough() }));
    expect(missing.code).toBe("BAD_FILE");
    expect(missing.message).toMatch(/no-such-file: cannot read the users file \(ENOENT\)/);

    const empty = join(root, "empty.txt");
    await writeFile(empty, "\n  \n");
    expect((await reelfeedErrorOf(readUsersFile(empty))).message).toMatch(/holds no ids/);

    const binary = join(root, "binary.txt");
    await writeFile(binary, Buffer.from([0x75, 0x31, 0x0a, 0x00, 0x01, 0x02, 0x0a]));
    const bad = await reelfeedErrorOf(recommendFile({ bundle, users: binary, k: 5, config, out: new PassThrough() }));
    expect(bad.code).toBe("BAD_FILE");
    expect(bad.message).toMatch(/binary\.txt:2: not a user id \(control characters\)/);

    const good = join(root, "users.txt");
    await writeFile(good, "a\r\n\r\n b \n");
    expect(await readUsersFile(good)).toEqual(["a", "b"]);
    expect((await reelfeedErrorOf(recommendFile({ bundle, users: ["u"], k: 0, config, out: new PassThrough() }))).code).toBe("BAD_USER_INPUT");
  });

  it("runs as `reelfeed recommend`: JSONL on stdout, progress on stderr; a missing users file exits 2", async () => {
    const usersFile = join(root, "cli-users.txt");
    await writeFile(usersFile, `${dataset.users[7].id}\nstranger\n`);
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
          cwd: ROOT,
          env: { ...process.env, REELFEED_VAR_DIR: join(root, "var") },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d));
        child.stderr.on("data", (d: Buffer) => (stderr += d));
        child.on("close", (code) => done({ code, stdout, stderr }));
      });
    const ok = await run(["recommend", "--bundle", bundle, "--users", usersFile, "--k", "7"]);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = parseLines(ok.stdout);
    expect(lines.map((l) => l.userId)).toEqual([dataset.users[7].id, "stranger"]);
    for (const l of lines) expect(l.items).toHaveLength(7);
    expect(ok.stderr).toMatch(/recommend: 2 users/);

    const bad = await run(["recommend", "--bundle", bundle, "--users", join(root, "missing.txt")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/reelfeed: .*missing\.txt/);
    expect(bad.stdout).toBe("");
  }, 60_000);
});

describe("funnel evaluation", () => {
  let funnel: FunnelRecommender | undefined;
  afterAll(async () => {
    await funnel?.close();
  });

  it("is reported beside the other models by the training run", () => {
    const metrics = result.report.funnel?.funnel;
    expect(metrics, JSON.stringify(result.report.funnel)).toBeDefined();
    expect(metrics!.users).toBe(result.report.retrieval.twoTower.users);
    for (const key of ["recall@10", "recall@20", "ndcg@20"]) {
      expect(metrics![key]).toBeGreaterThanOrEqual(0);
      expect(metrics![key]).toBeLessThanOrEqual(1);
    }
    // A feed of 20 from 200 videos built from real sources must find some held-out positives.
    expect(metrics!["recall@20"]).toBeGreaterThan(0);
  });

  it("serves from history before testFrom only, honours exclude, and flags models fitted past testFrom", async () => {
    funnel = await createFunnelRecommender({ ...ctx, bundleDir: bundle }, config, { progress: silentProgress });
    expect(funnel.name).toBe("funnel");
    expect(funnel.leaky).toBe(false);
    // Users active on both sides of the cut: the state knows them only up to it.
    const later = dataset.events.filter((e) => e.ts >= ctx.testFrom).map((e) => e.userId);
    const both = [...new Set(later)].filter((u) => dataset.events.some((e) => e.userId === u && e.ts < ctx.testFrom)).slice(0, 10);
    expect(both.length).toBeGreaterThan(0);
    // What the server's bootstrap applies for that history (events + a subscribe per pre-window subscription).
    const history = bootstrapEvents({
      events: dataset.events.filter((e) => e.ts < ctx.testFrom),
      subscriptions: dataset.subscriptions.filter((s) => s.ts < ctx.testFrom),
    });
    for (const u of both) {
      const agg = await funnel.runtime.state.getUser(u);
      expect(agg?.lastTs).toBeLessThan(ctx.testFrom);
      expect(agg?.events).toBe(history.filter((e) => e.userId === u).length);
      expect(agg!.events).toBeLessThan(dataset.events.filter((e) => e.userId === u).length);
    }
    const onlyLater = [...new Set(later)].find((u) => !dataset.events.some((e) => e.userId === u && e.ts < ctx.testFrom));
    if (onlyLater) expect(await funnel.runtime.state.getUser(onlyLater)).toBeUndefined();

    const [a, b] = both;
    const first = (await funnel.recommend(a, 20, new Set())) as unknown as string[];
    expect(first).toHaveLength(20);
    // Another user, excluding what the first got: still 20, none excluded (the pipeline refills past them).
    const exclude = new Set(first);
    const second = (await funnel.recommend(b, 20, exclude)) as unknown as string[];
    expect(second).toHaveLength(20);
    for (const id of second) expect(exclude.has(id)).toBe(false);

    const leaky = await createFunnelRecommender({ ...ctx, bundleDir: bundle, testFrom: result.report.split.trainUntil - 1 }, config, { progress: silentProgress });
    expect(leaky.name).toBe("funnelRefit");
    await leaky.close();
  });

  it("is reproducible: two evaluations give the same lists, with no fallback taken", async () => {
    const users = [...new Set(dataset.events.filter((e) => e.ts >= ctx.testFrom).map((e) => e.userId))].slice(0, 6);
    const lists = async (): Promise<string[][]> => {
      const f = await createFunnelRecommender({ ...ctx, bundleDir: bundle }, config, { progress: silentProgress });
      try {
        const out: string[][] = [];
        for (const u of users) out.push((await f.recommend(u, 20, new Set())) as unknown as string[]);
        expect(f.fallbacks).toEqual({});
        return out;
      } finally {
        await f.close();
      }
    };
    const a = await lists();
    expect(a.every((l) => l.length === 20)).toBe(true);
    expect(await lists()).toEqual(a);
  });

  it("runs without deadlines and with a fixed exploration seed, never lowering a budget or replacing a given seed", () => {
    const offline = funnelEvaluationConfig(config);
    expect(offline.ranking.timeoutMs).toBe(OFFLINE_DEADLINE_MS);
    for (const s of offline.pipeline.sources) expect(s.timeoutMs).toBe(OFFLINE_DEADLINE_MS);
    expect(offline.pipeline.stages.find((s) => s.name === "Exploration")?.options.seed).toBe("funnel-evaluation");
    // What is served is otherwise the configured pipeline: same sources, stages, blend.
    expect(offline.pipeline.sources.map((s) => [s.name, s.quota, s.enabled])).toEqual(config.pipeline.sources.map((s) => [s.name, s.quota, s.enabled]));
    expect(offline.pipeline.stages.map((s) => [s.name, s.enabled])).toEqual(config.pipeline.stages.map((s) => [s.name, s.enabled]));
    expect(offline.ranking.blend).toEqual(config.ranking.blend);

    const slow = loadConfig({
      env: {},
      overrides: {
        ranking: { timeoutMs: OFFLINE_DEADLINE_MS * 2 },
        pipeline: { stages: [{ name: "Exploration", options: { seed: "mine" } }] },
      },
    });
    expect(withOfflineDeadlines(slow).ranking.timeoutMs).toBe(OFFLINE_DEADLINE_MS * 2);
    expect(funnelEvaluationConfig(slow).pipeline.stages[0].options.seed).toBe("mine");
  });
});
