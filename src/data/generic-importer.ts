/**
 * The generic layout: how a platform brings its own data (docs/data-formats.md). A folder with one file per
 * entity, each `<entity>.jsonl` (one JSON object per line, the domain types' field names) or `<entity>.csv`
 * (header row, list fields `|`-separated, events carry type-specific fields in a `data` JSON column):
 *   users, creators, videos (required), follows, subscriptions, events (required), and optional manifest.json.
 *
 * This reader only turns rows into records; whether a record is valid (types, ranges, references) is decided by
 * validateDataset, so both JSONL and CSV get exactly the same rules. Rows that cannot be parsed at all (bad JSON,
 * wrong field count) are counted as malformed, never fatal.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { badFile } from "../errors";
import { silentProgress, type Progress } from "../util/progress";
import { createRowIssues, forEachCsvRecord, forEachLine, headerIndex, isFile, type ImportResult, type RowIssues } from "./tabular";
import type { Dataset } from "./types";
import { DATASET_ENTITIES, type DatasetEntity } from "./validate";

export const GENERIC_FORMAT = "reelfeed-generic";
export const GENERIC_FORMAT_VERSION = 1;

/** manifest.json: optional on import, always written by the writer. */
export interface GenericManifest {
  format: typeof GENERIC_FORMAT;
  version: number;
  /** Dataset.source of the data. */
  source: string;
  counts?: Partial<Record<DatasetEntity, number>>;
}

type ColumnKind = "string" | "number" | "boolean" | "list" | "timestamp";

/** CSV columns per entity: name → kind. Required columns first (see GENERIC_REQUIRED_COLUMNS). */
export const GENERIC_CSV_COLUMNS: Record<DatasetEntity, Record<string, ColumnKind>> = {
  users: {
    id: "string", age: "number", gender: "string", occupation: "string", country: "string", language: "string",
    createdAt: "timestamp", device: "string",
  },
  creators: { id: "string", name: "string", country: "string", language: "string", createdAt: "timestamp" },
  videos: {
    id: "string", creatorId: "string", title: "string", description: "string", tags: "list", category: "string",
    language: "string", durationSec: "number", uploadedAt: "timestamp", ageRestricted: "boolean",
    policyFlags: "list", blockedRegions: "list",
  },
  follows: { followerId: "string", followeeId: "string", ts: "timestamp" },
  subscriptions: { userId: "string", creatorId: "string", ts: "timestamp" },
  events: {
    id: "string", type: "string", userId: "string", ts: "timestamp", videoId: "string", sessionId: "string",
    trackingId: "string", device: "string", country: "string", data: "string",
  },
};

export const GENERIC_REQUIRED_COLUMNS: Record<DatasetEntity, readonly string[]> = {
  users: ["id"],
  creators: ["id"],
  videos: ["id", "creatorId", "title", "durationSec", "uploadedAt"],
  follows: ["followerId", "followeeId", "ts"],
  subscriptions: ["userId", "creatorId", "ts"],
  events: ["id", "type", "userId", "ts"],
};

/** Entities a generic folder must have. */
export const GENERIC_REQUIRED_ENTITIES: readonly DatasetEntity[] = ["videos", "events"];

export interface GenericFile {
  path: string;
  kind: "jsonl" | "csv";
}

/** The entity files present in a folder; BAD_FILE when one entity has both a .jsonl and a .csv. */
export async function findGenericFiles(dir: string): Promise<Partial<Record<DatasetEntity, GenericFile>>> {
  const found: Partial<Record<DatasetEntity, GenericFile>> = {};
  for (const entity of DATASET_ENTITIES) {
    const jsonl = join(dir, `${entity}.jsonl`);
    const csv = join(dir, `${entity}.csv`);
    const [hasJsonl, hasCsv] = await Promise.all([isFile(jsonl), isFile(csv)]);
    if (hasJsonl && hasCsv) throw badFile(csv, `both ${entity}.jsonl and ${entity}.csv exist; keep one`);
    if (hasJsonl) found[entity] = { path: jsonl, kind: "jsonl" };
    else if (hasCsv) found[entity] = { path: csv, kind: "csv" };
  }
  return found;
}

/** Options for {@link importGeneric}. */
export interface GenericImportOptions {
  /** @default silentProgress */
  progress?: Progress;
}

