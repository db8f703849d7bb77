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
  type RpcStats,
} from './rpc/index.js';
export { systemClock, type Clock, type TimerOptions } from './clock.js';
export type { MessageChannel } from './channel.js';
export { Endpoint, type EndpointOptions, type EndpointStats } from './endpoint.js';
export { Connection, type ConnectionStats } from './connection.js';
export type { CongestionAlgorithm } from './core/congestion.js';
export type { EndpointDropCounters } from './core/stats.js';
