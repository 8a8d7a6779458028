import "reflect-metadata";
import { createRequire } from "node:module";
import type { GraphQLScalarType as ScalarType, ValueNode } from "graphql";
import { GraphQLError } from "graphql";
import { Arg, Ctx, Field, ID, InputType, Int, Mutation, ObjectType, registerEnumType, Resolver } from "type-graphql";
import type { CatalogResult, CatalogStatus } from "../catalog/catalog-changes";
import type { CatalogItemKind, CatalogWriter } from "../catalog/catalog-writer";
import { ReelfeedError } from "../errors";
import type { ReelfeedContext } from "./context";

/**
 * The live-catalogue write API: upsertVideos, removeVideos, upsertUsers, upsertCreators (scope catalog:write).
 *
 * As with recordEvents (event-types.ts), every input field is nullable and of a lenient scalar: GraphQL checks only
 * that each item is an object with known field names, and the catalogue validator (src/catalog/validate-catalog.ts,
 * the one POST /catalog uses) checks everything else per item, answering a bad item REJECTED with a code and the
 * field while the others are written. Strict input types would fail the whole batch on one bad value (HTTP 400).
 * Resolvers stay thin: validation, versions, durability and the apply live in src/catalog.
 */

export const CatalogWriteStatusEnum = { ACCEPTED: "ACCEPTED", DUPLICATE: "DUPLICATE", STALE: "STALE", REJECTED: "REJECTED" } as const satisfies Record<
  CatalogStatus,
  CatalogStatus
>;
registerEnumType(CatalogWriteStatusEnum, {
  name: "CatalogWriteStatus",
  description:
    "Outcome of one item of a catalogue write. ACCEPTED: durable and applied on this server. DUPLICATE: this version (updatedAt) is already applied: nothing changed. STALE: a newer version is already applied: nothing changed. REJECTED: invalid (code, field).",
});

// Same instance as type-graphql's (see event-types.ts for why `require`).
const { GraphQLScalarType, valueFromASTUntyped } = createRequire(import.meta.url)("graphql") as typeof import("graphql");
const LENIENT = "Any value passes GraphQL; the catalogue validator rejects a wrong one for this item only (status REJECTED, code INVALID_FIELD, field named).";
const lenient = (name: string, description: string): ScalarType =>
  new GraphQLScalarType({
    name,
    description: `${description} ${LENIENT}`,
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: (ast: ValueNode, variables?: { [key: string]: unknown } | null) => valueFromASTUntyped(ast, variables),
  });
export const CatalogStringScalar = lenient("CatalogString", "A string.");
export const CatalogNumberScalar = lenient("CatalogNumber", "A number.");
export const CatalogIntScalar = lenient("CatalogInt", "An integer.");
export const CatalogBooleanScalar = lenient("CatalogBoolean", "true or false.");
export const CatalogTimeScalar = lenient("CatalogTime", "Epoch milliseconds (number) or an ISO-8601 date-time string.");

const UPDATED_AT =
  "Required. The item's modification time in the source system: the version. A change applies only when strictly newer than the applied one (equal: DUPLICATE, older: STALE).";

@InputType({ description: "A whole video (an upsert replaces every field). Checked per item; see docs/schema.md for the limits." })
export class VideoInput {
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required. At most 256 characters." }) id?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required." }) creatorId?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required. At most 500 characters." }) title?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "At most 10,000 characters." }) description?: unknown;
  @Field(() => [CatalogStringScalar], { nullable: "itemsAndList", description: "At most 50, each 1 to 100 characters." }) tags?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required. Primary category." }) category?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "BCP 47 tag; stored as its lower-case primary language." }) language?: unknown;
  @Field(() => CatalogNumberScalar, { nullable: true, description: "Required. Seconds, above 0 and at most 604,800." }) durationSec?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true, description: "Required. Not before 1995, not in the future." }) uploadedAt?: unknown;
  @Field(() => CatalogBooleanScalar, { nullable: true, description: "Shown only to users known to be adults." }) ageRestricted?: unknown;
  @Field(() => [CatalogStringScalar], { nullable: "itemsAndList", description: "violence | adult | spam | copyright | misinformation (a takedown is removeVideos)." })
  policyFlags?: unknown;
  @Field(() => [CatalogStringScalar], { nullable: "itemsAndList", description: "ISO 3166-1 alpha-2 countries where it must not be shown." }) blockedRegions?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true, description: UPDATED_AT }) updatedAt?: unknown;
}

@InputType({ description: "A whole user profile (an upsert replaces every field). Drives the age, region and language rules from the next request." })
export class UserInput {
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required." }) id?: unknown;
  @Field(() => CatalogIntScalar, { nullable: true, description: "Years, 0 to 130. Unknown: treated as a minor by the age rule." }) age?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true }) gender?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true }) occupation?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "ISO 3166-1 alpha-2." }) country?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "BCP 47 tag." }) language?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true, description: "Account creation time." }) createdAt?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "mobile | desktop | tv | tablet | unknown" }) device?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true, description: UPDATED_AT }) updatedAt?: unknown;
}

@InputType({ description: "A whole creator (an upsert replaces every field)." })
export class CreatorInput {
  @Field(() => CatalogStringScalar, { nullable: true, description: "Required." }) id?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "At most 200 characters." }) name?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "ISO 3166-1 alpha-2." }) country?: unknown;
  @Field(() => CatalogStringScalar, { nullable: true, description: "BCP 47 tag." }) language?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true }) createdAt?: unknown;
  @Field(() => CatalogTimeScalar, { nullable: true, description: UPDATED_AT }) updatedAt?: unknown;
}

