import type { Admin } from '../../sdk/index.js';
import { brokerLimits, clusterLimits } from '../../transport/limits.js';
import { boolFlag, helpText, intFlag, parseFlags, quote, UsageError, unknownWord, type FlagSpecs } from './args.js';
import { clientFlags, interrupted, openClient } from './client-flags.js';
import { progressLine } from './reassign-command.js';

const flags: FlagSpecs = {
  ...clientFlags,
  json: { type: 'boolean', help: 'print JSON' },
  'dry-run': { type: 'boolean', help: 'rebalance: print the plan, move nothing' },
  'no-wait': { type: 'boolean', help: 'decommission, rebalance: return once the change is recorded' },
  'timeout-ms': { type: 'string', value: 'MS', help: 'decommission, rebalance: stop waiting after this long (the moves carry on)' },
};

const actions = ['describe', 'decommission', 'recommission', 'rebalance', 'add-voter', 'remove-voter'] as const;
const usage = 'skein cluster describe | decommission N | recommission N | rebalance | add-voter N | remove-voter N [flags]';

/**
 * `skein cluster`: describe (brokers with their state, the metadata group's members, moves in progress),
 * decommission / recommission a broker, rebalance. Decommission and rebalance wait for the moves they
 * start, a line a second on stderr: exit 0 when done (a decommissioned broker is gone), 1 on a refusal or
 * past --timeout-ms (the moves carry on), 2 on bad usage.
 */
export async function clusterCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags, { positionals: true });
  const [action, ...extra] = parsed.positionals;
  if (boolFlag(parsed, 'help') || action === undefined) {
    process.stdout.write(helpText(usage, 'Cluster administration.', flags));
    return boolFlag(parsed, 'help') ? 0 : 2;
  }
  if (!(actions as readonly string[]).includes(action)) throw unknownWord('action', action, actions);
  const needsId = action === 'decommission' || action === 'recommission' || action === 'add-voter' || action === 'remove-voter';
  const [idText, ...rest] = extra;
  if (needsId && (idText === undefined || !/^\d+$/.test(idText) || Number(idText) < 1 || Number(idText) > brokerLimits.brokerIdMax)) throw new UsageError(`cluster ${action} needs a broker id (1-${brokerLimits.brokerIdMax})`);
  const unexpected = needsId ? rest : extra;
  if (unexpected.length > 0) throw new UsageError(`unexpected arguments: ${unexpected.map(quote).join(' ')}`);
  const wait = !boolFlag(parsed, 'no-wait');
  const timeoutMs = intFlag(parsed, 'timeout-ms', { min: 1, max: 7 * 24 * 3_600_000 });
  await using skein = openClient(parsed, 'skein-cli');
  const admin = skein.admin();
  const json = boolFlag(parsed, 'json');
  if (action === 'decommission') return await decommission(admin, Number(idText), wait, timeoutMs, json);
  if (action === 'recommission') {
    const { cancelled } = await admin.recommissionBroker(Number(idText));
    process.stdout.write(json ? `${JSON.stringify({ cancelled })}\n` : `broker ${idText} is active again; ${cancelled} of its decommission moves cancelled\n`);
    return 0;
  }
  if (action === 'add-voter' || action === 'remove-voter') {
    const group = await admin.alterControllerVoters(action === 'add-voter' ? { add: Number(idText) } : { remove: Number(idText) });
    process.stdout.write(json ? `${JSON.stringify(group)}\n` : `metadata voters [${group.voters.join(',')}], learners [${group.learners.join(',')}]\n`);
    return 0;
  }
  if (action === 'rebalance') return await rebalance(admin, boolFlag(parsed, 'dry-run'), wait, timeoutMs, json);
  const [cluster, moves] = await Promise.all([admin.describeCluster(), admin.listReassignments()]);
  if (json) {
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

async function decommission(admin: Admin, brokerId: number, wait: boolean, timeoutMs: number | undefined, json: boolean): Promise<number> {
  const { replicas } = await admin.decommissionBroker(brokerId);
  process.stderr.write(`broker ${brokerId}: decommissioning, ${replicas} replicas to move off\n`);
  if (!wait) return 0;
  const gone = await waitFor(timeoutMs, async () => {
    const [cluster, moves] = await Promise.all([admin.describeCluster(), admin.listReassignments()]);
    const state = cluster.brokers.find((b) => b.id === brokerId)?.state;
    if (state === 'gone') return true;
    if (state === 'active') throw new Error(`broker ${brokerId} was recommissioned`);
    const voter = cluster.controllerGroup?.voters.includes(brokerId) === true;
    const going = moves.moves.filter((m) => m.original.includes(brokerId) || m.target.includes(brokerId));
    for (const m of going) process.stderr.write(`  ${progressLine(m)}\n`);
    if (going.length === 0 && voter) process.stderr.write(`  broker ${brokerId} holds no replicas; it stays until it is no longer a metadata voter\n`);
    return false;
  });
  if (!gone) {
    process.stderr.write(`skein cluster decommission: stopped waiting; the decommission carries on (watch it: skein cluster describe)\n`);
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify({ brokerId, state: 'gone' })}\n` : `broker ${brokerId} is decommissioned and gone; it can be stopped\n`);
  return 0;
}

async function rebalance(admin: Admin, dryRun: boolean, wait: boolean, timeoutMs: number | undefined, json: boolean): Promise<number> {
  const plan = await admin.rebalance({ dryRun });
  const text = `${plan.moves.length} partitions change: ${plan.replicaMoves} replicas move, ${plan.leaderChanges} preferred leaders change${dryRun ? ' (dry run: nothing moved)' : ''}`;
  const lines = plan.moves.map((m) => `  ${m.topic}/${m.partition} [${m.replicas.join(',')}] → [${m.target.join(',')}]`);
  if (dryRun || !wait || plan.moveIds.length === 0) {
    process.stdout.write(json ? `${JSON.stringify(plan)}\n` : `${text}\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`);
    return 0;
  }
  process.stderr.write(`${text}\n`);
  const watch = admin.watchMoves(plan.moveIds);
  const finished = await waitFor(timeoutMs, async () => {
    const next = await watch.next();
    if (next.done === true) return next.value;
    for (const m of next.value) process.stderr.write(`  ${progressLine(m)}\n`);
    return false;
  });
  if (finished === false) {
    process.stderr.write(`skein cluster rebalance: stopped waiting; the moves carry on (watch them: skein topic reassignments)\n`);
    return 1;
  }
  const failed = finished.filter((f) => f.outcome !== 'done');
  process.stdout.write(json ? `${JSON.stringify({ ...plan, finished })}\n` : `rebalanced: ${finished.length - failed.length} moves done${failed.length > 0 ? `, ${failed.length} not (${failed.map((f) => `${f.topic}/${f.partition} ${f.outcome}`).join(', ')})` : ''}\n`);
  return failed.length === 0 ? 0 : 1;
}

/** Polls `probe` about once a second until it returns a value, or false once Ctrl-C or the timeout ends the wait. */
async function waitFor<T>(timeoutMs: number | undefined, probe: () => Promise<T | false>): Promise<T | false> {
  const stop = interrupted();
  const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
  try {
    while (!stop.signal.aborted && performance.now() < deadline) {
      const value = await probe();
      if (value !== false) return value;
      await new Promise((r) => setTimeout(r, clusterLimits.moveProgressEveryMs));
    }
    return false;
  } finally {
    stop.dispose();
  }
}
