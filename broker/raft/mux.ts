import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { raftLimits } from '../../transport/limits.js';
import { raftEnvelopeFromWire, raftEnvelopeToWire, type WireEnvelope } from './codec.js';
import type { NodeId, RaftMessage } from './core/types.js';

/**
 * How one group's driver reaches its peers. Unreliable by contract: a
 * message may be lost, duplicated, delayed or reordered, and Raft copes.
 * send() never throws for a dead or unknown peer; it drops.
 */
export interface RaftTransport {
  send(to: NodeId, message: RaftMessage): void;
  /** Registers the handler for this group's incoming messages; returns the unsubscribe. */
  onMessage(handler: (message: RaftMessage) => void): () => void;
}

const utf8 = new TextEncoder();

export interface RaftMuxCounters {
  received: number;
  sent: number;
  malformed: number;
  unknownGroup: number;
}

/**
 * Many groups over one broker-to-broker link: every message travels as a
 * wire envelope naming its group (see codec.ts). The cluster gives the mux a
 * function that ships a wire object to a broker and calls receiveWire() with
 * every wire object that arrives; the mux validates it, counts and drops
 * anything malformed or for a group it does not host, and routes the rest.
 */
export class RaftMux {
  readonly counters: RaftMuxCounters = { received: 0, sent: 0, malformed: 0, unknownGroup: 0 };
  private readonly handlers = new Map<string, { handler: (message: RaftMessage) => void; accept: ((message: RaftMessage) => boolean) | undefined }>();

  constructor(private readonly sendWire: (to: NodeId, wire: WireEnvelope) => void) {}

  /**
   * `accept` checks what only the group's storage understands (an entry's
   * payload, a snapshot's data): a message it refuses is counted as malformed
   * and dropped here, rather than failing the replica when it is written.
   */
  transport(group: string, accept?: (message: RaftMessage) => boolean): RaftTransport {
    if (group.length === 0 || utf8.encode(group).byteLength > raftLimits.groupIdBytesMax) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `a group id holds 1 to ${raftLimits.groupIdBytesMax} bytes` });
    }
    return {
      send: (to, message) => {
        this.counters.sent++;
        this.sendWire(to, raftEnvelopeToWire({ group, message }));
      },
      onMessage: (handler) => {
        if (this.handlers.has(group)) throw new Error(`raft mux: group ${group} already has a handler`);
        const entry = { handler, accept };
        this.handlers.set(group, entry);
        return () => {
          if (this.handlers.get(group) === entry) this.handlers.delete(group);
        };
      },
    };
  }

  /** One wire object from a peer broker; `fromPeer` is who the transport says sent it. */
  receiveWire(wire: unknown, fromPeer?: NodeId): void {
    let envelope;
    try {
      envelope = raftEnvelopeFromWire(wire);
    } catch (error) {
      if (!isSkeinError(error, 'MALFORMED_REQUEST')) throw error;
      this.counters.malformed++;
      return;
    }
    // A peer can only speak for itself: a message claiming another sender is forged.
    if (fromPeer !== undefined && envelope.message.from !== fromPeer) {
      this.counters.malformed++;
      return;
    }
    const route = this.handlers.get(envelope.group);
    if (route === undefined) {
      this.counters.unknownGroup++;
      return;
    }
    if (route.accept !== undefined && !route.accept(envelope.message)) {
      this.counters.malformed++;
      return;
    }
    this.counters.received++;
    route.handler(envelope.message);
  }
}
