import { createElement as h } from "react";
import { barChartSvg, lineChartSvg, type BarChartSpec, type LineChartSpec } from "../../charts/index";

/**
 * Charts come from src/charts (pure TS, deterministic SVG strings with every text escaped), so inserting the string
 * is safe: the page never builds SVG from data itself.
 */
export function BarChart(props: { spec: BarChartSpec; testId?: string }) {
  return h("div", { className: "chart", "data-testid": props.testId, dangerouslySetInnerHTML: { __html: barChartSvg(props.spec) } });
}

export function LineChart(props: { spec: LineChartSpec; testId?: string }) {
  return h("div", { className: "chart", "data-testid": props.testId, dangerouslySetInnerHTML: { __html: lineChartSvg(props.spec) } });
}
