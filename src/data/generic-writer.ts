/**
 * Writes a Dataset in the generic layout as JSONL (one file per entity + manifest.json): what
 * `npm run export-training` and `reelfeed import --out` produce, and what importGeneric reads back unchanged.
 * The folder appears whole or not at all (writeDirAtomic): a failed export never leaves a half-written dataset.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { writeDirAtomic, writeFileAtomic } from "../util/fs";
import { silentProgress, type Progress } from "../util/progress";
import { GENERIC_FORMAT, GENERIC_FORMAT_VERSION, type GenericManifest } from "./generic-importer";
import type { Dataset } from "./types";
import { DATASET_ENTITIES, type DatasetEntity } from "./validate";

/** Options for {@link writeGenericDataset}. */
export interface GenericWriteOptions {
  /** @default silentProgress */
  progress?: Progress;
}

/** Bytes buffered before a write: large enough to keep syscalls few, small enough to bound memory. */
const CHUNK_CHARS = 4 * 1024 * 1024;

/** Writes `ds` to `dir` (replacing what is there) as users.jsonl … events.jsonl plus manifest.json. */
export async function writeGenericDataset(dir: string, ds: Dataset, options: GenericWriteOptions = {}): Promise<void> {
  const { progress = silentProgress } = options;
  await writeDirAtomic(dir, async (tmp) => {
    const counts: Partial<Record<DatasetEntity, number>> = {};
    for (const entity of DATASET_ENTITIES) {
      const rows = ds[entity] as readonly unknown[];
      counts[entity] = rows.length;
      const step = progress.step(`write ${entity}.jsonl`, rows.length);
      await writeJsonl(join(tmp, `${entity}.jsonl`), rows, (n) => step.tick(n));
      step.done();
    }
    const manifest: GenericManifest = { format: GENERIC_FORMAT, version: GENERIC_FORMAT_VERSION, source: ds.source, counts };
    await writeFileAtomic(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  });
}

async function writeJsonl(path: string, rows: readonly unknown[], tick: (n: number) => void): Promise<void> {
  const fh = await open(path, "w");
  try {
    let chunk = "";
    let pending = 0;
    for (const row of rows) {
      chunk += `${JSON.stringify(row)}\n`;
      pending++;
      if (chunk.length >= CHUNK_CHARS) {
        await fh.write(chunk);
        tick(pending);
        chunk = "";
        pending = 0;
      }
    }
    if (chunk) await fh.write(chunk);
    tick(pending);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
