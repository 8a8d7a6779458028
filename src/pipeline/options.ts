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
