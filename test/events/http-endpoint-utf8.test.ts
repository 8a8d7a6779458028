import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEventsHttpServer, type EventsHttpServer } from "./events-http-harness";

/**
 * Issue 10, defect 3, over the real server (startServer with POST /events mounted, as `serve` does): a body that is
 * not valid UTF-8 used to be decoded lossily, so two different ids became one and an event was dropped as DUPLICATE.
 */

const MAX_BODY = 4000;
let server: EventsHttpServer;
beforeAll(async () => {
  server = await startEventsHttpServer(MAX_BODY);
});
afterAll(() => server?.stop());
const postBytes: EventsHttpServer["postBytes"] = (body, chunked) => server.postBytes(body, chunked);

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
    const stored = (await server.log.read(undefined, 100)).map((r) => r.event.id);
    expect(stored).toContain("x\u00e9-ok");
    expect(stored.some((id) => id.includes("\ufffd"))).toBe(false);
  });
});

