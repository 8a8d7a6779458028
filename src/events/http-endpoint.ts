import type { IncomingMessage, ServerResponse } from "node:http";
import { ReelfeedError } from "../errors";
import type { EventIngestor, EventResult } from "./ingestor";

/**
 * `POST /events` with `Content-Type: application/x-ndjson`: one event JSON per line, for SDKs and collectors that
 * batch without GraphQL. Answers `{ results: EventResult[] }` (one per non-blank line, `index` = its position among
 * the non-blank lines); a line that is not JSON is REJECTED with code INVALID_JSON and does not affect the others.
 * A line that is not valid UTF-8 is REJECTED with code INVALID_UTF8: decoding it lossily would turn every invalid
 * byte into U+FFFD, so ids `x\xFF` and `x\xFE` would collide and a different event be answered DUPLICATE and dropped.
 *
 * Status codes: 200 with results (even when some were rejected); 400 empty body; 405 not POST; 413 body or batch
 * over its bound; 415 wrong content type; 503 + Retry-After when the log is unavailable (retry the same batch:
 * ids make it idempotent); 500 otherwise. Errors are `{ error: { code, message } }`.
 */
export interface EventsHttpHandlerOptions {
  ingestor: EventIngestor;
  /** Max body bytes (config server.maxBodyBytes). @default 2_000_000 */
  maxBodyBytes?: number;
  /** Most lines in one body (config server.maxEventBatch). @default 1000 */
  maxBatch?: number;
  /** Seconds a client should wait before retrying after a 503. @default 1 */
  retryAfterSec?: number;
}

export type EventsHttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

const NDJSON = /^application\/(x-ndjson|ndjson|jsonl|x-jsonlines)\b/i;
/** Throws on the first invalid sequence instead of substituting U+FFFD. Stateless between calls (no `stream`). */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;

/**
 * The body's lines, decoded one by one so an invalid byte sequence rejects its own line only. Splitting on the byte
 * 0x0A is safe before decoding: in UTF-8 that byte only ever stands for "\n", never inside a multi-byte character.
 */
function decodeLines(body: Buffer): Array<string | { invalidUtf8: true }> {
  const out: Array<string | { invalidUtf8: true }> = [];
  let start = 0;
  while (start <= body.length) {
    let nl = body.indexOf(NEWLINE, start);
    if (nl < 0) nl = body.length;
    try {
      const line = STRICT_UTF8.decode(body.subarray(start, nl)).trim();
      if (line.length > 0) out.push(line);
    } catch {
      out.push({ invalidUtf8: true });
    }
    start = nl + 1;
  }
  return out;
}

export function createEventsHttpHandler(options: EventsHttpHandlerOptions): EventsHttpHandler {
  const { ingestor, maxBodyBytes = 2_000_000, maxBatch = 1000, retryAfterSec = 1 } = options;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(json), ...headers });
    res.end(json);
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void =>
    send(res, status, { error: { code, message } }, headers);

  return (req, res) => {
    if (req.method !== "POST") {
      req.resume();
      return fail(res, 405, "METHOD_NOT_ALLOWED", "use POST", { allow: "POST" });
    }
    if (!NDJSON.test(req.headers["content-type"] ?? "")) {
      req.resume();
      return fail(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/x-ndjson (one event JSON per line)");
    }
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      req.resume();
      return fail(res, 413, "PAYLOAD_TOO_LARGE", `body of ${declared} bytes is over the limit of ${maxBodyBytes}`, { connection: "close" });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        // Chunked bodies have no Content-Length: stop buffering at the bound, answer, and drop the connection.
        tooLarge = true;
        chunks.length = 0;
        fail(res, 413, "PAYLOAD_TOO_LARGE", `body is over the limit of ${maxBodyBytes} bytes`, { connection: "close" });
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", () => {
      if (!res.headersSent) fail(res, 400, "BAD_REQUEST", "request body could not be read");
    });
    req.on("end", () => {
      if (tooLarge) return;
      void handle(Buffer.concat(chunks), res);
    });
  };

  async function handle(body: Buffer, res: ServerResponse): Promise<void> {
    const lines = decodeLines(body);
    if (lines.length === 0) return fail(res, 400, "BAD_USER_INPUT", "empty body: send one event JSON per line");
    const results: EventResult[] = new Array(lines.length);
    const parsed: unknown[] = [];
    const at: number[] = [];
    lines.forEach((line, index) => {
      if (typeof line !== "string") {
        results[index] = { index, status: "REJECTED", code: "INVALID_UTF8", message: `event line ${index + 1}: not valid UTF-8 (send the body as UTF-8)` };
        return;
      }
      try {
        parsed.push(JSON.parse(line));
        at.push(index);
      } catch (err) {
        results[index] = { index, status: "REJECTED", code: "INVALID_JSON", message: `event line ${index + 1}: ${(err as Error).message}` };
      }
    });
    try {
      if (lines.length > maxBatch) {
        throw new ReelfeedError("PAYLOAD_TOO_LARGE", `events: batch of ${lines.length} lines is over the limit of ${maxBatch}`, { limit: maxBatch });
      }
      if (parsed.length > 0) {
        const ingested = await ingestor.ingest(parsed);
        ingested.forEach((r, j) => (results[at[j]] = { ...r, index: at[j] }));
      }
      send(res, 200, { results });
    } catch (err) {
      if (err instanceof ReelfeedError) {
        if (err.code === "PAYLOAD_TOO_LARGE") return fail(res, 413, err.code, err.message);
        if (err.code === "UNAVAILABLE") return fail(res, 503, err.code, err.message, { "retry-after": String(retryAfterSec) });
        if (err.code === "BAD_USER_INPUT") return fail(res, 400, err.code, err.message);
      }
      fail(res, 500, "INTERNAL", "internal error");
    }
  }
}
