/**
 * broker/raft: Raft for skein's replicated groups (one per partition, one for
 * the metadata controller). core/ is the pure state machine; the rest is its
 * I/O shell (driver), storage (memory, over the partition log) and wire codec.
 */
export { RaftCore } from './core/raft.js';
export type { Proposed, RaftCoreOptions, RaftCounters, RaftResult, RaftStatus } from './core/raft.js';
export type { RaftLogReader, RaftStorage } from './core/storage.js';
export { bootstrapState, type ConfChange, type ConfEntry } from './core/config.js';
export { emptyHardState, emptySnapshot, noNode } from './core/types.js';
export type { ConfigState, Entry, EntryType, HardState, NodeId, RaftMessage, ReadState, Ready, Role, Snapshot, SnapshotMeta, SoftState } from './core/types.js';
export { RaftDriver } from './driver.js';
export type { RaftDriverCounters, RaftDriverOptions, RaftStateMachine } from './driver.js';
export { FileHardStateStore, type HardStateStore } from './hard-state.js';
export { MemoryStorage } from './memory-storage.js';
export { decodePartitionSnapshot, encodePartitionSnapshot, LogStorage, type LogStorageOptions } from './log-storage.js';
export { realTimers, type RaftTimers } from './timers.js';
export { RaftMux, type RaftMuxCounters, type RaftTransport } from './transport.js';
export { decodeRaftEnvelope, decodeWire, encodeRaftEnvelope, encodeWire, raftEnvelopeFromWire, raftEnvelopeToWire, type RaftEnvelope, type WireEnvelope } from './codec.js';
