import type { IncomingMessage, ServerResponse } from "node:http";
import type { CatalogResult } from "../catalog/catalog-changes";
import type { CatalogItemKind, CatalogWriter } from "../catalog/catalog-writer";
import { ReelfeedError } from "../errors";
import { readBody } from "../server";

/**
 * `POST /catalog` with `Content-Type: application/x-ndjson`: bulk loads of the live catalogue, one item per line,
 * the JSON of the GraphQL inputs plus a `kind`: `{"kind":"video", ...VideoInput}`, `{"kind":"removal","id":"v1",
 * "reason":"..."}`, `{"kind":"user", ...UserInput}`, `{"kind":"creator", ...CreatorInput}`. Kinds may be mixed and
 * are applied in line order. Answers `{ results }`, one per non-blank line (`index` = its position among them),
 * each as in the mutations; a line that is not JSON (INVALID_JSON), not UTF-8 (INVALID_UTF8) or of an unknown kind
 * (UNKNOWN_KIND) is REJECTED alone. Needs scope catalog:write (serve.ts).
 *
 * Status codes: 200 with results (even when some were rejected); 400 empty body; 405 not POST; 413 body or batch
 * over its bound; 415 wrong content type; 503 + Retry-After when the log is unavailable (retry the same body:
 * versions make it idempotent); 500 otherwise. Errors are `{ error: { code, message } }`, as on POST /events.
 */
export interface CatalogHttpHandlerOptions {
  writer: CatalogWriter;
  /** Max body bytes (config server.maxBodyBytes). @default 2_000_000 */
  maxBodyBytes?: number;
  /** Seconds a client should wait before retrying after a 503. @default 1 */
  retryAfterSec?: number;
}

const NDJSON = /^application\/(x-ndjson|ndjson|jsonl|x-jsonlines)\b/i;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const KINDS: ReadonlySet<string> = new Set<CatalogItemKind>(["video", "removal", "user", "creator"]);

export function createCatalogHttpHandler(options: CatalogHttpHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { writer, maxBodyBytes = 2_000_000, retryAfterSec = 1 } = options;
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(json), ...headers });
    res.end(json);
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void =>
    send(res, status, { error: { code, message } }, headers);

  return async (req, res) => {
    if (req.method !== "POST") {
      req.resume();
      return fail(res, 405, "METHOD_NOT_ALLOWED", "use POST", { allow: "POST" });
    }
    if (!NDJSON.test(req.headers["content-type"] ?? "")) {
      req.resume();
      return fail(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/x-ndjson (one catalogue item JSON per line)");
    }
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof ReelfeedError && err.code === "PAYLOAD_TOO_LARGE") {
        res.on("finish", () => req.destroy());
        return fail(res, 413, err.code, err.message, { connection: "close" });
      }
      return fail(res, 400, "BAD_REQUEST", "request body could not be read");
    }
    // Lines are split on the byte 0x0A before decoding (never inside a UTF-8 character), so a bad line is its own.
    const lines: Array<string | undefined> = [];
    for (let start = 0; start <= body.length; ) {
      let nl = body.indexOf(0x0a, start);
      if (nl < 0) nl = body.length;
      try {
        const line = STRICT_UTF8.decode(body.subarray(start, nl)).trim();
        if (line.length > 0) lines.push(line);
      } catch {
        lines.push(undefined);
      }
      start = nl + 1;
    }
    if (lines.length === 0) return fail(res, 400, "BAD_USER_INPUT", "empty body: send one catalogue item JSON per line");
    if (lines.length > writer.maxBatch) return fail(res, 413, "PAYLOAD_TOO_LARGE", `catalog: batch of ${lines.length} lines is over the limit of ${writer.maxBatch}`);
    const results: CatalogResult[] = new Array(lines.length);
    const items: Array<{ kind: CatalogItemKind; raw: unknown }> = [];
    const at: number[] = [];
    lines.forEach((line, index) => {
      const where = `catalog line ${index + 1}`;
      if (line === undefined) {
        results[index] = { index, status: "REJECTED", code: "INVALID_UTF8", message: `${where}: not valid UTF-8` };
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch (err) {
        results[index] = { index, status: "REJECTED", code: "INVALID_JSON", message: `${where}: ${(err as Error).message}` };
        return;
      }
      const kind = typeof raw === "object" && raw !== null ? (raw as { kind?: unknown }).kind : undefined;
      if (typeof kind !== "string" || !KINDS.has(kind)) {
        results[index] = { index, status: "REJECTED", code: "UNKNOWN_KIND", field: "kind", message: `${where}: kind must be one of ${[...KINDS].join(", ")}` };
        return;
      }
      items.push({ kind: kind as CatalogItemKind, raw });
      at.push(index);
    });
    try {
      if (items.length > 0) {
        const written = await writer.write(items);
        written.forEach((r, j) => {
          const index = at[j];
          results[index] = { ...r, index, ...(r.message !== undefined && { message: `catalog line ${index + 1}: ${r.message}` }) };
        });
      }
      send(res, 200, { results });
    } catch (err) {
      if (err instanceof ReelfeedError) {
        if (err.code === "PAYLOAD_TOO_LARGE") return fail(res, 413, err.code, err.message);
        if (err.code === "UNAVAILABLE") return fail(res, 503, err.code, err.message, { "retry-after": String(retryAfterSec) });
      }
      fail(res, 500, "INTERNAL", "internal error");
    }
  };
}
