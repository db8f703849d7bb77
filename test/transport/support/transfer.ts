import type { EndpointCoreOptions } from '../../../transport/core/endpoint-settings.js';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import { Prng } from '../../../transport/core/prng.js';
import type { SkeinError } from '../../../transport/errors.js';
import { createLossModel, type LinkLossModel, type LossSpec } from '../../../transport/loss/index.js';
import { SimNetwork, type SimNode } from './sim.js';

/** Deterministic message bodies: `count` bytes drawn from `prng`. */
export function randomMessage(prng: Prng, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const words = bytes >>> 2;
  const view = new Uint32Array(out.buffer, 0, words);
  for (let i = 0; i < words; i++) view[i] = prng.nextUint32();
  for (let i = words * 4; i < bytes; i++) out[i] = prng.nextUint32() & 0xff;
  return out;
}

/** Sends a list of messages on one connection, as fast as its send buffer allows. */
export class MessagePump {
  next = 0;
  error: SkeinError | null = null;

  constructor(
    readonly messages: readonly Uint8Array[],
    public connection: ConnectionCore | null = null,
  ) {}

  pump(): void {
    const connection = this.connection;
    if (connection === null || this.error !== null) return;
    while (this.next < this.messages.length) {
      try {
        if (connection.send(this.messages[this.next]!) === 'full') return;
      } catch (error) {
        this.error = error as SkeinError;
        return;
      }
      this.next++;
    }
  }

  get done(): boolean {
    return this.next === this.messages.length;
  }
}

export interface TransferScenario {
  seed: number;
  /** Sizes of messages client → server, and server → client. */
  forward: readonly number[];
  backward?: readonly number[];
  /** Fault spec applied to datagrams each node sends (so each path sees it once). */
  loss?: LossSpec | null;
  latencyMs?: number;
  clientOptions?: EndpointCoreOptions;
  serverOptions?: EndpointCoreOptions;
  /** Full partitions between the two nodes that heal: [startMs, durationMs]. */
  blackholes?: readonly (readonly [number, number])[];
  /** The client closes gracefully as soon as everything is queued (data still in flight). */
  closeWhenQueued?: boolean;
  timeLimitMs?: number;
}

export interface TransferOutcome {
  /** Why the transfer is wrong, or null when every message arrived exactly once, in order, byte-identical. */
  failure: string | null;
  network: SimNetwork;
  client: SimNode;
  server: SimNode;
  clientConnection: ConnectionCore;
  serverConnection: ConnectionCore | null;
  clientClose: { error: SkeinError | undefined } | null;
  serverClose: { error: SkeinError | undefined } | null;
}

function compare(label: string, sent: readonly Uint8Array[], got: readonly Uint8Array[]): string | null {
  if (got.length !== sent.length) return `${label}: ${got.length} of ${sent.length} messages delivered`;
  for (let i = 0; i < sent.length; i++) {
    const a = sent[i]!;
    const b = got[i]!;
    if (a.length !== b.length || !Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) {
      return `${label}: message ${i} differs (sent ${a.length} B, got ${b.length} B)`;
    }
  }
  return null;
}

/** Runs a two-node transfer on the simulated network and checks exactly-once, in-order, byte-identical delivery. */
export function runTransfer(scenario: TransferScenario): TransferOutcome {
  const prng = new Prng(scenario.seed);
  const network = new SimNetwork({ seed: prng.nextUint32(), latencyMs: scenario.latencyMs ?? 1 });
  const lossFor = (salt: number): LinkLossModel | null =>
    scenario.loss ? createLossModel({ ...scenario.loss, side: 'send', seed: (scenario.seed * 31 + salt) >>> 0 }) : null;
  const clientLoss = lossFor(1);
  const serverLoss = lossFor(2);
  const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, ...scenario.serverOptions }, loss: serverLoss });
  const client = network.add({ host: '10.0.0.2', port: 5000, options: scenario.clientOptions, loss: clientLoss });
  const forward = scenario.forward.map((bytes) => randomMessage(prng, bytes));
  const backward = (scenario.backward ?? []).map((bytes) => randomMessage(prng, bytes));
  const gotForward: Uint8Array[] = [];
  const gotBackward: Uint8Array[] = [];
  const forwardPump = new MessagePump(forward);
  const backwardPump = new MessagePump(backward);
  let serverConnection: ConnectionCore | null = null;
  let clientClose: { error: SkeinError | undefined } | null = null;
  let serverClose: { error: SkeinError | undefined } | null = null;
  let closeRequested = false;

  const maybeClose = (): void => {
    if (scenario.closeWhenQueued && !closeRequested && forwardPump.done && forwardPump.connection !== null) {
      closeRequested = true;
      forwardPump.connection.close(network.nowMs);
    }
  };
  server.handlers = {
    onAccepted: (connection) => {
      serverConnection = connection;
      backwardPump.connection = connection;
      backwardPump.pump();
    },
    onMessage: (_c, message) => gotForward.push(message),
    onWritable: () => backwardPump.pump(),
    onClosed: (_c, error) => {
      serverClose = { error };
    },
  };
  client.handlers = {
    onConnected: (connection) => {
      forwardPump.connection = connection;
      forwardPump.pump();
      maybeClose();
    },
    onMessage: (_c, message) => gotBackward.push(message),
    onWritable: () => {
      forwardPump.pump();
      maybeClose();
    },
    onClosed: (_c, error) => {
      clientClose = { error };
    },
  };
  for (const [startMs, durationMs] of scenario.blackholes ?? []) {
    network.at(startMs, () => {
      clientLoss?.blackhole(server.address.key);
      serverLoss?.blackhole(client.address.key);
    });
    network.at(startMs + durationMs, () => {
      clientLoss?.heal(server.address.key);
      serverLoss?.heal(client.address.key);
    });
  }
  const clientConnection = client.connect(server);
  const limitMs = scenario.timeLimitMs ?? 600_000;
  const delivered = (): boolean => gotForward.length === forward.length && gotBackward.length === backward.length;
  const finished = (): boolean => (scenario.closeWhenQueued ? delivered() && clientClose !== null && serverClose !== null : delivered());
  network.runUntil(() => finished() || clientClose !== null || forwardPump.error !== null || backwardPump.error !== null, limitMs);
  if (scenario.closeWhenQueued && delivered()) network.runUntil(finished, limitMs);

  let failure =
    compare('client → server', forward, gotForward) ??
    compare('server → client', backward, gotBackward) ??
    (forwardPump.error ? `client send failed: ${forwardPump.error.message}` : null) ??
    (backwardPump.error ? `server send failed: ${backwardPump.error.message}` : null);
  if (failure === null && !scenario.closeWhenQueued && clientClose !== null) {
    failure = `the connection closed: ${(clientClose as { error: SkeinError | undefined }).error?.message ?? 'cleanly'}`;
  }
  if (failure === null && scenario.closeWhenQueued) {
    const c = clientClose as { error: SkeinError | undefined } | null;
    const s = serverClose as { error: SkeinError | undefined } | null;
    if (c === null || s === null) failure = 'the graceful close did not finish';
    else if (c.error !== undefined || s.error !== undefined) failure = `close was not clean: ${c.error?.message ?? ''} ${s.error?.message ?? ''}`;
  }
  return { failure, network, client, server, clientConnection, serverConnection, clientClose, serverClose };
}
