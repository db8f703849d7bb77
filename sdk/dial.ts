import { isIP } from 'node:net';
import type { Endpoint, EndpointOptions } from '../transport/endpoint.js';
import { SkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { resolveLossModel } from '../transport/loss/index.js';
import type { LossModel } from '../transport/loss/types.js';
import type { Dialer } from './broker-connection.js';
import type { BrokerAddress } from './address.js';

/** Transport settings a client may tune (datagram size on loopback/LAN, congestion mode on lossy links, ...). */
export type TransportOptions = Pick<
  EndpointOptions,
  | 'datagramBytes'
  | 'congestion'
  | 'fixedWindowBytes'
  | 'idleTimeoutMs'
  | 'keepaliveMs'
  | 'deadPeerTimeoutMs'
  | 'sendBufferBytes'
  | 'receiveWindowBytes'
  | 'messageBytesMax'
>;

/**
 * The real network under a client: one UDP endpoint (opened on first use,
 * connecting out only) carrying a transport connection per broker, on a
 * lossy link when the options or SKEIN_LOSS ask for one.
 */
export function createDialer(options: { loss: LossModel | string | undefined; transport: TransportOptions; bootstrap: readonly BrokerAddress[] }): {
  dial: Dialer;
  close: () => Promise<void>;
} {
  // A spec string is parsed now, so a typo fails `new Skein()` with INVALID_CONFIG rather than the first connection.
  const loss = resolveLossModel(options.loss, 'new Skein(): loss');
  // An IPv6 bootstrap list needs a udp6 socket; anything else binds IPv4.
  const host = options.bootstrap.some((b) => isIP(b.host) === 6) ? '::' : '0.0.0.0';
  let endpoint: Promise<Endpoint> | null = null;
  let closed = false;
  const dial: Dialer = async (address, { signal, timeoutMs }) => {
    if (closed) throw new SkeinError('CLIENT_CLOSED', { message: 'the client is closed' });
    // Loaded on first use: a client that never dials (or dials in memory, in tests) never opens a socket.
    endpoint ??= import('../transport/endpoint.js').then(({ Endpoint: EndpointClass }) =>
      EndpointClass.open({
        deadPeerTimeoutMs: sdkLimits.brokerDeadPeerTimeoutMsDefault,
        ...options.transport,
        host,
        port: 0,
        acceptConnections: false,
        loss,
      }),
    );
    const opened = await endpoint;
    return opened.connect({ host: address.host, port: address.port }, { signal, timeoutMs });
  };
  const close = async (): Promise<void> => {
    closed = true;
    if (endpoint === null) return;
    const opened = await endpoint.catch(() => null);
    await opened?.close();
  };
  return { dial, close };
}
