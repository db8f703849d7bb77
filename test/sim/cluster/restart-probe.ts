import { Skein } from '../../../sdk/index.js';
import type { SimProcess } from './clock.js';
import { SimCluster } from './sim-cluster.js';

export interface RestartProbe {
  /** What brokers 1 and 2 counted as restarts of a peer. */
  restartsSeen: number[];
  /** Per partition, the leader broker 3 knows of, `ms` after its restart (0: none). */
  leadersKnownToRestarted: number[];
}

/**
 * Broker 3 is SIGKILLed and restarted on the same port; `ms` later, does it
 * hear from the partitions' leaders? The others' links still point at the
 * dead process's connection, which the new one ignores.
 */
export async function probeRestart(seed: number, ms: number, downMs = 1_000): Promise<RestartProbe> {
  const sim = new SimCluster({ seed });
  const { clock } = sim;
  const client: SimProcess = { name: 'client', dead: false };
  let skein: Skein | undefined;
  try {
    await sim.start();
    skein = clock.runAs(client, () => new Skein({ brokers: sim.bootstrap, clientId: 'probe', requestTimeoutMs: 1_000 }));
    const admin = skein.admin();
    await clock.settle(clock.runAs(client, () => admin.createTopic({ name: 'probe', partitions: 3, replicationFactor: 3 })), 30_000, 'create topic');
    await clock.advance(2_000);
    sim.kill(3);
    await clock.advance(downMs);
    await sim.startBroker(3);
    await clock.advance(ms);
    const replicas = sim.replicasOf(3, 'probe');
    return {
      restartsSeen: [1, 2].map((id) => sim.restartsSeenBy(id)),
      leadersKnownToRestarted: [0, 1, 2].map((p) => replicas.get(p)?.raft.status().leader ?? 0),
    };
  } finally {
    if (skein !== undefined) await clock.settle(clock.runAs(client, () => skein!.close()), 30_000, 'client close').catch(() => {});
    sim.close();
  }
}
