import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey, hashApiKey } from "../../src/auth/api-keys";
import { writeKeyFile } from "../../src/auth/key-file";
import { REMOVE_VIDEOS, startCatalogHarness, UPSERT_CREATORS, UPSERT_USERS, UPSERT_VIDEOS, videoInput, type CatalogHarness } from "./harness";

/** The catalogue writes need scope catalog:write: the mutations (operation guard, root-fields.ts) and POST /catalog. */
let h: CatalogHarness;
let keysDir: string;
const keys = { reader: generateApiKey(), catalog: generateApiKey() };

beforeAll(async () => {
  keysDir = await mkdtemp(join(tmpdir(), "rf-catalog-keys-"));
  const keysFile = join(keysDir, "keys.json");
  await writeKeyFile(keysFile, [
    { id: "reader", hash: hashApiKey(keys.reader), scopes: ["feed:read", "events:write", "debug", "admin"] },
    { id: "catalog", hash: hashApiKey(keys.catalog), scopes: ["catalog:write"] },
  ]);
  h = await startCatalogHarness({ config: { auth: { keysFile } } });
});
afterAll(async () => {
  await h?.stop();
  await rm(keysDir, { recursive: true, force: true });
});

const now = Date.now();
const CALLS: Array<{ name: string; send: (headers: Record<string, string>) => Promise<{ status: number; body: any }> }> = [
  { name: "upsertVideos", send: (hd) => h.gql(UPSERT_VIDEOS, { v: [videoInput("auth-v")] }, hd) },
  { name: "removeVideos", send: (hd) => h.gql(REMOVE_VIDEOS, { ids: ["auth-gone"], r: "test" }, hd) },
  { name: "upsertUsers", send: (hd) => h.gql(UPSERT_USERS, { u: [{ id: "auth-u", updatedAt: now }] }, hd) },
  { name: "upsertCreators", send: (hd) => h.gql(UPSERT_CREATORS, { c: [{ id: "auth-c", updatedAt: now }] }, hd) },
  { name: "POST /catalog", send: (hd) => h.ndjson([JSON.stringify({ kind: "user", id: "auth-bulk", updatedAt: now })], hd) },
];

describe.each(CALLS)("$name", (call) => {
  it("without credentials: 401", async () => {
    const r = await call.send({});
    expect(r.status).toBe(401);
  });

  it("with a key holding every other scope: 403 FORBIDDEN naming catalog:write, nothing written", async () => {
    const before = h.live.applier.stats().applied;
    const r = await call.send({ "x-api-key": keys.reader });
    expect(r.status).toBe(403);
    expect(r.body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", scope: "catalog:write" });
    expect(h.live.applier.stats().applied).toBe(before);
  });

  it("with a catalog:write key: written", async () => {
    const r = await call.send({ "x-api-key": keys.catalog });
    expect(r.status).toBe(200);
    const results = call.name === "POST /catalog" ? r.body.results : (Object.values(r.body.data)[0] as { results: unknown[] }).results;
    expect(results[0]).toMatchObject({ status: "ACCEPTED" });
  });
});
