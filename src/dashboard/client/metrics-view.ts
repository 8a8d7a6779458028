import { createElement as h, useEffect, useRef, useState } from "react";
import { ApiError, gql } from "./api";
import { LineChart } from "./chart";
import { ErrorBox, Loading, Section } from "./common";
import { bytes, fmt } from "./format";
import { buckets, labelValues, pushBounded, quantileBetween, rate, sum, type Snapshot } from "./metrics-math";

/**
 * Live metrics, accumulated in the page: it polls `metricsSnapshot` every few seconds while open and differences
 * the counters itself, so the server keeps no history and does no work for a dashboard nobody is looking at.
 */

export const POLL_MS = 3000;
/** 10 minutes at one snapshot every 3 s. */
const MAX_POINTS = 200;

const NAMES = [
  "reelfeed_graphql_requests_total",
  "reelfeed_graphql_request_duration_seconds",
  "reelfeed_feed_fallbacks_total",
  "reelfeed_events_ingested_total",
  "reelfeed_events_applied_total",
  "reelfeed_events_dead_lettered_total",
  "reelfeed_source_errors_total",
  "reelfeed_model_swaps_total",
  "reelfeed_event_consumer_lag_bytes",
  "reelfeed_event_consumer_lag_seconds",
  "reelfeed_feed_sessions_cached",
  "process_resident_memory_bytes",
  "nodejs_eventloop_lag_seconds",
];

const SNAPSHOT = `query DashboardMetrics($names: [String!]) { metricsSnapshot(names: $names) { takenAt samples { name labels { key value } value } } }`;

interface Point {
  at: number;
  requestsPerSec: Record<string, number>;
  feedP50?: number;
  feedP95?: number;
  feedP99?: number;
  fallbacksPerSec: Record<string, number>;
  /** Events received per second, by status (accepted, duplicate, rejected). */
  ingestedPerSec: Record<string, number>;
  eventsPerSec: number;
  lag: number;
  rssBytes: number;
}

const INGEST_STATUSES = ["accepted", "duplicate", "rejected"] as const;

function derive(prev: Snapshot, next: Snapshot): Point {
  const ops = labelValues(next, "reelfeed_graphql_requests_total", "operation");
  const kinds = labelValues(next, "reelfeed_feed_fallbacks_total", "kind");
  const base = "reelfeed_graphql_request_duration_seconds";
  const [a, b] = [buckets(prev, base, { operation: "feed" }), buckets(next, base, { operation: "feed" })];
  const ms = (q: number) => {
    const v = quantileBetween(a, b, q);
    return v === undefined ? undefined : v * 1000;
  };
  return {
    at: next.at,
    requestsPerSec: Object.fromEntries(ops.map((op) => [op, rate(prev, next, "reelfeed_graphql_requests_total", { operation: op })])),
    feedP50: ms(0.5),
    feedP95: ms(0.95),
    feedP99: ms(0.99),
    fallbacksPerSec: Object.fromEntries(kinds.map((k) => [k, rate(prev, next, "reelfeed_feed_fallbacks_total", { kind: k })])),
    ingestedPerSec: Object.fromEntries(INGEST_STATUSES.map((s) => [s, rate(prev, next, "reelfeed_events_ingested_total", { status: s })])),
    eventsPerSec: rate(prev, next, "reelfeed_events_applied_total"),
    lag: sum(next, "reelfeed_event_consumer_lag_seconds") + sum(next, "reelfeed_event_consumer_lag_bytes"),
    rssBytes: sum(next, "process_resident_memory_bytes"),
  };
}

/** An interval with no feed request has no percentile: NaN, which the line chart draws as a gap, not a drop to 0. */
const orGap = (v: number | undefined): number => v ?? NaN;

