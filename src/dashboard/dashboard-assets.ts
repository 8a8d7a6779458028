import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/**
 * The operator dashboard's page and assets. The client (src/dashboard/client, React 18 + src/charts) is bundled with
 * esbuild on the first request for /dashboard and kept in memory: nothing is built, loaded or run by a server that
 * no one opens the dashboard on (esbuild itself is imported only then), no minified blob is committed, and a fresh
 * clone's `npm ci && npm start` serves it with no build step. Every asset is served by this server: the page works
 * without internet.
 */

export const DASHBOARD_PATH = "/dashboard";
export const DASHBOARD_PREFIX = "/dashboard/";

/**
 * Sent with every dashboard response. Scripts, styles and requests only to this server: the browser itself refuses
 * anything else (no internet needed, nothing leaks), and an SVG string that somehow carried a script could not run
 * it. React sets inline styles through the DOM, which CSP allows; `frame-ancestors 'none'` keeps the activate and
 * roll-back buttons out of other sites' frames (clickjacking).
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

export interface DashboardBundle {
  js: Buffer;
  css: Buffer;
  /** Raw and gzip sizes, for docs and the start-up log. */
  sizes: { jsRaw: number; jsGzip: number; cssRaw: number; cssGzip: number };
}

const ENTRY = fileURLToPath(new URL("./client/main.ts", import.meta.url));

/** Bundles the client: minified, one JS and one CSS file, React in its production build. */
export async function buildDashboardBundle(): Promise<DashboardBundle> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: "iife",
    platform: "browser",
    target: ["es2020"],
    write: false,
    outdir: "dashboard-out",
    entryNames: "app",
    define: { "process.env.NODE_ENV": '"production"' },
    // React's licence comments stay, at the end of the file.
    legalComments: "eof",
    logLevel: "silent",
  });
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  const css = result.outputFiles.find((f) => f.path.endsWith(".css"));
  if (!js || !css) throw new Error("esbuild produced no dashboard bundle");
  const jsBuf = Buffer.from(js.contents);
  const cssBuf = Buffer.from(css.contents);
  return {
    js: jsBuf,
    css: cssBuf,
    sizes: { jsRaw: jsBuf.length, jsGzip: gzipSync(jsBuf).length, cssRaw: cssBuf.length, cssGzip: gzipSync(cssBuf).length },
  };
}

/** JSON-free attribute text: the values are server paths, but escape them anyway. */
const attr = (s: string): string => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

export function renderDashboardPage(options: { graphql?: string; health?: string } = {}): string {
  const { graphql = "/graphql", health = "/health" } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reelfeed · dashboard</title>
<link rel="stylesheet" href="${DASHBOARD_PREFIX}app.css">
</head>
<body data-graphql="${attr(graphql)}" data-health="${attr(health)}">
<div id="root">Loading the dashboard…</div>
<script src="${DASHBOARD_PREFIX}app.js"></script>
</body>
</html>
`;
}

export interface DashboardAssets {
  /** The page or an asset for a path under /dashboard; undefined for an unknown path. */
  get(path: string): Promise<DashboardAsset | undefined>;
  /** Whether the bundle was built (false until someone opens the dashboard). */
  built(): boolean;
}

/** The bundle is built once, on first request; a failed build is retried on the next request. */
export function createDashboardAssets(build: () => Promise<DashboardBundle> = buildDashboardBundle): DashboardAssets {
  let bundle: Promise<DashboardBundle> | undefined;
  const page = Buffer.from(renderDashboardPage());
  const getBundle = (): Promise<DashboardBundle> => {
    if (!bundle) {
      bundle = build();
      bundle.catch(() => (bundle = undefined));
    }
    return bundle;
  };
  return {
    built: () => bundle !== undefined,
    async get(path) {
      if (path === DASHBOARD_PATH || path === DASHBOARD_PREFIX) {
        // Start bundling while the browser parses the page: its script request then waits less.
        void getBundle().catch(() => {});
        return { body: page, contentType: "text/html; charset=utf-8" };
      }
      if (path === `${DASHBOARD_PREFIX}app.js`) return { body: (await getBundle()).js, contentType: "application/javascript; charset=utf-8" };
      if (path === `${DASHBOARD_PREFIX}app.css`) return { body: (await getBundle()).css, contentType: "text/css; charset=utf-8" };
      return undefined;
    },
  };
}
