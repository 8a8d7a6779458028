import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * The in-browser GraphiQL IDE, served entirely from node_modules: an operator on an air-gapped host, or a laptop
 * on a plane, gets a working IDE. (Apollo's own landing page loads from a CDN, so the server disables it.)
 */

const require = createRequire(import.meta.url);
// react and react-dom do not export their UMD builds: resolve the package root instead.
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));

export interface IdeAsset {
  /** Route under the server root. */
  route: string;
  file: string;
  contentType: string;
}

export const IDE_PREFIX = "/ide/";

export function ideAssets(): IdeAsset[] {
  const js = "application/javascript; charset=utf-8";
  return [
    { route: `${IDE_PREFIX}react.production.min.js`, file: join(packageDir("react"), "umd/react.production.min.js"), contentType: js },
    {
      route: `${IDE_PREFIX}react-dom.production.min.js`,
      file: join(packageDir("react-dom"), "umd/react-dom.production.min.js"),
      contentType: js,
    },
    { route: `${IDE_PREFIX}graphiql.min.js`, file: require.resolve("graphiql/graphiql.min.js"), contentType: js },
    { route: `${IDE_PREFIX}graphiql.min.css`, file: require.resolve("graphiql/graphiql.min.css"), contentType: "text/css; charset=utf-8" },
  ];
}

/** Reads each asset once, on first request: 4 MB the server never needs unless someone opens the IDE. */
export function createIdeAssetCache(): (route: string) => Promise<{ body: Buffer; contentType: string } | undefined> {
  const byRoute = new Map(ideAssets().map((a) => [a.route, a]));
  const cache = new Map<string, Promise<Buffer>>();
  return async (route) => {
    const asset = byRoute.get(route);
    if (!asset) return undefined;
    let body = cache.get(route);
    if (!body) {
      body = readFile(asset.file);
      cache.set(route, body);
      body.catch(() => cache.delete(route));
    }
    return { body: await body, contentType: asset.contentType };
  };
}

export const DEFAULT_IDE_QUERY = `# reelfeed: a personalised feed. Unknown users get a cold-start feed.
query Feed($userId: ID!, $after: String) {
  feed(userId: $userId, first: 10, after: $after, context: { device: MOBILE, country: "US" }) {
    modelVersion
    fallbacks { kind component message }
    pageInfo { endCursor hasNextPage }
    edges {
      node {
        position
        score
        trackingId
        sources
        reason { code params { key value } }
        heads { head probability }
        video { id title category durationSec creator { id name } }
      }
    }
  }
}
`;

/** JSON that is safe inside a <script> element. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");

export interface IdePageOptions {
  /** GraphQL endpoint path. @default "/graphql" */
  endpoint?: string;
  /** @default DEFAULT_IDE_QUERY */
  defaultQuery?: string;
  /** @default { userId: "1" } */
  defaultVariables?: Record<string, unknown>;
}

export function renderIdePage(options: IdePageOptions = {}): string {
  const { endpoint = "/graphql", defaultQuery = DEFAULT_IDE_QUERY, defaultVariables = { userId: "1" } } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reelfeed · GraphiQL</title>
<link rel="stylesheet" href="${IDE_PREFIX}graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="${IDE_PREFIX}react.production.min.js"></script>
<script src="${IDE_PREFIX}react-dom.production.min.js"></script>
<script src="${IDE_PREFIX}graphiql.min.js"></script>
<script>
  const fetcher = GraphiQL.createFetcher({ url: new URL(${scriptJson(endpoint)}, window.location.href).href });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: ${scriptJson(defaultQuery)},
      variables: ${scriptJson(JSON.stringify(defaultVariables, null, 2))},
      defaultEditorToolsVisibility: true,
    }),
  );
</script>
</body>
</html>
`;
}
