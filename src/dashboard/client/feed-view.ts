import { createElement as h, useEffect, useState } from "react";
import { ApiError, gql } from "./api";
import { Badge, ErrorBox, Loading, Section } from "./common";
import { DEVICES, FEED_QUERY, SURFACES, type FeedNode, type FeedPage } from "./feed-types";
import { duration, fmt, reasonText } from "./format";
import { hrefFor, navigate, type Params } from "./router";
import { CardTrace, Funnel } from "./trace-view";

const PAGE_SIZE = 12;

/** A user's feed as their app would get it, with every card's trace one click away. State: the URL's params. */
export function FeedView(props: { params: Params }) {
  const { params } = props;
  const userId = params.user ?? "";
  const surface = params.surface ?? "HOME";
  const device = params.device ?? "MOBILE";
  const country = params.country ?? "";
  const [pages, setPages] = useState<FeedPage[]>([]);
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState<{ node: FeedNode; page: number }>();

  const load = async (after: string | null, previous: FeedPage[]) => {
    setLoading(true);
    setError(undefined);
    try {
      const context: Record<string, unknown> = { device };
      if (country) context.country = country;
      const data = await gql<{ feed: FeedPage }>(FEED_QUERY, { userId, surface, context, first: PAGE_SIZE, after });
      setPages([...previous, data.feed]);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setLoading(false);
    }
  };

  // A new user or context starts a new ranked session (the cursor belongs to the old one).
  useEffect(() => {
    setPages([]);
    setSelected(undefined);
    if (userId) void load(null, []);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [userId, surface, device, country]);

  const set = (change: Params) => navigate({ ...params, view: "feed", ...change });
  const last = pages[pages.length - 1];
  return h(
    "div",
    { "data-testid": "feed-view" },
    h(
      Section,
      { title: "Feed" },
      h(
        "form",
        {
          className: "context",
          "data-testid": "feed-form",
          onSubmit: (e: { preventDefault(): void; currentTarget: HTMLFormElement }) => {
            e.preventDefault();
            const value = (e.currentTarget.elements.namedItem("user") as HTMLInputElement).value.trim();
            if (value) set({ user: value });
          },
        },
        h("label", null, "User ", h("input", { name: "user", defaultValue: userId, key: userId, placeholder: "user id", "data-testid": "feed-user" })),
        h("button", { type: "submit" }, "Open feed"),
        h(
          "label",
          null,
          "Surface ",
          h("select", { value: surface, "data-testid": "ctx-surface", onChange: (e: { target: HTMLSelectElement }) => set({ surface: e.target.value }) }, SURFACES.map((s) => h("option", { key: s, value: s }, s))),
        ),
        h(
          "label",
          null,
          "Device ",
          h("select", { value: device, "data-testid": "ctx-device", onChange: (e: { target: HTMLSelectElement }) => set({ device: e.target.value }) }, DEVICES.map((d) => h("option", { key: d, value: d }, d))),
        ),
        h(
          "label",
          null,
          "Country ",
          h(
            "select",
            { value: country, "data-testid": "ctx-country", onChange: (e: { target: HTMLSelectElement }) => set({ country: e.target.value }) },
            ["", "US", "GB", "DE", "FR", "IN", "BR", "JP"].map((c) => h("option", { key: c, value: c }, c || "(none)")),
          ),
        ),
      ),
      !userId ? h("p", { className: "muted" }, "Pick a user: type an id, or search above. A link to ?user=<id> opens that user's feed.") : null,
      last
        ? h(
            "p",
            { className: "muted", "data-testid": "feed-summary" },
            `user ${userId} · model ${last.modelVersion} · ${pages.reduce((n, p) => n + p.edges.length, 0)} videos in ${pages.length} page(s)`,
            last.experiments.length > 0 ? ` · experiments: ${last.experiments.map((x) => `${x.name}=${x.variant}`).join(", ")}` : "",
          )
        : null,
      error ? h(ErrorBox, { error }) : null,
    ),
    selected ? h(CardTrace, { node: selected.node, trace: pages[selected.page]?.trace ?? null, onClose: () => setSelected(undefined) }) : null,
    pages.length > 0
      ? h(
          "div",
          { className: "cards", "data-testid": "cards" },
          pages.flatMap((p, pi) =>
            p.edges.map(({ node }) =>
              h(Card, { key: `${pi}:${node.video.id}`, node, selected: selected?.node.video.id === node.video.id, onTrace: () => setSelected({ node, page: pi }) }),
            ),
          ),
        )
      : null,
    loading ? h(Loading) : null,
    last?.pageInfo.hasNextPage && !loading
      ? h("button", { className: "more", "data-testid": "next-page", onClick: () => void load(last.pageInfo.endCursor, pages) }, `Next page (${PAGE_SIZE} more, same ranked session)`)
      : null,
    last ? h(Funnel, { page: last, pageNumber: pages.length }) : null,
  );
}

function Card(props: { node: FeedNode; selected: boolean; onTrace(): void }) {
  const { node, selected, onTrace } = props;
  const { video } = node;
  const exploration = node.reason.code === "EXPLORATION";
  return h(
    "article",
    { className: `card${selected ? " selected" : ""}${exploration ? " exploration" : ""}`, "data-testid": "card", "data-video-id": video.id, "data-position": node.position },
    h("div", { className: "card-top" }, h("span", { className: "pos" }, `#${node.position + 1}`), exploration ? h(Badge, { kind: "warn", testId: "exploration" }, "exploration") : null),
    h("h3", { "data-testid": "card-title" }, h("a", { href: hrefFor({ view: "video", video: video.id }), onClick: (e: { preventDefault(): void }) => (e.preventDefault(), navigate({ view: "video", video: video.id })) }, video.title)),
    h(
      "p",
      { className: "meta" },
      h("span", { "data-testid": "card-category" }, video.category),
      " · ",
      h("span", { "data-testid": "card-creator" }, video.creator.name ?? video.creator.id),
      " · ",
      h("span", { "data-testid": "card-duration" }, duration(video.durationSec)),
    ),
    h("p", { className: "score" }, "score ", h("b", { "data-testid": "card-score" }, fmt(node.score, 4))),
    h(
      "table",
      { className: "heads", "data-testid": "card-heads" },
      h(
        "tbody",
        null,
        node.heads.map((x) =>
          h(
            "tr",
            { key: x.head, "data-head": x.head },
            h("td", null, x.head),
            h("td", { className: "bar" }, h("span", { style: { width: `${Math.round(x.probability * 100)}%` } })),
            h("td", { className: "num" }, fmt(x.probability, 3)),
          ),
        ),
      ),
    ),
    h("p", { className: "reason", "data-testid": "card-reason", "data-code": node.reason.qualifiedCode }, reasonText(node.reason)),
    h("p", { className: "sources", "data-testid": "card-sources" }, node.sources.map((s) => h("span", { key: s, className: "chip" }, s))),
    h("button", { onClick: onTrace, "data-testid": "card-trace" }, "Trace"),
  );
}