export function MetricsView() {
  const [snapshots, setSnapshots] = useState<Snapshot[]>([]);
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<ApiError>();
  const last = useRef<Snapshot>();

  useEffect(() => {
    let live = true;
    const poll = async () => {
      try {
        const data = await gql<{ metricsSnapshot: { takenAt: string; samples: Snapshot["samples"] } }>(SNAPSHOT, { names: NAMES });
        if (!live) return;
        const snap: Snapshot = { at: Date.parse(data.metricsSnapshot.takenAt), samples: data.metricsSnapshot.samples };
        if (last.current) {
          const point = derive(last.current, snap);
          setPoints((p) => pushBounded(p, point, MAX_POINTS));
        }
        last.current = snap;
        setSnapshots((s) => pushBounded(s, snap, 2));
        setError(undefined);
      } catch (err) {
        if (live) setError(err as ApiError);
      }
    };
    void poll();
    const timer = window.setInterval(() => void poll(), POLL_MS);
    return () => {
      live = false;
      window.clearInterval(timer);
    };
  }, []);

  const now = snapshots[snapshots.length - 1];
  const x = points.map((p) => p.at);
  const ops = [...new Set(points.flatMap((p) => Object.keys(p.requestsPerSec)))].sort();
  const kinds = [...new Set(points.flatMap((p) => Object.keys(p.fallbacksPerSec)))].sort();
  const lagUnit = now && now.samples.some((s) => s.name === "reelfeed_event_consumer_lag_seconds") ? "seconds" : "bytes";
  return h(
    "div",
    { "data-testid": "metrics-view" },
    h(
      Section,
      { title: "Live metrics" },
      h("p", { className: "muted" }, `A snapshot every ${POLL_MS / 1000} s while this page is open; the last ${MAX_POINTS} points are kept in the page.`),
      error ? h(ErrorBox, { error }) : null,
      !now ? h(Loading) : h(Totals, { now }),
    ),
    points.length === 0
      ? h("p", { className: "muted", "data-testid": "metrics-waiting" }, "Waiting for a second snapshot to draw rates…")
      : h(
          "div",
          { className: "charts-grid", "data-testid": "metrics-charts", "data-points": points.length },
          h(LineChart, {
            testId: "chart-requests",
            spec: { title: "GraphQL requests per second", x, xKind: "time", yLabel: "req/s", series: ops.map((op) => ({ name: op, values: points.map((p) => p.requestsPerSec[op] ?? 0) })) },
          }),
          h(LineChart, {
            testId: "chart-latency",
            spec: {
              title: "feed latency percentiles (gaps: no feed request)",
              x,
              xKind: "time",
              yLabel: "ms",
              series: [
                { name: "p50", values: points.map((p) => orGap(p.feedP50)) },
                { name: "p95", values: points.map((p) => orGap(p.feedP95)) },
                { name: "p99", values: points.map((p) => orGap(p.feedP99)) },
              ],
            },
          }),
          h(LineChart, {
            testId: "chart-fallbacks",
            spec: {
              title: "Feed fallbacks per second",
              x,
              xKind: "time",
              yLabel: "per s",
              series: kinds.length > 0 ? kinds.map((k) => ({ name: k, values: points.map((p) => p.fallbacksPerSec[k] ?? 0) })) : [{ name: "none", values: points.map(() => 0) }],
            },
          }),
          h(LineChart, {
            testId: "chart-events",
            spec: {
              title: "Events per second: received (by status) and applied",
              x,
              xKind: "time",
              yLabel: "events/s",
              series: [
                ...INGEST_STATUSES.map((s) => ({ name: `received: ${s}`, values: points.map((p) => p.ingestedPerSec[s] ?? 0) })),
                { name: "applied", values: points.map((p) => p.eventsPerSec) },
              ],
            },
          }),
          h(LineChart, { testId: "chart-lag", spec: { title: `Consumer lag (${lagUnit})`, x, xKind: "time", yLabel: lagUnit, series: [{ name: "lag", values: points.map((p) => p.lag) }] } }),
          h(LineChart, { testId: "chart-memory", spec: { title: "Resident memory (MiB)", x, xKind: "time", yLabel: "MiB", series: [{ name: "rss", values: points.map((p) => p.rssBytes / (1 << 20)) }] } }),
        ),
  );
}

function Totals(props: { now: Snapshot }) {
  const { now } = props;
  const rows: Array<[string, string, string]> = [
    ["feed requests (since start)", "total-feed", String(sum(now, "reelfeed_graphql_requests_total", { operation: "feed" }))],
    ["GraphQL requests (since start)", "total-requests", String(sum(now, "reelfeed_graphql_requests_total"))],
    ["feed fallbacks (since start)", "total-fallbacks", String(sum(now, "reelfeed_feed_fallbacks_total"))],
    ["events received: accepted / duplicate / rejected (since start)", "total-ingested", INGEST_STATUSES.map((s) => String(sum(now, "reelfeed_events_ingested_total", { status: s }))).join(" / ")],
    ["events applied (since start)", "total-events", String(sum(now, "reelfeed_events_applied_total"))],
    ["events dead-lettered (since start)", "total-dead", String(sum(now, "reelfeed_events_dead_lettered_total"))],
    ["source failures and timeouts (since start)", "total-source-errors", String(sum(now, "reelfeed_source_errors_total"))],
    ["model hot swaps: done / refused", "total-swaps", `${sum(now, "reelfeed_model_swaps_total", { outcome: "swapped" })} / ${sum(now, "reelfeed_model_swaps_total", { outcome: "refused" })}`],
    ["consumer lag", "total-lag", now.samples.some((s) => s.name === "reelfeed_event_consumer_lag_seconds") ? `${fmt(sum(now, "reelfeed_event_consumer_lag_seconds"), 2)} s` : bytes(sum(now, "reelfeed_event_consumer_lag_bytes"))],
    ["feed sessions cached", "total-sessions", String(sum(now, "reelfeed_feed_sessions_cached"))],
    ["event-loop lag", "total-loop-lag", `${fmt(sum(now, "nodejs_eventloop_lag_seconds") * 1000, 1)} ms`],
    ["resident memory", "total-rss", bytes(sum(now, "process_resident_memory_bytes"))],
  ];
  return h(
    "table",
    { className: "totals", "data-testid": "metrics-totals" },
    h("tbody", null, rows.map(([name, id, value]) => h("tr", { key: id }, h("td", null, name), h("td", { className: "num", "data-testid": id }, value)))),
  );
}
