import neo4j, { type Driver, type QueryResult, type RecordShape } from "neo4j-driver";
import { ReelfeedError } from "../errors";
import type { GraphStore, SocialHit } from "./graph-store";
import { checkGraphArgs, resolveScoring, type EngagementScoring } from "./graph-store-embedded";

/**
 * Options for the Neo4j social graph. Model: (:User {id})-[:FOLLOWS {ts}]->(:User) and
 * (:User)-[:ENGAGED {kind, ts, count}]->(:Video {id}), one ENGAGED per (user, video, kind) holding the latest ts,
 * so the graph grows with distinct engagements, not with events. Scoring matches the embedded store.
 */
export interface Neo4jGraphStoreOptions extends EngagementScoring {
  /** bolt://, neo4j://, neo4j+s:// ... */
  uri: string;
  /** @default "neo4j" */
  user?: string;
  /** @default "" */
  password?: string;
  /** Database name; the server's default database when unset. @default undefined */
  database?: string;
  /** How long a transaction retries transient failures before the call fails UNAVAILABLE, ms. @default 5000 */
  maxRetryTimeMs?: number;
  /** Connection (TCP + handshake) timeout, ms. @default 5000 */
  connectionTimeoutMs?: number;
}

/** Run at start-up; IF NOT EXISTS makes them idempotent, so every process may run them. */
export const NEO4J_SCHEMA: readonly string[] = [
  "CREATE CONSTRAINT reelfeed_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
  "CREATE CONSTRAINT reelfeed_video_id IF NOT EXISTS FOR (v:Video) REQUIRE v.id IS UNIQUE",
  "CREATE INDEX reelfeed_engaged_ts IF NOT EXISTS FOR ()-[e:ENGAGED]-() ON (e.ts)",
];

export const CYPHER = {
  // Following again keeps the original ts (ON CREATE), as the embedded store does.
  follow: `
    MERGE (a:User {id: $followerId})
    MERGE (b:User {id: $followeeId})
    MERGE (a)-[r:FOLLOWS]->(b)
    ON CREATE SET r.ts = $ts`,
  unfollow: `
    MATCH (:User {id: $followerId})-[r:FOLLOWS]->(:User {id: $followeeId})
    DELETE r`,
  following: `
    MATCH (:User {id: $userId})-[r:FOLLOWS]->(f:User)
    RETURN f.id AS id
    ORDER BY r.ts DESC, id ASC`,
  recordEngagement: `
    MERGE (u:User {id: $userId})
    MERGE (v:Video {id: $videoId})
    MERGE (u)-[e:ENGAGED {kind: $kind}]->(v)
    ON CREATE SET e.ts = $ts, e.count = 1
    ON MATCH SET e.ts = CASE WHEN $ts > e.ts THEN $ts ELSE e.ts END, e.count = e.count + 1`,
  // score = Σ weight(kind) · 2^(-age/halfLife); per followee first (to order userIds by their latest engagement),
  // then per video. collect() keeps the incoming row order, which the ORDER BY before it fixes.
  followeesEngaged: `
    MATCH (:User {id: $userId})-[:FOLLOWS]->(f:User)-[e:ENGAGED]->(v:Video)
    WHERE e.ts >= $since
    WITH v, f,
         sum(coalesce($weights[e.kind], 0.0)
             * exp(-$ln2 * toFloat(CASE WHEN e.ts < $now THEN $now - e.ts ELSE 0 END) / $halfLifeMs)) AS s,
         max(e.ts) AS lastTs
    ORDER BY lastTs DESC, f.id ASC
    WITH v, sum(s) AS score, collect(f.id) AS userIds
    RETURN v.id AS videoId, score, userIds
    ORDER BY score DESC, videoId ASC
    LIMIT $limit`,
} as const;

