export { createGuardrailsStage, type GuardrailsStageOptions } from "./guardrails-stage";
export { createDiversityStage, type DiversityStageOptions } from "./diversity-stage";
export { createFreshnessStage, type FreshnessStageOptions } from "./freshness-stage";
export { createExplorationStage, type ExplorationStageOptions } from "./exploration-stage";
export { DEFAULT_CAPS, firstCapViolation, type WindowCaps } from "./caps";
export type { PipelineStageContext } from "./stage-context";
