/** Lines over a numeric or time x axis; a non-finite value is a gap in its line, never a drop to zero. */
import { type LineChartSpec } from "./types";
import { PLOT_PAD, TICK_SIZE, baseline, header, noData, svgDocument, yAxis, yAxisWidth, type Plot } from "./frame";
import { seriesStyle } from "./palette";
import { hms, isoDate, linearScale, timeScale, type LinearScale } from "./scale";
import { GRID, MUTED_INK, el, escapeXml, formatValue, num, positive, textWidth } from "./svg";

export function lineChartSvg(spec: LineChartSpec): string {
  const width = positive(spec.width, 640);
  const height = positive(spec.height, 320);
  const time = spec.xKind === "time";
  const xs = spec.x ?? [];
  const series = spec.series ?? [];
  const styles = series.map((s, i) => seriesStyle(i, s.color));
  const head = header(width, spec.title, series.map((s, i) => ({ name: s.name, style: styles[i] })), "line");

  // Points are joined in ascending x whatever the input order (stable: equal x keep their order).
  const order = xs.map((_, i) => i).filter((i) => Number.isFinite(xs[i])).sort((a, b) => xs[a] - xs[b] || a - b);
  let xLo = Infinity;
  let xHi = -Infinity;
  let yLo = Infinity;
  let yHi = -Infinity;
  for (const i of order) {
    xLo = Math.min(xLo, xs[i]);
    xHi = Math.max(xHi, xs[i]);
    for (const s of series) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      yLo = Math.min(yLo, v);
      yHi = Math.max(yHi, v);
    }
  }
  const any = yLo <= yHi;

  const top = head.bottom;
  const bottom = height - PLOT_PAD - TICK_SIZE - 6 - (time ? TICK_SIZE + 3 : 0);
  const y = linearScale(any ? yLo : 0, any ? yHi : 1, bottom, top, Math.floor((bottom - top) / 40));
  const plot: Plot = { left: yAxisWidth(y, spec.yLabel), right: width - PLOT_PAD, top, bottom };
  const body = [...head.svg, yAxis(y, plot, spec.yLabel)];
  if (!any) {
    body.push(baseline(plot, bottom), noData(plot));
    return svgDocument(width, height, spec.title, describe(spec, order), body);
  }

  const plotWidth = plot.right - plot.left;
  // HH:MM:SS is ~55 px at 11 px: a tick every 90 px leaves a gap between labels; numbers are shorter.
  const x = time
    ? timeScale(xLo, xHi, plot.left, plot.right, Math.floor(plotWidth / 90))
    : linearScale(xLo, xHi, plot.left, plot.right, Math.floor(plotWidth / 70));
  body.push(xAxis(x, plot, width));

  const markerLimit = plotWidth / 12;
  series.forEach((s, si) => {
    const style = styles[si];
    // Runs of consecutive finite points; a non-finite value ends a run (the gap).
    const runs: Array<Array<[number, number]>> = [[]];
    for (const i of order) {
      const v = s.values[i];
      if (Number.isFinite(v)) runs[runs.length - 1].push([x.map(xs[i]), y.map(v)]);
      else if (runs[runs.length - 1].length > 0) runs.push([]);
    }
    const points = runs.reduce((n, r) => n + r.length, 0);
    const d = runs
      .filter((r) => r.length > 1)
      .map((r) => r.map(([px, py], k) => `${k === 0 ? "M" : "L"}${num(px)} ${num(py)}`).join(""))
      .join("");
    // Every point gets a dot when there are few enough to tell apart; an isolated point (gaps on both sides) always
    // does, or it would not be drawn at all.
    const dots = runs
      .filter((r) => r.length === 1 || points <= markerLimit)
      .flat()
      .map(([cx, cy]) => el("circle", { cx, cy, r: 2.5 }));
    const parts = [`<title>${escapeXml(s.name)}</title>`];
    if (d) parts.push(el("path", { d, fill: "none", stroke: style.color, "stroke-width": 2, "stroke-linejoin": "round", "stroke-linecap": "round", "stroke-dasharray": style.dash }));
    if (dots.length > 0) parts.push(el("g", { fill: style.color }, dots.join("")));
    body.push(el("g", {}, parts.join("")));
  });
  if (y.domain[0] < 0 && y.domain[1] > 0) body.push(baseline(plot, y.map(0)));
  body.push(baseline(plot, bottom));
  return svgDocument(width, height, spec.title, describe(spec, order), body);
}

/** Tick labels under the plot (kept inside the chart at its edges), light vertical grid lines, and for time the date. */
function xAxis(x: LinearScale & { dateLine?: (v: number) => string }, plot: Plot, width: number): string {
  const parts: string[] = [];
  for (const t of x.ticks) {
    const px = x.map(t);
    if (px < plot.left - 0.5 || px > plot.right + 0.5) continue;
    parts.push(el("line", { x1: px, y1: plot.top, x2: px, y2: plot.bottom, stroke: GRID }));
    const lines = [x.format(t), x.dateLine ? x.dateLine(t) : ""].filter((l) => l !== "");
    const half = Math.max(...lines.map((l) => textWidth(l, TICK_SIZE))) / 2;
    const anchor = px + half > width - 2 ? "end" : px - half < 2 ? "start" : "middle";
    lines.forEach((line, k) => {
      parts.push(el("text", { x: px, y: plot.bottom + TICK_SIZE + 4 + k * (TICK_SIZE + 3), "font-size": TICK_SIZE, "text-anchor": anchor, fill: MUTED_INK }, escapeXml(line)));
    });
  }
  return el("g", { "aria-hidden": "true" }, parts.join(""));
}

/** The data in words: the x range and, per series, its last, lowest and highest value. */
function describe(spec: LineChartSpec, order: number[]): string {
  const series = spec.series ?? [];
  if (order.length === 0 || series.length === 0) return "Line chart with no data.";
  const xs = spec.x;
  const fx = (v: number) => (spec.xKind === "time" ? `${isoDate(v)} ${hms(v)} UTC` : formatValue(v, 4));
  const parts = series.map((s) => {
    let [last, min, max] = [NaN, Infinity, -Infinity];
    for (const i of order) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      [last, min, max] = [v, Math.min(min, v), Math.max(max, v)];
    }
    if (Number.isNaN(last)) return `${s.name}: no values`;
    return `${s.name}: last ${formatValue(last, 4)}, min ${formatValue(min, 4)}, max ${formatValue(max, 4)}`;
  });
  return `Line chart${spec.yLabel ? ` of ${spec.yLabel}` : ""}, ${series.length} series, x from ${fx(xs[order[0]])} to ${fx(xs[order[order.length - 1]])}. ${parts.join("; ")}.`;
}
