import { badInput, ReelfeedError } from "../errors";
import { VECTOR_KERNEL_WASM_BASE64 } from "./vector-kernel-wasm";

/**
 * A float32 matrix in WebAssembly memory plus a SIMD kernel (vector-kernel.wat) that scores a query against a
 * range of its rows: the inner loop of the embedded vector index.
 *
 * Layout of the kernel's own memory (one WebAssembly.Memory per kernel), each part 64-byte aligned:
 *   [query: stride floats][scores: KERNEL_BATCH_ROWS floats][picked: KERNEL_BATCH_ROWS int32s]
 *   [rowList: KERNEL_BATCH_ROWS int32s][matrix: capacity × stride floats]
 * Each row holds `dim` values followed by zeros up to `stride` (the next multiple of 4): the kernel reads whole
 * 4-float lanes, and the zero lanes add nothing to a score. Only `setRow`, `setQuery` and whole-row copies write
 * the memory, so the padding stays zero.
 *
 * Views: `matrix`, `query`, `picked`, `rowList` and the array `dots` returns are views of the memory's buffer. Growing the memory
 * (`ensureCapacity` past the current pages) detaches every view of the old buffer, so read the getters again after
 * any call that may grow, and never keep a view across one. The getters always return views of the current buffer.
 */
export interface VectorKernel {
  readonly dim: number;
  /** Floats from one row to the next: dim rounded up to a multiple of 4. */
  readonly stride: number;
  /** Rows the matrix holds without growing. */
  readonly capacity: number;
  /** Row-major `capacity × stride` view of the matrix. */
  readonly matrix: Float32Array;
  /** `stride`-long view of the query slot (its padding must stay zero: write it with `setQuery`). */
  readonly query: Float32Array;
  /** Grows the matrix to at least `rows` rows (doubling, capped at what 4 GiB holds); rows already there stay. */
  ensureCapacity(rows: number): void;
  /** Writes `src[srcOffset .. srcOffset + dim)` into row `row`. */
  setRow(row: number, src: ArrayLike<number>, srcOffset: number): void;
  /** Writes `src[srcOffset .. srcOffset + dim)` into the query slot. */
  setQuery(src: ArrayLike<number>, srcOffset?: number): void;
  /**
   * Scores the query slot against rows [from, to): element i of the result is the float32 inner product with row
   * from + i. At most KERNEL_BATCH_ROWS rows per call. The result is the output slot itself: overwritten by the
   * next call and detached by growth; read it before either.
   */
  dots(from: number, to: number): Float32Array;
  /** As `dots`, with row `queryRow` of the matrix as the query (no copy): k-means scores points against centroids. */
  dotsWithRow(queryRow: number, from: number, to: number): Float32Array;
  /**
   * As `dots`, for the `n` rows named by `rowList[0, n)` (at most KERNEL_BATCH_ROWS; each a row below `capacity`):
   * element i of the result is the inner product with row rowList[i], the same float32 value `dots` gives it.
   */
  dotsAt(n: number): Float32Array;
  /** `KERNEL_BATCH_ROWS`-long view of the row numbers `dotsAt` scores; write them, then call it. */
  readonly rowList: Int32Array;
  /**
   * Of the first `n` scores of the last `dots` call, picks those not below `threshold` (NaN included) into `picked`,
   * ascending; returns how many. `threshold` must be a float32 value (or ±Infinity): it is compared as one.
   */
  pickAbove(n: number, threshold: number): number;
  /** `KERNEL_BATCH_ROWS`-long view of the indices `pickAbove` wrote; valid until the next call, like the scores. */
  readonly picked: Int32Array;
  /** Drops the memory so it can be collected; any later use throws. */
  dispose(): void;
}

/** Rows scored per kernel call: 16 KiB of scores, small enough to stay in L1 until the caller reads them. */
export const KERNEL_BATCH_ROWS = 4096;

const PAGE_BYTES = 65_536;
/** wasm32 addresses 4 GiB. */
const MAX_PAGES = 65_536;
/** Cache-line alignment for the slots and the matrix. */
const ALIGN = 64;

type DotsExport = (query: number, rows: number, n: number, stride: number, out: number) => void;
type DotsAtExport = (query: number, matrix: number, idx: number, n: number, stride: number, out: number) => void;
type AboveExport = (scores: number, n: number, threshold: number, picked: number) => number;

/**
 * The part of the WebAssembly JS API used here. The project's lib (ES2023, @types/node 20) declares no
 * WebAssembly global, so it is typed here rather than pulling in the DOM lib.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: { env: { memory: WasmMemory } }) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}

let compiled: { api: WasmApi; module: object } | undefined;

/** Compiled once per process; fails with a clear error where WebAssembly SIMD is missing. */
function kernelModule(): { api: WasmApi; module: object } {
  if (compiled) return compiled;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api) throw new ReelfeedError("INTERNAL", "the embedded vector index needs WebAssembly, which this runtime lacks");
  const bytes = Buffer.from(VECTOR_KERNEL_WASM_BASE64, "base64");
  if (!api.validate(bytes)) {
    throw new ReelfeedError(
      "INTERNAL",
      `the embedded vector index needs WebAssembly SIMD (f32x4), which this runtime (Node ${process.versions.node}) does not support`,
    );
  }
  compiled = { api, module: new api.Module(bytes) };
  return compiled;
}

const alignUp = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN;

