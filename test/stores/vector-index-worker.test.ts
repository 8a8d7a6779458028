import { readdirSync, readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createIvfBuildWorker, spawnIvfBuildThread, type IvfBuildWorker } from "../../src/stores/vector-build-worker";
import { createEmbeddedVectorIndex } from "../../src/stores/vector-index-embedded";
import { buildIvfLayoutSteps, type IvfLayout } from "../../src/stores/vector-ivf-lists";
import { runToEnd } from "../../src/stores/vector-time-slices";
import { clusteredVectors } from "../../src/testkit/clustered-vectors";
import { seededRandom } from "../../src/util/random";
import { bruteForce, expectSwapKeptWrites, ids, integerVector, writeThroughRebuild } from "./vector-oracle";

/**
 * The embedded index's rebuilds on the build thread (issue 11: a catalogue load's rebuilds were most of the serving
 * thread's extra CPU): the thread builds what a build in slices here builds, a rebuild with writes during it loses,
 * duplicates and revives nothing, a dropped rebuild stops the thread's work, and a failed one is retried.
 */

/** `n × dim` dense vectors as kernel rows (`stride` floats each, zero-padded), as the index hands them over. */
function padded(data: Float32Array, n: number, dim: number): Float32Array {
  const stride = Math.ceil(dim / 4) * 4;
  const out = new Float32Array(n * stride);
  for (let i = 0; i < n; i++) out.set(data.subarray(i * dim, (i + 1) * dim), i * stride);
  return out;
}

/** A build worker that notes each build's start and result. */
function watched(inner: IvfBuildWorker) {
  const results: Array<IvfLayout | undefined> = [];
  let startedBuild!: () => void;
  const started = new Promise<void>((resolve) => (startedBuild = resolve));
  const worker: IvfBuildWorker = {
    async build(request) {
      startedBuild();
      const out = await inner.build(request);
      results.push(out);
      return out;
    },
    close: () => inner.close(),
  };
  return { worker, results, started };
}

const workers: IvfBuildWorker[] = [];
const newWorker = (options?: Parameters<typeof createIvfBuildWorker>[0]) => {
  const w = createIvfBuildWorker(options);
  workers.push(w);
  return w;
};
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

describe("IVF build thread", () => {
  it("builds the same lists and layout as a build on this thread (65-wide rows, padded; two-level quantiser)", async () => {
    const dim = 65;
    const n = 12_000;
    const data = clusteredVectors(n, dim, 60, 4);
    const rows = padded(data, n, dim);
    const here = runToEnd(buildIvfLayoutSteps(rows.slice(), dim, { nlist: 400, seed: 5 }));
    const there = await newWorker().build({ dim, nlist: 400, seed: 5, rows: rows.slice() });
    expect(there).toBeDefined();
    expect(there!.quantiser.nlist).toBeGreaterThan(64);
    expect(Array.from(there!.listStart)).toEqual(Array.from(here.listStart));
    expect(Array.from(there!.dest)).toEqual(Array.from(here.dest));
    expect(Array.from(there!.quantiser.centroids)).toEqual(Array.from(here.quantiser.centroids));
    expect(Array.from(there!.quantiser.childStart)).toEqual(Array.from(here.quantiser.childStart));
    // The rows come back laid out: input row i at dest[i], padding still zero.
    const stride = 68;
    for (const i of [0, 1, 777, n - 1]) {
      const at = there!.dest[i] * stride;
      expect(Array.from(there!.rows.subarray(at, at + stride))).toEqual(Array.from(rows.subarray(i * stride, (i + 1) * stride)));
    }
  });

  it("stops a build whose signal aborts and answers undefined; the thread then builds the next one", async () => {
    const dim = 32;
    const n = 60_000;
    const data = clusteredVectors(n, dim, 100, 8);
    const worker = newWorker();
    const abort = new AbortController();
    const first = worker.build({ dim, nlist: 2000, seed: 1, rows: padded(data, n, dim), signal: abort.signal });
    abort.abort();
    expect(await first).toBeUndefined();
    const next = await worker.build({ dim, nlist: 50, seed: 1, rows: padded(data, 5000, dim) });
    expect(next?.dest).toHaveLength(5000);
  });

  it("fails the builds in flight when the thread dies, and starts a new thread for the next", async () => {
    const dim = 16;
    const n = 80_000;
    const data = clusteredVectors(n, dim, 100, 2);
    let threads: Worker[] = [];
    const worker = newWorker({
      spawn: (data) => {
        const w = spawnIvfBuildThread(data);
        threads.push(w);
        return w;
      },
    });
    await worker.build({ dim, nlist: 20, seed: 1, rows: padded(data, 2000, dim) });
    const building = worker.build({ dim, nlist: 2000, seed: 1, rows: padded(data, n, dim) });
    await threads[0].terminate();
    await expect(building).rejects.toThrow(/build thread exited/);
    threads = [];
    expect((await worker.build({ dim, nlist: 20, seed: 1, rows: padded(data, 2000, dim) }))?.dest).toHaveLength(2000);
    expect(threads).toHaveLength(1);
  });
});

