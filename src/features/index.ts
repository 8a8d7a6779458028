/** Public API of the shared feature code (training and serving both import from here). */
export * from "./aggregates";
export * from "./spec";
export * from "./vocabulary";
export * from "./normalizers";
export * from "./derived";
export * from "./replay";
export * from "./rows";
export * from "./artifacts";
export * from "./content-embeddings";
