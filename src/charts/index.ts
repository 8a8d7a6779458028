/**
 * Charts as SVG strings: pure functions, no DOM, the same spec always gives byte-identical output. The training
 * report writes them as files beside report.md, and the dashboard bundles this module into the browser, so it
 * must stay small and must not reach for anything outside itself (no web fonts, no URLs, no ids that collide when
 * several charts share a page).
 *
 * Library: the tick maths is d3's, from its two smallest packages: d3-array (`nice`, `ticks`: 1/2/5 × 10^k steps)
 * and d3-time (`utcTicks`: whole UTC seconds, minutes, hours, days). Both are ESM, tree-shake, and bundle to about
 * 8 KB minified (3 KB gzipped) with what we import. d3-scale would give the same ticks but pulls d3-interpolate,
 * d3-color and d3-format: 27 KB minified for a linear scale, 42 KB with a UTC one. This module itself adds a few KB.
 *
 * Accessibility: role="img" with the title as aria-label and <title>, a <desc> with the data in words, the
 * colour-blind-safe Okabe–Ito palette (dash patterns past its eight colours), and text contrast ≥ 4.5:1.
 */
export type { BarChartSpec, ChartSeries, LineChartSpec } from "./types";
export { barChartSvg } from "./bar-chart";
export { lineChartSvg } from "./line-chart";
export { CHART_PALETTE } from "./palette";
export { escapeXml } from "./svg";
