import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import neo4j from "neo4j-driver";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { ReelfeedError } from "../../src/errors";
import { createEmbeddedGraphStore } from "../../src/stores/graph-store-embedded";
import { createNeo4jGraphStore, neo4jLabels, neo4jSchema } from "../../src/stores/graph-store-neo4j";
import { openGraphStore } from "../../src/stores/open-stores";
import { describeGraphStoreContract } from "./graph-store.contract";

describeGraphStoreContract("embedded", async () => createEmbeddedGraphStore());

// Runs only against a real server (NEO4J_URI=bolt://localhost:7687 NEO4J_USER NEO4J_PASSWORD); skipped, never
// passed, without one. Every id carries this run's prefix, and afterAll deletes exactly those nodes.
describe.skipIf(!process.env.NEO4J_URI)("Neo4j", () => {
  const uri = process.env.NEO4J_URI as string;
  const user = process.env.NEO4J_USER ?? "neo4j";
  const password = process.env.NEO4J_PASSWORD ?? "";
  const idPrefix = `reelfeed-test-${Math.random().toString(36).slice(2, 8)}-`;
  afterAll(async () => {
    const driver = neo4j.driver(uri, neo4j.auth.basic(user, password));
    try {
      await driver.executeQuery("MATCH (n) WHERE (n:User OR n:Video) AND n.id STARTS WITH $idPrefix DETACH DELETE n", { idPrefix });
    } finally {
      await driver.close();
    }
  });
  describeGraphStoreContract("neo4j", async () => createNeo4jGraphStore({ uri, user, password }), { idPrefix });

  it("own labels, a bootstrap marker, idempotent engagement writes and pruning (live)", async () => {
    const labelPrefix = `RfT${Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, "x")}`;
    const l = neo4jLabels(labelPrefix);
    const g = await createNeo4jGraphStore({ uri, user, password, labelPrefix, pruneEveryMs: 0 });
    const driver = neo4j.driver(uri, neo4j.auth.basic(user, password), { disableLosslessIntegers: true });
    try {
      const count = async () =>
        (await driver.executeQuery(`MATCH (:${l.user} {id: "b"})-[e:${l.engaged}]->(:${l.video} {id: "v"}) RETURN e.count AS c, e.ts AS ts`)).records.map((r) => [r.get("c"), r.get("ts")]);
      await g.applyWrites([{ type: "follow", followerId: "a", followeeId: "b", ts: NOW - 10 * DAY }]);
      const like = { type: "engage" as const, userId: "b", videoId: "v", kind: "like" as const, ts: NOW - DAY };
      await g.applyWrites([like]);
      await g.applyWrites([like]); // a retry, a replay, a second consumer: no change
      expect(await count()).toEqual([[1, NOW - DAY]]);
      await g.applyWrites([{ ...like, ts: NOW }]);
      expect(await count()).toEqual([[2, NOW]]);
      expect((await g.followeesEngaged("a", { since: 0, now: NOW, limit: 5 })).map((h) => h.videoId)).toEqual(["v"]);
      // The default labels hold none of it.
      expect((await driver.executeQuery("MATCH (u:User {id: 'b'})-[e:ENGAGED]->(:Video {id: 'v'}) WHERE e.ts = $ts RETURN e", { ts: NOW })).records).toHaveLength(0);

      expect(await g.bootstrapped("data-x")).toBe(false);
      await g.markBootstrapped("data-x");
      expect(await g.bootstrapped("data-x")).toBe(true);

      await g.applyWrites([{ type: "engage", userId: "b", videoId: "old", kind: "watch", ts: NOW - 60 * DAY }]);
      expect(await g.pruneEngagements(NOW - 30 * DAY)).toBe(1);
      expect((await g.followeesEngaged("a", { since: 0, now: NOW, limit: 5 })).map((h) => h.videoId)).toEqual(["v"]);
    } finally {
      await driver.executeQuery(`MATCH (n) WHERE n:${l.user} OR n:${l.video} OR n:${l.meta} DETACH DELETE n`);
      for (const statement of neo4jSchema(l)) {
        const [, kind, name] = /CREATE (CONSTRAINT|INDEX) (\S+)/.exec(statement)!;
        await driver.executeQuery(`DROP ${kind} ${name} IF EXISTS`);
      }
      await driver.close();
      await g.close();
    }
  });
});

