import { describe, expect, it } from "vitest";
import { createApiKeySet, generateApiKey, hashApiKey, KEY_PREFIX } from "../../src/auth/api-keys";

describe("API keys", () => {
  it("are 256 random bits with a recognisable prefix, stored as a SHA-256 hash", () => {
    const key = generateApiKey();
    expect(key.startsWith(KEY_PREFIX)).toBe(true);
    expect(Buffer.from(key.slice(KEY_PREFIX.length), "base64url")).toHaveLength(32);
    expect(generateApiKey()).not.toBe(key);
    expect(hashApiKey(key)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hashApiKey(key)).not.toContain(key.slice(KEY_PREFIX.length));
  });

  it("verify: the matching key's id and scopes; undefined for an unknown key, a wrong one, and an empty set", () => {
    const a = generateApiKey();
    const b = generateApiKey();
    const set = createApiKeySet([
      { id: "a", hash: hashApiKey(a), scopes: ["feed:read"] },
      { id: "b", hash: hashApiKey(b), scopes: ["admin", "debug"] },
    ]);
    expect(set.verify(a)).toEqual({ id: "a", scopes: new Set(["feed:read"]) });
    expect(set.verify(b)?.id).toBe("b");
    expect(set.verify(generateApiKey())).toBeUndefined();
    expect(set.verify(a.slice(0, -1) + (a.endsWith("A") ? "B" : "A"))).toBeUndefined();
    expect(set.verify("")).toBeUndefined();
    expect(createApiKeySet([]).verify(a)).toBeUndefined();
  });

  it("takes the same time for an unknown key, a nearly right key and the right one (every hash is compared)", () => {
    const records = Array.from({ length: 50 }, (_, i) => {
      const key = generateApiKey();
      return { key, record: { id: `k${i}`, hash: hashApiKey(key), scopes: ["feed:read" as const] } };
    });
    const set = createApiKeySet(records.map((r) => r.record));
    const right = records[0].key;
    const nearly = right.slice(0, -1) + (right.endsWith("A") ? "B" : "A");
    const unknown = generateApiKey();
    const cases = [right, nearly, unknown];
    const total = [0, 0, 0];
    // Interleaved rounds, so a burst of load on a shared machine hits every case alike.
    for (let round = 0; round < 200; round++) {
      cases.forEach((key, i) => {
        const t = process.hrtime.bigint();
        for (let j = 0; j < 20; j++) set.verify(key);
        total[i] += Number(process.hrtime.bigint() - t);
      });
    }
    const [r, n, u] = total;
    expect(n / u).toBeGreaterThan(0.5);
    expect(n / u).toBeLessThan(2);
    expect(r / u).toBeGreaterThan(0.5);
    expect(r / u).toBeLessThan(2);
  });
});
