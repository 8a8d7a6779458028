/** The chart specs: plain data, so a chart can be described in JSON, rendered on the server or in the browser. */

/** One named row of values: a bar per category (bar chart) or a point per x (line chart). */
export interface ChartSeries {
  /** Shown in the legend and the tooltips. */
  name: string;
  /** In the order of `categories` / `x`. A non-finite value (NaN, ±Infinity) or a missing one is drawn as nothing. */
  values: number[];
  /**
   * A fixed "#rrggbb" colour, so one thing keeps its colour across charts where the set of series differs (pick it
   * from CHART_PALETTE to stay colour-blind safe). Anything else is ignored.
   * @default CHART_PALETTE by the series' position
   */
  color?: string;
}

export interface BarChartSpec {
  /** The accessible name of the chart and its visible heading. */
  title: string;
  /** One group of bars per category, left to right. */
  categories: string[];
  /** One bar per series in each group, in legend order. */
  series: ChartSeries[];
  /** What the y axis measures, e.g. "share of held-out items". */
  yLabel?: string;
  /** @default 640 */
  width?: number;
  /** @default 360 */
  height?: number;
}

export interface LineChartSpec {
  /** The accessible name of the chart and its visible heading. */
  title: string;
  /** One x per point; "time" x are epoch milliseconds. Points are joined in ascending x. */
  x: number[];
  /** "time": ticks at whole seconds/minutes/hours, labelled HH:MM:SS (UTC), the date under the first and at each change. @default "number" */
  xKind?: "time" | "number";
  /** A NaN (or any non-finite) value breaks the line: a gap, not a drop to zero. */
  series: ChartSeries[];
  /** What the y axis measures, e.g. "requests / s". */
  yLabel?: string;
  /** @default 640 */
  width?: number;
  /** @default 320 */
  height?: number;
}
