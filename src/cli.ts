#!/usr/bin/env node
import "reflect-metadata";
import { parseArgs } from "node:util";
import { readFile } from "node:fs/promises";
import { ReelfeedError } from "./errors";
import { loadConfig } from "./config";
import { createProgress } from "./util/progress";

/**
 * The `reelfeed` command line. Each command is also an npm script (npm start, npm run train, ...).
 * Errors: a ReelfeedError prints its message and exits 2; anything else is a bug and exits 1. Neither prints a
 * stack trace unless REELFEED_DEBUG=1.
 */

const USAGE = `usage: reelfeed <command> [options]

commands:
  serve            serve the GraphQL feed (trains a bundle first when none exists)
                     --bundle <dir>  --port <n>  --config <file>
  train            import → validate → split → features → train → export → evaluate → refit
                     --data <dir> [--format movielens|generic] | --synthetic --users N --videos N --days N [--seed N]
                     --out <dir> [--no-refit] [--epochs N] [--ranker-epochs N] [--no-activate]
  import           import and validate a dataset, print the report, optionally write it in the generic layout
                     --data <dir> [--format movielens|generic] [--out <dir>]
                     | --synthetic --users N --videos N --days N [--seed N] --out <dir>
  recommend        run the serving pipeline offline: JSONL {"userId","items"} per user on stdout
                     --bundle <dir> --users <file of ids, one per line> [--k 50] [--now <ISO time | epoch ms>]
                     (default --now: just after the bundle's newest event, so runs are reproducible)
  export-training  write point-in-time training data from the event log in the generic layout
                     --out <dir> [--bundle <dir>]
  models           list trained bundles (* active)
                     --activate <version> [--force]: checks (files, ONNX parity) and the promotion gate (refuses a
                       bundle worse than the active one on the warm protocol unless --force); a server started from
                       the registry hot-swaps to it
                     --rollback: back to the previously active bundle
  experiments      list the configured experiments; report <name> [--json]: per-variant online metrics with
                     confidence intervals and p-values (from Redis, or embedded from var/events)
  schema           print the GraphQL SDL (--write updates schema.graphql)
  keys create      create an API key: prints it once, stores only its hash
                     --scopes feed:read,events:write,catalog:write,debug,admin [--id <name>] [--file <keys.json>]
  keys list        key ids and scopes (never keys or hashes)   [--file <keys.json>]
  keys revoke      remove a key; a running server drops it within seconds   --id <name> [--file <keys.json>]
                     --file defaults to config auth.keysFile, else var/keys.json
`;

type Flags = Record<string, string | boolean | undefined>;

