/**
 * What every chart shares: the accessible <svg> wrapper, the heading, the legend and the y axis. Layout is computed
 * top-down (heading, legend rows, plot) so nothing overlaps whatever the title or series names are.
 */
import { type LinearScale } from "./scale";
import { AXIS, FONT_FAMILY, GRID, INK, MUTED_INK, el, escapeXml, num, textWidth, truncate } from "./svg";
import { type SeriesStyle } from "./palette";

export const TITLE_SIZE = 15;
export const LABEL_SIZE = 12;
export const TICK_SIZE = 11;
const PAD = 12;
const LEGEND_SWATCH = 14;
const LEGEND_GAP = 18;
const LEGEND_ROW = 18;

/**
 * The document: role="img" with the title as aria-label and as the first child <title> (the accessible name in
 * every screen reader), and a <desc> with the data in words, since a role="img" hides its children from them. No
 * ids: two charts inlined in one dashboard page must not collide.
 */
export function svgDocument(width: number, height: number, title: string, desc: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" role="img" aria-label="${escapeXml(title)}" font-family="${escapeXml(FONT_FAMILY)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(desc)}</desc>`,
    // An opaque background: the file is also viewed on dark pages (GitHub's dark theme) where dark ink would vanish.
    el("rect", { width: "100%", height: "100%", fill: "#ffffff" }),
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

export interface LegendItem {
  name: string;
  style: SeriesStyle;
}

export interface Header {
  /** SVG for the heading and legend. */
  svg: string[];
  /** y where the plot area may start. */
  bottom: number;
}

/**
 * The heading, then the legend as rows of swatch + name that wrap at the chart's width. `swatch` draws the key
 * the way the chart draws the series (a block for bars, a line for lines).
 */
export function header(width: number, title: string, items: readonly LegendItem[], swatch: "block" | "line"): Header {
  const svg: string[] = [];
  const titleText = truncate(title, width - 2 * PAD, TITLE_SIZE);
  svg.push(el("text", { x: PAD, y: PAD + TITLE_SIZE, "font-size": TITLE_SIZE, "font-weight": "bold", fill: INK }, escapeXml(titleText)));
  let y = PAD + TITLE_SIZE + 10;
  if (items.length === 0) return { svg, bottom: y };
  const maxName = Math.max(60, Math.min(220, width - 2 * PAD - LEGEND_SWATCH - 6));
  let x = PAD;
  const rows: string[] = [];
  let row = 0;
  for (const item of items) {
    const name = truncate(item.name, maxName, LABEL_SIZE);
    const w = LEGEND_SWATCH + 6 + textWidth(name, LABEL_SIZE);
    if (x > PAD && x + w > width - PAD) {
      x = PAD;
      row++;
    }
    const cy = y + row * LEGEND_ROW + LEGEND_ROW / 2;
    const key =
      swatch === "block"
        ? el("rect", { x, y: cy - 5, width: LEGEND_SWATCH, height: 10, fill: item.style.color, "fill-opacity": item.style.fillOpacity === 1 ? undefined : item.style.fillOpacity, stroke: outline(item.style.color) })
        : el("line", { x1: x, y1: cy, x2: x + LEGEND_SWATCH, y2: cy, stroke: item.style.color, "stroke-width": 2.5, "stroke-dasharray": item.style.dash });
    rows.push(
      el("g", {}, key + el("text", { x: x + LEGEND_SWATCH + 6, y: cy + 4, "font-size": LABEL_SIZE, fill: INK }, escapeXml(name) + tooltip(item.name, name))),
    );
    x += w + LEGEND_GAP;
  }
  svg.push(el("g", { "aria-hidden": "true" }, rows.join("")));
  // Room for the top tick label, which is centred on the plot's top edge.
  y += (row + 1) * LEGEND_ROW + 14;
  return { svg, bottom: y };
}

/** A <title> tooltip with the full text, only where the visible text was cut. */
export function tooltip(full: string, shown: string): string {
  return full === shown ? "" : `<title>${escapeXml(full)}</title>`;
}

/** Light areas (the yellow) get a thin outline so the bar's edge is visible on white. */
export function outline(color: string): string | undefined {
  return color.toUpperCase() === "#F0E442" ? "#a89f00" : undefined;
}

/** Width the y axis needs at the left: its tick labels, and the rotated y label when there is one. */
export function yAxisWidth(scale: LinearScale, yLabel: string | undefined): number {
  const labels = Math.max(...scale.ticks.map((t) => textWidth(scale.format(t), TICK_SIZE)), 0);
  return PAD + (yLabel ? LABEL_SIZE + 8 : 0) + labels + 8;
}

export interface Plot {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Horizontal grid lines with tick labels, and the rotated y label centred on the plot. */
export function yAxis(scale: LinearScale, plot: Plot, yLabel: string | undefined): string {
  const parts: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.map(t);
    parts.push(el("line", { x1: plot.left, y1: y, x2: plot.right, y2: y, stroke: GRID }));
    parts.push(el("text", { x: plot.left - 6, y: y + 4, "font-size": TICK_SIZE, "text-anchor": "end", fill: MUTED_INK }, escapeXml(scale.format(t))));
  }
  if (yLabel) {
    const cy = (plot.top + plot.bottom) / 2;
    const text = truncate(yLabel, plot.bottom - plot.top, LABEL_SIZE);
    parts.push(el("text", { x: PAD + LABEL_SIZE - 2, y: cy, "font-size": LABEL_SIZE, "text-anchor": "middle", fill: MUTED_INK, transform: `rotate(-90 ${num(PAD + LABEL_SIZE - 2)} ${num(cy)})` }, escapeXml(text) + tooltip(yLabel, text)));
  }
  return el("g", { "aria-hidden": "true" }, parts.join(""));
}

/** The x axis line at the plot's bottom (or at y = 0 when the domain crosses it). */
export function baseline(plot: Plot, y: number): string {
  return el("line", { x1: plot.left, y1: y, x2: plot.right, y2: y, stroke: AXIS });
}

/** What a chart with nothing to draw shows: the frame and a sentence, never an exception in a dashboard. */
export function noData(plot: Plot): string {
  return el("text", { x: (plot.left + plot.right) / 2, y: (plot.top + plot.bottom) / 2, "font-size": LABEL_SIZE, "text-anchor": "middle", fill: MUTED_INK }, "No data");
}

export const PLOT_PAD = PAD;