/** Nice values of this process's threads, by thread id (Linux: /proc/self/task/<tid>/stat, field 19). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

describe.runIf(process.platform === "linux")("IVF build thread priority", () => {
  it("runs at the nice value asked for, and only that thread does", async () => {
    const before = threadNices();
    expect(before.get(process.pid)).not.toBe(13);
    const worker = newWorker({ nice: 13 });
    const dim = 8;
    await worker.build({ dim, nlist: 10, seed: 1, rows: padded(clusteredVectors(1000, dim, 10, 1), 1000, dim) });
    const during = threadNices();
    expect([...during].filter(([, nice]) => nice === 13)).toHaveLength(1);
    expect(during.get(process.pid)).toBe(before.get(process.pid));
    await worker.close();
    expect([...threadNices().values()].filter((nice) => nice === 13)).toHaveLength(0);
  });
});

describe("embedded vector index: rebuilds on the build thread", () => {
  it("searches during the rebuild see every upsert, replacement and delete made during it; the swap keeps exactly those", async () => {
    const dim = 16;
    const n = 40_000;
    const rand = seededRandom(21);
    const { worker, results } = watched(newWorker());
    // Every list probed: IVF answers must then equal the oracle's exactly, whatever list a row sits in.
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, nlist: 64, nprobe: 64, probeRows: 0, syncBuildRows: 1000, buildSliceMs: 1, buildWorker: worker, retrainGrowth: 1 });
    const writes = await writeThroughRebuild(index, { dim, n, grow: 10_000, rand, checkEvery: 5, pause: () => new Promise((resolve) => setTimeout(resolve, 2)) });
    expect(writes.turns).toBeGreaterThan(3);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(index.stats()).toMatchObject({ rebuilding: false, backgroundBuilds: 1, workerBuilds: 1, size: writes.live.size });
    expect(index.stats().indexedRows).toBeGreaterThan(n);
    await expectSwapKeptWrites(index, writes, rand, dim);
    await index.close();
  });

  it("swaps in the same lists as a rebuild in slices on this thread (same writes, same answers at the default probes)", async () => {
    const dim = 24;
    const n = 30_000;
    const data = clusteredVectors(n + 9000, dim, 80, 6);
    const all = ids(n + 9000);
    const make = (buildWorker: IvfBuildWorker | null) => createEmbeddedVectorIndex({ dim, exactThreshold: 0, syncBuildRows: 1000, buildWorker, retrainGrowth: 1 });
    const threaded = make(newWorker());
    const sliced = make(null);
    for (const index of [threaded, sliced]) {
      index.bulkLoad(all.slice(0, n), data.subarray(0, n * dim));
      await index.upsert(all.slice(n).map((id, i) => ({ id, vector: data.slice((n + i) * dim, (n + i + 1) * dim) })));
      expect(index.stats().rebuilding).toBe(true);
      await index.whenBuilt();
    }
    expect(threaded.stats()).toMatchObject({ backgroundBuilds: 1, workerBuilds: 1, pendingRows: 0 });
    expect(sliced.stats()).toMatchObject({ backgroundBuilds: 1, workerBuilds: 0, pendingRows: 0 });
    expect(threaded.stats().nlist).toBe(sliced.stats().nlist);
    for (let q = 0; q < 40; q++) {
      const query = data.slice(q * 997 * dim, (q * 997 + 1) * dim);
      expect(await threaded.search(query, 50)).toEqual(await sliced.search(query, 50));
    }
    await threaded.close();
    await sliced.close();
  });

  it("close() during a rebuild stops the build thread's work; the index answers nothing after, and the thread goes on", async () => {
    const dim = 32;
    const n = 90_000;
    const data = clusteredVectors(n, dim, 100, 12);
    const inner = newWorker();
    const { worker, results, started } = watched(inner);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, syncBuildRows: 1000, buildWorker: worker, retrainGrowth: 1 });
    index.bulkLoad(ids(70_000), data.subarray(0, 70_000 * dim));
    await index.upsert(ids(20_000, "g").map((id, i) => ({ id, vector: data.slice((70_000 + i) * dim, (70_001 + i) * dim) })));
    expect(index.stats().rebuilding).toBe(true);
    // Once the rows are on the build thread (a build of 90k rows there takes far longer than the close below).
    await started;
    await index.close();
    await index.whenBuilt();
    expect(index.stats()).toMatchObject({ rebuilding: false, backgroundBuilds: 0 });
    expect(index.stats().lastBuildError).toBeUndefined();
    await expect(index.search(data.slice(0, dim), 5)).rejects.toThrow(/closed/);
    // The thread stopped the build (answered undefined) rather than finish it.
    await vi.waitFor(() => expect(results).toEqual([undefined]), { timeout: 30_000 });
    expect((await inner.build({ dim, nlist: 20, seed: 1, rows: padded(data, 2000, dim) }))?.dest).toHaveLength(2000);
  });

  it("a rebuild that fails on the build thread is retried after 10 s in slices on this thread; the one after uses the thread again", async () => {
    const dim = 8;
    const rand = seededRandom(4);
    let threads = 0;
    let failing = true;
    // A thread that dies at start while `failing`, the real one after.
    const worker = newWorker({
      spawn: (data) => {
        threads++;
        return failing ? new Worker("throw new Error('no build thread here')", { eval: true }) : spawnIvfBuildThread(data);
      },
    });
    let now = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const index = createEmbeddedVectorIndex({ dim, exactThreshold: 0, syncBuildRows: 1000, buildSliceMs: 1, buildWorker: worker, retrainGrowth: 1 });
    const vectors = (count: number, prefix: string) => ids(count, prefix).map((id) => ({ id, vector: integerVector(rand, dim) }));
    const live = new Map<string, Float32Array>();
    const write = async (items: Array<{ id: string; vector: Float32Array }>) => {
      await index.upsert(items);
      for (const { id, vector } of items) live.set(id, vector);
    };
    index.bulkLoad(ids(5000, "a"), Float32Array.from({ length: 5000 * dim }, () => Math.floor(rand() * 7) - 3));
    for (let i = 0; i < 5000; i++) live.set(`a${i}`, (await index.get(`a${i}`))!);
    await write(vectors(2000, "b"));
    expect(index.stats().rebuilding).toBe(true);
    await index.whenBuilt();
    expect(index.stats()).toMatchObject({ rebuilding: false, backgroundBuilds: 0 });
    expect(index.stats().lastBuildError).toMatch(/build thread/);
    // Searches go on over the current lists (the new rows pending in them) meanwhile.
    const query = integerVector(rand, dim);
    expect((await index.search(query, 10)).map((h) => h.score)).toEqual(bruteForce(live, query, 10).map((h) => h.score));
    // Not before 10 s.
    await write(vectors(10, "c"));
    expect(index.stats().rebuilding).toBe(false);
    now += 10_001;
    await write(vectors(10, "d"));
    expect(index.stats().rebuilding).toBe(true);
    await index.whenBuilt();
    expect(index.stats()).toMatchObject({ backgroundBuilds: 1, workerBuilds: 0, pendingRows: 0, size: live.size });
    // The next rebuild goes to the thread again (a new one: the failed one is gone).
    failing = false;
    await write(vectors(2500, "e"));
    expect(index.stats().rebuilding).toBe(true);
    await index.whenBuilt();
    expect(index.stats()).toMatchObject({ backgroundBuilds: 2, workerBuilds: 1, size: live.size });
    expect(threads).toBe(2);
    const everything = await index.search(query, live.size);
    expect(new Set(everything.map((h) => h.id))).toEqual(new Set(live.keys()));
    await index.close();
  });
});
