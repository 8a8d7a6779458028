import { ReelfeedError } from "../errors";
import { murmur3Latin1 } from "../util/murmur3";

/**
 * A scalable Bloom filter of every video a user watched, started or clicked: the seen filter's memory of watches
 * older than the exact recent set (seenCap / seenTtlMs), kept forever in bounded space.
 *
 * Why not a library: the Redis store grows the filter server-side (a Lua script sets bits with SETBIT, so replicas
 * share it and the writer never reads it back) and the feed tests a fetched copy in process. Both sides must agree on
 * one bit layout and one hash; `bloom-filters` (the maintained npm choice) serializes to JSON with its own hashing
 * and eight runtime dependencies, with no layout a Lua script or a GETBIT could follow. The whole algorithm is ~100
 * lines here, tested for false negatives and for its false-positive rate (test/stores/seen-bloom.test.ts).
 *
 * Layout (Almeida et al., "Scalable Bloom Filters", 2007): layers 0..L-1 are laid end to end in one bit string
 * (bit 0 is the high bit of byte 0, SETBIT's order). Layer i holds `capacity·2^i` items with `k0 + i` hash
 * functions in `ceil(capacity·2^i·(k0+i)/ln 2)` bits (rounded up to whole bytes), so it is half full, and answers a
 * false "yes" with probability 2^-(k0+i), when it reaches its capacity. A layer counts as full once half its bits are
 * set (the paper's fill-ratio rule, measured rather than estimated from an insert count, so re-inserts and the
 * Redis writer, which cannot count distinct items, need no bookkeeping); inserts then go to the next layer. With
 * k0 = ceil(log2(2/fpRate)) the chain's false-positive rate stays below Σ 2^-(k0+i) < 2^-(k0-1) ≤ fpRate however
 * many layers fill. The last layer is never closed: past Σ capacity·2^i watches it keeps filling and its rate rises
 * (size stays bounded). An id is added only when the filter does not already answer "yes" for it.
 *
 * Positions: Kirsch–Mitzenmacher double hashing, bit j of layer i at start_i + (h1 + j·h2) mod bits_i, with h1, h2
 * two MurmurHash3 (x86, 32-bit) hashes of the id's UTF-8 bytes under different seeds (h2 forced odd, never 0).
 * Every intermediate stays below 2^38, exact in both JS and Lua doubles.
 */
export interface SeenBloomOptions {
  /** Watches the first layer holds at the target rate; the expected watches per user. @default 1000 */
  capacity?: number;
  /** False-positive rate bound of the whole chain (a never-watched video reported as watched). @default 0.01 */
  fpRate?: number;
  /** Layers at most; each doubles the capacity. Bounds the size: see SeenBloomGeometry.totalBytes. @default 6 */
  maxLayers?: number;
}

export interface SeenBloomLayer {
  /** First bit of the layer in the shared bit string (a multiple of 8). */
  startBit: number;
  /** Bits in the layer (a multiple of 8). */
  bits: number;
  /** Hash functions. */
  k: number;
  /** Items it holds at half fill, its design capacity. */
  capacity: number;
}

export interface SeenBloomGeometry {
  layers: readonly SeenBloomLayer[];
  /** Bytes of all layers: the most a filter ever takes (the Redis string's bound). */
  totalBytes: number;
  /** Σ layer capacities: watches held at or below `fpRate`. */
  totalCapacity: number;
  fpRate: number;
  /** Names the layout: a changed geometry must not read bits written under another. */
  tag: string;
}

const SEED1 = 0x9747b28c;
const SEED2 = 0x5bd1e995;

