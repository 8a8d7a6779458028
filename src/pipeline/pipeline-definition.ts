import type { ReelfeedConfig, SourceEntry, StageEntry } from "../config";
import { ReelfeedError } from "../errors";
import { builtinFilters } from "../filters";
import { loadPlugins } from "./plugin-loader";
import { createRegistry, type ComponentOrigin, type ComponentRegistry, type StagePhase } from "./registry";
import type { CandidateFilter, CandidateSource, FeedRuntime, RerankStage, StoreName } from "./types";

/**
 * The feed pipeline as data: one ordered list of sources and one of stages, each entry carrying its own settings
 * right beside it, so the definition reads like a table of contents (`describePipeline` prints it that way).
 * Built once at start-up from config + built-ins + loaded plugins, validated there, never per request.
 *
 * Validation (named errors, never a half-built pipeline):
 * - an unknown or duplicated source/stage name → BAD_CONFIG naming the config key (`pipeline.sources[3].name`);
 * - bad options → BAD_CONFIG naming the option (`pipeline.stages[1].options.windowSize`);
 * - a source that requires a store or model the runtime lacks (a bundle without content embeddings, no user tower):
 *   a fail-open source is *disabled with a warning*, a fail-closed one is a BAD_CONFIG error. Why: the default
 *   config names every built-in source, and a deployment whose bundle lacks, say, content vectors is legitimate —
 *   refusing to start would force everyone to edit config for it. But an operator who marked a source fail-closed
 *   said the feed is wrong without it, so starting without it would be lying.
 */
export interface SourceStep {
  name: string;
  origin: ComponentOrigin;
  source: CandidateSource;
  /** False when disabled in config or for a missing requirement (see `warnings`). */
  enabled: boolean;
  quota: number;
  weight: number;
  timeoutMs: number;
  failOpen: boolean;
  options: Record<string, unknown>;
}

export interface StageStep {
  name: string;
  origin: ComponentOrigin;
  phase: StagePhase;
  stage: RerankStage;
  enabled: boolean;
  options: Record<string, unknown>;
}

export interface PipelineDefinition {
  sources: readonly SourceStep[];
  /** Hard rules on merged candidates, in the order they run (cheapest first). */
  filters: readonly CandidateFilter[];
  /** Re-rank stages in the order they run (by phase, then config order). */
  stages: readonly StageStep[];
  /** Start-up decisions worth a log line: sources disabled for a missing store, stages moved to their phase. */
  warnings: readonly string[];
}

export interface DefinePipelineOptions {
  /** `config.pipeline`: the source and stage entries (plugins must already be in the registry). */
  pipeline: Pick<ReelfeedConfig["pipeline"], "sources" | "stages">;
  registry: ComponentRegistry;
  /** The runtime the pipeline will serve from: checked against each source's `requires`. */
  runtime: FeedRuntime;
  /** The hard rules, in run order. @default builtinFilters() */
  filters?: readonly CandidateFilter[];
}

const PHASE_ORDER: Record<StagePhase, number> = { score: 0, arrange: 1, explore: 2 };

/** Which of `requires` the runtime does not have. */
export function missingRequirements(runtime: FeedRuntime, requires: readonly StoreName[] = []): StoreName[] {
  const has: Record<StoreName, unknown> = {
    twoTower: runtime.vectors.twoTower,
    content: runtime.vectors.content,
    userTower: runtime.models.userTower,
    ranker: runtime.models.ranker,
    neighbours: runtime.models.neighbours,
    graph: runtime.graph,
    state: runtime.state,
  };
  return requires.filter((r) => !has[r]);
}

function withKey(err: unknown, key: string): unknown {
  if (err instanceof ReelfeedError && err.code === "BAD_CONFIG" && typeof err.details.key === "string") {
    const full = `${key}.${err.details.key}`;
    return new ReelfeedError("BAD_CONFIG", `config ${full}: ${String(err.details.reason ?? err.message)}`, { ...err.details, key: full });
  }
  return err;
}

