import { performance } from "node:perf_hooks";
import { processEventLoopLag } from "../util/event-loop-lag";

/**
 * A tiny Prometheus registry: counters and histograms with labels and gauges read at scrape time, rendered in the
 * text exposition format. The server needs a handful of series, not a client library; label values are escaped, and
 * every label the server sets comes from a bounded set (schema field names, fallback kinds, configured source
 * names), never from input.
 */

type Labels = Record<string, string>;

const escapeLabel = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function labelKey(labelNames: readonly string[], labels: Labels): string {
  return labelNames.map((n) => `${n}="${escapeLabel(labels[n] ?? "")}"`).join(",");
}

export interface Counter {
  inc(labels: Labels, value?: number): void;
  get(labels: Labels): number;
}

export interface Histogram {
  observe(labels: Labels, value: number): void;
  /** Number of observations for these labels. */
  count(labels: Labels): number;
}

interface Metric {
  /** The series' name (a histogram's base name). */
  name: string;
  render(): string;
}

export interface MetricsRegistry {
  counter(name: string, help: string, labelNames: readonly string[]): Counter;
  /** A value read when the metrics are scraped (memory, cache sizes): nothing to update on the request path. */
  gauge(name: string, help: string, read: () => number): void;
  /** A monotonic total kept elsewhere (the event consumer's counters), read when scraped: TYPE counter. */
  counterFrom(name: string, help: string, read: () => number): void;
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram;
  /**
   * Labelled values read when scraped (per experiment variant, say). Label values must come from a bounded set the
   * server controls (config names), never from input.
   */
  series(name: string, help: string, type: "gauge" | "counter", read: () => Array<{ labels: Labels; value: number }>): void;
  /**
   * Prometheus text format, version 0.0.4: every series, or only those named in `names` (a histogram by its base
   * name). Reading a series can have an effect — the event-loop utilisation covers the time since it was last
   * read — so a reader that wants a few series (the dashboard) names them and leaves the others to the scraper.
   */
  render(names?: ReadonlySet<string>): string;
}

