import type { Device } from "../../src/data/types";
import { definePlugin, type RerankStage } from "../../src/pipeline/types";

/**
 * Re-rank stage "MaxDuration": on small screens, long videos are the ones people abandon. On the listed devices a
 * video longer than `maxDurationSec` is removed from the feed ("too_long_for_device"); other devices are untouched.
 *
 * Options (config `pipeline.stages[].options`):
 * - maxDurationSec (default 1200, 20 minutes);
 * - devices (default ["mobile"]).
 */
function readOptions(raw: Record<string, unknown>): { maxDurationSec: number; devices: ReadonlySet<Device> } {
  const { maxDurationSec = 1200, devices = ["mobile"] } = raw;
  if (typeof maxDurationSec !== "number" || !(maxDurationSec > 0)) {
    throw new Error(`MaxDuration options.maxDurationSec: expected a positive number, got ${JSON.stringify(maxDurationSec)}`);
  }
  if (!Array.isArray(devices) || devices.some((d) => typeof d !== "string")) {
    throw new Error(`MaxDuration options.devices: expected a list of device names, got ${JSON.stringify(devices)}`);
  }
  return { maxDurationSec, devices: new Set(devices as Device[]) };
}

export const maxDurationStage: RerankStage = {
  name: "MaxDuration",
  apply(query, ranked, ctx) {
    const { maxDurationSec, devices } = readOptions(ctx.options);
    if (!devices.has(query.context.device)) return { kept: [...ranked], removed: [] };
    const kept = ranked.filter((c) => c.video.durationSec <= maxDurationSec);
    const removed = ranked.filter((c) => c.video.durationSec > maxDurationSec).map((candidate) => ({ candidate, reason: "too_long_for_device" }));
    return { kept, removed };
  },
};

export default definePlugin({ name: "max-duration", version: "1.0.0", stages: [maxDurationStage] });
