import type { TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';
import { boolFlag, helpText, intFlag, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { clientFlags, openClient } from './client-flags.js';

const flags: FlagSpecs = {
  ...clientFlags,
  partitions: { type: 'string', short: 'p', help: 'partitions of a new topic', default: '1' },
  replication: { type: 'string', short: 'r', help: 'replicas of each partition', default: '3, or the number of brokers if fewer' },
  'retention-ms': { type: 'string', help: 'delete segments older than this' },
  'retention-bytes': { type: 'string', help: 'keep each partition below about this size' },
  flush: { type: 'string', help: 'always | records:N | interval:MS (fsync policy)', default: 'always' },
  json: { type: 'boolean', help: 'print JSON' },
};

const usage = 'skein topic create|describe|list|delete [NAME] [flags]';

export async function topicCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags, { positionals: true });
  const [action, name, ...extra] = parsed.positionals;
  if (parsed.values.help === true || action === undefined) {
    process.stdout.write(helpText(usage, 'Topic administration.', flags));
    return action === undefined && parsed.values.help !== true ? 2 : 0;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const needsName = action !== 'list';
  if (needsName && name === undefined) throw new UsageError(`topic ${action} needs a topic name`);
  const json = boolFlag(parsed, 'json');
  await using skein = openClient(parsed, 'skein-cli');
  const admin = skein.admin();
  switch (action) {
    case 'create': {
      let replicationFactor = intFlag(parsed, 'replication', { min: 1, max: 7 });
      if (replicationFactor === undefined) replicationFactor = Math.min(3, (await admin.describeCluster()).brokers.length);
      const config: Partial<TopicConfig> = {};
      const retentionMs = intFlag(parsed, 'retention-ms', { min: 1, max: Number.MAX_SAFE_INTEGER });
      const retentionBytes = intFlag(parsed, 'retention-bytes', { min: 1, max: Number.MAX_SAFE_INTEGER });
      if (retentionMs !== undefined) config.retentionMs = retentionMs;
      if (retentionBytes !== undefined) config.retentionBytes = retentionBytes;
      const flush = stringFlag(parsed, 'flush');
      if (flush !== undefined) config.flush = parseFlush(flush);
      const topic = await admin.createTopic({ name: name!, partitions: intFlag(parsed, 'partitions', { min: 1, max: 1024 }) ?? 1, replicationFactor, config });
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
    case 'delete':
      await admin.deleteTopic(name!);
      print(json, { deleted: name }, `deleted topic ${name}`);
      return 0;
    default:
      throw new UsageError(`unknown action "${action}" (create, describe, list, delete)`);
  }
}

export function parseFlush(text: string): TopicConfig['flush'] {
  if (text === 'always') return { mode: 'always' };
  const [mode, value] = text.split(':');
  const n = Number(value);
  if (mode === 'records' && Number.isSafeInteger(n) && n > 0) return { mode, records: n };
  if (mode === 'interval' && Number.isSafeInteger(n) && n > 0) return { mode, intervalMs: n };
  throw new UsageError(`--flush must be always, records:N or interval:MS, got "${text}"`);
}

function describe(topic: TopicMetadata): string {
  const rows = topic.partitions.map((p) => `  partition ${p.partition}: leader ${p.leader ?? '-'} (epoch ${p.leaderEpoch}), replicas ${p.replicas.join(',')}`);
  const flush = topic.config.flush.mode === 'always' ? 'always' : topic.config.flush.mode === 'records' ? `every ${topic.config.flush.records} records` : `every ${topic.config.flush.intervalMs} ms`;
  return `topic ${topic.name} (id ${topic.topicId}), ${topic.partitions.length} partitions, fsync ${flush}\n${rows.join('\n')}`;
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}
