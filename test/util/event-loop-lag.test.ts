import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createEventLoopLagMonitor } from "../../src/util/event-loop-lag";

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the event loop is held
  }
}

describe("event-loop lag monitor", () => {
  it("reads a lasting backlog, not one long pause, and falls back once the loop runs freely", async () => {
    const monitor = createEventLoopLagMonitor({ intervalMs: 10, window: 5 });
    try {
      await sleep(80);
      expect(monitor.lagMs()).toBeLessThan(30);
      // One long pause (a major GC, a synchronous start-up step) among free-running ticks: not a backlog.
      busy(300);
      await sleep(40);
      expect(monitor.lagMs()).toBeLessThan(30);
      // A saturated loop: tasks of 60 ms back to back for 0.6 s, every timer tick waits behind one.
      const until = performance.now() + 600;
      while (performance.now() < until) {
        busy(60);
        await yieldToLoop();
      }
      expect(monitor.lagMs()).toBeGreaterThan(30);
      await sleep(300);
      expect(monitor.lagMs()).toBeLessThan(30);
    } finally {
      monitor.stop();
    }
  });
});
