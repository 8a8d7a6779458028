import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { AuthConfig } from "../config";
import { badFile, ReelfeedError } from "../errors";
import { unauthenticated } from "./principal";

/**
 * End-user tokens: a JWT signed by the frontend's identity service, verified with `jose` (no hand-written crypto).
 * HS256 with a shared secret, or RS256/ES256 against public keys from a local JWKS file (no network fetch on the
 * request path). `exp`, `iss`, `aud` and `sub` are required; `nbf` is checked when present; `alg` is pinned, so a
 * token cannot pick `none` or switch an RSA public key into an HMAC secret.
 *
 * A verified token is remembered until its `exp` (at most CACHE_SIZE of them): a viewer's client sends the same
 * token with every request for its lifetime, and a signature check costs ~90 µs of CPU (bench/auth-bench.ts) —
 * nearly 1 % of a ranked request — where a map lookup costs nothing. Only tokens that verified are remembered, so
 * a forged one is checked in full every time; an expired one is dropped at its first use past `exp`.
 */

/** Verified tokens remembered; past it the oldest is forgotten (and verified again on its next use). */
const CACHE_SIZE = 10_000;

export type UserTokenVerifier = (token: string) => Promise<string>;

type JwtConfig = NonNullable<AuthConfig["jwt"]>;

function readJwks(path: string): JWTVerifyGetKey {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
  } catch (err) {
    throw badFile(path, `cannot read JWKS (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length === 0) throw badFile(path, 'expected a JWKS: { "keys": [ ... ] }');
  try {
    return createLocalJWKSet(jwks);
  } catch (err) {
    throw badFile(path, `not a usable JWKS (${(err as Error).message})`);
  }
}

/** A verifier resolving to the token's subject (the viewer's user id); UNAUTHENTICATED for any bad token. */
export function createUserTokenVerifier(config: JwtConfig, options: { cacheSize?: number } = {}): UserTokenVerifier {
  const { cacheSize = CACHE_SIZE } = options;
  const verifyOptions = {
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockToleranceSec,
    requiredClaims: ["exp", "sub"],
  };
  let verify: (token: string) => ReturnType<typeof jwtVerify>;
  if (config.secret !== undefined) {
    // Imported once: jose would import a raw secret again on every call (a third of the verification's cost).
    const secret = crypto.subtle.importKey("raw", new TextEncoder().encode(config.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    verify = async (token) => jwtVerify(token, await secret, { ...verifyOptions, algorithms: ["HS256"] });
  } else if (config.jwksFile !== undefined) {
    const keys = readJwks(config.jwksFile);
    verify = (token) => jwtVerify(token, keys, { ...verifyOptions, algorithms: ["RS256", "ES256"] });
  } else {
    // The config schema requires one of them; this guards a hand-built config.
    throw new ReelfeedError("BAD_CONFIG", "config auth.jwt: set exactly one of secret or jwksFile", { key: "auth.jwt" });
  }
  const verified = new Map<string, { sub: string; expMs: number }>();
  return async (token) => {
    const known = verified.get(token);
    if (known) {
      if (Date.now() < known.expMs) return known.sub;
      verified.delete(token);
    }
    try {
      const { payload } = await verify(token);
      if (typeof payload.sub !== "string" || payload.sub.length === 0) throw new Error("no subject");
      // Remembered until exp itself (the clock tolerance is not extended to cached answers).
      if (cacheSize > 0) {
        if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
        verified.set(token, { sub: payload.sub, expMs: payload.exp! * 1000 });
      }
      return payload.sub;
    } catch {
      // Expired, not yet valid, wrong issuer, bad signature: one answer; the reason is not the caller's business.
      throw unauthenticated("invalid or expired user token");
    }
  };
}
