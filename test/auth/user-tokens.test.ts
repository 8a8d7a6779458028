import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserTokenVerifier } from "../../src/auth/user-tokens";
import { reelfeedErrorOf } from "../reelfeed-error-of";
import { JWT, userToken } from "./tokens";

const verify = createUserTokenVerifier({ ...JWT, clockToleranceSec: 5 });
const now = () => Math.floor(Date.now() / 1000);

describe("user tokens, HS256", () => {
  it("a valid token resolves to its subject, the viewer", async () => {
    expect(await verify(await userToken("u1"))).toBe("u1");
  });

  it.each([
    ["expired", () => userToken("u1", { exp: now() - 60 })],
    ["not valid yet (nbf)", () => userToken("u1", { nbf: now() + 600 })],
    ["another issuer", () => userToken("u1", { issuer: "https://evil.example" })],
    ["another audience", () => userToken("u1", { audience: "someone-else" })],
    ["signed with another secret", () => userToken("u1", { secret: "x".repeat(40) })],
    ["without exp", () => userToken("u1", { exp: null })],
    ["without a subject", () => userToken(undefined)],
    ["not a JWT at all", async () => "a.b.c"],
    ["unsigned (alg none)", async () => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "u1", iss: JWT.issuer, aud: JWT.audience, exp: now() + 60 })).toString("base64url")}.`],
  ])("%s: UNAUTHENTICATED, one message whatever the reason", async (_what, make) => {
    const err = await reelfeedErrorOf(verify(await make()), "UNAUTHENTICATED");
    expect(err.message).toBe("invalid or expired user token");
  });

  it("remembers a verified token until its exp, then refuses it", async () => {
    const strict = createUserTokenVerifier({ ...JWT, clockToleranceSec: 0 });
    // exp two whole seconds ahead: with one, a second boundary crossed while signing on a loaded box left the token
    // expired before its first check (seen in a CI run).
    const exp = now() + 2;
    const token = await userToken("u1", { exp });
    expect(await strict(token)).toBe("u1");
    expect(await strict(token)).toBe("u1");
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 100));
    await reelfeedErrorOf(strict(token), "UNAUTHENTICATED");
  });

  it("never remembers a token that failed, and forgets the oldest past its size", async () => {
    const small = createUserTokenVerifier({ ...JWT, clockToleranceSec: 0 }, { cacheSize: 1 });
    const forged = await userToken("u1", { secret: "y".repeat(40) });
    await reelfeedErrorOf(small(forged), "UNAUTHENTICATED");
    await reelfeedErrorOf(small(forged), "UNAUTHENTICATED");
    const [a, b] = [await userToken("a"), await userToken("b")];
    expect([await small(a), await small(b), await small(a)]).toEqual(["a", "b", "a"]);
  });

  it("allows the configured clock skew on exp", async () => {
    expect(await verify(await userToken("u1", { exp: now() - 2 }))).toBe("u1");
  });
});

describe("user tokens, RS256/ES256 from a local JWKS file", () => {
  let dir: string;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let ec: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rf-jwks-"));
    const r = await generateKeyPair("RS256");
    const e = await generateKeyPair("ES256");
    rsa = r.privateKey;
    ec = e.privateKey;
    path = join(dir, "jwks.json");
    await writeFile(path, JSON.stringify({ keys: [{ ...(await exportJWK(r.publicKey)), kid: "r1", alg: "RS256" }, { ...(await exportJWK(e.publicKey)), kid: "e1", alg: "ES256" }] }));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const sign = (key: typeof rsa, alg: string, kid: string, sub = "u9") =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).setSubject(sub).setIssuer(JWT.issuer).setAudience(JWT.audience).setExpirationTime("1h").sign(key);

  it("verifies RS256 and ES256 tokens against the file's public keys", async () => {
    const v = createUserTokenVerifier({ jwksFile: path, issuer: JWT.issuer, audience: JWT.audience, clockToleranceSec: 0 });
    expect(await v(await sign(rsa, "RS256", "r1"))).toBe("u9");
    expect(await v(await sign(ec, "ES256", "e1", "u10"))).toBe("u10");
  });

  it("refuses a token signed by a key not in the file, and an HS256 token (no algorithm switching)", async () => {
    const v = createUserTokenVerifier({ jwksFile: path, issuer: JWT.issuer, audience: JWT.audience, clockToleranceSec: 0 });
    const stranger = (await generateKeyPair("RS256")).privateKey;
    await reelfeedErrorOf(v(await sign(stranger, "RS256", "r1")), "UNAUTHENTICATED");
    await reelfeedErrorOf(v(await userToken("u1")), "UNAUTHENTICATED");
  });

  it("a hand-built config with neither a secret nor a JWKS file is BAD_CONFIG naming auth.jwt", () => {
    expect(() => createUserTokenVerifier({ issuer: "i", audience: "a", clockToleranceSec: 0 })).toThrow(expect.objectContaining({ code: "BAD_CONFIG", details: { key: "auth.jwt" } }));
  });

  it("a missing or malformed JWKS file fails at start-up with BAD_FILE naming it", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, JSON.stringify({ keys: [] }));
    for (const file of [join(dir, "none.json"), bad]) {
      let err: unknown;
      try {
        createUserTokenVerifier({ jwksFile: file, issuer: "i", audience: "a", clockToleranceSec: 0 });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "BAD_FILE", details: { path: file } });
    }
  });
});
