/**
 * The ONNX rendering of a tower and of the ranker, from the same weight description the tf rendering trains
 * (tower-network.ts), plus `runOnnx`, the one function that feeds a FeatureBatch to ONNX Runtime — used by the
 * parity tests and by the training pipeline to re-check parity on real rows before a bundle is published.
 *
 * Model inputs are named after the spec's columns:
 *   - categorical column `name`: int32 `[batch]`
 *   - bag column `name`:         int32 `[batch, length]`
 *   - `"dense"`:                 float32 `[batch, nDense]` (absent when the spec has no dense columns)
 * Indices are int32 because FeatureBatch already holds Int32Arrays (no copy per request) and ONNX Runtime's CPU
 * Gather accepts int32 indices as well as int64. Out-of-range indices are mapped to 0 inside the graph (Where), the
 * same rule `sanitizeIndices` applies on the tf side; ONNX Runtime would otherwise reject the whole request.
 * Outputs: a tower has `"embedding"` float32 `[batch, dim]`; the ranker has one float32 `[batch]` probability per head,
 * named after the head.
 */
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { assertNever } from "../data/types";
import { badFile, badInput, ReelfeedError } from "../errors";
import type { FeatureBatch, FeatureSpec } from "../features/spec";
import { sliceBatch } from "../features/spec";
import { attr, createGraphBuilder, type GraphBuilder } from "./onnx-builder";
import type { RankerWeights } from "./ranker";
import { L2_EPSILON, validateBatch, validateSpec, type DenseWeights, type TowerWeights } from "./tower-network";

/** Name of the dense input. A column may not use it. */
export const DENSE_INPUT = "dense";
/** Name of a tower model's output. */
export const EMBEDDING_OUTPUT = "embedding";

/** Model input names for a spec, in feed order. */
export function onnxInputNames(spec: FeatureSpec): string[] {
  return [
    ...spec.categorical.map((c) => c.name),
    ...spec.bags.map((c) => c.name),
    ...(spec.dense.length > 0 ? [DENSE_INPUT] : []),
  ];
}

function declareInputs(g: GraphBuilder, spec: FeatureSpec): void {
  validateSpec(spec);
  for (const c of [...spec.categorical, ...spec.bags]) {
    if (c.name === DENSE_INPUT) throw badInput(`spec.${c.name}`, `"${DENSE_INPUT}" is reserved for the dense input`);
  }
  for (const c of spec.categorical) g.input(c.name, "int32", ["batch"]);
  for (const c of spec.bags) g.input(c.name, "int32", ["batch", c.length]);
  if (spec.dense.length > 0) g.input(DENSE_INPUT, "float32", ["batch", spec.dense.length]);
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

/** Options for {@link exportTowerOnnx}. */
export interface TowerExportOptions {
  /** Graph name. @default "tower" */
  name?: string;
  /** Extra metadata stored in the model. @default {} */
  metadata?: Record<string, string>;
}

/** A tower as a standalone ONNX model: inputs per {@link onnxInputNames}, output `"embedding"` `[batch, dim]`. */
export function exportTowerOnnx(w: TowerWeights, options: TowerExportOptions = {}): Uint8Array {
  const { name = "tower", metadata = {} } = options;
  const g = createGraphBuilder({ name, docString: "reelfeed tower: masked-mean bags, dense MLP" });
  declareInputs(g, w.spec);
  const out = renderTower(g, w, "");
  const dim = w.layers[w.layers.length - 1].outDim;
  g.output(EMBEDDING_OUTPUT, "float32", ["batch", dim], out);
  g.metadata("reelfeed.kind", "tower");
  g.metadata("reelfeed.spec", JSON.stringify(w.spec));
  for (const [k, v] of Object.entries(metadata)) g.metadata(k, v);
  return g.toBytes();
}

/** Options for {@link exportRankerOnnx}. */
export interface RankerExportOptions {
  /** Graph name. @default "ranker" */
  name?: string;
  /** Extra metadata stored in the model. @default {} */
  metadata?: Record<string, string>;
}

/** The ranker as one ONNX model: inputs per {@link onnxInputNames}, one float32 `[batch]` output per head. */
export function exportRankerOnnx(w: RankerWeights, options: RankerExportOptions = {}): Uint8Array {
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
    g.output(head.name, "float32", ["batch"], g.node("Squeeze", [x, g.int64s([1])], {}, `head_${head.name}_p`));
  }
  g.metadata("reelfeed.kind", "ranker");
  g.metadata("reelfeed.heads", JSON.stringify(w.heads.map((h) => h.name)));
  g.metadata("reelfeed.spec", JSON.stringify(w.trunk.spec));
  for (const [k, v] of Object.entries(metadata)) g.metadata(k, v);
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
    const expected = onnxInputNames(spec);
    const actual = [...session.inputNames];
    if (expected.length !== actual.length || expected.some((n) => !actual.includes(n))) {
      throw new ReelfeedError(
        "BAD_BUNDLE",
        `model inputs [${actual.join(", ")}] do not match the feature spec [${expected.join(", ")}]`,
        { expected, actual },
      );
    }
    const parts: Record<string, Float32Array>[] = [];
    // One call even for an empty batch, so every output is present (empty).
    for (let start = 0; start === 0 || start < batch.size; start += chunkRows) {
      const end = Math.min(batch.size, start + chunkRows);
      const rows = sliceBatch(spec, batch, start, end);
      const result = await session.run(feeds(spec, rows));
      const out: Record<string, Float32Array> = {};
      for (const name of session.outputNames) {
        const t = result[name];
        out[name] = Float32Array.from(t.data as Float32Array);
        t.dispose();
      }
      parts.push(out);
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

/** ONNX Runtime copies from the typed array's whole buffer in some paths: hand it exact-size arrays. */
function exact<T extends Int32Array | Float32Array>(a: T): T {
  return (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice()) as T;
}

function feeds(spec: FeatureSpec, batch: FeatureBatch): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  spec.categorical.forEach((c, i) => {
    out[c.name] = new ort.Tensor("int32", exact(batch.categorical[i]), [batch.size]);
  });
  spec.bags.forEach((c, i) => {
    out[c.name] = new ort.Tensor("int32", exact(batch.bags[i]), [batch.size, c.length]);
  });
  if (spec.dense.length > 0) {
    out[DENSE_INPUT] = new ort.Tensor("float32", exact(batch.dense), [batch.size, spec.dense.length]);
  }
  return out;
}
