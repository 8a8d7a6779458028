import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";
import { readManifest } from "./bundle";

/**
 * The model registry: a list of trained bundles and which one is active (served by default). A JSON file in the
 * var directory; bundles stay wherever they were written.
 */
export interface RegistryEntry {
  version: string;
  path: string;
  createdAt: string;
  source: string;
  metrics: Record<string, number>;
}

export interface RegistryFile {
  active?: string;
  bundles: RegistryEntry[];
}

export function registryPath(varDir: string): string {
  return join(varDir, "registry.json");
}

export function readRegistry(varDir: string): RegistryFile {
  const path = registryPath(varDir);
  if (!existsSync(path)) return { bundles: [] };
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RegistryFile;
  } catch (err) {
    throw new ReelfeedError("BAD_FILE", `${path}: invalid registry JSON (${(err as Error).message})`, { path });
  }
}

/** Adds (or refreshes) a bundle; makes it active when `activate` is true or nothing is active yet. */
export async function registerBundle(varDir: string, bundleDir: string, activate = true): Promise<RegistryEntry> {
  const manifest = await readManifest(bundleDir);
  const registry = readRegistry(varDir);
  const entry: RegistryEntry = {
    version: manifest.version,
    path: resolve(bundleDir),
    createdAt: manifest.createdAt,
    source: manifest.source,
    metrics: manifest.metrics,
  };
  registry.bundles = [...registry.bundles.filter((b) => b.version !== entry.version && b.path !== entry.path), entry];
  if (activate || !registry.active) registry.active = entry.version;
  await writeFileAtomic(registryPath(varDir), JSON.stringify(registry, null, 2) + "\n");
  return entry;
}

export async function activateBundle(varDir: string, version: string): Promise<RegistryEntry> {
  const registry = readRegistry(varDir);
  const entry = registry.bundles.find((b) => b.version === version);
  if (!entry) throw new ReelfeedError("NOT_FOUND", `no bundle ${JSON.stringify(version)} in ${registryPath(varDir)}`, { version });
  registry.active = version;
  await writeFileAtomic(registryPath(varDir), JSON.stringify(registry, null, 2) + "\n");
  return entry;
}

/** The active bundle's folder when it still exists. */
export function activeBundlePath(varDir: string): string | undefined {
  const registry = readRegistry(varDir);
  const entry = registry.bundles.find((b) => b.version === registry.active);
  return entry && existsSync(join(entry.path, "manifest.json")) ? entry.path : undefined;
}
