import { randomBytes } from "node:crypto";
import { chmod } from "node:fs/promises";
import { ReelfeedError } from "../errors";
import type { Progress } from "../util/progress";
import { generateApiKey, hashApiKey, type ApiKeyRecord } from "./api-keys";
import { readKeyFileOrEmpty, writeKeyFile } from "./key-file";
import { parseScopes } from "./scopes";

/**
 * `reelfeed keys create|list|revoke`. The key is printed once, on stdout (so `> key.txt` captures exactly it);
 * everything else goes to stderr. Only its hash is written. A running server picks the change up within
 * auth.keysReloadMs (2 s by default): no restart to add or revoke a key.
 */
export interface KeysCommandOptions {
  /** "create", "list" or "revoke". */
  action: string | undefined;
  file: string;
  /** create: comma-separated scopes. */
  scopes?: string;
  /** create: the key's id (@default "key-" + 8 random hex digits); revoke: which key. */
  id?: string;
  out: NodeJS.WritableStream;
  progress: Progress;
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;

export async function runKeysCommand(options: KeysCommandOptions): Promise<void> {
  const { action, file, out, progress } = options;
  const records = await readKeyFileOrEmpty(file);
  switch (action) {
    case "create": {
      if (options.scopes === undefined) throw new ReelfeedError("BAD_USER_INPUT", "--scopes is required, e.g. --scopes feed:read,events:write", { argument: "scopes" });
      const scopes = parseScopes(options.scopes);
      const id = options.id ?? `key-${randomBytes(4).toString("hex")}`;
      if (!ID.test(id)) throw new ReelfeedError("BAD_USER_INPUT", `--id: 1-64 letters, digits, '_', '.' or '-', got "${id}"`, { argument: "id" });
      if (records.some((r) => r.id === id)) throw new ReelfeedError("BAD_USER_INPUT", `--id: a key "${id}" already exists in ${file}`, { argument: "id" });
      const key = generateApiKey();
      const record: ApiKeyRecord = { id, hash: hashApiKey(key), scopes, createdAt: new Date().toISOString() };
      await writeKeyFile(file, [...records, record]);
      // Hashes only, but still nobody else's business.
      await chmod(file, 0o600).catch(() => {});
      progress.log(`created key "${id}" with scopes ${scopes.join(", ")} in ${file}. It is shown once, below; only its hash is stored.`);
      out.write(`${key}\n`);
      return;
    }
    case "list": {
      if (records.length === 0) progress.log(`no keys in ${file}`);
      for (const r of records) out.write(`${r.id}\t${r.scopes.join(",")}\t${r.createdAt ?? ""}\n`);
      return;
    }
    case "revoke": {
      const id = options.id;
      if (id === undefined) throw new ReelfeedError("BAD_USER_INPUT", "--id is required: which key to revoke (reelfeed keys list)", { argument: "id" });
      if (!records.some((r) => r.id === id)) throw new ReelfeedError("NOT_FOUND", `no key "${id}" in ${file}`, { argument: "id" });
      await writeKeyFile(file, records.filter((r) => r.id !== id));
      progress.log(`revoked key "${id}"; running servers drop it at their next check of ${file}`);
      return;
    }
    default:
      throw new ReelfeedError("BAD_USER_INPUT", `keys: expected create, list or revoke, got "${action ?? ""}"`, { argument: "action" });
  }
}
