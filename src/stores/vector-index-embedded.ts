import { badInput, ReelfeedError } from "../errors";
import { checkVectorArgs } from "./vector-args";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "./vector-index";
import { sharedIvfBuildWorker, type IvfBuildWorker } from "./vector-build-worker";
import { buildIvfLists, buildIvfListsSteps, defaultNlist, imbalanceFactor, ivfListsFromLayout, permuteRows, relayoutIvfListsSteps, type IvfLists } from "./vector-ivf-lists";
import { createVectorKernel, KERNEL_BATCH_ROWS, type VectorKernel } from "./vector-kernel";
import { createVectorQueryCache } from "./vector-query-cache";
import { runSliced, type Steps } from "./vector-time-slices";
import { TopK } from "./vector-top-k";

/** The argument checks both implementations share (vector-args.ts), exported here as before. */
export { checkVectorArgs };

/**
 * Options for the in-process vector index: the default, no server needed. Vectors live in one row-major float32
 * matrix in WebAssembly memory (grown by doubling), scored by a SIMD kernel (vector-kernel.ts); search is exact
 * brute force while the index is small and IVF-flat (k-means coarse quantiser, probe the nearest lists: `nprobe`
 * of them and `probeRows` rows at least) once it passes `exactThreshold`. Scores are float32 sums, as in FAISS; hits are ordered by score, then id.
 *
 * The concepts live in files of their own: the inverted lists (vector-ivf-lists.ts), the k-means that trains them
 * (vector-coarse-quantiser.ts), the best-k selection (vector-top-k.ts) and the query cache (vector-query-cache.ts).
 * This file holds the rows, their ids, the search that puts those together, and the rebuild.
 *
 * A rebuild (lists gone stale, see `rebuildFraction`) of an index of `syncBuildRows` rows or more never runs inside
 * a search: its heavy part runs on the build thread (`buildWorker`, vector-build-worker.ts), and what is left on
 * this thread runs in time slices of `buildSliceMs` between other work on the event loop (vector-time-slices.ts),
 * while searches go on over the current rows and lists. Meanwhile the index only appends (a replaced vector dies and
 * its new row is added, as in IVF mode) and notes every row that dies, so the rows the rebuild reads keep their
 * vectors. The rebuild copies the live rows (in slices, for the build thread), trains the quantiser on a sample,
 * assigns the live rows and lays them out list by list (on the build thread, or in slices here without one) — or,
 * while the data keeps its shape (`retrainGrowth`), keeps the centroids and lays each live row out in the list it is
 * already in (in slices here: no training, no assignment) — puts them into a new matrix, then copies the rows added
 * meanwhile as pending rows of their new lists, and in one step (no yield) marks the rows that died meanwhile and
 * swaps the new matrix, ids and lists in: nothing written meanwhile is lost or found twice, and nothing deleted
 * comes back.
 */
