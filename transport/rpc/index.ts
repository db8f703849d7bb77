export * from './rpc-channel.js';
export { decodeFrame, encodeFrame, type MalformedFrame } from './frames.js';
/** For other CBOR readers of untrusted bytes (raft codec, SDK serde): refuse tags before cbor-x acts on them. */
export { plainCborProblem } from './plain-cbor.js';
