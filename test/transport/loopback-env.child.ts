import { Endpoint } from '../../transport/endpoint.js';
import { SkeinError } from '../../transport/errors.js';
import { expectedMessage, MessageChecker } from './loopback-env.messages.js';

/**
 * A process put on a lossy link by SKEIN_LOSS alone: it opens an endpoint
 * WITHOUT any loss option, connects to the parent's endpoint, sends `count`
 * messages and checks the parent's `count` replies arrive exactly once, in
 * order, byte-identical. Prints one JSON line with what it saw.
 * argv: <port> <count> <seed>
 */
const [portText, countText, seedText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const seed = Number(seedText);

let endpoint: Endpoint;
try {
  endpoint = await Endpoint.open({ host: '127.0.0.1' });
} catch (error) {
  const e = error as SkeinError;
  process.stdout.write(`${JSON.stringify({ openError: { code: e.code, message: e.message } })}\n`);
  process.exit(3);
}
const connection = await endpoint.connect({ host: '127.0.0.1', port }, { timeoutMs: 20_000 });
const replies = new MessageChecker(seed + 1, count);
const allReplies = new Promise<void>((resolve) => {
  replies.onComplete = resolve;
});
connection.setMessageHandler((message) => replies.check(message));
for (let i = 0; i < count; i++) await connection.send(expectedMessage(seed, i));
const timeout = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ timedOut: true, received: replies.received, errors: replies.errors })}\n`);
  process.exit(4);
}, 60_000);
await allReplies;
clearTimeout(timeout);
await connection.close();
const connectionStats = connection.stats();
const stats = endpoint.stats();
await endpoint.close();
process.stdout.write(
  `${JSON.stringify({
    received: replies.received,
    errors: replies.errors,
    loss: stats.loss,
    injected: stats.drops.injected,
    bytesRetransmitted: connectionStats.bytesRetransmitted,
    packetsDuplicate: connectionStats.packetsDuplicate,
  })}\n`,
);
