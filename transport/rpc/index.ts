export {
  RpcChannel,
  type RpcChannelOptions,
  type RpcHandler,
  type RpcHandlerContext,
  type RpcRequestOptions,
  type RpcScheduler,
  type RpcStats,
} from './rpc-channel.js';
export { decodeFrame, encodeFrame, type Frame, type MalformedFrame } from './frames.js';
