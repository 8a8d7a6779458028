import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { QdrantClient } from "@qdrant/js-client-rest";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { ReelfeedError } from "../../src/errors";
import { isEmbeddedVectorIndex, loadVectors, openVectorIndex } from "../../src/stores/open-stores";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { createQdrantVectorIndex, qdrantPointId, versionedCollection } from "../../src/stores/vector-index-qdrant";
import { clusteredVectors } from "../../src/testkit/clustered-vectors";
import { seededRandom } from "../../src/util/random";
import { describeVectorIndexContract } from "./vector-index.contract";

describeVectorIndexContract("embedded, exact", async () => createEmbeddedVectorIndex({ dim: 8, exactThreshold: Infinity }));
describeVectorIndexContract("embedded, IVF forced at every size", async () => createEmbeddedVectorIndex({ dim: 8, exactThreshold: 0 }));

// Runs only against a real server (QDRANT_URL=http://localhost:6333); skipped, never passed, without one.
describe.skipIf(!process.env.QDRANT_URL)("Qdrant", () => {
  const url = process.env.QDRANT_URL as string;
  const run = Math.random().toString(36).slice(2, 8);
  const created: string[] = [];
  afterAll(async () => {
    const client = new QdrantClient({ url, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });
    for (const name of created) await client.deleteCollection(name);
  });
  describeVectorIndexContract("qdrant", async () => {
    const collection = `reelfeed_test_${run}_${created.length}`;
    created.push(collection);
    return createQdrantVectorIndex({ url, apiKey: process.env.QDRANT_API_KEY, collection, dim: 8, batchSize: 2 });
  });

  it("activates a bundle version under its alias, keeps the previous one and removes older ones (live)", async () => {
    const alias = `reelfeed_test_${run}_alias`;
    const open = async (version: string) => {
      created.push(versionedCollection(alias, version));
      return createQdrantVectorIndex({ url, apiKey: process.env.QDRANT_API_KEY, collection: alias, version, dim: 4 });
    };
    const v1 = await open("1");
    await v1.upsert([{ id: "a", vector: Float32Array.of(1, 0, 0, 0) }]);
    expect(await v1.activate()).toEqual([]);
    expect(await (await open("2")).activate()).toEqual([]);
    const v3 = await open("3");
    expect(await v3.activate()).toEqual([versionedCollection(alias, "1")]);
    created.splice(created.indexOf(versionedCollection(alias, "1")), 1);
    const client = new QdrantClient({ url, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });
    const { aliases } = await client.getAliases();
    expect(aliases.find((a) => a.alias_name === alias)?.collection_name).toBe(versionedCollection(alias, "3"));
    expect(aliases.find((a) => a.alias_name === `${alias}_previous`)?.collection_name).toBe(versionedCollection(alias, "2"));
    // The alias serves searches like the collection.
    expect((await client.query(alias, { query: [1, 0, 0, 0], limit: 1 })).points).toEqual([]);
  });
});

/** IVF (built from `exactThreshold` rows) against exact search on the same clustered vectors: mean recall@100 of 20 queries. */
async function ivfRecall(n: number, dim: number, clusters: number, seed: number, exactThreshold: number) {
  const data = clusteredVectors(n, dim, clusters, seed);
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const ivf = createEmbeddedVectorIndex({ dim, exactThreshold });
  const exact = createEmbeddedVectorIndex({ dim, exactThreshold: Infinity });
  ivf.bulkLoad(ids, data);
  exact.bulkLoad(ids, data);
  const queries = clusteredVectors(20, dim, clusters, seed + 7);
  let recall = 0;
  for (let q = 0; q < 20; q++) {
    const query = row(queries, dim, q);
    const truth = await exact.search(query, 100);
    const found = new Set((await ivf.search(query, 100)).map((h) => h.id));
    recall += truth.filter((h) => found.has(h.id)).length / truth.length;
  }
  return { recall: recall / 20, ivf, exact };
}

const row = (m: Float32Array, dim: number, i: number) => m.slice(i * dim, (i + 1) * dim);

