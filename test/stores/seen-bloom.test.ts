import { describe, expect, it } from "vitest";
import { ReelfeedError } from "../../src/errors";
import { SeenBloom, seenBloomGeometry, seenBloomHas, seenBloomHashes, seenBloomReader } from "../../src/stores/seen-bloom";
import { murmur3 } from "../../src/util/murmur3";

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** Share of `probes` never inserted that the filter answers "yes" for. */
function fpRate(has: (id: string) => boolean, probes: number): number {
  let fp = 0;
  for (let i = 0; i < probes; i++) if (has(`probe-${i}`)) fp++;
  return fp / probes;
}

describe("seen Bloom filter", () => {
  it("hashes with MurmurHash3 x86_32 (published test vectors)", () => {
    expect(murmur3(utf8(""), 0)).toBe(0);
    expect(murmur3(utf8(""), 1)).toBe(0x514e28b7);
    expect(murmur3(utf8(""), 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3(new Uint8Array(4), 0)).toBe(0x2362f9de);
    expect(murmur3(utf8("a"), 0x9747b28c)).toBe(0x7fa09ea6);
    expect(murmur3(utf8("aa"), 0x9747b28c)).toBe(0x5d211726);
    expect(murmur3(utf8("aaa"), 0x9747b28c)).toBe(0x283e0130);
    expect(murmur3(utf8("aaaa"), 0x9747b28c)).toBe(0x5a97808a);
    expect(murmur3(utf8("Hello, world!"), 0x9747b28c)).toBe(0x24884cba);
    expect(murmur3(utf8("The quick brown fox jumps over the lazy dog"), 0x9747b28c)).toBe(0x2fa826cd);
    const [, h2] = seenBloomHashes("any");
    expect(h2 % 2).toBe(1);
    // Ids are hashed by their UTF-8 bytes, ASCII in place or not.
    for (const id of ["v42", "tt0111161", "vidéo-ü", "片-1", "🎬"]) {
      expect(seenBloomHashes(id)).toEqual([murmur3(utf8(id), 0x9747b28c), (murmur3(utf8(id), 0x5bd1e995) | 1) >>> 0]);
    }
  });

  it("sizes layers for the rate: k0 = ceil(log2(2/fpRate)), capacity doubling, one more hash per layer", () => {
    const g = seenBloomGeometry();
    expect(g.layers.map((l) => [l.capacity, l.k])).toEqual([
      [1000, 8],
      [2000, 9],
      [4000, 10],
      [8000, 11],
      [16000, 12],
      [32000, 13],
    ]);
    // Half full at capacity: bits = capacity · k / ln 2, whole bytes, laid end to end.
    expect(g.layers[0]).toMatchObject({ startBit: 0, bits: 11_544 });
    expect(g.layers[1].startBit).toBe(11_544);
    for (const l of g.layers) expect(l.bits % 8).toBe(0);
    expect(g.totalCapacity).toBe(63_000);
    expect(g.totalBytes).toBe(g.layers.reduce((s, l) => s + l.bits / 8, 0));
    expect(g.totalBytes).toBeLessThan(140_000);
    expect(g.tag).toBe("1000k8");
    expect(seenBloomGeometry({ fpRate: 0.001 }).layers[0].k).toBe(11);
  });

  it("rejects a geometry it cannot honour (BAD_CONFIG naming the key)", () => {
    const bad = (o: Parameters<typeof seenBloomGeometry>[0], key: string) => {
      try {
        seenBloomGeometry(o);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ReelfeedError);
        expect((err as ReelfeedError).code).toBe("BAD_CONFIG");
        expect((err as ReelfeedError).details.key).toBe(key);
      }
    };
    bad({ capacity: 0 }, "capacity");
    bad({ capacity: 1.5 }, "capacity");
    bad({ fpRate: 0 }, "fpRate");
    bad({ fpRate: 0.5 }, "fpRate");
    bad({ fpRate: Number.NaN }, "fpRate");
    bad({ maxLayers: 0 }, "maxLayers");
    bad({ maxLayers: 13 }, "maxLayers");
  });

  it("has no false negatives, and its false-positive rate at capacity is the design rate", () => {
    const bloom = new SeenBloom(seenBloomGeometry());
    for (let i = 0; i < 1000; i++) expect(bloom.add(`video-${i}`)).toBe(true);
    expect(bloom.layers).toBe(1);
    for (let i = 0; i < 1000; i++) expect(bloom.has(`video-${i}`)).toBe(true);
    // One layer at capacity, k = 8: 2^-8 = 0.39 % expected.
    const rate = fpRate((id) => bloom.has(id), 100_000);
    expect(rate).toBeGreaterThan(0.002);
    expect(rate).toBeLessThan(0.006);
  });

  it("chains larger layers when one is full: 5,000 watches, no false negatives, rate still under 1 %", () => {
    const bloom = new SeenBloom(seenBloomGeometry());
    for (let i = 0; i < 5000; i++) bloom.add(`video-${i}`);
    expect(bloom.layers).toBe(3); // 1,000 + 2,000 + (the rest of 4,000)
    for (let i = 0; i < 5000; i++) expect(bloom.has(`video-${i}`)).toBe(true);
    expect(fpRate((id) => bloom.has(id), 100_000)).toBeLessThan(0.01);
    // Memory: the layers begun, no more.
    const g = bloom.geometry;
    expect(bloom.bytes().length).toBe((g.layers[2].startBit + g.layers[2].bits) / 8);
  });

  it("does not re-add what it already answers for (a rewatch sets no bits)", () => {
    const bloom = new SeenBloom(seenBloomGeometry({ capacity: 10 }));
    expect(bloom.add("x")).toBe(true);
    const before = Buffer.from(bloom.bytes());
    expect(bloom.add("x")).toBe(false);
    expect(Buffer.from(bloom.bytes()).equals(before)).toBe(true);
  });

  it("stays bounded past its total capacity (the rate then rises, stated in docs/events.md)", () => {
    const g = seenBloomGeometry({ capacity: 50, maxLayers: 2 });
    const bloom = new SeenBloom(g);
    for (let i = 0; i < 2000; i++) bloom.add(`video-${i}`);
    expect(bloom.layers).toBe(2);
    expect(bloom.bytes().length).toBe(g.totalBytes);
    for (let i = 0; i < 2000; i++) expect(bloom.has(`video-${i}`)).toBe(true);
    expect(fpRate((id) => bloom.has(id), 10_000)).toBeGreaterThan(g.fpRate);
  });

  it("reads a truncated copy as the whole (Redis strings end at the last set bit) and an empty one as nothing seen", () => {
    const g = seenBloomGeometry({ capacity: 100 });
    const bloom = new SeenBloom(g);
    for (let i = 0; i < 150; i++) bloom.add(`video-${i}`);
    const full = bloom.bytes();
    let end = full.length;
    while (end > 0 && full[end - 1] === 0) end--;
    const read = seenBloomReader(g, full.subarray(0, end));
    for (let i = 0; i < 150; i++) expect(read(`video-${i}`)).toBe(true);
    for (let i = 0; i < 2000; i++) expect(read(`probe-${i}`)).toBe(bloom.has(`probe-${i}`));
    expect(seenBloomReader(g, new Uint8Array(0))("video-1")).toBe(false);
    const [h1, h2] = seenBloomHashes("video-1");
    expect(seenBloomHas(g, new Uint8Array(1), h1, h2)).toBe(false);
  });
});
