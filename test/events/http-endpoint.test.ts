import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { createIngestor } from "../../src/events/ingest";
import { createEventsHttpHandler } from "../../src/events/http-endpoint";
import type { EventIngestor } from "../../src/events/ingestor";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { sampleEvent } from "./sample-events";

let dir: string;
let log: FileEventLog;
let server: Server;
let base: string;
let unavailable = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-http-"));
  log = await createFileEventLog({ dir });
  const real = createIngestor({ log, maxBatch: 5 });
  const ingestor: EventIngestor = {
    ingest: (raw) => (unavailable ? Promise.reject(new ReelfeedError("UNAVAILABLE", "log down", { retryable: true })) : real.ingest(raw)),
  };
  const handler = createEventsHttpHandler({ ingestor, maxBodyBytes: 4000, maxBatch: 5 });
  server = createServer((req, res) => (req.url === "/events" ? handler(req, res) : (res.statusCode = 404, res.end())));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

const post = (body: string, contentType = "application/x-ndjson") => fetch(base, { method: "POST", headers: { "content-type": contentType }, body });

describe("POST /events (ndjson)", () => {
  it("answers one result per line; a line that is not JSON is rejected alone", async () => {
    const a = sampleEvent("watch", 1);
    const b = sampleEvent("like", 2);
    const res = await post(`${JSON.stringify(a)}\n{not json\n\n${JSON.stringify({ ...b, type: "hug" })}\n${JSON.stringify(b)}\n`);
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: unknown[] };
    expect(results).toMatchObject([
      { index: 0, status: "ACCEPTED", id: a.id },
      { index: 1, status: "REJECTED", code: "INVALID_JSON" },
      { index: 2, status: "REJECTED", code: "UNKNOWN_TYPE", field: "type" },
      { index: 3, status: "ACCEPTED", id: b.id },
    ]);
    const again = (await (await post(JSON.stringify(a))).json()) as { results: unknown[] };
    expect(again.results).toMatchObject([{ index: 0, status: "DUPLICATE" }]);
  });

  it("bounds the body (413 JSON error) and the batch", async () => {
    const big = await post("x".repeat(5000));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } });
    const many = await post(Array.from({ length: 6 }, (_, i) => JSON.stringify(sampleEvent("like", 10 + i))).join("\n"));
    expect(many.status).toBe(413);
    // A chunked body without Content-Length is cut off at the bound too.
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("y".repeat(6000))); c.close(); } });
    const chunked = await fetch(base, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: stream, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("rejects other methods, content types and empty bodies", async () => {
    expect((await fetch(base)).status).toBe(405);
    expect((await post("{}", "application/json")).status).toBe(415);
    expect((await post("\n\n")).status).toBe(400);
  });

  it("answers 503 with Retry-After when the log is unavailable", async () => {
    unavailable = true;
    try {
      const res = await post(JSON.stringify(sampleEvent("like", 50)));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toMatchObject({ error: { code: "UNAVAILABLE" } });
    } finally {
      unavailable = false;
    }
  });
});
