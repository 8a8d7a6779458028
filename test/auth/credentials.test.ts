import { describe, expect, it } from "vitest";
import { hasCredentials, readCredentials } from "../../src/auth/credentials";

const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl";

describe("credentials from headers", () => {
  it.each([
    [{}, { malformed: false }],
    [{ "x-api-key": "rfk_abc" }, { apiKey: "rfk_abc", malformed: false }],
    [{ authorization: "Bearer rfk_abc" }, { apiKey: "rfk_abc", malformed: false }],
    [{ authorization: "bearer   rfk_abc " }, { apiKey: "rfk_abc", malformed: false }],
    [{ authorization: `Bearer ${jwt}` }, { userToken: jwt, malformed: false }],
    [{ "x-api-key": "rfk_abc", authorization: `Bearer ${jwt}` }, { apiKey: "rfk_abc", userToken: jwt, malformed: false }],
    [{ authorization: "Basic dXNlcjpwYXNz" }, { malformed: true }],
    [{ authorization: "Bearer" }, { malformed: true }],
    [{ "x-api-key": "  " }, { malformed: true }],
    [{ "x-api-key": "rfk_a", authorization: "Bearer rfk_b" }, { apiKey: "rfk_a", malformed: true }],
  ])("%j → %j", (headers, expected) => {
    expect(readCredentials(headers)).toEqual(expected);
  });

  it("anything sent counts as an attempt, even a malformed one", () => {
    expect(hasCredentials(readCredentials({}))).toBe(false);
    expect(hasCredentials(readCredentials({ authorization: "Basic x" }))).toBe(true);
  });
});
