import { readFile } from "node:fs/promises";
import { ReelfeedError } from "../errors";
import { writeFileAtomic } from "../util/fs";

/**
 * Per-video neighbour lists in CSR form, strongest first: the shape both shipped neighbour models share — the
 * collaborative item neighbours (item-neighbours.ts) and the content neighbours (content-neighbours.ts) — and
 * their one file format: a JSON header line (the format name, the ids, the sizes and any model fields), then the
 * three arrays, little-endian.
 */
export interface NeighbourLists {
  /** The lists' videos; lists refer to them by index. */
  readonly itemIds: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Neighbours of item i are targets[offsets[i] .. offsets[i + 1]), strongest first. */
  readonly offsets: Uint32Array;
  readonly targets: Uint32Array;
  readonly weights: Float32Array;
}

/** Writes `lists` atomically under the format name `format`; `fields` join the header (plain JSON values). */
export async function saveNeighbourLists(path: string, format: string, lists: NeighbourLists, fields: Record<string, unknown> = {}): Promise<void> {
  const header = Buffer.from(
    JSON.stringify({ format, ...fields, items: lists.itemIds.length, entries: lists.targets.length, itemIds: lists.itemIds }) + "\n",
    "utf8",
  );
  const body = [lists.offsets, lists.targets, lists.weights].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  await writeFileAtomic(path, Buffer.concat([header, ...body]));
}

/**
 * Reads lists written by {@link saveNeighbourLists} in format `format`, checked (sizes, offsets, targets in
 * range); returns them with the header, whose own fields the caller validates. Anything wrong throws BAD_BUNDLE
 * naming the file.
 */
export async function loadNeighbourLists(path: string, format: string): Promise<{ lists: NeighbourLists; header: Record<string, unknown> }> {
  const buf = await readFile(path);
  const bad = (why: string) => new ReelfeedError("BAD_BUNDLE", `${path}: ${why}`, { path });
  const nl = buf.indexOf(0x0a);
  if (nl < 0) throw bad("no header line");
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(0, nl).toString("utf8")) as Record<string, unknown>;
  } catch (err) {
    throw bad(`invalid header (${(err as Error).message})`);
  }
  if (header === null || typeof header !== "object") throw bad("invalid header (not an object)");
  const { items, entries, itemIds } = header;
  if (header.format !== format) throw bad(`unsupported format ${JSON.stringify(header.format)} (expected ${format})`);
  if (!Number.isInteger(items) || !Number.isInteger(entries) || !Array.isArray(itemIds) || itemIds.length !== items || !itemIds.every((id) => typeof id === "string")) {
    throw bad("header fields missing or inconsistent");
  }
  const n = items as number;
  const e = entries as number;
  const expected = (n + 1) * 4 + e * 8;
  const body = buf.subarray(nl + 1);
  if (body.byteLength !== expected) throw bad(`expected ${expected} bytes of neighbour lists, found ${body.byteLength}`);
  // Copy into aligned buffers: the header's length leaves the body at any offset.
  const copy = (from: number, bytes: number) => {
    const out = new ArrayBuffer(bytes);
    new Uint8Array(out).set(body.subarray(from, from + bytes));
    return out;
  };
  const offsets = new Uint32Array(copy(0, (n + 1) * 4));
  const targets = new Uint32Array(copy((n + 1) * 4, e * 4));
  const weights = new Float32Array(copy((n + 1) * 4 + e * 4, e * 4));
  if (offsets[n] !== e) throw bad("neighbour offsets do not match the entry count");
  for (let i = 0; i < n; i++) if (offsets[i] > offsets[i + 1]) throw bad(`neighbour offsets decrease at item ${i}`);
  for (let q = 0; q < e; q++) if (targets[q] >= n) throw bad(`neighbour ${q} points past the item list`);
  const ids = itemIds as string[];
  return { lists: { itemIds: ids, index: new Map(ids.map((id, i) => [id, i])), offsets, targets, weights }, header };
}
