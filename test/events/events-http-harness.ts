import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configSchema } from "../../src/config";
import { createEventsHttpHandler } from "../../src/events/http-endpoint";
import { createIngestor } from "../../src/events/ingest";
import { startServer } from "../../src/server";
import { createFileEventLog, type FileEventLog } from "../../src/stores/event-log-file";
import { createTestkit } from "../../src/testkit";

export interface EventsHttpServer {
  /** The file log behind POST /events. */
  log: FileEventLog;
  /** Raw bytes over node:http, so nothing re-encodes the body; `chunked` sends no Content-Length. */
  postBytes(body: Buffer, chunked?: boolean): Promise<{ status: number; headers: Record<string, unknown>; text: string }>;
  stop(): Promise<void>;
}

/** The real server (startServer with POST /events mounted, as `serve` does) over a file log in a temporary folder. */
export async function startEventsHttpServer(maxBodyBytes: number): Promise<EventsHttpServer> {
  const kit = createTestkit();
  const dir = await mkdtemp(join(tmpdir(), "rf-events-http-"));
  const log = await createFileEventLog({ dir });
  const ingestor = createIngestor({ log, maxBatch: 100 });
  const server = await startServer({
    services: { feed: kit.service, catalog: kit.catalog, ingestor, httpHandlers: { "/events": createEventsHttpHandler({ ingestor, maxBodyBytes }) } },
    config: configSchema.parse({ server: { maxBodyBytes } }),
    port: 0,
    host: "127.0.0.1",
    log: () => {},
  });
  const postBytes: EventsHttpServer["postBytes"] = (body, chunked = false) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { "content-type": "application/x-ndjson" };
      if (!chunked) headers["content-length"] = body.length;
      const req = request({ host: "127.0.0.1", port: server.port, path: "/events", method: "POST", headers }, (res) => {
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
  return {
    log,
    postBytes,
    stop: async () => {
      await server.stop();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
