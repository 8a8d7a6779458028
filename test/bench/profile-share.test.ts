import { describe, expect, it } from "vitest";
import { profileShares, urlContains, type CpuProfile } from "../../bench/lib/profile-share";

/**
 * bench:feed attributes server CPU to code from a V8 profile (--mode auth: the auth checks' share of a request;
 * --mode catalog-load: the catalogue's steps). A tree: root → (idle), handler → authenticate → jose, handler → rank,
 * catalog apply → onnx-session (and onnx-session from the ranker, which must not count as the catalogue's).
 */
const frame = (functionName: string, url = "") => ({ functionName, url, lineNumber: 0 });
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 3, 8] },
    { id: 2, callFrame: frame("(idle)") },
    { id: 3, callFrame: frame("handler", "file:///r/src/server.ts"), children: [4, 6] },
    { id: 4, callFrame: frame("authenticate", "file:///r/src/auth/authenticator.ts"), children: [5] },
    { id: 5, callFrame: frame("jwtVerify", "file:///r/node_modules/jose/dist/verify.js") },
    { id: 6, callFrame: frame("rank", "file:///r/src/ranking/rank.ts"), children: [7] },
    { id: 7, callFrame: frame("run", "file:///r/src/ranking/onnx-session.ts") },
    { id: 8, callFrame: frame("apply", "file:///r/src/catalog/catalog-applier.ts"), children: [9] },
    { id: 9, callFrame: frame("run", "file:///r/src/ranking/onnx-session.ts") },
  ],
  startTime: 0,
  endTime: 1000,
  // idle 100, auth 40 (+ jose 60), rank's onnx 300, catalogue's onnx 500
  samples: [2, 4, 5, 7, 9],
  timeDeltas: [100, 40, 60, 300, 500],
};

describe("profileShares", () => {
  it("counts each sample once per group whose frames are on its stack, and busy time without (idle)", () => {
    const shares = profileShares(profile, {
      auth: urlContains("/src/auth/", "/node_modules/jose/"),
      onnx: urlContains("/onnx-session"),
      "catalogue onnx": [urlContains("/src/catalog/"), urlContains("/onnx-session")],
      server: urlContains("/src/server.ts"),
      nothing: () => false,
    });
    expect(shares.totalUs).toBe(1000);
    expect(shares.busyUs).toBe(900);
    expect(shares.groups).toEqual({ auth: 100, onnx: 800, "catalogue onnx": 500, server: 400, nothing: 0 });
  });

  it("an empty profile has nothing in any group", () => {
    const shares = profileShares({ nodes: [{ id: 1, callFrame: frame("(root)") }], startTime: 0, endTime: 0, samples: [], timeDeltas: [] }, { auth: urlContains("/src/auth/") });
    expect(shares).toEqual({ totalUs: 0, busyUs: 0, groups: { auth: 0 } });
  });
});