export interface EmbeddedVectorIndexOptions {
  /** Vector length; every upserted vector and every query must have it. */
  dim: number;
  /**
   * Below this many live vectors search is exact brute force; at or above it an IVF-flat index is used.
   * 0 forces IVF at any size, Infinity forces exact search.
   * @default 16384
   */
  exactThreshold?: number;
  /**
   * Inverted lists probed per query. More lists probed: better recall, slower queries. When the probed lists hold
   * fewer than k eligible vectors (after excludeIds) further lists are probed until k are found or none are left.
   * @default 32
   */
  nprobe?: number;
  /**
   * Rows a query scans at least: lists are probed, nearest first, until `nprobe` lists and `probeRows` rows laid
   * out at the last build have been scanned (the rows added since, pending in those lists, are scanned besides). What recall depends on is how many candidates are scanned (a list's share of the true neighbours
   * shrinks with the list), and small lists rank better (see `nlist`): the two together let the lists be small
   * without the probes becoming too few. 0 probes `nprobe` lists only, as FAISS does. @default 4096
   */
  probeRows?: number;
  /**
   * Inverted lists per build; 0 picks 8·sqrt(N) (at most 16,384) at each build: see `LISTS_PER_SQRT_N` in
   * vector-ivf-lists.ts for why that many. @default 0
   */
  nlist?: number;
  /**
   * The IVF lists are rebuilt once vectors added, replaced or deleted since the last build exceed this fraction
   * of the indexed count (in the background from `syncBuildRows` on, see there). Until then a new vector joins the
   * list of its nearest centroid at once (a pending row of that list), so it is found like any other; what a
   * rebuild restores is the layout (pending rows are scored scattered, dead rows still scanned) and centroids
   * that follow the data. @default 0.2
   */
  rebuildFraction?: number;
  /**
   * What a rebuild does: new centroids (k-means on a sample, every row assigned again: the heavy part, on the build
   * thread) only once the live count has grown to `retrainGrowth` times, or shrunk to 1/`retrainGrowth` of, the
   * count the centroids were trained on, or the lists have grown unbalanced (FAISS's imbalance factor half as high
   * again as after training: new data piling into a few lists, while the last training did spread the lists out).
   * Otherwise it keeps the centroids and lays the rows out again in the lists they are already in: a copy, in time
   * slices here, with no k-means and no assignment.
   * Beside a catalogue load of 2,000 videos/s a 100k index rebuilds every ~10 s, and training each time was most
   * of the load's CPU (docs/benchmarks.md). 1 trains at every rebuild. @default 2
   */
  retrainGrowth?: number;
  /**
   * Below this many live vectors a (re)build runs at once, inside the search that finds the lists stale (it takes
   * milliseconds); from it on a rebuild runs in the background (see above) and searches use the current lists until
   * it is done. The first build of an index loaded row by row runs in the background too (searches stay exact
   * meanwhile). `bulkLoad` and `buildIndex` always build at once. @default 8192
   */
  syncBuildRows?: number;
  /** Milliseconds of background rebuild work on this thread between turns of the event loop. @default 4 */
  buildSliceMs?: number;
  /**
   * Where a background rebuild's heavy part (k-means, assignment, layout) runs: a build thread, or null for time
   * slices on this thread. Measured beside a catalogue load (docs/benchmarks.md), the slices were most of the
   * serving thread's extra CPU. A build that fails on the thread is retried (after 10 s, as any failed rebuild) in
   * slices on this thread, so a thread that cannot start never leaves the lists stale for good; the rebuild after
   * that tries the thread again. @default the process's shared build thread (sharedIvfBuildWorker)
   */
  buildWorker?: IvfBuildWorker | null;
  /** Initial row capacity; grows by doubling. @default 1024 */
  initialCapacity?: number;
  /** Seed for the k-means sample and initialisation, so builds (and so results) are reproducible. @default 1 */
  seed?: number;
  /**
   * Query vectors whose results are cached (least recently used evicted); 0 turns the cache off. A feed request
   * searches the neighbours of the same few videos again and again (a user's recent watches, the watch-next seed,
   * the same per-category mean vectors on the next page or refresh), and the neighbours of a fixed vector do not
   * change until the index does. A vector is cached on its second search (a one-off query, such as a user-tower
   * embedding that carries the request time, never fills the cache). With IVF lists a write drops only the entries
   * it can change; in exact mode, and at a rebuild, it is cleared. Answers are the uncached ones: see
   * vector-query-cache.ts. @default 4096
   */
  queryCacheSize?: number;
}

export interface EmbeddedVectorIndexStats {
  size: number;
  mode: "exact" | "ivf";
  /** Inverted lists in the current build; 0 when there is none. */
  nlist: number;
  /** Vectors laid out in the lists at the last build. */
  indexedRows: number;
  /** Rows added since the last build (pending rows of their lists, live or since replaced or deleted). */
  pendingRows: number;
  /** Deleted or replaced rows still occupying storage. */
  deadRows: number;
  /** Whether a background rebuild is in progress. */
  rebuilding: boolean;
  /** Background rebuilds swapped in since the index was created. */
  backgroundBuilds: number;
  /** Of those, the ones built on the build thread (the rest ran in slices on this thread). */
  workerBuilds: number;
  /** Of those, the ones that kept the centroids and only laid the rows out again (see `retrainGrowth`). */
  relaidOut: number;
  /** Searches answered from the query cache since the index was created. */
  queryCacheHits: number;
  /** The message of the last background rebuild that failed (it is retried after 10 s); undefined when none did. */
  lastBuildError?: string;
}

export interface EmbeddedVectorIndex extends VectorIndex {
  readonly kind: "embedded";
  /**
   * Loads many vectors at once from one row-major matrix (`ids.length × dim`), e.g. a bundle's embedding matrix,
   * without a per-item object. Upsert semantics: an existing id is replaced; a repeated id keeps its last row.
   * Builds the IVF lists right away when the index is then large enough, so the first query does not pay for it.
   */
  bulkLoad(ids: readonly string[], matrix: Float32Array): void;
  /** Builds (or rebuilds) the IVF lists now instead of at the next search; a no-op below `exactThreshold`. */
  buildIndex(): void;
  /**
   * Changes how far later searches probe (as FAISS sets `nprobe` on a built index), keeping the lists: a
   * recall/speed curve needs one build, not one per point. Options left out keep their value.
   */
  setProbes(probes: Pick<EmbeddedVectorIndexOptions, "nprobe" | "probeRows">): void;
  stats(): EmbeddedVectorIndexStats;
  /** Resolves once no background rebuild is in progress (at once when none is). */
  whenBuilt(): Promise<void>;
}

