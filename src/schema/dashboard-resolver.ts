// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { GraphQLDateTime } from "graphql-scalars";
import { Arg, Ctx, Field, Float, Int, ObjectType, Query, Resolver } from "type-graphql";
import { ReelfeedError } from "../errors";
import { UserType, VideoType } from "./catalog-types";
import type { ReelfeedContext } from "./context";
import { toUserNode, toVideoNode } from "./mappers";
import { badUserInput, checkId, checkPageSize } from "./validation";

/**
 * Admin read-only queries behind the operator dashboard (src/dashboard, scope `admin` in src/auth/root-fields.ts):
 * catalogue search, the configured experiments, feature drift and a snapshot of the server's Prometheus series.
 * Thin, and nothing here runs unless asked: no hook on the feed path, no sampling timer. Metrics and drift are read
 * from the same registry /metrics renders, so the dashboard shows exactly what a Prometheus scrape would.
 */

/** Longest search string: a search box, not a query language. */
const MAX_SEARCH_LENGTH = 200;
/** Most results a search returns. */
const MAX_SEARCH_RESULTS = 50;

function checkSearch(query: string, argument: string): string {
  const q = query.trim();
  if (q.length === 0) throw badUserInput(argument, "must not be empty");
  if (q.length > MAX_SEARCH_LENGTH) throw badUserInput(argument, `must be at most ${MAX_SEARCH_LENGTH} characters`);
  return q;
}

@ObjectType("ExperimentVariantConfig")
export class ExperimentVariantConfigType {
  @Field(() => String)
  name!: string;

  @Field(() => Float, { description: "Relative share of the experiment's traffic." })
  weight!: number;

  @Field(() => [String], { description: "What the variant overrides: sources, stages, blend, candidatesToRank, bundle (empty for the control)." })
  overrides!: string[];
}

@ObjectType("ExperimentSummary", { description: "An experiment as configured now (the first variant is the control)." })
export class ExperimentSummaryType {
  @Field(() => String)
  name!: string;

  @Field(() => Float, { description: "Share of all users in the experiment, 0–1." })
  traffic!: number;

  @Field(() => String)
  control!: string;

  @Field(() => [ExperimentVariantConfigType])
  variants!: ExperimentVariantConfigType[];
}

@ObjectType("FeatureDrift")
export class FeatureDriftType {
  @Field(() => String)
  feature!: string;

  @Field(() => Float, { nullable: true, description: "Population stability index: served rows against the bundle's training rows." })
  psi!: number | null;

  @Field(() => Boolean, { description: "psi ≥ experiments.drift.psiThreshold" })
  drifting!: boolean;
}

@ObjectType("DriftReport", { description: "Feature drift of the served bundle's ranker rows (docs/experiments.md)." })
export class DriftReportType {
  @Field(() => Boolean, { description: "False until the training reference is built (in the background after start-up), or when drift is off." })
  ready!: boolean;

  @Field(() => Int)
  referenceRows!: number;

  @Field(() => Int)
  servedRows!: number;

  @Field(() => Float)
  threshold!: number;

  @Field(() => [FeatureDriftType], { description: "Most drifting first." })
  features!: FeatureDriftType[];
}

@ObjectType("MetricLabel")
export class MetricLabelType {
  @Field(() => String)
  key!: string;

  @Field(() => String)
  value!: string;
}

@ObjectType("MetricSample", { description: "One line of the Prometheus text format: histogram buckets are `<name>_bucket` with an `le` label." })
export class MetricSampleType {
  @Field(() => String)
  name!: string;

  @Field(() => [MetricLabelType])
  labels!: MetricLabelType[];

  @Field(() => Float, { nullable: true, description: "Null for NaN (a rate with no denominator yet)." })
  value!: number | null;
}

@ObjectType("MetricsSnapshot", { description: "The server's Prometheus series at one instant: what GET /metrics renders, parsed." })
export class MetricsSnapshotType {
  @Field(() => GraphQLDateTime)
  takenAt!: Date;

  @Field(() => [MetricSampleType])
  samples!: MetricSampleType[];
}

