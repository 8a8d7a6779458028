import { definePlugin, defineStage, type Device, type ScoredCandidate, z } from "reelfeed/plugin";

/** Devices a plugin option may name (the schema's Device enum). */
const DEVICES = ["mobile", "desktop", "tv", "tablet", "unknown"] as const satisfies readonly Device[];

const options = z
  .object({
    /** Longest video kept on the listed devices, seconds. @default 1200 (20 minutes) */
    maxDurationSec: z.number().positive().default(1200),
    /** Devices the rule applies to. @default ["mobile"] */
    devices: z.array(z.enum(DEVICES)).min(1).default(["mobile"]),
  })
  .strict();

/**
 * Re-rank stage "MaxDuration": on small screens, long videos are the ones people abandon. On the listed devices a
 * video longer than `maxDurationSec` is removed from the feed ("too_long_for_device"); other devices are untouched.
 * It removes and keeps the order, so it runs in the "arrange" phase (after score stages such as Freshness, before
 * Exploration, in config order beside Guardrails and Diversity).
 */
export const maxDurationStage = defineStage({
  name: "MaxDuration",
  phase: "arrange",
  options,
  create({ maxDurationSec, devices }) {
    const on = new Set<Device>(devices);
    return {
      apply(query, ranked) {
        if (!on.has(query.context.device)) return { kept: ranked.slice(), removed: [] };
        const kept: ScoredCandidate[] = [];
        const removed = [];
        for (const candidate of ranked) {
          if (candidate.video.durationSec <= maxDurationSec) kept.push(candidate);
          else removed.push({ candidate, reason: "too_long_for_device" });
        }
        return { kept, removed };
      },
    };
  },
});

export default definePlugin({ name: "max-duration", version: "2.0.0", stages: [maxDurationStage] });
