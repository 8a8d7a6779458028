// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { Arg, Ctx, Field, Float, Int, ObjectType, Query, Resolver } from "type-graphql";
import { ReelfeedError } from "../errors";
import type { ExperimentReport } from "../experiments/report";
import type { ReelfeedContext } from "./context";

/**
 * The admin view of experiments (scope `admin`, src/auth/root-fields.ts): the per-variant online metrics and, per
 * treatment, every metric compared with the control with its confidence interval and p-value. Thin: the report is
 * built in src/experiments/report.ts. Values that do not exist yet (a rate with no impressions) are null.
 */

const num = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

@ObjectType("ExperimentMetricValue")
export class ExperimentMetricValueType {
  @Field(() => String)
  metric!: string;

  @Field(() => Float, { nullable: true })
  value!: number | null;
}

@ObjectType("ExperimentVariantSummary")
export class ExperimentVariantSummaryType {
  @Field(() => String)
  name!: string;

  @Field(() => Int, { description: "Users with an impression whose attribution window has closed." })
  users!: number;

  @Field(() => Int)
  impressions!: number;

  @Field(() => Int)
  requests!: number;

  @Field(() => [ExperimentMetricValueType], { description: "Per-impression rates and means (ctr, watchSecPerImpression, ...), and the guardrails per request." })
  metrics!: ExperimentMetricValueType[];

  @Field(() => Float, { nullable: true })
  latencyP50Ms!: number | null;

  @Field(() => Float, { nullable: true })
  latencyP99Ms!: number | null;

  @Field(() => Float, { nullable: true, description: "The ranker's mean click probability on what it served." })
  predictedCtr!: number | null;

  @Field(() => Float, { nullable: true, description: "Observed CTR / predictedCtr: label drift when far from 1." })
  labelRatio!: number | null;

  @Field(() => Boolean, { description: "labelRatio outside [1/t, t], t = experiments.drift.labelRatioThreshold" })
  labelDrift!: boolean;
}

@ObjectType("ExperimentMetricComparison", { description: "treatment − control on one metric, with its confidence interval and two-sided test." })
export class ExperimentMetricComparisonType {
  @Field(() => String)
  metric!: string;

  @Field(() => String, { description: "primary or guardrail" })
  kind!: string;

  @Field(() => String, { description: "ratio-delta-z (per-impression metrics, users randomized), welch-t or two-proportion-z (guardrails)" })
  test!: string;

  @Field(() => Float, { nullable: true })
  control!: number | null;

  @Field(() => Float, { nullable: true })
  treatment!: number | null;

  @Field(() => Float, { nullable: true })
  diff!: number | null;

  @Field(() => Float, { nullable: true })
  ciLow!: number | null;

  @Field(() => Float, { nullable: true })
  ciHigh!: number | null;

  @Field(() => Float, { nullable: true, description: "diff / control" })
  relative!: number | null;

  @Field(() => Float, { nullable: true })
  pValue!: number | null;

  @Field(() => Float, { nullable: true, description: "p × number of primary metrics (capped at 1)" })
  pBonferroni!: number | null;

  @Field(() => Boolean, { description: "p < alpha with the fixed horizon reached" })
  significant!: boolean;

  @Field(() => Boolean, { description: "significant, in the wrong direction (a failed guardrail)" })
  worse!: boolean;
}

@ObjectType("ExperimentComparison")
export class ExperimentComparisonType {
  @Field(() => String)
  variant!: string;

  @Field(() => [ExperimentMetricComparisonType])
  metrics!: ExperimentMetricComparisonType[];
}

@ObjectType("ExperimentReport")
export class ExperimentReportType {
  @Field(() => String)
  experiment!: string;

  @Field(() => Int, { description: "Impressions still inside their attribution window: not in the numbers yet." })
  pendingImpressions!: number;

  @Field(() => String)
  control!: string;

  @Field(() => Float)
  alpha!: number;

  @Field(() => Int)
  minImpressionsPerVariant!: number;

  @Field(() => Boolean, { description: "Every variant reached the fixed horizon: significance is decided (docs/experiments.md)." })
  decided!: boolean;

  @Field(() => [ExperimentVariantSummaryType])
  variants!: ExperimentVariantSummaryType[];

  @Field(() => [ExperimentComparisonType])
  comparisons!: ExperimentComparisonType[];
}

export function toExperimentReportType(r: ExperimentReport): ExperimentReportType {
  return {
    experiment: r.experiment,
    pendingImpressions: r.pendingImpressions,
    control: r.control,
    alpha: r.alpha,
    minImpressionsPerVariant: r.minImpressionsPerVariant,
    decided: r.decided,
    variants: r.variants.map((v) => ({
      name: v.name,
      users: v.users,
      impressions: v.impressions,
      requests: v.requests,
      metrics: Object.entries(v.values).map(([metric, value]) => ({ metric, value: num(value) })),
      latencyP50Ms: num(v.latencyP50Ms),
      latencyP99Ms: num(v.latencyP99Ms),
      predictedCtr: num(v.predictedCtr),
      labelRatio: num(v.labelRatio),
      labelDrift: v.labelDrift,
    })),
    comparisons: r.comparisons.map((c) => ({
      variant: c.variant,
      metrics: c.metrics.map((m) => ({
        metric: m.metric,
        kind: m.kind,
        test: m.test,
        control: num(m.control),
        treatment: num(m.treatment),
        diff: num(m.diff),
        ciLow: num(m.ciLow),
        ciHigh: num(m.ciHigh),
        relative: num(m.relative),
        pValue: num(m.pValue),
        pBonferroni: num(m.pBonferroni),
        significant: m.significant,
        worse: m.worse,
      })),
    })),
  };
}

@Resolver()
export class ExperimentsResolver {
  @Query(() => ExperimentReportType, { description: "An experiment's online metrics per variant and their significance (admin scope)." })
  async experimentReport(@Arg("name", () => String) name: string, @Ctx() ctx: ReelfeedContext): Promise<ExperimentReportType> {
    const admin = ctx.services.experiments;
    if (!admin) throw new ReelfeedError("UNAVAILABLE", "experiments are not served by this server");
    return toExperimentReportType(await admin.report(name));
  }
}