/** A label value in the text format: `\\`, `\"` and `\n` escaped (src/schema/metrics.ts escapeLabel). */
function unescapeLabel(v: string): string {
  return v.replace(/\\(\\|"|n)/g, (_m, c: string) => (c === "n" ? "\n" : c));
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text exposition format (the subset our registry writes: no timestamps). */
export function parsePrometheusText(text: string, names?: ReadonlySet<string>): MetricSampleType[] {
  const out: MetricSampleType[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    if (names && !names.has(m[1].replace(/_(bucket|sum|count)$/, "")) && !names.has(m[1])) continue;
    const labels: MetricLabelType[] = [];
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels.push({ key: l[1], value: unescapeLabel(l[2]) });
    const value = Number(m[3]);
    out.push({ name: m[1], labels, value: Number.isFinite(value) ? value : null });
  }
  return out;
}

/** The snapshot's series names must be metric names; a bounded list. */
const MAX_NAMES = 50;

@Resolver()
export class DashboardResolver {
  @Query(() => [VideoType], {
    description: "Videos whose id is `query`, whose title or creator name contains it, or whose category or a tag is it (case-insensitive), newest first (admin scope).",
  })
  searchVideos(
    @Arg("query", () => String) query: string,
    @Arg("first", () => Int, { nullable: true, defaultValue: 10 }) first: number | null,
    @Ctx() ctx: ReelfeedContext,
  ): VideoType[] {
    const q = checkSearch(query, "query");
    const n = checkPageSize(first ?? 10, MAX_SEARCH_RESULTS);
    const { catalog } = ctx.services;
    const exact = catalog.video(q);
    const out = exact && !exact.policyFlags?.includes("removed") ? [exact] : [];
    const needle = q.toLowerCase();
    // A linear scan of the catalogue: an operator's search box, a few ms on 100k videos, never on the feed path.
    for (const v of catalog.newest()) {
      if (out.length >= n) break;
      if (v === exact) continue;
      const creator = catalog.creator(v.creatorId)?.name ?? "";
      if (
        v.title.toLowerCase().includes(needle) ||
        v.category.toLowerCase() === needle ||
        v.tags.some((t) => t.toLowerCase() === needle) ||
        creator.toLowerCase().includes(needle)
      ) {
        out.push(v);
      }
    }
    return out.slice(0, n).map((v) => toVideoNode(v, catalog));
  }

  @Query(() => [UserType], {
    description: "Users by id (the catalogue indexes users by id only): the user whose id is `query`, or none (admin scope).",
  })
  searchUsers(@Arg("query", () => String) query: string, @Ctx() ctx: ReelfeedContext): UserType[] {
    const id = checkId(checkSearch(query, "query"), "query");
    const user = ctx.services.catalog.user(id);
    return user ? [toUserNode(user)] : [];
  }

  @Query(() => [ExperimentSummaryType], { description: "The experiments configured now (admin scope); their results are in `experimentReport`." })
  experiments(@Ctx() ctx: ReelfeedContext): ExperimentSummaryType[] {
    const admin = ctx.services.experiments;
    if (!admin) throw new ReelfeedError("UNAVAILABLE", "experiments are not served by this server");
    return admin.list().map((e) => ({
      name: e.name,
      traffic: e.traffic,
      control: e.variants[0].name,
      variants: e.variants.map((v) => ({
        name: v.name,
        weight: v.weight,
        overrides: [
          ...Object.keys(v.overrides.pipeline ?? {}),
          ...Object.keys(v.overrides.ranking ?? {}),
          ...(v.overrides.bundle ? ["bundle"] : []),
        ],
      })),
    }));
  }

  @Query(() => DriftReportType, { description: "Feature drift (PSI per dense ranker feature) of the served bundle (admin scope)." })
  featureDrift(@Ctx() ctx: ReelfeedContext): DriftReportType {
    // Read from the registry the runtime exports drift into (reelfeed_drift_psi / _rows): one source of truth.
    const driftSeries = new Set(["reelfeed_drift_psi", "reelfeed_drift_rows"]);
    const samples = parsePrometheusText(ctx.metrics.registry.render(driftSeries), driftSeries);
    const threshold = ctx.config.experiments.drift.psiThreshold;
    const rows = (side: string) => samples.find((s) => s.name === "reelfeed_drift_rows" && s.labels.some((l) => l.key === "side" && l.value === side))?.value ?? 0;
    const features = samples
      .filter((s) => s.name === "reelfeed_drift_psi")
      .map((s) => ({ feature: s.labels.find((l) => l.key === "feature")?.value ?? "", psi: s.value, drifting: s.value !== null && s.value >= threshold }))
      .sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
    const referenceRows = rows("reference");
    return { ready: referenceRows > 0, referenceRows, servedRows: rows("served"), threshold, features };
  }

  @Query(() => MetricsSnapshotType, {
    description:
      "The server's Prometheus series now, parsed (admin scope): request counts, latency histograms, fallbacks, events applied, consumer lag, memory. `names` keeps only those series (a histogram by its base name).",
  })
  metricsSnapshot(
    @Arg("names", () => [String], { nullable: true }) names: string[] | null,
    @Ctx() ctx: ReelfeedContext,
  ): MetricsSnapshotType {
    if (names && names.length > MAX_NAMES) throw badUserInput("names", `must have at most ${MAX_NAMES} entries, got ${names.length}`);
    names?.forEach((n, i) => {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(n)) throw badUserInput(`names[${i}]`, `"${n.slice(0, 60)}" is not a metric name`);
    });
    // Only the series asked for are read (reading some has an effect: see MetricsRegistry.render).
    const wanted = names ? new Set(names) : undefined;
    return { takenAt: new Date(), samples: parsePrometheusText(ctx.metrics.registry.render(wanted), wanted) };
  }
}
