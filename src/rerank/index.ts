export { createGuardrailsStage, guardrailsStage, type GuardrailsStageOptions } from "./guardrails-stage";
export { createDiversityStage, diversityStage, type DiversityStageOptions } from "./diversity-stage";
export { createFreshnessStage, freshnessStage, type FreshnessStageOptions } from "./freshness-stage";
export { createExplorationStage, explorationStage, type ExplorationStageOptions } from "./exploration-stage";
export { DEFAULT_CAPS, firstCapViolation, type WindowCaps } from "./caps";

import { diversityStage } from "./diversity-stage";
import { explorationStage } from "./exploration-stage";
import { freshnessStage } from "./freshness-stage";
import { guardrailsStage } from "./guardrails-stage";

/** The built-in re-rank stages, registered under their names (the phase of each says when it runs). */
export const BUILTIN_STAGES = [freshnessStage, guardrailsStage, diversityStage, explorationStage] as const;
