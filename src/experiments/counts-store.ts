import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Redis } from "ioredis";
import { writeFileAtomic } from "../util/fs";

/**
 * Where the per-variant counters of experiments live: sufficient statistics (counts, sums, sums of squares, latency
 * histogram buckets) that simply add up, so replicas can each add theirs to one place and the report reads totals.
 *
 * - memory: this process only (embedded mode). The impression counters are rebuilt at start by the event consumer's
 *   replay of the log; the request counters (latency, fallbacks), which no event carries, are persisted to a file.
 * - redis: one hash per (experiment, variant) under the deployment's key prefix, HINCRBYFLOAT'd by every replica in
 *   batches; survives restarts, shared across replicas.
 */
export type VariantCounts = Record<string, number>;
/** experiment → variant → counters. */
export type CountsSnapshot = Map<string, Map<string, VariantCounts>>;

export interface ExperimentCountsStore {
  readonly kind: "memory" | "redis";
  /** Adds deltas (buffered; `flush` writes them). Never throws. */
  add(experiment: string, variant: string, deltas: VariantCounts): void;
  /**
   * Adds one unit's (user's) deltas, and keeps the per-unit sums the delta method needs (unitSums): `units`, and
   * for every field f, `u2.f` = Σ_u f_u² and `ux.f` = Σ_u f_u·n_u where n is `UNIT_DENOMINATOR`.
   */
  addUnit(experiment: string, variant: string, unit: string, deltas: VariantCounts): void;
  /** Totals, buffered deltas included. */
  read(): Promise<CountsSnapshot>;
  flush(): Promise<void>;
  /** Flushes, stops the timer. Idempotent. */
  close(): Promise<void>;
}

const sep = "\u0000";

/** The per-unit denominator of the ratio metrics (impressions per user). */
export const UNIT_DENOMINATOR = "impressions";

/**
 * The update of the per-unit sums when one unit's totals `before` grow by `deltas` (pure; the Redis store runs the
 * same arithmetic in Lua). Σ f_u² grows by 2·f·d + d², Σ f_u·n_u by f·dn + n·d + d·dn.
 */
export function unitSumDeltas(before: VariantCounts, deltas: VariantCounts): VariantCounts {
  const n = before[UNIT_DENOMINATOR] ?? 0;
  const dn = deltas[UNIT_DENOMINATOR] ?? 0;
  const out: VariantCounts = {};
  for (const [f, d] of Object.entries(deltas)) {
    const x = before[f] ?? 0;
    out[`u2.${f}`] = 2 * x * d + d * d;
    out[`ux.${f}`] = x * dn + n * d + d * dn;
  }
  if (n === 0 && dn > 0) out.units = 1;
  return out;
}

function addInto(target: Map<string, VariantCounts>, key: string, deltas: VariantCounts): void {
  let c = target.get(key);
  if (!c) target.set(key, (c = {}));
  for (const [f, v] of Object.entries(deltas)) if (v !== 0) c[f] = (c[f] ?? 0) + v;
}

function toSnapshot(flat: Map<string, VariantCounts>): CountsSnapshot {
  const out: CountsSnapshot = new Map();
  for (const [key, counts] of flat) {
    const [experiment, variant] = key.split(sep);
    let m = out.get(experiment);
    if (!m) out.set(experiment, (m = new Map()));
    m.set(variant, { ...counts });
  }
  return out;
}

export interface MemoryCountsStoreOptions {
  /**
   * Persist these counters to `file` (flushed every `flushMs` and on close; read back at open): the request counters,
   * which no event replay can rebuild. @default nothing persisted
   */
  persist?: { file: string; fields: (field: string) => boolean; readOnly?: boolean };
  /** @default 5000 */
  flushMs?: number;
  onError?: (error: unknown, where: string) => void;
}

export function createMemoryCountsStore(options: MemoryCountsStoreOptions = {}): ExperimentCountsStore {
  const { persist, flushMs = 5000, onError = () => {} } = options;
  const totals = new Map<string, VariantCounts>();
  const units = new Map<string, Map<string, VariantCounts>>();
  if (persist && existsSync(persist.file)) {
    try {
      const saved = JSON.parse(readFileSync(persist.file, "utf8")) as Record<string, VariantCounts>;
      for (const [k, v] of Object.entries(saved)) addInto(totals, k, v);
    } catch (err) {
      onError(err, `experiment counters ${persist.file} (starting from zero)`);
    }
  }
  let dirty = false;
  const flush = async (): Promise<void> => {
    if (!persist || persist.readOnly || !dirty) return;
    dirty = false;
    const out: Record<string, VariantCounts> = {};
    for (const [k, counts] of totals) {
      const kept = Object.fromEntries(Object.entries(counts).filter(([f]) => persist.fields(f)));
      if (Object.keys(kept).length > 0) out[k] = kept;
    }
    await mkdir(dirname(persist.file), { recursive: true });
    await writeFileAtomic(persist.file, JSON.stringify(out) + "\n");
  };
  const timer = persist && !persist.readOnly ? setInterval(() => void flush().catch((e: unknown) => onError(e, "experiment counters flush")), flushMs) : undefined;
  timer?.unref();
  let closed: Promise<void> | undefined;
  return {
    kind: "memory",
    add(experiment, variant, deltas) {
      addInto(totals, `${experiment}${sep}${variant}`, deltas);
      dirty = true;
    },
    addUnit(experiment, variant, unit, deltas) {
      const key = `${experiment}${sep}${variant}`;
      let perUnit = units.get(key);
      if (!perUnit) units.set(key, (perUnit = new Map()));
      const before = perUnit.get(unit) ?? {};
      addInto(totals, key, { ...deltas, ...unitSumDeltas(before, deltas) });
      addInto(perUnit, unit, deltas);
      dirty = true;
    },
    read: async () => toSnapshot(totals),
    flush,
    close: () =>
      (closed ??= (async () => {
        if (timer) clearInterval(timer);
        await flush();
      })()),
  };
}

