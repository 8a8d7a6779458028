import { createElement as h, type ReactNode } from "react";
import type { ApiError } from "./api";

/** An error as an operator reads it: the server's code and message, and what to do about auth errors. */
export function ErrorBox(props: { error: ApiError }) {
  const { error } = props;
  const hint =
    error.code === "UNAUTHENTICATED"
      ? " Paste an API key with the admin scope above."
      : error.code === "FORBIDDEN"
        ? " The key lacks a scope this view needs (admin; the feed also needs feed:read and debug)."
        : "";
  return h("div", { className: "error", role: "alert", "data-testid": "error" }, h("b", null, error.code ?? "ERROR"), " ", error.message, hint);
}

export function Loading() {
  return h("div", { className: "loading", "data-testid": "loading" }, "Loading…");
}

export function Section(props: { title: string; children?: ReactNode; testId?: string; actions?: ReactNode }) {
  return h(
    "section",
    { className: "section", "data-testid": props.testId },
    h("header", null, h("h2", null, props.title), props.actions ?? null),
    props.children,
  );
}

export function Badge(props: { kind?: "good" | "bad" | "warn" | "info"; children?: ReactNode; testId?: string }) {
  return h("span", { className: `badge ${props.kind ?? "info"}`, "data-testid": props.testId }, props.children);
}
