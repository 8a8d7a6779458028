import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** The parts of a decoded graph read and written here (onnx-proto types every field optional). */
interface Node {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: Array<{ name: string; i?: number | { toString(): string } | null }>;
}
interface ValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number | null; shape?: { dim: Array<{ dimValue?: number | { toString(): string } | null; dimParam?: string | null }> } | null } | null } | null;
}
interface Graph {
  node: Node[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
  initializer: Array<{ name: string }>;
}

/**
 * A serving variant of a model whose rows share some inputs: the ranker's rows of one request carry the same user
 * (id, country, device, surface, age bucket, history / likes / category bags) on every one of its ~500 rows, and the
 * exported graph embeds and pools those bags once per row. ONNX Runtime profiling of a 500-row request (one intra-op
 * thread) put the history bag alone (Gather [500,20,39], mask Mul, ReduceSum, Div) at about a quarter of the run;
 * the user branches together at ~40 %.
 *
 * The rewrite feeds the shared inputs with one row and broadcasts their branch outputs to the batch (Expand to
 * [rows, 1]) right where they meet per-row tensors. Only a graph where every such meeting point is a Concat along
 * axis 1 or -1 is rewritten (the ranker's trunk concat): there, Expand of a [1, w] tensor is the [rows, w] tensor
 * the full graph computed, up to float rounding (its kernels ran on other shapes). The serving session checks that at
 * start-up (onnx-session.ts runs both graphs on a probe batch and keeps the rewrite only when the outputs agree to
 * float32 rounding).
 *
 * Returns undefined when the rewrite does not apply (no shared input, a graph output that depends on shared inputs
 * only, a meeting point that is not such a Concat, no per-row input to take the batch size from).
 */
export function rewriteForSharedInputs(model: Uint8Array, shared: readonly string[]): Uint8Array | undefined {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph as unknown as Graph | null;
  if (!g) return undefined;
  const initializers = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((i) => !initializers.has(i.name));
  const sharedInputs = new Set(inputs.map((i) => i.name).filter((n) => shared.includes(n)));
  const perRow = inputs.find((i) => !sharedInputs.has(i.name));
  if (sharedInputs.size === 0 || !perRow) return undefined;

  // Tensors that depend on shared inputs and constants only.
  const invariant = new Set<string>(sharedInputs);
  const constant = new Set<string>(initializers);
  for (const node of g.node) {
    const ins = node.input.filter((x) => x !== "");
    if (ins.every((x) => constant.has(x))) {
      for (const o of node.output) constant.add(o);
    } else if (ins.every((x) => invariant.has(x) || constant.has(x))) {
      for (const o of node.output) invariant.add(o);
    }
  }
  if (g.output.some((o) => invariant.has(o.name))) return undefined;

  // Meeting points: a node that is not invariant reading an invariant tensor.
  const crossings: Array<{ node: number; slot: number }> = [];
  g.node.forEach((node, i) => {
    if (node.output.some((o) => invariant.has(o))) return;
    node.input.forEach((x, slot) => {
      if (invariant.has(x)) crossings.push({ node: i, slot });
    });
  });
  if (crossings.length === 0) return undefined;
  for (const { node } of crossings) {
    const n = g.node[node];
    const axis = n.attribute.find((a) => a.name === "axis");
    const axisValue = axis ? Number(axis.i) : NaN;
    if (n.opType !== "Concat" || (axisValue !== 1 && axisValue !== -1)) return undefined;
  }

  // [rows, 1] from a per-row input's first dimension.
  const prefix = "shared_inputs__";
  const ones = `${prefix}one`;
  g.initializer.push(onnx.TensorProto.create({ name: ones, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [1] }));
  const zero = `${prefix}zero`;
  g.initializer.push(onnx.TensorProto.create({ name: zero, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [0] }));
  const node = (n: Parameters<typeof onnx.NodeProto.create>[0]) => onnx.NodeProto.create(n) as unknown as Node;
  const head: Node[] = [
    node({ name: `${prefix}shape`, opType: "Shape", input: [perRow.name], output: [`${prefix}shape`] }),
    node({ name: `${prefix}rows`, opType: "Gather", input: [`${prefix}shape`, zero], output: [`${prefix}rows`], attribute: [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })] }),
    node({ name: `${prefix}target`, opType: "Concat", input: [`${prefix}rows`, ones], output: [`${prefix}target`], attribute: [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })] }),
  ];
  const expanded = new Map<string, string>();
  const nodes: Node[] = [...head];
  const bySlot = new Map<number, number[]>();
  for (const c of crossings) bySlot.set(c.node, [...(bySlot.get(c.node) ?? []), c.slot]);
  g.node.forEach((n, i) => {
    for (const slot of bySlot.get(i) ?? []) {
      const x = n.input[slot];
      let y = expanded.get(x);
      if (!y) {
        y = `${prefix}${x}`;
        expanded.set(x, y);
        nodes.push(node({ name: y, opType: "Expand", input: [x, `${prefix}target`], output: [y] }));
      }
      n.input[slot] = y;
    }
    nodes.push(n);
  });
  g.node = nodes;
  // Shapes recorded for the shared branches said "batch"; they are one row now.
  g.valueInfo = g.valueInfo.filter((v) => !invariant.has(v.name));
  // Shared inputs take their own leading dimension (one row).
  for (const input of g.input) {
    if (!sharedInputs.has(input.name)) continue;
    const dims = input.type?.tensorType?.shape?.dim;
    if (dims && dims.length > 0) dims[0] = onnx.TensorShapeProto.Dimension.create({ dimParam: "shared" }) as (typeof dims)[number];
  }
  return onnx.ModelProto.encode(m).finish();
}

/** A graph input as a probe batch needs it. */
export interface ProbeInput {
  name: string;
  type: "int32" | "float32";
  /** Dimensions after the batch one. */
  inner: number[];
}

/** The model's inputs (int32 / float32 with fixed inner dimensions), or undefined when another kind is present. */
export function probeInputs(model: Uint8Array): ProbeInput[] | undefined {
  const g = onnx.ModelProto.decode(model).graph as unknown as Graph | null;
  if (!g) return undefined;
  const initializers = new Set(g.initializer.map((t) => t.name));
  const out: ProbeInput[] = [];
  for (const input of g.input) {
    if (initializers.has(input.name)) continue;
    const t = input.type?.tensorType;
    const elem = t?.elemType;
    const type = elem === onnx.TensorProto.DataType.INT32 ? "int32" : elem === onnx.TensorProto.DataType.FLOAT ? "float32" : undefined;
    const dims = t?.shape?.dim ?? [];
    const inner = dims.slice(1).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : NaN));
    if (!type || dims.length === 0 || inner.some((d) => !Number.isInteger(d))) return undefined;
    out.push({ name: input.name, type, inner });
  }
  return out;
}
