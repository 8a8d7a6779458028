import { SignJWT } from "jose";

/** Test helper: an HS256 user token, valid for an hour unless told otherwise. */
export const JWT = { secret: "test-secret-test-secret-test-secret-0123", issuer: "https://id.example.test", audience: "reelfeed-test" };

export async function userToken(
  sub: string | undefined,
  options: { secret?: string; issuer?: string; audience?: string; exp?: number | null; nbf?: number; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: options.alg ?? "HS256" }).setIssuedAt(now).setIssuer(options.issuer ?? JWT.issuer).setAudience(options.audience ?? JWT.audience);
  if (sub !== undefined) jwt.setSubject(sub);
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now + 3600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT.secret));
}
