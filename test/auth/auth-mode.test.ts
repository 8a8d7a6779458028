import { describe, expect, it } from "vitest";
import { openModeWarning, resolveAuthMode } from "../../src/auth/auth-mode";
import { authConfigSchema, loadConfig } from "../../src/config";
import { ReelfeedError } from "../../src/errors";

const auth = (raw: Record<string, unknown> = {}) => authConfigSchema.parse(raw);
const jwt = { secret: "s".repeat(32), issuer: "https://id.example", audience: "reelfeed" };

function errorOf(fn: () => unknown): ReelfeedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReelfeedError);
    return err as ReelfeedError;
  }
  throw new Error("expected a ReelfeedError");
}

describe("auth mode", () => {
  it("a fresh clone (nothing configured, not production) serves in development mode, with a warning", () => {
    expect(resolveAuthMode(auth(), false)).toBe("development");
    expect(openModeWarning("development")).toMatch(/WARNING: development mode, no authentication/);
  });

  it("refuses production (NODE_ENV=production) without auth: BAD_CONFIG naming auth and how to fix it", () => {
    const err = errorOf(() => resolveAuthMode(auth(), true));
    expect(err.code).toBe("BAD_CONFIG");
    expect(err.details.key).toBe("auth");
    expect(err.message).toMatch(/NODE_ENV=production and no auth configured.*keys create.*auth\.mode "off"/);
  });

  it("enforces auth as soon as keys or tokens are configured, in production or not", () => {
    for (const production of [false, true]) {
      expect(resolveAuthMode(auth({ keysFile: "var/keys.json" }), production)).toBe("enforced");
      expect(resolveAuthMode(auth({ jwt }), production)).toBe("enforced");
    }
    expect(openModeWarning("enforced")).toBeUndefined();
  });

  it('"off" is the explicit opt-out, allowed in production, and warned about', () => {
    expect(resolveAuthMode(auth({ mode: "off" }), true)).toBe("off");
    expect(openModeWarning("off")).toMatch(/auth\.mode "off"/);
  });

  it('"enforce" with nothing that could authenticate is BAD_CONFIG naming auth.mode', () => {
    const err = errorOf(() => resolveAuthMode(auth({ mode: "enforce" }), false));
    expect(err.code).toBe("BAD_CONFIG");
    expect(err.details.key).toBe("auth.mode");
  });

  it.each([
    [{ auth: { mode: "sometimes" } }, "auth.mode"],
    [{ auth: { jwt: { ...jwt, jwksFile: "jwks.json" } } }, "auth.jwt"],
    [{ auth: { jwt: { issuer: "i", audience: "a" } } }, "auth.jwt"],
    [{ auth: { jwt: { ...jwt, secret: "short" } } }, "auth.jwt.secret"],
    [{ limits: { query: { maxCost: 0 } } }, "limits.query.maxCost"],
    [{ limits: { rate: { perKey: { perSecond: -1, burst: 0 } } } }, "limits.rate.perKey.perSecond"],
  ])("config %j: BAD_CONFIG naming %s", (overrides, key) => {
    const err = errorOf(() => loadConfig({ env: {}, overrides }));
    expect(err.code).toBe("BAD_CONFIG");
    expect(err.details.key).toBe(key);
    // A secret in config is never echoed back in the error.
    expect(err.message).not.toContain("s".repeat(32));
  });

  it("reads keys file and token settings from the environment", () => {
    const config = loadConfig({
      env: { REELFEED_API_KEYS_FILE: "/etc/rf/keys.json", REELFEED_JWT_SECRET: jwt.secret, REELFEED_JWT_ISSUER: jwt.issuer, REELFEED_JWT_AUDIENCE: "rf", REELFEED_AUTH_MODE: "enforce" },
    });
    expect(config.auth).toMatchObject({ mode: "enforce", keysFile: "/etc/rf/keys.json", jwt: { secret: jwt.secret, issuer: jwt.issuer, audience: "rf", clockToleranceSec: 30 } });
  });
});
