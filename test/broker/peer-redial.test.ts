import { describe, expect, it } from 'vitest';
import { PeerLinks } from '../../broker/cluster/peers.js';
import { Endpoint } from '../../transport/endpoint.js';
import { brokerLimits } from '../../transport/limits.js';
import { createLossModel } from '../../transport/loss/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('peer links after a silence', () => {
  it('a peer heard from again after a partition is redialled at once, not after the dial sent into the partition times out', async () => {
    const loss = createLossModel({});
    const endpoint = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss });
    const peer = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    // Before the partition the peer refused us a few times (as a broker still starting does): the backoff grew.
    const refusing = await Endpoint.open({ host: '127.0.0.1', acceptConnections: false, loss: null });
    let port = refusing.address.port;
    const peerKey = `127.0.0.1:${peer.address.port}`;
    const links = new PeerLinks({
      selfId: 1,
      endpoint,
      addressOf: (id) => (id === 9 ? { id: 9, host: '127.0.0.1', port } : undefined),
      handler: () => ({}),
      onNotify: () => {},
      secret: null,
      incarnation: 1,
    });
    try {
      let clockMs = performance.now();
      // Each of the two lanes (control and bulk) dials, and fails, on its own.
      const lanes = brokerLimits.peerConnectionsPerBroker;
      for (let failures = 1; failures <= 5; failures++) {
        links.heardFrom(9, (clockMs += 100_000));
        for (let i = 0; i < 200 && links.counters.dialFailures < failures * lanes; i++) await sleep(5);
      }
      expect(links.counters.dialFailures).toBe(5 * lanes);
      // The partition: the dial started now (its handshake timeout four times the grown backoff) has its INITs lost,
      // and their retransmissions spread out.
      port = peer.address.port;
      loss.blackhole(peerKey);
      links.heardFrom(9, (clockMs += 100_000));
      expect(links.counters.dials).toBe(6 * lanes);
      // Retransmitted INITs at 0.25, 0.75 and 1.75 s are lost; the next would leave 2 s later.
      await sleep(1_850);
      loss.heal(peerKey);
      // The partition heals and the peer speaks again after a silence as long as the one that restarts a dial.
      clockMs += brokerLimits.peerSilenceEndsDialMs;
      let up = false;
      for (let i = 0; i < 50 && !up; i++) {
        links.heardFrom(9, ++clockMs);
        await sleep(10);
        up = links.alive(clockMs, 1_000).has(9);
      }
      // Within half a second: the dial sent into the partition would have held the link down for two more.
      expect(up).toBe(true);
      expect(links.counters.dials).toBe(7 * lanes);
    } finally {
      await links.close();
      await endpoint.close();
      await peer.close();
      await refusing.close();
    }
  }, 15_000);
});
