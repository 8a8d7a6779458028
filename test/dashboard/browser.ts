import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, with a fresh temporary profile per
 * run. Every request the pages make is recorded, and any that would leave this machine is aborted and reported:
 * the dashboard must work without internet.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export interface Browser {
  context: BrowserContext;
  /** Every URL a page asked for. */
  requests: string[];
  /** Those that were not for 127.0.0.1 / localhost (aborted). */
  external: string[];
  close(): Promise<void>;
}

const LOCAL = new Set(["127.0.0.1", "localhost", "[::1]"]);

export async function startBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  const profile = await mkdtemp(join(tmpdir(), "rf-dashboard-chromium-"));
  // launchPersistentContext passes `profile` as --user-data-dir: a fresh one, removed on close.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
    // A loaded 2-core box: generous, and every wait in the tests is on a selector or a response, never a sleep.
    timeout: 120_000,
  });
  context.setDefaultTimeout(60_000);
  const requests: string[] = [];
  const external: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    const { protocol, hostname } = new URL(url);
    if ((protocol === "http:" || protocol === "https:") && !LOCAL.has(hostname)) {
      external.push(url);
      return route.abort();
    }
    return route.continue();
  });
  return {
    context,
    requests,
    external,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
