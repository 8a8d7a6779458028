/**
 * Summarises a V8 .cpuprofile (from `npm run bench:feed -- --cpu-prof` or `feed-micro --cpu-prof`): self time and
 * inclusive time per function, heaviest first, so the hot spots of the serving path can be read without DevTools.
 * Given a sampling heap profile (`feed-micro --alloc-prof`, a .heapprofile), the same two lists in bytes allocated
 * per request instead: where the garbage collector's work comes from.
 *
 *   npx tsx bench/feed-profile.ts <file.cpuprofile | file.heapprofile> [--top 40] [--filter src/] [--requests 300]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}
interface HeapNode {
  callFrame: Node["callFrame"];
  selfSize: number;
  children?: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "40" }, filter: { type: "string", default: "" }, requests: { type: "string", default: "300" } },
});
const parsed = JSON.parse(readFileSync(positionals[0], "utf8")) as Profile | HeapProfile;
const top = Number(values.top);
if ("head" in parsed) {
  summariseAllocations(parsed);
  process.exit(0);
}
const profile = parsed;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  self.set(label(n.callFrame), (self.get(label(n.callFrame)) ?? 0) + us);
  // Each label counted once per sample stack (recursion must not double count).
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!.callFrame);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + us);
  }
}
const total = profile.endTime - profile.startTime;
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(8)} ms`;
printTop(`self time (of ${(total / 1e6).toFixed(1)} s profiled)`, self, total, ms);
printTop(`inclusive time (of ${(total / 1e6).toFixed(1)} s profiled)`, inclusive, total, ms);

/**
 * "function file:line", with the column for an anonymous function: tsx emits each module on one line, so the column
 * tells anonymous functions (and inlined callers) apart.
 */
function label(f: Node["callFrame"]): string {
  const url = f.url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, "$1/");
  const col = !f.functionName && f.columnNumber !== undefined ? `:${f.columnNumber}` : "";
  return `${f.functionName || "(anonymous)"} ${url}:${f.lineNumber + 1}${col}`;
}

/** The heaviest `--top` entries of `m` matching `--filter`, each with its share of `total`. */
function printTop(title: string, m: Map<string, number>, total: number, value: (v: number) => string): void {
  console.log(`\n${title}`);
  [...m]
    .filter(([l]) => l.includes(values.filter!))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([l, v]) => console.log(`${value(v)} ${((v / total) * 100).toFixed(1).padStart(5)} %  ${l}`));
}

/** Bytes allocated per request, by function (self) and by call subtree (inclusive), from a sampling heap profile. */
function summariseAllocations(heap: HeapProfile): void {
  const requests = Number(values.requests);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  // Returns the subtree's bytes; each label counted once per path (recursion must not double count).
  const walk = (n: HeapNode, onPath: Set<string>): number => {
    const l = label(n.callFrame);
    let bytes = n.selfSize;
    self.set(l, (self.get(l) ?? 0) + n.selfSize);
    const fresh = !onPath.has(l);
    if (fresh) onPath.add(l);
    for (const c of n.children ?? []) bytes += walk(c, onPath);
    if (fresh) {
      onPath.delete(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + bytes);
    }
    return bytes;
  };
  const total = walk(heap.head, new Set());
  const perRequest = `(${(total / requests / 1024).toFixed(0)} KiB allocated per request over ${requests} requests)`;
  const kib = (bytes: number) => `${(bytes / requests / 1024).toFixed(1).padStart(8)} KiB`;
  printTop(`allocated by the function itself ${perRequest}`, self, total, kib);
  printTop(`allocated in its calls ${perRequest}`, inclusive, total, kib);
}
