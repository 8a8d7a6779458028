import neo4j, { type Driver, type QueryResult, type RecordShape } from "neo4j-driver";
import { ReelfeedError } from "../errors";
import { DAY_MS } from "../features/aggregates";
import type { EngagementKind, GraphStore, SocialHit } from "./graph-store";
import { checkGraphArgs, resolveScoring, type EngagementScoring } from "./graph-store-embedded";

/**
 * Options for the Neo4j social graph. Model: (:User {id})-[:FOLLOWS {ts}]->(:User) and
 * (:User)-[:ENGAGED {kind, ts, count}]->(:Video {id}), one ENGAGED per (user, video, kind) holding the latest ts,
 * so the graph grows with distinct engagements, not with events. Scoring matches the embedded store.
 *
 * Production behaviour (targets Neo4j 5.x, Community or Enterprise; docs/stores.md):
 * - Writes are batched: `applyWrites` sends rows with UNWIND, up to `writeBatchRows` (5,000) per transaction.
 * - Writes are idempotent: following again keeps the first ts; an engagement moves the edge's ts forward and counts
 *   only when it is newer than the edge's, so a retried batch, a replay after a crash or a second consumer writing
 *   the same event changes nothing. (`count` is informational: scoring uses ts and kind only.)
 * - The start-up bootstrap of a bundle's history is recorded in a marker node (:ReelfeedMeta {key: "bootstrap",
 *   dataId}), so a restart does not replay it (`bootstrapped` / `markBootstrapped`).
 * - ENGAGED edges older than `engagementRetentionMs` are pruned, in bounded batches, once an hour by an instance
 *   that writes (consumers only): followeesEngaged stays proportional to recent activity, not to all history.
 * - Every transaction has a timeout (`writeTimeoutMs`, `readTimeoutMs`) enforced by the server.
 * - The database and the labels are configurable (`database`, `labelPrefix`): several deployments share a server.
 * - Errors follow backend-errors.ts: transient ones (cluster changes, timeouts, connection loss) are UNAVAILABLE;
 *   a refused login, a missing privilege, a missing database or a schema conflict fail start-up as BAD_CONFIG
 *   naming the cause; other client errors are permanent INTERNAL.
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
  /**
   * Prepended to every label and relationship type (`Rf` → :RfUser, :RfVideo, :RfReelfeedMeta, :RF_FOLLOWS,
   * :RF_ENGAGED), so deployments can share a database. Letters, digits and "_", starting with a letter. @default ""
   */
  labelPrefix?: string;
  /** How long a transaction retries transient failures before the call fails UNAVAILABLE, ms. @default 5000 */
  maxRetryTimeMs?: number;
  /** Connection (TCP + handshake) timeout, ms. @default 5000 */
  connectionTimeoutMs?: number;
  /** Server-side timeout of a write transaction, ms. @default 30000 */
  writeTimeoutMs?: number;
  /** Server-side timeout of a read transaction (the social source's query), ms. @default 2000 */
  readTimeoutMs?: number;
  /** Rows per UNWIND write transaction. @default 5000 */
  writeBatchRows?: number;
  /** ENGAGED edges older than this are pruned, ms (keep it above the social source's window, 14 days). @default 30 days */
  engagementRetentionMs?: number;
  /** How often a writing instance prunes, ms; 0: never. @default 3_600_000 */
  pruneEveryMs?: number;
}

/** One graph write: what an event implies (graph-sync.ts). */
export type GraphWrite =
  | { type: "follow"; followerId: string; followeeId: string; ts: number }
  | { type: "engage"; userId: string; videoId: string; kind: EngagementKind; ts: number };

/** A graph that takes writes in batches and remembers its bootstrap: Neo4j. */
export interface BatchedGraphStore extends GraphStore {
  /** Applies the writes (idempotent; see the file comment), in transactions of up to writeBatchRows rows. */
  applyWrites(writes: readonly GraphWrite[]): Promise<void>;
  /** True when the history identified by `dataId` was fully loaded before. */
  bootstrapped(dataId: string): Promise<boolean>;
  markBootstrapped(dataId: string): Promise<void>;
  /** Deletes ENGAGED edges with ts before `before`, in batches; returns how many. */
  pruneEngagements(before: number): Promise<number>;
}

export function isBatchedGraphStore(graph: GraphStore): graph is BatchedGraphStore {
  return typeof (graph as Partial<BatchedGraphStore>).applyWrites === "function";
}

/** Labels and relationship types with the prefix applied. */
export interface Neo4jLabels {
  user: string;
  video: string;
  meta: string;
  follows: string;
  engaged: string;
}

