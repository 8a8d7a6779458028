import { createElement as h } from "react";
import { gql } from "./api";
import { BarChart } from "./chart";
import { Badge, ErrorBox, Loading, Section } from "./common";
import { fmt, pct } from "./format";
import { hrefFor, navigate } from "./router";
import { useQuery } from "./use-query";

interface ExperimentSummary {
  name: string;
  traffic: number;
  control: string;
  variants: Array<{ name: string; weight: number; overrides: string[] }>;
}

interface Comparison {
  metric: string;
  kind: string;
  test: string;
  control: number | null;
  treatment: number | null;
  diff: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  relative: number | null;
  pValue: number | null;
  pBonferroni: number | null;
  significant: boolean;
  worse: boolean;
}

interface Report {
  experiment: string;
  control: string;
  alpha: number;
  decided: boolean;
  pendingImpressions: number;
  minImpressionsPerVariant: number;
  variants: Array<{
    name: string;
    users: number;
    impressions: number;
    requests: number;
    metrics: Array<{ metric: string; value: number | null }>;
    latencyP50Ms: number | null;
    latencyP99Ms: number | null;
    predictedCtr: number | null;
    labelRatio: number | null;
    labelDrift: boolean;
  }>;
  comparisons: Array<{ variant: string; metrics: Comparison[] }>;
}

interface Drift {
  ready: boolean;
  referenceRows: number;
  servedRows: number;
  threshold: number;
  features: Array<{ feature: string; psi: number | null; drifting: boolean }>;
}

const REPORT = `query DashboardExperiment($name: String!) { experimentReport(name: $name) {
  experiment control alpha decided pendingImpressions minImpressionsPerVariant
  variants { name users impressions requests metrics { metric value } latencyP50Ms latencyP99Ms predictedCtr labelRatio labelDrift }
  comparisons { variant metrics { metric kind test control treatment diff ciLow ciHigh relative pValue pBonferroni significant worse } }
} }`;

/** The rates worth a chart side by side (per impression); the rest are in the table. */
const CHARTED = ["ctr", "completionRate", "likeRate"];

export function ExperimentsView(props: { name?: string }) {
  const list = useQuery(() => gql<{ experiments: ExperimentSummary[] }>(`{ experiments { name traffic control variants { name weight overrides } } }`), []);
  const drift = useQuery(() => gql<{ featureDrift: Drift }>(`{ featureDrift { ready referenceRows servedRows threshold features { feature psi drifting } } }`), []);
  const name = props.name ?? list.data?.experiments[0]?.name;
  return h(
    "div",
    { "data-testid": "experiments-view" },
    h(
      Section,
      { title: "Experiments" },
      list.error ? h(ErrorBox, { error: list.error }) : null,
      !list.data && !list.error ? h(Loading) : null,
      list.data && list.data.experiments.length === 0 ? h("p", { className: "muted" }, "No experiment is configured (experiments.definitions or experiments.file).") : null,
      list.data
        ? h(
            "ul",
            { className: "tabs", "data-testid": "experiment-list" },
            list.data.experiments.map((e) =>
              h(
                "li",
                { key: e.name, className: e.name === name ? "active" : "" },
                h(
                  "a",
                  { href: hrefFor({ view: "experiments", experiment: e.name }), "data-testid": "experiment-link", onClick: (ev: { preventDefault(): void }) => (ev.preventDefault(), navigate({ view: "experiments", experiment: e.name })) },
                  e.name,
                ),
                ` · ${pct(e.traffic, 0)} of users · ${e.variants.map((v) => `${v.name}${v.overrides.length ? ` (${v.overrides.join(", ")})` : ""}`).join(" vs ")}`,
              ),
            ),
          )
        : null,
    ),
    name ? h(ExperimentReport, { key: name, name }) : null,
    h(
      Section,
      { title: "Feature drift of the served bundle", testId: "drift" },
      drift.error ? h(ErrorBox, { error: drift.error }) : null,
      drift.data ? h(DriftPanel, { drift: drift.data.featureDrift }) : h(Loading),
    ),
  );
}

