import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { DAY_MS } from "../../src/features/aggregates";
import type { FeedPage } from "../../src/pipeline/feed-page";
import { createTestkit, createTinyCatalog, TESTKIT_NOW, type Testkit } from "../../src/testkit";

/**
 * Issue 9: a video watched long ago (before the exact seen set's 30-day TTL and 1,000-item cap) was served again.
 * Through the real pipeline with the in-memory store: it never is, except on a surface configured for rewatching.
 */
const now = TESTKIT_NOW;
const X = "v7";

async function withOldWatch(options: Parameters<typeof createTestkit>[0] = {}): Promise<Testkit> {
  const tk = createTestkit({ videos: createTinyCatalog({ now, videos: 150, creators: 25 }).videos, ...options });
  // u1 watched X 400 days ago, then 1,100 other videos since (outside the catalog: the count is what matters).
  await tk.record([tk.events.watch("u1", X, 1, now - 400 * DAY_MS)]);
  await tk.record(Array.from({ length: 1100 }, (_, i) => tk.events.watch("u1", `elsewhere-${i}`, 1, now - 10 * DAY_MS + i * 60_000)));
  // X is what everybody else watches now: the top of trending, proposed to u1 by Trending and the popularity fill.
  await tk.record(Array.from({ length: 30 }, (_, i) => tk.events.watch(`fan-${i}`, X, 1, now - 3_600_000)));
  return tk;
}

async function allPages(tk: Testkit, request: Parameters<Testkit["feed"]>[0], max = 40): Promise<FeedPage[]> {
  const pages: FeedPage[] = [];
  let after: string | undefined;
  for (let i = 0; i < max; i++) {
    const page = await tk.feed({ ...request, after });
    pages.push(page);
    if (!page.hasNextPage) break;
    after = page.endCursor;
  }
  return pages;
}

const ids = (pages: FeedPage[]) => pages.flatMap((p) => p.items.map((i) => i.video.id));

describe("a video watched long ago is never served again", () => {
  it("is left out of every page although the exact recent set forgot it", async () => {
    const tk = await withOldWatch();
    const seen = await tk.state.getSeen("u1");
    expect(seen.recent.has(X)).toBe(false); // beyond the old cap and TTL: before the Bloom filter, X came back
    expect(seen.has(X)).toBe(true);
    const pages = await allPages(tk, { userId: "u1", first: 20 });
    const served = ids(pages);
    expect(served.length).toBeGreaterThan(60);
    expect(served).not.toContain(X);
    // X is served to a user who never watched it: it was a candidate the seen filter kept out, not missing.
    expect(ids(await allPages(tk, { userId: "u2", first: 20 }))).toContain(X);
    // A new session (fresh request, no cursor) does not bring it back either.
    expect(ids([await tk.feed({ userId: "u1", first: 20 })])).not.toContain(X);
  });

  it("comes back on a rewatch surface (pipeline.rewatchSurfaces), while other surfaces still leave it out", async () => {
    const tk = await withOldWatch({ service: { rewatchSurfaces: ["subscriptions"] } });
    for (const surface of ["home", "watch_next", "shorts"] as const) {
      expect(ids(await allPages(tk, { userId: "u1", first: 20, surface }, 5))).not.toContain(X);
    }
    expect(ids(await allPages(tk, { userId: "u1", first: 20, surface: "subscriptions" }))).toContain(X);
    // Served just now: the next rewatch request leaves it out (rewatching is not repeating).
    expect(ids(await allPages(tk, { userId: "u1", first: 20, surface: "subscriptions" }, 3))).not.toContain(X);
  });

  it("serves nothing watched, on any surface, when no rewatch surface is configured (the default)", async () => {
    const tk = await withOldWatch();
    for (const surface of ["subscriptions", "home", "trending"] as const) {
      expect(ids(await allPages(tk, { userId: "u1", first: 20, surface }, 5))).not.toContain(X);
    }
  });

  it("config pipeline.rewatchSurfaces: none by default, known surfaces only (BAD_CONFIG names the key)", () => {
    expect(loadConfig({ env: {} }).pipeline.rewatchSurfaces).toEqual([]);
    expect(loadConfig({ env: {}, overrides: { pipeline: { rewatchSurfaces: ["subscriptions", "trending"] } } }).pipeline.rewatchSurfaces).toEqual(["subscriptions", "trending"]);
    const thrown = (() => {
      try {
        loadConfig({ env: {}, overrides: { pipeline: { rewatchSurfaces: ["music"] } } });
      } catch (err) {
        return err;
      }
    })();
    expect(thrown).toMatchObject({ code: "BAD_CONFIG", message: expect.stringMatching(/pipeline\.rewatchSurfaces/) });
  });
});
