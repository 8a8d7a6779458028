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
 * Issue 10, defect 4, over the real server (startServer with POST /events mounted, as `serve` does): a 413 came in the
 * GraphQL `errors[]` shape from the server's Content-Length pre-check and in the documented `{ error }` shape from the
 * handler's own bound on a chunked body. One route, one shape.
 */
let dir: string;
let log: FileEventLog;
let server: RunningServer;
let port: number;
const MAX_BODY = 4000;

beforeAll(async () => {
  const kit = createTestkit();
  dir = await mkdtemp(join(tmpdir(), "rf-http-413-"));
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

describe("POST /events: 413 has one shape", () => {
  const big = Buffer.from(`${"x".repeat(MAX_BODY + 500)}\n`);

  it("answers { error: { code, message } } when Content-Length announces a body over the bound", async () => {
    const res = await postBytes(big);
    expect(res.status).toBe(413);
    const body = JSON.parse(res.text) as Record<string, unknown>;
    expect(body).toEqual({ error: { code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining(String(MAX_BODY)) } });
    expect(res.headers.connection).toBe("close");
  });

  it("answers the same shape for a chunked body with no Content-Length", async () => {
    const res = await postBytes(big, true);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ error: { code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining(String(MAX_BODY)) } });
    expect(res.headers.connection).toBe("close");
  });
});
