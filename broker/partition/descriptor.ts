import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SkeinError } from '../../transport/errors.js';
import { readTopicConfig, type TopicConfig } from '../../transport/protocol/messages.js';
import { writeFileAtomic } from '../log/files.js';

/**
 * What a broker needs to reopen a partition replica before the metadata
 * group has caught up after a restart: written once, beside the replica's
 * log, when the replica is created. Without it a restarted broker could not
 * take part in its partitions' elections until the controller is back.
 */
export interface PartitionDescriptor {
  topic: string;
  topicId: number;
  partition: number;
  replicas: number[];
  config: TopicConfig;
  /**
   * False for a replica a move added to a running group: it opens empty and takes the group's log from
   * its leader (see LogReplicaOptions.voters). Absent (descriptors written before moves existed): true.
   */
  bootstrap?: boolean;
}

const fileName = 'partition.json';

export function partitionDir(dataDir: string, d: { topic: string; topicId: number; partition: number }): string {
  return join(dataDir, 'partitions', `${d.topic}-${d.topicId}-${d.partition}`);
}

export function writeDescriptor(dir: string, descriptor: PartitionDescriptor): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(dir, fileName, Buffer.from(JSON.stringify(descriptor, null, 2)), { durable: true });
}

/** Every replica directory under the data directory, with its descriptor; a damaged one is a STORAGE_CORRUPT naming it. */
export function readDescriptors(dataDir: string): Array<{ dir: string; descriptor: PartitionDescriptor }> {
  const root = join(dataDir, 'partitions');
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: Array<{ dir: string; descriptor: PartitionDescriptor }> = [];
  for (const name of names) {
    const dir = join(root, name);
    const path = join(dir, fileName);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      // A crash between creating the directory and writing the descriptor: nothing was ever stored there.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SkeinError('STORAGE_FAILED', { message: `cannot read ${path}`, cause: error });
    }
    try {
      const value = JSON.parse(text) as PartitionDescriptor;
      const config = readTopicConfig(value.config);
      if (value.bootstrap !== undefined && typeof value.bootstrap !== 'boolean') throw new Error('bootstrap is not a boolean');
      if (typeof value.topic !== 'string' || !Number.isSafeInteger(value.topicId) || !Number.isSafeInteger(value.partition) || !Array.isArray(value.replicas)) {
        throw new Error('fields out of shape');
      }
      if (config.flush === undefined || config.segmentBytes === undefined || config.retentionBytes === undefined || config.retentionMs === undefined) {
        throw new Error('incomplete config');
      }
      out.push({ dir, descriptor: { ...value, config: config as TopicConfig } });
    } catch (error) {
      throw new SkeinError('STORAGE_CORRUPT', { message: `${path} is not a partition descriptor`, cause: error });
    }
  }
  return out;
}
