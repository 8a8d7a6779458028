import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { badFile, ReelfeedError } from "../errors";
import type { FeatureBatch, FeatureSpec } from "../features/spec";

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
}

export interface OnnxRuntimeSession {
  readonly name: string;
  /** The provider the session actually runs on. */
  readonly provider: ExecutionProvider;
  /** Why each preferred provider before `provider` was skipped, e.g. "cuda: Failed to load shared library". */
  readonly skipped: readonly string[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs one batch; every output flattened row-major (size × width). */
  run(spec: FeatureSpec, batch: FeatureBatch): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

/** Model input name of the dense block (matches src/training/onnx-export.ts). */
export const DENSE_INPUT = "dense";

/** Input names a model must have for a spec, in feed order. */
export function expectedInputNames(spec: FeatureSpec): string[] {
  return [...spec.categorical.map((c) => c.name), ...spec.bags.map((c) => c.name), ...(spec.dense.length > 0 ? [DENSE_INPUT] : [])];
}

/** ONNX Runtime reads some inputs from the typed array's whole buffer: hand it exact-size arrays. */
function exact<T extends Int32Array | Float32Array>(a: T): T {
  return (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice()) as T;
}

export function toFeeds(spec: FeatureSpec, batch: FeatureBatch): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  spec.categorical.forEach((c, i) => {
    feeds[c.name] = new ort.Tensor("int32", exact(batch.categorical[i]), [batch.size]);
  });
  spec.bags.forEach((c, i) => {
    feeds[c.name] = new ort.Tensor("int32", exact(batch.bags[i]), [batch.size, c.length]);
  });
  if (spec.dense.length > 0) feeds[DENSE_INPUT] = new ort.Tensor("float32", exact(batch.dense), [batch.size, spec.dense.length]);
  return feeds;
}

/**
 * Start-up check that a model takes exactly the spec's inputs: a bundle whose model and feature artifacts disagree
 * must fail at load (BAD_BUNDLE naming both lists), not return garbage per request.
 */
export function assertInputsMatch(session: Pick<OnnxRuntimeSession, "name" | "inputNames">, spec: FeatureSpec): void {
  const expected = expectedInputNames(spec);
  const actual = [...session.inputNames];
  if (expected.length !== actual.length || expected.some((n) => !actual.includes(n))) {
    throw new ReelfeedError(
      "BAD_BUNDLE",
      `${session.name}: model inputs [${actual.join(", ")}] do not match the feature spec [${expected.join(", ")}]`,
      { model: session.name, expected: expected.join(","), actual: actual.join(",") },
    );
  }
}

export async function createOnnxRuntimeSession(options: OnnxRuntimeSessionOptions): Promise<OnnxRuntimeSession> {
  const {
    model,
    executionProviders = ["cuda", "cpu"],
    name = typeof model === "string" ? model : "model",
    log = (message: string) => console.warn(message),
    intraOpNumThreads = 0,
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
    return wrap(session, name, provider, skipped);
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

function wrap(session: ort.InferenceSession, name: string, provider: ExecutionProvider, skipped: string[]): OnnxRuntimeSession {
  return {
    name,
    provider,
    skipped,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(spec, batch) {
      const result = await session.run(toFeeds(spec, batch));
      const out: Record<string, Float32Array> = {};
      for (const output of session.outputNames) {
        const tensor = result[output];
        // Copy out of ONNX Runtime's buffer so the tensor can be released now.
        out[output] = Float32Array.from(tensor.data as Float32Array);
        tensor.dispose();
      }
      return out;
    },
    release: () => session.release(),
  };
}
