/**
 * The attacker of `npm run bench:hostile`, in a process of its own: an
 * attack that takes CPU (packetising 100 messages of 16 MiB, thousands of
 * set-ups) must not slow the normal client the bench measures, or the
 * figures blame the broker for the attacker's own event loop.
 *
 *   node hostile-attacker.mjs <attack> <host> <port> <seconds>
 *
 * Prints one JSON line ({ note }) once the attack is under way, and stops it
 * when its stdin closes.
 */
import { transportLimits } from '../../transport/limits.js';
import {
  connectionFlood,
  halfOpenFlood,
  type ManualPeer,
  manyItemsMax,
  partialMessages,
  sendHugeFrames,
  type Target,
  unreadFetches,
  unreadPushes,
} from '../broker/support/hostile-clients.js';

const [name, host, port, secondsText] = process.argv.slice(2);
const seconds = Number(secondsText);

/** Each attack: starts it, returns what to say about it and how to stop it. */
type Attack = (target: Target) => Promise<{ note: string; stop: () => Promise<void> }>;

const peerStop = (peer: ManualPeer) => () => peer.close();
const attacks: Record<string, Attack> = {
  none: async () => ({ note: 'no attack (the baseline)', stop: async () => {} }),
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
  crowd: async (target) => {
    // Two addresses of 32 sockets of 8 connections each (the per-socket limit), every one of them sending all
    // but 64 KiB of a 2 MiB message; a third address's 32 sockets each with 8 fetches of 8 MiB never read.
    // Together several times both client budgets (256 MiB each by default).
    const messageBytes = 2 * 1024 * 1024;
    const sockets = 32;
    const perSocket = transportLimits.connectionsPerSourceMax;
    const peers = await Promise.all([
      ...['127.0.0.2', '127.0.0.3'].flatMap((host) =>
        Array.from({ length: sockets }, () => partialMessages(target, { connections: perSocket, messageBytes, sentBytes: messageBytes - 64 * 1024, host })),
      ),
      ...Array.from({ length: sockets }, () => unreadFetches(target, { topic: 'data', count: 8, maxBytes: 8 * 1024 * 1024, connections: 1, host: '127.0.0.4' })),
    ]);
    return {
      note: `${2 * sockets * perSocket} connections from ${2 * sockets} sockets on 2 addresses, all but 64 KiB of a 2 MiB message each; ${sockets} sockets on a third, 8 fetches of 8 MiB never read each`,
      stop: async () => {
        await Promise.all(peers.map((peer) => peer.close()));
      },
    };
  },
  pushes: async (target) => {
    const peer = await unreadPushes(target, { topic: 'data', count: 1024, creditBytes: 64 * 1024 * 1024 });
    return { note: '1024 push subscriptions never read', stop: peerStop(peer) };
  },
};


const attack = attacks[name!];
if (attack === undefined) {
  process.stderr.write(`unknown attack ${name}; known: ${Object.keys(attacks).join(', ')}\n`);
  process.exit(2);
}
const started = await attack({ host: host!, port: Number(port) });
process.stdout.write(`${JSON.stringify({ note: started.note })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void started
    .stop()
    .catch(() => {})
    .finally(() => process.exit(0));
});
