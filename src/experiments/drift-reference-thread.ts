import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { loadDataset } from "../data/load-dataset";
import { loadFeatureArtifacts } from "../features/artifacts";
import { BUNDLE_FILES } from "../training/bundle";
import { computeDriftReference } from "./drift";

/** Worker thread of driftReferenceInWorker: the bundle's data and artifacts in, the drift reference out. */
const { bundleDir, maxRows, bins } = workerData as { bundleDir: string; maxRows: number; bins: number };
try {
  const { dataset } = await loadDataset(join(bundleDir, BUNDLE_FILES.data), { format: "generic" });
  const artifacts = await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features));
  parentPort!.postMessage({ reference: computeDriftReference(dataset, artifacts, maxRows, bins) });
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
