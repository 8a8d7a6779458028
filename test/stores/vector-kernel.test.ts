import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { createVectorKernel, KERNEL_BATCH_ROWS, type VectorKernel } from "../../src/stores/vector-kernel";
import { compileKernelWat, KERNEL_MODULE_PATH, renderKernelModule } from "../../src/stores/vector-kernel-build";
import { VECTOR_KERNEL_WASM_BASE64 } from "../../src/stores/vector-kernel-wasm";
import { seededRandom } from "../../src/util/random";

/** The oracle: a float64 inner product, and the float32 rounding bound a kernel score must stay within. */
function reference(query: Float32Array, kernel: VectorKernel, row: number): { value: number; bound: number } {
  let value = 0;
  let magnitude = 0;
  for (let d = 0; d < kernel.dim; d++) {
    const p = query[d] * kernel.matrix[row * kernel.stride + d];
    value += p;
    magnitude += Math.abs(p);
  }
  // Each product and each of the (at most dim) additions rounds once to float32.
  return { value, bound: (kernel.dim + 2) * 2 ** -24 * magnitude };
}

function filled(dim: number, rows: number, seed: number): { kernel: VectorKernel; query: Float32Array } {
  const random = seededRandom(seed);
  const kernel = createVectorKernel(dim, rows);
  const row = new Float32Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < dim; d++) row[d] = random() * 2 - 1;
    kernel.setRow(r, row, 0);
  }
  const query = Float32Array.from({ length: dim }, () => random() * 2 - 1);
  kernel.setQuery(query);
  return { kernel, query };
}

