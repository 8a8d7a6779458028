import { describe, expect, it } from "vitest";
import { embeddingBagMean } from "../../src/training/tower-network";
import { initTf, tf } from "../../src/training/tf-backend";

/** The op the custom kernel replaced: gather → mask padding → sum → divide by the non-padding count. */
function reference(table: tf.Tensor2D, ids: Int32Array, length: number): tf.Tensor2D {
  const idx = tf.tensor2d(ids, [ids.length / length, length], "int32");
  const emb = tf.gather(table, idx) as unknown as tf.Tensor3D;
  const mask = tf.cast(tf.greater(idx, 0), "float32") as tf.Tensor2D;
  const sum = tf.sum(tf.mul(emb, tf.expandDims(mask, 2)), 1) as tf.Tensor2D;
  return tf.div(sum, tf.maximum(tf.sum(mask, 1, true), 1)) as tf.Tensor2D;
}

describe("embeddingBagMean", () => {
  it("matches gather-mask-mean in value and gradient, padding rows and repeated ids included", async () => {
    await initTf();
    const vocab = 7;
    const dim = 3;
    const table = tf.tensor2d(Float32Array.from({ length: vocab * dim }, (_, i) => Math.sin(i + 1)), [vocab, dim]);
    // Rows: ordinary, all padding, a repeated id, the last vocabulary entry.
    const ids = Int32Array.from([1, 2, 0, 0, 0, 0, 3, 3, 5, 6, 0, 6]);
    const length = 3;
    const weights = tf.tensor2d(Float32Array.from({ length: 4 * dim }, (_, i) => (i % 5) - 2), [4, dim]);
    const ours = embeddingBagMean(table, ids, length);
    const theirs = reference(table, ids, length);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()).map((v) => expect.closeTo(v, 6)));
    expect(Array.from(ours.dataSync()).slice(dim, 2 * dim)).toEqual([0, 0, 0]);

    const loss = (f: (t: tf.Tensor2D) => tf.Tensor2D) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), weights)));
    const gOurs = loss((t) => embeddingBagMean(t, ids, length))(table).dataSync();
    const gTheirs = loss((t) => reference(t, ids, length))(table).dataSync();
    expect(Array.from(gOurs)).toEqual(Array.from(gTheirs).map((v) => expect.closeTo(v, 6)));
    // Padding (row 0 of the table) never receives gradient.
    expect(Array.from(gOurs.slice(0, dim))).toEqual([0, 0, 0]);
  });
});