export function createVectorKernel(dim: number, initialCapacity = 1): VectorKernel {
  if (!Number.isInteger(dim) || dim <= 0) throw badInput("dim", `expected a positive integer, got ${dim}`);
  const stride = Math.ceil(dim / 4) * 4;
  const rowBytes = stride * 4;
  const queryOffset = 0;
  const outOffset = alignUp(rowBytes);
  const pickedOffset = alignUp(outOffset + KERNEL_BATCH_ROWS * 4);
  const rowListOffset = alignUp(pickedOffset + KERNEL_BATCH_ROWS * 4);
  const matrixOffset = alignUp(rowListOffset + KERNEL_BATCH_ROWS * 4);
  const maxCapacity = Math.floor((MAX_PAGES * PAGE_BYTES - matrixOffset) / rowBytes);
  const pagesFor = (rows: number): number => Math.ceil((matrixOffset + rows * rowBytes) / PAGE_BYTES);

  let capacity = Math.max(1, Math.min(maxCapacity, Math.ceil(initialCapacity)));
  const { api, module } = kernelModule();
  let memory: WasmMemory | null = new api.Memory({ initial: pagesFor(capacity), maximum: MAX_PAGES });
  const instance = new api.Instance(module, { env: { memory } });
  const dotsWasm = instance.exports.dots as DotsExport;
  const aboveWasm = instance.exports.above as AboveExport;
  const dotsAtWasm = instance.exports.dots_at as DotsAtExport;
  let matrix = new Float32Array(0);
  let query = new Float32Array(0);
  let out = new Float32Array(0);
  let picked = new Int32Array(0);
  let rowList = new Int32Array(0);
  const refreshViews = (buffer: ArrayBuffer): void => {
    matrix = new Float32Array(buffer, matrixOffset, capacity * stride);
    query = new Float32Array(buffer, queryOffset, stride);
    out = new Float32Array(buffer, outOffset, KERNEL_BATCH_ROWS);
    picked = new Int32Array(buffer, pickedOffset, KERNEL_BATCH_ROWS);
    rowList = new Int32Array(buffer, rowListOffset, KERNEL_BATCH_ROWS);
  };
  refreshViews(memory.buffer);

  const live = (): WasmMemory => {
    if (!memory) throw new ReelfeedError("INTERNAL", "vector kernel used after dispose");
    return memory;
  };
  const checkRange = (from: number, to: number): void => {
    // The kernel itself does no bounds checks within its memory: a bad range would read the wrong region.
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= capacity && to - from <= KERNEL_BATCH_ROWS)) {
      throw new RangeError(`vector kernel: bad row range [${from}, ${to}) (capacity ${capacity}, at most ${KERNEL_BATCH_ROWS} rows per call)`);
    }
  };

  return {
    dim,
    stride,
    get capacity() {
      return capacity;
    },
    get matrix() {
      return matrix;
    },
    get query() {
      return query;
    },
    get picked() {
      return picked;
    },
    get rowList() {
      return rowList;
    },

    ensureCapacity(rows) {
      const mem = live();
      if (rows <= capacity) return;
      if (rows > maxCapacity) {
        throw new ReelfeedError(
          "INTERNAL",
          `embedded vector index: ${rows} rows of ${dim} floats exceed the 4 GiB a WebAssembly memory can address (at most ${maxCapacity})`,
        );
      }
      let next = capacity;
      while (next < rows) next *= 2;
      next = Math.min(next, maxCapacity);
      const grow = pagesFor(next) - mem.buffer.byteLength / PAGE_BYTES;
      if (grow > 0) {
        try {
          mem.grow(grow);
        } catch (err) {
          throw new ReelfeedError("INTERNAL", `embedded vector index: could not grow its memory to ${next} rows of ${dim} floats: ${String(err)}`);
        }
      }
      capacity = next;
      refreshViews(mem.buffer);
    },

    setRow(row, src, srcOffset) {
      // Past the view, typed-array writes are dropped without a word: fail instead.
      if (!(row >= 0 && row < capacity)) throw new RangeError(`vector kernel: row ${row} outside capacity ${capacity}`);
      const offset = row * stride;
      const m = matrix;
      for (let d = 0; d < dim; d++) m[offset + d] = src[srcOffset + d];
    },

    setQuery(src, srcOffset = 0) {
      const q = query;
      for (let d = 0; d < dim; d++) q[d] = src[srcOffset + d];
    },

    dots(from, to) {
      live();
      checkRange(from, to);
      dotsWasm(queryOffset, matrixOffset + from * rowBytes, to - from, stride, outOffset);
      return out;
    },

    dotsWithRow(queryRow, from, to) {
      live();
      checkRange(from, to);
      checkRange(queryRow, queryRow + 1);
      dotsWasm(matrixOffset + queryRow * rowBytes, matrixOffset + from * rowBytes, to - from, stride, outOffset);
      return out;
    },

    dotsAt(n) {
      live();
      if (!(Number.isInteger(n) && n >= 0 && n <= KERNEL_BATCH_ROWS)) throw new RangeError(`vector kernel: bad row count ${n}`);
      // The kernel does no bounds checks: a row number past the matrix would read whatever lies there.
      const list = rowList;
      for (let i = 0; i < n; i++) {
        const r = list[i];
        if (!(r >= 0 && r < capacity)) throw new RangeError(`vector kernel: row ${r} outside capacity ${capacity}`);
      }
      dotsAtWasm(queryOffset, matrixOffset, rowListOffset, n, stride, outOffset);
      return out;
    },

    pickAbove(n, threshold) {
      live();
      if (!(Number.isInteger(n) && n >= 0 && n <= KERNEL_BATCH_ROWS)) throw new RangeError(`vector kernel: bad score count ${n}`);
      return aboveWasm(outOffset, n, threshold, pickedOffset);
    },

    dispose() {
      memory = null;
      capacity = 0;
      matrix = new Float32Array(0);
      query = new Float32Array(0);
      out = new Float32Array(0);
      picked = new Int32Array(0);
      rowList = new Int32Array(0);
    },
  };
}