export function definePipeline(options: DefinePipelineOptions): PipelineDefinition {
  const { pipeline, registry, runtime, filters = builtinFilters() } = options;
  const warnings: string[] = [];

  const checkNames = (entries: ReadonlyArray<{ name: string }>, kind: "sources" | "stages", known: ReadonlyMap<string, unknown>): void => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      const key = `pipeline.${kind}[${i}].name`;
      if (!known.has(entry.name)) {
        throw new ReelfeedError("BAD_CONFIG", `config ${key}: unknown ${kind === "sources" ? "source" : "stage"} "${entry.name}" (known: ${[...known.keys()].join(", ")})`, { key });
      }
      if (seen.has(entry.name)) throw new ReelfeedError("BAD_CONFIG", `config ${key}: "${entry.name}" is listed twice`, { key });
      seen.add(entry.name);
    });
  };
  checkNames(pipeline.sources, "sources", registry.sources);
  checkNames(pipeline.stages, "stages", registry.stages);

  const sources = pipeline.sources.map((entry: SourceEntry, i): SourceStep => {
    const reg = registry.sources.get(entry.name)!;
    let source: CandidateSource;
    try {
      source = reg.create(entry.options);
    } catch (err) {
      throw withKey(err, `pipeline.sources[${i}]`);
    }
    let enabled = entry.enabled;
    const missing = missingRequirements(runtime, source.requires);
    if (enabled && missing.length) {
      if (!entry.failOpen) {
        throw new ReelfeedError(
          "BAD_CONFIG",
          `config pipeline.sources[${i}]: source "${entry.name}" is fail-closed but the runtime has no ${missing.join(", ")}`,
          { key: `pipeline.sources[${i}]`, missing },
        );
      }
      enabled = false;
      warnings.push(`source ${entry.name} disabled: the runtime has no ${missing.join(", ")}`);
    }
    const { quota, weight, timeoutMs, failOpen, options: opts } = entry;
    return { name: entry.name, origin: reg.origin, source, enabled, quota, weight, timeoutMs, failOpen, options: opts };
  });

  const stages = pipeline.stages
    .map((entry: StageEntry, i): StageStep & { index: number } => {
      const reg = registry.stages.get(entry.name)!;
      let stage: RerankStage;
      try {
        stage = reg.create(entry.options);
      } catch (err) {
        throw withKey(err, `pipeline.stages[${i}]`);
      }
      return { name: entry.name, origin: reg.origin, phase: reg.phase, stage, enabled: entry.enabled, options: entry.options, index: i };
    })
    // Stable: config order within a phase. A score stage re-sorts by score, so after an arranging stage it would
    // undo the caps that stage just enforced; an exploring stage inserts into an arranged list, so it goes last.
    .sort((a, b) => PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase] || a.index - b.index);
  stages.forEach((s, pos) => {
    if (s.index !== pos) warnings.push(`stage ${s.name} runs at position ${pos + 1} (phase "${s.phase}"), not ${s.index + 1} as listed`);
  });

  return {
    sources,
    filters: [...filters],
    stages: stages.map(({ index: _index, ...step }) => step),
    warnings,
  };
}

/** The definition as a table of contents, one line per entry: for start-up logs and `reelfeed pipeline`. */
export function describePipeline(def: PipelineDefinition): string {
  const lines = ["sources (in parallel):"];
  for (const s of def.sources) {
    lines.push(
      `  ${s.enabled ? "✓" : "✗"} ${s.name.padEnd(16)} quota ${String(s.quota).padStart(4)}  weight ${s.weight}  timeout ${s.timeoutMs}ms  ${s.failOpen ? "fail-open" : "fail-closed"}  [${s.origin}]`,
    );
  }
  lines.push("merge (dedupe, keep attributions) → filters (in order):");
  for (const f of def.filters) lines.push(`  ✓ ${f.name}`);
  lines.push("rank (ranker heads → blend) → re-rank stages (in order):");
  for (const s of def.stages) lines.push(`  ${s.enabled ? "✓" : "✗"} ${s.name.padEnd(16)} phase ${s.phase.padEnd(8)} [${s.origin}]`);
  lines.push("popularity fill → page");
  for (const w of def.warnings) lines.push(`! ${w}`);
  return lines.join("\n");
}

export interface BuildPipelineOptions {
  config: ReelfeedConfig;
  runtime: FeedRuntime;
  /** Folder holding plugin folders. @default "plugins" (relative to the working directory) */
  pluginsDir?: string;
}

/** Start-up in one call: load and validate the configured plugins, build the registry, define the pipeline. */
export async function buildPipeline(options: BuildPipelineOptions): Promise<PipelineDefinition> {
  const { config, runtime, pluginsDir } = options;
  const plugins = await loadPlugins(config.pipeline.plugins, { dir: pluginsDir });
  return definePipeline({ pipeline: config.pipeline, registry: createRegistry({ plugins }), runtime, filters: builtinFilters({ unknownAge: config.pipeline.unknownAge }) });
}