export function neo4jLabels(labelPrefix = ""): Neo4jLabels {
  if (labelPrefix !== "" && !/^[A-Za-z][A-Za-z0-9_]*$/.test(labelPrefix)) {
    throw new ReelfeedError("BAD_CONFIG", `neo4j labelPrefix: "${labelPrefix}" must start with a letter and hold only letters, digits and "_"`, {
      key: "backends.neo4jLabelPrefix",
      retryable: false,
    });
  }
  const rel = labelPrefix === "" ? "" : `${labelPrefix.toUpperCase()}_`;
  return { user: `${labelPrefix}User`, video: `${labelPrefix}Video`, meta: `${labelPrefix}ReelfeedMeta`, follows: `${rel}FOLLOWS`, engaged: `${rel}ENGAGED` };
}

/** Run at start-up; IF NOT EXISTS makes them idempotent, so every process may run them. Names carry the labels. */
export function neo4jSchema(l: Neo4jLabels = neo4jLabels()): string[] {
  const n = (s: string) => s.toLowerCase();
  return [
    `CREATE CONSTRAINT reelfeed_${n(l.user)}_id IF NOT EXISTS FOR (u:${l.user}) REQUIRE u.id IS UNIQUE`,
    `CREATE CONSTRAINT reelfeed_${n(l.video)}_id IF NOT EXISTS FOR (v:${l.video}) REQUIRE v.id IS UNIQUE`,
    `CREATE INDEX reelfeed_${n(l.engaged)}_ts IF NOT EXISTS FOR ()-[e:${l.engaged}]-() ON (e.ts)`,
    `CREATE INDEX reelfeed_${n(l.meta)}_key IF NOT EXISTS FOR (m:${l.meta}) ON (m.key, m.dataId)`,
  ];
}

/** The default schema (no prefix). */
export const NEO4J_SCHEMA: readonly string[] = neo4jSchema();

