import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { createEventsHttpHandler } from "../../src/events/http-endpoint";
import { createIngestor } from "../../src/events/ingest";
import { startServer, type RunningServer } from "../../src/server";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createTestkit } from "../../src/testkit";

/**
 * Issue 10, defect 3, over the real server (startServer with POST /events mounted, as `serve` does): a body that is
 * not valid UTF-8 used to be decoded lossily, so two different ids became one and an event was dropped as DUPLICATE.
 */
let dir: string;
let log: FileEventLog;
let server: RunningServer;
let port: number;
const MAX_BODY = 4000;

beforeAll(async () => {
  const kit = createTestkit();
  dir = await mkdtemp(join(tmpdir(), "rf-http-utf8-"));
  log = await createFileEventLog({ dir });
  const ingestor = createIngestor({ log, maxBatch: 100 });
  const config = configSchema.parse({ server: { maxBodyBytes: MAX_BODY } });
  server = await startServer({
    services: { feed: kit.service, catalog: kit.catalog, ingestor, httpHandlers: { "/events": createEventsHttpHandler({ ingestor, maxBodyBytes: MAX_BODY }) } },
    config,
    port: 0,
    host: "127.0.0.1",
    log: () => {},
  });
  port = server.port;
});
afterAll(async () => {
  await server?.stop();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Raw bytes over node:http, so nothing re-encodes the body; `chunked` sends no Content-Length. */
function postBytes(body: Buffer, chunked = false): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": "application/x-ndjson" };
    if (!chunked) headers["content-length"] = body.length;
    const req = request({ host: "127.0.0.1", port, path: "/events", method: "POST", headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString("utf8") }));
      res.on("error", reject);
    });
    // The server may answer 413 and close before it read everything: that is the point, not a failure.
    req.on("error", () => {});
    if (chunked) {
      for (let i = 0; i < body.length; i += 1000) req.write(body.subarray(i, i + 1000));
      req.end();
    } else {
      req.end(body);
    }
  });
}

const eventLine = (idBytes: Buffer, videoId: string): Buffer =>
  Buffer.concat([Buffer.from('{"id":"'), idBytes, Buffer.from(`","type":"like","userId":"u1","videoId":"${videoId}","ts":${Date.now()}}\n`)]);

describe("POST /events: bodies that are not valid UTF-8", () => {
  it("rejects each line with invalid bytes as INVALID_UTF8 naming the line; ids x\\xFF and x\\xFE never collide", async () => {
    const body = Buffer.concat([
      eventLine(Buffer.from([0x78, 0xff]), "v1"),
      eventLine(Buffer.from([0x78, 0xfe]), "v2"),
      eventLine(Buffer.from("x\u00e9-ok", "utf8"), "v3"), // a valid multi-byte id is untouched
      eventLine(Buffer.from([0x78, 0xed, 0xa0, 0x80]), "v4"), // an encoded surrogate is not UTF-8 either
    ]);
    const res = await postBytes(body);
    expect(res.status).toBe(200);
    const { results } = JSON.parse(res.text) as { results: Array<Record<string, unknown>> };
    expect(results).toMatchObject([
      { index: 0, status: "REJECTED", code: "INVALID_UTF8", message: expect.stringContaining("event line 1") },
      { index: 1, status: "REJECTED", code: "INVALID_UTF8", message: expect.stringContaining("event line 2") },
      { index: 2, status: "ACCEPTED", id: "x\u00e9-ok" },
      { index: 3, status: "REJECTED", code: "INVALID_UTF8", message: expect.stringContaining("event line 4") },
    ]);
    const stored = (await log.read(undefined, 100)).map((r) => r.event.id);
    expect(stored).toContain("x\u00e9-ok");
    expect(stored.some((id) => id.includes("\ufffd"))).toBe(false);
  });
});

