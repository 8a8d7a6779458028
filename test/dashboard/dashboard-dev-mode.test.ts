import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { startServer, type RunningServer } from "../../src/server";
import { createTestkit } from "../../src/testkit";
import { startBrowser, type Browser } from "./browser";

/**
 * The dashboard on a server in development mode (no auth configured): no key is asked for, and views whose services
 * this server lacks (no experiments, an empty registry) say so instead of failing. The testkit's real pipeline
 * behind a real HTTP server; no trained bundle needed for this part.
 */
let dir: string;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-dashboard-dev-"));
  const kit = createTestkit();
  server = await startServer({
    services: { feed: kit.service, catalog: kit.catalog },
    config: configSchema.parse({ paths: { varDir: join(dir, "var") } }),
    port: 0,
    host: "127.0.0.1",
    production: false,
    warn: () => {},
  });
  browser = await startBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the dashboard in development mode", () => {
  it("shows a feed with no key, and names what this server does not serve", async () => {
    const page = await browser.context.newPage();
    const base = server.url.replace(/\/graphql$/, "");
    const answered = page.waitForResponse((r: Response) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes("DashboardFeed"));
    await page.goto(`${base}/dashboard?user=u1`);
    const feed = (await (await answered).json()).data.feed;
    await expect.poll(() => page.getByTestId("card").count(), { timeout: 60_000 }).toBe(feed.edges.length);
    expect(feed.edges.length).toBeGreaterThan(0);
    expect(await page.getByTestId("auth-mode").textContent()).toBe("auth: development (no key needed)");
    expect(await page.getByTestId("key-input").count()).toBe(0);

    await page.getByTestId("nav-experiments").click();
    await page.getByTestId("error").first().waitFor();
    expect(await page.getByTestId("error").first().textContent()).toContain("UNAVAILABLE");

    await page.getByTestId("nav-models").click();
    await expect.poll(() => page.getByTestId("registry-active").textContent(), { timeout: 60_000 }).toBe("none");
    expect(await page.getByTestId("bundle").count()).toBe(0);
    expect(browser.external).toEqual([]);
  }, 180_000);
});
