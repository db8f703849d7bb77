export { SkeinError, errorTable, isSkeinError, type ErrorCode } from './errors.js';
export {
  LinkLossModel,
  composeLossModels,
  createLossModel,
  formatLossSpec,
  lossModelFromEnv,
  parseLossSpec,
  type BlackholeSpec,
  type GilbertElliottSpec,
  type LossDirection,
  type LossModel,
  type LossSide,
  type LossSpec,
  type LossStats,
} from './loss/index.js';
