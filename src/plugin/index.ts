/**
 * The public module for plugin authors, `reelfeed/plugin` (package.json `exports`): everything a plugin needs, and
 * nothing else, each export here on purpose. A plugin imports from it (and, in its tests, from `reelfeed/testkit`)
 * only; everything else under src/ is internal and may change without notice. The guide is docs/plugins.md.
 *
 * A plugin is a folder `plugins/<name>/index.ts` whose default export is `definePlugin({...})`: a name, a version,
 * and factories for candidate sources, filters and re-rank stages, each made with `defineSource` / `defineFilter` /
 * `defineStage` — the path the built-in components take too. Each factory declares its options as a zod schema;
 * the pipeline validates every config entry's options against it at start-up and hands `create` the parsed values,
 * so a typo in config stops the server with BAD_CONFIG naming the plugin and the key, never a failed request. A
 * plugin's own reason codes are declared with `defineReason("<plugin>/<CODE>", { fallback, description })` and
 * reach the GraphQL `Reason.qualifiedCode` (with `Reason.code` the built-in fallback).
 *
 * ```ts
 * import { definePlugin, defineSource, z } from "reelfeed/plugin";
 *
 * const mySource = defineSource({
 *   name: "MySource",
 *   options: z.object({ maxAgeDays: z.number().positive().default(30) }).strict(),
 *   create: ({ maxAgeDays }) => ({ fetch: async (query, ctx) => [] }),
 * });
 * export default definePlugin({ name: "my-plugin", version: "1.0.0", sources: [mySource] });
 * ```
 */

// Defining a plugin and its components ------------------------------------------------------------------------------

/** `definePlugin({ name, version, sources?, filters?, stages?, reasons? })`: types and checks a plugin (BAD_PLUGIN). */
export { definePlugin, type ReelfeedPlugin } from "../pipeline/plugin";
export {
  /** A candidate source factory from a name, an options schema, its `requires` and `create(options)`. */
  defineSource,
  /** A filter (hard rule on merged candidates, before ranking) factory. */
  defineFilter,
  /** A re-rank stage factory with the phase it runs in. */
  defineStage,
  /** A plugin reason code "<plugin>/<CODE>" with the built-in code clients fall back to. */
  defineReason,
  /** The options schema of a component that takes none (the default): any key given is BAD_CONFIG. */
  NO_OPTIONS,
  /** The stage phases, in the order they run. */
  STAGE_PHASES,
  /** Every runtime part a source may list in `requires`. */
  STORE_NAMES,
  type SourceSpec,
  type FilterSpec,
  type StageSpec,
  type SourceFactory,
  type FilterFactory,
  type StageFactory,
  type StagePhase,
  type OptionsSchema,
  type ReasonDefinition,
} from "../pipeline/components";
/** zod, the same instance the pipeline parses options with: write options schemas with it. */
export { z } from "zod";

// The contracts a component implements -----------------------------------------------------------------------------

export {
  /** The built-in reason codes (the GraphQL `ReasonCode` enum). */
  REASON_CODES,
  /** A copy of a scored candidate with a new score (and optionally reason): what a stage returns for a moved item. */
  withScore,
  type CandidateSource,
  type SourceContext,
  type CandidateFilter,
  type FilterResult,
  type RerankStage,
  type StageContext,
  type StageResult,
  type Removal,
  type Candidate,
  type MergedCandidate,
  type ScoredCandidate,
  type Attribution,
  type Reason,
  type ReasonCode,
  type FeedQuery,
  type FeedContext,
  type FeedRuntime,
  type StoreName,
  type UserTowerModel,
  type RankerModel,
} from "../pipeline/types";
/** Splits candidates by a rule returning a removal reason (or undefined to keep): the usual body of a filter. */
export { partition } from "../filters/partition";

// What a query and the runtime hold --------------------------------------------------------------------------------

export type { Device, Surface, User, Video, Creator, PolicyFlag } from "../data/types";
export type { Catalog } from "../data/catalog";
export type { UserAggregates, VideoAggregates, RecentWatch } from "../features/aggregates";
/** Milliseconds in a day; the completion share above which a watch counts as finished (0.8). */
export { DAY_MS, COMPLETION_THRESHOLD } from "../features/aggregates";
export type { SeenSet, UserRelations, StateStore } from "../stores/state-store";
export type { GraphStore } from "../stores/graph-store";
export type { VectorIndex } from "../stores/vector-index";
/** Compares ids by UTF-16 code units: a deterministic tie-break that does not depend on the locale. */
export { byCodeUnits } from "../pipeline/steps/merge";
