import { describe, expect, it } from "vitest";
import type { FeedRequest } from "../../src/pipeline/feed-page";
import { createOverloadGate } from "../../src/pipeline/overload";
import { withSettings, type PipelineDefinition } from "../../src/pipeline/pipeline-definition";
import { createStats, RequestRun, type FunnelEnv } from "../../src/pipeline/request-run";
import { SessionItems } from "../../src/pipeline/session-items";
import { createSessionStore, type Session } from "../../src/pipeline/sessions";
import { fill } from "../../src/pipeline/steps/fill";
import { filterBest, runFilters } from "../../src/pipeline/steps/filters";
import { mergeScores } from "../../src/pipeline/steps/merge";
import { hydrate } from "../../src/pipeline/steps/hydrate";
import { createPageStep } from "../../src/pipeline/steps/page";
import { rank } from "../../src/pipeline/steps/rank";
import { runSources } from "../../src/pipeline/steps/sources";
import { runStages } from "../../src/pipeline/steps/stages";
import { createTracer } from "../../src/pipeline/trace";
import { defineFilter, defineSource, defineStage, definePlugin, partition, type RankerModel } from "../../src/plugin";
import { createTestkit, TESTKIT_NOW, type Testkit } from "../../src/testkit";
import { createTinyCatalog } from "../../src/testkit/tiny-catalog";

/** Each funnel step run alone, over a testkit runtime: what it returns, what it reports, nothing else run. */
function envOf(tk: Testkit, definition: PipelineDefinition = tk.definition): FunnelEnv & { errors: string[] } {
  const errors: string[] = [];
  return { runtime: tk.runtime, definition, stats: createStats(definition), onError: (_e, where) => void errors.push(where), clock: tk.now, errors };
}
const traced = (env: FunnelEnv) => new RequestRun(createTracer(true), env.stats);
const request = (tk: Testkit, over: Partial<FeedRequest> = {}): FeedRequest => ({ userId: "u1", surface: "home", context: { now: tk.now() }, first: 10, debug: true, ...over });

