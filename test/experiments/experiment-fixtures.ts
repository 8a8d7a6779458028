import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { configSchema, type ReelfeedConfig } from "../../src/config";
import { trainBundle } from "../../src/training/train-pipeline";
import { silentProgress } from "../../src/util/progress";

/** A small real bundle (synthetic platform, one epoch): what the serving tests need, in seconds. */
export async function trainTinyBundle(out: string, seed = 7): Promise<void> {
  await trainBundle({
    synthetic: { users: 150, videos: 200, days: 7, seed: 21 },
    out,
    refit: false,
    seed,
    twoTower: { epochs: 1, dim: 16 },
    ranker: { epochs: 1, maxExamples: 5000 },
    contentDim: 16,
    ks: [10],
    progress: silentProgress,
  });
}

/** A copy of a bundle under another version (and optionally a patched manifest / report): a "new" bundle without training. */
export async function copyBundle(
  from: string,
  to: string,
  version: string,
  patch: { manifest?: (m: Record<string, any>) => void; report?: (r: Record<string, any>) => void } = {},
): Promise<string> {
  await cp(from, to, { recursive: true });
  const manifestPath = join(to, "manifest.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Record<string, any>;
  manifest.version = version;
  patch.manifest?.(manifest);
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  if (patch.report) {
    const reportPath = join(to, "report.json");
    const report = JSON.parse(await readFile(reportPath, "utf8")) as Record<string, any>;
    patch.report(report);
    await writeFile(reportPath, JSON.stringify(report, null, 2));
  }
  return to;
}

/** Serving config for tests: generous budgets (this process trains and serves on 2 shared cores), no load shedding. */
export function testConfig(varDir: string, extra: Record<string, unknown> = {}): ReelfeedConfig {
  const defaults = configSchema.parse({});
  return configSchema.parse({
    server: { host: "127.0.0.1" },
    paths: { varDir, bootstrapData: join(varDir, "no-such-data") },
    ranking: { executionProviders: ["cpu"], timeoutMs: 5000 },
    pipeline: {
      sources: defaults.pipeline.sources.map((s) => ({ ...s, timeoutMs: 5000 })),
      overload: { maxEventLoopLagMs: 1_000_000 },
    },
    ...extra,
  });
}
