import { murmur3Utf16 } from "../util/murmur3";
import type { ExperimentConfig } from "./experiment-config";

/**
 * Sticky, deterministic assignment: a user's variant is a pure function of (user id, experiment salt), so every
 * replica and every restart agrees without storing anything, and two experiments with different salts are
 * independent (their hashes are).
 *
 * Two draws per experiment: one decides whether the user is in the experiment at all (`traffic`), the other which
 * variant. Raising `traffic` from 10 % to 50 % therefore only adds users; nobody already in changes variant.
 */

/** One experiment a request was bucketed into. */
export interface Exposure {
  experiment: string;
  variant: string;
}

/** A uniform draw in [0, 1) for (salt, draw, user). */
export function unitHash(salt: string, draw: string, userId: string): number {
  return murmur3Utf16(`${salt}\u0000${draw}\u0000${userId}`) / 4294967296;
}

/** Whether the experiment assigns at `now` (its start/stop window). */
export function isRunning(experiment: Pick<ExperimentConfig, "start" | "stop">, now: number): boolean {
  return (experiment.start === undefined || now >= experiment.start) && (experiment.stop === undefined || now < experiment.stop);
}

/** The user's variant in one experiment, or undefined when outside its traffic share or its time window. Pure. */
export function assignVariant(experiment: ExperimentConfig, userId: string, now: number): string | undefined {
  if (!isRunning(experiment, now)) return undefined;
  const salt = experiment.salt ?? experiment.name;
  if (experiment.traffic < 1 && unitHash(salt, "traffic", userId) >= experiment.traffic) return undefined;
  const total = experiment.variants.reduce((s, v) => s + v.weight, 0);
  let u = unitHash(salt, "variant", userId) * total;
  for (const v of experiment.variants) {
    if (u < v.weight) return v.name;
    u -= v.weight;
  }
  return experiment.variants[experiment.variants.length - 1].name;
}

/** Every experiment the user is in, in config order. Pure. */
export function assignAll(experiments: readonly ExperimentConfig[], userId: string, now: number): Exposure[] {
  const out: Exposure[] = [];
  for (const e of experiments) {
    const variant = assignVariant(e, userId, now);
    if (variant !== undefined) out.push({ experiment: e.name, variant });
  }
  return out;
}

/**
 * The served event's `experiment` field: `name=variant` pairs joined by `;` (names cannot hold either character),
 * e.g. `ranker-v2=treatment;blend-like=control`. Undefined when the request was in no experiment.
 */
export function encodeExposures(exposures: readonly Exposure[]): string | undefined {
  return exposures.length === 0 ? undefined : exposures.map((e) => `${e.experiment}=${e.variant}`).join(";");
}

/** Inverse of encodeExposures; malformed pairs are skipped (a client-sent value is not trusted to be well formed). */
export function decodeExposures(value: string | undefined): Exposure[] {
  if (!value) return [];
  const out: Exposure[] = [];
  for (const pair of value.split(";")) {
    const eq = pair.indexOf("=");
    if (eq <= 0 || eq === pair.length - 1) continue;
    out.push({ experiment: pair.slice(0, eq), variant: pair.slice(eq + 1) });
  }
  return out;
}
