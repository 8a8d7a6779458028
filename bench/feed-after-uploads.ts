/**
 * What a catalogue load leaves behind for the feed, in process: the scaled bundle of `npm run bench:feed` served as
 * feed-micro serves it (real loadRuntime and feed service, models on the event loop, sequential requests), then
 * `--uploads` new videos written through the live catalogue's applier (vectors carried as the writer carries them,
 * batches of 100), then the feed again. Prints the process CPU per request, and from a CPU profile (which inflates
 * it somewhat) the main thread's, with the part spent in the content index's neighbour-list answers (`nearestTo`:
 * the list, plus a search of the vectors written since the bundle): before the uploads, after them (once the
 * background builds they started are done), and after enough more uploads for the indexes to rebuild their lists.
 *
 *   npx tsx bench/feed-after-uploads.ts [--dir .bench-out/feed] [--size 100000] [--uploads 15000] [--requests 200]
 */
import { Session } from "node:inspector/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadRuntime } from "../src/app/runtime";
import type { CatalogChange } from "../src/catalog/catalog-changes";
import { validateVideoInput } from "../src/catalog/validate-catalog";
import { configSchema } from "../src/config";
import type { FeedRequest } from "../src/pipeline/feed-page";
import { loadScaledCatalog } from "./feed-bundle";
import { profileShares, type CpuProfile } from "./lib/profile-share";

const { values: args } = parseArgs({
  options: {
    dir: { type: "string", default: ".bench-out/feed" },
    size: { type: "string", default: "100000" },
    uploads: { type: "string", default: "15000" },
    requests: { type: "string", default: "200" },
  },
});
const size = Number(args.size);
const requests = Number(args.requests);
const bundleDir = resolve(join(args.dir!, `bundle-${size}`));
const { dataset, videos, catalog } = await loadScaledCatalog(bundleDir, size);
const config = configSchema.parse({
  ranking: { candidatesToRank: 500, executionProviders: ["cpu"], inferenceThread: "main" },
  paths: { varDir: resolve(join(args.dir!, `var-after-uploads-${process.pid}`)) },
  pipeline: { overload: { maxConcurrentRankings: 1_000_000, maxEventLoopLagMs: 1_000_000 } },
});
const loaded = await loadRuntime({ bundleDir, config, catalogOverride: catalog });
const { applier } = loaded.liveCatalog;
const now = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0) + 3_600_000;

const userIds = dataset.users.map((u) => u.id);
let state = 12345;
const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
const requestsFor = (n: number): FeedRequest[] =>
  Array.from({ length: n }, () => ({ userId: userIds[Math.floor(rand() * userIds.length)], surface: "home", context: { now }, first: 20, debug: false }) as FeedRequest);

// The main thread's CPU per request, and the part of it with the content index's neighbour-list answers on the
// stack (`nearestTo`: the list, plus a search of the vectors written since the bundle), from a CPU profile.
const profiler = new Session();
profiler.connect();
await profiler.post("Profiler.enable");
const measure = async (label: string): Promise<void> => {
  for (const r of requestsFor(30)) await loaded.feed.feed(r);
  const cpu0 = process.cpuUsage();
  await profiler.post("Profiler.start");
  for (const r of requestsFor(requests)) await loaded.feed.feed(r);
  const { profile } = await profiler.post("Profiler.stop");
  const cpu = process.cpuUsage(cpu0);
  const shares = profileShares(profile as unknown as CpuProfile, { nearestTo: (frame) => frame.functionName.endsWith("nearestTo") });
  const perRequest = (us: number) => (us / 1000 / requests).toFixed(2);
  console.log(
    `${label.padEnd(36)} process CPU ${((cpu.user + cpu.system) / 1000 / requests).toFixed(2)} ms/req; main thread ${perRequest(shares.busyUs)} ms/req, ` +
      `of which nearestTo ${perRequest(shares.groups.nearestTo)}`,
  );
};

let made = 0;
const upload = async (count: number): Promise<void> => {
  for (let done = 0; done < count; done += 100) {
    const batch: CatalogChange[] = [];
    for (let i = 0; i < Math.min(100, count - done); i++, made++) {
      const v = videos[(made * 7919) % videos.length];
      const check = validateVideoInput({ id: `upload-${made}`, creatorId: v.creatorId, title: `${v.title} new`, tags: v.tags, category: v.category, durationSec: 60, uploadedAt: now - 60_000, updatedAt: now - 1000 });
      if (!check.ok) throw new Error(check.message);
      batch.push(check.change);
    }
    const carried = await applier.carry(batch.map((c) => (c as Extract<CatalogChange, { kind: "video" }>).video));
    await applier.apply(batch.map((c, j) => ({ ...c, vectors: carried[j] }) as CatalogChange));
  }
};
const settle = async (): Promise<void> => {
  // Background builds started by the uploads (the indexes', and the neighbour lists' delta's): give them time.
  await new Promise((r) => setTimeout(r, 8000));
  await Promise.all(Object.values(loaded.runtime.vectors).map((index) => (index as { whenBuilt?: () => Promise<void> } | undefined)?.whenBuilt?.()));
};

const uploads = Number(args.uploads);
await measure("before the uploads");
await upload(uploads);
await settle();
await measure(`after ${uploads} uploads`);
await upload(Math.ceil(size * 0.25));
await settle();
await measure(`after ${uploads + Math.ceil(size * 0.25)} uploads (lists rebuilt)`);
await loaded.close?.();
process.exit(0);
