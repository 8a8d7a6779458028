/**
 * Top-k selection over a dense score array with a bounded min-heap: O(n log k) instead of sorting all n scores,
 * which matters when every user is scored against the whole catalog.
 */

/**
 * Indices of the k highest scores, best first. Entries for which `skip(index)` is true, and scores that are not
 * finite or are ≤ `floor`, are never selected. Ties go to the lower index, so results are deterministic.
 */
export function topKIndices(
  scores: ArrayLike<number>,
  k: number,
  skip: (index: number) => boolean = () => false,
  floor = -Infinity,
): number[] {
  if (k <= 0) return [];
  const heapIdx = new Int32Array(k);
  const heapVal = new Float64Array(k);
  let size = 0;
  // "a is worse than b": lower score, or equal score and higher index.
  const worse = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heapVal[l], heapIdx[l], heapVal[m], heapIdx[m])) m = l;
      if (r < size && worse(heapVal[r], heapIdx[r], heapVal[m], heapIdx[m])) m = r;
      if (m === i) return;
      const tv = heapVal[i];
      const ti = heapIdx[i];
      heapVal[i] = heapVal[m];
      heapIdx[i] = heapIdx[m];
      heapVal[m] = tv;
      heapIdx[m] = ti;
      i = m;
    }
  };
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (!(v > floor) || !Number.isFinite(v)) continue;
    if (size === k && !worse(heapVal[0], heapIdx[0], v, i)) continue;
    if (skip(i)) continue;
    if (size < k) {
      // Sift up.
      let c = size++;
      heapVal[c] = v;
      heapIdx[c] = i;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if (!worse(heapVal[c], heapIdx[c], heapVal[parent], heapIdx[parent])) break;
        const tv = heapVal[c];
        const ti = heapIdx[c];
        heapVal[c] = heapVal[parent];
        heapIdx[c] = heapIdx[parent];
        heapVal[parent] = tv;
        heapIdx[parent] = ti;
        c = parent;
      }
    } else {
      heapVal[0] = v;
      heapIdx[0] = i;
      siftDown(0);
    }
  }
  const out: { v: number; i: number }[] = [];
  for (let t = 0; t < size; t++) out.push({ v: heapVal[t], i: heapIdx[t] });
  out.sort((a, b) => b.v - a.v || a.i - b.i);
  return out.map((e) => e.i);
}
