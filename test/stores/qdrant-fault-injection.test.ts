import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { isRetryable } from "../../src/stores/backend-errors";
import { createQdrantVectorIndex, parseQdrantUrl, qdrantPointId, versionedCollection } from "../../src/stores/vector-index-qdrant";

/**
 * Error paths of the Qdrant adapter against a FAULT-INJECTING FAKE: a small local HTTP server that answers only the
 * REST calls under test, in Qdrant's response shapes, with the failures each test scripts (429 with Retry-After,
 * 5xx, 4xx with a reason, a hang). It is not a Qdrant and proves nothing about search results; the behaviour against
 * a real server is the contract suite in vector-index.test.ts, run when QDRANT_URL is set.
 */
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}
type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | "hang";
type Route = (req: Seen) => Answer | undefined;

interface Fake {
  url: string;
  seen: Seen[];
  /** Requests in flight now, and the most at once. */
  maxInFlight: number;
  route(r: Route): void;
  close(): Promise<void>;
}

const ok = (result: unknown): Answer => ({ status: 200, body: { result, status: "ok", time: 0.001 } });

async function startFaultInjectingQdrant(prefix = ""): Promise<Fake> {
  const routes: Route[] = [];
  const seen: Seen[] = [];
  const hanging: ServerResponse[] = [];
  let inFlight = 0;
  const fake = {} as Fake;
  fake.maxInFlight = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://x");
      const text = Buffer.concat(chunks).toString("utf8");
      const s: Seen = { method: req.method ?? "", path: u.pathname, query: u.searchParams, body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      // Answer on a later tick so concurrent requests overlap, as against a real server.
      setTimeout(() => {
        const path = s.path.startsWith(prefix) ? s.path.slice(prefix.length) : "/__outside_prefix__";
        let answer: Answer | undefined;
        for (const r of routes) if ((answer = r({ ...s, path }))) break;
        answer ??= defaults({ ...s, path });
        if (answer === "hang") {
          hanging.push(res);
          return;
        }
        inFlight--;
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      }, 5);
    });
  });
  const defaults = (s: Seen): Answer => {
    if (/^\/collections\/[^/]+\/exists$/.test(s.path)) return ok({ exists: true });
    if (/^\/collections\/[^/]+$/.test(s.path) && s.method === "GET") return ok({ config: { params: { vectors: { size: 4, distance: "Dot" } } } });
    if (/\/points$/.test(s.path) && s.method === "PUT") return ok({ operation_id: 1, status: "completed" });
    if (/\/points\/query$/.test(s.path)) return ok({ points: [] });
    return { status: 404, body: { status: { error: `fake: no route for ${s.method} ${s.path}` }, time: 0 } };
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`;
  fake.seen = seen;
  fake.route = (r) => routes.push(r);
  fake.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return fake;
}

const vec = (...xs: number[]): Float32Array => Float32Array.from([...xs, 0, 0, 0, 0].slice(0, 4));
const noWait = (delays: number[]) => async (ms: number) => void delays.push(ms);

let fakes: Fake[] = [];
afterEach(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  fakes = [];
});
const start = async (prefix = ""): Promise<Fake> => {
  const f = await startFaultInjectingQdrant(prefix);
  fakes.push(f);
  return f;
};

describe("Qdrant URL forms", () => {
  it("parses host, port (443 / 80 by default), TLS and the path prefix", () => {
    expect(parseQdrantUrl("https://vectors.example.com/qdrant/")).toEqual({ host: "vectors.example.com", port: 443, https: true, prefix: "/qdrant" });
    expect(parseQdrantUrl("https://vectors.example.com")).toEqual({ host: "vectors.example.com", port: 443, https: true, prefix: "" });
    expect(parseQdrantUrl("http://qdrant")).toEqual({ host: "qdrant", port: 80, https: false, prefix: "" });
    expect(parseQdrantUrl("http://qdrant:6333")).toEqual({ host: "qdrant", port: 6333, https: false, prefix: "" });
    expect(parseQdrantUrl("https://h:8443/a/b")).toEqual({ host: "h", port: 8443, https: true, prefix: "/a/b" });
    expect(parseQdrantUrl("http://[::1]:6333/")).toMatchObject({ host: "[::1]", port: 6333 });
  });

  it("refuses what it cannot use with BAD_CONFIG naming backends.qdrantUrl", () => {
    for (const url of ["localhost:6333", "ftp://h", "http://user:secret@h:6333", "http://h:6333/?x=1", "not a url"]) {
      const err = (() => {
        try {
          parseQdrantUrl(url);
        } catch (e) {
          return e;
        }
      })();
      expect(err, url).toBeInstanceOf(ReelfeedError);
      expect((err as ReelfeedError).code).toBe("BAD_CONFIG");
      expect((err as ReelfeedError).details.key).toBe("backends.qdrantUrl");
    }
  });

  it("sends every request under the path prefix (an ingress at /qdrant)", async () => {
    const fake = await start("/qdrant");
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4 });
    await index.search(vec(1), 3);
    expect(fake.seen.length).toBeGreaterThan(2);
    for (const s of fake.seen) expect(s.path.startsWith("/qdrant/collections/c")).toBe(true);
  });
});

describe("Qdrant bulk upload and error mapping (fault-injecting fake)", () => {
  it("uploads in batches with a few in flight, retrying a 429 after its Retry-After and a 503 with back-off", async () => {
    const fake = await start();
    let puts = 0;
    fake.route((s) => {
      if (!(s.method === "PUT" && s.path.endsWith("/points"))) return undefined;
      puts++;
      if (puts === 2) return { status: 429, headers: { "retry-after": "3" }, body: { status: { error: "Too many requests" }, time: 0 } };
      if (puts === 4) return { status: 503, body: { status: { error: "Service unavailable" }, time: 0 } };
      return undefined;
    });
    const delays: number[] = [];
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4, batchSize: 100, concurrency: 3, backoffMs: 10, sleep: noWait(delays) });
    const items = Array.from({ length: 1000 }, (_, i) => ({ id: `v${i}`, vector: vec(i, 1) }));
    await index.upsert(items);
    const writes = fake.seen.filter((s) => s.method === "PUT" && s.path.endsWith("/points"));
    expect(writes).toHaveLength(12); // 10 batches + 2 retries
    for (const w of writes) expect(w.query.get("wait")).toBe("true");
    const sizes = writes.map((w) => (w.body as { points: unknown[] }).points.length);
    expect(Math.max(...sizes)).toBe(100);
    const ids = new Set(writes.flatMap((w) => (w.body as { points: { id: string }[] }).points.map((p) => p.id)));
    expect(ids.size).toBe(1000);
    expect(ids.has(qdrantPointId("v999"))).toBe(true);
    expect(fake.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(fake.maxInFlight).toBeLessThanOrEqual(3);
    // The 429 waited at least its 3 s Retry-After; the 503 a short back-off.
    expect(delays.some((d) => d >= 3000)).toBe(true);
    expect(delays.some((d) => d < 100)).toBe(true);
  });

  it("a permanent 4xx is not retried and says the server's reason", async () => {
    const fake = await start();
    fake.route((s) =>
      s.method === "PUT" && s.path.endsWith("/points")
        ? { status: 400, body: { status: { error: "Wrong input: Vector dimension error: expected dim: 4, got 3" }, time: 0 } }
        : undefined,
    );
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4, sleep: noWait([]) });
    const err = (await index.upsert([{ id: "a", vector: vec(1) }]).catch((e: unknown) => e)) as ReelfeedError;
    expect(err.code).toBe("BAD_USER_INPUT");
    expect(err.message).toContain("expected dim: 4, got 3");
    expect(err.details).toMatchObject({ status: 400, retryable: false, collection: "c", op: "upsert" });
    expect(isRetryable(err)).toBe(false);
    expect(fake.seen.filter((s) => s.method === "PUT")).toHaveLength(1);
  });

  it("a 429 that outlasts the retries is RATE_LIMITED with the server's Retry-After; a 404 is NOT_FOUND", async () => {
    const fake = await start();
    fake.route((s) => (s.method === "PUT" && s.path.endsWith("/points") ? { status: 429, headers: { "retry-after": "2" }, body: { status: { error: "slow down" } } } : undefined));
    fake.route((s) => (s.path.endsWith("/points/query") ? { status: 404, body: { status: { error: "Not found: Collection `c` doesn't exist!" } } } : undefined));
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4, maxAttempts: 3, sleep: noWait([]) });
    const limited = (await index.upsert([{ id: "a", vector: vec(1) }]).catch((e: unknown) => e)) as ReelfeedError;
    expect(limited.code).toBe("RATE_LIMITED");
    expect(limited.details).toMatchObject({ retryAfterSec: 2, retryable: true });
    expect(fake.seen.filter((s) => s.method === "PUT")).toHaveLength(3);
    const missing = (await index.search(vec(1), 5).catch((e: unknown) => e)) as ReelfeedError;
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.message).toContain("doesn't exist");
  });

  it("a search that hangs fails UNAVAILABLE at its own timeout, and tells the server that timeout too", async () => {
    const fake = await start();
    fake.route((s) => (s.path.endsWith("/points/query") ? "hang" : undefined));
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4, searchTimeoutMs: 150 });
    const t0 = Date.now();
    const err = (await index.search(vec(1), 5).catch((e: unknown) => e)) as ReelfeedError;
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.details).toMatchObject({ timeout: true, retryable: true });
    const query = fake.seen.find((s) => s.path.endsWith("/points/query"))!;
    expect(query.query.get("timeout")).toBe("1");
    // Tried once: a search has no room in its budget for a retry.
    expect(fake.seen.filter((s) => s.path.endsWith("/points/query"))).toHaveLength(1);
  });

  it("start-up retries a 503, then fails UNAVAILABLE; a refused key is BAD_CONFIG at once", async () => {
    const fake = await start();
    fake.route((s) => (s.path.endsWith("/exists") ? { status: 503, body: { status: { error: "starting" } } } : undefined));
    const delays: number[] = [];
    const err = (await createQdrantVectorIndex({ url: fake.url, collection: "c", dim: 4, maxAttempts: 4, sleep: noWait(delays) }).catch((e: unknown) => e)) as ReelfeedError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("starting");
    expect(delays).toHaveLength(3);
    const denied = await start();
    denied.route(() => ({ status: 403, body: { status: { error: "Forbidden" } } }));
    await expect(createQdrantVectorIndex({ url: denied.url, apiKey: "k", collection: "c", dim: 4, sleep: noWait([]) })).rejects.toMatchObject({ code: "BAD_CONFIG" });
    expect(denied.seen).toHaveLength(1);
  });
});

describe("Qdrant collection per bundle version (fault-injecting fake)", () => {
  /** A fake holding collections and aliases, answering the alias and collection-list calls. */
  async function withCollections(names: string[], alias?: [string, string]): Promise<{ fake: Fake; collections: Set<string>; aliases: Map<string, string>; updates: unknown[] }> {
    const fake = await start();
    const collections = new Set(names);
    const aliases = new Map(alias ? [alias] : []);
    const updates: unknown[] = [];
    fake.route((s) => {
      if (s.method === "GET" && s.path === "/aliases") return ok({ aliases: [...aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name })) });
      if (s.method === "GET" && s.path === "/collections") return ok({ collections: [...collections].map((name) => ({ name })) });
      if (s.method === "POST" && s.path === "/collections/aliases") {
        updates.push(s.body);
        for (const a of (s.body as { actions: Record<string, { alias_name: string; collection_name?: string }>[] }).actions) {
          if (a.delete_alias) aliases.delete(a.delete_alias.alias_name);
          if (a.create_alias) aliases.set(a.create_alias.alias_name, a.create_alias.collection_name!);
        }
        return ok(true);
      }
      if (s.method === "DELETE" && s.path.startsWith("/collections/")) {
        collections.delete(s.path.slice("/collections/".length));
        return ok(true);
      }
      return undefined;
    });
    return { fake, collections, aliases, updates };
  }

  it("switches the alias in one request and removes superseded versions, keeping the previous one", async () => {
    const v = (n: string) => versionedCollection("reelfeed_videos", n);
    const { fake, collections, aliases, updates } = await withCollections([v("1"), v("2"), v("3.0"), "reelfeed_videosx", "other"], ["reelfeed_videos", v("2")]);
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "reelfeed_videos", version: "3.0", dim: 4 });
    expect(index.collectionName).toBe("reelfeed_videos_v_3_0");
    expect(await index.activate()).toEqual([v("1")]);
    expect(aliases.get("reelfeed_videos")).toBe(v("3.0"));
    expect(aliases.get("reelfeed_videos_previous")).toBe(v("2"));
    expect(updates).toEqual([
      {
        actions: [
          { delete_alias: { alias_name: "reelfeed_videos" } },
          { create_alias: { collection_name: v("3.0"), alias_name: "reelfeed_videos" } },
          { create_alias: { collection_name: v("2"), alias_name: "reelfeed_videos_previous" } },
        ],
      },
    ]);
    expect([...collections].sort()).toEqual(["other", "reelfeed_videos_v_2", "reelfeed_videos_v_3_0", "reelfeed_videosx"]);
    // Again (a restart of the same version): nothing to switch, and the previous version is still kept.
    expect(await index.activate()).toEqual([]);
    expect(collections.has(v("2"))).toBe(true);
    expect(updates).toHaveLength(1);
  });

  it("with keepPrevious 0 only the active version stays", async () => {
    const v = (n: string) => versionedCollection("reelfeed_videos", n);
    const { fake, collections } = await withCollections([v("1"), v("2")], ["reelfeed_videos", v("1")]);
    const index = await createQdrantVectorIndex({ url: fake.url, collection: "reelfeed_videos", version: "2", keepPrevious: 0, dim: 4 });
    expect(await index.activate()).toEqual([v("1")]);
    expect([...collections]).toEqual([v("2")]);
  });
});