const NOW = 1_700_000_000_000;
const DAY = 24 * 60 * 60 * 1000;

describe("embedded graph store", () => {
  it("keeps only the most recent engagements per user", async () => {
    const g = createEmbeddedGraphStore({ maxEngagementsPerUser: 3 });
    await g.follow("u", "b", NOW);
    for (let i = 1; i <= 5; i++) await g.recordEngagement("b", `v${i}`, "watch", NOW - (10 - i));
    expect((await g.followeesEngaged("u", { since: 0, now: NOW, limit: 10 })).map((h) => h.videoId).sort()).toEqual(["v3", "v4", "v5"]);
    // Watching v3 again moves it to the recent end, so the next new engagement evicts v4 instead.
    await g.recordEngagement("b", "v3", "watch", NOW);
    await g.recordEngagement("b", "v6", "watch", NOW);
    const hits = await g.followeesEngaged("u", { since: 0, now: NOW, limit: 10 });
    expect(hits.map((h) => h.videoId)).toEqual(["v3", "v6", "v5"]);
  });

  it("uses the configured kind weights and half-life", async () => {
    const g = createEmbeddedGraphStore({ kindWeights: { watch: 10 }, halfLifeMs: DAY });
    await g.follow("u", "b", NOW);
    await g.recordEngagement("b", "v", "watch", NOW - 2 * DAY);
    await g.recordEngagement("b", "w", "share", NOW);
    const hits = await g.followeesEngaged("u", { since: 0, now: NOW, limit: 10 });
    expect(hits).toEqual([
      { videoId: "w", score: 4, userIds: ["b"] },
      { videoId: "v", score: expect.closeTo(2.5, 9), userIds: ["b"] },
    ]);
  });

  it("rejects invalid scoring options with BAD_USER_INPUT", () => {
    expect(() => createEmbeddedGraphStore({ halfLifeMs: 0 })).toThrow(/halfLifeMs/);
    expect(() => createEmbeddedGraphStore({ kindWeights: { like: -1 } })).toThrow(/kindWeights.like/);
    expect(() => createEmbeddedGraphStore({ maxEngagementsPerUser: 0 })).toThrow(ReelfeedError);
  });

  it("ranks 5k engagements by 200 followees quickly (one in-memory pass)", async () => {
    const g = createEmbeddedGraphStore();
    for (let f = 0; f < 200; f++) {
      await g.follow("u", `f${f}`, NOW);
      for (let e = 0; e < 25; e++) await g.recordEngagement(`f${f}`, `v${(f * 7 + e * 13) % 1000}`, "watch", NOW - e * 3600_000);
    }
    const started = performance.now();
    const hits = await g.followeesEngaged("u", { since: NOW - 7 * DAY, now: NOW, limit: 100 });
    expect(performance.now() - started).toBeLessThan(250);
    expect(hits).toHaveLength(100);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
  });
});

/** A bolt URI where nothing listens. */
async function closedBoltUri(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `bolt://127.0.0.1:${port}`;
}

describe("Neo4j adapter without a server", () => {
  it("fails start-up with UNAVAILABLE naming the URI when nothing listens", async () => {
    const uri = await closedBoltUri();
    const err = await createNeo4jGraphStore({ uri, password: "x", maxRetryTimeMs: 500, connectionTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("UNAVAILABLE");
    expect((err as ReelfeedError).message).toContain(uri);
    expect((err as ReelfeedError).message).not.toContain("password");
  });

  it("rejects a URI with an unknown scheme as BAD_CONFIG", async () => {
    await expect(createNeo4jGraphStore({ uri: "ftp://example" })).rejects.toMatchObject({ code: "BAD_CONFIG" });
  });
});

describe("openGraphStore", () => {
  it("opens the embedded store when no Neo4j URI is configured", async () => {
    const g = await openGraphStore(loadConfig({ env: {} }));
    expect(g.kind).toBe("embedded");
    await g.close();
  });

  it("chooses Neo4j when backends.neo4jUri is set (and fails with UNAVAILABLE when it is down)", async () => {
    const uri = await closedBoltUri();
    await expect(openGraphStore(loadConfig({ env: { NEO4J_URI: uri, NEO4J_PASSWORD: "x" } }))).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
  });
});