export function createEmbeddedVectorIndex(options: EmbeddedVectorIndexOptions): EmbeddedVectorIndex {
  const {
    dim,
    exactThreshold = 16_384,
    nlist: fixedNlist = 0,
    rebuildFraction = 0.2,
    initialCapacity = 1024,
    seed = 1,
    queryCacheSize = 4096,
    syncBuildRows = 8192,
    buildSliceMs = 4,
    retrainGrowth = 2,
  } = options;
  const buildWorker = options.buildWorker === undefined ? sharedIvfBuildWorker() : options.buildWorker;
  if (!Number.isInteger(dim) || dim <= 0) throw badInput("dim", `expected a positive integer, got ${dim}`);
  let nprobe = 32;
  let probeRows = 4096;
  const setProbes = (probes: Pick<EmbeddedVectorIndexOptions, "nprobe" | "probeRows">): void => {
    const { nprobe: lists = nprobe, probeRows: floor = probeRows } = probes;
    if (!Number.isInteger(lists) || lists <= 0) throw badInput("nprobe", `expected a positive integer, got ${lists}`);
    if (!Number.isInteger(floor) || floor < 0) throw badInput("probeRows", `expected a non-negative integer, got ${floor}`);
    nprobe = lists;
    probeRows = floor;
  };
  setProbes(options);
  if (!Number.isInteger(fixedNlist) || fixedNlist < 0) throw badInput("nlist", `expected a non-negative integer, got ${fixedNlist}`);
  if (!(exactThreshold >= 0)) throw badInput("exactThreshold", `expected a non-negative number, got ${exactThreshold}`);
  if (!(retrainGrowth >= 1)) throw badInput("retrainGrowth", `expected a number of at least 1, got ${retrainGrowth}`);

  /** The vectors are rows [0, rows) of its matrix. Its views go stale when it grows: never keep one across a write. */
  let kernel = createVectorKernel(dim, Math.max(1, initialCapacity));
  const stride = kernel.stride;
  /** row → id; undefined marks a dead row (deleted, or replaced by a newer row). */
  let rowIds: (string | undefined)[] = [];
  let rowOf = new Map<string, number>();
  /** High-water mark: rows [0, rows) are used, live or dead. */
  let rows = 0;
  let ivf: IvfLists | null = null;
  /** Dead rows inside the IVF-indexed region; they count towards the next rebuild. */
  let deadIndexed = 0;
  let closed = false;
  /** Per-row "excluded from this search" marks (search below); all zero between searches. */
  let excludedMarks = new Uint8Array(0);
  const topK = new TopK();
  const cache = createVectorQueryCache(dim, queryCacheSize);
  /** The background rebuild in progress (RebuildJob, at the end of this file). */
  let rebuild: RebuildJob | null = null;
  /** Stops the background rebuild, if any (its runner sees `rebuild` changed; the build thread is told to stop). */
  const dropRebuild = (): void => {
    rebuild?.abort.abort();
    rebuild = null;
  };
  let backgroundBuilds = 0;
  let workerBuilds = 0;
  let relaidOut = 0;
  /**
   * The live count and the lists' imbalance factor when the current centroids were trained, and whether that
   * training spread the lists out (false when new centroids left them nearly as unbalanced as before: many
   * near-identical vectors, such as video-tower vectors of new uploads that have no engagement yet, which no
   * centroids can split; training again for imbalance would then only cost CPU, so only growth retrains).
   */
  let trained = { live: 0, imbalance: 1, spread: true };
  /** The last rebuild failed on the build thread: the next one runs in slices here. */
  let nextBuildHere = false;
  let queryCacheHits = 0;
  let lastBuildError: string | undefined;
  let retryBuildAfter = 0;

  const assertOpen = () => {
    if (closed) throw new ReelfeedError("UNAVAILABLE", "embedded vector index is closed");
  };

  const kill = (row: number): void => {
    // With IVF lists the query cache skips dead rows (vector-query-cache.ts); exact mode overwrites rows in place.
    if (!ivf) cache.clear();
    rowIds[row] = undefined;
    if (ivf && row < ivf.indexedRows) deadIndexed++;
    rebuild?.killed.push(row);
  };

  /** Appends or overwrites one vector given as `src[srcOffset .. srcOffset+dim)`. */
  const put = (id: string, src: ArrayLike<number>, srcOffset: number): void => {
    if (!ivf) cache.clear();
    const existing = rowOf.get(id);
    // In exact mode a row is overwritten in place. With IVF lists a row sits in the list of its old vector, so it
    // dies and the new vector is appended, joining the list of its own nearest centroid; so too while a rebuild
    // reads the rows.
    if (existing !== undefined && !ivf && !rebuild) {
      kernel.setRow(existing, src, srcOffset);
      return;
    }
    if (existing !== undefined) kill(existing);
    kernel.ensureCapacity(rows + 1);
    kernel.setRow(rows, src, srcOffset);
    rowIds[rows] = id;
    rowOf.set(id, rows);
    if (ivf) cache.added(ivf.addPending(kernel.matrix, stride, rows), kernel.matrix, rows * stride);
    rows++;
  };

  /** Drops dead rows in exact mode, keeping row order; amortised by only running when many rows are dead. */
  const maybeCompact = (): void => {
    const dead = rows - rowOf.size;
    if (ivf || rebuild || dead < Math.max(1024, rows >> 2)) return;
    const m = kernel.matrix;
    let w = 0;
    for (let r = 0; r < rows; r++) {
      const id = rowIds[r];
      if (id === undefined) continue;
      if (w !== r) {
        // Whole strides: the zero padding moves with the row.
        m.copyWithin(w * stride, r * stride, (r + 1) * stride);
        rowIds[w] = id;
        rowOf.set(id, w);
      }
      w++;
    }
    rowIds.length = w;
    rows = w;
  };

  const buildIvf = (): void => {
    // A build now supersedes one in the background (which reads rows this one moves).
    dropRebuild();
    cache.clear();
    const live = rowOf.size;
    const liveRows = new Int32Array(live);
    let n = 0;
    for (let r = 0; r < rows; r++) if (rowIds[r] !== undefined) liveRows[n++] = r;
    const { lists, dest: liveDest } = buildIvfLists(kernel, liveRows, { nlist: fixedNlist || defaultNlist(live), seed });
    // Where each row goes: live rows to their list's range, dead rows to the positions past them, then dropped.
    const dest = new Int32Array(rows);
    const nextIds: string[] = new Array(live);
    for (let i = 0; i < live; i++) {
      const from = liveRows[i];
      const to = liveDest[i];
      dest[from] = to;
      const id = rowIds[from] as string;
      nextIds[to] = id;
    }
    for (let r = 0, spare = live; r < rows; r++) if (rowIds[r] === undefined) dest[r] = spare++;
    // Nothing past this point can fail half way: the index changes all at once.
    permuteRows(kernel.matrix, stride, dest);
    ivf?.dispose();
    rowIds = nextIds;
    // Overwriting the live entries in place: a fresh map of 1M ids cost a build three times as much.
    for (let to = 0; to < live; to++) rowOf.set(nextIds[to], to);
    rows = live;
    deadIndexed = 0;
    ivf = lists;
    trained = { live, imbalance: imbalanceFactor(lists), spread: true };
  };

  /** Whether the next rebuild trains new centroids (see `retrainGrowth`), given the current lists' imbalance factor. */
  const needsTraining = (imbalance: number): boolean => {
    const live = rowOf.size;
    if (retrainGrowth === 1 || live >= retrainGrowth * trained.live || live * retrainGrowth <= trained.live) return true;
    return trained.spread && imbalance > 1.5 * trained.imbalance;
  };

  const ivfIsStale = (lists: IvfLists): boolean =>
    rows - lists.indexedRows + deadIndexed > rebuildFraction * Math.max(1, lists.indexedRows);

  const listsNeeded = (): boolean => rowOf.size >= exactThreshold && rowOf.size > 0;

  /** Starts a background rebuild when the lists are missing or stale and none runs (nor failed in the last 10 s). */
  const maybeRebuildInBackground = (): void => {
    if (rebuild || closed || !listsNeeded() || (ivf && !ivfIsStale(ivf)) || Date.now() < retryBuildAfter) return;
    const imbalanceBefore = ivf ? imbalanceFactor(ivf) : Infinity;
    const relayout = ivf !== null && !needsTraining(imbalanceBefore);
    const worker = relayout || nextBuildHere ? null : buildWorker;
    if (!relayout) nextBuildHere = false;
    const job: RebuildJob = { killed: [], done: Promise.resolve(), abort: new AbortController(), imbalanceBefore };
    rebuild = job;
    const cancelled = () => rebuild !== job || closed;
    const run = relayout
      ? runSliced(relayoutSteps(job, ivf!), { sliceMs: buildSliceMs, cancelled })
      : worker
        ? rebuildWithWorker(job, worker, cancelled)
        : runSliced(rebuildSteps(job), { sliceMs: buildSliceMs, cancelled });
    job.done = run.then(
      () => undefined,
      (err: unknown) => {
        if (rebuild !== job) return;
        rebuild = null;
        lastBuildError = err instanceof Error ? err.message : String(err);
        retryBuildAfter = Date.now() + 10_000;
        if (worker) nextBuildHere = true;
        // A relayout that failed is not tried again: the next rebuild trains.
        if (relayout) trained = { ...trained, live: 0 };
      },
    );
  };

  /**
   * The matrix a background rebuild swapped out, kept for the next rebuild to copy into. Writing a fresh matrix
   * costs its pages being faulted in, several times the copy itself (a 150k × 65 relayout: ~170 against ~25 ms on
   * this thread), and beside a catalogue load the next rebuild comes within seconds. Released after
   * SPARE_KEEP_MS without one, so an index that is not being rebuilt holds one matrix, not two.
   */
  let spare: VectorKernel | null = null;
  let spareTimer: ReturnType<typeof setTimeout> | undefined;
  const releaseSpare = (): void => {
    clearTimeout(spareTimer);
    spareTimer = undefined;
    spare?.dispose();
    spare = null;
  };
  const keepSpare = (old: VectorKernel): void => {
    releaseSpare();
    spare = old;
    spareTimer = setTimeout(releaseSpare, SPARE_KEEP_MS);
    spareTimer.unref?.();
  };
  /** A matrix for at least `rowsNeeded` rows: the spare when it is large enough (its old rows are overwritten or unused). */
  const takeSpare = (rowsNeeded: number): VectorKernel => {
    const needed = Math.max(1, rowsNeeded);
    const reused = spare && spare.capacity >= needed ? spare : null;
    if (reused) {
      clearTimeout(spareTimer);
      spareTimer = undefined;
      spare = null;
      return reused;
    }
    releaseSpare();
    return createVectorKernel(dim, needed);
  };

  /** What a rebuild starts from: the rows it lays out (the live ones at its start), and how many rows there were. */
  interface Snapshot {
    from: VectorKernel;
    snapshotRows: number;
    liveRows: Int32Array;
  }
  const snapshot = (): Snapshot => {
    const liveRows = new Int32Array(rowOf.size);
    let n = 0;
    for (let r = 0; r < rows; r++) if (rowIds[r] !== undefined) liveRows[n++] = r;
    return { from: kernel, snapshotRows: rows, liveRows };
  };

  /**
   * The background rebuild with its heavy part on the build thread: the live rows are copied for it in slices
   * (they keep their vectors while the rebuild runs: the index only appends), it sends them back laid out, and the
   * swap's steps run in slices here. Resolves without a swap when cancelled.
   */
  async function rebuildWithWorker(job: RebuildJob, worker: IvfBuildWorker, cancelled: () => boolean): Promise<void> {
    const snap = snapshot();
    const live = snap.liveRows.length;
    const copy = new Float32Array(live * stride);
    const copied = await runSliced(
      (function* (): Steps<true> {
        for (let i = 0; i < live; i++) {
          if ((i & 4095) === 4095) yield;
          const o = snap.liveRows[i];
          copy.set(snap.from.matrix.subarray(o * stride, (o + 1) * stride), i * stride);
        }
        return true;
      })(),
      { sliceMs: buildSliceMs, cancelled },
    );
    if (!copied || cancelled()) return;
    const layout = await worker.build({ dim, nlist: fixedNlist || defaultNlist(live), seed, rows: copy, signal: job.abort.signal });
    if (!layout || cancelled()) return;
    const swapped = await runSliced(swapSteps(job, snap, ivfListsFromLayout(layout), layout.dest, layout.rows, true), { sliceMs: buildSliceMs, cancelled });
    if (swapped) workerBuilds++;
  }

  /** The background rebuild in slices on this thread (no build thread, or the last build failed there). */
  function* rebuildSteps(job: RebuildJob): Steps<boolean> {
    const snap = snapshot();
    yield;
    const live = snap.liveRows.length;
    const { lists, dest } = yield* buildIvfListsSteps(snap.from, snap.liveRows, { nlist: fixedNlist || defaultNlist(live), seed });
    return yield* swapSteps(job, snap, lists, dest, null, true);
  }

  /** The background rebuild that keeps the centroids (see `retrainGrowth`): the rows laid out again, in slices here. */
  function* relayoutSteps(job: RebuildJob, current: IvfLists): Steps<boolean> {
    const snap = snapshot();
    yield;
    const { lists, dest } = yield* relayoutIvfListsSteps(current, snap.liveRows, snap.snapshotRows);
    const swapped = yield* swapSteps(job, snap, lists, dest, null, false);
    if (swapped) relaidOut++;
    return swapped;
  }

  /**
   * A background rebuild's last part, in steps: the snapshot's rows go to their places in a new matrix (from
   * `laidOut`, the build thread's copy laid out, or row by row from the current matrix), the rows added since are
   * copied as pending rows of their new lists, and the swap. `job` is `rebuild` for as long as it runs: every other
   * way to change the layout (a build at once, falling back to exact search, close) clears it first, and the
   * runner then stops at the next yield.
   */
  function* swapSteps(job: RebuildJob, snap: Snapshot, lists: IvfLists, dest: Int32Array, laidOut: Float32Array | null, trainedNow: boolean): Steps<boolean> {
    const { from, snapshotRows, liveRows } = snap;
    const live = liveRows.length;
    // Room for the rows added meanwhile and the next ones, so the new matrix does not grow right after the swap.
    const to = takeSpare(Math.ceil(1.25 * (live + rows - snapshotRows)));
    const nextIds: (string | undefined)[] = new Array(live);
    const nextRowOf = new Map<string, number>();
    let oldToNew = new Int32Array(Math.max(1, rows)).fill(-1);
    let nextDeadIndexed = 0;
    const copyRow = (o: number, j: number): void => {
      to.matrix.set(from.matrix.subarray(o * stride, (o + 1) * stride), j * stride);
    };
    if (laidOut) {
      // Views are read again after every yield (a write may grow the current matrix; `to` does not grow here).
      for (let at = 0; at < live; at += 8192) {
        const end = Math.min(live, at + 8192);
        to.matrix.set(laidOut.subarray(at * stride, end * stride), at * stride);
        yield;
      }
    }
    // The rows laid out, list by list; a row that died since the snapshot keeps its place, dead.
    for (let i = 0; i < live; i++) {
      if ((i & 2047) === 2047) yield;
      const o = liveRows[i];
      const j = dest[i];
      if (!laidOut) copyRow(o, j);
      oldToNew[o] = j;
      const id = rowIds[o];
      nextIds[j] = id;
      if (id === undefined) nextDeadIndexed++;
      else nextRowOf.set(id, j);
    }
    // The rows added since the snapshot (appended, so past it), as pending rows of their new lists: in steps while
    // many are left, the last few in the swap's step.
    let nextRows = live;
    let caught = snapshotRows;
    const catchUp = (until: number): void => {
      if (oldToNew.length < until) {
        const grown = new Int32Array(Math.max(until, 2 * oldToNew.length)).fill(-1);
        grown.set(oldToNew);
        oldToNew = grown;
      }
      for (; caught < until; caught++) {
        const id = rowIds[caught];
        if (id === undefined) continue;
        to.ensureCapacity(nextRows + 1);
        copyRow(caught, nextRows);
        oldToNew[caught] = nextRows;
        nextIds[nextRows] = id;
        nextRowOf.set(id, nextRows);
        lists.addPending(to.matrix, stride, nextRows);
        nextRows++;
      }
    };
    while (rows - caught > 512) {
      catchUp(Math.min(rows, caught + 512));
      yield;
    }
    // The swap: no yield from here on.
    catchUp(rows);
    for (const o of job.killed) {
      const j = o < oldToNew.length ? oldToNew[o] : -1;
      if (j < 0) continue;
      const id = nextIds[j];
      if (id === undefined) continue;
      nextIds[j] = undefined;
      if (j < live) nextDeadIndexed++;
      if (nextRowOf.get(id) === j) nextRowOf.delete(id);
    }
    if (nextRowOf.size !== rowOf.size) {
      // Cannot happen unless the bookkeeping above is wrong: keep the current layout rather than lose a row.
      to.dispose();
      lists.dispose();
      throw new ReelfeedError("INTERNAL", `background rebuild found ${nextRowOf.size} live rows, the index holds ${rowOf.size}`);
    }
    cache.clear();
    ivf?.dispose();
    keepSpare(from);
    kernel = to;
    rowIds = nextIds;
    rowOf = nextRowOf;
    rows = nextRows;
    deadIndexed = nextDeadIndexed;
    ivf = lists;
    if (trainedNow) {
      const imbalance = imbalanceFactor(lists);
      trained = { live, imbalance, spread: imbalance < 0.5 * job.imbalanceBefore };
    }
    rebuild = null;
    backgroundBuilds++;
    return true;
  }

  /**
   * Chooses the search mode for the current size, (re)building the IVF lists when they are missing or stale: at
   * once below `syncBuildRows`, else in the background while this search uses the current lists (or exact search).
   */
  const prepare = (): IvfLists | null => {
    if (!listsNeeded()) {
      dropRebuild();
      if (ivf) {
        // Entries hold probe-limited answers; exact search answers otherwise.
        cache.clear();
        ivf.dispose();
        ivf = null;
        deadIndexed = 0;
      }
      maybeCompact();
      return null;
    }
    if (!ivf || ivfIsStale(ivf)) {
      if (rowOf.size < syncBuildRows) buildIvf();
      else maybeRebuildInBackground();
    }
    return ivf;
  };

  const cachedSearch = (query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined): VectorHit[] => {
    prepare();
    // A tiny index is scanned whole anyway.
    if (rowOf.size <= k) return search(query, k, excludeIds);
    const answer = cache.lookup(query, k, excludeIds, isLive);
    if (answer === "search") return search(query, k, excludeIds);
    if (answer !== "fill") {
      queryCacheHits++;
      return answer;
    }
    // Second sighting: room for exclusions, exclusions ignored, up to the probe limit only.
    const wide = cache.fillK(k, rowOf.size);
    const probed: Probed = { rows: [], lists: [] };
    const hits = search(query, wide, undefined, probed);
    return cache.fill(query, hits, probed.rows, ivf ? probed.lists : null, wide, k, excludeIds) ?? search(query, k, excludeIds);
  };
  const isLive = (id: string, row: number): boolean => rowIds[row] === id;

  /** What a probe-limited search scanned, for the query cache: the rows of its hits and the lists it probed. */
  interface Probed {
    rows: number[];
    lists: number[];
  }

  /** `probed`: stop at the probe limit, even with fewer than k hits, and say what was scanned. */
  const search = (query: Float32Array, k: number, excludeIds: ReadonlySet<string> | undefined, probed?: Probed): VectorHit[] => {
    // First: a (re)build moves rows, so ids are mapped to rows only after it.
    const lists = prepare();
    // Excluded ids become marks on their rows for this search (cleared after it): the scan checks a few thousand
    // candidate rows per search, and reading a mark is far cheaper than hashing each row's id into the set.
    if (excludedMarks.length < rows) excludedMarks = new Uint8Array(Math.max(rows, 2 * excludedMarks.length));
    const marked: number[] = [];
    if (excludeIds) {
      for (const id of excludeIds) {
        const r = rowOf.get(id);
        if (r !== undefined && excludedMarks[r] === 0) {
          excludedMarks[r] = 1;
          marked.push(r);
        }
      }
    }
    try {
      return scanFor(query, k, rowOf.size - marked.length, lists, probed);
    } finally {
      for (const r of marked) excludedMarks[r] = 0;
    }
  };

  const scanFor = (query: Float32Array, k: number, eligible: number, lists: IvfLists | null, probed: Probed | undefined): VectorHit[] => {
    const target = Math.min(k, eligible);
    if (target <= 0) return [];
    const marks = excludedMarks;
    const ids = rowIds;
    const best = topK.reset(target, ids);
    kernel.setQuery(query);
    let threshold = best.threshold;
    /**
     * Offers the first `n` scores of the last kernel call to the top k; score i belongs to row rowAt(i). Only rows
     * that can enter it come back from pickAbove (NaN included: see below); the threshold may rise while they are
     * pushed, so each is checked again. Dead and excluded rows are only checked for a row that could enter: the
     * common case pays nothing for them.
     */
    const offer = (scores: Float32Array, n: number, first: number, rowList: readonly number[] | null): void => {
      const count = kernel.pickAbove(n, threshold);
      const picked = kernel.picked;
      for (let p = 0; p < count; p++) {
        const i = picked[p];
        const s = scores[i];
        if (s < threshold) continue;
        const r = rowList ? rowList[first + i] : first + i;
        const id = ids[r];
        if (id === undefined || marks[r] === 1) continue;
        // A float32 sum can overflow to ±Infinity and then give NaN (components past ~1e19): ranked last, as
        // NaN has no place in an order.
        threshold = best.push(s === s ? s : -Infinity, r);
      }
    };
    const scanRange = (from: number, to: number): void => {
      for (let start = from; start < to; start += KERNEL_BATCH_ROWS) {
        const end = Math.min(to, start + KERNEL_BATCH_ROWS);
        offer(kernel.dots(start, end), end - start, start, null);
      }
    };
    const scanRows = (rowList: readonly number[]): void => {
      for (let start = 0; start < rowList.length; start += KERNEL_BATCH_ROWS) {
        const end = Math.min(rowList.length, start + KERNEL_BATCH_ROWS);
        const slot = kernel.rowList;
        for (let i = start; i < end; i++) slot[i - start] = rowList[i];
        offer(kernel.dotsAt(end - start), end - start, start, rowList);
      }
    };
    if (!lists) {
      scanRange(0, rows);
    } else {
      // The lists a query is expected to probe, with room to spare, are put in order up front.
      const expected = Math.ceil((1.5 * probeRows * lists.nlist) / Math.max(1, lists.indexedRows));
      const ranked = lists.rank(query, Math.max(nprobe, expected));
      let scanned = 0;
      for (let i = 0; i < ranked.order.length; i++) {
        // The probe limit; past it only while the probed lists held fewer than k eligible rows.
        if (i >= nprobe && scanned >= probeRows && (probed || best.full)) break;
        // Past the lists ordered so far: more of them, in order.
        if (i === ranked.ordered) ranked.extend();
        const list = ranked.order[i];
        const from = lists.listStart[list];
        const to = lists.listStart[list + 1];
        scanRange(from, to);
        probed?.lists.push(list);
        // Rows laid out at the build only (dead ones included): then no write changes which lists a search
        // scans, which the query cache relies on. Pending rows are scanned besides.
        scanned += to - from;
        const pending = lists.pendingOf(list);
        if (pending) scanRows(pending);
      }
    }
    return best.hits(probed?.rows);
  };

  return {
    kind: "embedded",
    dim,

    async upsert(items) {
      assertOpen();
      checkVectorArgs.items(items, dim);
      for (const item of items) put(item.id, item.vector, 0);
      // Stale lists are rebuilt as the index is written, not only once it is searched.
      if (rowOf.size >= syncBuildRows) maybeRebuildInBackground();
    },

    async search(vector, k, options: VectorSearchOptions = {}) {
      assertOpen();
      options.signal?.throwIfAborted();
      checkVectorArgs.vector("vector", vector, dim);
      checkVectorArgs.k(k);
      if (k === 0) return [];
      return queryCacheSize > 0 ? cachedSearch(vector, k, options.excludeIds) : search(vector, k, options.excludeIds);
    },

    async get(id) {
      assertOpen();
      const row = rowOf.get(id);
      return row === undefined ? undefined : kernel.matrix.slice(row * stride, row * stride + dim);
    },

    async delete(ids) {
      assertOpen();
      for (const id of ids) {
        const row = rowOf.get(id);
        if (row === undefined) continue;
        rowOf.delete(id);
        kill(row);
      }
      if (!listsNeeded()) dropRebuild();
      if (!ivf) maybeCompact();
      else if (rowOf.size >= syncBuildRows) maybeRebuildInBackground();
    },

    async size() {
      assertOpen();
      return rowOf.size;
    },

    async close() {
      closed = true;
      dropRebuild();
      releaseSpare();
      kernel.dispose();
      ivf?.dispose();
      rowIds = [];
      rowOf = new Map();
      rows = 0;
      ivf = null;
    },

    bulkLoad(ids, matrix) {
      assertOpen();
      if (!(matrix instanceof Float32Array)) throw badInput("matrix", "expected a Float32Array");
      if (matrix.length !== ids.length * dim) {
        throw badInput("matrix", `expected ${ids.length} × ${dim} = ${ids.length * dim} values, got ${matrix.length}`);
      }
      ids.forEach((id, i) => {
        if (typeof id !== "string" || id === "") throw badInput(`ids[${i}]`, "expected a non-empty string");
      });
      for (let i = 0; i < matrix.length; i++) {
        if (!Number.isFinite(matrix[i])) {
          throw badInput(`matrix[${Math.floor(i / dim)}]`, `component ${i % dim} is not a finite number`);
        }
      }
      // Built at once below: a background rebuild of the rows before would be superseded anyway.
      dropRebuild();
      kernel.ensureCapacity(rows + ids.length);
      for (let i = 0; i < ids.length; i++) put(ids[i], matrix, i * dim);
      if (listsNeeded()) buildIvf();
    },

    buildIndex() {
      assertOpen();
      if (listsNeeded()) buildIvf();
    },

    async whenBuilt() {
      while (rebuild) await rebuild.done;
    },

    setProbes(probes) {
      assertOpen();
      setProbes(probes);
      // Entries hold the answers of the old probe limit.
      cache.clear();
    },

    stats() {
      return {
        size: rowOf.size,
        mode: ivf ? "ivf" : "exact",
        nlist: ivf?.nlist ?? 0,
        indexedRows: ivf?.indexedRows ?? 0,
        pendingRows: ivf ? rows - ivf.indexedRows : rows,
        deadRows: rows - rowOf.size,
        rebuilding: rebuild !== null,
        backgroundBuilds,
        workerBuilds,
        relaidOut,
        lastBuildError,
        queryCacheHits,
      };
    },
  };
}

/** How long a swapped-out matrix is kept for the next background rebuild (see `keepSpare`). */
const SPARE_KEEP_MS = 60_000;

/**
 * A background rebuild in progress: while it runs, rows are only appended and never move or change, and every row
 * that dies is noted in `killed` so the swap can mark it dead in the new layout. `abort` tells the build thread to
 * stop when the rebuild is dropped.
 */
interface RebuildJob {
  killed: number[];
  /** The lists' imbalance factor when the rebuild started (Infinity without lists). */
  imbalanceBefore: number;
  done: Promise<void>;
  abort: AbortController;
}
