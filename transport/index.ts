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
export {
  RpcChannel,
  type RpcChannelOptions,
  type RpcHandler,
  type RpcHandlerContext,
  type RpcRequestOptions,
  type RpcScheduler,
  type RpcStats,
} from './rpc/index.js';
export type { MessageChannel } from './channel.js';
