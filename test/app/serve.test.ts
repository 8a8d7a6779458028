import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOOTSTRAP_SYNTHETIC, bootstrapBundleDir, ensureBundle, resolveBundle } from "../../src/app/serve";
import { loadConfig } from "../../src/config";
import { BUNDLE_FILES, BUNDLE_FORMAT } from "../../src/training/bundle";
import { registerBundle } from "../../src/training/registry";
import { createProgress } from "../../src/util/progress";

/**
 * Which bundle `reelfeed serve` serves: --bundle, then paths.bundle (REELFEED_BUNDLE), then the registry's active
 * bundle, else one is trained (from the bootstrap data, or synthetic when that folder is missing). The training
 * itself is covered by the training tests and the manual start; here the decision is checked on real config
 * loading and a real registry file.
 */

let dir: string;
let registered: string;

/** A folder readManifest accepts (the registry reads nothing else). */
async function fakeBundle(path: string, version: string): Promise<void> {
  await mkdir(path, { recursive: true });
  const manifest = {
    format: BUNDLE_FORMAT,
    version,
    createdAt: new Date(0).toISOString(),
    source: "test",
    metrics: {},
    models: { userTower: { file: BUNDLE_FILES.userTower }, ranker: { file: BUNDLE_FILES.ranker } },
    embeddings: { videoIds: BUNDLE_FILES.videoIds },
  };
  await writeFile(join(path, BUNDLE_FILES.manifest), JSON.stringify(manifest));
  for (const f of [BUNDLE_FILES.userTower, BUNDLE_FILES.ranker, BUNDLE_FILES.videoIds, BUNDLE_FILES.features]) await writeFile(join(path, f), "");
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-serve-"));
  registered = join(dir, "bundles", "registered");
  await fakeBundle(registered, "v-registered");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (env: Record<string, string>) => loadConfig({ env: { REELFEED_BOOTSTRAP_DATA: join(dir, "missing-data"), ...env } });

describe("resolveBundle", () => {
  it("prefers --bundle over REELFEED_BUNDLE over the registry", async () => {
    const varDir = join(dir, "var-order");
    await registerBundle(varDir, registered);
    const cfg = config({ REELFEED_VAR_DIR: varDir, REELFEED_BUNDLE: join(dir, "from-env") });
    expect(resolveBundle({ flag: join(dir, "from-flag"), config: cfg })).toEqual({ kind: "existing", path: resolve(dir, "from-flag"), from: "flag" });
    expect(resolveBundle({ config: cfg })).toEqual({ kind: "existing", path: resolve(dir, "from-env"), from: "config" });
    expect(resolveBundle({ config: config({ REELFEED_VAR_DIR: varDir }) })).toEqual({ kind: "existing", path: resolve(registered), from: "registry" });
  });

  it("ignores a registry whose active bundle folder is gone", async () => {
    const varDir = join(dir, "var-gone");
    const gone = join(dir, "bundles", "gone");
    await fakeBundle(gone, "v-gone");
    await registerBundle(varDir, gone);
    await rm(gone, { recursive: true });
    expect(resolveBundle({ config: config({ REELFEED_VAR_DIR: varDir }) }).kind).toBe("train");
  });

  it("with nothing at all, trains from the bootstrap data when the folder exists", async () => {
    const varDir = join(dir, "var-empty");
    const data = join(dir, "some-data");
    await mkdir(data, { recursive: true });
    const choice = resolveBundle({ config: config({ REELFEED_VAR_DIR: varDir, REELFEED_BOOTSTRAP_DATA: data }) });
    expect(choice).toMatchObject({ kind: "train", data: resolve(data), out: resolve(varDir, "bundles", "bootstrap") });
    expect(choice.kind === "train" && choice.reason).toMatch(/no model bundle yet.*training one from/);
  });

  it("with nothing at all and no bootstrap data, trains a synthetic platform and says so", () => {
    const varDir = join(dir, "var-empty");
    const cfg = config({ REELFEED_VAR_DIR: varDir });
    const choice = resolveBundle({ config: cfg });
    expect(choice).toMatchObject({ kind: "train", synthetic: BOOTSTRAP_SYNTHETIC, out: bootstrapBundleDir(cfg) });
    expect(choice.kind === "train" && choice.reason).toMatch(/does not exist: training on a synthetic platform \(1000 users, 2000 videos, 30 days\)/);
  });
});

describe("ensureBundle", () => {
  it("returns an existing choice as is and names where it came from", async () => {
    const lines: string[] = [];
    const progress = createProgress({ stream: { write: (s: string) => (lines.push(s), true), isTTY: false } as never });
    const path = await ensureBundle({ kind: "existing", path: registered, from: "registry" }, config({}), progress);
    expect(path).toBe(registered);
    expect(lines.join("")).toContain("the registry's active bundle");
  });
});
