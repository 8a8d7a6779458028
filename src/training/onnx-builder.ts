/**
 * A small typed helper for writing ONNX graphs with `onnx-proto`: tensors are named automatically, initializers
 * come from typed arrays (stored as little-endian `raw_data`, which is what ONNX specifies and what every JS engine
 * we run on uses), the batch dimension is symbolic ("batch"), and the model serialises to bytes ONNX Runtime loads
 * with `InferenceSession.create(bytes)`.
 *
 * Versions: opset 13 (the first with `axes` as an input of ReduceSum/Unsqueeze/Squeeze, which we use) and IR
 * version 8, the newest `onnx-proto` knows; onnxruntime 1.30 reads IR ≤ 11 and opsets far past 13, so the pair is
 * well inside what it accepts.
 */
import onnxProto from "onnx-proto";
import { assertNever } from "../data/types";

const { onnx } = onnxProto;

export type OnnxDType = "float32" | "int32" | "int64" | "bool";

/** A dimension: a fixed size, or the symbolic batch dimension. */
export type OnnxDim = number | "batch";

/** A typed attribute value (JS numbers cannot tell an ONNX INT from a FLOAT on their own). */
export type OnnxAttribute =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: number[] }
  | { kind: "floats"; value: number[] }
  | { kind: "string"; value: string };

export const attr = {
  int: (value: number): OnnxAttribute => ({ kind: "int", value }),
  float: (value: number): OnnxAttribute => ({ kind: "float", value }),
  ints: (value: number[]): OnnxAttribute => ({ kind: "ints", value }),
  floats: (value: number[]): OnnxAttribute => ({ kind: "floats", value }),
  string: (value: string): OnnxAttribute => ({ kind: "string", value }),
};

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<OnnxDType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

export interface GraphBuilder {
  /** Declares a graph input; returns its name. */
  input(name: string, dtype: OnnxDType, dims: OnnxDim[]): string;
  /** Declares a graph output. The tensor `from` is renamed to `name` through an Identity when they differ. */
  output(name: string, dtype: OnnxDType, dims: OnnxDim[], from: string): void;
  /** A constant tensor; returns its (unique) name. */
  initializer(hint: string, data: Float32Array | Int32Array | BigInt64Array, dims: number[]): string;
  /** An int64 vector constant (axes, shapes), shared between nodes that ask for the same values. */
  int64s(values: number[]): string;
  /** A scalar float32 constant, shared by value. */
  float(value: number): string;
  /** A scalar int32 constant, shared by value. */
  int32(value: number): string;
  /** Adds a node with one output; returns the output's name. */
  node(op: string, inputs: string[], attributes?: Record<string, OnnxAttribute>, hint?: string): string;
  /** Key/value metadata stored in the model (readable from an ONNX Runtime session). */
  metadata(key: string, value: string): void;
  /** Serialises the model. */
  toBytes(): Uint8Array;
}

/** Options for {@link createGraphBuilder}. */
export interface GraphBuilderOptions {
  /** Graph name. */
  name: string;
  /** @default 13 */
  opset?: number;
  /** @default 8 */
  irVersion?: number;
  /** @default "reelfeed" */
  producerName?: string;
  /** @default "" */
  docString?: string;
}

export function createGraphBuilder(options: GraphBuilderOptions): GraphBuilder {
  const { name, opset = 13, irVersion = 8, producerName = "reelfeed", docString = "" } = options;
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  const inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  const outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  const metadata: { key: string; value: string }[] = [];
  const used = new Set<string>();
  const shared = new Map<string, string>();
  let counter = 0;

  const fresh = (hint: string) => {
    const base = hint.replace(/[^A-Za-z0-9_.]/g, "_") || "t";
    let n = base;
    while (used.has(n)) n = `${base}_${++counter}`;
    used.add(n);
    return n;
  };
  const claim = (n: string) => {
    if (used.has(n)) throw new Error(`onnx-builder: tensor name "${n}" is already used`);
    used.add(n);
    return n;
  };
  const valueInfo = (n: string, dtype: OnnxDType, dims: OnnxDim[]) =>
    onnx.ValueInfoProto.create({
      name: n,
      type: {
        tensorType: {
          elemType: ONNX_DTYPE[dtype],
          shape: { dim: dims.map((d) => (d === "batch" ? { dimParam: "batch" } : { dimValue: d })) },
        },
      },
    });

  const builder: GraphBuilder = {
    input(n, dtype, dims) {
      inputs.push(valueInfo(claim(n), dtype, dims));
      return n;
    },
    output(n, dtype, dims, from) {
      if (n !== from) builder.node("Identity", [from], {}, n);
      if (!used.has(n)) throw new Error(`onnx-builder: output "${n}" could not be named`);
      outputs.push(valueInfo(n, dtype, dims));
    },
    initializer(hint, data, dims) {
      const expected = dims.reduce((a, b) => a * b, 1);
      if (expected !== data.length) throw new Error(`onnx-builder: ${hint} has ${data.length} values for dims ${dims}`);
      const dataType =
        data instanceof Float32Array ? ONNX_DTYPE.float32 : data instanceof Int32Array ? ONNX_DTYPE.int32 : ONNX_DTYPE.int64;
      const n = fresh(hint);
      initializers.push(
        onnx.TensorProto.create({
          name: n,
          dims,
          dataType,
          rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        }),
      );
      return n;
    },
    int64s: (values) => constant(`i64:${values.join(",")}`, "const_i64", () => BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]),
    float: (value) => constant(`f32:${value}`, "const_f32", () => Float32Array.of(value), []),
    int32: (value) => constant(`i32:${value}`, "const_i32", () => Int32Array.of(value), []),
    node(op, nodeInputs, attributes = {}, hint) {
      const out = hint && !used.has(hint) ? claim(hint) : fresh(hint ?? op.toLowerCase());
      nodes.push(
        onnx.NodeProto.create({
          name: `${op}_${nodes.length}`,
          opType: op,
          input: nodeInputs,
          output: [out],
          attribute: Object.entries(attributes).map(([key, a]) => toAttribute(key, a)),
        }),
      );
      return out;
    },
    metadata(key, value) {
      metadata.push({ key, value });
    },
    toBytes() {
      const model = onnx.ModelProto.create({
        irVersion,
        opsetImport: [{ domain: "", version: opset }],
        producerName,
        docString,
        metadataProps: metadata,
        graph: onnx.GraphProto.create({ name, node: nodes, initializer: initializers, input: inputs, output: outputs }),
      });
      return onnx.ModelProto.encode(model).finish();
    },
  };
  /** A constant shared by every node that asks for the same `key` (one initializer per value). */
  function constant(key: string, hint: string, data: () => Float32Array | Int32Array | BigInt64Array, dims: number[]): string {
    let n = shared.get(key);
    if (!n) {
      n = builder.initializer(hint, data(), dims);
      shared.set(key, n);
    }
    return n;
  }
  return builder;
}

function toAttribute(name: string, a: OnnxAttribute) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case "int":
      return onnx.AttributeProto.create({ name, type: T.INT, i: a.value });
    case "float":
      return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.value });
    case "ints":
      return onnx.AttributeProto.create({ name, type: T.INTS, ints: a.value });
    case "floats":
      return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: a.value });
    case "string":
      return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.value) });
    default:
      return assertNever(a, "attribute");
  }
}
