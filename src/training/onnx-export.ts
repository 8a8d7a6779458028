/**
 * The ONNX rendering of a tower and of the ranker, from the same weight description the tf rendering trains
 * (tower-network.ts), plus `runOnnx`, the one function that feeds a FeatureBatch to ONNX Runtime — used by the
 * parity tests and by the training pipeline to re-check parity on real rows before a bundle is published.
 *
 * The models' inputs and outputs (names, types, shapes) are src/ranking/model-io.ts's, the contract serving checks
 * a loaded model against. Out-of-range indices are mapped to 0 inside the graph (Where), the same rule
 * `sanitizeIndices` applies on the tf side; ONNX Runtime would otherwise reject the whole request.
 */
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { assertNever } from "../data/types";
import { badFile, badInput } from "../errors";
import type { FeatureBatch, FeatureSpec } from "../features/spec";
import { sliceBatch } from "../features/spec";
import { assertModelInputs, DENSE_INPUT, embeddingOutput, headOutput, modelInputs, onnxInputNames, readOutputs, toFeeds, type TensorInfo } from "../ranking/model-io";
import { attr, createGraphBuilder, type GraphBuilder } from "./onnx-builder";
import type { RankerWeights } from "./ranker";
import { L2_EPSILON, validateBatch, validateSpec, type DenseWeights, type TowerWeights } from "./tower-network";

// Where the parity tests read the input names beside the export.
export { onnxInputNames } from "../ranking/model-io";

/** Declares the spec's model inputs on a graph (a column may not take the dense input's name). */
export function declareInputs(g: GraphBuilder, spec: FeatureSpec): void {
  validateSpec(spec);
  for (const c of [...spec.categorical, ...spec.bags]) {
    if (c.name === DENSE_INPUT) throw badInput(`spec.${c.name}`, `"${DENSE_INPUT}" is reserved for the dense input`);
  }
  for (const input of modelInputs(spec)) g.input(input.name, input.type, input.dims);
}

/** Declares a model output computed as tensor `from`. */
export function declareOutput(g: GraphBuilder, output: TensorInfo, from: string): void {
  g.output(output.name, output.type, output.dims, from);
}

/** The index rule as graph nodes: ids outside [0, vocabSize) become 0. */
function safeIndices(g: GraphBuilder, ids: string, vocabSize: number, name: string): string {
  const zero = g.int32(0);
  const inRange = g.node(
    "And",
    [g.node("GreaterOrEqual", [ids, zero]), g.node("Less", [ids, g.int32(vocabSize)])],
    {},
    `${name}_in_range`,
  );
  return g.node("Where", [inRange, ids, zero], {}, `${name}_safe`);
}

function renderDense(g: GraphBuilder, x: string, layer: DenseWeights, name: string): string {
  const w = g.initializer(`${name}_kernel`, layer.kernel, [layer.inDim, layer.outDim]);
  const b = g.initializer(`${name}_bias`, layer.bias, [layer.outDim]);
  const y = g.node("Gemm", [x, w, b], {}, `${name}_linear`);
  switch (layer.activation) {
    case "linear":
      return y;
    case "relu":
      return g.node("Relu", [y], {}, name);
    case "sigmoid":
      return g.node("Sigmoid", [y], {}, name);
    default:
      return assertNever(layer.activation, "activation");
  }
}

/** Renders a tower's body on inputs already declared; returns the name of its `[batch, outDim]` output. */
export function renderTower(g: GraphBuilder, w: TowerWeights, prefix: string): string {
  const { spec } = w;
  const parts: string[] = [];
  spec.categorical.forEach((c, i) => {
    const table = g.initializer(`${prefix}emb_${c.name}`, w.categorical[i], [c.vocabSize, c.dim]);
    parts.push(g.node("Gather", [table, safeIndices(g, c.name, c.vocabSize, `${prefix}${c.name}`)], { axis: attr.int(0) }));
  });
  spec.bags.forEach((c, i) => {
    const table = g.initializer(`${prefix}bag_${c.name}`, w.bags[i], [c.vocabSize, c.dim]);
    const ids = safeIndices(g, c.name, c.vocabSize, `${prefix}${c.name}`);
    const emb = g.node("Gather", [table, ids], { axis: attr.int(0) }); // [batch, length, dim]
    const mask = g.node("Cast", [g.node("Greater", [ids, g.int32(0)])], { to: attr.int(1) }); // float [batch, length]
    const masked = g.node("Mul", [emb, g.node("Unsqueeze", [mask, g.int64s([2])])]);
    const sum = g.node("ReduceSum", [masked, g.int64s([1])], { keepdims: attr.int(0) }); // [batch, dim]
    const count = g.node("ReduceSum", [mask, g.int64s([1])], { keepdims: attr.int(1) }); // [batch, 1]
    parts.push(g.node("Div", [sum, g.node("Max", [count, g.float(1)])], {}, `${prefix}${c.name}_pooled`));
  });
  if (spec.dense.length > 0) parts.push(DENSE_INPUT);
  let x = parts.length === 1 ? parts[0] : g.node("Concat", parts, { axis: attr.int(1) }, `${prefix}features`);
  w.layers.forEach((layer, l) => {
    x = renderDense(g, x, layer, `${prefix}layer${l}`);
  });
  if (w.normalize) {
    const ss = g.node("ReduceSum", [g.node("Mul", [x, x]), g.int64s([1])], { keepdims: attr.int(1) });
    const norm = g.node("Sqrt", [g.node("Max", [ss, g.float(L2_EPSILON)])]);
    x = g.node("Div", [x, norm], {}, `${prefix}normalized`);
  }
  return x;
}

