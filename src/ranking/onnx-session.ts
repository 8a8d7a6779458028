import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { badFile, ReelfeedError } from "../errors";
import { RANKER_REQUEST_COLUMNS } from "../features/rows";
import type { FeatureBatch, FeatureSpec } from "../features/spec";
import { batchInputs, readOutputs, toFeeds } from "./model-io";
import { probeInputs, rangeGuards, rewriteForSharedInputs, type ProbeInput } from "./shared-inputs-graph";

/**
 * An ONNX Runtime session opened on the first execution provider that works, in configured order
 * (config ranking.executionProviders, default ["cuda", "cpu"]). ONNX Runtime does not fall back by itself: a
 * session asked for ["cuda", "cpu"] on a host without the CUDA provider library fails outright, so each provider
 * is tried alone and the reason each one was skipped is kept (and logged) for /health and the trace.
 */
export type ExecutionProvider = "cuda" | "cpu";

export interface OnnxRuntimeSessionOptions {
  /** Model bytes, or a path to an .onnx file. */
  model: Uint8Array | string;
  /** Providers in order of preference. @default ["cuda", "cpu"] */
  executionProviders?: readonly ExecutionProvider[];
  /** Name used in messages and logs. @default "model" */
  name?: string;
  /** Where a skipped provider is reported. @default console.warn */
  log?: (message: string) => void;
  /** Intra-op threads for the CPU provider; 0 lets ONNX Runtime decide. @default 0 */
  intraOpNumThreads?: number;
  /**
   * Inputs that are often the same on every row of a batch (the ranker's user and context columns). When the model
   * can take them once (shared-inputs-graph.ts) a second session runs that graph for batches where they are
   * row-constant; other batches (micro-batched requests of several users) run the model as exported. That serving
   * graph also drops the inputs' index range guards, and so runs only batches whose indices are all in range. A
   * serving graph is kept only when it gives the exported graph's outputs on a probe batch at start-up. [] turns
   * serving graphs off: the model runs as exported.
   * @default RANKER_REQUEST_COLUMNS
   */
  sharedInputs?: readonly string[];
}

export interface OnnxRuntimeSession {
  readonly name: string;
  /** The provider the session actually runs on. */
  readonly provider: ExecutionProvider;
  /** Why each preferred provider before `provider` was skipped, e.g. "cuda: Failed to load shared library". */
  readonly skipped: readonly string[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Inputs a row-constant batch feeds once (the shared-inputs graph); empty or absent when the model runs as exported. */
  readonly sharedInputs?: readonly string[];
  /** Inputs whose index range the session checks itself: the serving graph dropped their guards. Empty or absent: none. */
  readonly rangeCheckedInputs?: readonly string[];
  /**
   * The serving graph's rewrites beyond feeding the shared inputs once (shared-inputs-graph.ts options that passed
   * the start-up probe): "splitLayers", "dropRangeGuards", "poolBagsByMatMul". Empty or absent: none.
   */
  readonly servingRewrites?: readonly string[];
  /** Runs one batch; every output flattened row-major (size × width). */
  run(spec: FeatureSpec, batch: FeatureBatch): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

/** What an open session is, without its name and methods: plain data, so the inference thread can post it whole. */
export type OnnxSessionDescription = Omit<OnnxRuntimeSession, "name" | "run" | "release">;

/**
 * The session's description: every field but its name and methods, read generically so a field added to
 * OnnxRuntimeSession reaches the session on the main thread too (listing them one by one lost `sharedInputs` once,
 * and with it the ranker's choice not to merge requests).
 */
export function describeSession(session: OnnxRuntimeSession): OnnxSessionDescription {
  return Object.fromEntries(Object.entries(session).filter(([key, value]) => key !== "name" && typeof value !== "function")) as OnnxSessionDescription;
}

export async function createOnnxRuntimeSession(options: OnnxRuntimeSessionOptions): Promise<OnnxRuntimeSession> {
  const {
    model,
    executionProviders = ["cuda", "cpu"],
    name = typeof model === "string" ? model : "model",
    log = (message: string) => console.warn(message),
    intraOpNumThreads = 0,
    sharedInputs = RANKER_REQUEST_COLUMNS,
  } = options;
  if (executionProviders.length === 0) {
    throw new ReelfeedError("BAD_CONFIG", "config ranking.executionProviders: at least one provider is required", {
      key: "ranking.executionProviders",
    });
  }
  let bytes: Uint8Array;
  if (typeof model === "string") {
    try {
      bytes = await readFile(model);
    } catch (err) {
      throw badFile(model, `cannot read model: ${(err as Error).message}`);
    }
  } else {
    bytes = model;
  }
  const skipped: string[] = [];
  for (const provider of executionProviders) {
    const missing = missingProviderLibrary(provider);
    if (missing) {
      skipped.push(`${provider}: ${missing}`);
      log(`reelfeed: ${name}: execution provider ${provider}: ${missing}; falling back to the next provider`);
      continue;
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider],
        intraOpNumThreads,
        // The native layer logs a failed provider load as an error; we report it once, ourselves, below.
        logSeverityLevel: 4,
      });
    } catch (err) {
      const reason = `${provider}: ${(err as Error).message}`;
      if (provider === "cpu") throw badFile(name, `not a loadable ONNX model: ${(err as Error).message}`);
      skipped.push(reason);
      log(`reelfeed: ${name}: execution provider ${reason}; falling back to the next provider`);
      continue;
    }
    const shared = await openShared(bytes, sharedInputs, session, { executionProviders: [provider], intraOpNumThreads, logSeverityLevel: 4 });
    return wrap(session, name, provider, skipped, shared);
  }
  throw new ReelfeedError("UNAVAILABLE", `${name}: no execution provider could load the model (${skipped.join("; ")})`, { model: name });
}

