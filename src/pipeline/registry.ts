import { ReelfeedError } from "../errors";
import { BUILTIN_FILTERS } from "../filters";
import { BUILTIN_STAGES } from "../rerank";
import { BUILTIN_SOURCES } from "../sources";
import type { FilterFactory, ReasonDefinition, SourceFactory, StageFactory, StagePhase } from "./components";
import type { ReelfeedPlugin } from "./plugin";
import type { CandidateFilter, CandidateSource, RerankStage } from "./types";

export type { StagePhase } from "./components";

/**
 * Every source, filter and stage the pipeline can name, built-in or from a plugin, by its stable PascalCase name,
 * each a factory made by defineSource / defineFilter / defineStage: one path for both, so a plugin's options are
 * validated at start-up exactly as a built-in's. Config entries are resolved against it at start-up; a name is
 * registered once (a plugin cannot shadow a built-in or another plugin). Plugins' reason codes are registered
 * here too, so the pipeline knows which qualified codes it may serve.
 */

/** Where a component comes from: "builtin" or "plugin:<name>@<version>". */
export type ComponentOrigin = string;

interface Registration<T> {
  name: string;
  origin: ComponentOrigin;
  /** The plugin's name; undefined for a built-in. */
  plugin?: string;
  /** Validates the entry's options (BAD_CONFIG naming the option) and builds the component. */
  create(options: unknown): T;
}
export type SourceRegistration = Registration<CandidateSource>;
export type FilterRegistration = Registration<CandidateFilter>;
export interface StageRegistration extends Registration<RerankStage> {
  phase: StagePhase;
}
export interface ReasonRegistration extends ReasonDefinition {
  origin: ComponentOrigin;
  plugin: string;
}

export interface ComponentRegistry {
  readonly sources: ReadonlyMap<string, SourceRegistration>;
  /** Built-in filters are registered (so config cannot take their names) but always run, first. */
  readonly filters: ReadonlyMap<string, FilterRegistration>;
  readonly stages: ReadonlyMap<string, StageRegistration>;
  /** Plugin reason codes by qualified code ("more-from-creators/FINISHED_CREATOR"). */
  readonly reasons: ReadonlyMap<string, ReasonRegistration>;
}

export const BUILTIN_SOURCE_NAMES: readonly string[] = BUILTIN_SOURCES.map((f) => f.name);
export const BUILTIN_FILTER_NAMES: readonly string[] = BUILTIN_FILTERS.map((f) => f.name);
export const BUILTIN_STAGE_NAMES: readonly string[] = BUILTIN_STAGES.map((f) => f.name);

export interface CreateRegistryOptions {
  /** Plugins already loaded and validated (plugin-loader.ts), in config order. @default [] */
  plugins?: readonly ReelfeedPlugin[];
}

/** The registry of built-ins plus the plugins' components and reasons. Throws BAD_PLUGIN on a name clash. */
export function createRegistry(options: CreateRegistryOptions = {}): ComponentRegistry {
  const { plugins = [] } = options;
  const sources = new Map<string, SourceRegistration>();
  const filters = new Map<string, FilterRegistration>();
  const stages = new Map<string, StageRegistration>();
  const reasons = new Map<string, ReasonRegistration>();
  const entry = <T>(factory: { name: string; create(options?: unknown): T }, origin: ComponentOrigin, plugin?: string): Registration<T> => ({
    name: factory.name,
    origin,
    plugin,
    create: (opts) => factory.create(opts),
  });
  for (const f of BUILTIN_SOURCES as readonly SourceFactory<any>[]) sources.set(f.name, entry(f, "builtin"));
  for (const f of BUILTIN_FILTERS as readonly FilterFactory<any>[]) filters.set(f.name, entry(f, "builtin"));
  for (const f of BUILTIN_STAGES as readonly StageFactory<any>[]) stages.set(f.name, { ...entry(f, "builtin"), phase: f.phase });

  const seenPlugins = new Set<string>();
  for (const plugin of plugins) {
    if (seenPlugins.has(plugin.name)) throw new ReelfeedError("BAD_PLUGIN", `plugin "${plugin.name}": loaded twice`, { plugin: plugin.name });
    seenPlugins.add(plugin.name);
    const origin = `plugin:${plugin.name}@${plugin.version}`;
    const add = <R extends Registration<unknown>>(kind: string, map: Map<string, R>, name: string, reg: R): void => {
      const prev = map.get(name);
      if (prev) {
        const owner = prev.origin === "builtin" ? "the built-in" : `the one from ${prev.origin}`;
        throw new ReelfeedError("BAD_PLUGIN", `plugin "${plugin.name}": ${kind} "${name}" clashes with ${owner} ${kind}`, { plugin: plugin.name, [kind]: name });
      }
      map.set(name, reg);
    };
    for (const f of plugin.sources ?? []) add("source", sources, f.name, entry(f, origin, plugin.name));
    for (const f of plugin.filters ?? []) add("filter", filters, f.name, entry(f, origin, plugin.name));
    for (const f of plugin.stages ?? []) add("stage", stages, f.name, { ...entry(f, origin, plugin.name), phase: f.phase });
    // validatePlugin checked each code is in the plugin's own namespace, so codes cannot clash across plugins.
    for (const r of plugin.reasons ?? []) reasons.set(r.qualifiedCode, { ...r, origin, plugin: plugin.name });
  }
  return { sources, filters, stages, reasons };
}
