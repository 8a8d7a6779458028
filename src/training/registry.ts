import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";
import { BUNDLE_FILES, readManifest, type BundleManifest } from "./bundle";
import type { EvaluationReport } from "./report";

/**
 * The model registry: a list of trained bundles and which one is active (served by default). A JSON file in the
 * var directory; bundles stay wherever they were written.
 *
 * The model lifecycle around it (docs/experiments.md "Model lifecycle"):
 * - activation goes through checks (the bundle's files and manifest, its ONNX parity) and the promotion gate: a
 *   bundle worse than the active one on the warm evaluation protocol of their report.json is refused unless forced;
 * - every activation pushes the previous active version on `history`, so `rollbackBundle` goes back one step;
 * - a running server started from the registry watches this file and hot-swaps to the new active bundle
 *   (src/app/serve.ts), refusing one that fails to load or its checks and keeping the old one serving.
 */
export interface RegistryEntry {
  version: string;
  path: string;
  createdAt: string;
  source: string;
  metrics: Record<string, number>;
}

export interface RegistryFile {
  active?: string;
  /** Previously active versions, oldest first: rollback pops the last. */
  history?: string[];
  bundles: RegistryEntry[];
}

export function registryPath(varDir: string): string {
  return join(varDir, "registry.json");
}

export function readRegistry(varDir: string): RegistryFile {
  const path = registryPath(varDir);
  if (!existsSync(path)) return { bundles: [] };
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RegistryFile;
  } catch (err) {
    throw new ReelfeedError("BAD_FILE", `${path}: invalid registry JSON (${(err as Error).message})`, { path });
  }
}

/** Adds (or refreshes) a bundle; makes it active when `activate` is true or nothing is active yet. */
export async function registerBundle(varDir: string, bundleDir: string, activate = true): Promise<RegistryEntry> {
  const manifest = await readManifest(bundleDir);
  const registry = readRegistry(varDir);
  const entry: RegistryEntry = {
    version: manifest.version,
    path: resolve(bundleDir),
    createdAt: manifest.createdAt,
    source: manifest.source,
    metrics: manifest.metrics,
  };
  registry.bundles = [...registry.bundles.filter((b) => b.version !== entry.version && b.path !== entry.path), entry];
  if (activate || !registry.active) setActive(registry, entry.version);
  await writeFileAtomic(registryPath(varDir), JSON.stringify(registry, null, 2) + "\n");
  return entry;
}

/** Makes `version` active, remembering the one it replaces (not when it is the same). */
function setActive(registry: RegistryFile, version: string): void {
  if (registry.active && registry.active !== version) registry.history = [...(registry.history ?? []), registry.active].slice(-20);
  registry.active = version;
}

/** Largest ONNX-versus-training difference (manifest `parityMaxAbsDiff`) a served bundle may have. */
export const MAX_PARITY_DIFF = 1e-3;

/** The warm-protocol metric the gate compares (NDCG@20 of the served funnel; the two-tower's when no funnel ran). */
export interface GateScore {
  metric: string;
  value: number;
}

/** A bundle's warm-protocol score from its report.json; undefined when the report has no warm protocol. */
export function warmScore(bundleDir: string): GateScore | undefined {
  const path = join(bundleDir, BUNDLE_FILES.report);
  if (!existsSync(path)) return undefined;
  let report: EvaluationReport;
  try {
    report = JSON.parse(readFileSync(path, "utf8")) as EvaluationReport;
  } catch {
    return undefined;
  }
  const warm = report.protocols?.warm?.retrieval;
  for (const model of ["funnel", "twoTower"]) {
    const v = warm?.[model]?.["ndcg@20"];
    if (typeof v === "number" && Number.isFinite(v)) return { metric: `warm ${model} ndcg@20`, value: v };
  }
  return undefined;
}

export interface GateDecision {
  passed: boolean;
  candidate?: GateScore;
  active?: GateScore;
  reason: string;
}

/**
 * The promotion gate: the candidate must not be worse than the active bundle on the warm protocol, by more than
 * `tolerance` (relative: evaluation on a slightly different hold-out moves the metric a little). Without an active
 * bundle, or one without a warm report, there is nothing to compare with: passed. A candidate without a warm report
 * cannot show it is not worse: refused.
 */