describe("embedded vector index: IVF", () => {
  it("IVF recall@100 against exact search is at least 0.9 on 50k × 32 clustered vectors", async () => {
    const { recall, ivf, exact } = await ivfRecall(50_000, 32, 100, 1, 10_000);
    expect(ivf.stats()).toMatchObject({ mode: "ivf", size: 50_000, indexedRows: 50_000, pendingRows: 0 });
    expect(ivf.stats().nlist).toBeGreaterThan(1500); // 8·sqrt(50k)
    expect(exact.stats().mode).toBe("exact");
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });

  it("finds vectors added after the build at once, and rebuilds lazily once the index grew enough", async () => {
    const dim = 16;
    const data = clusteredVectors(2000, dim, 10, 2);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 1000, rebuildFraction: 0.2 });
    index.bulkLoad(
      Array.from({ length: 2000 }, (_, i) => `v${i}`),
      data,
    );
    expect(index.stats()).toMatchObject({ mode: "ivf", indexedRows: 2000, pendingRows: 0 });
    const query = row(data, dim, 0);
    const strong = query.map((x) => x * 3);
    await index.upsert([{ id: "new", vector: strong }]);
    expect((await index.search(query, 1))[0].id).toBe("new");
    expect(index.stats()).toMatchObject({ indexedRows: 2000, pendingRows: 1 });
    // Replacing an indexed vector leaves no stale copy behind.
    await index.upsert([{ id: "v0", vector: query.map((x) => -x) }]);
    const hits = await index.search(query, 2001);
    expect(hits).toHaveLength(2001);
    expect(new Set(hits.map((h) => h.id)).size).toBe(2001);
    expect(hits[hits.length - 1].id).toBe("v0");
    // 20% growth triggers a rebuild at the next search.
    await index.upsert(Array.from({ length: 400 }, (_, i) => ({ id: `more${i}`, vector: row(data, dim, i) })));
    await index.search(query, 5);
    expect(index.stats()).toMatchObject({ size: 2401, indexedRows: 2401, pendingRows: 0, deadRows: 0 });
    expect((await index.search(query, 1))[0].id).toBe("new");
  });

  it("puts vectors written after the build in their nearest lists, so a search probing a few lists finds them", async () => {
    const dim = 16;
    const data = clusteredVectors(4000, dim, 40, 6, 0.1);
    const ids = Array.from({ length: 4000 }, (_, i) => `v${i}`);
    // 4 of 40 lists, no row floor: a search scans those lists and their pending rows only. (A vector joins the list
    // nearest in L2, as at a build, while queries rank lists by inner product: the two can differ, so not 1 list.)
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 40, nprobe: 4, probeRows: 0, queryCacheSize: 0 });
    index.bulkLoad(ids.slice(0, 3500), data.subarray(0, 3500 * dim));
    expect(index.stats()).toMatchObject({ indexedRows: 3500, pendingRows: 0 });
    // 500 more (under the rebuild fraction): pending rows of their nearest lists.
    await index.upsert(ids.slice(3500).map((id, i) => ({ id, vector: row(data, dim, 3500 + i) })));
    expect(index.stats()).toMatchObject({ size: 4000, indexedRows: 3500, pendingRows: 500 });
    const exact = createEmbeddedVectorIndex({ dim, exactThreshold: Infinity });
    exact.bulkLoad(ids, data);
    let foundSelf = 0;
    let recall = 0;
    for (let i = 3500; i < 4000; i += 25) {
      const query = row(data, dim, i);
      const hits = await index.search(query, 10);
      if (hits[0].id === `v${i}`) foundSelf++;
      const truth = new Set((await exact.search(query, 10)).map((h) => h.id));
      recall += hits.filter((h) => truth.has(h.id)).length / 10 / 20;
    }
    expect(foundSelf).toBe(20);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    // Replacing a pending row moves it to the list of its new vector; the old copy is gone.
    const far = row(data, dim, 0);
    await index.upsert([{ id: "v3999", vector: far }]);
    const near0 = await index.search(far, 5);
    expect(near0.map((h) => h.id)).toContain("v3999");
    expect((await index.search(row(data, dim, 3999), 4000)).filter((h) => h.id === "v3999")).toHaveLength(1);
    expect(index.stats()).toMatchObject({ size: 4000, pendingRows: 501, deadRows: 1 });
  });

  it("probes lists until probeRows rows are scanned, and the floor makes small lists as good as big ones", async () => {
    const dim = 32;
    const n = 20_000;
    const data = clusteredVectors(n, dim, 50, 9);
    const ids = Array.from({ length: n }, (_, i) => `v${i}`);
    const exact = createEmbeddedVectorIndex({ dim, exactThreshold: Infinity });
    exact.bulkLoad(ids, data);
    const queries = clusteredVectors(20, dim, 50, 10);
    const recallOf = async (options: { probeRows: number; nprobe: number }) => {
      const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 800, queryCacheSize: 0, ...options });
      index.bulkLoad(ids, data);
      let recall = 0;
      for (let q = 0; q < 20; q++) {
        const truth = new Set((await exact.search(row(queries, dim, q), 100)).map((h) => h.id));
        recall += (await index.search(row(queries, dim, q), 100)).filter((h) => truth.has(h.id)).length / 100 / 20;
      }
      return recall;
    };
    // 800 lists of ~25 rows: 4 lists scan ~100 rows, too few for k = 100; a floor of 4000 rows probes ~160 lists.
    const fewLists = await recallOf({ probeRows: 0, nprobe: 4 });
    const withFloor = await recallOf({ probeRows: 4000, nprobe: 4 });
    expect(withFloor).toBeGreaterThanOrEqual(0.95);
    expect(withFloor).toBeGreaterThan(fewLists + 0.2);
    expect(() => createEmbeddedVectorIndex({ dim: 4, probeRows: -1 })).toThrow(/probeRows/);
  });

  it("setProbes changes later searches as creating the index with those probes would, keeping the build", async () => {
    const dim = 16;
    const data = clusteredVectors(5000, dim, 20, 12);
    const ids = Array.from({ length: 5000 }, (_, i) => `v${i}`);
    const tuned = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 100 });
    const fresh = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 100, nprobe: 2, probeRows: 0 });
    tuned.bulkLoad(ids, data);
    fresh.bulkLoad(ids, data);
    const query = row(data, dim, 42);
    const before = await tuned.search(query, 200);
    await tuned.search(query, 200); // cached now
    tuned.setProbes({ nprobe: 2, probeRows: 0 });
    const after = await tuned.search(query, 200);
    expect(after).toEqual(await fresh.search(query, 200));
    expect(after).not.toEqual(before);
    expect(tuned.stats()).toMatchObject({ nlist: 100, indexedRows: 5000 });
    tuned.setProbes({ probeRows: 4096 }); // nprobe stays 2
    expect(() => tuned.setProbes({ nprobe: 0 })).toThrow(/nprobe/);
  });

  it("probes further lists when excludeIds empties the nearest ones", async () => {
    const dim = 8;
    const data = clusteredVectors(3000, dim, 30, 3, 0.1);
    const ids = Array.from({ length: 3000 }, (_, i) => `v${i}`);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nprobe: 1 });
    index.bulkLoad(ids, data);
    const query = row(data, dim, 0);
    const first = await index.search(query, 200);
    expect(first).toHaveLength(200);
    // Exclude everything the first probes found (and more): hits must still come back, k of them.
    const excluded = new Set((await index.search(query, 1500)).map((h) => h.id));
    const next = await index.search(query, 200, { excludeIds: excluded });
    expect(next).toHaveLength(200);
    expect(next.some((h) => excluded.has(h.id))).toBe(false);
  });

  it("falls back to exact search when deletes take it under the threshold, compacting dead rows", async () => {
    const dim = 4;
    const data = clusteredVectors(3000, dim, 5, 4);
    const ids = Array.from({ length: 3000 }, (_, i) => `v${i}`);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 2000 });
    index.bulkLoad(ids, data);
    expect(index.stats().mode).toBe("ivf");
    await index.delete(ids.slice(0, 2500));
    const query = row(data, dim, 2999);
    const hits = await index.search(query, 10);
    expect(index.stats()).toMatchObject({ mode: "exact", size: 500, deadRows: 0 });
    const expected = ids
      .slice(2500)
      .map((id, i) => ({ id, score: row(data, dim, 2500 + i).reduce((s, x, d) => s + x * query[d], 0) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    expect(hits.map((h) => h.id)).toEqual(expected.map((h) => h.id));
  });
});

