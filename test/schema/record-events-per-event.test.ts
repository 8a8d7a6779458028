import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { createIngestor } from "../../src/events/ingest";
import { startServer, type RunningServer } from "../../src/server";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createTestkit } from "../../src/testkit";

/**
 * Issue 10, defect 5, over the real server and HTTP: one event with an unknown type or a wrong value used to fail
 * variable coercion and with it the whole batch (400, naming no argument), although recordEvents promises that a bad
 * event never rejects the others. Now each comes back as its own REJECTED result, coded and naming `events[i].field`.
 */
let dir: string;
let log: FileEventLog;
let server: RunningServer;

beforeAll(async () => {
  const kit = createTestkit();
  dir = await mkdtemp(join(tmpdir(), "rf-record-events-"));
  log = await createFileEventLog({ dir });
  const ingestor = createIngestor({ log, maxBatch: 100 });
  server = await startServer({
    services: { feed: kit.service, catalog: kit.catalog, ingestor },
    config: configSchema.parse({}),
    port: 0,
    host: "127.0.0.1",
    log: () => {},
  });
});
afterAll(async () => {
  await server?.stop();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

type Result = { index: number; id: string | null; status: string; code: string | null; field: string | null; message: string | null };
type Body = { data?: { recordEvents: { accepted: number; duplicates: number; rejected: number; results: Result[] } } | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

async function gql(query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: Body }> {
  const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as Body };
}

const MUTATION = `mutation($events: [EventInput!]!) {
  recordEvents(events: $events) { accepted duplicates rejected results { index id status code field message } }
}`;
const ts = () => Date.now();

describe("recordEvents: a bad event is its own result, never the batch's failure", () => {
  it("rejects an unknown type and wrong scalars per event (variables) and stores the others", async () => {
    const p = `pe-${ts()}`;
    const events = [
      { id: `${p}-0`, type: "like", userId: "u1", videoId: "v1", ts: ts() },
      { id: `${p}-1`, type: "hug", userId: "u1", videoId: "v1", ts: ts() },
      { id: `${p}-2`, type: "watch", userId: "u1", videoId: "v1", ts: ts(), watchedSec: "ten", videoDurationSec: 60 },
      { type: "like", userId: "u1", videoId: "v1", ts: ts() },
      { id: `${p}-4`, type: "like", userId: 42, videoId: "v1", ts: ts() },
      { id: `${p}-5`, type: "dwell", userId: "u1", videoId: "v1", ts: ts(), dwellMs: 100, scrolledPast: "yes" },
      { id: `${p}-6`, type: "search", userId: "u1", ts: ts(), query: "cats", clickedVideoIds: ["v1", 7] },
      { id: `${p}-7`, type: "like", userId: "u1", videoId: "v1", ts: true },
      { id: `${p}-8`, type: "progress", userId: "u1", videoId: "v1", ts: ts(), percent: 50 },
    ];
    const { status, body } = await gql(MUTATION, { events });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const out = body.data!.recordEvents;
    expect(out).toMatchObject({ accepted: 2, duplicates: 0, rejected: 7 });
    const rejected = (index: number, code: string, field: string) => ({
      index,
      status: "REJECTED",
      code,
      field,
      message: expect.stringMatching(new RegExp(`^events\\[${index}\\]\\.${field}: `)),
    });
    expect(out.results).toMatchObject([
      { index: 0, status: "ACCEPTED", id: `${p}-0` },
      rejected(1, "UNKNOWN_TYPE", "type"),
      rejected(2, "INVALID_FIELD", "watchedSec"),
      rejected(3, "MISSING_FIELD", "id"),
      rejected(4, "INVALID_FIELD", "userId"),
      rejected(5, "INVALID_FIELD", "scrolledPast"),
      rejected(6, "INVALID_FIELD", "clickedVideoIds"),
      rejected(7, "INVALID_FIELD", "ts"),
      { index: 8, status: "ACCEPTED", id: `${p}-8` },
    ]);
    expect(out.results[1].message).toContain('"hug"');
    const stored = (await log.read(undefined, 1000)).map((r) => r.event.id).filter((id) => id.startsWith(p));
    expect(stored).toEqual([`${p}-0`, `${p}-8`]);
  });

  it("takes inline literals as before (enum-style `type: like`), and judges a bad literal per event too", async () => {
    const p = `pl-${ts()}`;
    const { status, body } = await gql(`mutation { recordEvents(events: [
      { id: "${p}-0", type: like, userId: "u1", videoId: "v1", ts: ${ts()} },
      { id: "${p}-1", type: hug, userId: "u1", videoId: "v1", ts: ${ts()} },
      { id: "${p}-2", type: "watch", userId: "u1", videoId: "v1", ts: "${new Date().toISOString()}", watchedSec: 12.5, videoDurationSec: 60 },
      { id: "${p}-3", type: progress, userId: "u1", videoId: "v1", ts: ${ts()}, percent: "half" }
    ]) { accepted rejected results { index status code field message } } }`);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data!.recordEvents).toMatchObject({
      accepted: 2,
      rejected: 2,
      results: [
        { index: 0, status: "ACCEPTED" },
        { index: 1, status: "REJECTED", code: "UNKNOWN_TYPE", field: "type", message: expect.stringContaining("events[1].type:") },
        { index: 2, status: "ACCEPTED" },
        { index: 3, status: "REJECTED", code: "INVALID_FIELD", field: "percent", message: expect.stringContaining("events[3].percent:") },
      ],
    });
  });

  it("still refuses, naming the path, a field EventInput does not have (a typo must not be dropped silently)", async () => {
    const { status, body } = await gql(MUTATION, { events: [{ id: "x", type: "like", userId: "u1", videoId: "v1", ts: ts(), watchSec: 3 }] });
    expect(status).toBe(400);
    expect(body.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(body.errors?.[0].message).toMatch(/events\[0\].*watchSec/s);
    expect(JSON.stringify(body)).not.toMatch(/\bat \w+ \(|node_modules/);
  });
});
