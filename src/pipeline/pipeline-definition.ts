import type { FilterEntry, ReelfeedConfig, SourceEntry, StageEntry } from "../config";
import type { Surface } from "../data/types";
import { ReelfeedError } from "../errors";
import { BUILTIN_FILTERS } from "../filters";
import { DEFAULT_BLEND, validateBlend, type BlendConfig } from "../ranking/blend";
import type { FilterFactory, StagePhase } from "./components";
import { loadPlugins } from "./plugin-loader";
import { createRegistry, type ComponentOrigin, type ComponentRegistry, type ReasonRegistration } from "./registry";
import type { CandidateFilter, CandidateSource, FeedRuntime, RerankStage, StoreName } from "./types";

/**
 * The feed funnel as data, in the order a request runs through it: every step named, each with its settings right
 * beside it, so the definition reads like a table of contents (`describePipeline` prints it that way). Built once
 * at start-up from config + built-ins + loaded plugins, validated there, never per request. Each step's code is a
 * file of its own under steps/; feed-pipeline.ts runs them in this order.
 *
 *   hydrate  → sources (in parallel) → merge → filters → rank → stages → fill → page
 *
 * Validation (named errors, never a half-built pipeline):
 * - an unknown or duplicated source/filter/stage name → BAD_CONFIG naming the config key (`pipeline.sources[3].name`);
 * - bad options → BAD_CONFIG naming the option (`pipeline.stages[1].options.windowSize`), and the plugin when the
 *   component is a plugin's (`details.plugin`): every component is built through its factory here, at start-up;
 * - a source that requires a store or model the runtime lacks (a bundle without content embeddings, no user tower):
 *   a fail-open source is *disabled with a warning*, a fail-closed one is a BAD_CONFIG error. Why: the default
 *   config names every built-in source, and a deployment whose bundle lacks, say, content vectors is legitimate —
 *   refusing to start would force everyone to edit config for it. But an operator who marked a source fail-closed
 *   said the feed is wrong without it, so starting without it would be lying.
 */
export interface PipelineDefinition extends FunnelSettings {
  /** 2. Candidate sources, run in parallel, each with its quota, weight, budget and failure policy. */
  sources: readonly SourceStep[];
  /** 4. Hard rules on merged candidates, in the order they run: the built-ins (cheapest first), then plugins'. */
  filters: readonly FilterStep[];
  /** 6. Re-rank stages in the order they run (by phase, then config order). */
  stages: readonly StageStep[];
  /** Plugin reason codes the pipeline may serve (a plugin candidate with any other qualified code is dropped). */
  reasons: ReadonlyMap<string, ReasonRegistration>;
  /** Start-up decisions worth a log line: sources disabled for a missing store, stages moved to their phase. */
  warnings: readonly string[];
}

/** The settings of the steps that are not lists of components. */
export interface FunnelSettings {
  /** 1. Hydrate: profile, real-time state (aggregates, relations, seen set) and context. */
  hydrate: {
    /** Budget of each state-store read; past it the feed is served with empty state (STATE_UNAVAILABLE). */
    stateTimeoutMs: number;
    /** Surfaces where a past watch may come back (config pipeline.rewatchSurfaces). */
    rewatchSurfaces: readonly Surface[];
  };
  /** 3. Merge: dedupe across sources, keep every attribution, weighted reciprocal-rank source score. */
  merge: { rrfK: number };
  /** 5. Rank: the best `candidatesToRank` by source score through the ranker, heads blended into one score. */
  rank: { candidatesToRank: number; timeoutMs: number; blend: BlendConfig };
  /** 7. Popularity fill: tops a short session up with popular videos through the same filters and stages. */
  fill: { timeoutMs: number };
  /** 8. Page: ranked sessions kept for later pages; cursors expire. */
  page: { sessionTtlMs: number; maxSessions: number; cursorTtlMs: number };
  /** Before 2: load shedding, a request past either limit is served the fill alone (OVERLOADED). */
  overload: { maxConcurrentRankings: number; maxEventLoopLagMs: number };
}

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
  /** The entry's options as config gives them (the factory validated them and holds the parsed values). */
  options: Readonly<Record<string, unknown>>;
}

export interface FilterStep {
  name: string;
  origin: ComponentOrigin;
  filter: CandidateFilter;
  options: Readonly<Record<string, unknown>>;
}

export interface StageStep {
  name: string;
  origin: ComponentOrigin;
  phase: StagePhase;
  stage: RerankStage;
  enabled: boolean;
  options: Readonly<Record<string, unknown>>;
}