describe("funnel steps, each alone", () => {
  it("hydrate: a state read that fails is served empty and says STATE_UNAVAILABLE; a rewatch surface keeps only the served", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.watch("u1", "v1"), tk.events.blockCreator("u1", "c2")]);
    await tk.state.markServed("u1", ["v2"], tk.now());
    const env = envOf(tk);
    const run = traced(env);
    const q = await hydrate(request(tk, { context: { now: tk.now(), country: "gb", language: "EN" } }), env, run);
    expect([q.context.country, q.context.language, q.relations.blockedCreators]).toEqual(["GB", "en", ["c2"]]);
    expect([q.seen.has("v1"), q.seen.has("v2")]).toEqual([true, true]);
    expect(run.fallbacks).toEqual([]);
    const rewatch = await hydrate(request(tk), envOf(tk, withSettings(tk.definition, { hydrate: { rewatchSurfaces: ["home"] } })), run);
    expect([rewatch.seen.has("v1"), rewatch.seen.has("v2")]).toEqual([false, true]);

    const broken = createTestkit({ runtime: { state: { ...tk.state, getRelations: () => Promise.reject(new Error("redis down")) } } });
    const env2 = envOf(broken);
    const run2 = traced(env2);
    const q2 = await hydrate(request(broken), env2, run2);
    expect(q2.relations.blockedCreators).toEqual([]);
    expect(q2.userAgg?.recent.map((r) => r.videoId)).toEqual(["v1"]);
    expect(run2.fallbacks.map((f) => [f.kind, f.message])).toEqual([["STATE_UNAVAILABLE", expect.stringMatching(/redis down/)]]);
    expect(env2.stats.fallbacks.STATE_UNAVAILABLE).toBe(1);
  });

  it("sources: in parallel within quota; a failing fail-open source is dropped and counted, a fail-closed one fails the request", async () => {
    const exploding = defineSource({ name: "Exploding", create: () => ({ fetch: async () => Promise.reject(new Error("on fire")) }) });
    const plugin = definePlugin({ name: "boom", version: "1.0.0", sources: [exploding] });
    const tk = createTestkit({ plugins: [plugin], sources: [{ name: "Trending", quota: 7 }, { name: "Exploding" }] });
    const env = envOf(tk);
    const run = traced(env);
    const outputs = await runSources(await tk.query("u1"), env, run);
    expect(outputs.map((o) => [o.source, o.candidates.length])).toEqual([["Trending", 7]]);
    expect(run.fallbacks.map((f) => [f.kind, f.component])).toEqual([["SOURCE_FAILED", "Exploding"]]);
    expect(env.stats.sources.Exploding).toEqual({ failed: 1, timedOut: 0 });
    const closed = createTestkit({ plugins: [plugin], sources: [{ name: "Exploding", failOpen: false }] });
    await expect(runSources(await closed.query("u1"), envOf(closed), traced(envOf(closed)))).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("filters: run in the definition's order, each removal traced with its reason", async () => {
    const tk = createTestkit();
    await tk.record([tk.events.watch("u1", "v1"), tk.events.notInterested("u1", "v2")]);
    const env = envOf(tk);
    const run = traced(env);
    const kept = runFilters(env.definition.filters, await tk.query("u1"), tk.merged(["v1", "v2", "v3"]), env, run);
    expect(kept.map((c) => c.videoId)).toEqual(["v3"]);
    const removed = Object.fromEntries(run.tracer.build("r", "m", 0)!.stages.filter((s) => s.removed).map((s) => [s.stage, s.removed]));
    expect(removed).toEqual({ "filter:Seen": { seen: 1 }, "filter:NotInterested": { not_interested: 1 } });
  });

  it("filters for a ranked session: best source score first, a slice at a time, until the ranker's candidates pass; the same kept as filtering all", async () => {
    // A plugin filter removing every third video id, counting what it is shown.
    let shown = 0;
    const thirds = defineFilter({
      name: "Thirds",
      create: () => ({
        name: "Thirds",
        apply: (_q, candidates) => {
          shown += candidates.length;
          return partition(candidates, (c) => (Number(c.videoId.slice(1)) % 3 === 0 ? "third" : undefined));
        },
      }),
    });
    const tk = createTestkit({ videos: createTinyCatalog({ now: TESTKIT_NOW, videos: 400 }).videos, plugins: [definePlugin({ name: "thirds", version: "1.0.0", filters: [thirds] })], filters: [{ name: "Thirds" }] });
    const ids = tk.catalog.newest().map((v) => v.id);
    expect(ids.length).toBeGreaterThan(150);
    const reason = { code: "PERSONALIZED" as const, params: {} };
    // Source order: unknown ids among them, which are dropped and counted only where examined.
    const listed = ids.flatMap((id, i) => (i === 5 || i === 140 ? [`zz${i}`, id] : [id]));
    const outputs = [{ source: "S", weight: 1, candidates: listed.map((videoId, i) => ({ videoId, score: 1000 - i, reason })) }];
    const env = envOf(tk);
    const query = await tk.query("u1");
    const all = runFilters(env.definition.filters, query, tk.merged(ids), env, traced(env));
    for (const want of [10, 70, 10_000]) {
      shown = 0;
      const run = traced(env);
      const out = filterBest(env.definition.filters, query, mergeScores(outputs), want, env, run);
      expect(out.kept.slice(0, want).map((c) => c.videoId)).toEqual(all.slice(0, want).map((c) => c.videoId));
      expect(out.kept.every((c) => c.video === tk.catalog.video(c.videoId))).toBe(true);
      const examined = listed.length - out.unexamined.length;
      expect(out.unknown).toBe(listed.slice(0, examined).filter((id) => id.startsWith("zz")).length);
      if (want < 100) {
        expect(out.unexamined.length).toBeGreaterThan(0);
        expect(shown).toBeLessThan(ids.length);
      } else {
        expect(out.kept.length).toBe(all.length);
        expect(out.unknown).toBe(2);
      }
      // One trace stage per filter, with the slices' totals.
      const stage = run.tracer.build("r", "m", 0)!.stages.filter((s) => s.stage === "filter:Thirds");
      expect(stage).toHaveLength(1);
      expect(stage[0].input).toBe(shown);
      expect(stage[0].input - stage[0].output).toBe(stage[0].removed?.third ?? 0);
      // Unknown ids of the examined slices are traced as the merge's removals (the pipeline lists every merged id).
      const run2 = traced(env);
      run2.tracer.candidates(mergeScores(outputs));
      const unknownTraced = filterBest(env.definition.filters, query, mergeScores(outputs), want, env, run2);
      expect(run2.tracer.build("r", "m", 0)!.candidates.filter((c) => c.removedBy?.reason === "unknown_video")).toHaveLength(unknownTraced.unknown);
    }
  });

  it("rank: the ranker's heads blended and sorted, the rest cut; without a ranker, source order and RANKER_UNAVAILABLE", async () => {
    const ranker: RankerModel = {
      heads: ["click"],
      version: "test-ranker",
      score: async (_q, videos) => ({ click: Float32Array.from(videos.map((v) => Number(v.id.slice(1)) / 100)) }),
    };
    const tk = createTestkit({ models: { ranker } });
    const env = envOf(tk, withSettings(tk.definition, { rank: { candidatesToRank: 3 } }));
    const run = traced(env);
    const { scored, videoStats } = await rank(await tk.query("u1"), tk.merged(["v1", "v9", "v4", "v30"]), env, run);
    expect(scored.map((c) => c.videoId)).toEqual(["v9", "v4", "v1"]);
    expect(scored[0].heads).toEqual({ click: expect.closeTo(0.09, 6) });
    expect(videoStats).toBeInstanceOf(Map);
    expect(run.fallbacks).toEqual([]);

    const bare = createTestkit();
    const env2 = envOf(bare);
    const run2 = traced(env2);
    const r2 = await rank(await bare.query("u1"), bare.merged(["v1", "v9", "v4"]), env2, run2);
    expect(r2.scored.map((c) => c.videoId)).toEqual(["v1", "v9", "v4"]);
    expect(run2.fallbacks.map((f) => f.kind)).toEqual(["RANKER_UNAVAILABLE"]);
  });

  it("stages: in phase order with a typed context; a throwing stage is skipped, its error traced and reported", async () => {
    const seen: string[] = [];
    const spy = defineStage({
      name: "Spy",
      phase: "score",
      create: () => ({ apply: (_q, ranked, ctx) => (seen.push(`${ctx.sessionId}:${ctx.videoStats?.size}`), { kept: [...ranked].reverse(), removed: [] }) }),
    });
    const broken = defineStage({ name: "Broken", phase: "arrange", create: () => ({ apply: () => { throw new Error("bug"); } }) });
    const tk = createTestkit({ plugins: [definePlugin({ name: "st", version: "1.0.0", stages: [broken, spy] })], stages: [{ name: "Broken" }, { name: "Spy" }] });
    const env = envOf(tk);
    const run = traced(env);
    const out = runStages(await tk.query("u1"), tk.ranked(["v1", "v2", "v3"]), { runtime: tk.runtime, servedEarlier: [], sessionId: "S", videoStats: new Map() }, env, run);
    expect(out.map((c) => c.videoId)).toEqual(["v3", "v2", "v1"]);
    expect(seen).toEqual(["S:0"]);
    expect(run.tracer.build("r", "m", 0)!.stages.map((s) => [s.stage, s.error])).toEqual([["rerank:Spy", undefined], ["rerank:Broken", "bug"]]);
    expect(env.errors).toEqual(["stage Broken"]);
  });

  it("fill: tops a short session up below every ranked score, through filters and stages, saying POPULARITY", async () => {
    const tk = createTestkit({ stages: [] });
    const env = envOf(tk);
    const run = traced(env);
    const items = new SessionItems([]);
    items.append(tk.ranked(["v1", "v2"], [0.5, 0.4]));
    const session: Session = { id: "s1", userId: "u1", query: await tk.query("u1"), items, base: 0 };
    await fill(session, 8, env, run);
    expect(items.length).toBe(10);
    const page = items.slice(0, 10);
    expect(page.slice(2).every((c) => c.score < 0.4 && !["v1", "v2"].includes(c.video.id))).toBe(true);
    expect(run.fallbacks.map((f) => [f.kind, f.message])).toEqual([["POPULARITY", "8 popular videos filled a short candidate list"]]);
  });

  it("page: the slice with tracking ids and a cursor, served items recorded; a failing markServed still serves", async () => {
    const tk = createTestkit();
    const env = envOf(tk);
    const items = new SessionItems([]);
    items.append(tk.ranked(["v1", "v2", "v3", "v4", "v5"]));
    const session: Session = { id: "sess", userId: "u1", query: await tk.query("u1"), items, base: 10 };
    const served: string[][] = [];
    const page = await createPageStep(env, { onServed: (p) => void served.push(p.items.map((i) => i.video.id)) })(
      { request: request(tk, { first: 2 }), session, offset: 11, requestId: "r", now: tk.now(), startedAt: 0 },
      traced(env),
    );
    expect(page.items.map((i) => [i.video.id, i.position, i.trackingId])).toEqual([["v2", 11, "sess.11"], ["v3", 12, "sess.12"]]);
    expect(page.hasNextPage).toBe(true);
    expect((await tk.state.getSeen("u1")).has("v2")).toBe(true);
    expect(served).toEqual([["v2", "v3"]]);

    // A preview serves the same slice and records nothing: no served mark, no onServed (impressions).
    const preview = await createPageStep(env, { onServed: (p) => void served.push(p.items.map((i) => i.video.id)) })(
      { request: { ...request(tk, { first: 2 }), preview: true }, session, offset: 13, requestId: "r", now: tk.now(), startedAt: 0 },
      traced(env),
    );
    expect(preview.items.map((i) => i.video.id)).toEqual(["v4", "v5"]);
    expect((await tk.state.getSeen("u1")).has("v4")).toBe(false);
    expect(served).toEqual([["v2", "v3"]]);

    const failing = createTestkit({ runtime: { state: { ...tk.state, markServed: () => Promise.reject(new Error("read-only")) } } });
    const env2 = envOf(failing);
    const run2 = traced(env2);
    const p2 = await createPageStep(env2)({ request: request(failing, { first: 5 }), session, offset: 10, requestId: "r", now: tk.now(), startedAt: 0 }, run2);
    expect([p2.items.length, p2.hasNextPage, p2.endCursor]).toEqual([5, false, undefined]);
    expect(run2.fallbacks.map((f) => f.kind)).toEqual(["STATE_UNAVAILABLE"]);
    expect(env2.errors).toEqual(["markServed"]);
  });
});

