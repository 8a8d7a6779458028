/** Words and numbers for people: pure, shared by every view. */

export interface ReasonParam {
  key: string;
  value: string;
}

export interface Reason {
  code: string;
  qualifiedCode: string;
  params: ReasonParam[];
}

const param = (r: Reason, key: string): string => r.params.find((p) => p.key === key)?.value ?? "";

/** The reason in words, as a client app would render it from the machine-readable code. */
export function reasonText(r: Reason): string {
  switch (r.code) {
    case "PERSONALIZED":
      return "Picked for you from what you watch";
    case "SUBSCRIBED_CREATOR":
      return `New from a creator you follow (${param(r, "creatorId") || "unknown"})`;
    case "SIMILAR_TO":
      return `Because you watched video ${param(r, "videoId") || "?"}`;
    case "TRENDING_IN":
      return param(r, "country") ? `Trending in ${param(r, "country")}` : "Trending now";
    case "POPULAR":
      return "Popular right now";
    case "FRIENDS_ENGAGED":
      return `People you follow watched this${param(r, "userIds") ? ` (${param(r, "userIds")})` : ""}`;
    case "FRESH":
      return "A fresh upload";
    case "CATEGORY_INTEREST":
      return `Because you like ${param(r, "category") || "this category"}`;
    case "EXPLORATION":
      return `Something new to explore${param(r, "from") ? ` (proposed as ${param(r, "from")})` : ""}`;
    default:
      return r.qualifiedCode;
  }
}

export function duration(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
}

/** A number with `digits` significant decimals, "–" for none. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(digits);
}

export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(digits)} %`;
}

export function bytes(v: number): string {
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(2)} GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}