export function seenBloomGeometry(options: SeenBloomOptions = {}): SeenBloomGeometry {
  const { capacity = 1000, fpRate = 0.01, maxLayers = 6 } = options;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000_000) throw badBloom("capacity", "expected an integer in 1..10,000,000");
  if (!(fpRate > 0 && fpRate < 0.5)) throw badBloom("fpRate", "expected a rate in (0, 0.5)");
  if (!Number.isInteger(maxLayers) || maxLayers < 1 || maxLayers > 12) throw badBloom("maxLayers", "expected an integer in 1..12");
  const k0 = Math.ceil(Math.log2(2 / fpRate));
  const layers: SeenBloomLayer[] = [];
  let startBit = 0;
  for (let i = 0; i < maxLayers; i++) {
    const cap = capacity * 2 ** i;
    const k = k0 + i;
    const bits = Math.ceil((cap * k) / Math.LN2 / 8) * 8;
    layers.push({ startBit, bits, k, capacity: cap });
    startBit += bits;
  }
  return { layers, totalBytes: startBit / 8, totalCapacity: capacity * (2 ** maxLayers - 1), fpRate, tag: `${capacity}k${k0}` };
}

function badBloom(key: string, reason: string): ReelfeedError {
  return new ReelfeedError("BAD_CONFIG", `seen bloom ${key}: ${reason}`, { key, reason });
}

/** The two hashes of an id, [h1, h2], h2 odd. */
export function seenBloomHashes(id: string): [number, number] {
  // Ids are ASCII in practice: their UTF-8 bytes are their char codes, hashed in place (a request hashes ~500
  // candidates; a Buffer per id cost as much as the hashing). Anything else goes through its UTF-8 bytes.
  let ascii = true;
  for (let i = 0; i < id.length && ascii; i++) ascii = id.charCodeAt(i) < 0x80;
  const bytes = ascii ? id : Buffer.from(id, "utf8").toString("latin1");
  return [murmur3Latin1(bytes, SEED1), (murmur3Latin1(bytes, SEED2) | 1) >>> 0];
}

const bitAt = (bytes: Uint8Array, pos: number): boolean => pos >>> 3 < bytes.length && (bytes[pos >>> 3] & (0x80 >>> (pos & 7))) !== 0;

function inLayer(bytes: Uint8Array, layer: SeenBloomLayer, h1: number, h2: number): boolean {
  for (let j = 0; j < layer.k; j++) if (!bitAt(bytes, layer.startBit + ((h1 + j * h2) % layer.bits))) return false;
  return true;
}

/**
 * Whether the filter in `bytes` (the layout above; shorter than the full geometry is fine, missing bytes read as 0,
 * as GETBIT past a Redis string's end does) answers "yes" for the hashes. Only layers the bytes reach are probed.
 */
export function seenBloomHas(geometry: SeenBloomGeometry, bytes: Uint8Array, h1: number, h2: number): boolean {
  for (const layer of geometry.layers) {
    if (layer.startBit >= bytes.length * 8) return false;
    if (inLayer(bytes, layer, h1, h2)) return true;
  }
  return false;
}

/** A filter read from a store: `has(id)` for any id. */
export function seenBloomReader(geometry: SeenBloomGeometry, bytes: Uint8Array): (id: string) => boolean {
  if (bytes.length === 0) return () => false;
  return (id) => {
    const [h1, h2] = seenBloomHashes(id);
    return seenBloomHas(geometry, bytes, h1, h2);
  };
}

/**
 * The in-process filter (embedded store): the bytes of the layers begun so far, grown a layer at a time. Its bytes
 * are bit for bit what the Redis script builds from the same inserts (a test holds both to it).
 */
export class SeenBloom {
  private buf: Uint8Array;
  /** Index of the layer inserts go to, and how many of its bits are set. */
  private current = 0;
  private fill = 0;

  constructor(readonly geometry: SeenBloomGeometry) {
    this.buf = new Uint8Array(geometry.layers[0].bits / 8);
  }

  has(id: string): boolean {
    const [h1, h2] = seenBloomHashes(id);
    return seenBloomHas(this.geometry, this.buf, h1, h2);
  }

