/**
 * How much of a V8 CPU profile (.cpuprofile, main thread only) was spent with a given kind of code on the stack:
 * for each named group, the sampled time of every sample whose stack holds a frame the group's predicate accepts
 * (inclusive time, each sample counted once per group however many of its frames match). bench:feed uses it to
 * attribute server CPU to the auth checks (--mode auth) and to the catalogue's steps (--mode catalog-load).
 */

export interface ProfileFrame {
  functionName: string;
  url: string;
}

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: ProfileFrame & { lineNumber?: number }; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A group: does this frame belong to it? */
export type FramePredicate = (frame: ProfileFrame) => boolean;

export interface ProfileShares {
  /** Sampled time in all, µs: the samples' deltas, idle and GC samples included. */
  totalUs: number;
  /** Sampled time that was not "(idle)": the main thread's busy time. */
  busyUs: number;
  /** Per group: sampled time with one of its frames on the stack, µs. */
  groups: Record<string, number>;
}

/**
 * A group is one predicate (some frame on the stack matches it) or a list of them (each matched by some frame on
 * the stack: "the ONNX session, called from the video embedder").
 */
export type FrameGroup = FramePredicate | readonly FramePredicate[];

export function profileShares(profile: CpuProfile, groups: Record<string, FrameGroup>): ProfileShares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const names = Object.keys(groups);
  const lists = names.map((n) => (Array.isArray(groups[n]) ? (groups[n] as readonly FramePredicate[]) : [groups[n] as FramePredicate]));
  const predicates = lists.flat();
  // Per node: which predicates its stack (the node and its ancestors) satisfies, computed once per node.
  const memo = new Map<number, boolean[]>();
  const membership = (id: number): boolean[] => {
    const known = memo.get(id);
    if (known) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const inherited = up === undefined ? predicates.map(() => false) : membership(up);
    const mine = predicates.map((p, i) => inherited[i] || p(node.callFrame));
    memo.set(id, mine);
    return mine;
  };
  const result: ProfileShares = { totalUs: 0, busyUs: 0, groups: Object.fromEntries(names.map((n) => [n, 0])) };
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    result.totalUs += us;
    if (byId.get(id)?.callFrame.functionName !== "(idle)") result.busyUs += us;
    const hits = membership(id);
    let at = 0;
    lists.forEach((list, g) => {
      if (list.every((_, j) => hits[at + j])) result.groups[names[g]] += us;
      at += list.length;
    });
  });
  return result;
}

/** A predicate matching frames whose script URL contains any of `parts` (e.g. "/src/auth/", "/node_modules/jose/"). */
export const urlContains =
  (...parts: string[]): FramePredicate =>
  (frame) =>
    parts.some((p) => frame.url.includes(p));
