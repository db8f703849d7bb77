import { boolFlag, helpText, parseFlags, quote, UsageError, unknownWord, type FlagSpecs } from './args.js';
import { clientFlags, openClient } from './client-flags.js';
import { progressLine } from './reassign-command.js';

const flags: FlagSpecs = {
  ...clientFlags,
  json: { type: 'boolean', help: 'print JSON' },
};

const actions = ['describe'] as const;
const usage = 'skein cluster describe [flags]';

/** `skein cluster describe`: the brokers with their state, the metadata group's members, and the moves in progress. */
export async function clusterCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags, { positionals: true });
  const [action, ...extra] = parsed.positionals;
  if (boolFlag(parsed, 'help') || action === undefined) {
    process.stdout.write(helpText(usage, 'Cluster administration.', flags));
    return boolFlag(parsed, 'help') ? 0 : 2;
  }
  if (!(actions as readonly string[]).includes(action)) throw unknownWord('action', action, actions);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.map(quote).join(' ')}`);
  await using skein = openClient(parsed, 'skein-cli');
  const admin = skein.admin();
  const [cluster, moves] = await Promise.all([admin.describeCluster(), admin.listReassignments()]);
  if (boolFlag(parsed, 'json')) {
    process.stdout.write(`${JSON.stringify({ ...cluster, moves: moves.moves })}\n`);
    return 0;
  }
  const group = cluster.controllerGroup;
  const role = (id: number): string => (group === undefined ? '' : group.voters.includes(id) ? ', metadata voter' : group.learners.includes(id) ? ', metadata learner' : '');
  const rows = cluster.brokers.map((b) => {
    const state = b.state ?? 'active';
    const shown = state === 'active' && !b.alive ? 'offline' : state === 'active' ? 'alive' : state;
    return `  broker ${b.id} at ${b.host}:${b.port}: ${shown}${b.id === cluster.controllerId ? ', controller' : ''}${role(b.id)}`;
  });
  const going = moves.moves.map((m) => `  move ${m.moveId} ${progressLine(m)}`);
  process.stdout.write(`cluster ${cluster.clusterId}\n${rows.join('\n')}\n${going.length === 0 ? 'no moves in progress' : `moves:\n${going.join('\n')}`}\n`);
  return 0;
}
