import type { SafeParseReturnType } from "zod";
import type { ReelfeedConfig } from "../config";
import { ReelfeedError } from "../errors";
import type { Exposure } from "./assignment";
import type { ExperimentConfig, VariantOverrides } from "./experiment-config";

/**
 * From experiments to pipelines. Every variant's overrides are applied to the base config and the result validated
 * by the whole config schema (a variant's source list is checked exactly like the base one, and a bad entry names
 * its key under `experiments...`). Experiments are independent, so a user may be in several at once: their
 * overrides are combined, which is only sound when they touch different parts of the pipeline. Two experiments that
 * both override, say, `ranking.blend` would confound each other, so that is refused at load (make them variants
 * of one experiment instead).
 *
 * One pipeline is built per combination of overriding variants a user can land in (the product over overriding
 * experiments, each "not overriding" included), at load, never per request.
 */

/** The parts of the config a variant may override. */
export const OVERRIDE_PARTS = ["pipeline.sources", "pipeline.stages", "ranking.blend", "ranking.candidatesToRank", "bundle"] as const;
export type OverridePart = (typeof OVERRIDE_PARTS)[number];

export function partsOf(o: VariantOverrides): OverridePart[] {
  const parts: OverridePart[] = [];
  if (o.pipeline?.sources !== undefined) parts.push("pipeline.sources");
  if (o.pipeline?.stages !== undefined) parts.push("pipeline.stages");
  if (o.ranking?.blend !== undefined) parts.push("ranking.blend");
  if (o.ranking?.candidatesToRank !== undefined) parts.push("ranking.candidatesToRank");
  if (o.bundle !== undefined) parts.push("bundle");
  return parts;
}

/** One pipeline the router can pick: the config it runs, the bundle it serves (undefined: the active one). */
export interface VariantPipeline {
  /** `exp=variant;...` of the overriding variants it combines; "" for the base pipeline. */
  key: string;
  config: ReelfeedConfig;
  bundle?: string;
  /** The overriding variants combined (config order). */
  variants: Exposure[];
}

export interface ExperimentPlan {
  experiments: ExperimentConfig[];
  pipelines: VariantPipeline[];
  /** Which pipeline serves a request with these exposures. */
  pipelineKey(exposures: readonly Exposure[]): string;
}

/** What planExperiments needs of the config schema. */
export interface ConfigSchema {
  safeParse(value: unknown): SafeParseReturnType<unknown, ReelfeedConfig>;
}

function badConfig(key: string, message: string): ReelfeedError {
  return new ReelfeedError("BAD_CONFIG", `config ${key}: ${message}`, { key });
}

/** Base config with one variant's overrides applied (not yet validated). */
function overlay(base: ReelfeedConfig, o: VariantOverrides): Record<string, unknown> {
  return {
    ...base,
    pipeline: {
      ...base.pipeline,
      ...(o.pipeline?.sources !== undefined && { sources: o.pipeline.sources }),
      ...(o.pipeline?.stages !== undefined && { stages: o.pipeline.stages }),
    },
    ranking: {
      ...base.ranking,
      ...(o.ranking?.blend !== undefined && { blend: { ...base.ranking.blend, ...o.ranking.blend } }),
      ...(o.ranking?.candidatesToRank !== undefined && { candidatesToRank: o.ranking.candidatesToRank }),
    },
  };
}

/** Validates one overlay; a failure names the variant's key (`<prefix>.variants.1.overrides.pipeline.sources.0.quota`). */
function validated(schema: ConfigSchema, raw: Record<string, unknown>, variantKey: string): ReelfeedConfig {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  return (() => {
    throw badConfig(`${variantKey}.overrides.${issue.path.join(".")}`, issue.message);
  })();
}

/**
 * Checks the experiments against the base config and plans their pipelines. Throws BAD_CONFIG naming the key.
 * `keyPrefix` is where the definitions came from (`experiments.definitions`, or the experiments file).
 */
export function planExperiments(options: {
  base: ReelfeedConfig;
  experiments: readonly ExperimentConfig[];
  /** The config schema (passed in: src/config.ts embeds this module's schema, so importing it here would be a cycle). */
  schema: ConfigSchema;
  keyPrefix?: string;
  maxPipelines?: number;
}): ExperimentPlan {
  const { base, experiments, schema, keyPrefix = "experiments.definitions", maxPipelines = 16 } = options;
  const names = new Set<string>();
  const claimed = new Map<OverridePart, number>();
  // Per overriding experiment: its overriding variants with their validated configs' overrides.
  const axes: Array<{ experiment: string; options: Array<{ variant: string; overrides: VariantOverrides }> }> = [];
  experiments.forEach((e, i) => {
    const key = `${keyPrefix}.${i}`;
    if (names.has(e.name)) throw badConfig(`${key}.name`, `duplicate experiment "${e.name}"`);
    names.add(e.name);
    const parts = new Set<OverridePart>();
    const overriding: Array<{ variant: string; overrides: VariantOverrides }> = [];
    e.variants.forEach((v, j) => {
      const variantParts = partsOf(v.overrides);
      if (variantParts.length === 0) return;
      // Each variant on its own must make a valid config.
      validated(schema, overlay(base, v.overrides), `${key}.variants.${j}`);
      for (const p of variantParts) parts.add(p);
      overriding.push({ variant: v.name, overrides: v.overrides });
    });
    for (const p of parts) {
      const other = claimed.get(p);
      if (other !== undefined) {
        throw badConfig(
          `${key}.variants`,
          `experiments "${experiments[other].name}" and "${e.name}" both override ${p}: users in both would get a mix that neither measures; make them variants of one experiment`,
        );
      }
      claimed.set(p, i);
    }
    if (overriding.length > 0) axes.push({ experiment: e.name, options: overriding });
  });

  // Every combination: per axis, one of its overriding variants or none.
  let combos: Array<Array<{ experiment: string; variant: string; overrides: VariantOverrides }>> = [[]];
  for (const axis of axes) {
    const next: typeof combos = [];
    for (const c of combos) {
      next.push(c);
      for (const o of axis.options) next.push([...c, { experiment: axis.experiment, ...o }]);
    }
    combos = next;
    if (combos.length > maxPipelines) {
      throw badConfig("experiments.maxPipelines", `the experiments' overriding variants combine into more than ${maxPipelines} pipelines; raise experiments.maxPipelines or run fewer overriding experiments at once`);
    }
  }
  const keyOf = (vs: ReadonlyArray<{ experiment: string; variant: string }>): string => vs.map((v) => `${v.experiment}=${v.variant}`).join(";");
  const pipelines = combos.map((combo): VariantPipeline => {
    let raw: Record<string, unknown> = base as unknown as Record<string, unknown>;
    let bundle: string | undefined;
    for (const c of combo) {
      raw = overlay(raw as unknown as ReelfeedConfig, c.overrides);
      bundle = c.overrides.bundle ?? bundle;
    }
    const config = combo.length === 0 ? base : validated(schema, raw, `${keyPrefix}`);
    return { key: keyOf(combo), config, bundle, variants: combo.map(({ experiment, variant }) => ({ experiment, variant })) };
  });
  const overridingVariant = new Set(axes.flatMap((a) => a.options.map((o) => `${a.experiment}=${o.variant}`)));
  return {
    experiments: [...experiments],
    pipelines,
    pipelineKey: (exposures) => keyOf(exposures.filter((x) => overridingVariant.has(`${x.experiment}=${x.variant}`))),
  };
}