export async function createNeo4jGraphStore(options: Neo4jGraphStoreOptions): Promise<GraphStore> {
  const { uri, user = "neo4j", password = "", database, maxRetryTimeMs = 5000, connectionTimeoutMs = 5000 } = options;
  const { weights, halfLifeMs } = resolveScoring(options);

  const fail = (op: string, err: unknown): ReelfeedError => {
    if (err instanceof ReelfeedError) return err;
    const code = (err as { code?: string })?.code ?? "";
    const message = (err as Error)?.message ?? String(err);
    if (code === "Neo.ClientError.Security.Unauthorized" || code === "Neo.ClientError.Security.AuthenticationRateLimit") {
      return new ReelfeedError("BAD_CONFIG", `neo4j ${uri}: authentication failed for user "${user}" (${code})`, { uri, key: "backends.neo4jUser" });
    }
    return new ReelfeedError("UNAVAILABLE", `neo4j ${uri}: ${op} failed: ${message}`, { uri, op, neo4jCode: code });
  };

  let driver: Driver;
  try {
    driver = neo4j.driver(uri, neo4j.auth.basic(user, password), {
      // Epoch-ms timestamps and counts fit in a double: get plain numbers back instead of neo4j Integers.
      disableLosslessIntegers: true,
      maxTransactionRetryTime: maxRetryTimeMs,
      connectionTimeout: connectionTimeoutMs,
      userAgent: "reelfeed",
    });
  } catch (err) {
    throw new ReelfeedError("BAD_CONFIG", `backends.neo4jUri: cannot use "${uri}": ${(err as Error).message}`, { key: "backends.neo4jUri" });
  }

  const write = async (op: string, cypher: string, params: Record<string, unknown>): Promise<void> => {
    const session = driver.session({ database, defaultAccessMode: neo4j.session.WRITE });
    try {
      await session.executeWrite((tx) => tx.run(cypher, params));
    } catch (err) {
      throw fail(op, err);
    } finally {
      await session.close();
    }
  };

  const read = async (op: string, cypher: string, params: Record<string, unknown>): Promise<QueryResult<RecordShape>> => {
    const session = driver.session({ database, defaultAccessMode: neo4j.session.READ });
    try {
      return await session.executeRead((tx) => tx.run(cypher, params));
    } catch (err) {
      throw fail(op, err);
    } finally {
      await session.close();
    }
  };

  // Fail at start-up, with the URI, rather than on the first request.
  try {
    await driver.verifyConnectivity({ database });
    for (const statement of NEO4J_SCHEMA) {
      // Schema changes may not share a transaction with data writes: run each on its own (auto-commit).
      const session = driver.session({ database, defaultAccessMode: neo4j.session.WRITE });
      try {
        await session.run(statement);
      } finally {
        await session.close();
      }
    }
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw fail("start-up", err);
  }

  let closed = false;
  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", `neo4j ${uri}: graph store is closed`, { uri });
  };
  // Integers are sent as neo4j Integers so stored ts and LIMIT are INTEGER, not FLOAT.
  const int = (n: number) => neo4j.int(Math.trunc(n));

  return {
    kind: "neo4j",

    async follow(followerId, followeeId, ts) {
      assertOpen();
      checkGraphArgs.follow(followerId, followeeId);
      checkGraphArgs.ts("ts", ts);
      await write("follow", CYPHER.follow, { followerId, followeeId, ts: int(ts) });
    },

    async unfollow(followerId, followeeId) {
      assertOpen();
      checkGraphArgs.id("followerId", followerId);
      checkGraphArgs.id("followeeId", followeeId);
      await write("unfollow", CYPHER.unfollow, { followerId, followeeId });
    },

    async following(userId) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      const result = await read("following", CYPHER.following, { userId });
      return result.records.map((r) => r.get("id") as string);
    },

    async recordEngagement(userId, videoId, kind, ts) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.id("videoId", videoId);
      checkGraphArgs.kind(kind);
      checkGraphArgs.ts("ts", ts);
      await write("recordEngagement", CYPHER.recordEngagement, { userId, videoId, kind, ts: int(ts) });
    },

    async followeesEngaged(userId, query) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.query(query);
      const { since, now, limit, signal } = query;
      signal?.throwIfAborted();
      if (limit === 0) return [];
      const result = await read("followeesEngaged", CYPHER.followeesEngaged, {
        userId,
        since: int(Math.ceil(since)),
        now: int(now),
        limit: int(limit),
        weights,
        halfLifeMs,
        ln2: Math.LN2,
      });
      signal?.throwIfAborted();
      return result.records.map(
        (r): SocialHit => ({
          videoId: r.get("videoId") as string,
          score: Number(r.get("score")),
          userIds: r.get("userIds") as string[],
        }),
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      await driver.close();
    },
  };
}
