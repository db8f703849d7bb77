export type { LossDirection, LossModel, LossSide, LossStats } from './types.js';
export { formatLossSpec, normalizeLossSpec, parseLossSpec, type BlackholeSpec, type GilbertElliottSpec, type LossSpec } from './spec.js';
export { LinkLossModel, createLossModel } from './model.js';
export { composeLossModels } from './compose.js';
export { lossEnvVariable, lossModelFromEnv, resolveLossModel } from './env.js';
