import { z } from "zod";

/**
 * Experiments as configuration (config key `experiments`, docs/experiments.md). This file depends on zod only, so
 * src/config.ts can embed the schema without an import cycle; the variant overrides are checked against the whole
 * config schema by `resolveVariantConfigs` (variant-configs.ts), which names the offending key.
 *
 * A variant overrides parts of the pipeline: `pipeline.sources` and `pipeline.stages` (whole lists: a variant reads
 * as its own table of contents), `ranking.blend` (merged key by key), `ranking.candidatesToRank`, and `bundle` (the
 * model bundle folder it serves: a canary).
 */

/** Names end up in Prometheus labels, GraphQL answers and the impression log: a bounded, printable alphabet. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/;
const name = (what: string) => z.string().regex(NAME, `${what} must be 1–48 letters, digits, '_', '.' or '-' (starting with a letter or digit)`);

/** Epoch ms, or an ISO-8601 time. */
const instant = z.union([z.number().int().nonnegative(), z.string().datetime({ offset: true }).transform((s) => Date.parse(s))]);

export const variantOverridesSchema = z
  .object({
    pipeline: z
      .object({
        sources: z.array(z.unknown()).optional(),
        stages: z.array(z.unknown()).optional(),
      })
      .strict()
      .optional(),
    ranking: z
      .object({
        blend: z.record(z.string(), z.unknown()).optional(),
        candidatesToRank: z.unknown().optional(),
      })
      .strict()
      .optional(),
    /** Model bundle folder this variant serves (a canary); the active bundle when absent. */
    bundle: z.string().min(1).optional(),
  })
  .strict();

export const variantSchema = z.object({
  name: name("a variant name"),
  /** Relative share of the experiment's traffic. */
  weight: z.number().positive().default(1),
  overrides: variantOverridesSchema.default({}),
});

export const experimentSchema = z
  .object({
    name: name("an experiment name"),
    /** Hash salt: change it to reshuffle users. @default the experiment name */
    salt: z.string().min(1).optional(),
    /** Share of all users in the experiment, 0–1. Raising it only adds users: nobody changes variant. */
    traffic: z.number().min(0).max(1).default(1),
    /** When assignment starts / stops (epoch ms or ISO time); outside it nobody is in the experiment. */
    start: instant.optional(),
    stop: instant.optional(),
    /** The first variant is the control every other is compared with. */
    variants: z.array(variantSchema).min(2, "an experiment needs at least two variants (the first is the control)"),
  })
  .superRefine((e, ctx) => {
    const seen = new Set<string>();
    e.variants.forEach((v, i) => {
      if (seen.has(v.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["variants", i, "name"], message: `duplicate variant "${v.name}"` });
      seen.add(v.name);
    });
    if (e.start !== undefined && e.stop !== undefined && e.stop <= e.start) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["stop"], message: "stop must be after start" });
    }
  });

export const experimentsConfigSchema = z
  .object({
    /**
     * A JSON file holding `{ "definitions": [...] }`, re-read when it changes (no restart): it replaces
     * `definitions` below. A bad edit is refused (BAD_CONFIG logged, reelfeed_experiments_reload_errors_total) and
     * the previous experiments keep running.
     */
    file: z.string().min(1).optional(),
    /** How often `file`'s mtime is checked, ms. */
    reloadMs: z.number().int().positive().default(2000),
    definitions: z.array(experimentSchema).default([]),
    /** Most distinct pipelines (combinations of overriding variants) built at load. */
    maxPipelines: z.number().int().positive().default(16),
    analysis: z
      .object({
        /** Significance level of every per-metric test (two-sided). */
        alpha: z.number().gt(0).lt(0.5).default(0.05),
        /**
         * Fixed horizon: a variant's difference is declared significant only once every variant has at least this
         * many impressions (looking earlier is allowed, deciding is not: docs/experiments.md "Repeated looks").
         */
        minImpressionsPerVariant: z.number().int().positive().default(1000),
        /** Outcomes are joined to an impression for this long after it was served (event time), ms. */
        attributionWindowMs: z.number().int().positive().default(30 * 60_000),
      })
      .default({}),
    drift: z
      .object({
        /** PSI per ranker feature at or above which the feature is reported drifting (0.1 moderate, 0.25 major). */
        psiThreshold: z.number().positive().default(0.2),
        /** Online CTR over the training base rate outside [1/ratio, ratio] is label drift. */
        labelRatioThreshold: z.number().gt(1).default(1.5),
        /** Served ranker rows sampled per request for the drift histograms (0 turns drift off). */
        rowsPerRequest: z.number().int().nonnegative().default(5),
        /**
         * The training reference is rebuilt this long after start-up (ms), in a worker thread: not while the server
         * warms up and replays its logs on the same cores.
         */
        referenceDelayMs: z.number().int().nonnegative().default(10_000),
      })
      .default({}),
  })
  .default({});

export type ExperimentsConfig = z.infer<typeof experimentsConfigSchema>;
export type ExperimentConfig = z.infer<typeof experimentSchema>;
export type VariantConfig = z.infer<typeof variantSchema>;
export type VariantOverrides = z.infer<typeof variantOverridesSchema>;

/** `{ definitions }` as an experiments file holds it. */
export const experimentsFileSchema = z.object({ definitions: z.array(experimentSchema) }).strict();
