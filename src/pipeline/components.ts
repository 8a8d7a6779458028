import { z } from "zod";
import { ReelfeedError } from "../errors";
import { parseOptions } from "./options";
import { REASON_CODES, type CandidateFilter, type CandidateSource, type Reason, type ReasonCode, type RerankStage, type StoreName } from "./types";

/**
 * How every component of the funnel is defined, built-in or plugin: a name, a zod schema for its options and a
 * `create(options)` that receives them validated. The pipeline definition calls `create` once per config entry at
 * start-up, so a bad option is BAD_CONFIG naming the config key before the server listens, never a surprise at
 * the first request, and the component's hot path works on plain typed values it was handed.
 */

/** A component's options: a zod schema from what config holds (unknown) to what `create` receives. */
export type OptionsSchema<O> = z.ZodType<O, z.ZodTypeDef, unknown>;

/** Options of a component that takes none: `{}` and nothing else (a stray key is a typo, BAD_CONFIG). */
export const NO_OPTIONS: OptionsSchema<Record<string, never>> = z.object({}).strict() as unknown as OptionsSchema<Record<string, never>>;

/**
 * When a re-rank stage runs. Stages run by phase, then in config order within a phase, so each keeps its
 * guarantee: "score" stages change scores and re-sort (Freshness); "arrange" stages remove and reorder under
 * constraints (Guardrails, Diversity caps), so they must see final scores; "explore" stages swap items into the
 * arranged list (Exploration) and go last, or a later re-sort would undo them.
 */
export type StagePhase = "score" | "arrange" | "explore";
export const STAGE_PHASES: readonly StagePhase[] = ["score", "arrange", "explore"];

interface ComponentSpec<O> {
  /** Stable PascalCase identity: config entries, traces, metrics and logs use it. */
  name: string;
  /** The options schema. Use `.strict()` objects with `.default(...)` on every field. @default NO_OPTIONS */
  options?: OptionsSchema<O>;
}

/** What `defineSource` takes. */
export interface SourceSpec<O> extends ComponentSpec<O> {
  /**
   * Runtime parts the source reads; checked at start-up (a fail-open source without them is disabled). When they
   * depend on the options, set `requires` on the object `create` returns instead: that one wins. @default []
   */
  requires?: readonly StoreName[];
  /** Builds the source once at start-up from validated options. Its `fetch` runs per request. */
  create(options: O): Pick<CandidateSource, "fetch" | "requires">;
}

/** What `defineFilter` takes. */
export interface FilterSpec<O> extends ComponentSpec<O> {
  create(options: O): Pick<CandidateFilter, "apply">;
}

/** What `defineStage` takes. */
export interface StageSpec<O> extends ComponentSpec<O> {
  /** When the stage runs (see StagePhase). */
  phase: StagePhase;
  create(options: O): Pick<RerankStage, "apply">;
}

interface Factory<O, T> {
  readonly name: string;
  /** The options schema (NO_OPTIONS when the component takes none). */
  readonly options: OptionsSchema<O>;
  /**
   * Validates raw options (from config: unknown keys rejected, defaults filled) and builds the component.
   * Throws BAD_CONFIG naming the option (`options.maxAgeDays`); the pipeline definition prefixes the entry's key.
   */
  create(options?: unknown): T;
}

export interface SourceFactory<O = unknown> extends Factory<O, CandidateSource> {
  readonly kind: "source";
}
export interface FilterFactory<O = unknown> extends Factory<O, CandidateFilter> {
  readonly kind: "filter";
}
export interface StageFactory<O = unknown> extends Factory<O, RerankStage> {
  readonly kind: "stage";
  readonly phase: StagePhase;
}
export type ComponentFactory = SourceFactory | FilterFactory | StageFactory;

const COMPONENT_NAME = /^[A-Z][A-Za-z0-9]*$/;
/** Every runtime part a source may require. */
export const STORE_NAMES: readonly StoreName[] = ["twoTower", "content", "userTower", "ranker", "neighbours", "graph", "state"];

function checkSpec(kind: string, spec: { name?: unknown; create?: unknown }): void {
  if (typeof spec?.name !== "string" || !COMPONENT_NAME.test(spec.name)) {
    throw new ReelfeedError("BAD_PLUGIN", `${kind} name must be PascalCase, got ${JSON.stringify(spec?.name)}`, { [kind]: spec?.name });
  }
  if (typeof spec.create !== "function") throw new ReelfeedError("BAD_PLUGIN", `${kind} "${spec.name}" has no create(options) function`, { [kind]: spec.name });
}

/** Parses, then calls `build`; a non-ReelfeedError thrown by `build` is the component's own bug, said so. */
function build<O, T>(kind: string, name: string, schema: OptionsSchema<O>, raw: unknown, make: (options: O) => T): T {
  const options = parseOptions(name, schema, raw);
  try {
    return make(options);
  } catch (err) {
    if (err instanceof ReelfeedError) throw err;
    throw new ReelfeedError("BAD_PLUGIN", `${kind} ${name}: create(options) threw: ${err instanceof Error ? err.message : String(err)}`, { [kind]: name });
  }
}

