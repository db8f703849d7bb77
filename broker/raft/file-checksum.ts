import { crc32 } from 'node:zlib';
import { crc32c } from '../../transport/protocol/crc32c.js';

/**
 * The checksum of Raft's own files (the hard state, the snapshot), by the
 * version byte each carries. Version 2, the one written, uses CRC32C like the
 * partition log and record batches (transport/protocol/crc32c.ts, the one
 * checksum of skein's formats). Version 1 files, written before, carry the
 * IEEE CRC-32: they are still read, so a broker upgraded in place keeps its
 * term, vote and snapshot, and the next save rewrites them as version 2.
 */
export const raftFileVersion = 2;

/** The checksum a Raft file of `version` carries over `bytes`; null for a version this broker does not know. */
export function raftFileChecksum(version: number, bytes: Uint8Array): number | null {
  if (version === raftFileVersion) return crc32c(bytes);
  if (version === 1) return crc32(bytes);
  return null;
}
