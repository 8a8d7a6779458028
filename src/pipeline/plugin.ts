import { ReelfeedError } from "../errors";
import { STAGE_PHASES, type FilterFactory, type ReasonDefinition, type SourceFactory, type StageFactory } from "./components";

/**
 * A plugin: a named, versioned bundle of component factories (made with defineSource / defineFilter / defineStage,
 * the path the built-ins take too) and the reason codes its components give. Loaded by name from config
 * (`pipeline.plugins`), its components are then named in `pipeline.sources` / `filters` / `stages` like built-ins.
 */
export interface ReelfeedPlugin {
  /** The plugin's folder name: lower-case letters, digits and dashes. It namespaces the plugin's reason codes. */
  name: string;
  /** Semver ("1.2.0"): shown in traces' component origins and the start-up table of contents. */
  version: string;
  sources?: ReadonlyArray<SourceFactory<any>>;
  filters?: ReadonlyArray<FilterFactory<any>>;
  stages?: ReadonlyArray<StageFactory<any>>;
  /** Every reason code the plugin's components give that is not built-in (defineReason("<name>/<CODE>", ...)). */
  reasons?: readonly ReasonDefinition[];
}

const PLUGIN_NAME = /^[a-z0-9][a-z0-9-]*$/;
const COMPONENT_NAME = /^[A-Z][A-Za-z0-9]*$/;
const VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

/**
 * Types and checks a plugin where it is written: an ill-formed one throws BAD_PLUGIN naming the plugin when its
 * module is imported (at start-up, by the loader), not when a request reaches it.
 */
export function definePlugin<P extends ReelfeedPlugin>(plugin: P): P {
  validatePlugin(plugin);
  return plugin;
}

/**
 * Checks that `value` is a well-formed plugin (the folder's `expectedName` when given) and returns it typed.
 * Every problem is a BAD_PLUGIN error naming the plugin and the offending part.
 */
export function validatePlugin(value: unknown, expectedName?: string): ReelfeedPlugin {
  const label = expectedName ?? (isObject(value) && typeof value.name === "string" ? value.name : "?");
  const fail = (message: string, extra: Record<string, unknown> = {}): never => {
    throw new ReelfeedError("BAD_PLUGIN", `plugin "${label}": ${message}`, { plugin: label, ...extra });
  };
  if (!isObject(value)) return fail("the module has no default export object (export default definePlugin({...}))");
  const { name, version, sources, filters, stages, reasons } = value;
  if (typeof name !== "string" || !PLUGIN_NAME.test(name)) fail("name must be a lower-case string of letters, digits and dashes");
  if (expectedName !== undefined && name !== expectedName) fail(`name "${String(name)}" does not match its folder "${expectedName}"`);
  if (typeof version !== "string" || !VERSION.test(version)) fail(`version must be semver ("1.0.0"), got ${JSON.stringify(version)}`);
  const lists = { sources, filters, stages, reasons };
  for (const [key, list] of Object.entries(lists)) if (list !== undefined && !Array.isArray(list)) fail(`${key} must be an array`);
  const kinds = { sources: "source", filters: "filter", stages: "stage" } as const;
  const definer = { source: "defineSource", filter: "defineFilter", stage: "defineStage" } as const;
  let components = 0;
  const names = new Set<string>();
  for (const key of ["sources", "filters", "stages"] as const) {
    ((lists[key] ?? []) as unknown[]).forEach((c, i) => {
      components++;
      const kind = kinds[key];
      const at = `${key}[${i}]`;
      if (!isObject(c) || c.kind !== kind || typeof c.create !== "function") {
        // The v1 contract handed over finished objects; say what changed rather than "not a factory".
        const hint = isObject(c) && (typeof c.fetch === "function" || typeof c.apply === "function") ? " (a finished object: plugins now hand over factories)" : "";
        fail(`${at} is not made with ${definer[kind]}(...)${hint}`);
      }
      const f = c as Record<string, unknown>;
      if (typeof f.name !== "string" || !COMPONENT_NAME.test(f.name)) fail(`${at}.name must be PascalCase, got ${JSON.stringify(f.name)}`);
      if (names.has(f.name as string)) fail(`${at}.name "${String(f.name)}" is used twice`);
      names.add(f.name as string);
      if (kind === "stage" && !STAGE_PHASES.includes(f.phase as never)) fail(`${at} ("${String(f.name)}") has no phase (${STAGE_PHASES.join(", ")})`);
    });
  }
  if (components === 0) fail("provides no source, filter or stage");
  const codes = new Set<string>();
  ((reasons ?? []) as unknown[]).forEach((r, i) => {
    if (!isObject(r) || typeof r.qualifiedCode !== "string" || typeof r.reason !== "function") fail(`reasons[${i}] is not made with defineReason(...)`);
    const code = (r as Record<string, unknown>).qualifiedCode as string;
    if (!code.startsWith(`${String(name)}/`)) fail(`reasons[${i}] "${code}" is not in the plugin's namespace ("${String(name)}/...")`, { reason: code });
    if (codes.has(code)) fail(`reasons[${i}] "${code}" is declared twice`, { reason: code });
    codes.add(code);
  });
  return value as unknown as ReelfeedPlugin;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
