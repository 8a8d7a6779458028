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
 */

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
export function createUserTokenVerifier(config: JwtConfig): UserTokenVerifier {
  const options = {
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockToleranceSec,
    requiredClaims: ["exp", "sub"],
  };
  let verify: (token: string) => ReturnType<typeof jwtVerify>;
  if (config.secret !== undefined) {
    const secret = new TextEncoder().encode(config.secret);
    verify = (token) => jwtVerify(token, secret, { ...options, algorithms: ["HS256"] });
  } else if (config.jwksFile !== undefined) {
    const keys = readJwks(config.jwksFile);
    verify = (token) => jwtVerify(token, keys, { ...options, algorithms: ["RS256", "ES256"] });
  } else {
    // The config schema requires one of them; this guards a hand-built config.
    throw new ReelfeedError("BAD_CONFIG", "config auth.jwt: set exactly one of secret or jwksFile", { key: "auth.jwt" });
  }
  return async (token) => {
    try {
      const { payload } = await verify(token);
      if (typeof payload.sub !== "string" || payload.sub.length === 0) throw new Error("no subject");
      return payload.sub;
    } catch {
      // Expired, not yet valid, wrong issuer, bad signature: one answer; the reason is not the caller's business.
      throw unauthenticated("invalid or expired user token");
    }
  };
}
