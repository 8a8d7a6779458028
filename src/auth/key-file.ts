import { readFileSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { z } from "zod";
import { badFile } from "../errors";
import { writeFileAtomic } from "../util/fs";
import { createApiKeySet, type ApiKeyRecord, type ApiKeySet } from "./api-keys";
import { SCOPES } from "./scopes";

/**
 * The keys file: a JSON list of `{ id, hash, scopes, createdAt? }`, named by config `auth.keysFile`. It holds hashes
 * only, so it may be read by the service account and backed up like any config. Rotation without a restart: the
 * server re-reads it when its mtime, size or inode changes (polled: fs.watch misses atomic renames on some
 * platforms, and a stat every 2 s costs nothing). A file that turns bad keeps the last good keys and is logged.
 */

const recordSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, '_', '.' or '-'"),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 lowercase hex digits'),
  scopes: z.array(z.enum(SCOPES)).min(1),
  createdAt: z.string().optional(),
});

const fileSchema = z.array(recordSchema);

/** Parses and validates a keys file's text; BAD_FILE naming the path, entry and field. */
export function parseKeyFile(path: string, text: string): ApiKeyRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw badFile(path, `not valid JSON (${(err as Error).message})`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `entry ${issue.path.join(".")}` : "top level";
    throw badFile(path, `${where}: ${issue.message} (expected a JSON list of { id, hash, scopes })`);
  }
  const seen = new Set<string>();
  for (const r of parsed.data) {
    if (seen.has(r.id)) throw badFile(path, `key id "${r.id}" appears twice`);
    seen.add(r.id);
  }
  return parsed.data;
}

/** Reads a keys file synchronously (start-up); BAD_FILE when missing or malformed. */
export function readKeyFileSync(path: string): ApiKeyRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw badFile(path, `cannot read keys file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseKeyFile(path, text);
}

/** The current records of a keys file, or [] when it does not exist yet (the CLI creates it). */
export async function readKeyFileOrEmpty(path: string): Promise<ApiKeyRecord[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw badFile(path, `cannot read keys file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseKeyFile(path, text);
}

export async function writeKeyFile(path: string, records: readonly ApiKeyRecord[]): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(records, null, 2) + "\n");
}

export interface WatchedKeyFile {
  /** The keys as of the last good read. */
  current(): ApiKeySet;
  /** Checks the file now (the timer does this every `reloadMs`); resolves once any change is applied. */
  check(): Promise<void>;
  close(): void;
}

export interface WatchKeyFileOptions {
  path: string;
  /** @default 2000 */
  reloadMs?: number;
  /** Reloads and bad files are reported here (key ids and counts only). @default console.error */
  log?: (message: string) => void;
}

/** Loads the keys file now (BAD_FILE if it is missing or malformed) and re-reads it whenever it changes. */
export function watchKeyFile(options: WatchKeyFileOptions): WatchedKeyFile {
  const { path, reloadMs = 2000, log = (m: string) => console.error(m) } = options;
  const signature = (s: { mtimeMs: number; size: number; ino: number }) => `${s.mtimeMs}:${s.size}:${s.ino}`;
  let seen = signature(statSync(path, { throwIfNoEntry: false }) ?? { mtimeMs: 0, size: 0, ino: 0 });
  let keys = createApiKeySet(readKeyFileSync(path));
  let checking: Promise<void> | undefined;

  async function reload(): Promise<void> {
    let sig: string;
    try {
      sig = signature(await stat(path));
    } catch (err) {
      if (seen !== "missing") log(`[reelfeed] auth: keys file unreadable (${(err as NodeJS.ErrnoException).code}); keeping the ${keys.size} keys loaded before`);
      seen = "missing";
      return;
    }
    if (sig === seen) return;
    seen = sig;
    try {
      const records = parseKeyFile(path, await readFile(path, "utf8"));
      keys = createApiKeySet(records);
      log(`[reelfeed] auth: keys file reloaded: ${records.length} keys (${records.map((r) => r.id).join(", ")})`);
    } catch (err) {
      log(`[reelfeed] auth: ${(err as Error).message}; keeping the ${keys.size} keys loaded before`);
    }
  }

  const check = (): Promise<void> => (checking ??= reload().finally(() => (checking = undefined)));
  const timer = setInterval(() => void check(), reloadMs);
  timer.unref();
  return { current: () => keys, check, close: () => clearInterval(timer) };
}
