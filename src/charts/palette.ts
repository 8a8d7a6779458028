/**
 * Okabe & Ito's palette ("Color Universal Design", 2008): eight colours that stay distinct under the common forms of
 * colour blindness. Ordered so the first few are the most distinct from each other and readable on white; the
 * yellow (1.9:1 on white) comes late and is outlined where it is drawn as an area.
 */
export const CHART_PALETTE: readonly string[] = [
  "#0072B2", // blue
  "#E69F00", // orange
  "#009E73", // bluish green
  "#D55E00", // vermillion
  "#CC79A7", // reddish purple
  "#56B4E9", // sky blue
  "#000000", // black
  "#F0E442", // yellow
];

/** Lines past the eighth series repeat the colours with a dash pattern, so no two series look the same. */
const DASHES = [undefined, "6 3", "2 2", "8 3 2 3"] as const;

export interface SeriesStyle {
  color: string;
  /** stroke-dasharray for lines; undefined = solid. */
  dash: string | undefined;
  /** Fill opacity for bars: lighter on each repeat of the colours. */
  fillOpacity: number;
}

/** The style of the series at `index`; a valid `color` (#rrggbb) replaces the palette's colour. */
export function seriesStyle(index: number, color?: string): SeriesStyle {
  const round = Math.floor(index / CHART_PALETTE.length);
  return {
    color: color !== undefined && /^#[0-9a-fA-F]{6}$/.test(color) ? color : CHART_PALETTE[index % CHART_PALETTE.length],
    dash: DASHES[round % DASHES.length],
    fillOpacity: round === 0 ? 1 : Math.max(0.35, 1 - 0.3 * round),
  };
}
