// The produce path of one partition replica, bundled twice by test/bench/produce-validation.ts: as shipped, and with the record-framing check taken out.
export { Partition } from '../../../broker/partition/partition.js';
export { RaftMux } from '../../../broker/raft/mux.js';
export { Prng } from '../../../transport/core/prng.js';
