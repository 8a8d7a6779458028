import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateApiKey, hashApiKey } from "../../src/auth/api-keys";
import { parseKeyFile, readKeyFileOrEmpty, readKeyFileSync, watchKeyFile, writeKeyFile } from "../../src/auth/key-file";
import { ReelfeedError } from "../../src/errors";

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), "rf-keys-"))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

function badFileOf(fn: () => unknown): ReelfeedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReelfeedError);
    expect((err as ReelfeedError).code).toBe("BAD_FILE");
    return err as ReelfeedError;
  }
  throw new Error("expected BAD_FILE");
}

const good = { id: "partner-a", hash: hashApiKey("x"), scopes: ["feed:read"] };

describe("keys file", () => {
  it.each([
    ["not JSON", "{", /keys\.json: not valid JSON/],
    ["an object, not a list", JSON.stringify({ keys: [] }), /top level: .*expected a JSON list/],
    ["a plain-text key instead of a hash", JSON.stringify([{ ...good, hash: "rfk_secret" }]), /entry 0\.hash: expected "sha256:"/],
    ["an unknown scope", JSON.stringify([{ ...good, scopes: ["feed:write"] }]), /entry 0\.scopes\.0/],
    ["no scopes", JSON.stringify([{ ...good, scopes: [] }]), /entry 0\.scopes/],
    ["a bad id", JSON.stringify([{ ...good, id: "has space" }]), /entry 0\.id/],
    ["a duplicate id", JSON.stringify([good, good]), /key id "partner-a" appears twice/],
  ])("rejects %s with BAD_FILE naming the file and the entry", (_what, text, message) => {
    const err = badFileOf(() => parseKeyFile("/etc/rf/keys.json", text));
    expect(err.message).toMatch(message);
    expect(err.details.path).toBe("/etc/rf/keys.json");
  });

  it("a missing file: BAD_FILE at start-up; an empty list for the CLI, which creates it", async () => {
    const path = join(dir, "none.json");
    expect(badFileOf(() => readKeyFileSync(path)).message).toMatch(/cannot read keys file \(ENOENT\)/);
    expect(await readKeyFileOrEmpty(path)).toEqual([]);
    await writeFile(path, "[");
    await expect(readKeyFileOrEmpty(path)).rejects.toMatchObject({ code: "BAD_FILE" });
  });

  it("is re-read when it changes: a new key works and a removed one stops, without a restart; a bad edit keeps the last good keys", async () => {
    const path = join(dir, "keys.json");
    const first = generateApiKey();
    const second = generateApiKey();
    await writeKeyFile(path, [{ id: "first", hash: hashApiKey(first), scopes: ["feed:read"] }]);
    const logs: string[] = [];
    const watched = watchKeyFile({ path, reloadMs: 60_000, log: (m) => logs.push(m) });
    try {
      expect(watched.current().verify(first)?.id).toBe("first");
      await writeKeyFile(path, [{ id: "second", hash: hashApiKey(second), scopes: ["admin"] }]);
      await watched.check();
      expect(watched.current().verify(first)).toBeUndefined();
      expect(watched.current().verify(second)?.id).toBe("second");
      expect(logs.at(-1)).toMatch(/reloaded: 1 keys \(second\)/);

      await writeFile(path, "[{ broken");
      await watched.check();
      expect(watched.current().verify(second)?.id).toBe("second");
      expect(logs.at(-1)).toMatch(/not valid JSON.*keeping the 1 keys loaded before/);

      await rm(path);
      await watched.check();
      expect(watched.current().verify(second)?.id).toBe("second");
      expect(logs.at(-1)).toMatch(/unreadable \(ENOENT\)/);
      // No key or hash ever reaches the log.
      for (const line of logs) expect(line).not.toMatch(/rfk_|sha256:/);
    } finally {
      watched.close();
    }
  });

  it("is polled on its own timer (auth.keysReloadMs)", async () => {
    const path = join(dir, "keys.json");
    const key = generateApiKey();
    await writeKeyFile(path, []);
    const watched = watchKeyFile({ path, reloadMs: 20, log: () => {} });
    try {
      expect(watched.current().verify(key)).toBeUndefined();
      await writeKeyFile(path, [{ id: "later", hash: hashApiKey(key), scopes: ["feed:read"] }]);
      await expect.poll(() => watched.current().verify(key)?.id, { timeout: 2000, interval: 20 }).toBe("later");
    } finally {
      watched.close();
    }
  });
});
