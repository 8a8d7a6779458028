// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Arg, Ctx, Field, Float, Int, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { ReelfeedError } from "../errors";
import { BUNDLE_FILES } from "../training/bundle";
import { activateBundle, readRegistry, rollbackBundle, type Activation, type RegistryEntry } from "../training/registry";
import type { EvaluationReport, MetricRecord } from "../training/report";
import type { ReelfeedContext } from "./context";
import { checkId } from "./validation";

/**
 * The model registry over GraphQL, for the operator dashboard (scope `admin`, src/auth/root-fields.ts): the trained
 * bundles with their evaluation tables, and activate / roll back — the same calls as `reelfeed models --activate`
 * and `--rollback` (src/training/registry.ts: checks, promotion gate, history). A server serving the registry's
 * active bundle hot-swaps to the new one on its next registry poll (src/app/serve.ts followRegistry).
 *
 * Bundle folders stay private: answers name versions, never paths.
 */

@ObjectType("MetricValue")
export class MetricValueType {
  @Field(() => String, { description: "e.g. recall@20, ndcg@10, users" })
  name!: string;

  @Field(() => Float, { nullable: true })
  value!: number | null;
}

@ObjectType("ModelMetrics")
export class ModelMetricsType {
  @Field(() => String, { description: "popularity, itemKnn, ease, twoTower, neighbours, funnel, ..." })
  model!: string;

  @Field(() => [MetricValueType])
  metrics!: MetricValueType[];
}

@ObjectType("EvaluationTable", { description: "One evaluation protocol of a bundle's report.json: every model's metrics on it." })
export class EvaluationTableType {
  @Field(() => String, { description: "warm (per-user temporal hold-out, the headline), cold (users with no history), global (one time cut), funnel (the serving funnel on the global cut)" })
  protocol!: string;

  @Field(() => Int, { nullable: true, description: "Users evaluated, when the report says." })
  users!: number | null;

  @Field(() => [ModelMetricsType])
  models!: ModelMetricsType[];
}

@ObjectType("ModelEvaluation")
export class ModelEvaluationType {
  @Field(() => String)
  createdAt!: string;

  @Field(() => String)
  dataset!: string;

  @Field(() => [EvaluationTableType])
  tables!: EvaluationTableType[];

  @Field(() => [String])
  notes!: string[];
}

@ObjectType("ModelBundle")
export class ModelBundleType {
  @Field(() => String)
  version!: string;

  @Field(() => String)
  createdAt!: string;

  @Field(() => String, { description: "The data it was trained on, e.g. movielens:ml-latest-small." })
  source!: string;

  @Field(() => Boolean, { description: "The registry's active bundle (what servers following the registry serve)." })
  active!: boolean;

  @Field(() => [MetricValueType], { description: "The manifest's headline metrics." })
  metrics!: MetricValueType[];

  @Field(() => ModelEvaluationType, { nullable: true, description: "The bundle's report.json; null when it has none or it cannot be read." })
  evaluation!: ModelEvaluationType | null;
}

@ObjectType("ModelRegistry")
export class ModelRegistryType {
  @Field(() => String, { nullable: true })
  active!: string | null;

  @Field(() => [String], { description: "Previously active versions, oldest first: `rollbackModel` goes back to the last." })
  history!: string[];

  @Field(() => [ModelBundleType], { description: "Newest first." })
  bundles!: ModelBundleType[];
}

@ObjectType("ModelActivation")
export class ModelActivationType {
  @Field(() => String)
  active!: string;

  @Field(() => String, { nullable: true })
  previous!: string | null;

  @Field(() => Boolean, { description: "The promotion gate passed (false only when forced past it)." })
  gatePassed!: boolean;

  @Field(() => String)
  gateReason!: string;
}

