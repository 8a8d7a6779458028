/**
 * The inputs and outputs of the three ONNX models — user tower, video tower, ranker — written once. The exporters
 * declare their graphs from it (src/training/onnx-export.ts, video-tower-export.ts), the parity checks feed
 * FeatureBatches through it (runOnnx) as the serving sessions do (onnx-session.ts), and the serving adapters check a
 * loaded model against it at start-up (user-tower-model.ts, ranker-model.ts, src/catalog/video-embedder.ts).
 *
 * The names are stored inside every exported .onnx file: renaming one breaks the bundles already trained.
 *
 * Inputs, named after the spec's columns, in feed order:
 *   - categorical column `name`: int32 `[batch]`
 *   - bag column `name`:         int32 `[batch, length]`
 *   - `"dense"`:                 float32 `[batch, nDense]` (absent when the spec has no dense columns)
 * Indices are int32 because FeatureBatch already holds Int32Arrays (no copy per request) and ONNX Runtime's CPU
 * Gather accepts int32 indices as well as int64.
 * Outputs: a tower has `"embedding"` float32 `[batch, dim]`; the ranker has one float32 `[batch]` probability per head,
 * named after the head.
 *
 * Serving code imports this, so it must not import training code (tfjs).
 */
import * as ort from "onnxruntime-node";
import { ReelfeedError } from "../errors";
import type { FeatureBatch, FeatureSpec } from "../features/spec";

/** Name of the dense input. A column may not use it. */
export const DENSE_INPUT = "dense";
/** Name of a tower model's (user or video) one output. */
export const EMBEDDING_OUTPUT = "embedding";

/** A dimension: a fixed size, or the batch (rows) dimension. */
export type TensorDim = number | "batch";

/** One input or output of a model graph. */
export interface TensorInfo {
  name: string;
  type: "int32" | "float32";
  dims: TensorDim[];
}

/** The model inputs for a spec, in feed order. */
export function modelInputs(spec: FeatureSpec): TensorInfo[] {
  return [
    ...spec.categorical.map((c): TensorInfo => ({ name: c.name, type: "int32", dims: ["batch"] })),
    ...spec.bags.map((c): TensorInfo => ({ name: c.name, type: "int32", dims: ["batch", c.length] })),
    ...(spec.dense.length > 0 ? [{ name: DENSE_INPUT, type: "float32", dims: ["batch", spec.dense.length] } satisfies TensorInfo] : []),
  ];
}

/** Model input names for a spec, in feed order (a bundle's manifest lists them). */
export function onnxInputNames(spec: FeatureSpec): string[] {
  return modelInputs(spec).map((i) => i.name);
}

/** A tower's output: the embedding, `dim` wide. */
export function embeddingOutput(dim: number): TensorInfo {
  return { name: EMBEDDING_OUTPUT, type: "float32", dims: ["batch", dim] };
}

/** A ranker head's output: one probability per row, named after the head. */
export function headOutput(head: string): TensorInfo {
  return { name: head, type: "float32", dims: ["batch"] };
}

/** ONNX Runtime reads some inputs from the typed array's whole buffer: hand it exact-size arrays. */
function exact<T extends Int32Array | Float32Array>(a: T): T {
  return (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice()) as T;
}

/** A batch's values per model input, in feed order, with the input's width (values per row). */
export function batchInputs(spec: FeatureSpec, batch: FeatureBatch): Array<{ input: TensorInfo; values: Int32Array | Float32Array; width: number }> {
  const values = [...batch.categorical, ...batch.bags, ...(spec.dense.length > 0 ? [batch.dense] : [])];
  return modelInputs(spec).map((input, i) => ({ input, values: values[i], width: (input.dims.slice(1) as number[]).reduce((a, b) => a * b, 1) }));
}

/**
 * A batch as the model's feeds. The inputs in `once` are fed their first row only (the shared-inputs graph of
 * shared-inputs-graph.ts takes them so; the caller has checked that every row holds the same values).
 */
export function toFeeds(spec: FeatureSpec, batch: FeatureBatch, once: ReadonlySet<string> = new Set()): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const { input, values, width } of batchInputs(spec, batch)) {
    const inner = input.dims.slice(1) as number[];
    feeds[input.name] = once.has(input.name)
      ? new ort.Tensor(input.type, values.slice(0, width), [1, ...inner])
      : new ort.Tensor(input.type, exact(values), [batch.size, ...inner]);
  }
  return feeds;
}

/** Every output of a run, copied out of ONNX Runtime's buffers (released here) and flattened row-major. */
export function readOutputs(names: readonly string[], result: Record<string, ort.Tensor>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const name of names) {
    const tensor = result[name];
    out[name] = Float32Array.from(tensor.data as Float32Array);
    tensor.dispose();
  }
  return out;
}

/** A loaded model as the checks below see it (an ONNX Runtime session or the serving wrapper of one). */
export interface LoadedModel {
  /** Named in errors when given. */
  readonly name?: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

function badModel(model: LoadedModel, what: string, details: Record<string, string> = {}): ReelfeedError {
  return new ReelfeedError("BAD_BUNDLE", model.name ? `${model.name}: ${what}` : what, { ...(model.name ? { model: model.name } : {}), ...details });
}

/**
 * Start-up check that a model takes exactly the spec's inputs: a bundle whose model and feature artifacts disagree
 * must fail at load (BAD_BUNDLE naming both lists), not return garbage per request.
 */
export function assertModelInputs(model: LoadedModel, spec: FeatureSpec): void {
  const expected = onnxInputNames(spec);
  const actual = [...model.inputNames];
  if (expected.length !== actual.length || expected.some((n) => !actual.includes(n))) {
    throw badModel(model, `model inputs [${actual.join(", ")}] do not match the feature spec [${expected.join(", ")}]`, {
      expected: expected.join(","),
      actual: actual.join(","),
    });
  }
}

/** Start-up check that a tower has its embedding output. */
export function assertEmbeddingOutput(model: LoadedModel, tower: "user tower" | "video tower"): void {
  if (!model.outputNames.includes(EMBEDDING_OUTPUT)) throw badModel(model, `${tower} has no "${EMBEDDING_OUTPUT}" output`);
}

/** The ranker heads to serve: `heads` (@default every output), each of which must be an output of the model. */
export function rankerHeads(model: LoadedModel, heads: readonly string[] = model.outputNames): string[] {
  const missing = heads.filter((h) => !model.outputNames.includes(h));
  if (heads.length === 0 || missing.length > 0) {
    throw badModel(model, `ranker heads [${missing.join(", ") || "none"}] are not outputs of the model [${model.outputNames.join(", ")}]`);
  }
  return [...heads];
}
