import { z } from "zod";
import { ReelfeedError } from "../errors";

/**
 * Parses a component's options (a source's or stage's `options` from config, or a factory's argument) with its
 * zod schema. Unknown keys are rejected: a typo in config ("windowSise") must fail at start-up, not silently fall
 * back to a default. The error is BAD_CONFIG and names the key; the pipeline definition prefixes the entry's path.
 */
export function parseOptions<S extends z.ZodTypeAny>(component: string, schema: S, options: unknown): z.infer<S> {
  const parsed = schema.safeParse(options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = ["options", ...issue.path].join(".");
    const message =
      issue.code === "unrecognized_keys" ? `unknown option(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}` : issue.message;
    throw new ReelfeedError("BAD_CONFIG", `${component} ${key}: ${message}`, { component, key, reason: message });
  }
  return parsed.data;
}

/**
 * For a component that takes options both at construction (factory argument) and per request (the entry's
 * `options` in StageContext/SourceContext): returns a resolver that merges the request's options over the
 * factory's, parsed once per distinct options object (the pipeline passes the same object on every request).
 */
export function optionsResolver<S extends z.ZodTypeAny>(
  component: string,
  schema: S,
  factoryOptions: object | undefined,
): { base: z.infer<S>; resolve(requestOptions: Record<string, unknown> | undefined): z.infer<S> } {
  const base = parseOptions(component, schema, factoryOptions ?? {});
  const cache = new WeakMap<object, z.infer<S>>();
  return {
    base,
    resolve(requestOptions) {
      if (!requestOptions || Object.keys(requestOptions).length === 0) return base;
      let parsed = cache.get(requestOptions);
      if (!parsed) {
        parsed = parseOptions(component, schema, { ...factoryOptions, ...requestOptions });
        cache.set(requestOptions, parsed);
      }
      return parsed;
    },
  };
}
