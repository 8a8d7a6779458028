/**
 * What merging concurrent requests into one ranker call costs on the CPU provider (config
 * ranking.mergeRankerRequests): the bench bundle's ranker, in process on one intra-op thread, scores 64 requests of
 * 500 candidates each (a different user per request), once as 64 calls of one request (the shared-inputs graph
 * takes each request's user and context columns once) and once as 16 calls of four merged requests (several users
 * in a batch: the exported graph, every row through the user branches). Rounds alternate the two; prints the
 * process CPU per request for each.
 *
 *   npx tsx bench/ranker-batching.ts [--dir .bench-out/feed] [--size 100000] [--rounds 10] [--merge 4]
 *
 * Needs the scaled bundle `npm run bench:feed` leaves under --dir (bundle-<size>, base-bundle).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load-dataset";
import { loadFeatureArtifacts } from "../src/features/artifacts";
import { buildRankerRows, rankerSpec, type RowContext } from "../src/features/rows";
import { concatBatches } from "../src/features/spec";
import { createOnnxRuntimeSession } from "../src/ranking/onnx-session";
import { BUNDLE_FILES } from "../src/training/bundle";

const { values: args } = parseArgs({
  options: {
    dir: { type: "string", default: ".bench-out/feed" },
    size: { type: "string", default: "100000" },
    rounds: { type: "string", default: "10" },
    merge: { type: "string", default: "4" },
  },
});
const bundleDir = join(args.dir, `bundle-${args.size}`);
const merge = Number(args.merge);
const artifacts = await loadFeatureArtifacts(join(bundleDir, BUNDLE_FILES.features));
const { dataset } = await loadDataset(join(args.dir, "base-bundle", BUNDLE_FILES.data), { format: "generic" });
const session = await createOnnxRuntimeSession({ model: join(bundleDir, "ranker.onnx"), executionProviders: ["cpu"], intraOpNumThreads: 1 });
if (!session.sharedInputs?.length) throw new Error("the ranker has no shared-inputs graph: nothing to compare");
const spec = rankerSpec(artifacts);
const now = dataset.events.reduce((m, e) => Math.max(m, e.ts), 0);
const context: RowContext = { now, device: "mobile", country: "US", surface: "home", language: "en" };
const requests = dataset.users.slice(0, 64).map((user, u) =>
  buildRankerRows(
    artifacts,
    dataset.videos.slice((u * 7) % (dataset.videos.length - 500)).slice(0, 500).map((video) => ({ user, userAgg: undefined, video, videoAgg: undefined, context })),
  ),
);
const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const perRequest: Record<string, number[]> = { alone: [], merged: [] };
for (let round = 0; round < Number(args.rounds); round++) {
  for (const group of round % 2 === 0 ? [1, merge] : [merge, 1]) {
    const t0 = cpuMs();
    let n = 0;
    for (let i = 0; i + group <= requests.length; i += group) {
      await session.run(spec, group === 1 ? requests[i] : concatBatches(spec, requests.slice(i, i + group)));
      n += group;
    }
    perRequest[group === 1 ? "alone" : "merged"].push((cpuMs() - t0) / n);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// The first round warms the session up: left out.
for (const [k, xs] of Object.entries(perRequest)) {
  console.log(`${k.padEnd(6)}: median ${median(xs.slice(1)).toFixed(2)} ms CPU per 500-row request (rounds: ${xs.map((x) => x.toFixed(2)).join(", ")})`);
}
await session.release();
