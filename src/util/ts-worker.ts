import { Worker } from "node:worker_threads";

/**
 * Starts a worker thread on a TypeScript module of the project. The project runs its TypeScript through tsx, and a
 * worker thread does not inherit the loader the main thread was started with (nor does vitest's), so the thread
 * registers tsx before importing the module. One place for the inference threads, the IVF build thread and the
 * drift reference thread.
 */
export function startTsWorker(entry: URL, workerData?: unknown): Worker {
  const tsx = import.meta.resolve("tsx/esm/api");
  const shim = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(shim, { eval: true, workerData });
}
