import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ReelfeedError } from "../errors";
import type { ReelfeedPlugin, StoreName } from "./types";

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
const COMPONENT_NAME = /^[A-Z][A-Za-z0-9]*$/;
const VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;
const STORE_NAMES: readonly StoreName[] = ["twoTower", "content", "userTower", "ranker", "graph", "state"];

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
      throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": ${file} failed to load: ${(err as Error).message}`, { plugin: name, path: file });
    }
    const plugin = validatePlugin(mod.default, name);
    if (out.some((p) => p.name === plugin.name)) throw new ReelfeedError("BAD_PLUGIN", `plugin "${name}": listed twice`, { plugin: name });
    out.push(plugin);
  }
  return out;
}

/**
 * Checks that `value` is a well-formed plugin (the folder's `expectedName` when given) and returns it typed.
 * Every problem is a BAD_PLUGIN error naming the plugin and the offending part.
 */
export function validatePlugin(value: unknown, expectedName?: string): ReelfeedPlugin {
  const label = expectedName ?? (isObject(value) && typeof value.name === "string" ? value.name : "?");
  const fail = (message: string): never => {
    throw new ReelfeedError("BAD_PLUGIN", `plugin "${label}": ${message}`, { plugin: label });
  };
  if (!isObject(value)) return fail("the module has no default export object (export default definePlugin({...}))");
  const { name, version, sources, stages } = value;
  if (typeof name !== "string" || !PLUGIN_NAME.test(name)) fail("name must be a lower-case string of letters, digits and dashes");
  if (expectedName !== undefined && name !== expectedName) fail(`name "${String(name)}" does not match its folder "${expectedName}"`);
  if (typeof version !== "string" || !VERSION.test(version)) fail(`version must be semver ("1.0.0"), got ${JSON.stringify(version)}`);
  if (sources !== undefined && !Array.isArray(sources)) fail("sources must be an array");
  if (stages !== undefined && !Array.isArray(stages)) fail("stages must be an array");
  const srcs = (sources ?? []) as unknown[];
  const stgs = (stages ?? []) as unknown[];
  if (srcs.length + stgs.length === 0) fail("provides no source and no stage");
  const names = new Set<string>();
  const checkName = (kind: string, i: number, c: Record<string, unknown>): void => {
    if (typeof c.name !== "string" || !COMPONENT_NAME.test(c.name)) fail(`${kind}[${i}].name must be PascalCase, got ${JSON.stringify(c.name)}`);
    if (names.has(c.name as string)) fail(`${kind}[${i}].name "${String(c.name)}" is used twice`);
    names.add(c.name as string);
  };
  srcs.forEach((s, i) => {
    if (!isObject(s)) return fail(`sources[${i}] is not an object`);
    checkName("sources", i, s);
    if (typeof s.fetch !== "function") fail(`sources[${i}] ("${String(s.name)}") has no fetch(query, ctx) function`);
    if (s.requires !== undefined) {
      if (!Array.isArray(s.requires)) fail(`sources[${i}].requires must be an array`);
      for (const r of s.requires as unknown[]) {
        if (!STORE_NAMES.includes(r as StoreName)) fail(`sources[${i}].requires names unknown store ${JSON.stringify(r)} (known: ${STORE_NAMES.join(", ")})`);
      }
    }
  });
  stgs.forEach((s, i) => {
    if (!isObject(s)) return fail(`stages[${i}] is not an object`);
    checkName("stages", i, s);
    if (typeof s.apply !== "function") fail(`stages[${i}] ("${String(s.name)}") has no apply(query, ranked, ctx) function`);
  });
  return value as unknown as ReelfeedPlugin;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
