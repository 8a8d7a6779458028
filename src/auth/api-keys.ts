import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Scope } from "./scopes";

/**
 * API keys: 32 random bytes (256 bits), shown once at creation, stored only as a SHA-256 hash. A plain hash (no
 * salt, no slow KDF) is enough for a key of this entropy: nobody can guess a preimage, and hashing stays ~1 µs per
 * request. The key carries no id: an unknown key and a wrong one are literally the same case, so they get the same
 * answer in the same time (every stored hash is compared, with timingSafeEqual, whatever matched).
 */

/** Prefix that lets secret scanners (and people) recognise a leaked key. */
export const KEY_PREFIX = "rfk_";

export interface ApiKeyRecord {
  /** Who holds it: appears in logs and rate-limit keys, never the key. */
  id: string;
  /** "sha256:<64 hex>" of the whole key string. */
  hash: string;
  scopes: Scope[];
  /** ISO time of creation (informational). */
  createdAt?: string;
}

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

export interface ApiKeyMatch {
  id: string;
  scopes: ReadonlySet<Scope>;
}

interface Prepared extends ApiKeyMatch {
  digest: Buffer;
}

/** Stored keys, prepared for verification: hashes decoded once, not per request. */
export interface ApiKeySet {
  readonly size: number;
  /** The key's id and scopes, or undefined. Runs in time independent of which key (if any) matched. */
  verify(presented: string): ApiKeyMatch | undefined;
}

export function createApiKeySet(records: readonly ApiKeyRecord[]): ApiKeySet {
  const prepared: Prepared[] = records.map((r) => ({
    id: r.id,
    scopes: new Set(r.scopes),
    digest: Buffer.from(r.hash.slice("sha256:".length), "hex"),
  }));
  // An empty set still compares against one throw-away digest, so "no keys" is not faster than "wrong key".
  const decoy = Buffer.alloc(32);
  return {
    size: prepared.length,
    verify(presented) {
      const digest = createHash("sha256").update(presented, "utf8").digest();
      let found: Prepared | undefined;
      // No early exit: the loop's length depends on the number of keys, never on the presented key.
      for (const p of prepared) {
        if (timingSafeEqual(digest, p.digest) && found === undefined) found = p;
      }
      if (prepared.length === 0) timingSafeEqual(digest, decoy);
      return found && { id: found.id, scopes: found.scopes };
    },
  };
}
