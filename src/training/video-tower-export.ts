/**
 * The two-tower video tower as ONNX, item bias included, so a video uploaded after training gets the same vector
 * the trained model would give it (the live catalogue embeds uploads with it at serving time).
 *
 * `exportTowerOnnx` renders a plain tower. The shipped video tower has up to three more parts (two-tower.ts):
 *   - the last `unnormalizedTail` output columns (the per-video bias) are left out of the L2 normalisation;
 *   - a fixed log-popularity prior, looked up by one categorical column (the video id), is added to the output;
 *   - the bias column is multiplied by `biasScale`.
 * The graph applies them in the tf model's order: tower → L2 of the head → + prior → × scale.
 */
import { badInput } from "../errors";
import { embeddingOutput } from "../ranking/model-io";
import { attr, createGraphBuilder } from "./onnx-builder";
import { declareInputs, declareOutput, describeModel, renderTower } from "./onnx-export";
import { L2_EPSILON, type TowerWeights } from "./tower-network";

export interface VideoTowerExportOptions {
  /** Trailing output columns left unnormalised (the item bias). @default 0 */
  unnormalizedTail?: number;
  /** A `[vocabSize, width]` table added to the output, looked up by the categorical column `column`. @default none */
  prior?: { column: string; table: Float32Array };
  /** Multiplier of the last output column (two-tower itemBiasScale). @default 1 */
  biasScale?: number;
  /** @default "video_tower" */
  name?: string;
}

export function exportVideoTowerOnnx(w: TowerWeights, options: VideoTowerExportOptions = {}): Uint8Array {
  const { unnormalizedTail = 0, prior, biasScale = 1, name = "video_tower" } = options;
  const width = w.layers[w.layers.length - 1].outDim;
  if (!(Number.isInteger(unnormalizedTail) && unnormalizedTail >= 0 && unnormalizedTail < width)) {
    throw badInput("unnormalizedTail", `must be an integer in [0, ${width}), got ${unnormalizedTail}`);
  }
  const g = createGraphBuilder({ name, docString: "reelfeed video tower: masked-mean bags, dense MLP, item bias" });
  declareInputs(g, w.spec);
  // The body without its normalisation: it is applied below, to the head columns only.
  let x = renderTower(g, { ...w, normalize: false }, "");
  if (w.normalize) {
    const headWidth = width - unnormalizedTail;
    const head = unnormalizedTail === 0 ? x : g.node("Slice", [x, g.int64s([0]), g.int64s([headWidth]), g.int64s([1])], {}, "head");
    const ss = g.node("ReduceSum", [g.node("Mul", [head, head]), g.int64s([1])], { keepdims: attr.int(1) });
    const normed = g.node("Div", [head, g.node("Sqrt", [g.node("Max", [ss, g.float(L2_EPSILON)])])], {}, "head_normalized");
    x = unnormalizedTail === 0 ? normed : g.node("Concat", [normed, g.node("Slice", [x, g.int64s([headWidth]), g.int64s([width]), g.int64s([1])], {}, "tail")], { axis: attr.int(1) });
  }
  if (prior) {
    const column = w.spec.categorical.find((c) => c.name === prior.column);
    if (!column) throw badInput("prior.column", `no categorical column "${prior.column}" in the video spec`);
    if (prior.table.length !== column.vocabSize * width) throw badInput("prior.table", `expected ${column.vocabSize}×${width} values, got ${prior.table.length}`);
    const table = g.initializer("prior", prior.table, [column.vocabSize, width]);
    // Out-of-range ids read row 0, as everywhere else in the exported graphs (onnx-export.ts safeIndices).
    const zero = g.int32(0);
    const inRange = g.node("And", [g.node("GreaterOrEqual", [column.name, zero]), g.node("Less", [column.name, g.int32(column.vocabSize)])]);
    const ids = g.node("Where", [inRange, column.name, zero]);
    x = g.node("Add", [x, g.node("Gather", [table, ids], { axis: attr.int(0) })], {}, "with_prior");
  }
  if (biasScale !== 1) {
    const scale = new Float32Array(width).fill(1);
    scale[width - 1] = biasScale;
    x = g.node("Mul", [x, g.initializer("bias_scale", scale, [1, width])], {}, "scaled");
  }
  declareOutput(g, embeddingOutput(width), x);
  describeModel(g, { kind: "video-tower" }, w.spec);
  return g.toBytes();
}