function ExperimentReport(props: { name: string }) {
  const report = useQuery(() => gql<{ experimentReport: Report }>(REPORT, { name: props.name }), [props.name]);
  const r = report.data?.experimentReport;
  return h(
    Section,
    { title: `Experiment “${props.name}”`, testId: "experiment-report", actions: h("button", { onClick: report.reload }, "Refresh") },
    report.error ? h(ErrorBox, { error: report.error }) : null,
    !r ? (report.error ? null : h(Loading)) : null,
    r
      ? h(
          "div",
          null,
          h(
            "p",
            { "data-testid": "experiment-status" },
            r.decided ? h(Badge, { kind: "good" }, "decided") : h(Badge, { kind: "warn" }, "collecting"),
            ` control ${r.control} · α ${r.alpha} · fixed horizon ${r.minImpressionsPerVariant} impressions per variant · ${r.pendingImpressions} impressions still in their attribution window`,
          ),
          h(
            "table",
            { "data-testid": "variant-table" },
            h(
              "thead",
              null,
              h("tr", null, ["variant", "users", "impressions", "requests", "ctr", "watch s / imp", "completion", "p50 ms", "p99 ms", "predicted ctr", "label ratio"].map((c) => h("th", { key: c }, c))),
            ),
            h(
              "tbody",
              null,
              r.variants.map((v) => {
                const m = (k: string) => v.metrics.find((x) => x.metric === k)?.value ?? null;
                return h(
                  "tr",
                  { key: v.name, "data-variant": v.name },
                  h("td", null, v.name, v.name === r.control ? " (control)" : ""),
                  h("td", { className: "num" }, v.users),
                  h("td", { className: "num", "data-testid": "variant-impressions" }, v.impressions),
                  h("td", { className: "num", "data-testid": "variant-requests" }, v.requests),
                  h("td", { className: "num" }, pct(m("ctr"), 2)),
                  h("td", { className: "num" }, fmt(m("watchSecPerImpression"), 1)),
                  h("td", { className: "num" }, pct(m("completionRate"), 2)),
                  h("td", { className: "num" }, fmt(v.latencyP50Ms, 1)),
                  h("td", { className: "num" }, fmt(v.latencyP99Ms, 1)),
                  h("td", { className: "num" }, fmt(v.predictedCtr, 4)),
                  h("td", { className: "num" }, fmt(v.labelRatio, 2), v.labelDrift ? " ⚠ label drift" : ""),
                );
              }),
            ),
          ),
          h(BarChart, {
            testId: "experiment-chart",
            spec: {
              title: "Online rates per variant (per impression)",
              categories: CHARTED,
              series: r.variants.map((v) => ({ name: v.name, values: CHARTED.map((k) => v.metrics.find((x) => x.metric === k)?.value ?? NaN) })),
              yLabel: "rate",
              width: 900,
            },
          }),
          r.comparisons.map((c) =>
            h(
              "div",
              { key: c.variant },
              h("h3", null, `${c.variant} − ${r.control}`),
              h(
                "table",
                { "data-testid": "comparison-table", "data-variant": c.variant },
                h(
                  "thead",
                  null,
                  h("tr", null, ["metric", "kind", "control", "treatment", "diff", `${Math.round((1 - r.alpha) * 100)} % CI`, "relative", "p", "p (Bonferroni)", "test", "verdict"].map((x) => h("th", { key: x }, x))),
                ),
                h(
                  "tbody",
                  null,
                  c.metrics.map((m) =>
                    h(
                      "tr",
                      { key: m.metric, "data-metric": m.metric, className: m.worse ? "worse" : m.significant ? "significant" : "" },
                      h("td", null, m.metric),
                      h("td", null, m.kind),
                      h("td", { className: "num" }, fmt(m.control, 4)),
                      h("td", { className: "num" }, fmt(m.treatment, 4)),
                      h("td", { className: "num", "data-testid": "cmp-diff" }, fmt(m.diff, 4)),
                      h("td", { className: "num", "data-testid": "cmp-ci" }, `[${fmt(m.ciLow, 4)}, ${fmt(m.ciHigh, 4)}]`),
                      h("td", { className: "num" }, pct(m.relative, 1)),
                      h("td", { className: "num", "data-testid": "cmp-p" }, fmt(m.pValue, 4)),
                      h("td", { className: "num" }, fmt(m.pBonferroni, 4)),
                      h("td", null, m.test),
                      h(
                        "td",
                        { "data-testid": "cmp-verdict" },
                        m.worse
                          ? h(Badge, { kind: "bad" }, m.kind === "guardrail" ? "guardrail failed" : "significantly worse")
                          : m.significant
                            ? h(Badge, { kind: "good" }, "significant")
                            : h(Badge, null, "not significant"),
                      ),
                    ),
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

function DriftPanel(props: { drift: Drift }) {
  const { drift } = props;
  if (!drift.ready) return h("p", { className: "muted", "data-testid": "drift-pending" }, "The training reference is not built yet (it is built in the background after start-up), or drift is off.");
  const shown = drift.features.slice(0, 20);
  return h(
    "div",
    null,
    h("p", { className: "muted" }, `${drift.servedRows} served rows against ${drift.referenceRows} training rows; a feature drifts at PSI ≥ ${drift.threshold}.`),
    h(BarChart, {
      testId: "drift-chart",
      spec: { title: "PSI per ranker feature (most drifting first)", categories: shown.map((f) => f.feature), series: [{ name: "PSI", values: shown.map((f) => f.psi ?? NaN) }], yLabel: "PSI", width: 1300 },
    }),
    h(
      "table",
      { "data-testid": "drift-table" },
      h("thead", null, h("tr", null, h("th", null, "feature"), h("th", null, "PSI"), h("th", null, ""))),
      h(
        "tbody",
        null,
        drift.features.map((f) => h("tr", { key: f.feature }, h("td", null, f.feature), h("td", { className: "num" }, fmt(f.psi, 4)), h("td", null, f.drifting ? h(Badge, { kind: "bad" }, "drifting") : ""))),
      ),
    ),
  );
}
