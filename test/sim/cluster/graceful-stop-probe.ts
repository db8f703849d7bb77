import { defineTopic, serdes, Skein } from '../../../sdk/index.js';
import type { SimProcess } from './clock.js';
import { SimCluster } from './sim-cluster.js';

export interface GracefulStopProbe {
  /** Simulated ms the graceful stop took. */
  stopMs: number;
  /** Simulated ms from the end of the stop to the acknowledgement of a record sent then (Infinity: the other replica stayed down). */
  firstAckMs: number;
  /** The longest stretch, from the stop's start until that acknowledgement, with no record acknowledged. */
  longestStallMs: number;
}

const topic = defineTopic<Uint8Array, string>('probe', { value: serdes.bytes(), key: serdes.string() });

/**
 * One partition, three replicas, 10% loss and reordering on every link: one
 * follower is SIGKILLed, the other two commit `backlogBytes` without it, it
 * comes back far behind, and at once the broker in `stop` (the leader or the
 * follower that kept up) is stopped gracefully while a producer writes.
 * Without the caught-up replica the partition can commit nothing until the
 * restarted one has caught up; a graceful stop should not leave it so.
 * With `restartBehind: false` it stays down: then nothing is worth waiting for.
 */
export async function probeGracefulStop(options: { seed: number; stop: 'leader' | 'follower'; backlogBytes: number; restartBehind?: boolean }): Promise<GracefulStopProbe> {
  const sim = new SimCluster({ seed: options.seed });
  const { clock, network } = sim;
  const clientProcess: SimProcess = { name: 'client', dead: false };
  const asClient = <T>(fn: () => T): T => clock.runAs(clientProcess, fn);
  let client: Skein | undefined;
  try {
    await sim.start();
    client = asClient(() => new Skein({ brokers: sim.bootstrap, clientId: 'graceful-stop-probe' }));
    const admin = client.admin();
    await clock.settle(asClient(() => admin.createTopic({ name: 'probe', partitions: 1, replicationFactor: 3 })), 30_000, 'create topic');
    const producer = asClient(() => client!.producer({ acks: 'all' }));
    const send = (bytes: number): Promise<unknown> => asClient(() => producer.send({ topic, messages: [{ key: 'k', value: new Uint8Array(bytes) }] }));
    await clock.settle(send(10), 30_000, 'first record');
    network.conditions = { loss: 0.1, duplicate: 0, minDelayMs: 0.05, maxDelayMs: 8 };
    const leader = sim.ids.find((id) => sim.replicasOf(id, 'probe').get(0)?.isLeader() === true)!;
    const [keptUp, behind] = sim.ids.filter((id) => id !== leader) as [number, number];
    sim.kill(behind);
    const recordBytes = 16 * 1024;
    await clock.settle(Promise.all(Array.from({ length: Math.ceil(options.backlogBytes / recordBytes) }, () => send(recordBytes))), 120_000, 'backlog');
    if (options.restartBehind !== false) await sim.startBroker(behind);
    // Down for a while: its peers no longer count it alive (just killed, its links would still look up).
    else await clock.advance(3_000);
    // A writer that keeps going through the stop, its acknowledgements timed.
    let lastAckMs = clock.nowMs;
    let longestStallMs = 0;
    let writing = true;
    const acked = (): void => {
      longestStallMs = Math.max(longestStallMs, clock.nowMs - lastAckMs);
      lastAckMs = clock.nowMs;
    };
    const writer = asClient(async () => {
      while (writing) {
        await send(100).then(acked, () => {});
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    const stopStartMs = clock.nowMs;
    lastAckMs = stopStartMs;
    await sim.stop(options.stop === 'leader' ? leader : keptUp, { handover: true });
    const stopMs = clock.nowMs - stopStartMs;
    if (options.restartBehind === false) {
      // One replica of three is left: nothing commits, and the writer's send fails when the client closes.
      writing = false;
      return { stopMs: Math.round(stopMs), firstAckMs: Infinity, longestStallMs: Infinity };
    }
    const sentAtMs = clock.nowMs;
    await clock.settle(send(100), 60_000, 'record after the stop');
    const firstAckMs = clock.nowMs - sentAtMs;
    acked();
    writing = false;
    await clock.settle(writer, 60_000, 'writer');
    return { stopMs: Math.round(stopMs), firstAckMs: Math.round(firstAckMs), longestStallMs: Math.round(longestStallMs) };
  } finally {
    if (client !== undefined) await clock.settle(asClient(() => client!.close()), 30_000, 'client close').catch(() => {});
    sim.close();
  }
}