describe("embedded vector index: bulkLoad and options", () => {
  it("bulkLoad matches upsert, replaces existing ids and keeps the last of repeated ids", async () => {
    const dim = 4;
    const index = createEmbeddedVectorIndex({ dim });
    await index.upsert([{ id: "a", vector: Float32Array.of(9, 9, 9, 9) }]);
    index.bulkLoad(["a", "b", "a"], Float32Array.of(1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0));
    expect(await index.size()).toBe(2);
    expect(Array.from((await index.get("a"))!)).toEqual([2, 0, 0, 0]);
    expect((await index.search(Float32Array.of(1, 1, 0, 0), 2)).map((h) => h.id)).toEqual(["a", "b"]);
  });

  it("bulkLoad rejects a matrix of the wrong size, bad ids and non-finite values without loading anything", () => {
    const index = createEmbeddedVectorIndex({ dim: 2 });
    const codeOf = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return err instanceof ReelfeedError ? `${err.code}:${err.details.argument}` : String(err);
      }
      return "no error";
    };
    expect(codeOf(() => index.bulkLoad(["a", "b"], new Float32Array(3)))).toBe("BAD_USER_INPUT:matrix");
    expect(codeOf(() => index.bulkLoad(["a", ""], new Float32Array(4)))).toBe("BAD_USER_INPUT:ids[1]");
    expect(codeOf(() => index.bulkLoad(["a", "b"], Float32Array.of(0, 1, Infinity, 0)))).toBe("BAD_USER_INPUT:matrix[1]");
    expect(index.stats().size).toBe(0);
  });

  it("grows storage by doubling past the initial capacity", async () => {
    const index = createEmbeddedVectorIndex({ dim: 3, initialCapacity: 2, exactThreshold: Infinity });
    await index.upsert(Array.from({ length: 37 }, (_, i) => ({ id: `g${i}`, vector: Float32Array.of(i, 1, 0) })));
    expect(await index.size()).toBe(37);
    expect(Array.from((await index.get("g36"))!)).toEqual([36, 1, 0]);
    expect((await index.search(Float32Array.of(1, 0, 0), 1))[0]).toEqual({ id: "g36", score: 36 });
  });

  it("rejects invalid options with BAD_USER_INPUT", () => {
    expect(() => createEmbeddedVectorIndex({ dim: 0 })).toThrow(ReelfeedError);
    expect(() => createEmbeddedVectorIndex({ dim: 4, nprobe: 0 })).toThrow(/nprobe/);
  });
});

