import { brokerLimits } from '../../transport/limits.js';
import type { TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';
import { actionAndName, boolFlag, intFlag, parseFlags, quote, stringFlag, UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { checkTopicName, clientFlags, openClient } from './client-flags.js';

const flags: FlagSpecs = {
  ...clientFlags,
  partitions: { type: 'string', short: 'p', value: 'N', help: 'partitions of a new topic', default: '1' },
  replication: { type: 'string', short: 'r', value: 'N', help: 'replicas of each partition', default: '3, or the number of brokers if fewer' },
  'retention-ms': { type: 'string', value: 'MS', help: 'delete segments older than this' },
  'retention-bytes': { type: 'string', value: 'BYTES', help: 'keep each partition below about this size' },
  flush: { type: 'string', value: 'always|records:N|interval:MS', help: 'fsync policy', default: 'always' },
  json: { type: 'boolean', help: 'print JSON' },
};

const actions = ['create', 'describe', 'list', 'delete'] as const;
const usage = 'skein topic create|describe|list|delete [NAME] [flags]';

export async function topicCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags, { positionals: true });
  // Everything the line says is checked before anything connects: a typo gets its answer at once, cluster or not.
  const words = actionAndName(parsed, { noun: 'topic', usage, summary: 'Topic administration.', specs: flags }, actions);
  if ('exitCode' in words) return words.exitCode;
  const { action, name } = words;
  if (name !== undefined) checkTopicName(name);
  const create = action === 'create' ? createSettings(parsed) : undefined;
  const json = boolFlag(parsed, 'json');
  await using skein = openClient(parsed, 'skein-cli');
  const admin = skein.admin();
  switch (action) {
    case 'create': {
      const replicationFactor = create!.replicationFactor ?? Math.min(3, (await admin.describeCluster()).brokers.length);
      const topic = await admin.createTopic({ name: name!, partitions: create!.partitions, replicationFactor, config: create!.config });
      print(json, topic, `created ${describe(topic)}`);
      return 0;
    }
    case 'describe': {
      const topic = await admin.describeTopic(name!);
      print(json, topic, describe(topic));
      return 0;
    }
    case 'list': {
      const topics = await admin.listTopics();
      print(json, topics, topics.length === 0 ? '(no topics)' : topics.join('\n'));
      return 0;
    }
    default:
      await admin.deleteTopic(name!);
      print(json, { deleted: name }, `deleted topic ${name}`);
      return 0;
  }
}

function createSettings(parsed: ParsedFlags): { partitions: number; replicationFactor: number | undefined; config: Partial<TopicConfig> } {
  const config: Partial<TopicConfig> = {};
  const retentionMs = intFlag(parsed, 'retention-ms', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const retentionBytes = intFlag(parsed, 'retention-bytes', { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (retentionMs !== undefined) config.retentionMs = retentionMs;
  if (retentionBytes !== undefined) config.retentionBytes = retentionBytes;
  if (stringFlag(parsed, 'flush') !== undefined) config.flush = parseFlush(parsed);
  return {
    partitions: intFlag(parsed, 'partitions', { min: 1, max: brokerLimits.partitionsPerTopicMax }) ?? 1,
    replicationFactor: intFlag(parsed, 'replication', { min: 1, max: brokerLimits.replicationFactorMax }),
    config,
  };
}

/** --flush: always (the default), records:N or interval:MS. */
export function parseFlush(parsed: ParsedFlags): TopicConfig['flush'] {
  const text = stringFlag(parsed, 'flush') ?? 'always';
  if (text === 'always') return { mode: 'always' };
  const [mode, value] = text.split(':');
  const n = Number(value);
  if (mode === 'records' && Number.isSafeInteger(n) && n > 0) return { mode, records: n };
  if (mode === 'interval' && Number.isSafeInteger(n) && n > 0) return { mode, intervalMs: n };
  throw new UsageError(`--flush must be always, records:N or interval:MS, got ${quote(text)}`);
}

function describe(topic: TopicMetadata): string {
  const rows = topic.partitions.map((p) => `  partition ${p.partition}: leader ${p.leader ?? '-'} (epoch ${p.leaderEpoch}), replicas ${p.replicas.join(',')}`);
  const flush = topic.config.flush.mode === 'always' ? 'always' : topic.config.flush.mode === 'records' ? `every ${topic.config.flush.records} records` : `every ${topic.config.flush.intervalMs} ms`;
  return `topic ${topic.name} (id ${topic.topicId}), ${topic.partitions.length} partitions, fsync ${flush}\n${rows.join('\n')}`;
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}