/** Options for {@link exportTowerOnnx} and {@link exportRankerOnnx}. */
export interface ModelExportOptions {
  /** Graph name. @default "tower" / "ranker" */
  name?: string;
  /** Extra metadata stored in the model. @default {} */
  metadata?: Record<string, string>;
}
/** Stores what a model is (a ranker: its heads) and the spec it was exported for, then the caller's metadata. */
export function describeModel(g: GraphBuilder, model: { kind: string; heads?: readonly string[] }, spec: FeatureSpec, metadata: Record<string, string> = {}): void {
  g.metadata("reelfeed.kind", model.kind);
  if (model.heads) g.metadata("reelfeed.heads", JSON.stringify(model.heads));
  g.metadata("reelfeed.spec", JSON.stringify(spec));
  for (const [k, v] of Object.entries(metadata)) g.metadata(k, v);
}

/** A tower as a standalone ONNX model: the spec's inputs, the embedding output (model-io.ts). */
export function exportTowerOnnx(w: TowerWeights, options: ModelExportOptions = {}): Uint8Array {
  const { name = "tower", metadata = {} } = options;
  const g = createGraphBuilder({ name, docString: "reelfeed tower: masked-mean bags, dense MLP" });
  declareInputs(g, w.spec);
  declareOutput(g, embeddingOutput(w.layers[w.layers.length - 1].outDim), renderTower(g, w, ""));
  describeModel(g, { kind: "tower" }, w.spec, metadata);
  return g.toBytes();
}

/** The ranker as one ONNX model: the spec's inputs, one probability output per head (model-io.ts). */
export function exportRankerOnnx(w: RankerWeights, options: ModelExportOptions = {}): Uint8Array {
  const { name = "ranker", metadata = {} } = options;
  const g = createGraphBuilder({ name, docString: "reelfeed multi-task ranker: shared bottom, sigmoid heads" });
  declareInputs(g, w.trunk.spec);
  const inputs = new Set(onnxInputNames(w.trunk.spec));
  const trunk = renderTower(g, w.trunk, "trunk_");
  for (const head of w.heads) {
    if (inputs.has(head.name)) throw badInput(`heads.${head.name}`, "a head may not share a name with an input");
    let x = trunk;
    head.layers.forEach((layer, l) => {
      x = renderDense(g, x, layer, `head_${head.name}_layer${l}`);
    });
    declareOutput(g, headOutput(head.name), g.node("Squeeze", [x, g.int64s([1])], {}, `head_${head.name}_p`));
  }
  describeModel(g, { kind: "ranker", heads: w.heads.map((h) => h.name) }, w.trunk.spec, metadata);
  return g.toBytes();
}

/** Loads a model (bytes or a file path) into a CPU session; a bad file is a BAD_FILE error naming it. */
export async function createOnnxSession(model: Uint8Array | string): Promise<ort.InferenceSession> {
  if (typeof model !== "string") return ort.InferenceSession.create(model, { executionProviders: ["cpu"] });
  let bytes: Uint8Array;
  try {
    bytes = await readFile(model);
  } catch (e) {
    throw badFile(model, `cannot read model: ${(e as Error).message}`);
  }
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
  } catch (e) {
    throw badFile(model, `not a loadable ONNX model: ${(e as Error).message}`);
  }
}

/** Options for {@link runOnnx}. */
export interface RunOnnxOptions {
  /** Rows per ONNX Runtime call; bounds peak memory on large batches. @default 4096 */
  chunkRows?: number;
}

/**
 * Runs a model exported by this module on a FeatureBatch. Returns every model output, flattened row-major
 * (`embedding`: size×dim; a ranker head: size). Accepts bytes, a path, or an open session (kept open; sessions this
 * function opens are released before it returns). Throws BAD_BUNDLE when the model's inputs do not match the spec.
 */
export async function runOnnx(
  model: Uint8Array | string | ort.InferenceSession,
  batch: FeatureBatch,
  spec: FeatureSpec,
  options: RunOnnxOptions = {},
): Promise<Record<string, Float32Array>> {
  const { chunkRows = 4096 } = options;
  validateBatch(spec, batch);
  const owned = typeof model === "string" || model instanceof Uint8Array;
  const session = owned ? await createOnnxSession(model) : model;
  try {
    assertModelInputs(session, spec);
    const parts: Record<string, Float32Array>[] = [];
    // One call even for an empty batch, so every output is present (empty).
    for (let start = 0; start === 0 || start < batch.size; start += chunkRows) {
      const end = Math.min(batch.size, start + chunkRows);
      parts.push(readOutputs(session.outputNames, await session.run(toFeeds(spec, sliceBatch(spec, batch, start, end)))));
    }
    const merged: Record<string, Float32Array> = {};
    for (const name of session.outputNames) {
      const total = parts.reduce((s, p) => s + p[name].length, 0);
      const all = new Float32Array(total);
      let o = 0;
      for (const p of parts) {
        all.set(p[name], o);
        o += p[name].length;
      }
      merged[name] = all;
    }
    return merged;
  } finally {
    if (owned) await session.release();
  }
}
