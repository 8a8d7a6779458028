import { useEffect, useState } from "react";

/**
 * The page's state lives in its URL (`/dashboard?user=42&device=MOBILE`, `?view=models`), so every view is
 * addressable, shareable and survives a reload. pushState for navigation, popstate for back/forward.
 */
export type Params = Record<string, string>;

export function currentParams(): Params {
  return Object.fromEntries(new URLSearchParams(window.location.search));
}

const listeners = new Set<() => void>();

export function navigate(params: Params, replace = false): void {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  const url = `${window.location.pathname}${search ? `?${search}` : ""}`;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  listeners.forEach((fn) => fn());
}

export function useParams(): Params {
  const [params, setParams] = useState(currentParams);
  useEffect(() => {
    const update = () => setParams(currentParams());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return params;
}

/** A link that navigates in-page (and still opens in a new tab with a middle click). */
export function hrefFor(params: Params): string {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  return `${window.location.pathname}${search ? `?${search}` : ""}`;
}
