import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ReelfeedError } from "../errors";
import { experimentsFileSchema, type ExperimentConfig } from "./experiment-config";

/**
 * Experiments reloadable without a restart: `experiments.file` holds `{ "definitions": [...] }`. The file is parsed
 * and validated like the config (BAD_CONFIG naming the key, `experiments.file(<path>).definitions.0.traffic`); the
 * server polls its mtime and serves a valid edit within `experiments.reloadMs`.
 */
export async function readExperimentsFile(file: string): Promise<ExperimentConfig[]> {
  const path = resolve(file);
  const prefix = `experiments.file(${file})`;
  if (!existsSync(path)) throw new ReelfeedError("BAD_CONFIG", `config experiments.file: ${path} not found`, { key: "experiments.file", path });
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ReelfeedError("BAD_CONFIG", `config experiments.file: ${path} is not valid JSON (${(err as Error).message})`, { key: "experiments.file", path });
  }
  const parsed = experimentsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = [prefix, ...issue.path].join(".");
    throw new ReelfeedError("BAD_CONFIG", `config ${key}: ${issue.message}`, { key, path });
  }
  return parsed.data.definitions;
}

export interface ExperimentsFileWatcher {
  /** Checks the file now (tests, an admin action); resolves after any reload it triggered. */
  check(): Promise<void>;
  close(): void;
}

/**
 * Polls `file`'s mtime every `intervalMs` and hands a changed, valid file to `apply`. A file that fails to parse,
 * validate or `apply` (which plans the pipelines: BAD_CONFIG) goes to `onError` and the running experiments stay.
 */
export function watchExperimentsFile(
  file: string,
  intervalMs: number,
  apply: (definitions: ExperimentConfig[]) => Promise<void>,
  onError: (error: unknown, where: string) => void,
): ExperimentsFileWatcher {
  const path = resolve(file);
  const stamp = (): string => (existsSync(path) ? `${statSync(path).mtimeMs}:${statSync(path).size}` : "missing");
  let seen = stamp();
  let running: Promise<void> = Promise.resolve();
  const check = (): Promise<void> =>
    (running = running.then(async () => {
      const now = stamp();
      if (now === seen) return;
      seen = now;
      try {
        await apply(await readExperimentsFile(file));
      } catch (err) {
        onError(err, `experiments file ${file} (previous experiments keep serving)`);
      }
    }));
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { check, close: () => clearInterval(timer) };
}