describe("sessions and overload", () => {
  it("opens a new session, continues a cached one by cursor, re-ranks an evicted one from its offset, refuses another user's cursor", async () => {
    let now = 1_000;
    const store = createSessionStore({ sessionTtlMs: 100, maxSessions: 10, cursorTtlMs: 10_000, clock: () => now });
    const made: Array<[string, number]> = [];
    const start = async (id: string, base: number): Promise<Session> => {
      made.push([id, base]);
      const items = new SessionItems([]);
      return { id, userId: "u1", query: {} as never, items, base };
    };
    const req = (after?: string, userId = "u1") => ({ userId, surface: "home", context: {}, first: 5, debug: false, after }) as FeedRequest;
    const { session } = await store.open(req(), now, start);
    expect(made).toHaveLength(1);
    const { encodeCursor } = await import("../../src/pipeline/cursor");
    const { userTag } = await import("../../src/pipeline/sessions");
    const cursor = encodeCursor({ sessionId: session.id, offset: 0, issuedAt: now, userTag: userTag("u1") });
    expect((await store.open(req(cursor), now, start)).session).toBe(session);
    await expect(store.open(req(cursor, "u2"), now, start)).rejects.toThrow(/issued for another user/);
    const beyond = encodeCursor({ sessionId: session.id, offset: 3, issuedAt: now, userTag: userTag("u1") });
    await expect(store.open(req(beyond), now, start)).rejects.toThrow(/outside its session/);
    now += 500; // past the TTL: evicted, ranked again from where the user got to
    const again = await store.open(req(beyond), now, start);
    expect(made.at(-1)).toEqual([session.id, 3]);
    expect(again.offset).toBe(3);
  });

  it("the overload gate refuses while every slot is held and frees it after", async () => {
    let lag = 0;
    const gate = createOverloadGate({ maxConcurrentRankings: 1, maxEventLoopLagMs: 50, eventLoopLag: () => lag });
    let release!: () => void;
    const held = gate.hold(() => new Promise<void>((r) => (release = r)));
    expect(gate.reason()).toMatch(/1 sessions were being ranked/);
    release();
    await held;
    expect(gate.reason()).toBeUndefined();
    lag = 80;
    expect(gate.reason()).toMatch(/event loop ran 80 ms late/);
  });
});
