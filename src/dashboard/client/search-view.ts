import { createElement as h } from "react";
import { gql } from "./api";
import { ErrorBox, Loading, Section } from "./common";
import { duration, fmt } from "./format";
import { hrefFor, navigate, type Params } from "./router";
import { useQuery } from "./use-query";

interface VideoRow {
  id: string;
  title: string;
  category: string;
  durationSec: number;
  creator: { id: string; name: string | null };
}

const VIDEO_FIELDS = "id title category durationSec creator { id name }";

function Link(props: { to: Params; children?: string; testId?: string }) {
  return h(
    "a",
    { href: hrefFor(props.to), "data-testid": props.testId, onClick: (e: { preventDefault(): void }) => (e.preventDefault(), navigate(props.to)) },
    props.children,
  );
}

function VideoTable(props: { rows: Array<{ video: VideoRow; score?: number }>; testId: string }) {
  return h(
    "table",
    { "data-testid": props.testId },
    h("thead", null, h("tr", null, ["video", "title", "category", "creator", "duration", "score"].map((c) => h("th", { key: c }, c)))),
    h(
      "tbody",
      null,
      props.rows.map(({ video, score }) =>
        h(
          "tr",
          { key: video.id, "data-video-id": video.id },
          h("td", null, video.id),
          h("td", null, h(Link, { to: { view: "video", video: video.id }, testId: "video-link" }, video.title)),
          h("td", null, video.category),
          h("td", null, video.creator.name ?? video.creator.id),
          h("td", { className: "num" }, duration(video.durationSec)),
          h("td", { className: "num" }, score === undefined ? "" : fmt(score, 4)),
        ),
      ),
    ),
  );
}

/** Users (by id: the catalogue indexes users by id only) and videos (id, title, category, tag, creator). */
export function SearchView(props: { q: string }) {
  const { q } = props;
  const result = useQuery(
    () =>
      gql<{ searchUsers: Array<{ id: string; country: string | null; ageGroup: string }>; searchVideos: VideoRow[] }>(
        `query DashboardSearch($q: String!) { searchUsers(query: $q) { id country ageGroup } searchVideos(query: $q, first: 25) { ${VIDEO_FIELDS} } }`,
        { q },
      ),
    [q],
  );
  return h(
    Section,
    { title: `Search: “${q}”`, testId: "search-view" },
    result.error ? h(ErrorBox, { error: result.error }) : null,
    !result.data ? h(Loading) : null,
    result.data
      ? h(
          "div",
          null,
          h("h3", null, `Users (${result.data.searchUsers.length})`),
          result.data.searchUsers.length === 0
            ? h("p", { className: "muted" }, "No user has this id.")
            : h(
                "ul",
                { "data-testid": "search-users" },
                result.data.searchUsers.map((u) =>
                  h("li", { key: u.id }, h(Link, { to: { view: "feed", user: u.id }, testId: "user-link" }, `user ${u.id}`), ` · ${u.country ?? "no country"} · ${u.ageGroup}`),
                ),
              ),
          h("h3", null, `Videos (${result.data.searchVideos.length})`),
          h(VideoTable, { rows: result.data.searchVideos.map((video) => ({ video })), testId: "search-videos" }),
        )
      : null,
  );
}

/** One video, and the videos similar to it (content and two-tower neighbours: what watch-next starts from). */
export function VideoView(props: { id: string }) {
  const { id } = props;
  const result = useQuery(
    () =>
      gql<{ video: (VideoRow & { tags: string[]; uploadedAt: string; language: string | null }) | null; similarVideos: Array<{ video: VideoRow; score: number }> }>(
        `query DashboardVideo($id: ID!) { video(id: $id) { ${VIDEO_FIELDS} tags uploadedAt language } similarVideos(videoId: $id, first: 12) { score video { ${VIDEO_FIELDS} } } }`,
        { id },
      ),
    [id],
  );
  const v = result.data?.video;
  return h(
    Section,
    { title: v ? v.title : `Video ${id}`, testId: "video-view" },
    result.error ? h(ErrorBox, { error: result.error }) : null,
    !result.data && !result.error ? h(Loading) : null,
    v
      ? h(
          "p",
          { className: "meta", "data-testid": "video-meta" },
          `${v.id} · ${v.category} · ${v.creator.name ?? v.creator.id} · ${duration(v.durationSec)} · uploaded ${v.uploadedAt.slice(0, 10)} · tags: ${v.tags.join(", ") || "none"}`,
        )
      : null,
    result.data ? h("h3", null, "Similar videos") : null,
    result.data ? h(VideoTable, { rows: result.data.similarVideos, testId: "similar-videos" }) : null,
  );
}
