import { createElement as h, useEffect, useState } from "react";
import { ApiError, gql, health } from "./api";
import { BarChart } from "./chart";
import { Badge, ErrorBox, Loading, Section } from "./common";
import { fmt } from "./format";
import { useQuery } from "./use-query";

interface Table {
  protocol: string;
  users: number | null;
  models: Array<{ model: string; metrics: Array<{ name: string; value: number | null }> }>;
}

interface Bundle {
  version: string;
  createdAt: string;
  source: string;
  active: boolean;
  metrics: Array<{ name: string; value: number | null }>;
  evaluation: { createdAt: string; dataset: string; tables: Table[]; notes: string[] } | null;
}

interface Registry {
  active: string | null;
  history: string[];
  bundles: Bundle[];
}

interface Activation {
  active: string;
  previous: string | null;
  gatePassed: boolean;
  gateReason: string;
}

const MODELS = `{ models { active history bundles { version createdAt source active metrics { name value }
  evaluation { createdAt dataset notes tables { protocol users models { model metrics { name value } } } } } } }`;

const PROTOCOL_TEXT: Record<string, string> = {
  warm: "warm users: per-user temporal hold-out (the headline)",
  cold: "cold users: no history before the time cut",
  global: "all users of the global time cut",
  funnel: "the serving funnel on the global time cut",
};

/** K values of one metric family ("recall", "ndcg") present in a table, ascending. */
export function ksOf(table: Table, family: string): number[] {
  const ks = new Set<number>();
  for (const m of table.models) for (const x of m.metrics) {
    const match = /^([a-z]+)@(\d+)$/.exec(x.name);
    if (match && match[1] === family) ks.add(Number(match[2]));
  }
  return [...ks].sort((a, b) => a - b);
}

function EvaluationCharts(props: { bundle: Bundle }) {
  const evaluation = props.bundle.evaluation;
  if (!evaluation) return h("p", { className: "muted" }, "This bundle has no readable report.json.");
  return h(
    "div",
    { "data-testid": "evaluation" },
    h("p", { className: "muted" }, `Evaluated ${evaluation.createdAt.slice(0, 16).replace("T", " ")} on ${evaluation.dataset}.`),
    evaluation.tables.map((t) =>
      h(
        "div",
        { key: t.protocol, "data-protocol": t.protocol },
        h("h4", null, `${PROTOCOL_TEXT[t.protocol] ?? t.protocol}${t.users !== null ? ` · ${t.users} users` : ""}`),
        h(
          "div",
          { className: "charts-row" },
          ["recall", "ndcg"].map((family) => {
            const ks = ksOf(t, family);
            if (ks.length === 0) return null;
            return h(BarChart, {
              key: family,
              testId: `eval-${t.protocol}-${family}`,
              spec: {
                title: `${family === "ndcg" ? "NDCG" : "Recall"}@K · ${t.protocol}`,
                categories: t.models.map((m) => m.model),
                series: ks.map((k) => ({ name: `@${k}`, values: t.models.map((m) => m.metrics.find((x) => x.name === `${family}@${k}`)?.value ?? NaN) })),
                yLabel: family,
              },
            });
          }),
        ),
        h(
          "table",
          { "data-testid": `eval-table-${t.protocol}` },
          h("thead", null, h("tr", null, h("th", null, "model"), ...["recall", "ndcg"].flatMap((f) => ksOf(t, f).map((k) => h("th", { key: `${f}${k}` }, `${f}@${k}`))))),
          h(
            "tbody",
            null,
            t.models.map((m) =>
              h(
                "tr",
                { key: m.model, "data-model": m.model },
                h("td", null, m.model),
                ...["recall", "ndcg"].flatMap((f) => ksOf(t, f).map((k) => h("td", { key: `${f}${k}`, className: "num", "data-metric": `${f}@${k}` }, fmt(m.metrics.find((x) => x.name === `${f}@${k}`)?.value, 4)))),
              ),
            ),
          ),
        ),
      ),
    ),
    evaluation.notes.length > 0 ? h("ul", { className: "muted" }, evaluation.notes.map((n, i) => h("li", { key: i }, n))) : null,
  );
}

type Pending = { kind: "activate"; version: string; force: boolean } | { kind: "rollback" };

