import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ReelfeedError } from "../errors";
import { validatePlugin, type ReelfeedPlugin } from "./plugin";

export { validatePlugin };

/**
 * Loads plugins by name from `plugins/<name>/index.ts` (default export, built with `definePlugin`) at start-up and
 * validates their shape, so a broken plugin stops the server with BAD_PLUGIN naming it instead of failing the
 * first request that reaches it. Name clashes with built-ins are checked by the registry.
 */
export interface LoadPluginsOptions {
  /** Folder holding one folder per plugin. @default "plugins" resolved against the working directory */
  dir?: string;
}

const PLUGIN_NAME = /^[a-z0-9][a-z0-9-]*$/;

export async function loadPlugins(names: readonly string[], options: LoadPluginsOptions = {}): Promise<ReelfeedPlugin[]> {
  const { dir = "plugins" } = options;
  const root = resolve(dir);
  const out: ReelfeedPlugin[] = [];
  for (const name of names) {
    // The name becomes a path: only plain folder names, never "../" or absolute paths.
    if (!PLUGIN_NAME.test(name)) {
      throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": a plugin name is lower-case letters, digits and dashes`, { plugin: name });
    }
    const file = resolve(root, name, "index.ts");
    if (!existsSync(file)) throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": ${file} not found`, { plugin: name, path: file });
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      // definePlugin / defineSource / ... check the plugin as its module runs: their BAD_PLUGIN names the part.
      if (err instanceof ReelfeedError && err.code === "BAD_PLUGIN") {
        if (err.details.plugin === name) throw err;
        throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": ${err.message}`, { ...err.details, plugin: name, path: file });
      }
      throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": ${file} failed to load: ${(err as Error).message}`, { plugin: name, path: file });
    }
    const plugin = validatePlugin(mod.default, name);
    if (out.some((p) => p.name === plugin.name)) throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": listed twice`, { plugin: name });
    out.push(plugin);
  }
  return out;
}
