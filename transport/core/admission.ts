import { transportLimits } from '../limits.js';
import type { ConnectionCore } from './connection-core.js';

/** Who an incoming connection is, for the limits: its address, and whether it is a priority peer. */
export interface AdmissionLimits {
  /** Connections the endpoint serves at once. */
  connectionsMax: number;
  /** Accepted connections from one IP address at once (any port). */
  connectionsPerAddressMax: number;
}

export type AdmissionVerdict = { admit: true; evict: ConnectionCore[] } | { admit: false; reason: 'busy' };

/**
 * The incoming side of an endpoint's connection table: how many connections
 * each address holds, which of them have not yet confirmed their set-up
 * (half-open), and which a priority peer holds. Pure bookkeeping; the
 * endpoint asks it before accepting and tells it what came and went.
 *
 * One socket (address and port) may hold a handful of connections; a new one
 * beyond that replaces its oldest, since only that socket could have
 * answered the cookie and a client redials from the same socket after it gave
 * up on a connection the server still thinks alive. One address may hold
 * `connectionsPerAddressMax`; more are refused. Half-open set-ups are bounded
 * per address and in total, the oldest replaced first: a real client confirms
 * within a round trip, so whatever waits longest is the one not coming. A
 * share of the table is kept for priority peers (a broker's own cluster), so
 * clients can never take every slot.
 */
export class Admission {
  private readonly perAddress = new Map<string, number>();
  private readonly perSource = new Map<string, ConnectionCore[]>();
  private readonly pendingPerAddress = new Map<string, ConnectionCore[]>();
  /** Every half-open connection, oldest first. */
  private readonly pending = new Set<ConnectionCore>();

  constructor(private readonly limits: AdmissionLimits) {}

  /** Slots kept for priority peers: ordinary clients fill the table up to connectionsMax less these. */
  get reservedForPriority(): number {
    return Math.min(transportLimits.connectionsReservedForPriority, Math.floor(this.limits.connectionsMax / 4));
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** What to do with a set-up from `host:port`, with `tableSize` connections (of every kind) open now. */
  decide(host: string, port: number, priority: boolean, tableSize: number): AdmissionVerdict {
    const evict: ConnectionCore[] = [];
    const fromSource = this.perSource.get(sourceKey(host, port));
    if (fromSource !== undefined && fromSource.length >= transportLimits.connectionsPerSourceMax) evict.push(fromSource[0]!);
    const pendingHere = this.pendingPerAddress.get(host);
    if (pendingHere !== undefined && pendingHere.length >= transportLimits.pendingConnectionsPerAddressMax && !evict.includes(pendingHere[0]!)) {
      evict.push(pendingHere[0]!);
    }
    if (this.pending.size >= transportLimits.pendingConnectionsMax) {
      const oldest = this.pending.values().next().value as ConnectionCore;
      if (!evict.includes(oldest)) evict.push(oldest);
    }
    const freed = evict.length;
    if (!priority) {
      const fromAddress = (this.perAddress.get(host) ?? 0) - evict.filter((c) => c.peer.host === host).length;
      if (fromAddress >= this.limits.connectionsPerAddressMax) return { admit: false, reason: 'busy' };
      if (tableSize - freed >= this.limits.connectionsMax - this.reservedForPriority) return { admit: false, reason: 'busy' };
    } else if (tableSize - freed >= this.limits.connectionsMax) {
      return { admit: false, reason: 'busy' };
    }
    return { admit: true, evict };
  }

  /** A server connection was created (half-open until `confirmed`). */
  added(connection: ConnectionCore): void {
    const { host, port } = connection.peer;
    this.perAddress.set(host, (this.perAddress.get(host) ?? 0) + 1);
    push(this.perSource, sourceKey(host, port), connection);
    push(this.pendingPerAddress, host, connection);
    this.pending.add(connection);
  }

  /** Its client confirmed the set-up. */
  confirmed(connection: ConnectionCore): void {
    if (!this.pending.delete(connection)) return;
    pull(this.pendingPerAddress, connection.peer.host, connection);
  }

  /** A server connection is gone. */
  removed(connection: ConnectionCore): void {
    const { host, port } = connection.peer;
    if (!pull(this.perSource, sourceKey(host, port), connection)) return;
    const count = (this.perAddress.get(host) ?? 1) - 1;
    if (count === 0) this.perAddress.delete(host);
    else this.perAddress.set(host, count);
    this.confirmed(connection);
  }

  /** Accepted connections from `host` now. */
  fromAddress(host: string): number {
    return this.perAddress.get(host) ?? 0;
  }
}

function sourceKey(host: string, port: number): string {
  return `${host}|${port}`;
}

function push(map: Map<string, ConnectionCore[]>, key: string, connection: ConnectionCore): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [connection]);
  else list.push(connection);
}

function pull(map: Map<string, ConnectionCore[]>, key: string, connection: ConnectionCore): boolean {
  const list = map.get(key);
  const index = list?.indexOf(connection) ?? -1;
  if (index < 0) return false;
  list!.splice(index, 1);
  if (list!.length === 0) map.delete(key);
  return true;
}
