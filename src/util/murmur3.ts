/**
 * MurmurHash3 x86 32-bit (Appleby's reference: little-endian 4-byte blocks), the one copy every hash in reelfeed
 * uses: the seen-forever Bloom filter (src/stores/seen-bloom.ts) and experiment assignment
 * (src/experiments/assignment.ts). Both persist or expose what it returns, so its output must never change.
 */

/** Over a string whose char codes are bytes (0..255): no Buffer, for hot paths that already hold such a string. */
export function murmur3Latin1(bytes: string, seed = 0): number {
  let h = seed >>> 0;
  const n = bytes.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes.charCodeAt(i) | (bytes.charCodeAt(i + 1) << 8) | (bytes.charCodeAt(i + 2) << 16) | (bytes.charCodeAt(i + 3) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= bytes.charCodeAt(blocks + 2) << 16;
    if (tail >= 2) k ^= bytes.charCodeAt(blocks + 1) << 8;
    k ^= bytes.charCodeAt(blocks);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Over bytes. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  return murmur3Latin1(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1"), seed);
}

/** Over a string's UTF-16 code units as little-endian byte pairs (what experiment assignment has always hashed). */
export function murmur3Utf16(key: string, seed = 0): number {
  return murmur3Latin1(Buffer.from(key, "utf16le").toString("latin1"), seed);
}
