import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { createFeedService } from "../../src/pipeline/feed-pipeline";
import { buildPipeline, describePipeline } from "../../src/pipeline/pipeline-definition";
import { definePlugin, defineSource, defineStage, withScore, z } from "../../src/plugin";
import { createTestkit } from "../../src/testkit";
import { createHarness } from "../schema/harness";
import editorsPicks, { EDITORS_PICK, editorsPicksSource, minDurationFilter } from "../fixtures/plugins/editors-picks";

const fixtures = join(process.cwd(), "test/fixtures/plugins");
const config = (pipeline: Record<string, unknown>) => configSchema.parse({ pipeline: { plugins: ["editors-picks"], ...pipeline } });
const PICKS = ["v5", "v12", "v3", "v40"];

/** Every import specifier of a TypeScript file. */
function importsOf(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]);
}

describe("the public plugin module", () => {
  it("is all the example plugins and the test plugin import, by package name (their tests add the testkit)", () => {
    const files = [
      ...readdirSync("plugins").flatMap((p) => readdirSync(join("plugins", p)).filter((f) => f.endsWith(".ts")).map((f) => join("plugins", p, f))),
      join(fixtures, "editors-picks/index.ts"),
    ];
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      const test = file.endsWith(".test.ts");
      for (const spec of importsOf(file)) {
        const ok = spec === "reelfeed/plugin" || spec === "./index" || (test && (spec === "vitest" || spec === "reelfeed/testkit"));
        expect(ok, `${file} imports ${spec}: plugins use reelfeed/plugin only (tests also reelfeed/testkit and vitest)`).toBe(true);
      }
    }
  });

  it("a plugin's filter runs after the built-in hard rules and its reason code reaches the GraphQL reason", async () => {
    const tk = createTestkit();
    const definition = await buildPipeline({
      config: config({
        sources: [{ name: "EditorsPicks", options: { videoIds: PICKS } }, { name: "Trending" }],
        filters: [{ name: "MinDuration", options: { minDurationSec: 300 } }],
        stages: [],
      }),
      runtime: tk.runtime,
      pluginsDir: fixtures,
    });
    expect(definition.filters.map((f) => f.name)).toEqual(["Removed", "PolicyFlagged", "AgeRestricted", "RegionBlocked", "Seen", "NotInterested", "BlockedCreator", "Reported", "MinDuration"]);
    expect(definition.filters.at(-1)!.origin).toBe("plugin:editors-picks@1.0.0");
    const toc = describePipeline(definition);
    expect(toc).toMatch(/✓ MinDuration\s+\[plugin:editors-picks@1\.0\.0\]\s+\{"minDurationSec":300\}/);
    expect(toc).toMatch(/reason editors-picks\/EDITORS_PICK \(falls back to POPULAR\)/);

    const service = createFeedService({ runtime: tk.runtime, definition, clock: tk.now, stateTimeoutMs: 2000, rankerTimeoutMs: 2000, onError: () => {} });
    const page = await service.feed({ userId: "u1", surface: "home", context: { now: tk.now() }, first: 20, debug: true });
    const short = page.trace!.stages.find((s) => s.stage === "filter:MinDuration")!;
    expect(short.removed?.too_short).toBeGreaterThan(0);
    expect(page.items.every((i) => i.video.durationSec >= 300)).toBe(true);
    const picked = page.items.filter((i) => i.sources[0] === "EditorsPicks");
    const longPicks = PICKS.filter((id) => tk.catalog.video(id)!.durationSec >= 300);
    expect(picked.map((i) => i.video.id).sort()).toEqual(longPicks.sort());
    expect(picked.every((i) => i.reason.qualifiedCode === "editors-picks/EDITORS_PICK" && i.reason.code === "POPULAR")).toBe(true);

    // Through the schema, as a client reads it: the closed enum says POPULAR, qualifiedCode says whose reason it is.
    const h = await createHarness({ feed: service, catalog: tk.catalog });
    try {
      const r = await h.exec(`{ feed(userId: "u2", first: 20) { edges { node { sources reason { code qualifiedCode params { key value } } } } } }`);
      expect(r.errors).toBeUndefined();
      const nodes = (r.data!.feed as { edges: Array<{ node: { sources: string[]; reason: { code: string; qualifiedCode: string } } }> }).edges.map((e) => e.node);
      const mine = nodes.filter((n) => n.sources[0] === "EditorsPicks");
      expect(mine.length).toBeGreaterThan(0);
      for (const n of mine) expect(n.reason).toEqual({ code: "POPULAR", qualifiedCode: "editors-picks/EDITORS_PICK", params: [] });
      // Built-in reasons: qualifiedCode is the code itself.
      for (const n of nodes.filter((x) => x.sources[0] === "Trending")) expect(n.reason.qualifiedCode).toBe(n.reason.code);
    } finally {
      await h.stop();
    }
  });

  it("a plugin with a bad option stops start-up with BAD_CONFIG naming the plugin and the key", async () => {
    const runtime = createTestkit().runtime;
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ sources: [{ name: "EditorsPicks" }] }, "pipeline.sources[0].options.videoIds", /Required/],
      [{ sources: [{ name: "Trending" }, { name: "EditorsPicks", options: { videoIds: "v1" } }] }, "pipeline.sources[1].options.videoIds", /Expected array/],
      [{ filters: [{ name: "MinDuration", options: { minDurationSecs: 30 } }] }, "pipeline.filters[0].options", /unknown option\(s\) "minDurationSecs"/],
      [{ filters: [{ name: "MinDuration", options: { minDurationSec: -1 } }] }, "pipeline.filters[0].options.minDurationSec", /greater than 0/],
    ];
    for (const [pipeline, key, reason] of cases) {
      const err = await buildPipeline({ config: config(pipeline), runtime, pluginsDir: fixtures }).catch((e: unknown) => e);
      expect(err, key).toMatchObject({ code: "BAD_CONFIG", details: { plugin: "editors-picks", key } });
      expect((err as Error).message).toContain(`config ${key}: plugin "editors-picks"`);
      expect((err as Error).message).toMatch(reason);
    }
    // A create() that throws is the plugin's bug, not the operator's: BAD_PLUGIN, still with the entry's key.
    const buggy = defineSource({ name: "Buggy", options: z.object({ n: z.number().default(1) }).strict(), create: () => { throw new TypeError("oops"); } });
    expect(() => createTestkit({ plugins: [definePlugin({ name: "buggy", version: "1.0.0", sources: [buggy] })], sources: [{ name: "Buggy" }] })).toThrow(
      expect.objectContaining({ code: "BAD_PLUGIN", details: expect.objectContaining({ plugin: "buggy", key: "pipeline.sources[0]" }), message: expect.stringMatching(/create\(options\) threw: oops/) }),
    );
    // Names: a built-in hard rule cannot be listed (it always runs), an unknown filter is named.
    await expect(buildPipeline({ config: config({ filters: [{ name: "Seen" }] }), runtime, pluginsDir: fixtures })).rejects.toThrow(
      /pipeline\.filters\[0\]\.name: "Seen" is a built-in hard rule/,
    );
    await expect(buildPipeline({ config: config({ filters: [{ name: "MinDurations" }] }), runtime, pluginsDir: fixtures })).rejects.toThrow(
      /pipeline\.filters\[0\]\.name: unknown filter "MinDurations"/,
    );
  });

  it("the testkit builds factories through the same validation and runs filters alone", async () => {
    const tk = createTestkit({ plugins: [editorsPicks] });
    const out = await tk.runSource(editorsPicksSource, await tk.query("u1"), { options: { videoIds: ["v1", "nope", "v2"] } });
    expect(out.map((c) => [c.videoId, c.reason.qualifiedCode])).toEqual([["v1", EDITORS_PICK.qualifiedCode], ["v2", EDITORS_PICK.qualifiedCode]]);
    const candidates = tk.merged(["v1", "v2", "v3", "v4", "v5"]);
    const { kept, removed } = tk.runFilter(minDurationFilter, candidates, { options: { minDurationSec: 600 } });
    expect(kept.length + removed.length).toBe(5);
    expect(removed.every((r) => r.reason === "too_short" && r.candidate.video.durationSec < 600)).toBe(true);
    expect(() => tk.runFilter(minDurationFilter, candidates, { options: { minDurationSec: "long" } })).toThrow(expect.objectContaining({ code: "BAD_CONFIG" }));
    expect(() => tk.runFilter(minDurationFilter.create({}), candidates, { options: { minDurationSec: 1 } })).toThrow(/options go to the Filter's factory/);
  });

  it("a plugin candidate or stage item with an undeclared reason is not served", async () => {
    const rogue = defineSource({
      name: "Rogue",
      create: () => ({
        fetch: async () => [
          { videoId: "v1", score: 1, reason: { code: "POPULAR" as const, params: {}, qualifiedCode: "rogue/UNDECLARED" } },
          { videoId: "v2", score: 1, reason: { code: "MADE_UP" as never, params: {} } },
          { videoId: "v3", score: 1, reason: { code: "POPULAR" as const, params: {} } },
        ],
      }),
    });
    const relabel = defineStage({
      name: "Relabel",
      phase: "explore",
      create: () => ({ apply: (_q, ranked) => ({ kept: ranked.map((c) => withScore(c, c.score, { code: "FRESH", params: {}, qualifiedCode: "rogue/NOPE" })), removed: [] }) }),
    });
    const tk = createTestkit({ plugins: [definePlugin({ name: "rogue", version: "1.0.0", sources: [rogue], stages: [relabel] })], sources: [{ name: "Rogue" }], stages: [{ name: "Relabel" }] });
    const page = await tk.feed({ userId: "u1", first: 5 });
    const source = page.trace!.stages.find((s) => s.stage === "source:Rogue")!;
    expect([source.input, source.output]).toEqual([3, 1]);
    expect(page.trace!.stages.find((s) => s.stage === "rerank:Relabel")!.error).toMatch(/neither built-in nor declared/);
    expect(page.items.find((i) => i.video.id === "v3")?.reason).toEqual({ code: "POPULAR", params: {} });
  });
});
