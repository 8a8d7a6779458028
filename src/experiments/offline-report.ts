import { join } from "node:path";
import type { ReelfeedConfig } from "../config";
import type { ReelEvent } from "../data/types";
import { ReelfeedError } from "../errors";
import { readFileLogReadOnly } from "../events/export-training";
import { createRedisClient, waitForRedis } from "../stores/redis-client";
import { createMemoryCountsStore, createRedisCountsStore } from "./counts-store";
import { readExperimentsFile } from "./experiments-file";
import { createExperimentMetrics, isRequestField } from "./online-metrics";
import { buildExperimentReport, type ExperimentReport } from "./report";

/**
 * `reelfeed experiments report <name>` without a running server: the same counters the server keeps, read from where
 * they live. With Redis (backends.redisUrl) the shared hashes every replica adds to; embedded, the impression
 * counters are rebuilt from the file event log (read-only, as export-training reads it) with the same join, and the
 * request counters (latency, fallbacks) are read from the file the server persists them to.
 */
export async function experimentReportFromStores(config: ReelfeedConfig, name: string): Promise<ExperimentReport> {
  const definitions = config.experiments.file ? await readExperimentsFile(config.experiments.file) : config.experiments.definitions;
  const experiment = definitions.find((e) => e.name === name);
  if (!experiment) {
    throw new ReelfeedError("NOT_FOUND", `no experiment "${name}" in the config (${definitions.map((e) => e.name).join(", ") || "none defined"})`, { argument: "name" });
  }
  const redisUrl = config.backends.redisUrl;
  if (redisUrl) {
    const redis = createRedisClient({ url: redisUrl });
    try {
      if (!(await waitForRedis(redis, 3000))) throw new ReelfeedError("UNAVAILABLE", "Redis (backends.redisUrl) does not answer");
      const store = createRedisCountsStore({ redis, keyPrefix: config.backends.redisKeyPrefix });
      try {
        return buildExperimentReport(experiment, await store.read(), config.experiments.analysis, 0, config.experiments.drift.labelRatioThreshold);
      } finally {
        await store.close();
      }
    } finally {
      redis.disconnect();
    }
  }
  // Read-only: the persisted request counters are loaded, never written back (the server owns that file).
  const store = createMemoryCountsStore({ persist: { file: join(config.paths.varDir, "experiments", "request-counters.json"), fields: isRequestField, readOnly: true } });
  const metrics = createExperimentMetrics({ store, attributionWindowMs: config.experiments.analysis.attributionWindowMs });
  let batch: ReelEvent[] = [];
  await readFileLogReadOnly(join(config.paths.varDir, "events"), (e) => {
    if (e.type !== "impression" && !e.trackingId) return;
    batch.push(e);
    if (batch.length >= 10_000) {
      metrics.onEvents(batch);
      batch = [];
    }
  });
  metrics.onEvents(batch);
  // Read now: every impression whose window has passed by the clock is final.
  metrics.closeBefore(Date.now());
  const report = buildExperimentReport(experiment, await metrics.snapshot(), config.experiments.analysis, metrics.pending(), config.experiments.drift.labelRatioThreshold);
  await metrics.close();
  return report;
}
