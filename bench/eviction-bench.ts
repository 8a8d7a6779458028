/**
 * What an event costs once a bounded in-process window is full, i.e. on a server that has been up for a while:
 *
 *   1. the file event log's id window (idempotency, 1M ids by default): appending a page's 20 impressions;
 *   2. the memory state store past maxUsers / maxVideos (200k / 500k by default): applying events of new and of
 *      recent users to new and popular videos.
 *
 * Each is timed while the window is still filling (the cost every benchmark saw) and once it is full and evicting,
 * in rounds, so a cost that grows with the evictions shows.
 *
 *   npx tsx bench/eviction-bench.ts [--ids 1000000] [--users 200000] [--rounds 4]
 */
import { parseArgs } from "node:util";
import type { ReelEvent } from "../src/data/types";
import { createIdWindowDeduper } from "../src/events/id-window-deduper";
import { createMemoryStateStore } from "../src/stores/state-store-memory";

const { values: args } = parseArgs({
  options: {
    ids: { type: "string", default: "1000000" },
    users: { type: "string", default: "200000" },
    rounds: { type: "string", default: "4" },
  },
});
const maxIds = Number(args.ids);
const maxUsers = Number(args.users);
const rounds = Number(args.rounds);

let nextId = 0;
const impression = (userId: string, videoId: string): ReelEvent => ({ id: `imp:${nextId++}`, type: "impression", userId, videoId, ts: 1_700_000_000_000 + nextId, position: 0, surface: "home" });

async function deduperRounds(): Promise<void> {
  const deduper = createIdWindowDeduper({ append: async () => {}, maxIds });
  const page = () => Array.from({ length: 20 }, (_, i) => impression("u", `v${i}`));
  const perRound = 10_000; // pages: 200k events
  const round = async (label: string) => {
    const t0 = performance.now();
    for (let p = 0; p < perRound; p++) await deduper.appendNew(page());
    console.log(`id window (${maxIds.toLocaleString("en-US")} ids), ${label}: ${(((performance.now() - t0) * 1000) / (perRound * 20)).toFixed(2)} µs per event`);
  };
  await round("filling");
  while (deduper.size < maxIds) await deduper.appendNew(page());
  for (let r = 1; r <= rounds; r++) await round(`full, round ${r}`);
}

async function stateStoreRounds(): Promise<void> {
  const store = createMemoryStateStore({ maxUsers, maxVideos: maxUsers });
  let nextUser = 0;
  // Half the events from a new user (evicting the least recently written), half from one of the 50k most recent.
  const batch = (n: number): ReelEvent[] =>
    Array.from({ length: n }, (_, i) => {
      const user = i % 2 === 0 ? `u${nextUser++}` : `u${Math.max(0, nextUser - 1 - ((i * 7919) % 50_000))}`;
      return impression(user, i % 4 === 0 ? `v${nextUser}` : `pop${i % 100}`);
    });
  const perRound = 100_000;
  const round = async (label: string) => {
    const t0 = performance.now();
    for (let b = 0; b < perRound / 100; b++) await store.apply(batch(100), () => undefined);
    console.log(`memory state store (${maxUsers.toLocaleString("en-US")} users / videos), ${label}: ${(((performance.now() - t0) * 1000) / perRound).toFixed(2)} µs per event`);
  };
  await round("filling");
  while (nextUser < 2 * maxUsers) await store.apply(batch(1000), () => undefined);
  for (let r = 1; r <= rounds; r++) await round(`full, round ${r}`);
}

await deduperRounds();
await stateStoreRounds();