export async function importGeneric(dir: string, options: GenericImportOptions = {}): Promise<ImportResult> {
  const { progress = silentProgress } = options;
  const files = await findGenericFiles(dir);
  for (const entity of GENERIC_REQUIRED_ENTITIES) {
    if (!files[entity]) throw badFile(join(dir, `${entity}.jsonl`), `required file missing (${entity}.jsonl or ${entity}.csv)`);
  }
  let source = `generic:${basename(dir)}`;
  const manifestPath = join(dir, "manifest.json");
  if (await isFile(manifestPath)) {
    let manifest: unknown;
    try {
      manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    } catch (err) {
      throw badFile(manifestPath, `not valid JSON (${(err as Error).message})`);
    }
    const m = manifest as Partial<GenericManifest>;
    if (typeof m !== "object" || m === null || m.format !== GENERIC_FORMAT) {
      throw badFile(manifestPath, `expected {"format": "${GENERIC_FORMAT}", ...}`);
    }
    if (m.version !== GENERIC_FORMAT_VERSION) throw badFile(manifestPath, `unsupported version ${String(m.version)}`);
    if (typeof m.source === "string" && m.source) source = m.source;
  }
  const issues = createRowIssues();
  const dataset: Dataset = { source, users: [], creators: [], videos: [], follows: [], subscriptions: [], events: [] };
  for (const entity of DATASET_ENTITIES) {
    const file = files[entity];
    if (!file) continue;
    const step = progress.step(`read ${basename(file.path)}`);
    const rows = dataset[entity] as unknown[];
    const push = (row: Record<string, unknown>) => {
      rows.push(row);
      if ((rows.length & 0xffff) === 0) step.tick(0x10000);
    };
    if (file.kind === "jsonl") await readJsonl(file.path, issues, push);
    else await readCsv(file.path, entity, issues, push);
    step.done(`${rows.length} rows`);
  }
  return { dataset, malformed: issues, provided: { users: Boolean(files.users), creators: Boolean(files.creators) } };
}

async function readJsonl(path: string, issues: RowIssues, push: (row: Record<string, unknown>) => void): Promise<void> {
  await forEachLine(path, "utf8", (line, lineNo) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return issues.add(path, lineNo, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return issues.add(path, lineNo, "expected a JSON object");
    }
    push(value as Record<string, unknown>);
  });
}

/**
 * Converts a CSV cell. Empty means absent. A cell that does not convert is kept as its text, so validation
 * reports it as an invalid field of that record rather than this reader guessing.
 */
function convertCell(kind: ColumnKind, cell: string): unknown {
  switch (kind) {
    case "string":
      return cell;
    case "list":
      return cell.split("|").map((s) => s.trim()).filter(Boolean);
    case "number": {
      const n = Number(cell);
      return cell.trim() !== "" && Number.isFinite(n) ? n : cell;
    }
    case "timestamp": {
      // Epoch milliseconds, or an ISO 8601 date for hand-written files.
      const n = Number(cell);
      if (cell.trim() !== "" && Number.isFinite(n)) return n;
      const parsed = /^\d{4}-\d{2}-\d{2}/.test(cell) ? Date.parse(cell) : NaN;
      return Number.isNaN(parsed) ? cell : parsed;
    }
    case "boolean":
      if (cell === "true" || cell === "1") return true;
      if (cell === "false" || cell === "0") return false;
      return cell;
  }
}

async function readCsv(
  path: string,
  entity: DatasetEntity,
  issues: RowIssues,
  push: (row: Record<string, unknown>) => void,
): Promise<void> {
  const kinds = GENERIC_CSV_COLUMNS[entity];
  let columns: Array<[string, ColumnKind, number]> | undefined;
  let width = 0;
  await forEachCsvRecord(
    path,
    (fields, lineNo) => {
      if (!columns) {
        const index = headerIndex(path, fields, GENERIC_REQUIRED_COLUMNS[entity], Object.keys(kinds), true);
        columns = [...index].map(([name, i]) => [name, kinds[name], i]);
        width = fields.length;
        return;
      }
      if (fields.length !== width) return issues.add(path, lineNo, `expected ${width} fields, got ${fields.length}`);
      const row: Record<string, unknown> = {};
      for (const [name, kind, i] of columns) {
        const cell = fields[i];
        if (cell === "") continue;
        if (name === "data") {
          let data: unknown;
          try {
            data = JSON.parse(cell);
          } catch (err) {
            return issues.add(path, lineNo, `data is not valid JSON (${(err as Error).message})`);
          }
          if (typeof data !== "object" || data === null || Array.isArray(data)) {
            return issues.add(path, lineNo, "data must be a JSON object");
          }
          // The common columns win over a same-named key inside data.
          for (const [k, v] of Object.entries(data)) if (!(k in row) && !(k in kinds)) row[k] = v;
          continue;
        }
        row[name] = convertCell(kind, cell);
      }
      push(row);
    },
    { issues },
  );
  if (!columns) throw badFile(path, `empty file: expected a header with ${GENERIC_REQUIRED_COLUMNS[entity].join(",")}`, 1);
}
