import "reflect-metadata";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { GraphQLSchema } from "graphql";
import { Query, Resolver, buildSchema } from "type-graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "../../src/data/types";
import { createIngestor } from "../../src/events/ingest";
import type { EventIngestor } from "../../src/events/ingestor";
import { EventsResolver } from "../../src/schema/events-resolver";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { allSampleEvents, sampleEvent } from "./sample-events";

// Execute with the graphql instance type-graphql built the schema with (see src/schema/event-types.ts).
const { graphql } = createRequire(import.meta.url)("graphql") as typeof import("graphql");

@Resolver()
class PingResolver {
  @Query(() => String)
  ping(): string {
    return "pong";
  }
}

const MUTATION = `mutation($events: [EventInput!]!) {
  recordEvents(events: $events) { accepted duplicates rejected results { index id status code field message } }
}`;

let dir: string;
let log: FileEventLog;
let schema: GraphQLSchema;
let ingestor: EventIngestor;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-gql-"));
  log = await createFileEventLog({ dir });
  ingestor = createIngestor({ log, maxBatch: 50 });
  schema = await buildSchema({ resolvers: [EventsResolver, PingResolver], validate: false });
});
afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const run = (events: unknown[], ctx: { ingestor: EventIngestor } = { ingestor }) =>
  graphql({ schema, source: MUTATION, variableValues: { events }, contextValue: ctx });

describe("recordEvents mutation", () => {
  it("records every event type; ts as epoch ms or ISO string", async () => {
    const events = allSampleEvents(7).map((e, i) => {
      const { served, ...rest } = e; // impressions' served info is logged server-side, not through GraphQL
      void served;
      return i % 2 ? { ...rest, ts: new Date(rest.ts as number).toISOString() } : rest;
    });
    const res = await run(events);
    expect(res.errors).toBeUndefined();
    expect(res.data?.recordEvents).toMatchObject({ accepted: EVENT_TYPES.length, duplicates: 0, rejected: 0 });
    const stored = (await log.read(undefined, 100)).map((r) => r.event);
    expect(stored.map((e) => e.type)).toEqual([...EVENT_TYPES]);
    expect(stored.every((e) => typeof e.ts === "number")).toBe(true);
  });

  it("reports per-event rejections and duplicates without failing the batch", async () => {
    const ok = sampleEvent("like", 1);
    const bad = { ...sampleEvent("progress", 2), percent: 33 };
    const res = await run([ok, bad, ok]);
    expect(res.errors).toBeUndefined();
    expect(res.data?.recordEvents).toMatchObject({
      accepted: 1,
      duplicates: 1,
      rejected: 1,
      results: [
        { index: 0, status: "ACCEPTED" },
        { index: 1, status: "REJECTED", code: "INVALID_FIELD", field: "percent" },
        { index: 2, status: "DUPLICATE" },
      ],
    });
  });

  it("maps a too-large batch to a GraphQL error with extensions.code", async () => {
    const res = await run(Array.from({ length: 51 }, (_, i) => sampleEvent("like", i)));
    expect(res.errors?.[0].extensions?.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("answers an unknown event type in that event's result, not by failing the batch", async () => {
    const ok = sampleEvent("like", 3);
    const res = await run([{ ...sampleEvent("like", 1), type: "hug" }, ok]);
    expect(res.errors).toBeUndefined();
    expect(res.data?.recordEvents).toMatchObject({
      accepted: 1,
      rejected: 1,
      results: [
        { index: 0, status: "REJECTED", code: "UNKNOWN_TYPE", field: "type", message: expect.stringMatching(/^events\[0\]\.type: /) },
        { index: 1, status: "ACCEPTED", id: ok.id },
      ],
    });
  });
});
