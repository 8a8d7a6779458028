import { readFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { SURFACES, type Surface } from "./data/types";
import { ReelfeedError } from "./errors";
import { experimentsConfigSchema } from "./experiments/experiment-config";
import { planExperiments } from "./experiments/variant-configs";

/**
 * One typed configuration for the whole product. Sources, lowest precedence first: built-in defaults (embedded
 * mode: no server needed), an optional JSON file (`REELFEED_CONFIG` or `--config`), then environment variables.
 * Validated once at start-up; a bad value fails with BAD_CONFIG naming the key.
 */

const sourceEntry = z.object({
  /** Registered source name (built-in or from a plugin), PascalCase. */
  name: z.string().min(1),
  enabled: z.boolean().default(true),
  /** Most candidates this source may contribute per request. */
  quota: z.number().int().positive().default(200),
  /** Multiplies the source's own scores when merging (fallback ordering when the ranker is down). */
  weight: z.number().nonnegative().default(1),
  /**
   * Per-request time budget; past it the source is dropped for that request. 100 ms keeps the whole feed inside a
   * 200 ms budget (sources in parallel, then the ranker's 100 ms) on a small machine under load.
   */
  timeoutMs: z.number().int().positive().default(100),
  /** Fail open: a failing source is dropped and the feed answers. Fail closed: the request fails. */
  failOpen: z.boolean().default(true),
  /** Source-specific options, passed to its factory. */
  options: z.record(z.string(), z.unknown()).default({}),
});

const stageEntry = z.object({
  name: z.string().min(1),
  enabled: z.boolean().default(true),
  options: z.record(z.string(), z.unknown()).default({}),
});

/** A plugin filter: runs after the built-in hard rules, in config order. */
const filterEntry = z.object({
  name: z.string().min(1),
  enabled: z.boolean().default(true),
  options: z.record(z.string(), z.unknown()).default({}),
});

/** One rate: `perSecond` sustained, plus up to `burst` extra requests in any 10 s (a token bucket, approximately). */
const rateEntry = z.object({
  perSecond: z.number().int().positive(),
  burst: z.number().int().nonnegative(),
});

/**
 * Who may do what (docs/security.md). `mode` "auto" enforces auth as soon as keys or user tokens are configured;
 * with neither it serves in development mode (everything allowed, a warning at start, `/health` says so) — unless
 * the operator set NODE_ENV=production, where it refuses to start. "off" is the explicit opt-out (auth done by a
 * gateway in front); "enforce" refuses to start when nothing could authenticate.
 */
export const authConfigSchema = z
  .object({
    mode: z.enum(["auto", "enforce", "off"]).default("auto"),
    /** JSON list of API keys, `[{ id, hash: "sha256:<hex>", scopes }]` (reelfeed keys create); re-read on change. */
    keysFile: z.string().min(1).optional(),
    /** How often the keys file's mtime is checked for rotation, ms. */
    keysReloadMs: z.number().int().positive().default(2000),
    /** End-user tokens (JWT); the subject is the viewer. One of `secret` (HS256) or `jwksFile` (RS256/ES256). */
    jwt: z
      .object({
        /** HS256 shared secret, at least 32 characters. */
        secret: z.string().min(32, "an HS256 secret needs at least 32 characters").optional(),
        /** Local JWKS file with the public keys (RS256, ES256). */
        jwksFile: z.string().min(1).optional(),
        issuer: z.string().min(1),
        audience: z.string().min(1),
        /** Clock skew allowed on exp and nbf, seconds. */
        clockToleranceSec: z.number().int().nonnegative().default(30),
      })
      .refine((j) => (j.secret === undefined) !== (j.jwksFile === undefined), { message: "set exactly one of secret or jwksFile" })
      .optional(),
    /** Schema introspection. @default on, except when NODE_ENV=production */
    introspection: z.boolean().optional(),
  })
  .default({});

export const limitsConfigSchema = z
  .object({
    rate: z
      .object({
        /** Per API key (every replica shares one budget when backends.redisUrl is set). */
        perKey: rateEntry.default({ perSecond: 100, burst: 200 }),
        /** Per end user (token subject). */
        perUser: rateEntry.default({ perSecond: 10, burst: 30 }),
      })
      .default({}),
    query: z
      .object({
        /**
         * Deepest field nesting. `feed { edges { node { video { creator { id } } } } }` is 6; graphql's standard
         * introspection query is 15 (its `ofType` chains), which the IDE and code generators need.
         */
        maxDepth: z.number().int().positive().default(15),
        /** Most aliased fields in one document. */
        maxAliases: z.number().int().nonnegative().default(20),
        /** Most cost units in one operation (a unit is about 1 ms of CPU; see src/auth/query-cost.ts). */
        maxCost: z.number().int().positive().default(50),
      })
      .default({}),
  })
  .default({});

export const configSchema = z.object({
  server: z
    .object({
      port: z.number().int().min(0).max(65535).default(4000),
      host: z.string().default("0.0.0.0"),
      /** Max `first` a feed request may ask for. */
      maxPageSize: z.number().int().positive().default(100),
      /** Max events in one recordEvents batch / HTTP batch. */
      maxEventBatch: z.number().int().positive().default(1000),
      /** Max HTTP body bytes. */
      maxBodyBytes: z.number().int().positive().default(2_000_000),
    })
    .default({}),
  paths: z
    .object({
      /** Where local state lives: event log, registry of bundles. */
      varDir: z.string().default("var"),
      /** Bundle served when none is given and the registry has no active one. */
      bundle: z.string().optional(),
      /** Data `npm start` trains on when there is no bundle yet. */
      bootstrapData: z.string().default("../shared/data/movielens-small"),
    })
    .default({}),
  backends: z
    .object({
      /** Redis for the event log (Streams) and real-time state; embedded when unset. */
      redisUrl: z.string().optional(),
      /** Prefix of every Redis key reelfeed writes: one per deployment (or dataset) sharing a Redis server. */
      redisKeyPrefix: z.string().min(1).default("rf:"),
      /** Qdrant for the vector index; embedded when unset. */
      qdrantUrl: z.string().optional(),
      qdrantApiKey: z.string().optional(),
      /** Neo4j for the social graph; embedded when unset. */
      neo4jUri: z.string().optional(),
      neo4jUser: z.string().default("neo4j"),
      neo4jPassword: z.string().optional(),
      /** Neo4j database; the server's default database when unset. */
      neo4jDatabase: z.string().min(1).optional(),
      /** Prepended to every Neo4j label and relationship type (`Rf` → :RfUser, :RF_FOLLOWS): deployments sharing a database. */
      neo4jLabelPrefix: z.string().default(""),
      /** ENGAGED edges older than this are pruned from Neo4j (keep it above the Social source's sinceDays, 14). */
      neo4jEngagementRetentionDays: z.number().positive().default(30),
    })
    .default({}),
  ranking: z
    .object({
      /** ONNX Runtime execution providers in order of preference; unavailable ones fall back to the next. */
      executionProviders: z.array(z.enum(["cuda", "cpu"])).default(["cuda", "cpu"]),
      /** Requests arriving within this window are scored in one ONNX call. */
      microBatchWindowMs: z.number().nonnegative().default(1),
      maxBatchRows: z.number().int().positive().default(4096),
      /**
       * Whether the ranker merges concurrent requests into one ONNX call. "auto": only where it pays — on CUDA, or
       * for a model without the shared-inputs graph. On the CPU provider one request's batch feeds its user and
       * context columns once (onnx-session.ts); a merged batch of several users runs the full model on every row,
       * and every request waits for the whole batch: a 500-row request costs ~1.0 ms of CPU alone against ~1.8 ms
       * in a merged batch of four (bench/ranker-batching.ts, docs/benchmarks-feed.md). The user tower always merges.
       */
      mergeRankerRequests: z.enum(["auto", "always", "never"]).default("auto"),
      /**
       * Intra-op threads per ONNX Runtime session (CPU provider); 0 lets ONNX Runtime use every core. One thread is
       * the serving default: requests are already parallel, and on a small box extra ORT threads fight the event
       * loop for the same cores (measured in docs/benchmarks-feed.md).
       */
      onnxThreads: z.number().int().nonnegative().default(1),
      /**
       * Where the served models run: "worker" gives each ONNX session a thread of its own, so inference runs on
       * another core while the event loop serves other requests (onnxruntime-node runs a model synchronously on
       * the calling thread); "main" runs them on the event loop (fewer threads, e.g. a one-core container).
       */
      inferenceThread: z.enum(["worker", "main"]).default("worker"),
      /** Candidates scored per request. */
      candidatesToRank: z.number().int().positive().default(500),
      /**
       * Score blend: versioned, replayable (ranking/blend.ts). score = pClick^click × (1 + completion·pCompletion)
       * × (1 + like·pLike) × max(0, 1 − dislike·pDislike) × exp(affinity · relative collaborative affinity).
       */
      blend: z
        .object({
          version: z.string().default("blend-v2"),
          click: z.number().default(1),
          completion: z.number().default(1),
          like: z.number().default(0.5),
          dislike: z.number().default(1),
          affinity: z.number().default(16),
        })
        .default({}),
      /** Ranker time budget per request; past it the feed is ordered by source scores (RANKER_UNAVAILABLE). */
      timeoutMs: z.number().int().positive().default(100),
    })
    .default({}),
  pipeline: z
    .object({
      sources: z.array(sourceEntry).default([
        { name: "Neighbours", quota: 300 },
        { name: "TwoTower", quota: 300 },
        { name: "MultiQuery", quota: 150 },
        { name: "Content", quota: 150 },
        { name: "Trending", quota: 150 },
        { name: "Social", quota: 100 },
        { name: "Subscriptions", quota: 100 },
        { name: "Fresh", quota: 50 },
      ] as never),
      // Listed in the order they run: score stages (Freshness re-sorts by score), then the arranging ones (caps
      // must see final scores), then exploration (it swaps slots without breaking caps). See pipeline-definition.ts.
      stages: z.array(stageEntry).default([
        { name: "Freshness" },
        { name: "Guardrails" },
        { name: "Diversity" },
        { name: "Exploration" },
      ] as never),
      /**
       * Filters from plugins, run after the built-in hard rules (removed, policy, age, region, seen, not interested,
       * blocked creator, reported), which always run and are not listed here.
       */
      filters: z.array(filterEntry).default([]),
      /** Plugin folders under plugins/ to load at start-up, by name. */
      plugins: z.array(z.string()).default([]),
      /**
       * Surfaces where a video the user watched before may be served again (e.g. ["subscriptions"] for a "watch
       * again" shelf); there only videos served recently are left out. Everywhere else nothing watched comes back,
       * however long ago (a per-user Bloom filter, docs/events.md). Default: none.
       */
      rewatchSurfaces: z.array(z.enum(SURFACES as unknown as [Surface, ...Surface[]])).default([]),
      /**
       * How the age rule treats a user whose age is unknown (no profile, or a profile without age: upsertUsers).
       * Default "minor": showing age-restricted videos to a child costs far more than hiding them from an adult
       * who gave no age. "adult" only where the platform verifies age before an account exists.
       */
      unknownAge: z.enum(["minor", "adult"]).default("minor"),
      /**
       * Load shedding: a request that would start ranking a session while either limit is passed is answered at once
       * with popular videos (fallback OVERLOADED) instead of queueing. Past saturation a queue only makes every
       * request slower (seconds, then source and ranker timeouts). docs/benchmarks-feed.md measures the defaults.
       */
      overload: z
        .object({
          /** Sessions being ranked at once per process. */
          maxConcurrentRankings: z.number().int().positive().default(16),
          /** How late the event loop may run (ms, median of the last five 20 ms ticks) before new rankings are shed. */
          maxEventLoopLagMs: z.number().positive().default(50),
        })
        .default({}),
      /**
       * Ranked sessions kept in memory for `after` (later pages). A cached session of 500 items holds ~44 KB, so
       * the default 10,000 is ~0.45 GB at most; one evicted or past its TTL is ranked again on its next page,
       * without repeating what was served.
       */
      sessions: z
        .object({
          /** Most sessions kept (least recently used evicted first). */
          max: z.number().int().positive().default(10_000),
          /** A session is dropped this long after its last page request, ms. */
          ttlMs: z.number().int().positive().default(15 * 60_000),
        })
        .default({}),
    })
    .default({}),
  events: z
    .object({
      /** Events older than this are rejected as stale (days). */
      horizonDays: z.number().positive().default(365 * 30),
      /** Events further than this in the future are rejected (ms of clock skew allowed). */
      maxFutureSkewMs: z.number().nonnegative().default(5 * 60_000),
      /** File log segment size before rotation. */
      segmentBytes: z.number().int().positive().default(64 * 1024 * 1024),
      /**
       * Whether this instance applies the event log to the real-time state. With Redis any number of instances
       * may consume: they divide the work by partitions of users and videos, each record applied exactly once
       * (src/events/shared-store.ts). `false` makes a pure serving replica: it still ingests events (into the
       * shared stream) and tails the log for its in-process social graph, but applies nothing.
       * Requires backends.redisUrl: an in-process state nobody applies events to would never change.
       */
      consume: z.boolean().default(true),
      /**
       * Log retention (docs/events.md "Bounded logs"): records go once every consumer has checkpointed past them
       * AND they are older than `maxAgeDays` (file log: segments last written that long ago; Redis: stream ids) or,
       * file log only, the segments together exceed `maxBytes`. Unconsumed records are never removed. Off by
       * default: export-training reads the whole log, so keep at least the time since the last export.
       */
      retention: z
        .object({
          maxAgeDays: z.number().positive().optional(),
          maxBytes: z.number().int().positive().optional(),
        })
        .default({}),
      /**
       * Park an event the consumer can never apply (a permanent error, three tries) in a dead letter — the Redis
       * stream `{prefix}events:dead`, or `{varDir}/dead-letter.jsonl` — and go on, instead of retrying it forever
       * while every later event waits.
       */
      deadLetter: z.boolean().default(true),
    })
    .default({}),
  auth: authConfigSchema,
  limits: limitsConfigSchema,
  /** A/B experiments: variants overriding parts of the pipeline (src/experiments, docs/experiments.md). */
  experiments: experimentsConfigSchema,
});

export type ReelfeedConfig = z.infer<typeof configSchema>;
export type AuthConfig = z.infer<typeof authConfigSchema>;
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
export type SourceEntry = z.infer<typeof sourceEntry>;
export type StageEntry = z.infer<typeof stageEntry>;
export type FilterEntry = z.infer<typeof filterEntry>;

/** Environment variables and the config key each sets. */
const ENV: ReadonlyArray<[string, string[], "string" | "number" | "list" | "boolean"]> = [
  ["PORT", ["server", "port"], "number"],
  ["HOST", ["server", "host"], "string"],
  ["REELFEED_VAR_DIR", ["paths", "varDir"], "string"],
  ["REELFEED_BUNDLE", ["paths", "bundle"], "string"],
  ["REELFEED_BOOTSTRAP_DATA", ["paths", "bootstrapData"], "string"],
  ["REDIS_URL", ["backends", "redisUrl"], "string"],
  ["REELFEED_REDIS_PREFIX", ["backends", "redisKeyPrefix"], "string"],
  ["QDRANT_URL", ["backends", "qdrantUrl"], "string"],
  ["QDRANT_API_KEY", ["backends", "qdrantApiKey"], "string"],
  ["NEO4J_URI", ["backends", "neo4jUri"], "string"],
  ["NEO4J_USER", ["backends", "neo4jUser"], "string"],
  ["NEO4J_PASSWORD", ["backends", "neo4jPassword"], "string"],
  ["NEO4J_DATABASE", ["backends", "neo4jDatabase"], "string"],
  ["NEO4J_LABEL_PREFIX", ["backends", "neo4jLabelPrefix"], "string"],
  ["REELFEED_EXECUTION_PROVIDERS", ["ranking", "executionProviders"], "list"],
  ["REELFEED_PLUGINS", ["pipeline", "plugins"], "list"],
  ["REELFEED_CONSUME", ["events", "consume"], "boolean"],
  ["REELFEED_AUTH_MODE", ["auth", "mode"], "string"],
  ["REELFEED_API_KEYS_FILE", ["auth", "keysFile"], "string"],
  ["REELFEED_JWT_SECRET", ["auth", "jwt", "secret"], "string"],
  ["REELFEED_JWT_JWKS_FILE", ["auth", "jwt", "jwksFile"], "string"],
  ["REELFEED_JWT_ISSUER", ["auth", "jwt", "issuer"], "string"],
  ["REELFEED_JWT_AUDIENCE", ["auth", "jwt", "audience"], "string"],
];

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof cur[key] !== "object" || cur[key] === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

export interface LoadConfigOptions {
  /** JSON config file. @default process.env.REELFEED_CONFIG */
  file?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Overrides applied last (CLI flags, tests). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): ReelfeedConfig {
  const { env = process.env } = options;
  const file = options.file ?? env.REELFEED_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    const path = resolve(file);
    if (!existsSync(path)) throw new ReelfeedError("BAD_CONFIG", `${path}: config file not found`, { path });
    try {
      raw = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new ReelfeedError("BAD_CONFIG", `${path}: not valid JSON (${(err as Error).message})`, { path });
    }
  }
  for (const [name, path, kind] of ENV) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    if (kind === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new ReelfeedError("BAD_CONFIG", `${name}: expected a number, got "${value}"`, { key: name });
      setPath(raw, path, n);
    } else if (kind === "boolean") {
      if (!/^(true|false|1|0)$/i.test(value)) throw new ReelfeedError("BAD_CONFIG", `${name}: expected true or false, got "${value}"`, { key: name });
      setPath(raw, path, /^(true|1)$/i.test(value));
    } else if (kind === "list") {
      setPath(raw, path, value.split(",").map((s) => s.trim()).filter(Boolean));
    } else {
      setPath(raw, path, value);
    }
  }
  const merged = deepMerge(raw, options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.join(".");
    throw new ReelfeedError("BAD_CONFIG", `config ${key}: ${issue.message}`, { key });
  }
  // Every experiment variant must make a valid pipeline config too: checked now, with the variant's key named.
  planExperiments({ base: parsed.data, experiments: parsed.data.experiments.definitions, schema: configSchema, maxPipelines: parsed.data.experiments.maxPipelines });
  return parsed.data;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object" && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