/**
 * ONNX Runtime loads the CUDA provider from a shared library beside its binding, which npm only fetches when
 * onnxruntime-node's install script may download it (this project's .npmrc skips that so `npm ci` works offline).
 * Checking for the file first turns a native error dump on every CPU-only start into one clear line.
 */
function missingProviderLibrary(provider: ExecutionProvider): string | undefined {
  if (provider !== "cuda") return undefined;
  let bindingDir: string;
  try {
    const pkg = createRequire(import.meta.url).resolve("onnxruntime-node/package.json");
    bindingDir = join(dirname(pkg), "bin", "napi-v6", process.platform, process.arch);
  } catch {
    return undefined; // unknown layout: let ONNX Runtime try and report
  }
  const lib = process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
  return existsSync(join(bindingDir, lib)) ? undefined : `${lib} is not installed in ${bindingDir}`;
}

/** The shared-inputs variant of a model and the inputs it takes once. */
interface SharedSession {
  session: ort.InferenceSession;
  inputs: ReadonlySet<string>;
  /** Inputs whose range guards the serving graph dropped, with their exclusive bound: a batch outside runs the exported graph. */
  bounds: ReadonlyMap<string, number>;
  /** The rewrite options it was built with that are on. */
  rewrites: string[];
}

async function openShared(
  bytes: Uint8Array,
  sharedInputs: readonly string[],
  full: ort.InferenceSession,
  options: ort.InferenceSession.SessionOptions,
): Promise<SharedSession | undefined> {
  if (sharedInputs.length === 0) return undefined;
  // The model's inputs and range guards, read once for every rung below.
  let probe: ProbeInput[] | undefined;
  let guards: ReadonlyMap<string, number>;
  try {
    probe = probeInputs(bytes);
    guards = rangeGuards(bytes);
  } catch {
    return undefined; // not a graph we can read: the model runs as exported
  }
  if (!probe) return undefined;
  // The rewrite with its first layers split by columns, no range guards and bags summed by MatMul, else (a graph that
  // fails the probe) without the MatMul pooling, else the plain rewrite.
  const ladder = [
    { splitLayers: true, dropRangeGuards: true, poolBagsByMatMul: true },
    { splitLayers: true, dropRangeGuards: true, poolBagsByMatMul: false },
    { splitLayers: false, dropRangeGuards: false, poolBagsByMatMul: false },
  ];
  for (const rewrite of ladder) {
    const shared = await openRewrite(bytes, sharedInputs, full, options, rewrite, probe, rewrite.dropRangeGuards ? guards : new Map());
    if (shared) return shared;
  }
  return undefined;
}

