import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { buildPipeline } from "../../src/pipeline/pipeline-definition";
import { loadPlugins, validatePlugin } from "../../src/pipeline/plugin-loader";
import { createRegistry } from "../../src/pipeline/registry";
import { createTestkit } from "../../src/testkit";

const typesPath = join(process.cwd(), "src/pipeline/types.ts");

function pluginDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "reelfeed-plugins-"));
  for (const [name, source] of Object.entries(files)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "index.ts"), source);
  }
  return dir;
}

describe("plugin loader", () => {
  it("loads both example plugins from plugins/ and builds a pipeline with them", async () => {
    const plugins = await loadPlugins(["more-from-creators", "max-duration"]);
    expect(plugins.map((p) => `${p.name}@${p.version}`)).toEqual(["more-from-creators@1.0.0", "max-duration@1.0.0"]);
    const registry = createRegistry({ plugins });
    expect(registry.sources.get("MoreFromCreators")!.origin).toBe("plugin:more-from-creators@1.0.0");
    expect(registry.stages.get("MaxDuration")!.phase).toBe("arrange");
    const config = configSchema.parse({
      pipeline: {
        plugins: ["more-from-creators", "max-duration"],
        sources: [{ name: "Trending" }, { name: "MoreFromCreators" }],
        stages: [{ name: "MaxDuration" }, { name: "Diversity" }],
      },
    });
    const def = await buildPipeline({ config, runtime: createTestkit().runtime });
    expect(def.sources.map((s) => s.name)).toEqual(["Trending", "MoreFromCreators"]);
    expect(def.stages.map((s) => s.name)).toEqual(["MaxDuration", "Diversity"]);
  });

  it("rejects malformed plugins with BAD_PLUGIN naming the plugin", async () => {
    const dir = pluginDir({
      "no-default": "export const x = 1;\n",
      "bad-version": `export default { name: "bad-version", version: "one", stages: [{ name: "X", apply: () => ({ kept: [], removed: [] }) }] };\n`,
      "bad-source": `export default { name: "bad-source", version: "1.0.0", sources: [{ name: "lowercase", fetch: async () => [] }] };\n`,
      "no-fetch": `export default { name: "no-fetch", version: "1.0.0", sources: [{ name: "NoFetch" }] };\n`,
      "bad-requires": `export default { name: "bad-requires", version: "1.0.0", sources: [{ name: "Req", requires: ["redis"], fetch: async () => [] }] };\n`,
      "wrong-name": `export default { name: "other", version: "1.0.0", stages: [{ name: "S", apply: () => ({ kept: [], removed: [] }) }] };\n`,
      empty: `export default { name: "empty", version: "1.0.0" };\n`,
      syntax: "export default {{{;\n",
      clash: `import { definePlugin } from ${JSON.stringify(typesPath)};\nexport default definePlugin({ name: "clash", version: "1.0.0", sources: [{ name: "TwoTower", fetch: async () => [] }] });\n`,
    });
    const cases: Array<[string, RegExp]> = [
      ["no-default", /default export/],
      ["bad-version", /version must be semver/],
      ["bad-source", /PascalCase/],
      ["no-fetch", /no fetch/],
      ["bad-requires", /unknown store "redis"/],
      ["wrong-name", /does not match its folder/],
      ["empty", /no source and no stage/],
      ["syntax", /failed to load/],
      ["missing", /not found/],
      ["../etc", /lower-case/],
    ];
    for (const [name, message] of cases) {
      const err = await loadPlugins([name], { dir }).catch((e: unknown) => e);
      expect(err, name).toMatchObject({ code: "BAD_PLUGIN", details: { plugin: name } });
      expect((err as Error).message, name).toMatch(message);
      expect((err as Error).message).toContain(`plugin "${name}"`);
    }
    const clash = await loadPlugins(["clash"], { dir });
    expect(() => createRegistry({ plugins: clash })).toThrow(/plugin "clash": source "TwoTower" clashes with the built-in source/);
    expect(() => validatePlugin(null, "x")).toThrow(/plugin "x"/);
  });
});
