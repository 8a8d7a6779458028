import { describe, expect, it } from "vitest";
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

// The dashboard bundles src/charts into the browser; the brief is "a few KB plus the library" (d3-array + d3-time
// ticks are ~8 KB minified). esbuild is what tsx runs on, so it is always installed. Fails when someone imports a
// heavy dependency (d3-scale alone would add ~20 KB) or a Node built-in into the module.
describe("src/charts browser bundle", () => {
  it("bundles for the browser with no Node built-ins, under 24 KB minified", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("../../src/charts/index.ts", import.meta.url))],
      bundle: true,
      minify: true,
      format: "esm",
      platform: "browser",
      write: false,
      logLevel: "silent",
    });
    const bytes = result.outputFiles[0].contents.byteLength;
    expect(bytes).toBeLessThan(24_000);
  });
});
