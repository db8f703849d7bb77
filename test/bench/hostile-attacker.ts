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
