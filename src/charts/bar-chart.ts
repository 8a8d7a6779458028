/** Grouped bars: one group per category, one bar per series, on one y scale that always includes zero. */
import { type BarChartSpec } from "./types";
import { LABEL_SIZE, PLOT_PAD, baseline, header, noData, outline, svgDocument, tooltip, yAxis, yAxisWidth, type Plot } from "./frame";
import { seriesStyle } from "./palette";
import { linearScale } from "./scale";
import { INK, MUTED_INK, el, escapeXml, formatValue, num, positive, textOn, textWidth, truncate } from "./svg";

const VALUE_SIZE = 10;

export function barChartSvg(spec: BarChartSpec): string {
  const width = positive(spec.width, 640);
  const height = positive(spec.height, 360);
  const categories = spec.categories ?? [];
  const series = spec.series ?? [];
  const styles = series.map((s, i) => seriesStyle(i, s.color));
  const head = header(width, spec.title, series.map((s, i) => ({ name: s.name, style: styles[i] })), "block");

  let lo = 0;
  let hi = 0;
  let any = false;
  for (const s of series) {
    for (let c = 0; c < categories.length; c++) {
      const v = s.values[c];
      if (!Number.isFinite(v)) continue;
      any = true;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const top = head.bottom;
  const label = valueFormatter(series.flatMap((s) => s.values.slice(0, categories.length)));
  // Layout in two passes: the plot's left edge depends on the y tick labels, the group width on the left edge, and
  // whether category labels must slant (and so the plot's bottom) on the group width. A first scale on the
  // unslanted bottom gives the width; the final scale is made once the bottom is known.
  const flatBottom = height - PLOT_PAD - LABEL_SIZE - 8;
  const first = linearScale(lo, hi, flatBottom, top, tickCount(flatBottom - top));
  const firstGroup = (width - PLOT_PAD - yAxisWidth(first, spec.yLabel)) / Math.max(1, categories.length);
  const cats = categoryLayout(categories, firstGroup, height - top);
  const bottom = height - PLOT_PAD - cats.depth;
  let scale = linearScale(lo, hi, bottom, top, tickCount(bottom - top));
  // Room beyond the longest bars for their value labels (upright when bars are narrower than the text), so the
  // tallest bar's label is not pushed inside the bar or dropped.
  const slot = (firstGroup * 0.8) / Math.max(1, series.length);
  if (any && slot >= VALUE_SIZE && bottom - top > 120) {
    const need = (v: number) => (textWidth(label(v), VALUE_SIZE) <= slot + 2 ? VALUE_SIZE : textWidth(label(v), VALUE_SIZE)) + 6;
    scale = linearScale(lo, hi, bottom, top, tickCount(bottom - top), { low: lo < 0 ? need(lo) : 0, high: hi > 0 ? need(hi) : 0 });
  }
  // A slanted first label reaches left of its group: keep it inside the chart.
  const left = Math.max(yAxisWidth(scale, spec.yLabel), cats.overhang - firstGroup / 2 + PLOT_PAD);
  const plot: Plot = { left, right: width - PLOT_PAD, top, bottom };
  const body = [...head.svg, yAxis(scale, plot, spec.yLabel)];
  const y0 = scale.map(0);

  if (!any || categories.length === 0) {
    body.push(baseline(plot, bottom), noData(plot));
    return svgDocument(width, height, spec.title, describe(spec), body);
  }

  const groupWidth = (plot.right - plot.left) / categories.length;
  // A fifth of each group is the gap between groups; bars inside a group touch but for a 1 px seam once wide enough.
  const barSlot = (groupWidth * 0.8) / Math.max(1, series.length);
  const seam = barSlot >= 6 ? 1 : 0;
  const barWidth = barSlot - seam;

  const bars: string[] = [];
  const labels: string[] = [];
  series.forEach((s, si) => {
    const style = styles[si];
    const rects: string[] = [];
    for (let c = 0; c < categories.length; c++) {
      const v = s.values[c];
      if (!Number.isFinite(v)) continue;
      const x = plot.left + c * groupWidth + groupWidth * 0.1 + si * barSlot + seam / 2;
      const yv = scale.map(v);
      const y = Math.min(yv, y0);
      const h = Math.abs(y0 - yv);
      rects.push(el("rect", { x, y, width: barWidth, height: h }, `<title>${escapeXml(`${s.name} · ${categories[c]}: ${formatValue(v, 4)}`)}</title>`));
      const text = valueLabel(label(v), v, x, barWidth, yv, y0, plot, style.color);
      if (text) labels.push(text);
    }
    bars.push(el("g", { fill: style.color, "fill-opacity": style.fillOpacity === 1 ? undefined : style.fillOpacity, stroke: outline(style.color) }, rects.join("")));
  });
  body.push(...bars, baseline(plot, y0));
  if (labels.length > 0) body.push(el("g", { "aria-hidden": "true", "font-size": VALUE_SIZE }, labels.join("")));

  const catLabels = categories.map((name, c) => {
    const shown = cats.labels[c];
    const x = plot.left + (c + 0.5) * groupWidth;
    if (!cats.slant) return el("text", { x, y: bottom + LABEL_SIZE + 4, "text-anchor": "middle", "font-size": LABEL_SIZE, fill: INK }, escapeXml(shown) + tooltip(name, shown));
    const y = bottom + 8;
    return el("text", { x, y, "text-anchor": "end", "font-size": LABEL_SIZE, fill: INK, transform: `rotate(-${SLANT} ${num(x)} ${num(y)})` }, escapeXml(shown) + tooltip(name, shown));
  });
  body.push(el("g", { "aria-hidden": "true" }, catLabels.join("")));
  return svgDocument(width, height, spec.title, describe(spec), body);
}

/**
 * About one y tick per 40 px asked for (d3 rounds to a 1/2/5 step, so 20–60 px apart): enough grid lines to read
 * a bar's height against, few enough to stay quiet.
 */
function tickCount(plotHeight: number): number {
  return Math.floor(plotHeight / 40);
}

const SLANT = 35;
const SIN = Math.sin((SLANT * Math.PI) / 180);
const COS = Math.cos((SLANT * Math.PI) / 180);

/**
 * Category labels: level and centred under their group when every one fits its group's width; otherwise all slanted
 * by 35° (read left to right, ending under the group), cut to what at most a third of the chart's height below the
 * plot can hold. `depth` is the room below the plot; `overhang` how far the longest label reaches left of its end.
 */
function categoryLayout(categories: readonly string[], groupWidth: number, chartHeight: number): { slant: boolean; labels: string[]; depth: number; overhang: number } {
  if (categories.every((c) => textWidth(c, LABEL_SIZE) <= groupWidth - 4)) return { slant: false, labels: [...categories], depth: LABEL_SIZE + 8, overhang: 0 };
  const maxDepth = Math.max(LABEL_SIZE * 2, chartHeight / 3);
  const maxWidth = (maxDepth - 8 - LABEL_SIZE * COS) / SIN;
  const labels = categories.map((c) => truncate(c, maxWidth, LABEL_SIZE));
  const longest = Math.max(...labels.map((l) => textWidth(l, LABEL_SIZE)));
  return { slant: true, labels, depth: 8 + longest * SIN + LABEL_SIZE * COS, overhang: longest * COS };
}

/**
 * A bar's value where it fits: level just beyond the bar's end when the bar is wide enough (inside its end when the
 * plot edge leaves no room); else turned upright beyond the end, or inside it; else none — the tooltip and the
 * <desc> still carry it. Inside a bar the text is black or white, whichever contrasts more with the bar.
 */
function valueLabel(text: string, v: number, x: number, w: number, yv: number, y0: number, plot: Plot, color: string): string | undefined {
  const tw = textWidth(text, VALUE_SIZE);
  const cx = x + w / 2;
  const up = v >= 0;
  const length = Math.abs(y0 - yv);
  const room = up ? yv - plot.top : plot.bottom - yv;
  if (tw <= w + 2) {
    if (room >= VALUE_SIZE + 3) {
      return el("text", { x: cx, y: up ? yv - 3 : yv + VALUE_SIZE + 1, "text-anchor": "middle", fill: MUTED_INK }, escapeXml(text));
    }
    if (length >= VALUE_SIZE + 5) {
      return el("text", { x: cx, y: up ? yv + VALUE_SIZE + 1 : yv - 3, "text-anchor": "middle", fill: textOn(color) }, escapeXml(text));
    }
    return undefined;
  }
  if (w < VALUE_SIZE) return undefined;
  const bx = cx + VALUE_SIZE * 0.35; // upright text sits on its baseline: shift by ~⅓ em to centre it on the bar
  const upright = (y: number, anchor: string, fill: string) =>
    el("text", { x: bx, y, "text-anchor": anchor, fill, transform: `rotate(-90 ${num(bx)} ${num(y)})` }, escapeXml(text));
  if (room >= tw + 4) return up ? upright(yv - 3, "start", MUTED_INK) : upright(yv + 3, "end", MUTED_INK);
  if (length >= tw + 6) return up ? upright(yv + 3, "end", textOn(color)) : upright(yv - 3, "start", textOn(color));
  return undefined;
}

/**
 * One label format for every bar of a chart, so values compare at a glance (0.100 beside 0.128, not 0.1): three
 * significant digits of the largest value, none for integer data, k/M/G past 10 000.
 */
export function valueFormatter(values: Iterable<number>): (v: number) => string {
  let max = 0;
  let integers = true;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    max = Math.max(max, Math.abs(v));
    if (!Number.isInteger(v)) integers = false;
  }
  if (max >= 1e4) return (v) => formatValue(v);
  const decimals = integers ? 0 : Math.min(6, Math.max(0, 2 - Math.floor(Math.log10(max || 1))));
  return (v) => {
    const text = v.toFixed(decimals);
    return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
  };
}

/** The data in words for screen readers: per category, each series' value. */
function describe(spec: BarChartSpec): string {
  const series = spec.series ?? [];
  const categories = spec.categories ?? [];
  if (series.length === 0 || categories.length === 0) return "Bar chart with no data.";
  const parts = categories.map((c, i) => `${c}: ${series.map((s) => `${s.name} ${formatValue(s.values[i], 4)}`).join(", ")}`);
  return `Bar chart${spec.yLabel ? ` of ${spec.yLabel}` : ""}, ${series.length} series over ${categories.length} categories. ${parts.join("; ")}.`;
}