@ObjectType({ description: "Outcome of one item, in input order." })
export class CatalogItemResult {
  @Field(() => Int, { description: "Position in the batch." }) index!: number;
  @Field(() => ID, { nullable: true }) id?: string;
  @Field(() => CatalogWriteStatusEnum) status!: CatalogStatus;
  @Field(() => String, { nullable: true, description: "MISSING_FIELD, INVALID_FIELD, INVALID_ITEM, FUTURE_TIMESTAMP, REMOVED; NOT_IN_CATALOG on an ACCEPTED removal of an unknown id." })
  code?: string;
  @Field(() => String, { nullable: true, description: "The offending field, e.g. durationSec or tags[2]." }) field?: string;
  @Field(() => String, { nullable: true }) message?: string;
}

@ObjectType()
export class CatalogWritePayload {
  @Field(() => Int) accepted!: number;
  @Field(() => Int) duplicates!: number;
  @Field(() => Int) stale!: number;
  @Field(() => Int) rejected!: number;
  @Field(() => [CatalogItemResult]) results!: CatalogItemResult[];
}

export function summarizeCatalogResults(results: readonly CatalogResult[]): Omit<CatalogWritePayload, "results"> {
  const count = (s: CatalogStatus) => results.filter((r) => r.status === s).length;
  return { accepted: count("ACCEPTED"), duplicates: count("DUPLICATE"), stale: count("STALE"), rejected: count("REJECTED") };
}

/** A server without a live catalogue still has the mutations (the schema is one contract); they answer UNAVAILABLE. */
function writerOf(ctx: ReelfeedContext): CatalogWriter {
  const writer = ctx.services.catalogWriter;
  if (!writer) throw new GraphQLError("catalogue writes are not enabled on this server", { extensions: { code: "UNAVAILABLE", retryable: false } });
  return writer;
}

/** Where a result's field is in the arguments: `videos[3].durationSec`; for removals `ids[3]` or `reason`. */
function pathOf(argument: string, kind: CatalogItemKind, r: CatalogResult): string {
  if (kind === "removal") return r.field === "reason" ? "reason" : `${argument}[${r.index}]`;
  return `${argument}[${r.index}]${r.field === undefined ? "" : `.${r.field}`}`;
}

async function write(ctx: ReelfeedContext, argument: string, kind: CatalogItemKind, raws: readonly unknown[]): Promise<CatalogWritePayload> {
  try {
    const results = (await writerOf(ctx).write(raws.map((raw) => ({ kind, raw: raw && typeof raw === "object" ? { ...raw } : raw })))).map((r) =>
      r.message !== undefined ? { ...r, message: `${pathOf(argument, kind, r)}: ${r.message}` } : r,
    );
    return { ...summarizeCatalogResults(results), results };
  } catch (err) {
    if (err instanceof ReelfeedError) {
      throw new GraphQLError(err.message.startsWith(argument) ? err.message : `${argument}: ${err.message}`, {
        originalError: err,
        extensions: { code: err.code, ...(err.code === "UNAVAILABLE" && { retryable: true }), argument, ...err.details },
      });
    }
    throw err;
  }
}

@Resolver()
export class CatalogMutationsResolver {
  @Mutation(() => CatalogWritePayload, {
    description:
      "Adds or replaces videos (scope catalog:write). One result per video, in order; a bad one never rejects the others. Durable and applied before the answer: the next feed can propose them. Idempotent by (id, updatedAt).",
  })
  upsertVideos(@Arg("videos", () => [VideoInput]) videos: VideoInput[], @Ctx() ctx: ReelfeedContext): Promise<CatalogWritePayload> {
    return write(ctx, "videos", "video", videos);
  }

  @Mutation(() => CatalogWritePayload, {
    description:
      "Takes videos down (scope catalog:write): never served again after the answer, cached feed pages included; vectors deleted. Final: a removed id cannot be uploaded again. Idempotent.",
  })
  removeVideos(
    @Arg("ids", () => [ID]) ids: string[],
    @Arg("reason", () => String, { description: "Why (audit trail), at most 1,000 characters." }) reason: string,
    @Ctx() ctx: ReelfeedContext,
  ): Promise<CatalogWritePayload> {
    return write(ctx, "ids", "removal", ids.map((id) => ({ id, reason })));
  }

  @Mutation(() => CatalogWritePayload, {
    description: "Adds or replaces user profiles (scope catalog:write); age, country and language apply from the next request. Idempotent by (id, updatedAt).",
  })
  upsertUsers(@Arg("users", () => [UserInput]) users: UserInput[], @Ctx() ctx: ReelfeedContext): Promise<CatalogWritePayload> {
    return write(ctx, "users", "user", users);
  }

  @Mutation(() => CatalogWritePayload, { description: "Adds or replaces creators (scope catalog:write). Idempotent by (id, updatedAt)." })
  upsertCreators(@Arg("creators", () => [CreatorInput]) creators: CreatorInput[], @Ctx() ctx: ReelfeedContext): Promise<CatalogWritePayload> {
    return write(ctx, "creators", "creator", creators);
  }
}
