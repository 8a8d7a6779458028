import { describe, expect, it } from "vitest";
import { applyToGraph, bootstrapGraph, graphWriteOf } from "../../src/app/graph-sync";
import type { ReelEvent } from "../../src/data/types";
import { ReelfeedError } from "../../src/errors";
import { isRetryable } from "../../src/stores/backend-errors";
import { createEmbeddedGraphStore } from "../../src/stores/graph-store-embedded";
import {
  CYPHER,
  groupWrites,
  neo4jCypher,
  neo4jError,
  neo4jLabels,
  neo4jSchema,
  type BatchedGraphStore,
  type GraphWrite,
} from "../../src/stores/graph-store-neo4j";

/** What can be tested of the Neo4j adapter without a server: statements, labels, error mapping, batching. */
describe("Neo4j statements and labels", () => {
  it("prefixes every label and relationship type, and names schema rules after them", () => {
    expect(neo4jLabels()).toEqual({ user: "User", video: "Video", meta: "ReelfeedMeta", follows: "FOLLOWS", engaged: "ENGAGED" });
    const l = neo4jLabels("Rf");
    expect(l).toEqual({ user: "RfUser", video: "RfVideo", meta: "RfReelfeedMeta", follows: "RF_FOLLOWS", engaged: "RF_ENGAGED" });
    const c = neo4jCypher(l);
    for (const statement of Object.values(c)) {
      expect(statement).not.toMatch(/:User\b|:Video\b|:FOLLOWS\b|:ENGAGED\b/);
    }
    expect(c.followeesEngaged).toContain("(:RfUser {id: $userId})-[:RF_FOLLOWS]->(f:RfUser)-[e:RF_ENGAGED]->(v:RfVideo)");
    const schema = neo4jSchema(l);
    expect(schema.join("\n")).toContain("reelfeed_rfuser_id");
    // Two prefixes never share a rule name (the cause of a schema conflict between deployments).
    expect(new Set([...schema, ...neo4jSchema()].map((s) => /(?:CONSTRAINT|INDEX) (\S+)/.exec(s)![1])).size).toBe(schema.length * 2);
  });

  it("refuses a label prefix that is not an identifier (BAD_CONFIG naming the key)", () => {
    for (const bad of ["1x", "a-b", "x`) DETACH DELETE (n"]) {
      expect(() => neo4jLabels(bad)).toThrow(ReelfeedError);
      try {
        neo4jLabels(bad);
      } catch (err) {
        expect((err as ReelfeedError).details.key).toBe("backends.neo4jLabelPrefix");
      }
    }
  });

  it("writes in batches with UNWIND, engagements idempotently (a repeat or an older event changes nothing)", () => {
    expect(CYPHER.followBatch).toMatch(/^\s*UNWIND \$rows AS row/);
    expect(CYPHER.recordEngagement).toMatch(/^\s*UNWIND \$rows AS row/);
    // Counted only when newer than the edge: the guard precedes the SET.
    expect(CYPHER.recordEngagement).toMatch(/WITH e, row WHERE row\.ts > e\.ts\s+SET e\.count = e\.count \+ 1, e\.ts = row\.ts/);
    expect(CYPHER.recordEngagement).not.toMatch(/ON MATCH SET/);
    expect(CYPHER.prune).toMatch(/WITH e LIMIT \$limit\s+DELETE e/);
    expect(CYPHER.markBootstrapped).toContain('MERGE (m:ReelfeedMeta {key: "bootstrap", dataId: $dataId})');
  });

  it("groups a batch's writes: duplicates dropped, engagements in ts order, the earliest follow kept", () => {
    const writes: GraphWrite[] = [
      { type: "engage", userId: "u", videoId: "v", kind: "like", ts: 30 },
      { type: "follow", followerId: "a", followeeId: "b", ts: 9 },
      { type: "engage", userId: "u", videoId: "v", kind: "like", ts: 10 },
      { type: "engage", userId: "u", videoId: "v", kind: "like", ts: 30 },
      { type: "follow", followerId: "a", followeeId: "b", ts: 5 },
    ];
    const { follows, engagements } = groupWrites(writes);
    expect(follows).toEqual([{ type: "follow", followerId: "a", followeeId: "b", ts: 5 }]);
    expect(engagements.map((e) => e.ts)).toEqual([10, 30]);
  });
});