async function openRewrite(
  bytes: Uint8Array,
  sharedInputs: readonly string[],
  full: ort.InferenceSession,
  options: ort.InferenceSession.SessionOptions,
  rewrite: { splitLayers: boolean; dropRangeGuards: boolean; poolBagsByMatMul: boolean },
  probe: readonly ProbeInput[],
  bounds: ReadonlyMap<string, number>,
): Promise<SharedSession | undefined> {
  let rewritten: Uint8Array | undefined;
  try {
    rewritten = rewriteForSharedInputs(bytes, sharedInputs, rewrite);
  } catch {
    return undefined; // not a graph we can read: the model runs as exported
  }
  if (!rewritten) return undefined;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(rewritten, options);
  } catch {
    return undefined;
  }
  const inputs = new Set(probe.filter((p) => sharedInputs.includes(p.name)).map((p) => p.name));
  // Start-up check: a probe batch (shared inputs the same on each row, the rest varying) gives identical outputs.
  const rows = 3;
  const fullFeeds: Record<string, ort.Tensor> = {};
  const sharedFeeds: Record<string, ort.Tensor> = {};
  for (const p of probe) {
    const width = p.inner.reduce((x, y) => x * y, 1);
    const at = (r: number, j: number) => (inputs.has(p.name) ? 1 + (j % 2) : (r + j) % 2);
    const make = (n: number) => {
      const data = p.type === "int32" ? new Int32Array(n * width) : new Float32Array(n * width);
      for (let r = 0; r < n; r++) for (let j = 0; j < width; j++) data[r * width + j] = p.type === "int32" ? at(r, j) : 0.25 * at(r, j) - 0.1 * r;
      return new ort.Tensor(p.type, data, [n, ...p.inner]);
    };
    fullFeeds[p.name] = make(rows);
    sharedFeeds[p.name] = inputs.has(p.name) ? make(1) : fullFeeds[p.name];
  }
  try {
    const [a, b] = await Promise.all([full.run(fullFeeds), session.run(sharedFeeds)]);
    for (const name of full.outputNames) {
      const x = a[name].data as Float32Array;
      const y = b[name].data as Float32Array;
      // Not bit for bit: the kernels see other shapes (a [1, …] pooling instead of [rows, …]) and the last bits
      // differ (3e-8 on a probability seen), so the probe allows float32 rounding and no more.
      if (x.length !== y.length || x.some((v, i) => !(Math.abs(v - y[i]) <= 1e-6 * Math.max(1, Math.abs(v))))) throw new Error(`output ${name} differs`);
    }
  } catch {
    await session.release();
    return undefined;
  }
  return { session, inputs, bounds, rewrites: Object.entries(rewrite).flatMap(([option, on]) => (on ? [option] : [])) };
}

/** Whether every row of `a` (rows of `width` values) equals the first. */
function rowConstant(a: Int32Array | Float32Array, rows: number, width: number): boolean {
  for (let r = 1; r < rows; r++) for (let j = 0; j < width; j++) if (a[r * width + j] !== a[j]) return false;
  return true;
}

/** Whether every value of `a` is in [0, bound). */
function inRange(a: Int32Array | Float32Array, bound: number): boolean {
  for (let i = 0; i < a.length; i++) if (!(a[i] >= 0 && a[i] < bound)) return false;
  return true;
}

/**
 * Feeds for the shared-inputs session when the batch's shared columns are row-constant (one row of each) and every
 * input whose range guard that graph dropped is in range (`bounds`), else undefined (the batch mixes users, or holds
 * an index the exported graph's guard maps to its "unknown" row: the full graph runs it).
 */
export function sharedFeeds(spec: FeatureSpec, batch: FeatureBatch, shared: ReadonlySet<string>, bounds: ReadonlyMap<string, number> = new Map()): Record<string, ort.Tensor> | undefined {
  // One row too: the user tower's request (its user columns fed once, its dense per row) runs without range guards.
  if (batch.size < 1) return undefined;
  for (const { input, values, width } of batchInputs(spec, batch)) {
    if (shared.has(input.name) && !rowConstant(values, batch.size, width)) return undefined;
    const bound = bounds.get(input.name);
    if (bound !== undefined && !inRange(values, bound)) return undefined;
  }
  return toFeeds(spec, batch, shared);
}

function wrap(session: ort.InferenceSession, name: string, provider: ExecutionProvider, skipped: string[], shared?: SharedSession): OnnxRuntimeSession {
  return {
    name,
    provider,
    skipped,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    sharedInputs: shared ? [...shared.inputs] : [],
    rangeCheckedInputs: shared ? [...shared.bounds.keys()] : [],
    servingRewrites: shared?.rewrites ?? [],
    async run(spec, batch) {
      const once = shared && sharedFeeds(spec, batch, shared.inputs, shared.bounds);
      const result = once ? await shared.session.run(once) : await session.run(toFeeds(spec, batch));
      return readOutputs(session.outputNames, result);
    },
    release: async () => {
      await session.release();
      await shared?.session.release();
    },
  };
}