/** A candidate source: proposes videos for a query. See SourceSpec and CandidateSource for the contract. */
export function defineSource<O = Record<string, never>>(spec: SourceSpec<O>): SourceFactory<O> {
  checkSpec("source", spec);
  const { name, create } = spec;
  for (const r of spec.requires ?? []) {
    if (!STORE_NAMES.includes(r)) throw new ReelfeedError("BAD_PLUGIN", `source "${name}" requires unknown store ${JSON.stringify(r)} (known: ${STORE_NAMES.join(", ")})`, { source: name });
  }
  const schema = spec.options ?? (NO_OPTIONS as unknown as OptionsSchema<O>);
  return {
    kind: "source",
    name,
    options: schema,
    create: (raw) =>
      build("source", name, schema, raw, (options) => {
        const impl = create(options);
        if (typeof impl?.fetch !== "function") throw new Error("it returned no fetch(query, ctx) function");
        const requires = impl.requires ?? spec.requires ?? [];
        if (!Array.isArray(requires)) throw new Error("requires is not an array");
        for (const r of requires) if (!STORE_NAMES.includes(r)) throw new Error(`requires unknown store ${JSON.stringify(r)} (known: ${STORE_NAMES.join(", ")})`);
        return { name, requires, fetch: impl.fetch.bind(impl) };
      }),
  };
}

/** A hard rule on merged candidates (before ranking). See FilterSpec and CandidateFilter for the contract. */
export function defineFilter<O = Record<string, never>>(spec: FilterSpec<O>): FilterFactory<O> {
  checkSpec("filter", spec);
  const { name, create } = spec;
  const schema = spec.options ?? (NO_OPTIONS as unknown as OptionsSchema<O>);
  return {
    kind: "filter",
    name,
    options: schema,
    create: (raw) =>
      build("filter", name, schema, raw, (options) => {
        const impl = create(options);
        if (typeof impl?.apply !== "function") throw new Error("it returned no apply(query, candidates, runtime) function");
        return { name, apply: impl.apply.bind(impl) };
      }),
  };
}

/** A re-rank stage with its phase. See StageSpec and RerankStage for the contract. */
export function defineStage<O = Record<string, never>>(spec: StageSpec<O>): StageFactory<O> {
  checkSpec("stage", spec);
  const { name, phase, create } = spec;
  if (!STAGE_PHASES.includes(phase)) {
    throw new ReelfeedError("BAD_PLUGIN", `stage "${name}": phase must be one of ${STAGE_PHASES.join(", ")}, got ${JSON.stringify(phase)}`, { stage: name });
  }
  const schema = spec.options ?? (NO_OPTIONS as unknown as OptionsSchema<O>);
  return {
    kind: "stage",
    name,
    phase,
    options: schema,
    create: (raw) =>
      build("stage", name, schema, raw, (options) => {
        const impl = create(options);
        if (typeof impl?.apply !== "function") throw new Error("it returned no apply(query, ranked, ctx) function");
        return { name, apply: impl.apply.bind(impl) };
      }),
  };
}

// Reasons ----------------------------------------------------------------------------------------------------------

const REASON_LOCAL = /^[A-Z][A-Z0-9_]*$/;
const PLUGIN_NAME = /^[a-z0-9][a-z0-9-]*$/;
const BUILTIN_REASONS: ReadonlySet<string> = new Set(REASON_CODES);

/** A plugin's own reason code: `<plugin>/<CODE>`, served as `qualifiedCode` beside the built-in `code` it falls back to. */
export interface ReasonDefinition {
  /** "<plugin name>/<CODE>", e.g. "more-from-creators/FINISHED_CREATOR". */
  readonly qualifiedCode: string;
  /** The built-in code a client that does not know this one shows instead (`Reason.code`). */
  readonly fallback: ReasonCode;
  /** What it means and which params it carries: for the plugin's README and the start-up log. */
  readonly description: string;
  /** A Reason for a candidate. Make it once when the params do not vary: candidates may share a reason object. */
  reason(params?: Record<string, string>): Reason;
}

/**
 * Declares a plugin reason code. List it in the plugin's `reasons`: the loader checks its namespace is the plugin's
 * name, and the pipeline drops a plugin candidate whose reason is neither built-in nor declared (it could not be
 * served: the schema's enum is closed).
 */
export function defineReason(qualifiedCode: string, spec: { fallback: ReasonCode; description: string }): ReasonDefinition {
  const [namespace, local, ...rest] = qualifiedCode.split("/");
  if (rest.length || !PLUGIN_NAME.test(namespace ?? "") || !REASON_LOCAL.test(local ?? "")) {
    throw new ReelfeedError("BAD_PLUGIN", `reason "${qualifiedCode}": expected "<plugin-name>/<UPPER_SNAKE_CODE>"`, { reason: qualifiedCode });
  }
  if (!BUILTIN_REASONS.has(spec?.fallback)) {
    throw new ReelfeedError("BAD_PLUGIN", `reason "${qualifiedCode}": fallback must be a built-in code (${REASON_CODES.join(", ")}), got ${JSON.stringify(spec?.fallback)}`, {
      reason: qualifiedCode,
    });
  }
  const { fallback, description } = spec;
  return {
    qualifiedCode,
    fallback,
    description,
    reason: (params = {}) => ({ code: fallback, params, qualifiedCode }),
  };
}

/** The plugin namespace of a qualified reason code ("more-from-creators/X" → "more-from-creators"). */
export function reasonNamespace(qualifiedCode: string): string {
  return qualifiedCode.slice(0, qualifiedCode.indexOf("/"));
}

/**
 * Whether a candidate's reason can be served: a built-in code, and a qualified code only when declared. Checked
 * on plugin sources' and stages' output only (built-ins construct theirs from constants).
 */
export function isServableReason(reason: Reason | undefined, declared: ReadonlyMap<string, ReasonDefinition>): boolean {
  if (typeof reason !== "object" || reason === null || !BUILTIN_REASONS.has(reason.code) || typeof reason.params !== "object" || reason.params === null) return false;
  if (reason.qualifiedCode === undefined) return true;
  const def = declared.get(reason.qualifiedCode);
  return def !== undefined && def.fallback === reason.code;
}