/** Bundles in the registry, the active and the served one, and activate / roll back behind a confirmation. */
export function ModelsView(props: { focus?: string }) {
  const registry = useQuery(() => gql<{ models: Registry }>(MODELS), []);
  const [served, setServed] = useState<string | null | undefined>();
  const [pending, setPending] = useState<Pending>();
  const [result, setResult] = useState<{ activation?: Activation; error?: ApiError }>();
  const [open, setOpen] = useState<string | undefined>(props.focus);
  const [busy, setBusy] = useState(false);

  // The served version comes from the detailed /health (admin): a server follows the registry on its next poll.
  const refreshServed = () =>
    health().then(
      (x) => setServed(x.modelVersion ?? null),
      () => setServed(null),
    );
  useEffect(() => {
    void refreshServed();
    const timer = window.setInterval(() => void refreshServed(), 2000);
    return () => window.clearInterval(timer);
  }, []);

  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    try {
      const data =
        pending.kind === "activate"
          ? await gql<{ activateModel: Activation }>(`mutation($v: String!, $f: Boolean) { activateModel(version: $v, force: $f) { active previous gatePassed gateReason } }`, { v: pending.version, f: pending.force })
          : await gql<{ rollbackModel: Activation }>(`mutation { rollbackModel { active previous gatePassed gateReason } }`);
      setResult({ activation: "activateModel" in data ? data.activateModel : data.rollbackModel });
    } catch (err) {
      setResult({ error: err as ApiError });
    } finally {
      setBusy(false);
      setPending(undefined);
      registry.reload();
    }
  };

  const data = registry.data?.models;
  return h(
    "div",
    { "data-testid": "models-view" },
    h(
      Section,
      {
        title: "Models",
        actions: h("button", { "data-testid": "rollback", disabled: !data || data.history.length === 0, onClick: () => setPending({ kind: "rollback" }) }, "Roll back…"),
      },
      h(
        "p",
        { "data-testid": "models-status" },
        "Registry active: ",
        h("b", { "data-testid": "registry-active" }, data?.active ?? "none"),
        " · served by this server: ",
        h("b", { "data-testid": "served-version" }, served === undefined ? "…" : (served ?? "unknown (needs the admin scope)")),
        data && served && data.active && served !== data.active ? h(Badge, { kind: "warn" }, " not the registry's active bundle (swapping, refused, or this server serves a fixed --bundle)") : null,
        data && data.history.length > 0 ? ` · history: ${data.history.join(" → ")}` : "",
      ),
      result?.activation
        ? h(
            "p",
            { "data-testid": "activation-result", className: "notice" },
            `Now active in the registry: ${result.activation.active} (was ${result.activation.previous ?? "none"}). Gate: ${result.activation.gatePassed ? "passed" : "forced past"} — ${result.activation.gateReason}`,
          )
        : null,
      result?.error ? h(ErrorBox, { error: result.error }) : null,
      registry.error ? h(ErrorBox, { error: registry.error }) : null,
      !data && !registry.error ? h(Loading) : null,
    ),
    data
      ? data.bundles.map((b) =>
          h(
            Section,
            {
              key: b.version,
              title: b.version,
              testId: "bundle",
              actions: h(
                "span",
                null,
                b.active ? h(Badge, { kind: "good", testId: "active-badge" }, "active") : null,
                served === b.version ? h(Badge, { kind: "info" }, "served") : null,
                h("button", { "data-testid": "toggle-evaluation", onClick: () => setOpen(open === b.version ? undefined : b.version) }, open === b.version ? "Hide evaluation" : "Evaluation"),
                b.active ? null : h("button", { "data-testid": "activate", onClick: () => setPending({ kind: "activate", version: b.version, force: false }) }, "Activate…"),
              ),
            },
            h("p", { className: "muted" }, `trained ${b.createdAt.slice(0, 16).replace("T", " ")} on ${b.source} · `, b.metrics.filter((m) => m.value !== null).slice(0, 6).map((m) => `${m.name} ${fmt(m.value, 4)}`).join(" · ")),
            open === b.version ? h(EvaluationCharts, { bundle: b }) : null,
          ),
        )
      : null,
    pending
      ? h(
          "div",
          { className: "modal-backdrop" },
          h(
            "div",
            { className: "modal", role: "dialog", "aria-modal": true, "data-testid": "confirm-dialog" },
            h("h2", null, pending.kind === "activate" ? `Activate ${pending.version}?` : "Roll back?"),
            h(
              "p",
              null,
              pending.kind === "activate"
                ? `Every server following the registry will hot-swap to ${pending.version}. The bundle is checked (files, ONNX parity) and must pass the promotion gate against ${data?.active ?? "the active bundle"}.`
                : `The registry goes back to ${data?.history[data.history.length - 1] ?? "the previous bundle"}; servers following it swap back.`,
            ),
            pending.kind === "activate"
              ? h(
                  "label",
                  null,
                  h("input", { type: "checkbox", checked: pending.force, "data-testid": "force", onChange: (e: { target: HTMLInputElement }) => setPending({ ...pending, force: e.target.checked }) }),
                  " force past the promotion gate (never past the checks)",
                )
              : null,
            h(
              "div",
              { className: "modal-actions" },
              h("button", { onClick: () => setPending(undefined), "data-testid": "confirm-cancel" }, "Cancel"),
              h("button", { className: "danger", disabled: busy, onClick: () => void confirm(), "data-testid": "confirm-ok" }, pending.kind === "activate" ? "Activate" : "Roll back"),
            ),
          ),
        )
      : null,
  );
}