/** Small integer components: every inner product is an integer well inside float32, so exact in the kernel too. */
function integerData(n: number, dim: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n * dim }, () => Math.floor(rand() * 7) - 3);
}

/** The oracle: all rows by float64 inner product, best first, ties by id. */
function bruteForce(ids: readonly string[], data: Float32Array, dim: number, query: Float32Array, skip: ReadonlySet<string> = new Set()) {
  return ids
    .map((id, i) => ({ id, score: row(data, dim, i).reduce((s, x, d) => s + x * query[d], 0) }))
    .filter((h) => !skip.has(h.id))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

describe("embedded vector index: SIMD scan", () => {
  // Integer scores tie all the time: which rows make the cut at the k-th score must depend on ids alone, not on
  // the order rows were written or scanned in, nor on when the top-k buffer was cut back.
  for (const dim of [5, 64, 65]) {
    it(`returns exactly the best k by score, then id, at dim ${dim} (exact scan and every IVF list probed)`, async () => {
      const n = 4000;
      const data = integerData(n, dim, dim);
      // Written in shuffled order, so row order is not id order.
      const order = Array.from({ length: n }, (_, i) => i);
      const rand = seededRandom(dim + 100);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      const ids = order.map((i) => `v${String(i).padStart(5, "0")}`);
      const matrix = new Float32Array(n * dim);
      order.forEach((src, i) => matrix.set(row(data, dim, src), i * dim));
      const exact = createEmbeddedVectorIndex({ dim, exactThreshold: Infinity, queryCacheSize: 0 });
      const ivf = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 16, nprobe: 16, queryCacheSize: 0 });
      exact.bulkLoad(ids, matrix);
      ivf.bulkLoad(ids, matrix);
      const queries = integerData(4, dim, dim + 7);
      for (let q = 0; q < 4; q++) {
        const query = row(queries, dim, q);
        const skip = new Set(ids.filter((_, i) => i % 7 === q));
        const truth = bruteForce(ids, matrix, dim, query, skip);
        for (const k of [1, 7, 50, 300, n]) {
          const want = truth.slice(0, k);
          expect(await exact.search(query, k, { excludeIds: skip })).toEqual(want);
          expect(await ivf.search(query, k, { excludeIds: skip })).toEqual(want);
        }
      }
    });
  }

  it("keeps exact answers through deletes, replacements and compaction at a dim that is not a multiple of 4", async () => {
    const dim = 65;
    const n = 6000;
    const data = integerData(n, dim, 3);
    const ids = Array.from({ length: n }, (_, i) => `v${i}`);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: Infinity, initialCapacity: 16 });
    index.bulkLoad(ids, data);
    const replaced = integerData(100, dim, 4);
    await index.upsert(Array.from({ length: 100 }, (_, i) => ({ id: `v${i}`, vector: row(replaced, dim, i) })));
    await index.delete(ids.slice(1000, 4000));
    expect(index.stats()).toMatchObject({ size: 3000, deadRows: 0 }); // compacted
    const live = [...ids.slice(0, 1000), ...ids.slice(4000)];
    const liveData = new Float32Array(live.length * dim);
    live.forEach((id, i) => liveData.set(i < 100 ? row(replaced, dim, i) : row(data, dim, Number(id.slice(1))), i * dim));
    const got = await index.get("v5");
    expect(got).toHaveLength(dim);
    expect(Array.from(got!)).toEqual(Array.from(row(replaced, dim, 5)));
    const query = row(integerData(1, dim, 9), dim, 0);
    expect(await index.search(query, 40)).toEqual(bruteForce(live, liveData, dim, query).slice(0, 40));
  });

  it("an IVF rebuild moves every live row with its id, dropping dead and replaced rows", async () => {
    const dim = 65;
    const n = 3000;
    const data = integerData(n, dim, 21);
    const ids = Array.from({ length: n }, (_, i) => `v${i}`);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 24, nprobe: 24, queryCacheSize: 0 });
    index.bulkLoad(ids, data);
    const replaced = integerData(300, dim, 22);
    await index.upsert(Array.from({ length: 300 }, (_, i) => ({ id: `v${i * 7}`, vector: row(replaced, dim, i) })));
    await index.delete(ids.filter((_, i) => i % 5 === 1));
    expect(index.stats().deadRows).toBeGreaterThan(0);
    index.buildIndex();
    expect(index.stats()).toMatchObject({ size: n - n / 5, indexedRows: n - n / 5, pendingRows: 0, deadRows: 0 });
    const expected = new Map<string, Float32Array>();
    ids.forEach((id, i) => i % 5 !== 1 && expected.set(id, row(data, dim, i)));
    for (let i = 0; i < 300; i++) if (expected.has(`v${i * 7}`)) expected.set(`v${i * 7}`, row(replaced, dim, i));
    for (const [id, vector] of expected) expect(Array.from((await index.get(id))!)).toEqual(Array.from(vector));
    const liveIds = [...expected.keys()];
    const liveData = new Float32Array(liveIds.length * dim);
    liveIds.forEach((id, i) => liveData.set(expected.get(id)!, i * dim));
    const query = row(integerData(1, dim, 23), dim, 0);
    expect(await index.search(query, 100)).toEqual(bruteForce(liveIds, liveData, dim, query).slice(0, 100));
  });

  it("ranks a score that overflows float32 into NaN last instead of losing it", async () => {
    const index = createEmbeddedVectorIndex({ dim: 2, exactThreshold: Infinity });
    await index.upsert([
      { id: "huge", vector: Float32Array.of(1e30, 1e30) },
      { id: "b", vector: Float32Array.of(1, 0) },
      { id: "c", vector: Float32Array.of(0, 1) },
    ]);
    // 1e60 - 1e60 in float32 is Infinity - Infinity.
    const hits = await index.search(Float32Array.of(1e30, -1e30), 3);
    expect(hits).toEqual([
      { id: "b", score: Math.fround(1e30) },
      { id: "c", score: -Math.fround(1e30) },
      { id: "huge", score: -Infinity },
    ]);
  });

  it("IVF recall@100 against exact search is at least 0.9 on 20k × 65 clustered vectors (a dim the kernel pads)", async () => {
    const { recall, ivf } = await ivfRecall(20_000, 65, 60, 5, 5_000);
    expect(ivf.stats().mode).toBe("ivf");
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });
});

