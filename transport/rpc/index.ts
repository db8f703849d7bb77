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
/** For other CBOR readers of untrusted bytes (raft codec, SDK serde): refuse tags before cbor-x acts on them. */
export { plainCborProblem } from './plain-cbor.js';
