import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApiKeySet, hashApiKey } from "../../src/auth/api-keys";
import { readKeyFileSync } from "../../src/auth/key-file";
import { runKeysCommand } from "../../src/auth/keys-command";
import { createProgress } from "../../src/util/progress";
import { reelfeedErrorOf } from "../reelfeed-error-of";

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rf-keyscmd-"));
  file = join(dir, "nested", "keys.json");
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

function capture() {
  let text = "";
  const out = new Writable({ write: (chunk, _enc, cb) => ((text += String(chunk)), cb()) });
  const logs: string[] = [];
  const progress = { ...createProgress({ silent: true }), log: (m: string) => void logs.push(m) };
  return { out, progress, logs, text: () => text };
}

describe("reelfeed keys", () => {
  it("create prints the key once on stdout and stores only its hash, in a file only its owner reads", async () => {
    const io = capture();
    await runKeysCommand({ action: "create", file, scopes: "feed:read,events:write", id: "partner-a", ...io });
    const key = io.text().trim();
    expect(key).toMatch(/^rfk_[A-Za-z0-9_-]{43}$/);
    const stored = await readFile(file, "utf8");
    expect(stored).not.toContain(key);
    expect(stored).toContain(hashApiKey(key));
    expect(io.logs.join("\n")).not.toContain(key);
    expect((await stat(file)).mode & 0o077).toBe(0);
    expect(createApiKeySet(readKeyFileSync(file)).verify(key)).toEqual({ id: "partner-a", scopes: new Set(["feed:read", "events:write"]) });
  });

  it("list shows ids and scopes, never hashes; revoke removes a key", async () => {
    await runKeysCommand({ action: "create", file, scopes: "admin", id: "ops", ...capture() });
    await runKeysCommand({ action: "create", file, scopes: "feed:read", ...capture() });
    const io = capture();
    await runKeysCommand({ action: "list", file, ...io });
    expect(io.text()).toMatch(/^ops\tadmin\t/m);
    expect(io.text()).toMatch(/^key-[0-9a-f]{8}\tfeed:read\t/m);
    expect(io.text()).not.toContain("sha256");
    await runKeysCommand({ action: "revoke", file, id: "ops", ...capture() });
    expect(readKeyFileSync(file).map((r) => r.id)).not.toContain("ops");
  });

  it.each([
    [{ action: "create" }, "BAD_USER_INPUT", /--scopes is required/],
    [{ action: "create", scopes: "" }, "BAD_USER_INPUT", /name at least one/],
    [{ action: "create", scopes: "feed:read,root" }, "BAD_USER_INPUT", /unknown scope "root"/],
    [{ action: "create", scopes: "feed:read", id: "no spaces" }, "BAD_USER_INPUT", /--id/],
    [{ action: "revoke" }, "BAD_USER_INPUT", /--id is required/],
    [{ action: "revoke", id: "ghost" }, "NOT_FOUND", /no key "ghost"/],
    [{ action: "rotate" }, "BAD_USER_INPUT", /expected create, list or revoke/],
  ] as const)("%j: %s", async (args, code, message) => {
    const err = await reelfeedErrorOf(runKeysCommand({ file, ...args, ...capture() }), code);
    expect(err.message).toMatch(message);
  });

  it("refuses a duplicate id", async () => {
    await runKeysCommand({ action: "create", file, scopes: "admin", id: "ops", ...capture() });
    const err = await reelfeedErrorOf(runKeysCommand({ action: "create", file, scopes: "admin", id: "ops", ...capture() }), "BAD_USER_INPUT");
    expect(err.message).toMatch(/already exists/);
  });
});
