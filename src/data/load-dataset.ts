/**
 * The one entry point the CLI, training and the server's bootstrap use to read data: detects the layout of a
 * folder (MovieLens or generic), imports, validates and returns the dataset with its validation report.
 *
 * A bad file (missing folder or required file, unreadable, wrong columns) throws BAD_FILE naming path and line;
 * a bad row never does: it is dropped and counted under `malformed_row`. Nothing is written.
 */
import { stat } from "node:fs/promises";
import { badFile } from "../errors";
import { silentProgress, type Progress } from "../util/progress";
import { findGenericFiles, importGeneric } from "./generic-importer";
import { detectMovieLensLayout, importMovieLens, type MovieLensImportOptions } from "./movielens-importer";
import type { ImportResult } from "./tabular";
import type { Dataset } from "./types";
import { validateDataset, type ValidateOptions, type ValidationReport } from "./validate";

export type DatasetFormat = "movielens" | "generic";

/** Options for {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** Layout of the folder. @default detected from the files present */
  format?: DatasetFormat;
  /** @default silentProgress */
  progress?: Progress;
  /**
   * Validation settings. autoCreateUsers / autoCreateCreators default to "the folder had no such file".
   * @default {}
   */
  validate?: ValidateOptions;
  /** MovieLens import settings (duration stand-in). @default {} */
  movielens?: Omit<MovieLensImportOptions, "progress">;
}

/** The format of a data folder; BAD_FILE when the folder is missing or is neither layout. */
export async function detectDatasetFormat(path: string): Promise<DatasetFormat> {
  await assertDir(path);
  if (await detectMovieLensLayout(path)) return "movielens";
  const generic = await findGenericFiles(path);
  if (Object.keys(generic).length > 0) return "generic";
  throw badFile(
    path,
    "unrecognised data folder: expected MovieLens (ratings.csv + movies.csv, or u.data + u.item) or the generic layout (videos.jsonl|csv + events.jsonl|csv)",
  );
}

async function assertDir(path: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw badFile(path, "data folder not found");
  }
  if (!isDir) throw badFile(path, "not a folder");
}

export async function loadDataset(
  path: string,
  options: LoadDatasetOptions = {},
): Promise<{ dataset: Dataset; report: ValidationReport }> {
  const { progress = silentProgress, validate = {}, movielens = {} } = options;
  await assertDir(path);
  const format = options.format ?? (await detectDatasetFormat(path));
  let imported: ImportResult;
  switch (format) {
    case "movielens":
      imported = await importMovieLens(path, { ...movielens, progress });
      break;
    case "generic":
      imported = await importGeneric(path, { progress });
      break;
    default: {
      const never: never = format;
      throw badFile(path, `unknown format ${String(never)}`);
    }
  }
  const step = progress.step("validate");
  const { dataset, report } = validateDataset(imported.dataset, {
    autoCreateUsers: !imported.provided.users,
    autoCreateCreators: !imported.provided.creators,
    ...validate,
  });
  report.dropped.malformed_row += imported.malformed.count;
  report.examples.malformed_row.push(...imported.malformed.examples);
  step.done(`${dataset.events.length} events kept`);
  return { dataset, report };
}