export function promotionGate(candidateDir: string, activeDir: string | undefined, tolerance = 0.01): GateDecision {
  const active = activeDir ? warmScore(activeDir) : undefined;
  const candidate = warmScore(candidateDir);
  if (!active) return { passed: true, candidate, reason: "no active bundle with a warm-protocol report to compare with" };
  if (!candidate) return { passed: false, active, reason: `the candidate's report.json has no warm protocol (the active bundle's ${active.metric} is ${active.value.toFixed(4)})` };
  const floor = active.value * (1 - tolerance);
  const metric = candidate.metric === active.metric ? candidate.metric : `${candidate.metric} vs ${active.metric}`;
  return candidate.value >= floor
    ? { passed: true, candidate, active, reason: `${metric} ${candidate.value.toFixed(4)} ≥ ${active.value.toFixed(4)} × (1 − ${tolerance})` }
    : { passed: false, candidate, active, reason: `${metric} ${candidate.value.toFixed(4)} is worse than the active bundle's ${active.value.toFixed(4)} (beyond the ${tolerance * 100} % tolerance)` };
}

/** The checks a bundle must pass to be activated without loading it: files and manifest, ONNX parity. */
export async function checkBundle(bundleDir: string): Promise<BundleManifest> {
  const manifest = await readManifest(bundleDir);
  for (const [name, diff] of [
    ["user tower", manifest.models.userTower.parityMaxAbsDiff],
    ["ranker", manifest.models.ranker.parityMaxAbsDiff],
  ] as const) {
    if (!(typeof diff === "number" && Number.isFinite(diff) && diff <= MAX_PARITY_DIFF)) {
      throw new ReelfeedError("BAD_BUNDLE", `${resolve(bundleDir)}: ${name} ONNX parity ${String(diff)} is over ${MAX_PARITY_DIFF} (or missing): the exported model does not compute what was trained`, {
        path: bundleDir,
        check: "parity",
      });
    }
  }
  return manifest;
}

export interface ActivateOptions {
  /** Activate even when the promotion gate refuses. @default false */
  force?: boolean;
  /** Relative tolerance of the gate. @default 0.01 */
  tolerance?: number;
}

export interface Activation {
  entry: RegistryEntry;
  previous?: string;
  gate: GateDecision;
}

/**
 * Makes a registered bundle the active one, after its checks and the promotion gate (BAD_BUNDLE with
 * `check: "promotion-gate"` when refused and not forced). A server serving from the registry hot-swaps to it.
 */
export async function activateBundle(varDir: string, version: string, options: ActivateOptions = {}): Promise<Activation> {
  const { force = false, tolerance = 0.01 } = options;
  const registry = readRegistry(varDir);
  const entry = registry.bundles.find((b) => b.version === version);
  if (!entry) throw new ReelfeedError("NOT_FOUND", `no bundle ${JSON.stringify(version)} in ${registryPath(varDir)}`, { version });
  await checkBundle(entry.path);
  const current = registry.bundles.find((b) => b.version === registry.active);
  const gate = current && current.version !== version ? promotionGate(entry.path, current.path, tolerance) : { passed: true, reason: "already active" };
  if (!gate.passed && !force) {
    throw new ReelfeedError("BAD_BUNDLE", `promotion gate: ${version} refused: ${gate.reason} (--force to activate anyway)`, { version, check: "promotion-gate" });
  }
  const previous = registry.active;
  setActive(registry, version);
  await writeFileAtomic(registryPath(varDir), JSON.stringify(registry, null, 2) + "\n");
  return { entry, previous, gate };
}

/**
 * Goes back to the previously active bundle (no gate: it served before). NOT_FOUND when there is no history, or
 * the previous bundle's folder is gone.
 */
export async function rollbackBundle(varDir: string): Promise<Activation> {
  const registry = readRegistry(varDir);
  const history = [...(registry.history ?? [])];
  for (;;) {
    const version = history.pop();
    if (version === undefined) throw new ReelfeedError("NOT_FOUND", `nothing to roll back to: ${registryPath(varDir)} has no previous active bundle`, {});
    const entry = registry.bundles.find((b) => b.version === version);
    if (!entry || !existsSync(join(entry.path, BUNDLE_FILES.manifest))) continue;
    const previous = registry.active;
    registry.active = version;
    registry.history = history;
    await writeFileAtomic(registryPath(varDir), JSON.stringify(registry, null, 2) + "\n");
    return { entry, previous, gate: { passed: true, reason: "rollback" } };
  }
}

/** The active bundle's folder when it still exists. */
export function activeBundlePath(varDir: string): string | undefined {
  const registry = readRegistry(varDir);
  const entry = registry.bundles.find((b) => b.version === registry.active);
  return entry && existsSync(join(entry.path, "manifest.json")) ? entry.path : undefined;
}
