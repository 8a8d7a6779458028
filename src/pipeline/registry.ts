import { ReelfeedError } from "../errors";
import { createDiversityStage } from "../rerank/diversity-stage";
import { createExplorationStage } from "../rerank/exploration-stage";
import { createFreshnessStage } from "../rerank/freshness-stage";
import { createGuardrailsStage } from "../rerank/guardrails-stage";
import { createContentSource } from "../sources/content-source";
import { createFreshSource } from "../sources/fresh-source";
import { createMultiQuerySource } from "../sources/multi-query-source";
import { createNeighboursSource } from "../sources/neighbours-source";
import { createSocialSource } from "../sources/social-source";
import { createSubscriptionsSource } from "../sources/subscriptions-source";
import { createTrendingSource } from "../sources/trending-source";
import { createTwoTowerSource } from "../sources/two-tower-source";
import type { CandidateSource, ReelfeedPlugin, RerankStage } from "./types";

/**
 * Every source and stage the pipeline can name, built-in or from a plugin, by its stable PascalCase name. Config
 * entries are resolved against it at start-up; a name is registered once (a plugin cannot shadow a built-in).
 *
 * Stages carry a phase so the definition can run them in an order that keeps their guarantees (see
 * pipeline-definition.ts): "score" stages change scores and re-sort; "arrange" stages remove and reorder under
 * constraints (caps, hard rules); "explore" stages insert items into an arranged list.
 */
export type StagePhase = "score" | "arrange" | "explore";

/** Where a component comes from: "builtin" or "plugin:<name>@<version>". */
export type ComponentOrigin = string;

export interface SourceRegistration {
  name: string;
  origin: ComponentOrigin;
  /** Builds the source with its config options (built-ins validate them and throw BAD_CONFIG). */
  create(options: Record<string, unknown>): CandidateSource;
}

export interface StageRegistration {
  name: string;
  origin: ComponentOrigin;
  phase: StagePhase;
  create(options: Record<string, unknown>): RerankStage;
}

export interface ComponentRegistry {
  readonly sources: ReadonlyMap<string, SourceRegistration>;
  readonly stages: ReadonlyMap<string, StageRegistration>;
}

const BUILTIN_SOURCES: ReadonlyArray<[string, (options: Record<string, unknown>) => CandidateSource]> = [
  ["Neighbours", createNeighboursSource],
  ["TwoTower", createTwoTowerSource],
  ["MultiQuery", createMultiQuerySource],
  ["Content", createContentSource],
  ["Trending", createTrendingSource],
  ["Social", createSocialSource],
  ["Subscriptions", createSubscriptionsSource],
  ["Fresh", createFreshSource],
];

const BUILTIN_STAGES: ReadonlyArray<[string, StagePhase, (options: Record<string, unknown>) => RerankStage]> = [
  ["Freshness", "score", createFreshnessStage],
  ["Guardrails", "arrange", createGuardrailsStage],
  ["Diversity", "arrange", createDiversityStage],
  ["Exploration", "explore", createExplorationStage],
];

export const BUILTIN_SOURCE_NAMES: readonly string[] = BUILTIN_SOURCES.map(([n]) => n);
export const BUILTIN_STAGE_NAMES: readonly string[] = BUILTIN_STAGES.map(([n]) => n);

export interface CreateRegistryOptions {
  /** Plugins already loaded and validated (plugin-loader.ts), in config order. @default [] */
  plugins?: readonly ReelfeedPlugin[];
}

/** The registry of built-ins plus the plugins' sources and stages. Throws BAD_PLUGIN on a name clash. */
export function createRegistry(options: CreateRegistryOptions = {}): ComponentRegistry {
  const { plugins = [] } = options;
  const sources = new Map<string, SourceRegistration>();
  const stages = new Map<string, StageRegistration>();
  for (const [name, create] of BUILTIN_SOURCES) sources.set(name, { name, origin: "builtin", create });
  for (const [name, phase, create] of BUILTIN_STAGES) stages.set(name, { name, origin: "builtin", phase, create });
  const seenPlugins = new Set<string>();
  for (const plugin of plugins) {
    if (seenPlugins.has(plugin.name)) throw new ReelfeedError("BAD_PLUGIN", `plugin "${plugin.name}": loaded twice`, { plugin: plugin.name });
    seenPlugins.add(plugin.name);
    const origin = `plugin:${plugin.name}@${plugin.version}`;
    const clash = (kind: string, name: string, other: ComponentOrigin): never => {
      const owner = other === "builtin" ? "the built-in" : `the one from ${other}`;
      throw new ReelfeedError("BAD_PLUGIN", `plugin "${plugin.name}": ${kind} "${name}" clashes with ${owner} ${kind}`, { plugin: plugin.name, [kind]: name });
    };
    for (const source of plugin.sources ?? []) {
      const prev = sources.get(source.name);
      if (prev) clash("source", source.name, prev.origin);
      // A plugin hands over an instance: its config options reach it per request in SourceContext.options.
      sources.set(source.name, { name: source.name, origin, create: () => source });
    }
    for (const stage of plugin.stages ?? []) {
      const prev = stages.get(stage.name);
      if (prev) clash("stage", stage.name, prev.origin);
      stages.set(stage.name, { name: stage.name, origin, phase: "arrange", create: () => stage });
    }
  }
  return { sources, stages };
}