describe("vector kernel", () => {
  for (const dim of [1, 3, 4, 5, 64, 65, 100]) {
    it(`matches a float64 reference at dim ${dim}, on any range, each row scored the same wherever the range starts`, () => {
      const rows = 203; // not a multiple of the kernel's 8-row blocks
      const { kernel, query } = filled(dim, rows, dim);
      expect(kernel.stride % 4).toBe(0);
      expect(kernel.stride - dim).toBeLessThan(4);
      const whole = kernel.dots(0, rows).slice(0, rows);
      for (let r = 0; r < rows; r++) {
        const { value, bound } = reference(query, kernel, r);
        expect(Math.abs(whole[r] - value)).toBeLessThanOrEqual(bound);
      }
      for (const [from, to] of [
        [0, 0],
        [57, 57],
        [0, 1],
        [rows - 1, rows],
        [13, 14],
        [3, 11],
        [5, 200],
        [7, rows],
      ]) {
        const scores = kernel.dots(from, to);
        for (let r = from; r < to; r++) expect(scores[r - from]).toBe(whole[r]);
      }
      // A row of the matrix as the query gives what copying it into the query slot gives.
      const viaRow = kernel.dotsWithRow(17, 0, rows).slice(0, rows);
      kernel.setQuery(kernel.matrix, 17 * kernel.stride);
      expect(viaRow).toEqual(kernel.dots(0, rows).slice(0, rows));
    });
  }

  it("dotsAt scores the listed rows, in list order, exactly as dots scores them", () => {
    for (const dim of [3, 64, 65]) {
      const rows = 203;
      const { kernel } = filled(dim, rows, dim + 1);
      const whole = kernel.dots(0, rows).slice(0, rows);
      const list = [202, 0, 17, 17, 5, 199, 64, 1];
      kernel.rowList.set(list);
      expect(Array.from(kernel.dotsAt(list.length).subarray(0, list.length))).toEqual(list.map((r) => whole[r]));
      expect(kernel.dotsAt(0)).toBeInstanceOf(Float32Array);
      // A row number past the matrix would read memory that is not a row: refused.
      kernel.rowList[0] = kernel.capacity;
      expect(() => kernel.dotsAt(1)).toThrow(RangeError);
      kernel.rowList[0] = -1;
      expect(() => kernel.dotsAt(1)).toThrow(RangeError);
      expect(() => kernel.dotsAt(KERNEL_BATCH_ROWS + 1)).toThrow(RangeError);
    }
  });

  it("keeps the padding lanes zero, so they add nothing", () => {
    const kernel = createVectorKernel(65, 4);
    kernel.setRow(2, new Float32Array(65).fill(1), 0);
    kernel.setQuery(new Float32Array(65).fill(2));
    expect(Array.from(kernel.matrix.subarray(2 * 68 + 65, 3 * 68))).toEqual([0, 0, 0]);
    expect(Array.from(kernel.query.subarray(65))).toEqual([0, 0, 0]);
    expect(kernel.dots(2, 3)[0]).toBe(130);
  });

  it("grows in place: old rows stay, views are replaced, scores stay right", () => {
    const dim = 65;
    const { kernel, query } = filled(dim, 100, 7);
    const before = kernel.dots(0, 100).slice(0, 100);
    const rowsBefore = kernel.matrix.slice(0, 100 * kernel.stride);
    const staleMatrix = kernel.matrix;
    const staleScores = kernel.dots(0, 1);
    // Past the first pages: the memory really grows (and detaches every view of the old buffer).
    kernel.ensureCapacity(20_000);
    expect(kernel.capacity).toBeGreaterThanOrEqual(20_000);
    expect(staleMatrix.length).toBe(0);
    expect(staleScores.length).toBe(0);
    expect(kernel.matrix.length).toBe(kernel.capacity * kernel.stride);
    expect(kernel.matrix.slice(0, 100 * kernel.stride)).toEqual(rowsBefore);
    expect(Array.from(kernel.query.subarray(0, dim))).toEqual(Array.from(query));
    expect(kernel.dots(0, 100).slice(0, 100)).toEqual(before);
    const row = Float32Array.from({ length: dim }, (_, d) => d / 10);
    kernel.setRow(19_999, row, 0);
    const { value, bound } = reference(query, kernel, 19_999);
    expect(Math.abs(kernel.dots(19_999, 20_000)[0] - value)).toBeLessThanOrEqual(bound);
  });

  it("holds 1M rows of 65 floats in each of two kernels in one process", () => {
    const kernels = [createVectorKernel(65, 1024), createVectorKernel(65, 1024)];
    const row = new Float32Array(65).fill(0.5);
    for (const kernel of kernels) {
      kernel.ensureCapacity(1_000_000);
      kernel.setRow(999_999, row, 0);
      kernel.setQuery(row);
      expect(kernel.dots(999_998, 1_000_000).slice(0, 2)).toEqual(Float32Array.of(0, 65 * 0.25));
    }
    for (const kernel of kernels) kernel.dispose();
  });

  it("refuses more rows than 4 GiB holds, before allocating, with a clear error", () => {
    const kernel = createVectorKernel(65, 1);
    const err = (() => {
      try {
        kernel.ensureCapacity(20_000_000);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).message).toMatch(/4 GiB/);
    expect(kernel.capacity).toBe(1);
  });

  it("rejects ranges outside the matrix or past one batch, and use after dispose", () => {
    const kernel = createVectorKernel(4, 10);
    expect(() => kernel.dots(0, 11)).toThrow(RangeError);
    expect(() => kernel.dots(5, 4)).toThrow(RangeError);
    expect(() => kernel.dots(-1, 2)).toThrow(RangeError);
    expect(() => kernel.dotsWithRow(10, 0, 1)).toThrow(RangeError);
    kernel.ensureCapacity(KERNEL_BATCH_ROWS + 1);
    expect(() => kernel.dots(0, KERNEL_BATCH_ROWS + 1)).toThrow(RangeError);
    expect(() => kernel.pickAbove(KERNEL_BATCH_ROWS + 1, 0)).toThrow(RangeError);
    kernel.dispose();
    expect(() => kernel.dots(0, 1)).toThrow(ReelfeedError);
  });

  it("pickAbove picks, ascending, exactly the scores not below the threshold, NaN included", () => {
    const dim = 5;
    const n = 301;
    const random = seededRandom(11);
    const kernel = createVectorKernel(dim, n + 3);
    for (let r = 0; r < n; r++) kernel.setRow(r, Float32Array.of(0, 0, random() - 0.5, random() - 0.5, random() - 0.5), 0);
    // Scores that overflow float32: +Infinity, -Infinity and Infinity - Infinity = NaN.
    kernel.setRow(n, Float32Array.of(1e30, 1e30, 0, 0, 0), 0);
    kernel.setRow(n + 1, Float32Array.of(-1e30, -1e30, 0, 0, 0), 0);
    kernel.setRow(n + 2, Float32Array.of(1e30, -1e30, 0, 0, 0), 0);
    kernel.setQuery(Float32Array.of(1e30, 1e30, 0.5, 0.5, 0.5));
    const scores = kernel.dots(0, n + 3).slice(0, n + 3);
    expect([scores[n], scores[n + 1], scores[n + 2]]).toEqual([Infinity, -Infinity, NaN]);
    for (const threshold of [-Infinity, -0.5, 0, Math.fround(0.3), Infinity]) {
      kernel.dots(0, n + 3);
      const count = kernel.pickAbove(n + 3, threshold);
      const expected = Array.from(scores.keys()).filter((i) => !(scores[i] < threshold));
      expect(Array.from(kernel.picked.subarray(0, count))).toEqual(expected);
    }
  });
});

describe("vector kernel build", () => {
  it("the embedded module is what vector-kernel.wat compiles to (run `npm run build:wasm` when this fails)", async () => {
    const bytes = await compileKernelWat();
    expect(Buffer.from(VECTOR_KERNEL_WASM_BASE64, "base64").equals(Buffer.from(bytes))).toBe(true);
    expect(await readFile(KERNEL_MODULE_PATH, "utf8")).toBe(renderKernelModule(bytes));
  });
});

describe("vector kernel without WebAssembly SIMD", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it("fails at creation with an error that says SIMD is missing", async () => {
    vi.resetModules();
    // A runtime without SIMD rejects the module at validation. (The project's lib does not declare WebAssembly.)
    const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
    vi.spyOn(wasm, "validate").mockReturnValue(false);
    const fresh = (await import("../../src/stores/vector-kernel")) as typeof import("../../src/stores/vector-kernel");
    expect(() => fresh.createVectorKernel(8)).toThrow(/WebAssembly SIMD/);
  });
});