const num = (v: number | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function table(protocol: string, records: Record<string, MetricRecord> | undefined, users?: number): EvaluationTableType | undefined {
  if (!records || Object.keys(records).length === 0) return undefined;
  const models = Object.entries(records).map(([model, metrics]) => ({
    model,
    metrics: Object.entries(metrics).map(([name, value]) => ({ name, value: num(value) })),
  }));
  return { protocol, users: num(users ?? records[Object.keys(records)[0]]?.users), models };
}

/** report.json → tables, the headline protocol first. */
export function evaluationTables(report: EvaluationReport): EvaluationTableType[] {
  return [
    table("warm", report.protocols?.warm?.retrieval, report.protocols?.warm?.users),
    table("cold", report.protocols?.cold?.retrieval, report.protocols?.cold?.users),
    table("global", report.retrieval, report.split?.evaluatedUsers),
    table("funnel", report.funnel, report.split?.evaluatedUsers),
  ].filter((t): t is EvaluationTableType => t !== undefined);
}

async function readEvaluation(entry: RegistryEntry): Promise<ModelEvaluationType | null> {
  try {
    const report = JSON.parse(await readFile(join(entry.path, BUNDLE_FILES.report), "utf8")) as EvaluationReport;
    return { createdAt: String(report.createdAt ?? ""), dataset: String(report.dataset?.source ?? entry.source), tables: evaluationTables(report), notes: report.notes ?? [] };
  } catch {
    // A bundle without a report (or a half-copied one) is still listed; its evaluation is unknown, not an error.
    return null;
  }
}

/** Registry and bundle errors carry folder paths: the answer names the version instead. */
function withoutBundlePath(err: unknown, entryPath: string | undefined, version: string): unknown {
  if (!(err instanceof ReelfeedError)) return err;
  const scrub = (m: string) => (entryPath ? m.split(resolve(entryPath)).join(`bundle ${version}`).split(entryPath).join(`bundle ${version}`) : m);
  if (err.code === "NOT_FOUND") return new ReelfeedError("NOT_FOUND", `version: no bundle ${JSON.stringify(version)} in the registry`, { argument: "version" });
  if (err.code === "BAD_BUNDLE") {
    // Refused by a check (files, manifest, ONNX parity) or by the promotion gate: the caller can act on it (another
    // version, or force past the gate), so it is their error to see, with the check named.
    return new ReelfeedError("BAD_USER_INPUT", `version: ${scrub(err.message)}`, { argument: "version", check: String(err.details.check ?? "bundle") });
  }
  return err;
}

function toActivation(a: Activation): ModelActivationType {
  return { active: a.entry.version, previous: a.previous ?? null, gatePassed: a.gate.passed, gateReason: a.gate.reason };
}

@Resolver()
export class ModelsResolver {
  @Query(() => ModelRegistryType, { description: "The model registry: trained bundles with their evaluation, the active one, the history (admin scope)." })
  async models(@Ctx() ctx: ReelfeedContext): Promise<ModelRegistryType> {
    const registry = readRegistry(ctx.config.paths.varDir);
    const bundles = await Promise.all(
      [...registry.bundles].reverse().map(async (b) => ({
        version: b.version,
        createdAt: b.createdAt,
        source: b.source,
        active: b.version === registry.active,
        metrics: Object.entries(b.metrics ?? {}).map(([name, value]) => ({ name, value: num(value) })),
        evaluation: await readEvaluation(b),
      })),
    );
    return { active: registry.active ?? null, history: registry.history ?? [], bundles };
  }

  @Mutation(() => ModelActivationType, {
    description:
      "Activates a registered bundle after its checks and the promotion gate (`force` goes past the gate, never past the checks); servers following the registry hot-swap to it (admin scope).",
  })
  async activateModel(
    @Arg("version", () => String) version: string,
    @Arg("force", () => Boolean, { nullable: true, defaultValue: false }) force: boolean | null,
    @Ctx() ctx: ReelfeedContext,
  ): Promise<ModelActivationType> {
    const v = checkId(version, "version");
    const entry = readRegistry(ctx.config.paths.varDir).bundles.find((b) => b.version === v);
    try {
      return toActivation(await activateBundle(ctx.config.paths.varDir, v, { force: force ?? false }));
    } catch (err) {
      throw withoutBundlePath(err, entry?.path, v);
    }
  }

  @Mutation(() => ModelActivationType, { description: "Goes back to the previously active bundle (no gate: it served before); NOT_FOUND when there is none (admin scope)." })
  async rollbackModel(@Ctx() ctx: ReelfeedContext): Promise<ModelActivationType> {
    try {
      return toActivation(await rollbackBundle(ctx.config.paths.varDir));
    } catch (err) {
      if (err instanceof ReelfeedError && err.code === "NOT_FOUND") throw new ReelfeedError("NOT_FOUND", "rollbackModel: no previous active bundle to roll back to", {});
      throw err;
    }
  }
}
