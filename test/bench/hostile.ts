/**
 * npm run bench:hostile — the attacks of issue 11 at full size against a real
 * broker process, while a normal client produces one record every 20 ms
 * (acks 'all'). Per attack: the broker's resident memory before and at its
 * peak, the normal client's produce latency (p50/p99/max) and failures while
 * the attack runs, and whether the broker survived. Heavier than anything CI
 * runs (test/broker/hostile-*.test.ts run small versions of each attack).
 *
 *   npm run bench:hostile -- [--attacks frame,maps,flood,halfopen,partial,fetches,pushes] [--seconds 10] [--cli bundle.mjs]
 *
 * --cli runs another build of the broker (a bundle of broker/cli/main.ts), to
 * measure before and after a change in the same run of this script.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Skein } from '../../sdk/index.js';
import { transportLimits } from '../../transport/limits.js';
import { bundleForChild } from '../support/bundle.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import {
  connectionFlood,
  halfOpenFlood,
  type ManualPeer,
  manyItemsMax,
  NormalProducer,
  partialMessages,
  type ProduceFigures,
  sendHugeFrames,
  type Target,
  unreadFetches,
  unreadPushes,
} from '../broker/support/hostile-clients.js';

const { values } = parseArgs({
  options: {
    attacks: { type: 'string', default: 'frame,maps,flood,halfopen,partial,fetches,pushes' },
    seconds: { type: 'string', default: '10' },
    cli: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const cli = values.cli ?? (await bundleForChild('broker/cli/main.ts', 'cli-hostile'));

function progress(line: string): void {
  process.stderr.write(`[bench:hostile] ${line}\n`);
}

function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? NaN : Number(match[1]) / 1024;
  } catch {
    return NaN;
  }
}

interface Outcome {
  attack: string;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  produce: ProduceFigures;
  alive: boolean;
  note: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Each attack: starts it, returns what to say about it and how to stop it. */
type Attack = (target: Target) => Promise<{ note: string; stop: () => Promise<void> }>;

const peerStop = (peer: ManualPeer) => () => peer.close();
const attacks: Record<string, Attack> = {
  frame: async (target) => {
    await sendHugeFrames(target, { frames: 3, items: manyItemsMax(), kind: 'bytes' });
    return { note: `3 frames of ${manyItemsMax()} empty byte strings`, stop: async () => {} };
  },
  maps: async (target) => {
    await sendHugeFrames(target, { frames: 3, items: manyItemsMax(), kind: 'maps' });
    return { note: `3 frames of ${manyItemsMax()} empty maps`, stop: async () => {} };
  },
  flood: async (target) => {
    const { endpoint, opened, refused } = await connectionFlood(target, { connections: 4096 });
    return { note: `one socket: ${opened} connections opened, ${refused} refused`, stop: () => endpoint.close() };
  },
  halfopen: async (target) => {
    const { accepts, refuses } = await halfOpenFlood(target, { perSecond: 1000, seconds });
    return { note: `1000 half-open set-ups/s: ${accepts} accepted, ${refuses} refused`, stop: async () => {} };
  },
  partial: async (target) => {
    const messageBytes = transportLimits.messageBytesDefault;
    const peer = await partialMessages(target, { connections: 100, messageBytes, sentBytes: messageBytes - 64 * 1024 });
    return { note: '100 connections, each all but 64 KiB of a 16 MiB message', stop: peerStop(peer) };
  },
  fetches: async (target) => {
    const peer = await unreadFetches(target, { topic: 'data', count: 200, maxBytes: 8 * 1024 * 1024 });
    return { note: '200 fetches of 8 MiB never read', stop: peerStop(peer) };
  },
  pushes: async (target) => {
    const peer = await unreadPushes(target, { topic: 'data', count: 1024, creditBytes: 64 * 1024 * 1024 });
    return { note: '1024 push subscriptions never read', stop: peerStop(peer) };
  },
};

async function fillData(client: Skein): Promise<void> {
  const producer = client.producer({ acks: 'all', batchBytesMax: 1024 * 1024 });
  const value = Buffer.alloc(1000, 7);
  for (let i = 0; i < 10; i++) await producer.send({ topic: 'data', messages: Array.from({ length: 1000 }, () => ({ value })) });
  await producer.close();
}

async function runAttack(name: string): Promise<Outcome> {
  const cluster = new BrokerProcesses(cli, { size: 1, tickMs: 50 });
  await cluster.startAll();
  const pid = cluster.children.get(1)!.pid!;
  const target = { host: '127.0.0.1', port: cluster.ports[0]! };
  const admin = new Skein({ brokers: cluster.bootstrap, clientId: 'bench-admin' });
  let peakMiB = 0;
  const sampler = setInterval(() => (peakMiB = Math.max(peakMiB, rssMiB(pid) || 0)), 50);
  const normal = new NormalProducer(cluster.bootstrap, 'normal');
  try {
    await admin.admin().createTopic({ name: 'normal', partitions: 1, replicationFactor: 1 });
    await admin.admin().createTopic({ name: 'data', partitions: 1, replicationFactor: 1 });
    if (name === 'fetches' || name === 'pushes') await fillData(admin);
    normal.start();
    await sleep(3_000);
    const rssBeforeMiB = rssMiB(pid);
    peakMiB = rssBeforeMiB;
    normal.mark();
    progress(`${name}: attacking (broker at ${rssBeforeMiB.toFixed(0)} MiB)`);
    const attack = await Promise.race([attacks[name]!(target), sleep(120_000).then(() => ({ note: 'attack did not finish within 120 s', stop: async () => {} }))]);
    await sleep(seconds * 1000);
    const produce = normal.figures();
    const alive = cluster.children.get(1)?.exitCode === null;
    await attack.stop().catch(() => {});
    progress(`${name}: ${attack.note}; RSS ${rssBeforeMiB.toFixed(0)} -> ${peakMiB.toFixed(0)} MiB; produce p99 ${produce.p99Ms.toFixed(1)} ms, ${produce.failed} failed of ${produce.sent}; ${alive ? 'alive' : 'DEAD'}`);
    return { attack: name, rssBeforeMiB, rssPeakMiB: peakMiB, produce, alive, note: attack.note };
  } finally {
    clearInterval(sampler);
    await normal.stop().catch(() => undefined);
    await admin.close().catch(() => {});
    const log = cluster.logs.get(1) ?? [];
    const heapDeath = log.find((line) => line.includes('heap out of memory'));
    if (heapDeath !== undefined) progress(`${name}: ${heapDeath}`);
    await cluster.close();
  }
}

const outcomes: Outcome[] = [];
for (const name of values.attacks.split(',').filter((a) => a !== '')) {
  if (attacks[name] === undefined) throw new Error(`unknown attack ${name}; known: ${Object.keys(attacks).join(', ')}`);
  outcomes.push(await runAttack(name));
}
console.log('| attack | broker RSS before → peak | normal produce p50 / p99 / max | failed / sent | broker |');
console.log('|---|---|---|---|---|');
for (const o of outcomes) {
  const p = o.produce;
  console.log(`| ${o.attack}: ${o.note} | ${o.rssBeforeMiB.toFixed(0)} → ${o.rssPeakMiB.toFixed(0)} MiB | ${p.p50Ms.toFixed(1)} / ${p.p99Ms.toFixed(1)} / ${p.maxMs.toFixed(0)} ms | ${p.failed} / ${p.sent} | ${o.alive ? 'alive' : 'dead'} |`);
}
console.log(JSON.stringify(outcomes));
process.exit(0);
