import { createElement as h, StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { apiKey, health, setApiKey, type Health } from "./api";
import { ExperimentsView } from "./experiments-view";
import { FeedView } from "./feed-view";
import { MetricsView } from "./metrics-view";
import { ModelsView } from "./models-view";
import { hrefFor, navigate, useParams, type Params } from "./router";
import { SearchView, VideoView } from "./search-view";
// Bundled by esbuild into app.css beside app.js.
import "./styles.css";

/**
 * The operator dashboard: one page, views chosen by the URL (`?view=`; `?user=<id>` alone opens that user's feed).
 * Everything it shows comes from the GraphQL API and /health, with the operator's key.
 */

const VIEWS: Array<{ view: string; label: string }> = [
  { view: "feed", label: "Feed" },
  { view: "metrics", label: "Live metrics" },
  { view: "experiments", label: "Experiments" },
  { view: "models", label: "Models" },
];

function viewOf(params: Params): string {
  if (params.view) return params.view;
  return "feed";
}

function KeyBox(props: { onChange(): void }) {
  const [editing, setEditing] = useState(false);
  const has = apiKey() !== null;
  if (has && !editing) {
    return h(
      "span",
      { className: "key" },
      "key set ",
      h("button", { "data-testid": "key-forget", onClick: () => (setApiKey(null), props.onChange()) }, "Forget"),
      h("button", { onClick: () => setEditing(true) }, "Change"),
    );
  }
  return h(
    "form",
    {
      className: "key",
      onSubmit: (e: { preventDefault(): void; currentTarget: HTMLFormElement }) => {
        e.preventDefault();
        const value = (e.currentTarget.elements.namedItem("key") as HTMLInputElement).value.trim();
        setApiKey(value || null);
        setEditing(false);
        props.onChange();
      },
    },
    h("input", { name: "key", type: "password", placeholder: "API key (admin, feed:read, debug)", autoComplete: "off", "data-testid": "key-input" }),
    h("button", { type: "submit", "data-testid": "key-save" }, "Use key"),
  );
}

function App() {
  const params = useParams();
  const view = viewOf(params);
  const [auth, setAuth] = useState<Health>();
  // Re-rendering the views after a key change makes them ask again with it.
  const [epoch, setEpoch] = useState(0);
  useEffect(() => {
    health().then(setAuth, () => setAuth(undefined));
  }, [epoch]);
  const go = (p: Params) => (e: { preventDefault(): void }) => {
    e.preventDefault();
    navigate(p);
  };
  return h(
    "div",
    { className: "app" },
    h(
      "header",
      { className: "top" },
      h("h1", null, "reelfeed"),
      h(
        "nav",
        null,
        VIEWS.map((v) =>
          h("a", { key: v.view, href: hrefFor({ view: v.view }), className: v.view === view ? "active" : "", "data-testid": `nav-${v.view}`, onClick: go({ view: v.view }) }, v.label),
        ),
      ),
      h(
        "form",
        {
          className: "search",
          role: "search",
          onSubmit: (e: { preventDefault(): void; currentTarget: HTMLFormElement }) => {
            e.preventDefault();
            const q = (e.currentTarget.elements.namedItem("q") as HTMLInputElement).value.trim();
            if (q) navigate({ view: "search", q });
          },
        },
        h("input", { name: "q", placeholder: "Search users (id) and videos", defaultValue: params.q ?? "", key: params.q ?? "", "data-testid": "search-input" }),
        h("button", { type: "submit", "data-testid": "search-submit" }, "Search"),
      ),
      h(
        "span",
        { className: "auth", "data-testid": "auth-mode" },
        auth?.auth ? `auth: ${auth.auth} (no key needed)` : "auth: enforced",
      ),
      auth?.auth ? null : h(KeyBox, { onChange: () => setEpoch((x) => x + 1) }),
    ),
    h(
      "main",
      { key: epoch },
      view === "feed"
        ? h(FeedView, { params })
        : view === "metrics"
          ? h(MetricsView)
          : view === "experiments"
            ? h(ExperimentsView, { name: params.experiment })
            : view === "models"
              ? h(ModelsView, { focus: params.model })
              : view === "search"
                ? h(SearchView, { q: params.q ?? "" })
                : view === "video"
                  ? h(VideoView, { id: params.video ?? "" })
                  : h("p", null, `No view "${view}".`),
    ),
  );
}

createRoot(document.getElementById("root")!).render(h(StrictMode, null, h(App)));