export interface RedisCountsStoreOptions {
  redis: Redis;
  /** The deployment's key prefix (backends.redisKeyPrefix). */
  keyPrefix: string;
  /** Buffered deltas are written this often, ms. @default 1000 */
  flushMs?: number;
  onError?: (error: unknown, where: string) => void;
}

/**
 * One unit's deltas, atomically: the unit's own totals (hash KEYS[2], fields `<unit>|<f>`), the variant's totals and
 * per-unit sums (hash KEYS[1]); the same arithmetic as unitSumDeltas. ARGV: unit, denominator field, then f, d pairs.
 */
const ADD_UNIT_LUA = `
local unit = ARGV[1]
local den = ARGV[2]
local n = tonumber(redis.call('HGET', KEYS[2], unit .. '|' .. den) or '0')
local dn = 0
for i = 3, #ARGV, 2 do
  if ARGV[i] == den then dn = tonumber(ARGV[i + 1]) end
end
for i = 3, #ARGV, 2 do
  local f = ARGV[i]
  local d = tonumber(ARGV[i + 1])
  local x = tonumber(redis.call('HGET', KEYS[2], unit .. '|' .. f) or '0')
  redis.call('HINCRBYFLOAT', KEYS[2], unit .. '|' .. f, d)
  redis.call('HINCRBYFLOAT', KEYS[1], f, d)
  redis.call('HINCRBYFLOAT', KEYS[1], 'u2.' .. f, 2 * x * d + d * d)
  redis.call('HINCRBYFLOAT', KEYS[1], 'ux.' .. f, x * dn + n * d + d * dn)
end
if n == 0 and dn > 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'units', 1) end
return 1
`;

export function createRedisCountsStore(options: RedisCountsStoreOptions): ExperimentCountsStore {
  const { redis, keyPrefix, flushMs = 1000, onError = () => {} } = options;
  const indexKey = `${keyPrefix}exp:index`;
  const unitsKey = (flatKey: string): string => {
    const [experiment, variant] = flatKey.split(sep);
    return `${keyPrefix}exp:units:${experiment}:${variant}`;
  };
  // Unit rows wait here between flushes; they are applied by the script (not summable before: the squares need the
  // unit's running totals).
  let pendingUnits: Array<{ key: string; unit: string; deltas: VariantCounts }> = [];
  const hashKey = (flatKey: string): string => {
    const [experiment, variant] = flatKey.split(sep);
    return `${keyPrefix}exp:counts:${experiment}:${variant}`;
  };
  let pending = new Map<string, VariantCounts>();
  let inFlight: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    inFlight = inFlight.then(async () => {
      if (pending.size === 0 && pendingUnits.length === 0) return;
      const batch = pending;
      const unitBatch = pendingUnits;
      pending = new Map();
      pendingUnits = [];
      const multi = redis.multi();
      for (const [k, counts] of batch) {
        multi.sadd(indexKey, k);
        for (const [f, v] of Object.entries(counts)) multi.hincrbyfloat(hashKey(k), f, v);
      }
      for (const { key, unit, deltas } of unitBatch) {
        multi.sadd(indexKey, key);
        multi.eval(ADD_UNIT_LUA, 2, hashKey(key), unitsKey(key), unit, UNIT_DENOMINATOR, ...Object.entries(deltas).flatMap(([f, d]) => [f, String(d)]));
      }
      let results: Array<[Error | null, unknown]> | null;
      try {
        results = await multi.exec();
      } catch (err) {
        // EXEC never ran (connection down): nothing applied, so merged back and retried on the next flush (a Redis
        // outage delays the counters, no more).
        for (const [k, counts] of batch) addInto(pending, k, counts);
        pendingUnits = [...unitBatch, ...pendingUnits];
        throw err;
      }
      // A command that failed inside a transaction that ran is not retried: the others applied, a retry would count
      // them twice.
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    });
    return inFlight.catch((err: unknown) => {
      onError(err, "experiment counters (redis)");
      inFlight = Promise.resolve();
    });
  };
  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();
  let closed: Promise<void> | undefined;
  return {
    kind: "redis",
    add(experiment, variant, deltas) {
      addInto(pending, `${experiment}${sep}${variant}`, deltas);
    },
    addUnit(experiment, variant, unit, deltas) {
      pendingUnits.push({ key: `${experiment}${sep}${variant}`, unit, deltas });
    },
    async read() {
      // Unit rows are not summable before the script has run (their squares need the unit's totals): write first.
      await flush();
      const members = await redis.smembers(indexKey);
      const flat = new Map<string, VariantCounts>();
      const pipe = redis.pipeline();
      for (const k of members) pipe.hgetall(hashKey(k));
      const rows = (await pipe.exec()) ?? [];
      members.forEach((k, i) => {
        const [err, hash] = rows[i] ?? [];
        if (err || !hash) return;
        addInto(flat, k, Object.fromEntries(Object.entries(hash as Record<string, string>).map(([f, v]) => [f, Number(v)])));
      });
      return toSnapshot(flat);
    },
    flush,
    close: () =>
      (closed ??= (async () => {
        clearInterval(timer);
        await flush();
      })()),
  };
}
