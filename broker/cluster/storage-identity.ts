import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SkeinError } from '../../transport/errors.js';
import { clusterLimits } from '../../transport/limits.js';
import type { BrokerInfo } from '../../transport/protocol/messages.js';
import { writeFileAtomic } from '../log/files.js';

/**
 * Which broker a data directory belongs to: `meta.json`, written once,
 * atomically and durably, before anything else. The storage id is random and
 * travels with the broker's registration, so the metadata ties a broker id to
 * one data directory: a broker that lost its disk and comes back under its
 * old id with an empty directory is told so (BROKER_ID_IN_USE) instead of
 * taking part as if it still held what it acknowledged (KIP-853's directory
 * id, for the same reason). A directory of another broker or cluster is
 * refused at start.
 */
export interface StorageIdentity {
  clusterId: string;
  brokerId: number;
  storageId: string;
  /** For a broker that joined a running cluster: the founding brokers its metadata starts from (see ControllerOptions.peers). */
  founders?: BrokerInfo[];
  /**
   * For a founding broker: its founding configuration (founding.ts), recorded when its directory was new
   * and kept for good, whatever later flags say; absent in a directory from before it was recorded.
   */
  founding?: string;
}

const fileName = 'meta.json';

/** `founding`: a founding broker's founding configuration, recorded if the directory is new. */
export function openStorageIdentity(dataDir: string, brokerId: number, clusterId: string, founding?: string): StorageIdentity {
  const path = join(dataDir, fileName);
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new SkeinError('STORAGE_FAILED', { message: `cannot read ${path}`, cause: error });
  }
  if (text === null) {
    const identity = { clusterId, brokerId, storageId: randomBytes(16).toString('hex'), ...(founding === undefined ? {} : { founding }) };
    writeIdentity(dataDir, identity);
    return identity;
  }
  const stored = parse(text, path);
  if (stored.brokerId !== brokerId || stored.clusterId !== clusterId) {
    throw new SkeinError('INVALID_CONFIG', {
      message: `${dataDir} belongs to broker ${stored.brokerId} of cluster "${stored.clusterId}", not broker ${brokerId} of cluster "${clusterId}": start that broker on it, or use another directory`,
    });
  }
  return stored;
}

/** Keeps the founding brokers a joiner learned, before its metadata replica opens. */
export function recordFounders(dataDir: string, identity: StorageIdentity, founders: readonly BrokerInfo[]): StorageIdentity {
  const updated = { ...identity, founders: founders.map((b) => ({ id: b.id, host: b.host, port: b.port })) };
  writeIdentity(dataDir, updated);
  return updated;
}

function writeIdentity(dataDir: string, identity: StorageIdentity): void {
  writeFileAtomic(dataDir, fileName, Buffer.from(JSON.stringify(identity, null, 2)), { durable: true });
}

function parse(text: string, path: string): StorageIdentity {
  try {
    const value = JSON.parse(text) as Partial<StorageIdentity>;
    if (typeof value.clusterId !== 'string' || !Number.isSafeInteger(value.brokerId) || typeof value.storageId !== 'string' || !/^[0-9a-f]{32}$/.test(value.storageId)) {
      throw new Error('fields out of shape');
    }
    const founders = value.founders;
    if (founders !== undefined && (!Array.isArray(founders) || !founders.every((b) => Number.isSafeInteger(b?.id) && typeof b?.host === 'string' && Number.isSafeInteger(b?.port)))) {
      throw new Error('founders out of shape');
    }
    const founding = value.founding;
    if (founding !== undefined && (typeof founding !== 'string' || Buffer.byteLength(founding) > clusterLimits.foundingTextBytesMax)) throw new Error('founding out of shape');
    return { clusterId: value.clusterId, brokerId: value.brokerId!, storageId: value.storageId, ...(founders !== undefined ? { founders } : {}), ...(founding !== undefined ? { founding } : {}) };
  } catch (error) {
    throw new SkeinError('STORAGE_CORRUPT', { message: `${path} is not a broker identity file`, cause: error });
  }
}

/**
 * Raft traffic from a broker whose data directory is not the one the metadata ties its id to: it lost its
 * disk and came back empty under its old id. Counted as the replica it was, its empty log would grant its
 * vote to any candidate, one missing acknowledged records included, and its acknowledgements would count
 * towards commits it does not hold; so its messages are dropped, in every group. Traffic without a storage
 * id (a broker from before storage ids), or from a broker whose directory the metadata does not know yet,
 * is taken.
 */
export function raftFromOtherStorage(registered: string | null | undefined, sent: string | undefined): boolean {
  return registered !== null && registered !== undefined && sent !== undefined && sent !== registered;
}
