import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql ships ESM and CJS builds; type-graphql loads the CJS one. Vite would hand test files the ESM one,
    // and two graphql copies break every instanceof check. One copy for everyone:
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    include: ["test/**/*.test.ts", "plugins/**/*.test.ts"],
    // Training and server tests spin up wasm/onnx/redis: give them room, but run files in parallel on both cores.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default"],
  },
});