/** Every statement the store runs, for the labels in use. */
export function neo4jCypher(l: Neo4jLabels = neo4jLabels()) {
  return {
    // Following again keeps the original ts (ON CREATE), as the embedded store does.
    follow: `
    MERGE (a:${l.user} {id: $followerId})
    MERGE (b:${l.user} {id: $followeeId})
    MERGE (a)-[r:${l.follows}]->(b)
    ON CREATE SET r.ts = $ts`,
    followBatch: `
    UNWIND $rows AS row
    MERGE (a:${l.user} {id: row.followerId})
    MERGE (b:${l.user} {id: row.followeeId})
    MERGE (a)-[r:${l.follows}]->(b)
    ON CREATE SET r.ts = row.ts`,
    unfollow: `
    MATCH (:${l.user} {id: $followerId})-[r:${l.follows}]->(:${l.user} {id: $followeeId})
    DELETE r`,
    following: `
    MATCH (:${l.user} {id: $userId})-[r:${l.follows}]->(f:${l.user})
    RETURN f.id AS id
    ORDER BY r.ts DESC, id ASC`,
    // Idempotent: a new edge counts 1; an existing one moves forward and counts only for a newer ts, so the same
    // event written twice (a retry, a replay, two consumers) leaves it unchanged.
    recordEngagement: `
    UNWIND $rows AS row
    MERGE (u:${l.user} {id: row.userId})
    MERGE (v:${l.video} {id: row.videoId})
    MERGE (u)-[e:${l.engaged} {kind: row.kind}]->(v)
    ON CREATE SET e.ts = row.ts - 1, e.count = 0
    WITH e, row WHERE row.ts > e.ts
    SET e.count = e.count + 1, e.ts = row.ts`,
    // score = Σ weight(kind) · 2^(-age/halfLife); per followee first (to order userIds by their latest engagement),
    // then per video. collect() keeps the incoming row order, which the ORDER BY before it fixes.
    followeesEngaged: `
    MATCH (:${l.user} {id: $userId})-[:${l.follows}]->(f:${l.user})-[e:${l.engaged}]->(v:${l.video})
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
    bootstrapped: `
    MATCH (m:${l.meta} {key: "bootstrap", dataId: $dataId})
    RETURN m.done AS done`,
    markBootstrapped: `
    MERGE (m:${l.meta} {key: "bootstrap", dataId: $dataId})
    SET m.done = true, m.at = $at`,
    // Bounded per transaction: a first prune after months must not build one huge transaction.
    prune: `
    MATCH ()-[e:${l.engaged}]->()
    WHERE e.ts < $before
    WITH e LIMIT $limit
    DELETE e
    RETURN count(*) AS n`,
  };
}

/** The default statements (no prefix). */
export const CYPHER = neo4jCypher();

/** Codes that mean the deployment is misconfigured: fail start-up naming them, never retry. */
const CONFIG_CODES: ReadonlyArray<[RegExp, string]> = [
  [/^Neo\.ClientError\.Security\.(Unauthorized|AuthenticationRateLimit|CredentialsExpired)$/, "authentication failed: check backends.neo4jUser / NEO4J_PASSWORD"],
  [/^Neo\.ClientError\.Security\.(Forbidden|AuthorizationExpired|PermissionDenied)/, "the user lacks a privilege reelfeed needs (write, create index/constraint): grant it or use another user"],
  [/^Neo\.ClientError\.Database\.DatabaseNotFound$/, "the database does not exist: create it or fix backends.neo4jDatabase"],
  [/^Neo\.ClientError\.Schema\./, "a schema rule conflicts with reelfeed's (an existing index or constraint under the same name or on the same label, or data that violates uniqueness): set backends.neo4jLabelPrefix or clean the database"],
];

/**
 * Maps a neo4j-driver error onto the error model (backend-errors.ts). Transient errors (Neo.TransientError.*,
 * ServiceUnavailable, SessionExpired, a transaction timeout) are retryable; configuration problems BAD_CONFIG
 * with the cause named; the rest permanent INTERNAL.
 */
export function neo4jError(uri: string, op: string, err: unknown): ReelfeedError {
  if (err instanceof ReelfeedError) return err;
  const code = (err as { code?: string })?.code ?? "";
  const message = ((err as Error)?.message ?? String(err)).split("\n")[0];
  const where = `neo4j ${uri}: ${op}`;
  for (const [pattern, why] of CONFIG_CODES) {
    if (pattern.test(code)) return new ReelfeedError("BAD_CONFIG", `${where}: ${why} (${code}: ${message})`, { uri, op, neo4jCode: code, retryable: false, key: "backends.neo4jUri" });
  }
  const transient =
    code.startsWith("Neo.TransientError.") ||
    code === "ServiceUnavailable" ||
    code === "SessionExpired" ||
    code === "Neo.ClientError.Cluster.NotALeader" ||
    code === "Neo.ClientError.Transaction.TransactionTimedOut" ||
    code === "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration" ||
    code === "" ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND/.test(message);
  if (transient) return new ReelfeedError("UNAVAILABLE", `${where} failed: ${message}`, { uri, op, neo4jCode: code, retryable: true });
  return new ReelfeedError("INTERNAL", `${where} refused: ${code}: ${message}`, { uri, op, neo4jCode: code, retryable: false });
}

/** Writes grouped by statement, deduplicated, in ts order (so the newest engagement of a batch wins its count). */
export function groupWrites(writes: readonly GraphWrite[]): { follows: Array<Extract<GraphWrite, { type: "follow" }>>; engagements: Array<Extract<GraphWrite, { type: "engage" }>> } {
  const follows = new Map<string, Extract<GraphWrite, { type: "follow" }>>();
  const engagements = new Map<string, Extract<GraphWrite, { type: "engage" }>>();
  for (const w of writes) {
    if (w.type === "follow") {
      const key = `${w.followerId}\u0000${w.followeeId}`;
      const had = follows.get(key);
      // The earliest follow wins, as ON CREATE keeps it.
      if (!had || w.ts < had.ts) follows.set(key, w);
    } else {
      engagements.set(`${w.userId}\u0000${w.videoId}\u0000${w.kind}\u0000${w.ts}`, w);
    }
  }
  return { follows: [...follows.values()], engagements: [...engagements.values()].sort((a, b) => a.ts - b.ts) };
}

export async function createNeo4jGraphStore(options: Neo4jGraphStoreOptions): Promise<BatchedGraphStore> {
  const {
    uri,
    user = "neo4j",
    password = "",
    database,
    labelPrefix = "",
    maxRetryTimeMs = 5000,
    connectionTimeoutMs = 5000,
    writeTimeoutMs = 30_000,
    readTimeoutMs = 2000,
    writeBatchRows = 5000,
    engagementRetentionMs = 30 * DAY_MS,
    pruneEveryMs = 3_600_000,
  } = options;
  const { weights, halfLifeMs } = resolveScoring(options);
  const labels = neo4jLabels(labelPrefix);
  const cypher = neo4jCypher(labels);
  const fail = (op: string, err: unknown): ReelfeedError => neo4jError(uri, op, err);

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
    throw new ReelfeedError("BAD_CONFIG", `backends.neo4jUri: cannot use "${uri}": ${(err as Error).message}`, { key: "backends.neo4jUri", retryable: false });
  }

  const write = async (op: string, statement: string, params: Record<string, unknown>): Promise<QueryResult<RecordShape>> => {
    const session = driver.session({ database, defaultAccessMode: neo4j.session.WRITE });
    try {
      return await session.executeWrite((tx) => tx.run(statement, params), { timeout: writeTimeoutMs, metadata: { app: "reelfeed", op } });
    } catch (err) {
      throw fail(op, err);
    } finally {
      await session.close();
    }
  };

  const read = async (op: string, statement: string, params: Record<string, unknown>): Promise<QueryResult<RecordShape>> => {
    const session = driver.session({ database, defaultAccessMode: neo4j.session.READ });
    try {
      return await session.executeRead((tx) => tx.run(statement, params), { timeout: readTimeoutMs, metadata: { app: "reelfeed", op } });
    } catch (err) {
      throw fail(op, err);
    } finally {
      await session.close();
    }
  };

  // Fail at start-up, with the URI and the cause, rather than on the first request.
  try {
    await driver.verifyConnectivity({ database });
    for (const statement of neo4jSchema(labels)) {
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

  // Pruning runs only in an instance that writes (the consumers), once per pruneEveryMs.
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning = false;
  const schedulePrune = (): void => {
    if (pruneTimer || pruneEveryMs <= 0 || closed) return;
    pruneTimer = setInterval(() => {
      if (pruning) return;
      pruning = true;
      store
        .pruneEngagements(Date.now() - engagementRetentionMs)
        .catch(() => undefined)
        .finally(() => (pruning = false));
    }, pruneEveryMs);
    pruneTimer.unref();
  };

  async function applyWrites(writes: readonly GraphWrite[]): Promise<void> {
    assertOpen();
    const { follows, engagements } = groupWrites(writes);
    for (let i = 0; i < follows.length; i += writeBatchRows) {
      const rows = follows.slice(i, i + writeBatchRows).map((w) => ({ followerId: w.followerId, followeeId: w.followeeId, ts: int(w.ts) }));
      await write("follow batch", cypher.followBatch, { rows });
    }
    for (let i = 0; i < engagements.length; i += writeBatchRows) {
      const rows = engagements.slice(i, i + writeBatchRows).map((w) => ({ userId: w.userId, videoId: w.videoId, kind: w.kind, ts: int(w.ts) }));
      await write("engagement batch", cypher.recordEngagement, { rows });
    }
    if (writes.length > 0) schedulePrune();
  }

  const store: BatchedGraphStore = {
    kind: "neo4j",

    async follow(followerId, followeeId, ts) {
      assertOpen();
      checkGraphArgs.follow(followerId, followeeId);
      checkGraphArgs.ts("ts", ts);
      await write("follow", cypher.follow, { followerId, followeeId, ts: int(ts) });
    },

    async unfollow(followerId, followeeId) {
      assertOpen();
      checkGraphArgs.id("followerId", followerId);
      checkGraphArgs.id("followeeId", followeeId);
      await write("unfollow", cypher.unfollow, { followerId, followeeId });
    },

    async following(userId) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      const result = await read("following", cypher.following, { userId });
      return result.records.map((r) => r.get("id") as string);
    },

    async recordEngagement(userId, videoId, kind, ts) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.id("videoId", videoId);
      checkGraphArgs.kind(kind);
      checkGraphArgs.ts("ts", ts);
      await write("recordEngagement", cypher.recordEngagement, { rows: [{ userId, videoId, kind, ts: int(ts) }] });
    },

    applyWrites,

    async bootstrapped(dataId) {
      assertOpen();
      const result = await read("bootstrapped", cypher.bootstrapped, { dataId });
      return result.records.some((r) => r.get("done") === true);
    },

    async markBootstrapped(dataId) {
      assertOpen();
      await write("markBootstrapped", cypher.markBootstrapped, { dataId, at: int(Date.now()) });
    },

    async pruneEngagements(before) {
      assertOpen();
      let total = 0;
      for (;;) {
        const result = await write("prune", cypher.prune, { before: int(before), limit: int(10_000) });
        const n = Number(result.records[0]?.get("n") ?? 0);
        total += n;
        if (n < 10_000) return total;
      }
    },

    async followeesEngaged(userId, query) {
      assertOpen();
      checkGraphArgs.id("userId", userId);
      checkGraphArgs.query(query);
      const { since, now, limit, signal } = query;
      signal?.throwIfAborted();
      if (limit === 0) return [];
      const result = await read("followeesEngaged", cypher.followeesEngaged, {
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
      clearInterval(pruneTimer);
      await driver.close();
    },
  };
  return store;
}
