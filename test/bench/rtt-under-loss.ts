/**
 * npm run bench:rtt-loss — how long a small request takes to be answered over
 * a skein connection on a lossy loopback link: the round trip a Raft vote or
 * a heartbeat and its answer needs. Election timeouts must stay well above
 * the tail of this distribution, or elections start while a healthy leader's
 * heartbeats are still being retransmitted.
 *
 * Two endpoints in this process, each applying the loss to what it sends
 * (`--side send`, the default: every datagram crosses one lossy link, as in
 * the whole-cluster simulation), or to what it sends and receives (`--side
 * both`, what SKEIN_LOSS=loss=P on every process does: a datagram crosses
 * two lossy models, 36% loss at P = 0.2). A 64 B request every `--every` ms
 * for `--seconds`, per loss rate. Prints percentiles per rate (CSV with
 * --csv), progress on stderr.
 *
 *   npm run bench:rtt-loss -- [--rates 0,0.1,0.2,0.3] [--side send|both] [--seconds 20] [--every 20] [--csv]
 */
import { parseArgs } from 'node:util';
import { Endpoint } from '../../transport/endpoint.js';
import { RpcChannel } from '../../transport/rpc/index.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '0,0.1,0.2,0.3' },
    seconds: { type: 'string', default: '20' },
    every: { type: 'string', default: '20' },
    side: { type: 'string', default: 'send' },
    csv: { type: 'boolean', default: false },
  },
});
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);
const everyMs = Number(values.every);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** At heavy loss a handshake can fail; what is measured here is the connection after it. */
async function connect(client: Endpoint, port: number): Promise<Awaited<ReturnType<Endpoint['connect']>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.connect({ host: '127.0.0.1', port });
    } catch (error) {
      if (attempt >= 5) throw error;
      process.stderr.write(`[bench:rtt-loss] handshake failed (${String(error)}), again\n`);
    }
  }
}

async function measure(loss: number, seed: number): Promise<number[]> {
  const spec = `loss=${loss},side=${values.side},seed=${seed}`;
  const server = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true, loss: spec });
  server.onConnection((connection) => void new RpcChannel(connection, { handler: () => ({ ok: true }) }));
  const client = await Endpoint.open({ host: '127.0.0.1', loss: spec });
  const rpc = new RpcChannel(await connect(client, server.address.port));
  const rtts: number[] = [];
  const pending: Promise<void>[] = [];
  const endAt = performance.now() + seconds * 1000;
  const payload = new Uint8Array(64);
  try {
    while (performance.now() < endAt) {
      const started = performance.now();
      pending.push(rpc.request('echo', payload, { timeoutMs: 30_000 }).then(() => void rtts.push(performance.now() - started)));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    await Promise.all(pending);
  } finally {
    await rpc.close();
    await client.close();
    await server.close();
  }
  return rtts.sort((a, b) => a - b);
}

const rows: string[] = [];
const header = ['loss', 'requests', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'];
for (const [i, loss] of rates.entries()) {
  process.stderr.write(`[bench:rtt-loss] ${(loss * 100).toFixed(0)}% loss for ${seconds} s...\n`);
  const rtts = await measure(loss, 100 + i);
  const cells = [`${(loss * 100).toFixed(0)}%`, rtts.length, ...[50, 90, 99, 99.9, 100].map((p) => percentile(rtts, p).toFixed(1))];
  rows.push(cells.join(values.csv ? ',' : '  '));
  process.stderr.write(`[bench:rtt-loss] ${header.map((h, k) => `${h} ${cells[k]}`).join(', ')}\n`);
}
console.log([header.join(values.csv ? ',' : '  '), ...rows].join('\n'));
