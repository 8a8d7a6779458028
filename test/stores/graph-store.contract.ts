import { afterEach, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import type { GraphStore } from "../../src/stores/graph-store";
import { DEFAULT_ENGAGEMENT_HALF_LIFE_MS as HALF_LIFE, DEFAULT_ENGAGEMENT_WEIGHTS as W } from "../../src/stores/graph-store-embedded";

export interface GraphStoreContractOptions {
  /**
   * Prefixed to every user and video id, so runs against a shared server do not see each other's data.
   * @default a random prefix per suite
   */
  idPrefix?: string;
}

/**
 * The behaviour every GraphStore must have, run against each implementation (embedded, Neo4j). `make` returns a
 * store using the default scoring (DEFAULT_ENGAGEMENT_WEIGHTS, 3-day half-life); the suite closes it after each test.
 */
export function describeGraphStoreContract(
  label: string,
  make: () => Promise<GraphStore>,
  options: GraphStoreContractOptions = {},
): void {
  const { idPrefix = `t${Math.random().toString(36).slice(2, 8)}-` } = options;
  describe(`GraphStore contract: ${label}`, () => {
    let open: GraphStore[] = [];
    let testNo = 0;
    /** Ids unique to the current test (fresh names per test keep tests independent on a persistent backend). */
    let id: (name: string) => string = (name) => name;
    const fresh = async (): Promise<GraphStore> => {
      const store = await make();
      open.push(store);
      const prefix = `${idPrefix}${++testNo}-`;
      id = (name) => `${prefix}${name}`;
      return store;
    };
    afterEach(async () => {
      await Promise.all(open.map((store) => store.close()));
      open = [];
    });
    const expectCode = async (promise: Promise<unknown>, code: string, argument?: string) => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReelfeedError);
      expect((err as ReelfeedError).code).toBe(code);
      if (argument) expect((err as ReelfeedError).details.argument).toBe(argument);
    };
    const NOW = 1_700_000_000_000;
    const decay = (ageMs: number) => Math.pow(0.5, ageMs / HALF_LIFE);

    it("follow, following (most recent first) and unfollow", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW - 3000);
      await g.follow(id("u"), id("c"), NOW - 1000);
      await g.follow(id("u"), id("a"), NOW - 2000);
      await g.follow(id("x"), id("u"), NOW); // the other direction is not u's following
      expect(await g.following(id("u"))).toEqual([id("c"), id("a"), id("b")]);
      // Following again keeps the original time: b stays last.
      await g.follow(id("u"), id("b"), NOW);
      expect(await g.following(id("u"))).toEqual([id("c"), id("a"), id("b")]);
      await g.unfollow(id("u"), id("a"));
      await g.unfollow(id("u"), id("never-followed"));
      expect(await g.following(id("u"))).toEqual([id("c"), id("b")]);
      expect(await g.following(id("nobody"))).toEqual([]);
    });

    it("an unknown user, or one whose followees did nothing, gets []", async () => {
      const g = await fresh();
      const query = { since: 0, now: NOW, limit: 10 };
      expect(await g.followeesEngaged(id("ghost"), query)).toEqual([]);
      await g.follow(id("u"), id("quiet"), NOW);
      expect(await g.followeesEngaged(id("u"), query)).toEqual([]);
    });

    it("scores videos by Σ kind weight × time decay over followees, best first, with engagers most recent first", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW - 10);
      await g.follow(id("u"), id("c"), NOW - 10);
      await g.recordEngagement(id("b"), id("v1"), "like", NOW);
      await g.recordEngagement(id("c"), id("v1"), "watch", NOW - HALF_LIFE);
      await g.recordEngagement(id("b"), id("v2"), "share", NOW - 2 * HALF_LIFE);
      await g.recordEngagement(id("c"), id("v2"), "comment", NOW - 3 * HALF_LIFE);
      await g.recordEngagement(id("stranger"), id("v3"), "share", NOW); // not followed: never counted
      const hits = await g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 10 });
      expect(hits.map((h) => h.videoId)).toEqual([id("v1"), id("v2")]);
      expect(hits[0].score).toBeCloseTo(W.like + W.watch * decay(HALF_LIFE), 9);
      expect(hits[0].userIds).toEqual([id("b"), id("c")]);
      expect(hits[1].score).toBeCloseTo(W.share * decay(2 * HALF_LIFE) + W.comment * decay(3 * HALF_LIFE), 9);
      expect(hits[1].userIds).toEqual([id("b"), id("c")]);
    });

    it("sums several kinds by one followee, and counts a repeated engagement once at its latest time", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW);
      await g.recordEngagement(id("b"), id("v"), "watch", NOW - 2 * HALF_LIFE);
      await g.recordEngagement(id("b"), id("v"), "watch", NOW - HALF_LIFE);
      await g.recordEngagement(id("b"), id("v"), "watch", NOW - 5 * HALF_LIFE); // older: does not move ts back
      await g.recordEngagement(id("b"), id("v"), "save", NOW);
      const [hit] = await g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 10 });
      expect(hit.videoId).toBe(id("v"));
      expect(hit.score).toBeCloseTo(W.watch * decay(HALF_LIFE) + W.save, 9);
      expect(hit.userIds).toEqual([id("b")]);
    });

    it("counts only engagements at or after `since`, and only of current followees", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW);
      await g.follow(id("u"), id("c"), NOW);
      await g.recordEngagement(id("b"), id("old"), "share", NOW - 1001);
      await g.recordEngagement(id("b"), id("edge"), "watch", NOW - 1000);
      await g.recordEngagement(id("c"), id("gone"), "share", NOW);
      await g.unfollow(id("u"), id("c"));
      const hits = await g.followeesEngaged(id("u"), { since: NOW - 1000, now: NOW, limit: 10 });
      expect(hits.map((h) => h.videoId)).toEqual([id("edge")]);
    });

    it("returns at most `limit` hits, equal scores ordered by video id; engagements after `now` are not boosted", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW);
      for (const v of ["v4", "v2", "v3", "v1"]) await g.recordEngagement(id("b"), id(v), "like", NOW);
      await g.recordEngagement(id("b"), id("future"), "like", NOW + HALF_LIFE);
      const hits = await g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 3 });
      expect(hits.map((h) => h.videoId)).toEqual([id("future"), id("v1"), id("v2")]);
      for (const h of hits) expect(h.score).toBeCloseTo(W.like, 9);
      expect(await g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 0 })).toEqual([]);
    });

    it("rejects bad arguments with BAD_USER_INPUT naming the argument", async () => {
      const g = await fresh();
      await expectCode(g.follow(id("u"), id("u"), NOW), "BAD_USER_INPUT", "followeeId");
      await expectCode(g.follow("", id("u"), NOW), "BAD_USER_INPUT", "followerId");
      await expectCode(g.follow(id("u"), id("b"), Number.NaN), "BAD_USER_INPUT", "ts");
      await expectCode(g.recordEngagement(id("u"), id("v"), "dance" as never, NOW), "BAD_USER_INPUT", "kind");
      await expectCode(g.recordEngagement(id("u"), "", "like", NOW), "BAD_USER_INPUT", "videoId");
      await expectCode(g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: -1 }), "BAD_USER_INPUT", "limit");
      await expectCode(g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 1.5 }), "BAD_USER_INPUT", "limit");
      expect(await g.following(id("u"))).toEqual([]);
    });

    it("an aborted signal rejects followeesEngaged", async () => {
      const g = await fresh();
      await g.follow(id("u"), id("b"), NOW);
      const controller = new AbortController();
      controller.abort(new Error("timed out"));
      await expect(g.followeesEngaged(id("u"), { since: 0, now: NOW, limit: 5, signal: controller.signal })).rejects.toThrow("timed out");
    });

    it("close resolves, may be repeated, and later calls fail with a ReelfeedError", async () => {
      const g = await fresh();
      await g.close();
      await g.close();
      await expect(g.following(id("u"))).rejects.toBeInstanceOf(ReelfeedError);
      await expect(g.follow(id("u"), id("b"), NOW)).rejects.toBeInstanceOf(ReelfeedError);
    });
  });
}
