/** A GitHub-flavoured markdown table; numeric columns (every cell a number or a formatted number) are right-aligned. */
export type Cell = string | number;

const NUMBER_LIKE = /^(–|[-+]?[\d,]*\.?\d+ ?(%|ms|s|MiB)?)$/;

export function markdownTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => typeof r[c] === "number" || NUMBER_LIKE.test(String(r[c]))));
  const text = (cell: Cell | undefined): string => (cell === undefined ? "" : String(cell).replace(/\|/g, "\\|"));
  const lines = [
    `| ${header.map(text).join(" | ")} |`,
    `|${numeric.map((n) => (n ? "---:" : "---")).join("|")}|`,
    ...rows.map((r) => `| ${header.map((_, c) => text(r[c])).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** Milliseconds with precision that suits their size: 0.42, 4.2, 42, 420. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return ms.toFixed(2);
  if (ms < 10) return ms.toFixed(1);
  return ms.toFixed(0);
}

/** An integer with thousands separators: 21,345. */
export function formatInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}
