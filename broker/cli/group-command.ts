import type { GroupDescription, GroupListing } from '../../sdk/index.js';
import { brokerLimits } from '../../transport/limits.js';
import { groupNameProblem } from '../../transport/protocol/groups.js';
import { actionAndName, boolFlag, intFlag, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { clientFlags, openClient, topicFlag } from './client-flags.js';
import { parseFrom } from './consume-command.js';

const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', value: 'NAME', help: 'reset: the topic whose offsets move' },
  partition: { type: 'string', short: 'p', value: 'N', help: 'reset: one partition', default: 'all' },
  to: { type: 'string', value: 'earliest|latest|OFFSET|@TIMESTAMP_MS', help: 'reset: where the group goes on from' },
  json: { type: 'boolean', help: 'print JSON (describe: per partition committed, end, lag and dead-letter and skip counts; per member its progress and stalled flag)' },
};

const actions = ['list', 'describe', 'reset', 'delete'] as const;
const usage = 'skein group list | describe NAME | reset NAME --topic T [--partition P] --to earliest|latest|OFFSET|@TS | delete NAME [--json]';

export async function groupCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags, { positionals: true });
  const words = actionAndName(parsed, { noun: 'group', usage, summary: 'Consumer group administration. A reset is refused while the group has members.', specs: flags }, actions);
  if ('exitCode' in words) return words.exitCode;
  const { action, name } = words;
  const problem = name === undefined ? null : groupNameProblem(name);
  if (problem !== null) throw new UsageError(problem);
  const reset = action === 'reset' ? resetSettings(parsed) : undefined;
  const json = boolFlag(parsed, 'json');
  await using skein = openClient(parsed, 'skein-cli');
  const admin = skein.admin();
  switch (action) {
    case 'list': {
      const groups = await admin.listGroups();
      print(json, groups, listText(groups));
      return 0;
    }
    case 'describe': {
      const group = await admin.describeGroup(name!);
      print(json, group, describeText(group));
      return 0;
    }
    case 'reset': {
      const offsets = await admin.resetOffsets(name!, reset!);
      print(json, { group: name, offsets }, offsets.map((o) => `${o.topic}/${o.partition}: ${o.offset}`).join('\n'));
      return 0;
    }
    default:
      await admin.deleteGroup(name!);
      print(json, { deleted: name }, `deleted group ${name}`);
      return 0;
  }
}

function resetSettings(parsed: ReturnType<typeof parseFlags>): { topic: string; partition?: number; to: ReturnType<typeof parseFrom> } {
  const topic = topicFlag(parsed);
  if (topic === undefined) throw new UsageError('group reset needs --topic');
  const to = stringFlag(parsed, 'to');
  if (to === undefined) throw new UsageError('group reset needs --to earliest|latest|OFFSET|@TIMESTAMP_MS');
  const partition = intFlag(parsed, 'partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
  return { topic, to: parseFrom(to, '--to'), ...(partition === undefined ? {} : { partition }) };
}

function listText(groups: GroupListing[]): string {
  if (groups.length === 0) return '(no groups)';
  return table(['GROUP', 'STATE', 'MEMBERS'], groups.map((g) => [g.group, g.state, String(g.members)]));
}

function describeText(group: GroupDescription): string {
  const head = `group ${group.group}: ${group.state}, epoch ${group.epoch}, coordinator broker ${group.coordinator.brokerId} (partition ${group.coordinator.partition})`;
  const members = group.members.map((m) => [
    m.memberId,
    m.clientId || '-',
    m.clientHost || '-',
    m.instanceId ?? '-',
    m.assignment.map((p) => `${p.topic}/${p.partition}`).join(',') || '-',
    m.lastHeardAgoMs === null ? '-' : `${m.lastHeardAgoMs} ms ago`,
    m.stalled ? 'STALLED' : '-',
  ]);
  const progress = group.members.flatMap((m) =>
    m.progress.map((p) => [m.memberId, p.topic, String(p.partition), orDash(p.committed), orDash(p.fetched), orDash(p.finished), orDash(p.end), orDash(p.lag), `${p.idleMs} ms`, p.stalled ? 'STALLED' : '-']),
  );
  const partitions = group.partitions.map((p) => [p.topic, String(p.partition), orDash(p.committed), String(p.end), orDash(p.lag), p.owner ?? '-', p.state, String(p.deadLettered), String(p.skipped)]);
  return [
    head,
    members.length === 0 ? 'no members' : table(['MEMBER', 'CLIENT', 'HOST', 'INSTANCE', 'PARTITIONS', 'HEARD', 'STALLED'], members),
    ...(progress.length === 0 ? [] : [table(['MEMBER', 'TOPIC', 'PARTITION', 'COMMITTED', 'FETCHED', 'FINISHED', 'END', 'LAG', 'IDLE', 'STALLED'], progress)]),
    partitions.length === 0 ? 'no partitions' : table(['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'OWNER', 'STATE', 'DEAD-LETTERED', 'SKIPPED'], partitions),
  ].join('\n');
}

function orDash(value: number | null): string {
  return value === null ? '-' : String(value);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}