export function createMetricsRegistry(): MetricsRegistry {
  const metrics: Metric[] = [];
  return {
    counter(name, help, labelNames) {
      const values = new Map<string, number>();
      metrics.push({
        name,
        render: () =>
          [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...[...values].map(([k, v]) => `${name}{${k}} ${v}`)].join("\n"),
      });
      return {
        inc(labels, value = 1) {
          const k = labelKey(labelNames, labels);
          values.set(k, (values.get(k) ?? 0) + value);
        },
        get: (labels) => values.get(labelKey(labelNames, labels)) ?? 0,
      };
    },
    gauge(name, help, read) {
      metrics.push({ name, render: () => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${read()}`].join("\n") });
    },
    series(name, help, type, read) {
      metrics.push({
        name,
        render: () =>
          [
            `# HELP ${name} ${help}`,
            `# TYPE ${name} ${type}`,
            ...read().map(({ labels, value }) => `${name}{${labelKey(Object.keys(labels), labels)}} ${Number.isFinite(value) ? value : "NaN"}`),
          ].join("\n"),
      });
    },
    counterFrom(name, help, read) {
      metrics.push({ name, render: () => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${read()}`].join("\n") });
    },
    histogram(name, help, labelNames, buckets) {
      const series = new Map<string, { counts: number[]; sum: number; count: number }>();
      metrics.push({
        name,
        render() {
          const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
          for (const [k, s] of series) {
            const sep = k ? "," : "";
            // Prometheus buckets are cumulative: each `le` counts every observation at or below it.
            let cumulative = 0;
            buckets.forEach((b, i) => {
              cumulative += s.counts[i];
              lines.push(`${name}_bucket{${k}${sep}le="${b}"} ${cumulative}`);
            });
            lines.push(`${name}_bucket{${k}${sep}le="+Inf"} ${s.count}`);
            lines.push(`${name}_sum{${k}} ${s.sum}`);
            lines.push(`${name}_count{${k}} ${s.count}`);
          }
          return lines.join("\n");
        },
      });
      return {
        observe(labels, value) {
          const k = labelKey(labelNames, labels);
          let s = series.get(k);
          if (!s) series.set(k, (s = { counts: new Array(buckets.length).fill(0), sum: 0, count: 0 }));
          const i = buckets.findIndex((b) => value <= b);
          if (i >= 0) s.counts[i]++;
          s.sum += value;
          s.count++;
        },
        count: (labels) => series.get(labelKey(labelNames, labels))?.count ?? 0,
      };
    },
    render: (names) => (names ? metrics.filter((m) => names.has(m.name)) : metrics).map((m) => m.render()).join("\n") + "\n",
  };
}

/** Latency buckets (seconds) around the feed's budget: tens of milliseconds matter, seconds are outages. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5];

/** The series the server exports. */
export interface ServerMetrics {
  registry: MetricsRegistry;
  /** GraphQL requests by root field(s) and outcome. */
  graphqlRequests: Counter;
  graphqlDuration: Histogram;
  /** Feed fallbacks by kind. */
  feedFallbacks: Counter;
  /** Candidate-source failures and timeouts, by source. */
  sourceErrors: Counter;
  /** Non-GraphQL HTTP routes (health, metrics, events, IDE) by route and status. */
  httpRequests: Counter;
}

/**
 * The server's series. Process gauges are what an operator sizes a deployment by: memory (the session cache and the
 * heap grow with traffic, docs/benchmarks-feed.md) and how busy the event loop is (one event loop serves every
 * request: near 1, requests queue). `sessionsCached` reads the feed's session cache when the feed service has one.
 */
export function createServerMetrics(options: { sessionsCached?: () => number } = {}): ServerMetrics {
  const registry = createMetricsRegistry();
  registry.gauge("process_resident_memory_bytes", "Resident memory of the server process.", () => process.memoryUsage.rss());
  registry.gauge("nodejs_heap_used_bytes", "V8 heap in use (live objects and garbage not yet collected).", () => process.memoryUsage().heapUsed);
  let elu = performance.eventLoopUtilization();
  registry.gauge("nodejs_eventloop_utilization", "Share of time the event loop was busy since the previous scrape (0–1).", () => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
    return Number.isFinite(busy) ? Math.round(busy * 1e4) / 1e4 : 0;
  });
  registry.gauge(
    "nodejs_eventloop_lag_seconds",
    "How late the event loop runs (median of the last five 20 ms ticks): what the feed's load shedding compares with pipeline.overload.maxEventLoopLagMs.",
    () => processEventLoopLag().lagMs() / 1000,
  );
  if (options.sessionsCached) registry.gauge("reelfeed_feed_sessions_cached", "Ranked feed sessions held in memory for later pages.", options.sessionsCached);
  return {
    registry,
    graphqlRequests: registry.counter(
      "reelfeed_graphql_requests_total",
      "GraphQL requests by root field(s) and outcome.",
      ["operation", "outcome"],
    ),
    graphqlDuration: registry.histogram(
      "reelfeed_graphql_request_duration_seconds",
      "GraphQL request latency by root field(s).",
      ["operation"],
      LATENCY_BUCKETS,
    ),
    feedFallbacks: registry.counter("reelfeed_feed_fallbacks_total", "Degraded paths the feed took, by kind.", ["kind"]),
    sourceErrors: registry.counter(
      "reelfeed_source_errors_total",
      "Candidate-source failures (kind=failed) and timeouts (kind=timeout), by source.",
      ["source", "kind"],
    ),
    httpRequests: registry.counter("reelfeed_http_requests_total", "HTTP requests outside /graphql.", ["route", "status"]),
  };
}

/** What registerEventMetrics reads: the event consumer's stats (src/events/consumer.ts). */
export interface EventMetricsSource {
  readonly kind: "file" | "redis";
  stats(): {
    applied: number;
    deadLettered: number;
    retainedRemoved: number;
    log?: { entries?: number; bytes?: number; pendingBytes?: number; pendingMs?: number };
  };
  /** Events this instance's ingestor answered, by status (src/events/ingest.ts); undefined: not counted. */
  ingested?(): { accepted: number; duplicates: number; rejected: number } | undefined;
}

/**
 * The event log's size and the consumer's progress, for an operator to alert on: a lag that grows means the
 * consumers do not keep up (or one is stuck; retention then keeps everything behind it, so the log grows too), a
 * dead-letter count above zero means events were parked (inspect `{p}events:dead` or `dead-letter.jsonl`). Log
 * size and lag are sampled by the consumer every few seconds, so a scrape never waits on the log.
 */
export function registerEventMetrics(registry: MetricsRegistry, source: EventMetricsSource): void {
  const log = () => source.stats().log ?? {};
  if (source.ingested) {
    const ingested = source.ingested;
    registry.series("reelfeed_events_ingested_total", "Events this instance received (recordEvents, POST /events, its own impressions), by status: accepted (durable), duplicate, rejected.", "counter", () => {
      const n = ingested();
      return n
        ? [
            { labels: { status: "accepted" }, value: n.accepted },
            { labels: { status: "duplicate" }, value: n.duplicates },
            { labels: { status: "rejected" }, value: n.rejected },
          ]
        : [];
    });
  }
  registry.counterFrom("reelfeed_events_applied_total", "Events this instance's consumer applied (its partitions' side of them when consumers share the work).", () => source.stats().applied);
  registry.counterFrom("reelfeed_events_dead_lettered_total", "Events parked in the dead letter because they can never be applied.", () => source.stats().deadLettered);
  registry.counterFrom(
    "reelfeed_event_log_retained_total",
    source.kind === "redis" ? "Stream entries trimmed by retention after every consumer passed them." : "Log segments deleted by retention after every consumer passed them.",
    () => source.stats().retainedRemoved,
  );
  if (source.kind === "redis") {
    registry.gauge("reelfeed_event_log_entries", "Entries in the Redis event stream (XLEN).", () => log().entries ?? 0);
    registry.gauge("reelfeed_event_consumer_lag_seconds", "How far this consumer's applied position is behind the newest event in the stream.", () => (log().pendingMs ?? 0) / 1000);
  } else {
    registry.gauge("reelfeed_event_log_bytes", "Bytes of the file event log on disk (all segments).", () => log().bytes ?? 0);
    registry.gauge("reelfeed_event_consumer_lag_bytes", "Bytes of the file event log after this consumer's applied position.", () => log().pendingBytes ?? 0);
  }
}
