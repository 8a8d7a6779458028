import { fileURLToPath } from "node:url";
import { lexicographicSortSchema, printSchema } from "graphql";
import { writeFileAtomic } from "../util/fs";
import { buildReelfeedSchema } from "./build-schema";

/** Path of the committed schema, relative to the repository root. */
export const SCHEMA_FILE = "schema.graphql";

/**
 * The schema as partners see it, sorted: type-graphql orders types by decorator evaluation, i.e. module load order,
 * which differs between entry points; sorting makes the committed file change only when the schema does.
 */
export async function printReelfeedSchema(): Promise<string> {
  return printSchema(lexicographicSortSchema(await buildReelfeedSchema())) + "\n";
}

// `npm run schema:print` → tsx src/schema/print-schema.ts [out]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? SCHEMA_FILE;
  printReelfeedSchema()
    .then((sdl) => writeFileAtomic(out, sdl))
    .then(
      () => console.log(`wrote ${out}`),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
}