  /** Adds the id unless the filter already answers "yes" for it; true when it was added. */
  add(id: string): boolean {
    const [h1, h2] = seenBloomHashes(id);
    if (seenBloomHas(this.geometry, this.buf, h1, h2)) return false;
    const layers = this.geometry.layers;
    let layer = layers[this.current];
    if (this.fill * 2 >= layer.bits && this.current + 1 < layers.length) {
      layer = layers[++this.current];
      this.fill = 0;
      const grown = new Uint8Array((layer.startBit + layer.bits) / 8);
      grown.set(this.buf);
      this.buf = grown;
    }
    for (let j = 0; j < layer.k; j++) {
      const pos = layer.startBit + ((h1 + j * h2) % layer.bits);
      const mask = 0x80 >>> (pos & 7);
      if ((this.buf[pos >>> 3] & mask) === 0) {
        this.buf[pos >>> 3] |= mask;
        this.fill++;
      }
    }
    return true;
  }

  /** The filter's bytes (not a copy): the layout seenBloomHas reads. */
  bytes(): Uint8Array {
    return this.buf;
  }

  /** Layers begun. */
  get layers(): number {
    return this.current + 1;
  }
}

/**
 * The Redis side of SeenBloom.add, for one user's key and many ids, atomically. KEYS[1]: the filter string.
 * ARGV: ttlMs, layer count L, then L × (startBit, bits, k), then pairs (h1, h2). Returns how many ids were added.
 * A layer is allocated whole when it begins, by one SET of the old bytes plus zeros: a SETBIT or SETRANGE past the
 * end grows a Redis string greedily (to twice its length, measured: 2,664 bytes of MEMORY USAGE for a 1,443-byte
 * filter against 1,608 this way), and SET allocates exactly. So the string always ends at the last begun layer,
 * which is how the current layer is found; its fill is a BITCOUNT of its byte range, once per call.
 */
export const SEEN_BLOOM_ADD_LUA = `
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local nl = tonumber(ARGV[2])
local start, bits, k = {}, {}, {}
for i = 1, nl do
  start[i] = tonumber(ARGV[3 * i])
  bits[i] = tonumber(ARGV[3 * i + 1])
  k[i] = tonumber(ARGV[3 * i + 2])
end
local function begin(layer)
  local have = redis.call('STRLEN', key)
  local want = (start[layer] + bits[layer]) / 8
  if have < want then
    local old = ''
    if have > 0 then old = redis.call('GET', key) end
    redis.call('SET', key, old .. string.rep('\0', want - have))
  end
end
local len = redis.call('STRLEN', key) * 8
local cur = 1
for i = 2, nl do
  if start[i] < len then cur = i end
end
begin(cur)
local fill = redis.call('BITCOUNT', key, start[cur] / 8, (start[cur] + bits[cur]) / 8 - 1)
local function inLayer(l, h1, h2)
  for j = 0, k[l] - 1 do
    if redis.call('GETBIT', key, start[l] + (h1 + j * h2) % bits[l]) == 0 then return false end
  end
  return true
end
local added = 0
for a = 3 * nl + 3, #ARGV, 2 do
  local h1 = tonumber(ARGV[a])
  local h2 = tonumber(ARGV[a + 1])
  local present = false
  for l = 1, cur - 1 do
    if inLayer(l, h1, h2) then
      present = true
      break
    end
  end
  if not present and fill * 2 >= bits[cur] and cur < nl then
    if inLayer(cur, h1, h2) then
      present = true
    else
      cur = cur + 1
      begin(cur)
      fill = 0
    end
  end
  if not present then
    -- Presence in the current layer is SETBIT's answer: an id whose k bits were all set adds nothing.
    local new = 0
    for j = 0, k[cur] - 1 do
      if redis.call('SETBIT', key, start[cur] + (h1 + j * h2) % bits[cur], 1) == 0 then new = new + 1 end
    end
    fill = fill + new
    if new > 0 then added = added + 1 end
  end
end
if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
return added
`;

/** ARGV for SEEN_BLOOM_ADD_LUA. */
export function seenBloomAddArgs(geometry: SeenBloomGeometry, ttlMs: number, ids: Iterable<string>): number[] {
  const args: number[] = [ttlMs, geometry.layers.length];
  for (const l of geometry.layers) args.push(l.startBit, l.bits, l.k);
  for (const id of ids) args.push(...seenBloomHashes(id));
  return args;
}
