import { describe, expect, it } from "vitest";
import { EVENT_TYPES } from "../../src/data/types";
import { validateEvent } from "../../src/events/validate-event";
import { sampleEvent } from "./sample-events";

const NOW = Date.UTC(2025, 0, 15);
const opts = { now: () => NOW };

describe("validateEvent", () => {
  it.each(EVENT_TYPES)("accepts a %s event with its fields, normalized", (type) => {
    const raw = sampleEvent(type, 1, NOW - 1000);
    const check = validateEvent({ ...raw, junk: "dropped" }, opts);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.event.type).toBe(type);
    expect(check.event.country).toBe("US");
    expect("junk" in check.event).toBe(false);
    for (const [k, v] of Object.entries(raw)) if (k !== "country") expect((check.event as unknown as Record<string, unknown>)[k]).toEqual(v);
  });

  it.each([
    [{ type: "watch" }, "MISSING_FIELD", "id"],
    [{ videoId: undefined }, "MISSING_FIELD", "videoId"],
    [{ watchedSec: -1 }, "INVALID_FIELD", "watchedSec"],
    [{ watchedSec: "12" }, "INVALID_FIELD", "watchedSec"],
    [{ videoDurationSec: null }, "MISSING_FIELD", "videoDurationSec"],
    [{ type: "teleport" }, "UNKNOWN_TYPE", "type"],
    [{ ts: NOW + 3_600_000 }, "FUTURE_TIMESTAMP", "ts"],
    [{ ts: NOW - 40 * 365 * 86_400_000 }, "STALE_TIMESTAMP", "ts"],
    [{ ts: "yesterday" }, "INVALID_FIELD", "ts"],
    [{ device: "fridge" }, "INVALID_FIELD", "device"],
    [{ country: "USA" }, "INVALID_FIELD", "country"],
    [{ userId: "" }, "INVALID_FIELD", "userId"],
  ])("rejects %j with %s on %s", (patch, code, field) => {
    const raw = { ...sampleEvent("watch", 1, NOW - 1000), ...patch } as Record<string, unknown>;
    if ("type" in patch && patch.type === "watch") delete raw.id;
    const check = validateEvent(raw, opts);
    expect(check).toMatchObject({ ok: false, code, field });
  });

  it("checks type-specific fields and ranges", () => {
    const bad = (type: Parameters<typeof sampleEvent>[0], patch: Record<string, unknown>) =>
      validateEvent({ ...sampleEvent(type, 1, NOW - 1), ...patch }, opts);
    expect(bad("progress", { percent: 33 })).toMatchObject({ ok: false, code: "INVALID_FIELD", field: "percent" });
    expect(bad("impression", { surface: "moon" })).toMatchObject({ ok: false, field: "surface" });
    expect(bad("impression", { position: undefined })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "position" });
    expect(bad("impression", { served: { modelVersion: "m", scores: { click: "x" }, score: 1, sources: [] } })).toMatchObject({ ok: false, field: "served.scores.click" });
    expect(bad("dwell", { scrolledPast: "yes" })).toMatchObject({ ok: false, field: "scrolledPast" });
    expect(bad("comment", { text: "  " })).toMatchObject({ ok: false, field: "text" });
    expect(bad("follow", { followeeId: "u1" })).toMatchObject({ ok: false, field: "followeeId" });
    expect(bad("subscribe", { creatorId: 5 })).toMatchObject({ ok: false, field: "creatorId" });
    expect(bad("report", { reason: undefined })).toMatchObject({ ok: false, code: "MISSING_FIELD", field: "reason" });
    expect(bad("search", { clickedVideoIds: [1] })).toMatchObject({ ok: false, field: "clickedVideoIds" });
    expect(validateEvent("watch", opts)).toMatchObject({ ok: false, code: "INVALID_EVENT" });
    expect(validateEvent([1], opts)).toMatchObject({ ok: false, code: "INVALID_EVENT" });
  });

  it("accepts ISO timestamps and small clock skew, treats nulls as absent", () => {
    const iso = validateEvent({ ...sampleEvent("like", 1), ts: "2025-01-14T12:00:00.000Z", sessionId: null }, opts);
    expect(iso).toMatchObject({ ok: true, event: { ts: Date.UTC(2025, 0, 14, 12) } });
    if (iso.ok) expect("sessionId" in iso.event).toBe(false);
    expect(validateEvent(sampleEvent("like", 1, NOW + 60_000), opts).ok).toBe(true);
    expect(validateEvent(sampleEvent("like", 1, NOW + 60_000), { ...opts, maxFutureSkewMs: 1000 })).toMatchObject({ code: "FUTURE_TIMESTAMP" });
  });
});
