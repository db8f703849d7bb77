// The record-batch module with checkRecordFraming a no-op: the baseline of test/bench/produce-validation.ts. A local export shadows the star export.
export * from '../../../transport/protocol/record-batch.js';

export function checkRecordFraming(): void {}
