import { describe, expect, it } from 'vitest';
import { brokerConfig, hostPort, peerList } from '../../broker/config.js';
import { isSkeinError } from '../../transport/errors.js';
import { brokerLimits, clusterLimits, recordLimits, transportLimits } from '../../transport/limits.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isSkeinError(error, 'INVALID_CONFIG')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('brokerConfig', () => {
  it('fills defaults and parses the peer list', () => {
    const config = brokerConfig({ id: '2', listen: '0.0.0.0:9093', data: '/tmp/x', peers: '1@127.0.0.1:9092,2@127.0.0.1:9093' });
    expect(config.id).toBe(2);
    expect(config.advertise).toEqual({ host: '127.0.0.1', port: 9093 });
    expect(config.peers).toEqual([
      { id: 1, host: '127.0.0.1', port: 9092 },
      { id: 2, host: '127.0.0.1', port: 9093 },
    ]);
    expect(config.topicDefaults.flush).toEqual({ mode: 'always' });
    expect(config.leaderBalance).toBe(true);
    expect(config.peerSecret).toBeNull();
    expect(brokerConfig({ id: 1, data: '/d', peerSecret: 'sixteen-bytes-ok' }).peerSecret).toBe('sixteen-bytes-ok');
    expect(brokerConfig({ id: 1, data: '/d', leaderBalance: 'off' }).leaderBalance).toBe(false);
    expect(config.autoRebalance).toBe('off');
    expect(config.controllerVoters).toBe(3);
    expect(brokerConfig({ id: 1, data: '/d', controllerVoters: '5' }).controllerVoters).toBe(5);
    expect(brokerConfig({ id: 1, data: '/d', controllerVoters: 1 }).controllerVoters).toBe(1);
    expect(brokerConfig({ id: 1, data: '/d', autoRebalance: 'on-join' }).autoRebalance).toBe('on-join');
  });

  it('names the setting that is wrong', () => {
    expect(configError(() => brokerConfig({ id: 'x', data: '/d' }))).toMatch(/^id must be an integer/);
    expect(configError(() => brokerConfig({ id: 1 }))).toMatch(/data/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', peers: '2@h:1' }))).toMatch(/include this broker/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', peers: '1@h:1,1@h:2' }))).toMatch(/twice/);
    // At most a cluster's worth of founders (what a founder sends of its founding stays bounded).
    const founders = (n: number): string => Array.from({ length: n }, (_, i) => `${i + 1}@h:${i + 1}`).join(',');
    expect(brokerConfig({ id: 1, data: '/d', listen: 'h:1', peers: founders(clusterLimits.brokersMax) }).peers).toHaveLength(clusterLimits.brokersMax);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', peers: founders(clusterLimits.brokersMax + 1) }))).toMatch(/^peers names 65 brokers; a cluster has at most 64/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', bogus: 1 } as never))).toMatch(/unknown setting "bogus"/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', heartbeatTicks: 10, electionTicks: 10 }))).toMatch(/heartbeatTicks/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', topicDefaults: { flush: { mode: 'sometimes' } } }))).toMatch(/flush/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', leaderBalance: 'sometimes' }))).toMatch(/^leaderBalance must be true or false/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', autoRebalance: 'always' }))).toMatch(/^autoRebalance must be off or on-join/);
    for (const voters of [0, 2, 4, 7, '3x', 'three']) expect(configError(() => brokerConfig({ id: 1, data: '/d', controllerVoters: voters }))).toMatch(/^controllerVoters must be 1, 3 or 5/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', peerSecret: 'too-short' }))).toMatch(/^peerSecret must be a string of 16/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', peerSecret: 'é'.repeat(8) + 'x'.repeat(1009) }))).toMatch(/^peerSecret must be a string of 16 to 1024 bytes/);
    expect(brokerConfig({ id: 1, data: '/d', peerSecret: 'é'.repeat(8) + 'x'.repeat(1008) }).peerSecret).toHaveLength(1016);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', clusterId: 'c'.repeat(256) }))).toMatch(/^clusterId is longer than 255 bytes/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', listen: `${'h'.repeat(256)}:1` }))).toMatch(/longer than 255 bytes/);
    expect(brokerConfig({ id: 1, data: '/d', clusterId: 'c'.repeat(255), listen: `${'h'.repeat(255)}:1` }).clusterId).toHaveLength(255);
    expect(configError(() => hostPort('localhost', 'listen'))).toMatch(/host:port/);
    expect(configError(() => hostPort(':90', 'listen'))).toMatch(/no host/);
    expect(configError(() => hostPort('h:99999', 'listen'))).toMatch(/port/);
    expect(configError(() => peerList('h:1'))).toMatch(/id@host:port/);
  });

  it('refuses an advertised address that disagrees with the broker\'s own entry in peers', () => {
    // A wildcard bind advertises loopback by default, which the other brokers cannot dial.
    const wildcard = configError(() => brokerConfig({ id: 1, listen: '0.0.0.0:9092', data: '/d', peers: '1@10.0.0.1:9092,2@10.0.0.2:9092' }));
    expect(wildcard).toMatch(/advertises 127\.0\.0\.1:9092/);
    expect(wildcard).toMatch(/peers lists broker 1 at 10\.0\.0\.1:9092/);
    expect(wildcard).toMatch(/--advertise 10\.0\.0\.1:9092/);
    expect(configError(() => brokerConfig({ id: 2, listen: '10.0.0.2:9092', advertise: '10.0.0.2:9999', data: '/d', peers: '1@10.0.0.1:9092,2@10.0.0.2:9092' }))).toMatch(/advertises 10\.0\.0\.2:9999/);
    const agreed = brokerConfig({ id: 1, listen: '0.0.0.0:9092', advertise: '10.0.0.1:9092', data: '/d', peers: '1@10.0.0.1:9092,2@10.0.0.2:9092' });
    expect(agreed.advertise).toEqual({ host: '10.0.0.1', port: 9092 });
  });

  it('takes the client limits at their edges', () => {
    expect(brokerConfig({ id: 1, data: '/d' }).connectionsPerAddress).toBe(256);
    expect(brokerConfig({ id: 1, data: '/d', connectionsPerAddress: '4096' }).connectionsPerAddress).toBe(4096);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', connectionsPerAddress: 4097 }))).toMatch(/^connectionsPerAddress must be an integer between 1 and 4096/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', connectionsPerAddress: 0 }))).toMatch(/^connectionsPerAddress/);
    expect(brokerConfig({ id: 1, data: '/d' }).clientBufferBytes).toBe(256 * 1024 * 1024);
    // One largest batch with its envelope fits the smallest budget (a push waits for room for all of it).
    const min = brokerLimits.clientBufferBytesMin;
    expect(min).toBeGreaterThanOrEqual(recordLimits.batchBytesMax + transportLimits.rpcEnvelopeBytesMax);
    expect(brokerConfig({ id: 1, data: '/d', clientBufferBytes: min }).clientBufferBytes).toBe(min);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', clientBufferBytes: min - 1 }))).toMatch(new RegExp(`^clientBufferBytes must be an integer between ${min}`));
  });

  it('takes the client pace at its edges: 0 (not paced), or four datagrams of this broker up to the receive window', () => {
    expect(brokerConfig({ id: 1, data: '/d' }).clientPaceBytes).toBe(transportLimits.receivePaceBytesDefault);
    expect(brokerConfig({ id: 1, data: '/d', clientPaceBytes: '0' }).clientPaceBytes).toBe(0);
    expect(brokerConfig({ id: 1, data: '/d', clientPaceBytes: 4800 }).clientPaceBytes).toBe(4800);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', clientPaceBytes: 4799 }))).toMatch(/^clientPaceBytes must be 0 \(not paced\) or an integer between 4800/);
    // Four datagrams of the size this broker sends.
    expect(configError(() => brokerConfig({ id: 1, data: '/d', datagramBytes: 9000, clientPaceBytes: 4800 }))).toMatch(/between 36000/);
    const window = transportLimits.receiveWindowBytesDefault;
    expect(brokerConfig({ id: 1, data: '/d', clientPaceBytes: String(window) }).clientPaceBytes).toBe(window);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', clientPaceBytes: window + 1 }))).toMatch(/^clientPaceBytes/);
    expect(configError(() => brokerConfig({ id: 1, data: '/d', clientPaceBytes: '256KiB' }))).toMatch(/^clientPaceBytes/);
  });

  it('accepts IPv6 literals in brackets', () => {
    expect(hostPort('[::1]:9092', 'listen')).toEqual({ host: '::1', port: 9092 });
  });
});
