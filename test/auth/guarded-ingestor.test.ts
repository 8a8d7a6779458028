import { describe, expect, it } from "vitest";
import { guardIngestor } from "../../src/auth/guarded-ingestor";
import { OPEN_DEVELOPMENT, USER_SCOPES } from "../../src/auth/principal";
import type { EventIngestor } from "../../src/events/ingestor";

function recording(): EventIngestor & { seen: unknown[][] } {
  const seen: unknown[][] = [];
  return {
    seen,
    ingest: async (events) => {
      seen.push([...events]);
      return events.map((e, index) => ({ index, id: (e as { id: string }).id, status: "ACCEPTED" as const }));
    },
  };
}

describe("the ingestor a user token gets", () => {
  it("rejects another user's events with FORBIDDEN, writes only the token's own, one result per event in order", async () => {
    const inner = recording();
    const guarded = guardIngestor(inner, { kind: "user", userId: "u1", scopes: USER_SCOPES });
    const results = await guarded.ingest([
      { id: "a", userId: "u1" },
      { id: "b", userId: "u2" },
      { id: "c", userId: "u1" },
      { id: "d" },
    ]);
    expect(inner.seen).toEqual([[{ id: "a", userId: "u1" }, { id: "c", userId: "u1" }, { id: "d" }]]);
    expect(results).toEqual([
      { index: 0, id: "a", status: "ACCEPTED" },
      { index: 1, id: "b", status: "REJECTED", code: "FORBIDDEN", field: "userId", message: "a user token may only record its own user's events" },
      { index: 2, id: "c", status: "ACCEPTED" },
      { index: 3, id: "d", status: "ACCEPTED" },
    ]);
  });

  it("writes nothing when every event is someone else's", async () => {
    const inner = recording();
    const results = await guardIngestor(inner, { kind: "user", userId: "u1", scopes: USER_SCOPES }).ingest([{ id: "x", userId: "u9" }]);
    expect(inner.seen).toEqual([]);
    expect(results[0]).toMatchObject({ status: "REJECTED", code: "FORBIDDEN" });
  });

  it("keys and open servers get the ingestor unchanged", () => {
    const inner = recording();
    expect(guardIngestor(inner, OPEN_DEVELOPMENT)).toBe(inner);
    expect(guardIngestor(inner, { kind: "key", keyId: "k", scopes: new Set(["events:write"]) })).toBe(inner);
  });
});
