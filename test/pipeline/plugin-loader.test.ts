import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config";
import { buildPipeline } from "../../src/pipeline/pipeline-definition";
import { loadPlugins, validatePlugin } from "../../src/pipeline/plugin-loader";
import { createRegistry } from "../../src/pipeline/registry";
import { createTestkit } from "../../src/testkit";

const api = JSON.stringify(join(process.cwd(), "src/plugin/index.ts"));

function pluginDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "reelfeed-plugins-"));
  for (const [name, source] of Object.entries(files)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "index.ts"), source);
  }
  return dir;
}

const stage = `defineStage({ name: "S", phase: "arrange", create: () => ({ apply: (_q, r) => ({ kept: [...r], removed: [] }) }) })`;

describe("plugin loader", () => {
  it("loads both example plugins from plugins/ and builds a pipeline with them", async () => {
    const plugins = await loadPlugins(["more-from-creators", "max-duration"]);
    expect(plugins.map((p) => `${p.name}@${p.version}`)).toEqual(["more-from-creators@2.0.0", "max-duration@2.0.0"]);
    const registry = createRegistry({ plugins });
    expect(registry.sources.get("MoreFromCreators")!.origin).toBe("plugin:more-from-creators@2.0.0");
    expect(registry.stages.get("MaxDuration")!.phase).toBe("arrange");
    expect([...registry.reasons.keys()]).toEqual(["more-from-creators/FINISHED_CREATOR"]);
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
      "bad-version": `import { definePlugin, defineStage } from ${api};\nexport default definePlugin({ name: "bad-version", version: "one", stages: [${stage}] });\n`,
      "bad-source": `import { defineSource } from ${api};\nexport default { name: "bad-source", version: "1.0.0", sources: [defineSource({ name: "lowercase", create: () => ({ fetch: async () => [] }) })] };\n`,
      "v1-object": `export default { name: "v1-object", version: "1.0.0", sources: [{ name: "Old", fetch: async () => [] }] };\n`,
      "bad-requires": `import { defineSource } from ${api};\nexport default { name: "bad-requires", version: "1.0.0", sources: [defineSource({ name: "Req", requires: ["redis"], create: () => ({ fetch: async () => [] }) })] };\n`,
      "no-phase": `import { defineStage } from ${api};\nexport default { name: "no-phase", version: "1.0.0", stages: [defineStage({ name: "P", create: () => ({ apply: (_q, r) => ({ kept: [...r], removed: [] }) }) })] };\n`,
      "wrong-name": `import { definePlugin, defineStage } from ${api};\nexport default definePlugin({ name: "other", version: "1.0.0", stages: [${stage}] });\n`,
      "foreign-reason": `import { definePlugin, defineReason, defineStage } from ${api};\nexport default definePlugin({ name: "foreign-reason", version: "1.0.0", stages: [${stage}], reasons: [defineReason("someone-else/MINE", { fallback: "POPULAR", description: "" })] });\n`,
      "bad-fallback": `import { defineReason } from ${api};\ndefineReason("bad-fallback/X", { fallback: "MADE_UP", description: "" });\nexport default {};\n`,
      empty: `export default { name: "empty", version: "1.0.0" };\n`,
      syntax: "export default {{{;\n",
      clash: `import { definePlugin, defineSource } from ${api};\nexport default definePlugin({ name: "clash", version: "1.0.0", sources: [defineSource({ name: "TwoTower", create: () => ({ fetch: async () => [] }) })] });\n`,
    });
    const cases: Array<[string, RegExp]> = [
      ["no-default", /default export/],
      ["bad-version", /version must be semver/],
      ["bad-source", /PascalCase/],
      ["v1-object", /sources\[0\] is not made with defineSource\(\.\.\.\) \(a finished object: plugins now hand over factories\)/],
      ["bad-requires", /unknown store "redis"/],
      ["no-phase", /phase must be one of score, arrange, explore/],
      ["wrong-name", /does not match its folder/],
      ["foreign-reason", /"someone-else\/MINE" is not in the plugin's namespace/],
      ["bad-fallback", /fallback must be a built-in code/],
      ["empty", /no source, filter or stage/],
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
