import type { BackendHealth, HealthReport } from "../server";
import { redactUrl } from "../stores/redis-client";
import type { ReelfeedConfig } from "../config";
import type { LoadedRuntime } from "./runtime";

/**
 * What /health reports for a loaded runtime: the model version, the execution provider the ranker really runs on
 * (and why preferred ones were skipped), each backend's kind and whether it answers now, and the fallbacks the
 * feed took since start. Each probe is bounded, so a hung backend makes /health say so instead of hanging it.
 */
export interface RuntimeHealthOptions {
  /** Longest wait for one backend probe, ms. @default 500 */
  probeTimeoutMs?: number;
}

function bounded<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    fn().then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

async function probe(kind: string, ms: number, check: () => Promise<unknown>, okDetail: string, downDetail: string): Promise<BackendHealth> {
  try {
    await bounded(ms, check);
    return { ok: true, kind, detail: okDetail };
  } catch (err) {
    return { ok: false, kind, detail: `${downDetail}: ${(err as Error).message}` };
  }
}

export function createRuntimeHealth(loaded: LoadedRuntime, config: ReelfeedConfig, options: RuntimeHealthOptions = {}): () => Promise<HealthReport> {
  const { probeTimeoutMs = 500 } = options;
  const { redis, log, graph } = loaded;

  return async () => {
    // Read per call: a hot model swap (LoadedRuntime.swapBundle) replaces the runtime and its sessions.
    const { runtime, sessions } = loaded;
    const backends: Record<string, BackendHealth> = {};
    const tasks: Array<Promise<void>> = [];

    if (redis) {
      const url = redactUrl(config.backends.redisUrl ?? "");
      tasks.push(
        probe("redis", probeTimeoutMs, () => redis.ping(), `${url}${loaded.isReady() ? "" : " (state bootstrap pending)"}`, `${url} unreachable, feed served with empty real-time state (STATE_UNAVAILABLE)`).then(
          (h) => void (backends.state = h),
        ),
      );
      const buffered = "buffered" in log && typeof log.buffered === "function" ? (log.buffered as () => Promise<number>) : undefined;
      tasks.push(
        probe("redis", probeTimeoutMs, () => redis.ping(), "redis streams", "events buffered to a local file log until Redis answers").then(async (h) => {
          const n = buffered ? await buffered().catch(() => 0) : 0;
          backends.eventLog = n > 0 ? { ...h, detail: `${h.detail} (${n} events buffered locally)` } : h;
        }),
      );
    } else {
      backends.state = { ok: true, kind: "memory" };
      backends.eventLog = { ok: true, kind: "file", detail: `${config.paths.varDir}/events` };
    }

    for (const [name, index] of Object.entries(runtime.vectors)) {
      if (!index) continue;
      const key = `vectors.${name}`;
      if (index.kind === "embedded") backends[key] = { ok: true, kind: "embedded" };
      else tasks.push(probe(index.kind, probeTimeoutMs, () => index.size(), config.backends.qdrantUrl ?? "", "unreachable").then((h) => void (backends[key] = h)));
    }

    if (graph.kind === "embedded") backends.graph = { ok: true, kind: "embedded" };
    else tasks.push(probe("neo4j", probeTimeoutMs, () => graph.following("__reelfeed_health__"), config.backends.neo4jUri ?? "", "unreachable").then((h) => void (backends.graph = h)));

    for (const [name, session] of Object.entries(sessions)) {
      if (!session) continue;
      const skipped = session.skipped.length > 0 ? ` (fell back from ${session.skipped.join("; ")})` : "";
      // Which serving-graph rewrites passed their start-up probe (onnx-session.ts): one that failed falls back silently.
      const rewrites = session.servingRewrites?.length ? `, serving graph: ${session.servingRewrites.join(", ")}` : "";
      backends[name] = { ok: true, kind: "onnx", detail: `${session.provider}${skipped}${rewrites}` };
    }

    // The live catalogue (src/catalog): what its log added to the bundle's catalogue in this process.
    const cat = loaded.liveCatalog.applier.stats();
    backends.catalogue = {
      ok: true,
      kind: loaded.liveCatalog.log.kind,
      detail: `${cat.applied} changes applied since the bundle (${cat.videosEmbedded} videos embedded, ${cat.removed} takedowns, ${cat.skipped} repeated or stale)`,
    };

    const used = Object.entries(loaded.feed.stats().fallbacks).filter(([, n]) => n > 0);
    backends.feed = {
      ok: true,
      kind: "pipeline",
      detail: used.length === 0 ? "no fallbacks since start" : `fallbacks since start: ${used.map(([k, n]) => `${k}=${n}`).join(", ")}`,
    };

    await Promise.all(tasks);
    return { modelVersion: runtime.modelVersion, executionProvider: sessions.ranker?.provider, backends };
  };
}