/** Settings a partial override may give, step by step. */
export type FunnelSettingsInput = { [K in keyof FunnelSettings]?: Partial<FunnelSettings[K]> };

/** Defaults of the non-list steps (config.ts holds the same values for the server). */
export const DEFAULT_FUNNEL_SETTINGS: FunnelSettings = {
  hydrate: { stateTimeoutMs: 50, rewatchSurfaces: [] },
  merge: { rrfK: 60 },
  rank: { candidatesToRank: 500, timeoutMs: 100, blend: DEFAULT_BLEND },
  // The popularity read gets twice a state read's budget: it is the answer of last resort.
  fill: { timeoutMs: 100 },
  page: { sessionTtlMs: 15 * 60_000, maxSessions: 10_000, cursorTtlMs: 24 * 3_600_000 },
  overload: { maxConcurrentRankings: Infinity, maxEventLoopLagMs: Infinity },
};

/**
 * The settings with `input` over `base`, validated (BAD_CONFIG naming the config key). Used at start-up by
 * definePipeline and by createFeedService for its own overrides.
 */
export function resolveFunnelSettings(base: FunnelSettings, input: FunnelSettingsInput = {}): FunnelSettings {
  const s: FunnelSettings = {
    hydrate: { ...base.hydrate, ...defined(input.hydrate) },
    merge: { ...base.merge, ...defined(input.merge) },
    rank: { ...base.rank, ...defined(input.rank) },
    fill: { ...base.fill, ...defined(input.fill) },
    page: { ...base.page, ...defined(input.page) },
    overload: { ...base.overload, ...defined(input.overload) },
  };
  // A state budget given without a fill budget: the fill keeps its "twice a state read" relation.
  if (input.hydrate?.stateTimeoutMs !== undefined && input.fill?.timeoutMs === undefined) s.fill.timeoutMs = s.hydrate.stateTimeoutMs * 2;
  const bad = (key: string, expected: string): never => {
    throw new ReelfeedError("BAD_CONFIG", `config ${key}: expected ${expected}`, { key });
  };
  if (!Number.isInteger(s.rank.candidatesToRank) || s.rank.candidatesToRank < 1) bad("ranking.candidatesToRank", "a positive integer");
  if (!(s.rank.timeoutMs > 0)) bad("ranking.timeoutMs", "a positive number");
  if (!(s.overload.maxConcurrentRankings >= 1)) bad("pipeline.overload.maxConcurrentRankings", "a positive integer");
  if (!(s.overload.maxEventLoopLagMs > 0)) bad("pipeline.overload.maxEventLoopLagMs", "a positive number");
  if (!(s.hydrate.stateTimeoutMs > 0)) bad("stateTimeoutMs", "a positive number");
  if (!(s.merge.rrfK > 0)) bad("rrfK", "a positive number");
  if (!(s.page.sessionTtlMs > 0)) bad("pipeline.sessions.ttlMs", "a positive number");
  if (!(s.page.maxSessions >= 1)) bad("pipeline.sessions.max", "a positive integer");
  validateBlend(s.rank.blend);
  return s;
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

export interface DefinePipelineOptions {
  /**
   * `config.pipeline`: the source, filter and stage entries (plugins must already be in the registry), and how the
   * built-in age rule treats an unknown age (`unknownAge`, default "minor").
   */
  pipeline: Pick<ReelfeedConfig["pipeline"], "sources" | "stages"> & { filters?: readonly FilterEntry[]; unknownAge?: "minor" | "adult" };
  registry: ComponentRegistry;
  /** The runtime the pipeline will serve from: checked against each source's `requires`. */
  runtime: FeedRuntime;
  /** Replaces the built-in hard rules (in run order). @default the built-ins (filters/index.ts), cheapest first */
  filters?: readonly CandidateFilter[];
  /** Settings of hydrate, merge, rank, fill, page and overload. @default DEFAULT_FUNNEL_SETTINGS */
  settings?: FunnelSettingsInput;
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

/**
 * A component's BAD_CONFIG (its key relative to the entry: `options.perCreator`) with the entry's key in front,
 * and the plugin named when the component is a plugin's; BAD_PLUGIN (its create threw) gets the key too.
 */
function atEntry(err: unknown, key: string, plugin: string | undefined): unknown {
  if (!(err instanceof ReelfeedError) || (err.code !== "BAD_CONFIG" && err.code !== "BAD_PLUGIN")) return err;
  const inner = typeof err.details.key === "string" ? err.details.key : undefined;
  const full = inner ? `${key}.${inner}` : key;
  const who = plugin ? `plugin "${plugin}" ` : "";
  const reason = err.code === "BAD_CONFIG" ? String(err.details.reason ?? err.message) : err.message;
  return new ReelfeedError(err.code, `config ${full}: ${who}${reason}`, { ...err.details, key: full, ...(plugin ? { plugin } : {}) });
}

export function definePipeline(options: DefinePipelineOptions): PipelineDefinition {
  const { pipeline, registry, runtime, settings } = options;
  const warnings: string[] = [];

  const checkNames = (entries: ReadonlyArray<{ name: string }>, kind: "sources" | "filters" | "stages", known: ReadonlyMap<string, { origin: string }>): void => {
    const seen = new Set<string>();
    const singular = { sources: "source", filters: "filter", stages: "stage" }[kind];
    entries.forEach((entry, i) => {
      const key = `pipeline.${kind}[${i}].name`;
      const reg = known.get(entry.name);
      if (!reg) throw new ReelfeedError("BAD_CONFIG", `config ${key}: unknown ${singular} "${entry.name}" (known: ${[...known.keys()].join(", ")})`, { key });
      if (kind === "filters" && reg.origin === "builtin") {
        throw new ReelfeedError("BAD_CONFIG", `config ${key}: "${entry.name}" is a built-in hard rule: those always run, first, and are not listed`, { key });
      }
      if (seen.has(entry.name)) throw new ReelfeedError("BAD_CONFIG", `config ${key}: "${entry.name}" is listed twice`, { key });
      seen.add(entry.name);
    });
  };
  const filterEntries = pipeline.filters ?? [];
  checkNames(pipeline.sources, "sources", registry.sources);
  checkNames(filterEntries, "filters", registry.filters);
  checkNames(pipeline.stages, "stages", registry.stages);

  /** Builds an entry's component through its factory; errors get the entry's key and the plugin's name. */
  const build = <T>(reg: { create(o: unknown): T; plugin?: string }, key: string, raw: Record<string, unknown>): T => {
    try {
      return reg.create(raw);
    } catch (err) {
      throw atEntry(err, key, reg.plugin);
    }
  };

  const sources = pipeline.sources.map((entry: SourceEntry, i): SourceStep => {
    const reg = registry.sources.get(entry.name)!;
    const source = build(reg, `pipeline.sources[${i}]`, entry.options);
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

  const pluginFilters = filterEntries.flatMap((entry, i): FilterStep[] => {
    const reg = registry.filters.get(entry.name)!;
    const filter = build(reg, `pipeline.filters[${i}]`, entry.options);
    return entry.enabled ? [{ name: entry.name, origin: reg.origin, filter, options: entry.options }] : [];
  });

  const stages = pipeline.stages
    .map((entry: StageEntry, i): StageStep & { index: number } => {
      const reg = registry.stages.get(entry.name)!;
      const stage = build(reg, `pipeline.stages[${i}]`, entry.options);
      return { name: entry.name, origin: reg.origin, phase: reg.phase, stage, enabled: entry.enabled, options: entry.options, index: i };
    })
    // Stable: config order within a phase. A score stage re-sorts by score, so after an arranging stage it would
    // undo the caps that stage just enforced; an exploring stage inserts into an arranged list, so it goes last.
    .sort((a, b) => PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase] || a.index - b.index);
  stages.forEach((s, pos) => {
    if (s.index !== pos) warnings.push(`stage ${s.name} runs at position ${pos + 1} (phase "${s.phase}"), not ${s.index + 1} as listed`);
  });

  return {
    ...resolveFunnelSettings(DEFAULT_FUNNEL_SETTINGS, settings),
    sources,
    // The built-in hard rules first: they are cheap and remove most; a plugin's rule costs what it costs.
    filters: [...builtinSteps(options.filters, pipeline.unknownAge), ...pluginFilters],
    stages: stages.map(({ index: _index, ...step }) => step),
    reasons: registry.reasons,
    warnings,
  };
}

/** The built-in hard rules as steps: built through their factories, the age rule with config's `unknownAge`. */
function builtinSteps(replacement: readonly CandidateFilter[] | undefined, unknownAge: "minor" | "adult" = "minor"): FilterStep[] {
  if (replacement) return replacement.map((filter) => ({ name: filter.name, origin: "builtin", filter, options: {} }));
  return BUILTIN_FILTERS.map((f): FilterStep => {
    const opts = f.name === "AgeRestricted" ? { unknownAge } : {};
    return { name: f.name, origin: "builtin", filter: (f as FilterFactory<unknown>).create(opts), options: opts };
  });
}

/** The definition with other settings (the feed service's own overrides), validated; the lists are shared. */
export function withSettings(def: PipelineDefinition, input: FunnelSettingsInput): PipelineDefinition {
  return { ...def, ...resolveFunnelSettings(def, input) };
}

/**
 * The whole funnel as configured, one line per step or entry, in the order a request runs: `serve` prints it at
 * start-up (with the warnings), so the log says what runs.
 */
export function describePipeline(def: PipelineDefinition): string {
  const { hydrate, merge, rank, fill, page, overload } = def;
  const limit = (n: number) => (Number.isFinite(n) ? String(n) : "none");
  const lines = [
    `1 hydrate   profile, aggregates, relations, seen set (state reads ${hydrate.stateTimeoutMs}ms each; rewatch surfaces: ${hydrate.rewatchSurfaces.join(", ") || "none"})`,
    `  overload  shed to the fill past ${limit(overload.maxConcurrentRankings)} concurrent rankings or ${limit(overload.maxEventLoopLagMs)}ms event-loop lag`,
    "2 sources   in parallel:",
  ];
  for (const s of def.sources) {
    lines.push(
      `  ${s.enabled ? "✓" : "✗"} ${s.name.padEnd(16)} quota ${String(s.quota).padStart(4)}  weight ${s.weight}  timeout ${s.timeoutMs}ms  ${s.failOpen ? "fail-open" : "fail-closed"}  [${s.origin}]${describeOptions(s.options)}`,
    );
  }
  lines.push(`3 merge     dedupe, keep attributions, reciprocal-rank fusion (k ${merge.rrfK})`);
  lines.push("4 filters   in order:");
  for (const f of def.filters) lines.push(`  ✓ ${f.name.padEnd(16)} [${f.origin}]${describeOptions(f.options)}`);
  lines.push(`5 rank      best ${rank.candidatesToRank} by source score → ranker heads (${rank.timeoutMs}ms) → blend ${rank.blend.version}`);
  lines.push("6 stages    in order:");
  for (const s of def.stages) lines.push(`  ${s.enabled ? "✓" : "✗"} ${s.name.padEnd(16)} phase ${s.phase.padEnd(8)} [${s.origin}]${describeOptions(s.options)}`);
  lines.push(`7 fill      popular videos top up a short session, through the same filters and stages (${fill.timeoutMs}ms)`);
  lines.push(`8 page      sessions kept ${Math.round(page.sessionTtlMs / 1000)}s idle (at most ${page.maxSessions}), cursors valid ${Math.round(page.cursorTtlMs / 3_600_000)}h`);
  for (const [code, r] of def.reasons) lines.push(`  reason ${code} (falls back to ${r.fallback}) [${r.origin}]`);
  for (const w of def.warnings) lines.push(`! ${w}`);
  return lines.join("\n");
}

function describeOptions(options: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(options);
  return keys.length ? `  ${JSON.stringify(options)}` : "";
}

export interface BuildPipelineOptions {
  config: ReelfeedConfig;
  runtime: FeedRuntime;
  /** Folder holding plugin folders. @default "plugins" (relative to the working directory) */
  pluginsDir?: string;
}

/** The step settings config holds (hydrate, rank, page, overload); the rest keep their defaults. */
export function settingsFromConfig(config: ReelfeedConfig): FunnelSettingsInput {
  return {
    hydrate: { rewatchSurfaces: config.pipeline.rewatchSurfaces },
    rank: { candidatesToRank: config.ranking.candidatesToRank, timeoutMs: config.ranking.timeoutMs, blend: config.ranking.blend },
    page: { sessionTtlMs: config.pipeline.sessions.ttlMs, maxSessions: config.pipeline.sessions.max },
    overload: { maxConcurrentRankings: config.pipeline.overload.maxConcurrentRankings, maxEventLoopLagMs: config.pipeline.overload.maxEventLoopLagMs },
  };
}

/** Start-up in one call: load and validate the configured plugins, build the registry, define the pipeline. */
export async function buildPipeline(options: BuildPipelineOptions): Promise<PipelineDefinition> {
  const { config, runtime, pluginsDir } = options;
  const plugins = await loadPlugins(config.pipeline.plugins, { dir: pluginsDir });
  return definePipeline({
    pipeline: config.pipeline,
    registry: createRegistry({ plugins }),
    runtime,
    settings: settingsFromConfig(config),
  });
}