function flag(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

function intFlag(flags: Flags, name: string, fallback?: number): number | undefined {
  const v = flag(flags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ReelfeedError("BAD_USER_INPUT", `--${name}: expected a positive integer, got "${v}"`, { argument: name });
  return n;
}

function required(flags: Flags, name: string): string {
  const v = flag(flags, name);
  if (!v) throw new ReelfeedError("BAD_USER_INPUT", `--${name} is required (see reelfeed --help)`, { argument: name });
  return v;
}

function syntheticFlags(flags: Flags) {
  return flags.synthetic
    ? { users: intFlag(flags, "users", 1000)!, videos: intFlag(flags, "videos", 2000)!, days: intFlag(flags, "days", 30)!, seed: intFlag(flags, "seed", 7) }
    : undefined;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      config: { type: "string" },
      data: { type: "string" },
      format: { type: "string" },
      out: { type: "string" },
      bundle: { type: "string" },
      port: { type: "string" },
      synthetic: { type: "boolean" },
      users: { type: "string" },
      videos: { type: "string" },
      days: { type: "string" },
      seed: { type: "string" },
      epochs: { type: "string" },
      "ranker-epochs": { type: "string" },
      "no-refit": { type: "boolean" },
      "no-activate": { type: "boolean" },
      k: { type: "string" },
      now: { type: "string" },
      activate: { type: "string" },
      force: { type: "boolean" },
      rollback: { type: "boolean" },
      json: { type: "boolean" },
      write: { type: "boolean" },
      scopes: { type: "string" },
      file: { type: "string" },
      id: { type: "string" },
    },
  });
  const flags = values as Flags;
  const command = positionals[0];
  if (flags.help || !command) {
    process.stdout.write(USAGE);
    return command || flags.help ? 0 : 2;
  }
  const format = flag(flags, "format");
  if (format !== undefined && format !== "movielens" && format !== "generic") {
    throw new ReelfeedError("BAD_USER_INPUT", `--format: expected movielens or generic, got "${format}"`, { argument: "format" });
  }
  const config = loadConfig({ file: flag(flags, "config"), overrides: flag(flags, "port") ? { server: { port: intFlag(flags, "port") } } : {} });
  const progress = createProgress();

  switch (command) {
    case "train": {
      const { trainBundle } = await import("./training/train-pipeline");
      const { registerBundle } = await import("./training/registry");
      const synthetic = syntheticFlags(flags);
      const out = required(flags, "out");
      if (!synthetic) required(flags, "data");
      const epochs = intFlag(flags, "epochs");
      const rankerEpochs = intFlag(flags, "ranker-epochs");
      const { funnelRecommenders } = await import("./app/offline-recommend");
      const result = await trainBundle({
        data: flag(flags, "data"),
        format: format as "movielens" | "generic" | undefined,
        synthetic,
        out,
        refit: !flags["no-refit"],
        twoTower: epochs ? { epochs } : undefined,
        ranker: rankerEpochs ? { epochs: rankerEpochs } : undefined,
        progress,
        extraRecommenders: (ctx) => funnelRecommenders(ctx, config),
      });
      if (!flags["no-activate"]) {
        // Registered first, then activated through the promotion gate: a retrain worse than the served bundle stays
        // registered but inactive (models --activate <version> --force to serve it anyway).
        const { activateBundle } = await import("./training/registry");
        const entry = await registerBundle(config.paths.varDir, out, false);
        try {
          const { gate } = await activateBundle(config.paths.varDir, entry.version);
          progress.log(`activated ${entry.version} (gate: ${gate.reason})`);
        } catch (err) {
          if (!(err instanceof ReelfeedError)) throw err;
          progress.log(`! registered ${entry.version} but not activated: ${err.message}`);
        }
      }
      progress.log(`bundle ${result.manifest.version} written to ${out} (report: ${out}/report.md)`);
      return 0;
    }
    case "import": {
      const synthetic = syntheticFlags(flags);
      const out = flag(flags, "out");
      let dataset;
      if (synthetic) {
        if (!out) required(flags, "out");
        const { generateSynthetic } = await import("./data/synthetic");
        dataset = generateSynthetic({ ...synthetic, progress }).dataset;
      } else {
        const { loadDataset } = await import("./data/load-dataset");
        const { formatValidationReport } = await import("./data/validate");
        const loaded = await loadDataset(required(flags, "data"), { format: format as "movielens" | "generic" | undefined, progress });
        process.stdout.write(formatValidationReport(loaded.report) + "\n");
        dataset = loaded.dataset;
      }
      if (out) {
        const { writeGenericDataset } = await import("./data/generic-writer");
        await writeGenericDataset(out, dataset);
        progress.log(`wrote ${dataset.users.length} users, ${dataset.videos.length} videos, ${dataset.events.length} events to ${out}`);
      }
      return 0;
    }
    case "recommend": {
      const { recommendFile } = await import("./app/offline-recommend");
      const users = (await readFileOrFail(required(flags, "users"))).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
      const nowFlag = flag(flags, "now");
      const now = nowFlag === undefined ? undefined : /^\d+$/.test(nowFlag) ? Number(nowFlag) : Date.parse(nowFlag);
      if (now !== undefined && !Number.isFinite(now)) {
        throw new ReelfeedError("BAD_USER_INPUT", `--now: expected an ISO time or epoch milliseconds, got "${nowFlag}"`, { argument: "now" });
      }
      await recommendFile({ bundle: required(flags, "bundle"), users, k: intFlag(flags, "k", 50)!, config, out: process.stdout, now, progress });
      return 0;
    }
    case "export-training": {
      const { exportTraining } = await import("./events/export-training");
      await exportTraining({ config, out: required(flags, "out"), bundle: flag(flags, "bundle"), progress });
      return 0;
    }
    case "models": {
      const { readRegistry, activateBundle, rollbackBundle } = await import("./training/registry");
      const version = flag(flags, "activate");
      if (version || flags.rollback) {
        const { entry, previous, gate } = version ? await activateBundle(config.paths.varDir, version, { force: flags.force === true }) : await rollbackBundle(config.paths.varDir);
        process.stdout.write(`active: ${entry.version} (${entry.path}), was ${previous ?? "none"}; gate: ${gate.passed ? "passed" : "REFUSED, forced"} — ${gate.reason}\n`);
        return 0;
      }
      const registry = readRegistry(config.paths.varDir);
      if (registry.bundles.length === 0) process.stdout.write("no bundles yet: run `npm run train`\n");
      for (const b of registry.bundles) {
        const metrics = Object.entries(b.metrics).map(([k, v]) => `${k}=${Number(v).toFixed(4)}`).join(" ");
        process.stdout.write(`${b.version === registry.active ? "*" : " "} ${b.version}  ${b.createdAt}  ${b.path}  ${metrics}\n`);
      }
      return 0;
    }
    case "experiments": {
      const action = positionals[1] ?? "list";
      if (action === "report") {
        const name = positionals[2];
        if (!name) throw new ReelfeedError("BAD_USER_INPUT", "experiments report <name>: name the experiment", { argument: "name" });
        const { experimentReportFromStores } = await import("./experiments/offline-report");
        const { renderExperimentReport } = await import("./experiments/report");
        const report = await experimentReportFromStores(config, name);
        process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : renderExperimentReport(report));
        return 0;
      }
      if (action !== "list") throw new ReelfeedError("BAD_USER_INPUT", `experiments ${action}: expected list or report <name>`, { argument: "action" });
      const { readExperimentsFile } = await import("./experiments/experiments-file");
      const definitions = config.experiments.file ? await readExperimentsFile(config.experiments.file) : config.experiments.definitions;
      if (definitions.length === 0) process.stdout.write("no experiments configured (config experiments.definitions or experiments.file)\n");
      for (const e of definitions) {
        const window = [e.start === undefined ? "" : `from ${new Date(e.start).toISOString()}`, e.stop === undefined ? "" : `until ${new Date(e.stop).toISOString()}`].filter(Boolean).join(" ");
        const variants = e.variants.map((v) => `${v.name}${v.weight !== 1 ? `×${v.weight}` : ""}${Object.keys(v.overrides).length ? ` {${Object.keys(v.overrides).join(", ")}}` : ""}`).join(", ");
        process.stdout.write(`${e.name}  traffic ${(e.traffic * 100).toFixed(1)} %  ${window}  variants: ${variants}\n`);
      }
      return 0;
    }
    case "schema": {
      const { printReelfeedSchema } = await import("./schema/print-schema");
      const sdl = await printReelfeedSchema();
      if (flags.write) {
        const { writeFileAtomic } = await import("./util/fs");
        await writeFileAtomic("schema.graphql", sdl);
        progress.log("schema.graphql updated");
      } else process.stdout.write(sdl);
      return 0;
    }
    case "serve": {
      // Whether the operator asked for production decides if serving without auth is refused (src/auth/auth-mode.ts);
      // read it before the default below, which only buys graphql-js's speed.
      const production = process.env.NODE_ENV === "production";
      // Before graphql-js loads: outside production it runs development checks on every field it resolves.
      process.env.NODE_ENV ??= "production";
      const { serve } = await import("./app/serve");
      await serve({ config, bundle: flag(flags, "bundle"), progress, production });
      return -1; // keep running
    }
    case "keys": {
      const { runKeysCommand } = await import("./auth/keys-command");
      const file = flag(flags, "file") ?? config.auth.keysFile ?? "var/keys.json";
      await runKeysCommand({ action: positionals[1], file, scopes: flag(flags, "scopes"), id: flag(flags, "id"), out: process.stdout, progress });
      return 0;
    }
    default:
      throw new ReelfeedError("BAD_USER_INPUT", `unknown command "${command}"\n${USAGE}`, { argument: "command" });
  }
}

async function readFileOrFail(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new ReelfeedError("BAD_FILE", `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { path });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (process.env.REELFEED_DEBUG === "1") console.error(err);
    if (err instanceof ReelfeedError) {
      process.stderr.write(`reelfeed: ${err.message}\n`);
      process.exit(2);
    }
    if (err && typeof err === "object" && "code" in err && String((err as { code: unknown }).code).startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`reelfeed: ${(err as unknown as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`reelfeed: internal error: ${err instanceof Error ? err.message : String(err)} (REELFEED_DEBUG=1 for details)\n`);
    process.exit(1);
  },
);
