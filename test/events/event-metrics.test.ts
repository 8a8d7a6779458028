import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import type { ReelEvent } from "../../src/data/types";
import { createEventConsumer } from "../../src/events/consumer";
import { createMetricsRegistry, registerEventMetrics } from "../../src/schema/metrics";
import { createFileEventLog } from "../../src/stores/event-log-file";
import { createMemoryStateStore } from "../../src/stores/state-store-memory";

describe("event metrics", () => {
  it("exports the log's size, the consumer's lag and its counters from a live consumer (file log)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rf-evmetrics-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const log = await createFileEventLog({ dir });
    onTestFinished(() => log.close());
    const events: ReelEvent[] = Array.from({ length: 20 }, (_, i) => ({ id: `e${i}`, type: "like", userId: "u", videoId: "v", ts: 1_700_000_000_000 + i }));
    await log.append(events);
    const consumer = createEventConsumer({ log, store: createMemoryStateStore(), videoOf: () => undefined, statsEveryMs: 1, pollMs: 5 });
    const registry = createMetricsRegistry();
    registerEventMetrics(registry, { kind: log.kind, stats: () => consumer.stats() });
    await consumer.start();
    await consumer.catchUp(5000);
    await new Promise((r) => setTimeout(r, 30));
    await consumer.stop();
    const text = registry.render();
    expect(text).toContain("# TYPE reelfeed_events_applied_total counter\nreelfeed_events_applied_total 20");
    expect(text).toContain("reelfeed_events_dead_lettered_total 0");
    expect(text).toMatch(/reelfeed_event_log_bytes [1-9]\d*/);
    expect(text).toContain("reelfeed_event_consumer_lag_bytes 0");
  });

  it("names the Redis series by entries and seconds", () => {
    const registry = createMetricsRegistry();
    registerEventMetrics(registry, { kind: "redis", stats: () => ({ applied: 5, deadLettered: 1, retainedRemoved: 7, log: { entries: 42, pendingMs: 1500 } }) });
    const text = registry.render();
    expect(text).toContain("reelfeed_event_log_entries 42");
    expect(text).toContain("reelfeed_event_consumer_lag_seconds 1.5");
    expect(text).toContain("reelfeed_event_log_retained_total 7");
    expect(text).toContain("reelfeed_events_dead_lettered_total 1");
  });
});
