import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEventsHttpServer, type EventsHttpServer } from "./events-http-harness";

/**
 * Issue 10, defect 4, over the real server (startServer with POST /events mounted, as `serve` does): a 413 came in the
 * GraphQL `errors[]` shape from the server's Content-Length pre-check and in the documented `{ error }` shape from the
 * handler's own bound on a chunked body. One route, one shape.
 */

const MAX_BODY = 4000;
let server: EventsHttpServer;
beforeAll(async () => {
  server = await startEventsHttpServer(MAX_BODY);
});
afterAll(() => server?.stop());
const postBytes: EventsHttpServer["postBytes"] = (body, chunked) => server.postBytes(body, chunked);

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
