import { SkeinError } from '../errors.js';
import { transportLimits } from '../limits.js';
import type { EndpointSettings } from './endpoint-settings.js';
import type { ConnectionCore } from './connection-core.js';
import type { EndpointDropCounters } from './stats.js';

/**
 * What clients' connections may make an endpoint hold, in two shared
 * budgets. Our own outgoing connections and priority peers (a broker's
 * cluster) are outside both; a client's connection is a server-side one.
 *
 * Reassembly: data a client sent that is not yet a whole message the
 * application took (partly received messages, pieces out of order). Each
 * connection may always hold reassemblyBytesGuaranteed (a normal request
 * fits); beyond, it takes room from the budget, and with none left its new
 * data is dropped unacknowledged and resent later (backpressure). A
 * connection that holds more than its guarantee and has completed nothing for
 * reassemblyStuckMsMin while others wait for room is closed: a message that
 * is never finished never pins memory for long.
 *
 * Sending: what the application queues to clients, unacknowledged, waiting
 * for room, or reserved for responses being prepared. Each may always hold
 * sendBytesGuaranteed; beyond, it needs room in the budget. A client that
 * does not read (grants no credit) keeps what it holds and gets no more: the
 * application stops producing data for it instead of holding more.
 */
export class ClientBudgets {
  private receiveHeld = 0;
  private sendHeld = 0;
  /** Connections waiting for the send budget to free room ('writable' follows). */
  private readonly sendWaiters = new Set<ConnectionCore>();
  /** When the stuck receiver may next be looked for. */
  private nextReliefMs = 0;

  constructor(
    private readonly settings: EndpointSettings,
    private readonly drops: EndpointDropCounters,
    private readonly writable: (connection: ConnectionCore) => void,
  ) {}

  get receiveHeldBytes(): number {
    return this.receiveHeld;
  }

  get sendHeldBytes(): number {
    return this.sendHeld;
  }

  isBudgeted(connection: ConnectionCore): boolean {
    return connection.role === 'server' && !connection.priority;
  }

  /** Whether the connection may take `bytes` more of its peer's data now (`all`: every connection, to pick one to close). */
  receiveRoom(connection: ConnectionCore, bytes: number, nowMs: number, all: Iterable<ConnectionCore>): boolean {
    if (!this.isBudgeted(connection)) return true;
    if (this.receiveHeld + bytes <= this.settings.reassemblyBytesMax) return true;
    if (connection.receiveHeld + bytes <= transportLimits.reassemblyBytesGuaranteed) return true;
    this.drops.receiveBudget++;
    if (nowMs >= this.nextReliefMs) {
      this.nextReliefMs = nowMs + transportLimits.budgetReliefEveryMs;
      this.closeStuckReceiver(nowMs, all);
    }
    return false;
  }

  receiveHeldChanged(connection: ConnectionCore, delta: number): void {
    if (this.isBudgeted(connection)) this.receiveHeld += delta;
  }

  /** Bytes the connection may add to what it holds for sending now (Infinity: outside the budget). */
  sendRoom(connection: ConnectionCore): number {
    if (!this.isBudgeted(connection)) return Infinity;
    return Math.max(0, this.settings.sendBytesMax - this.sendHeld, transportLimits.sendBytesGuaranteed - connection.sendHeld);
  }

  sendHeldChanged(connection: ConnectionCore, delta: number): void {
    if (!this.isBudgeted(connection)) return;
    this.sendHeld += delta;
    if (delta < 0 && this.sendWaiters.size > 0) this.wakeSendWaiters();
  }

  wantSendRoom(connection: ConnectionCore): void {
    if (this.isBudgeted(connection)) this.sendWaiters.add(connection);
  }

  /** The connection became a priority peer: what it holds (if still in the table) leaves the budgets. */
  promote(connection: ConnectionCore, tracked: boolean): void {
    if (!this.isBudgeted(connection)) return;
    if (tracked) {
      this.receiveHeld -= connection.receiveHeld;
      this.sendHeld -= connection.sendHeld;
    }
    connection.priority = true;
    this.sendWaiters.delete(connection);
    if (tracked && connection.sendHeld > 0 && this.sendWaiters.size > 0) this.wakeSendWaiters();
  }

  /** The connection left the table: what it still holds no longer counts. */
  forget(connection: ConnectionCore): void {
    if (this.isBudgeted(connection)) {
      this.receiveHeld -= connection.receiveHeld;
      this.sendHeld -= connection.sendHeld;
    }
    this.sendWaiters.delete(connection);
  }

  private wakeSendWaiters(): void {
    for (const connection of this.sendWaiters) {
      if (connection.writableWanted && !connection.isTerminated) {
        connection.writableWanted = false;
        this.writable(connection);
      }
    }
    this.sendWaiters.clear();
  }

  private closeStuckReceiver(nowMs: number, all: Iterable<ConnectionCore>): void {
    let victim: ConnectionCore | null = null;
    for (const connection of all) {
      if (!this.isBudgeted(connection) || connection.isTerminated || connection.receiveHeld <= transportLimits.reassemblyBytesGuaranteed) continue;
      if (nowMs - connection.receiveStuckSinceMs < transportLimits.reassemblyStuckMsMin) continue;
      if (victim === null || connection.receiveStuckSinceMs < victim.receiveStuckSinceMs) victim = connection;
    }
    if (victim === null) return;
    this.drops.budgetClosed++;
    const heldMs = Math.round(nowMs - victim.receiveStuckSinceMs);
    victim.close(
      nowMs,
      new SkeinError('BACKPRESSURE', { message: `held ${victim.receiveHeld} bytes of unfinished messages for ${heldMs} ms while the endpoint's reassembly budget was full` }),
    );
  }
}
