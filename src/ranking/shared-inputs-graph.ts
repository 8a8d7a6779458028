import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** The parts of a decoded graph read and written here (onnx-proto types every field optional). */
interface Node {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: Array<{ name: string; i?: number | { toString(): string } | null; f?: number | null }>;
}
interface ValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number | null; shape?: { dim: Array<{ dimValue?: number | { toString(): string } | null; dimParam?: string | null }> } | null } | null } | null;
}
interface Initializer {
  name: string;
  dims: Array<number | { toString(): string }>;
  dataType?: number | null;
  rawData?: Uint8Array | null;
  floatData?: number[] | null;
  int32Data?: number[] | null;
  int64Data?: Array<number | { toString(): string }> | null;
}

/** Names of the tensors and nodes the serving rewrites add. */
const PREFIX = "shared_inputs__";

/** A node's int or float attribute, or `fallback` when it has none. */
function attrValue(n: Node, name: string, fallback: number): number {
  const a = n.attribute.find((x) => x.name === name);
  if (!a) return fallback;
  if (a.i !== undefined && a.i !== null) return Number(a.i);
  return a.f ?? fallback;
}
interface Graph {
  node: Node[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
  initializer: Initializer[];
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
 * Where such a Concat feeds one Gemm alone (the ranker's first trunk layer, [rows, 304] · [304, 128]: 30 % of the
 * run, 164 of its 304 columns the user's), the layer is split by columns instead of Expanding its shared inputs:
 * the shared columns go through their rows of the weight once ([1, 164] · [164, 128], plus the bias), and that
 * [1, 128] row is the bias of the per-row part ([rows, 140] · [140, 128]). The same sum in another order of float
 * additions, so the same start-up probe covers it; `splitLayers: false` leaves such a Gemm whole (onnx-session.ts
 * falls back to that when the split graph fails its probe).
 *
 * `dropRangeGuards` also removes the index range guards of the inputs (removeRangeGuards below): only for a caller
 * that feeds the result in-range indices alone. `poolBagsByMatMul` sums each bag's embeddings with one MatMul
 * instead of a mask Mul and a ReduceSum (poolBagsWithMatMul below).
 *
 * Returns undefined when the rewrite does not apply (no shared input, a graph output that depends on shared inputs
 * only, a meeting point that is not such a Concat, no per-row input to take the batch size from).
 */
export function rewriteForSharedInputs(
  model: Uint8Array,
  shared: readonly string[],
  options: { splitLayers?: boolean; dropRangeGuards?: boolean; poolBagsByMatMul?: boolean } = {},
): Uint8Array | undefined {
  const { splitLayers = true, dropRangeGuards = false, poolBagsByMatMul = false } = options;
  const m = onnx.ModelProto.decode(model);
  const g = m.graph as unknown as Graph | null;
  if (!g) return undefined;
  if (dropRangeGuards) removeRangeGuards(g);
  if (poolBagsByMatMul) poolBagsWithMatMul(g);
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
    const axis = attrValue(n, "axis", NaN);
    if (n.opType !== "Concat" || (axis !== 1 && axis !== -1)) return undefined;
  }

  const prefix = PREFIX;
  const node = (n: Parameters<typeof onnx.NodeProto.create>[0]) => onnx.NodeProto.create(n) as unknown as Node;
  // Concat → Gemm meeting points split by columns (above): replaced node by node, and no Expand for them.
  const replaced = splitLayers ? splitSharedColumns(g, invariant, new Set(crossings.map((c) => c.node)), prefix, node) : new Map<number, Node[]>();
  const expandAt = crossings.filter((c) => !replaced.has(c.node));

  // [rows, 1] from a per-row input's first dimension, for the meeting points that take an Expand.
  const ones = `${prefix}one`;
  const zero = `${prefix}zero`;
  if (expandAt.length > 0) {
    g.initializer.push(onnx.TensorProto.create({ name: ones, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [1] }) as unknown as Initializer);
    g.initializer.push(onnx.TensorProto.create({ name: zero, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [0] }) as unknown as Initializer);
  }
  const head: Node[] = [
    node({ name: `${prefix}shape`, opType: "Shape", input: [perRow.name], output: [`${prefix}shape`] }),
    node({ name: `${prefix}rows`, opType: "Gather", input: [`${prefix}shape`, zero], output: [`${prefix}rows`], attribute: [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })] }),
    node({ name: `${prefix}target`, opType: "Concat", input: [`${prefix}rows`, ones], output: [`${prefix}target`], attribute: [onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 })] }),
  ];
  const expanded = new Map<string, string>();
  const nodes: Node[] = expandAt.length > 0 ? [...head] : [];
  const bySlot = new Map<number, number[]>();
  for (const c of expandAt) bySlot.set(c.node, [...(bySlot.get(c.node) ?? []), c.slot]);
  g.node.forEach((n, i) => {
    const replacement = replaced.get(i);
    if (replacement) {
      nodes.push(...replacement);
      return;
    }
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

/**
 * Splits each meeting-point Concat that feeds one Gemm alone (weight an initializer, `transA` 0, `alpha` and `beta`
 * 1, bias an initializer or absent) by columns: returns, by node index, what replaces the Concat (shared Concat,
 * shared Gemm with the bias, per-row Concat, per-row Gemm whose bias is the shared row) and the Gemm (nothing).
 * A Concat whose input widths the shapes below cannot tell is left to the Expand.
 */
function splitSharedColumns(g: Graph, invariant: ReadonlySet<string>, meeting: ReadonlySet<number>, prefix: string, node: (n: Parameters<typeof onnx.NodeProto.create>[0]) => Node): Map<number, Node[]> {
  const out = new Map<number, Node[]>();
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  const consumers = new Map<string, number[]>();
  g.node.forEach((n, i) => n.input.forEach((x) => consumers.set(x, [...(consumers.get(x) ?? []), i])));
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const shapes = inferShapes(g);
  for (const c of meeting) {
    const concat = g.node[c];
    const joined = concat.output[0];
    const users = consumers.get(joined) ?? [];
    if (users.length !== 1 || graphOutputs.has(joined)) continue;
    const gemm = g.node[users[0]];
    const weight = initializers.get(gemm.input[1]);
    const bias = gemm.input[2] ? initializers.get(gemm.input[2]) : undefined;
    if (gemm.opType !== "Gemm" || gemm.input[0] !== joined || !weight || weight.dims.length !== 2 || (gemm.input[2] && !bias)) continue;
    if (attrValue(gemm, "transA", 0) !== 0 || attrValue(gemm, "alpha", 1) !== 1 || attrValue(gemm, "beta", 1) !== 1) continue;
    const widths = concat.input.map((x) => {
      const shape = shapes.get(x);
      return shape?.length === 2 ? shape[1] : null;
    });
    const values = valuesOf(weight);
    if (widths.some((w) => w === null) || !(values instanceof Float32Array)) continue;
    const transB = attrValue(gemm, "transB", 0) === 1;
    const [rowsB, colsB] = weight.dims.map(Number);
    const k = transB ? colsB : rowsB;
    const n = transB ? rowsB : colsB;
    if ((widths as number[]).reduce((a, b) => a + b, 0) !== k) continue;
    // The weight's rows (as [k, n]) of the shared and the per-row columns, each in Concat order.
    const sharedRows: number[] = [];
    const rowRows: number[] = [];
    let offset = 0;
    concat.input.forEach((x, i) => {
      for (let j = 0; j < widths[i]!; j++) (invariant.has(x) ? sharedRows : rowRows).push(offset + j);
      offset += widths[i]!;
    });
    if (sharedRows.length === 0 || rowRows.length === 0) continue;
    const part = (rows: number[], name: string): string => {
      const w = new Float32Array(rows.length * n);
      rows.forEach((r, i) => {
        for (let j = 0; j < n; j++) w[i * n + j] = transB ? values[j * k + r] : values[r * n + j];
      });
      g.initializer.push(onnx.TensorProto.create({ name, dims: [rows.length, n], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(w.buffer) }) as unknown as Initializer);
      return name;
    };
    const name = `${prefix}${gemm.output[0]}`;
    const axis = onnx.AttributeProto.create({ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 });
    const sharedInputs = concat.input.filter((x) => invariant.has(x));
    const rowInputs = concat.input.filter((x) => !invariant.has(x));
    out.set(c, [
      node({ name: `${name}_shared_in`, opType: "Concat", input: sharedInputs, output: [`${name}_shared_in`], attribute: [axis] }),
      node({ name: `${name}_shared`, opType: "Gemm", input: [`${name}_shared_in`, part(sharedRows, `${name}_shared_weight`), ...(bias ? [bias.name] : [])], output: [`${name}_shared`] }),
      node({ name: `${name}_rows_in`, opType: "Concat", input: rowInputs, output: [`${name}_rows_in`], attribute: [axis] }),
      node({ name: gemm.name, opType: "Gemm", input: [`${name}_rows_in`, part(rowRows, `${name}_rows_weight`), `${name}_shared`], output: gemm.output }),
    ]);
    out.set(users[0], []);
  }
  // The split weights replace the whole one (unless another node still reads it).
  const stillRead = new Set<string>();
  g.node.forEach((n, i) => {
    if (out.has(i)) return;
    for (const x of n.input) stillRead.add(x);
  });
  for (const i of out.keys()) for (const r of out.get(i)!) for (const x of r.input) stillRead.add(x);
  g.initializer = g.initializer.filter((t) => stillRead.has(t.name) || !g.node.some((n, i) => out.has(i) && n.input.includes(t.name)));
  return out;
}

/** An initializer's values (float32, int32 or int64; from raw_data or the typed field), or undefined for another type. */
function valuesOf(t: Initializer | undefined): Float32Array | Int32Array | BigInt64Array | undefined {
  const T = onnx.TensorProto.DataType;
  const raw = t?.rawData && t.rawData.length > 0 ? t.rawData.buffer.slice(t.rawData.byteOffset, t.rawData.byteOffset + t.rawData.byteLength) : undefined;
  switch (t?.dataType) {
    case T.FLOAT:
      return raw ? new Float32Array(raw) : t.floatData ? Float32Array.from(t.floatData) : undefined;
    case T.INT32:
      return raw ? new Int32Array(raw) : t.int32Data ? Int32Array.from(t.int32Data) : undefined;
    case T.INT64:
      return raw ? new BigInt64Array(raw) : t.int64Data ? BigInt64Array.from(t.int64Data.map((v) => BigInt(v.toString()))) : undefined;
    default:
      return undefined;
  }
}

/** An int64 initializer's values as numbers (axes), or undefined. */
function intsOf(t: Initializer | undefined): number[] | undefined {
  const v = valuesOf(t);
  return v instanceof BigInt64Array ? [...v].map(Number) : undefined;
}

const ELEMENTWISE = new Set(["Add", "Sub", "Mul", "Div", "Max", "Min", "Where", "And", "Or", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"]);
const SAME_SHAPE = new Set(["Cast", "Relu", "Sigmoid", "Tanh", "Identity", "Not", "Neg", "Abs", "Sqrt", "Exp", "Log", "Softmax"]);

/**
 * Tensor shapes as far as this graph's ops tell them (null: a symbolic or unknown dimension), for the Concat widths
 * above: graph inputs and initializers, Gather on axis 0, broadcasting element-wise ops, ReduceSum / Unsqueeze /
 * Squeeze with constant axes, Concat and Gemm. A tensor past any other op has no shape.
 */
function inferShapes(g: Graph): Map<string, Array<number | null>> {
  const shapes = new Map<string, Array<number | null>>();
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  for (const t of g.initializer) shapes.set(t.name, t.dims.map(Number));
  for (const input of g.input) {
    const dims = input.type?.tensorType?.shape?.dim;
    if (dims) shapes.set(input.name, dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null)));
  }
  const broadcast = (xs: Array<Array<number | null>>): Array<number | null> => {
    const rank = Math.max(...xs.map((x) => x.length));
    const out: Array<number | null> = [];
    for (let d = 0; d < rank; d++) {
      const dims = xs.map((x) => x[x.length - rank + d] ?? 1);
      const big = dims.filter((v) => v !== 1);
      out.push(big.length === 0 ? 1 : big.every((v) => v === big[0]) ? big[0] : big.find((v) => v !== null) ?? null);
    }
    return out;
  };
  for (const n of g.node) {
    const ins = n.input.map((x) => (x === "" ? undefined : shapes.get(x)));
    let shape: Array<number | null> | undefined;
    if (ins.some((x, i) => !x && n.input[i] !== "" && !(n.opType === "ReduceSum" && i === 1))) shape = undefined;
    else if (SAME_SHAPE.has(n.opType)) shape = ins[0];
    else if (ELEMENTWISE.has(n.opType)) shape = broadcast(ins as Array<Array<number | null>>);
    else if (n.opType === "Gather" && attrValue(n, "axis", 0) === 0) shape = [...ins[1]!, ...ins[0]!.slice(1)];
    else if (n.opType === "Gemm") shape = [ins[0]![attrValue(n, "transA", 0) ? 1 : 0], ins[1]![attrValue(n, "transB", 0) ? 0 : 1]];
    else if (n.opType === "MatMul" && ins[0]!.length === 2 && ins[1]!.length === 2) shape = [ins[0]![0], ins[1]![1]];
    else if (n.opType === "Reshape") {
      // A constant target without -1: 0 copies the input's dimension (allowzero 0, the default).
      const target = intsOf(initializers.get(n.input[1]));
      if (target && !target.includes(-1) && attrValue(n, "allowzero", 0) === 0) shape = target.map((d, i) => (d === 0 ? ins[0]![i] ?? null : d));
    }
    else if (n.opType === "Concat") {
      const x = ins as Array<Array<number | null>>;
      const rank = x[0].length;
      const axis = (attrValue(n, "axis", 0) + rank) % rank;
      shape = x[0].map((d, i) => (i === axis ? x.reduce<number | null>((sum, s) => (sum === null || s[i] === null ? null : sum + s[i]!), 0) : d));
    } else if (n.opType === "ReduceSum" || n.opType === "Unsqueeze" || n.opType === "Squeeze") {
      const axes = n.input[1] ? intsOf(initializers.get(n.input[1])) : undefined;
      const x = ins[0]!;
      if (n.opType === "Unsqueeze") {
        if (axes) {
          const rank = x.length + axes.length;
          const at = new Set(axes.map((a) => (a + rank) % rank));
          const rest = [...x];
          shape = Array.from({ length: rank }, (_, i) => (at.has(i) ? 1 : rest.shift()!));
        }
      } else if (axes || n.opType === "ReduceSum") {
        const at = new Set((axes ?? x.map((_, i) => i)).map((a) => (a + x.length) % x.length));
        const keep = n.opType === "ReduceSum" && attrValue(n, "keepdims", 1) === 1;
        shape = x.flatMap((d, i) => (at.has(i) ? (keep ? [1] : []) : [d]));
      }
    }
    if (shape) for (const o of n.output) shapes.set(o, shape);
  }
  return shapes;
}

/**
 * The index range guards of a model's inputs: input name → the exclusive upper bound of its values (the lower is 0).
 * The exporter guards every index input before its embedding Gather, `Where(x >= 0 and x < V, x, 0)`, so an index
 * out of the table reads the "unknown" row instead of failing the run. For values in range the guard is the identity.
 */
export function rangeGuards(model: Uint8Array): Map<string, number> {
  const g = onnx.ModelProto.decode(model).graph as unknown as Graph | null;
  return g ? new Map([...findRangeGuards(g)].map(([x, guard]) => [x, guard.bound])) : new Map();
}

interface RangeGuard {
  bound: number;
  /** The guard's nodes, the Where last. */
  nodes: Node[];
}

function findRangeGuards(g: Graph): Map<string, RangeGuard> {
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  const inputs = new Set(g.input.map((i) => i.name).filter((n) => !initializers.has(n)));
  const outputs = new Set(g.output.map((o) => o.name));
  const producer = new Map<string, Node>();
  const readers = new Map<string, number>();
  for (const n of g.node) {
    for (const o of n.output) producer.set(o, n);
    for (const x of n.input) readers.set(x, (readers.get(x) ?? 0) + 1);
  }
  const scalar = (name: string): number | undefined => {
    const t = initializers.get(name);
    const v = t && t.dims.length === 0 ? valuesOf(t) : undefined;
    return v instanceof Int32Array && v.length === 1 ? v[0] : undefined;
  };
  const out = new Map<string, RangeGuard>();
  for (const where of g.node) {
    if (where.opType !== "Where") continue;
    const [cond, x, fallback] = where.input;
    const and = producer.get(cond);
    const ge = and?.opType === "And" ? producer.get(and.input[0]) : undefined;
    const lt = and?.opType === "And" ? producer.get(and.input[1]) : undefined;
    if (!and || ge?.opType !== "GreaterOrEqual" || lt?.opType !== "Less" || !inputs.has(x) || ge.input[0] !== x || lt.input[0] !== x || outputs.has(where.output[0])) continue;
    const bound = scalar(lt.input[1]);
    if (scalar(ge.input[1]) !== 0 || scalar(fallback) !== 0 || bound === undefined || bound < 1) continue;
    // Only a chain nothing else reads.
    if (readers.get(cond) !== 1 || readers.get(and.input[0]) !== 1 || readers.get(and.input[1]) !== 1) continue;
    const seen = out.get(x);
    if (!seen || bound < seen.bound) out.set(x, { bound, nodes: [ge, lt, and, where] });
  }
  return out;
}

/**
 * Drops the range guards (above) of the serving graph: its readers read the input itself. The serving session feeds
 * this graph only batches whose guarded inputs are all in range (onnx-session.ts checks), where each guard is the
 * identity; a batch with an index out of range runs the exported graph, guards and all. ONNX Runtime profiling put
 * the guards at 15–20 % of a 500-row ranker run: 52 nodes, most of their cost per node, not per row.
 */
function removeRangeGuards(g: Graph): void {
  const guards = findRangeGuards(g);
  const dropped = new Set<Node>();
  const renamed = new Map<string, string>();
  for (const [x, guard] of guards) {
    for (const n of guard.nodes) dropped.add(n);
    renamed.set(guard.nodes[3].output[0], x);
  }
  g.node = g.node.filter((n) => !dropped.has(n));
  for (const n of g.node) n.input = n.input.map((x) => renamed.get(x) ?? x);
  // The guards' constants, unless something else still reads them.
  dropUnread(g, new Set([...dropped].flatMap((n) => n.input)));
}

/** Removes the initializers named in `names` that no node reads any more (nor the graph takes as an input). */
function dropUnread(g: Graph, names: ReadonlySet<string>): void {
  const read = new Set(g.node.flatMap((n) => n.input));
  for (const input of g.input) read.add(input.name);
  g.initializer = g.initializer.filter((t) => !names.has(t.name) || read.has(t.name));
}

/**
 * Sums each bag's embeddings with one MatMul: the exporter pools a bag (onnx-export.ts renderTower) as
 * `ReduceSum(Gather(table, ids) · Unsqueeze(Cast(ids > 0)), axis 1)`, the mask zeroing the padding slots (index 0).
 * ONNX Runtime profiling of a 500-row ranker run put the per-row tags bag's mask Mul and ReduceSum over
 * [500, 8, 21] at 18 % of the run. Here the table's row 0 is zeroed (a copy, so no other reader sees it), which
 * makes the mask redundant for the sum, and the [rows, length, dim] embeddings, reshaped to [rows, length·dim],
 * are summed by a MatMul with `length` stacked identity matrices. The same additions (each output the sum of the
 * bag's entries), so the serving session's start-up probe covers it; the mask still counts the entries for the
 * mean. A bag whose nodes do not match this pattern exactly, or whose shapes are not known, is left as exported.
 */
function poolBagsWithMatMul(g: Graph): void {
  const initializers = new Map(g.initializer.map((t) => [t.name, t]));
  const producer = new Map<string, Node>();
  const readers = new Map<string, Node[]>();
  for (const n of g.node) {
    for (const o of n.output) producer.set(o, n);
    for (const x of n.input) readers.set(x, [...(readers.get(x) ?? []), n]);
  }
  const outputs = new Set(g.output.map((o) => o.name));
  const only = (x: string, n: Node): boolean => !outputs.has(x) && readers.get(x)?.length === 1 && readers.get(x)![0] === n;
  const shapes = inferShapes(g);
  const dropped = new Set<Node>();
  const added = new Map<Node, Node[]>();
  for (const sum of g.node) {
    if (sum.opType !== "ReduceSum" || attrValue(sum, "keepdims", 1) !== 0 || intsOf(initializers.get(sum.input[1]))?.join() !== "1") continue;
    const mul = producer.get(sum.input[0]);
    if (mul?.opType !== "Mul" || !only(mul.output[0], sum)) continue;
    const [gather, unsqueeze] = mul.input.map((x) => producer.get(x));
    if (gather?.opType !== "Gather" || attrValue(gather, "axis", 0) !== 0 || unsqueeze?.opType !== "Unsqueeze" || !only(gather.output[0], mul) || !only(unsqueeze.output[0], mul)) continue;
    if (intsOf(initializers.get(unsqueeze.input[1]))?.join() !== "2") continue;
    const mask = producer.get(unsqueeze.input[0]);
    const greater = mask?.opType === "Cast" ? producer.get(mask.input[0]) : undefined;
    const [table, ids] = gather.input;
    const zero = valuesOf(initializers.get(greater?.input[1] ?? ""));
    if (greater?.opType !== "Greater" || greater.input[0] !== ids || !zero || zero.length !== 1 || Number(zero[0]) !== 0) continue;
    const weights = valuesOf(initializers.get(table));
    const [length, dim] = [shapes.get(ids)?.[1], shapes.get(table)?.[1]];
    if (!(weights instanceof Float32Array) || shapes.get(ids)?.length !== 2 || typeof length !== "number" || typeof dim !== "number") continue;
    const name = `${PREFIX}${sum.output[0]}`;
    const zeroed = weights.slice();
    zeroed.fill(0, 0, dim);
    const sumOfSlots = new Float32Array(length * dim * dim);
    for (let l = 0; l < length; l++) for (let d = 0; d < dim; d++) sumOfSlots[(l * dim + d) * dim + d] = 1;
    const T = onnx.TensorProto.DataType;
    for (const [tensor, dims, dataType, data] of [
      [`${name}_table`, [zeroed.length / dim, dim], T.FLOAT, new Uint8Array(zeroed.buffer)],
      [`${name}_flat_shape`, [2], T.INT64, new Uint8Array(BigInt64Array.from([0n, BigInt(length * dim)]).buffer)],
      [`${name}_sum_of_slots`, [length * dim, dim], T.FLOAT, new Uint8Array(sumOfSlots.buffer)],
    ] as const) {
      g.initializer.push(onnx.TensorProto.create({ name: tensor, dims: [...dims], dataType, rawData: data }) as unknown as Initializer);
    }
    const node = (n: Parameters<typeof onnx.NodeProto.create>[0]) => onnx.NodeProto.create(n) as unknown as Node;
    gather.input = [`${name}_table`, ids];
    for (const n of [mul, unsqueeze, sum]) dropped.add(n);
    added.set(sum, [
      node({ name: `${name}_flat`, opType: "Reshape", input: [gather.output[0], `${name}_flat_shape`], output: [`${name}_flat`] }),
      node({ name, opType: "MatMul", input: [`${name}_flat`, `${name}_sum_of_slots`], output: sum.output }),
    ]);
  }
  g.node = g.node.flatMap((n) => added.get(n) ?? (dropped.has(n) ? [] : [n]));
  // The replaced tables and the Unsqueezes' axes, unless something else still reads them.
  dropUnread(g, new Set(initializers.keys()));
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
