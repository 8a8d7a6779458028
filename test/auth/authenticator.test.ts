import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey, hashApiKey } from "../../src/auth/api-keys";
import { createAuthenticator, MISSING_CREDENTIALS, type Authenticator } from "../../src/auth/authenticator";
import { writeKeyFile } from "../../src/auth/key-file";
import { authConfigSchema } from "../../src/config";
import { reelfeedErrorOf } from "../reelfeed-error-of";
import { JWT, userToken } from "./tokens";

let dir: string;
let both: Authenticator;
let keysOnly: Authenticator;
const feedKey = generateApiKey();
const eventsKey = generateApiKey();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-authn-"));
  const keysFile = join(dir, "keys.json");
  await writeKeyFile(keysFile, [
    { id: "feed", hash: hashApiKey(feedKey), scopes: ["feed:read", "debug"] },
    { id: "events", hash: hashApiKey(eventsKey), scopes: ["events:write"] },
  ]);
  both = createAuthenticator({ auth: authConfigSchema.parse({ keysFile, jwt: JWT }), production: true, log: () => {} });
  keysOnly = createAuthenticator({ auth: authConfigSchema.parse({ keysFile }), production: true, log: () => {} });
});
afterAll(async () => {
  both.close();
  keysOnly.close();
  await rm(dir, { recursive: true, force: true });
});

describe("authenticator", () => {
  it("a key: its id and scopes, from either header", async () => {
    expect(await both.authenticate({ "x-api-key": feedKey })).toEqual({ kind: "key", keyId: "feed", scopes: new Set(["feed:read", "debug"]) });
    expect(await both.authenticate({ authorization: `Bearer ${eventsKey}` })).toMatchObject({ kind: "key", keyId: "events" });
  });

  it("a user token: the viewer, with feed:read and events:write only", async () => {
    expect(await both.authenticate({ authorization: `Bearer ${await userToken("u7")}` })).toEqual({
      kind: "user",
      userId: "u7",
      keyId: undefined,
      scopes: new Set(["feed:read", "events:write"]),
    });
  });

  it("a token with a partner key: the viewer, narrowed to what the key allows (never widened: no debug)", async () => {
    const p = await both.authenticate({ "x-api-key": feedKey, authorization: `Bearer ${await userToken("u7")}` });
    expect(p).toEqual({ kind: "user", userId: "u7", keyId: "feed", scopes: new Set(["feed:read"]) });
  });

  it("no credentials: UNAUTHENTICATED saying what to send, or nobody on a public route", async () => {
    expect((await reelfeedErrorOf(both.authenticate({}), "UNAUTHENTICATED")).message).toBe(MISSING_CREDENTIALS);
    expect(await both.authenticate({}, { optional: true })).toBeUndefined();
  });

  it("an unknown key, a wrong key, a malformed header: the same UNAUTHENTICATED answer", async () => {
    const wrong = feedKey.slice(0, -2) + "xx";
    const messages = [];
    for (const headers of [{ "x-api-key": generateApiKey() }, { "x-api-key": wrong }, { authorization: "Basic abc" }, { "x-api-key": "" }]) {
      messages.push((await reelfeedErrorOf(both.authenticate(headers, { optional: true }), "UNAUTHENTICATED")).message);
    }
    expect(new Set(messages)).toEqual(new Set(["invalid credentials"]));
  });

  it("a valid token with a bad key is refused (both must verify); a token where none are configured too", async () => {
    const token = await userToken("u7");
    await reelfeedErrorOf(both.authenticate({ "x-api-key": "rfk_nope", authorization: `Bearer ${token}` }), "UNAUTHENTICATED");
    await reelfeedErrorOf(keysOnly.authenticate({ authorization: `Bearer ${token}` }), "UNAUTHENTICATED");
  });

  it("a missing keys file fails at start-up, naming it", () => {
    expect(() => createAuthenticator({ auth: authConfigSchema.parse({ keysFile: join(dir, "none.json") }), production: false })).toThrow(
      expect.objectContaining({ code: "BAD_FILE", message: expect.stringContaining("none.json") }),
    );
  });

  it("open modes answer the open principal whatever was sent", async () => {
    const dev = createAuthenticator({ auth: authConfigSchema.parse({}), production: false });
    expect(dev.mode).toBe("development");
    expect(await dev.authenticate({ "x-api-key": "anything" })).toEqual({ kind: "open", mode: "development" });
    const off = createAuthenticator({ auth: authConfigSchema.parse({ mode: "off" }), production: true });
    expect(await off.authenticate({})).toEqual({ kind: "open", mode: "off" });
  });
});
