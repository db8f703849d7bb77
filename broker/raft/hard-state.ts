import { open, rename, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SkeinError } from '../../transport/errors.js';
import { raftLimits } from '../../transport/limits.js';
import { emptyHardState, type HardState } from './core/types.js';
import { isNodeId } from './core/membership.js';
import { raftFileChecksum, raftFileVersion } from './file-checksum.js';

/** Where a replica keeps its term, vote and commit. */
export interface HardStateStore {
  /** The last saved state (emptyHardState if none was ever saved). */
  load(): Promise<HardState>;
  /** Resolves once `state` is durable; saves complete in call order. */
  save(state: HardState): Promise<void>;
}

/**
 * The hard state in one small file, replaced atomically: write a temp file,
 * fsync it, rename it over the old one, fsync the directory. A crash at any
 * point leaves either the old state or the new one, never a mix.
 *
 * HardStateFile (32 bytes, big-endian) =>
 *   Magic   => "SKRH"
 *   Version => uint8 (2; version 1, still read, differs only in its Crc), 3 reserved zero bytes
 *   Term    => uint64
 *   Vote    => uint32 (0 = none)
 *   Commit  => uint64
 *   Crc     => uint32: CRC32C of bytes [0, 28) (version 1: the IEEE CRC-32; see file-checksum.ts)
 */
export class FileHardStateStore implements HardStateStore {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  async load(): Promise<HardState> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyHardState;
      throw new SkeinError('STORAGE_FAILED', { message: `cannot read ${this.path}`, cause: error });
    }
    return decodeHardState(bytes, this.path);
  }

  save(state: HardState): Promise<void> {
    const next = this.chain.then(() => this.write(state));
    // A failed save fails its caller; later saves still run.
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async write(state: HardState): Promise<void> {
    const temp = `${this.path}.tmp`;
    try {
      const file = await open(temp, 'w');
      try {
        await file.writeFile(encodeHardState(state));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
      const dir = await open(dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw new SkeinError('STORAGE_FAILED', { message: `cannot write ${this.path}`, cause: error });
    }
  }
}

const MAGIC = [0x53, 0x4b, 0x52, 0x48]; // "SKRH"
const FILE_BYTES = 32;

export function encodeHardState(state: HardState): Uint8Array {
  const out = new Uint8Array(FILE_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = raftFileVersion;
  view.setBigUint64(8, BigInt(state.term));
  view.setUint32(16, state.vote);
  view.setBigUint64(20, BigInt(state.commit));
  view.setUint32(28, raftFileChecksum(raftFileVersion, out.subarray(0, 28))!);
  return out;
}

export function decodeHardState(bytes: Uint8Array, source = 'hard state'): HardState {
  const corrupt = (why: string): never => {
    throw new SkeinError('STORAGE_CORRUPT', { message: `${source}: ${why}` });
  };
  if (bytes.byteLength > raftLimits.hardStateBytesMax || bytes.byteLength !== FILE_BYTES) corrupt(`expected ${FILE_BYTES} bytes`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) corrupt('not a skein hard-state file');
  const checksum = raftFileChecksum(bytes[4]!, bytes.subarray(0, 28));
  if (checksum === null) corrupt(`unknown version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(28) !== checksum) corrupt('checksum mismatch');
  const term = Number(view.getBigUint64(8));
  const vote = view.getUint32(16);
  const commit = Number(view.getBigUint64(20));
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(commit)) corrupt('term or commit out of range');
  if (vote !== 0 && !isNodeId(vote)) corrupt('vote out of range');
  return { term, vote, commit };
}
