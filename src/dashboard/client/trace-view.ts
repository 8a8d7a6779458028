import { createElement as h } from "react";
import { BarChart } from "./chart";
import { Badge, Section } from "./common";
import type { CandidateTrace, FeedNode, FeedPage, FeedTrace } from "./feed-types";
import { fmt } from "./format";

/** "source:TwoTower" → "TwoTower": chart labels are narrow; the table below names each step in full. */
const short = (stage: string): string => stage.replace(/^[a-z]+:/, "");

/** Wide enough for a label per step (two dozen in the default pipeline); the SVG scales down to the page. */
const FUNNEL_CHART_WIDTH = 1300;

/** The funnel of one request at a glance: candidates in and out of each step, and its milliseconds. */
export function Funnel(props: { page: FeedPage; pageNumber: number }) {
  const { page, pageNumber } = props;
  const trace = page.trace;
  return h(
    Section,
    { title: `Funnel of page ${pageNumber}`, testId: "funnel" },
    page.fallbacks.length === 0
      ? h("p", { "data-testid": "fallbacks" }, h(Badge, { kind: "good" }, "no fallback"), " every source, the ranker and the state store answered")
      : h(
          "ul",
          { className: "fallbacks", "data-testid": "fallbacks" },
          page.fallbacks.map((f, i) => h("li", { key: i }, h(Badge, { kind: "warn" }, f.kind), " ", h("b", null, f.component), ": ", f.message)),
        ),
    trace
      ? h(
          "div",
          null,
          h("p", { className: "muted" }, `request ${trace.requestId} · model ${trace.modelVersion} · ${fmt(trace.totalMs, 1)} ms in all`),
          h(
            "div",
            { className: "charts-row" },
            h(BarChart, {
              testId: "funnel-counts",
              spec: {
                title: "Candidates into and out of each step",
                categories: trace.stages.map((s) => short(s.stage)),
                width: FUNNEL_CHART_WIDTH,
                series: [
                  { name: "in", values: trace.stages.map((s) => s.input) },
                  { name: "out", values: trace.stages.map((s) => s.output) },
                ],
                yLabel: "candidates",
              },
            }),
            h(BarChart, {
              testId: "funnel-ms",
              spec: {
                title: "Milliseconds per step (sources run in parallel)",
                categories: trace.stages.map((s) => short(s.stage)),
                series: [{ name: "ms", values: trace.stages.map((s) => s.latencyMs) }],
                yLabel: "ms",
                width: FUNNEL_CHART_WIDTH,
              },
            }),
          ),
          h(StageTable, { trace }),
        )
      : h("p", { className: "muted" }, "No trace on this page (the server answered without one)."),
  );
}

function StageTable(props: { trace: FeedTrace }) {
  return h(
    "table",
    { "data-testid": "stage-table" },
    h("thead", null, h("tr", null, ["step", "in", "out", "ms", "removed (reason × count)", "error"].map((c) => h("th", { key: c }, c)))),
    h(
      "tbody",
      null,
      props.trace.stages.map((s) =>
        h(
          "tr",
          { key: s.stage, "data-stage": s.stage },
          h("td", null, s.stage),
          h("td", { className: "num" }, s.input),
          h("td", { className: "num" }, s.output),
          h("td", { className: "num" }, fmt(s.latencyMs, 2)),
          h("td", null, s.removed.map((r) => `${r.reason} × ${r.count}`).join(", ") || "–"),
          h("td", null, s.error ?? ""),
        ),
      ),
    ),
  );
}

/** Why this card: its sources, how it ranked, what re-ranking did; and what the request filtered, and why. */
export function CardTrace(props: { node: FeedNode; trace: FeedTrace | null; onClose(): void }) {
  const { node, trace, onClose } = props;
  const mine: CandidateTrace | undefined = trace?.candidates.find((c) => c.videoId === node.video.id);
  const removed = trace?.candidates.filter((c) => c.removedBy !== null) ?? [];
  const moved = mine && mine.rankedPosition !== null && mine.finalPosition !== null ? mine.rankedPosition - mine.finalPosition : undefined;
  return h(
    Section,
    { title: `Trace of “${node.video.title}”`, testId: "trace-panel", actions: h("button", { onClick: onClose, "data-testid": "trace-close" }, "Close") },
    !trace || !mine
      ? h("p", null, "This page carries no trace for this video.")
      : h(
          "div",
          { className: "trace-grid" },
          h(
            "div",
            null,
            h("h3", null, "1 · Proposed by"),
            h(
              "table",
              { "data-testid": "trace-sources" },
              h("tbody", null, mine.sources.map((s) => h("tr", { key: s.source }, h("td", null, s.source), h("td", { className: "num" }, fmt(s.score, 4))))),
            ),
          ),
          h(
            "div",
            null,
            h("h3", null, "2 · Ranked"),
            h(
              "table",
              { "data-testid": "trace-ranking" },
              h(
                "tbody",
                null,
                mine.heads.map((x) => h("tr", { key: x.head }, h("td", null, `p(${x.head})`), h("td", { className: "num" }, fmt(x.probability, 4)))),
                h("tr", null, h("td", null, "blended score"), h("td", { className: "num", "data-testid": "trace-score" }, fmt(mine.score, 4))),
                h("tr", null, h("td", null, "position after ranking"), h("td", { className: "num", "data-testid": "trace-ranked-position" }, mine.rankedPosition ?? "–")),
              ),
            ),
          ),
          h(
            "div",
            null,
            h("h3", null, "3 · Re-ranked"),
            h(
              "p",
              { "data-testid": "trace-rerank" },
              `position ${mine.rankedPosition ?? "–"} → ${mine.finalPosition ?? "–"}`,
              moved === undefined ? "" : moved > 0 ? ` (moved up ${moved})` : moved < 0 ? ` (moved down ${-moved})` : " (unchanged)",
            ),
            h(
              "ul",
              null,
              trace.stages
                .filter((s) => s.removed.length > 0)
                .map((s) => h("li", { key: s.stage }, `${s.stage} removed `, s.removed.map((r) => `${r.count} (${r.reason})`).join(", "))),
            ),
          ),
        ),
    trace
      ? h(
          "div",
          null,
          h("h3", null, `Filtered or removed in this request: ${removed.length}`),
          h(
            "table",
            { "data-testid": "trace-removed" },
            h("thead", null, h("tr", null, h("th", null, "video"), h("th", null, "step"), h("th", null, "why"), h("th", null, "proposed by"))),
            h(
              "tbody",
              null,
              removed.slice(0, 200).map((c) =>
                h(
                  "tr",
                  { key: c.videoId },
                  h("td", null, c.videoId),
                  h("td", null, c.removedBy!.stage),
                  h("td", null, c.removedBy!.reason),
                  h("td", null, c.sources.map((s) => s.source).join(", ")),
                ),
              ),
            ),
          ),
          removed.length > 200 ? h("p", { className: "muted" }, `… and ${removed.length - 200} more`) : null,
        )
      : null,
  );
}