describe("Neo4j error mapping", () => {
  const err = (code: string, message = "boom") => Object.assign(new Error(message), { code });
  it("names configuration causes as BAD_CONFIG and never retries them", () => {
    const cases: Array<[string, RegExp]> = [
      ["Neo.ClientError.Security.Unauthorized", /authentication failed/],
      ["Neo.ClientError.Security.Forbidden", /lacks a privilege/],
      ["Neo.ClientError.Database.DatabaseNotFound", /database does not exist/],
      ["Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists", /schema rule conflicts/],
      ["Neo.ClientError.Schema.ConstraintValidationFailed", /violates uniqueness/],
    ];
    for (const [code, text] of cases) {
      const e = neo4jError("bolt://db:7687", "start-up", err(code));
      expect(e.code, code).toBe("BAD_CONFIG");
      expect(e.message).toMatch(text);
      expect(e.message).toContain(code);
      expect(isRetryable(e)).toBe(false);
    }
  });

  it("retries transient failures and refuses other client errors permanently", () => {
    for (const code of ["Neo.TransientError.Transaction.DeadlockDetected", "ServiceUnavailable", "SessionExpired", "Neo.ClientError.Transaction.TransactionTimedOut"]) {
      const e = neo4jError("bolt://db", "write", err(code));
      expect(e.code, code).toBe("UNAVAILABLE");
      expect(isRetryable(e)).toBe(true);
    }
    const syntax = neo4jError("bolt://db", "write", err("Neo.ClientError.Statement.SyntaxError", "Invalid input"));
    expect(syntax).toMatchObject({ code: "INTERNAL", details: { retryable: false, neo4jCode: "Neo.ClientError.Statement.SyntaxError" } });
  });
});

/**
 * graph-sync over a batched store. Neo4j cannot run here, so this is a RECORDING STAND-IN for the batched interface
 * (the embedded graph underneath for reads, writes and the marker recorded): it tests graph-sync's choices — one
 * batch per call, the bootstrap skipped by its marker — not Neo4j. The live suite covers the server.
 */
function recordingBatchedStore(): BatchedGraphStore & { batches: GraphWrite[][]; markers: Set<string> } {
  const inner = createEmbeddedGraphStore();
  const batches: GraphWrite[][] = [];
  const markers = new Set<string>();
  return {
    ...inner,
    kind: "neo4j",
    batches,
    markers,
    async applyWrites(writes) {
      batches.push([...writes]);
    },
    async bootstrapped(dataId) {
      return markers.has(dataId);
    },
    async markBootstrapped(dataId) {
      markers.add(dataId);
    },
    async pruneEngagements() {
      return 0;
    },
  };
}

describe("graph-sync with a batched graph", () => {
  const events: ReelEvent[] = [
    { id: "1", type: "follow", userId: "a", followeeId: "b", ts: 1 },
    { id: "2", type: "watch", userId: "b", videoId: "v", ts: 2, watchedSec: 5, videoDurationSec: 10 },
    { id: "3", type: "impression", userId: "b", videoId: "v", ts: 3, position: 0, surface: "home" },
    { id: "4", type: "follow", userId: "a", followeeId: "a", ts: 4 },
  ];

  it("maps events to writes and sends a batch in one call", async () => {
    expect(events.map(graphWriteOf)).toEqual([
      { type: "follow", followerId: "a", followeeId: "b", ts: 1 },
      { type: "engage", userId: "b", videoId: "v", kind: "watch", ts: 2 },
      undefined,
      undefined,
    ]);
    const g = recordingBatchedStore();
    expect(await applyToGraph(g, events)).toBe(2);
    expect(g.batches).toHaveLength(1);
  });

  it("loads a history once: a restart finds the marker and skips it", async () => {
    const g = recordingBatchedStore();
    const follows = [{ followerId: "x", followeeId: "y", ts: 0 }];
    expect(await bootstrapGraph(g, { follows, events, dataId: "data-1" })).toBe(3);
    expect(g.markers.has("data-1")).toBe(true);
    const before = g.batches.length;
    expect(await bootstrapGraph(g, { follows, events, dataId: "data-1" })).toBe(0);
    expect(g.batches.length).toBe(before);
    // Other data is loaded.
    expect(await bootstrapGraph(g, { follows, events, dataId: "data-2" })).toBe(3);
  });
});