/** A real HTTP server answering every request with `status`: stands in for a failing Qdrant. */
async function answering(status: number): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: { error: "test" } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function closedPortUrl(scheme: string): Promise<string> {
  const { server, url } = await answering(200);
  await new Promise((resolve) => server.close(resolve));
  return url.replace("http", scheme);
}

describe("Qdrant adapter without a server", () => {
  it("maps ids to stable RFC 4122 version-5 UUIDs", () => {
    const a = qdrantPointId("video-1");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(qdrantPointId("video-1")).toBe(a);
    expect(qdrantPointId("video-2")).not.toBe(a);
    expect(qdrantPointId("")).not.toBe(qdrantPointId(" "));
  });

  it("fails start-up with UNAVAILABLE naming the URL when nothing listens", async () => {
    const url = await closedPortUrl("http");
    const err = await createQdrantVectorIndex({ url, collection: "c", dim: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("UNAVAILABLE");
    expect((err as ReelfeedError).message).toContain(url);
    expect((err as ReelfeedError).details.url).toBe(url);
  });

  it("maps a server error to UNAVAILABLE and a refused API key to BAD_CONFIG", async () => {
    const failing = await answering(503);
    const refusing = await answering(401);
    try {
      const down = await createQdrantVectorIndex({ url: failing.url, collection: "c", dim: 4 }).catch((e: unknown) => e);
      expect((down as ReelfeedError).code).toBe("UNAVAILABLE");
      expect((down as ReelfeedError).details.status).toBe(503);
      const denied = await createQdrantVectorIndex({ url: refusing.url, apiKey: "wrong", collection: "c", dim: 4 }).catch((e: unknown) => e);
      expect((denied as ReelfeedError).code).toBe("BAD_CONFIG");
      expect((denied as ReelfeedError).message).toContain("qdrantApiKey");
    } finally {
      failing.server.close();
      refusing.server.close();
    }
  });

  it("rejects a collection name that is not a plain identifier", async () => {
    await expect(createQdrantVectorIndex({ url: "http://127.0.0.1:1", collection: "a/b", dim: 4 })).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
    });
  });
});

describe("openVectorIndex", () => {
  it("opens the embedded index when no Qdrant URL is configured, and loadVectors bulk-loads it", async () => {
    const config = loadConfig({ env: {} });
    const index = await openVectorIndex(config, { name: "videos", dim: 2 });
    expect(index.kind).toBe("embedded");
    expect(isEmbeddedVectorIndex(index)).toBe(true);
    await loadVectors(index, ["a", "b"], Float32Array.of(1, 0, 0, 1));
    expect((await index.search(Float32Array.of(0, 1), 1))[0].id).toBe("b");
    await index.close();
  });

  it("chooses Qdrant when backends.qdrantUrl is set (and fails with UNAVAILABLE when it is down)", async () => {
    const url = await closedPortUrl("http");
    const config = loadConfig({ env: { QDRANT_URL: url } });
    await expect(openVectorIndex(config, { name: "videos", dim: 2 })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(openVectorIndex(loadConfig({ env: {} }), { name: "../x", dim: 2 })).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
  });
});
