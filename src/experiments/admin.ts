import type { ReelfeedConfig } from "../config";
import { ReelfeedError } from "../errors";
import type { ExperimentConfig } from "./experiment-config";
import type { ExperimentMetrics } from "./online-metrics";
import { buildExperimentReport, type ExperimentReport } from "./report";

/** What the admin GraphQL query and the CLI ask of a running server's experiments. */
export interface ExperimentsAdmin {
  /** The current experiments. */
  list(): readonly ExperimentConfig[];
  /** The report of one experiment (NOT_FOUND when no experiment has that name). */
  report(name: string): Promise<ExperimentReport>;
}

export function createExperimentsAdmin(options: {
  experiments: () => readonly ExperimentConfig[];
  metrics: Pick<ExperimentMetrics, "snapshot" | "pending">;
  config: ReelfeedConfig;
}): ExperimentsAdmin {
  const { experiments, metrics, config } = options;
  return {
    list: experiments,
    async report(name) {
      const experiment = experiments().find((e) => e.name === name);
      if (!experiment) {
        throw new ReelfeedError("NOT_FOUND", `no experiment "${name}" (running: ${experiments().map((e) => e.name).join(", ") || "none"})`, { argument: "name" });
      }
      return buildExperimentReport(experiment, await metrics.snapshot(), config.experiments.analysis, metrics.pending(), config.experiments.drift.labelRatioThreshold);
    },
  };
}
