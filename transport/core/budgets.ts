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
 * does not read (grants no credit) gets no more: the application stops
 * producing data for it instead of holding more. While another waits for
 * room the budget cannot give, the connection holding most beyond its fair
 * share (the budget split between those beyond their guarantee and the
 * waiters) that has had nothing acknowledged for sendStuckMsMin is closed: a
 * client that never reads never keeps others' room for long, one that reads
 * slowly keeps its own.
 *
 * Both take room back the same way (closeStuck): one connection at most per
 * budgetReliefEveryMs, with BACKPRESSURE, counted.
 */
export class ClientBudgets {
  private receiveHeld = 0;
  private sendHeld = 0;
  /** Connections waiting for the send budget to free room ('writable' follows). */
  private readonly sendWaiters = new Set<ConnectionCore>();
  /** When the stuck receiver may next be looked for. */
  private nextReliefMs = 0;
  /** When the send budget's waiters next need a stuck holder looked for (see sendReliefDueMs). */
  private nextSendReliefMs = 0;

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
    if (!this.isBudgeted(connection) || this.sendWaiters.has(connection)) return;
    // A new waiter may be one the budget starves: look at once (relieveSend then times the next look).
    this.nextSendReliefMs = -Infinity;
    this.sendWaiters.add(connection);
  }

  /** When relieveSend has work: Infinity while nobody waits for the send budget. */
  get sendReliefDueMs(): number {
    return this.sendWaiters.size === 0 ? Infinity : this.nextSendReliefMs;
  }

  /**
   * While a connection waits for room the send budget cannot give (its own
   * buffer has it), closes the holder most over its fair share with nothing
   * acknowledged for sendStuckMsMin; otherwise notes when one may qualify.
   */
  relieveSend(nowMs: number, all: Iterable<ConnectionCore>): void {
    if (this.sendWaiters.size === 0 || nowMs < this.nextSendReliefMs) return;
    this.nextSendReliefMs = nowMs + transportLimits.budgetReliefEveryMs;
    const starved = [...this.sendWaiters].filter((c) => !c.isTerminated && this.sendRoom(c) < c.sendBufferRoomBytes);
    if (starved.length === 0) {
      // They wait on their own buffers: nothing to take back until one of them waits again (wantSendRoom).
      this.nextSendReliefMs = Infinity;
      return;
    }
    const guaranteed = transportLimits.sendBytesGuaranteed;
    const holders = [...all].filter((c) => this.isBudgeted(c) && !c.isTerminated && c.sendHeld > guaranteed);
    const sharers = holders.length + starved.filter((c) => c.sendHeld <= guaranteed).length;
    const fairShareBytes = Math.max(guaranteed, Math.floor(this.settings.sendBytesMax / sharers));
    const onlyStarved = starved.length === 1 ? starved[0] : undefined;
    const { closed, nextDueMs } = this.closeStuck(nowMs, holders, {
      stuckMsMin: transportLimits.sendStuckMsMin,
      eligible: (c) => c !== onlyStarved && c.sendHeld > fairShareBytes,
      stuckSinceMs: (c) => c.sendStuckSinceMs,
      worse: (a, b) => a.sendHeld > b.sendHeld,
      error: (c, heldMs) => `held ${c.sendHeld} bytes queued for it, more than its share of ${fairShareBytes}, with none read for ${heldMs} ms while others waited for the endpoint's send budget`,
    });
    if (closed === null) this.nextSendReliefMs = Math.min(this.nextSendReliefMs, nextDueMs);
    else this.drops.sendBudgetClosed++;
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
    const { closed } = this.closeStuck(nowMs, all, {
      stuckMsMin: transportLimits.reassemblyStuckMsMin,
      eligible: (c) => c.receiveHeld > transportLimits.reassemblyBytesGuaranteed,
      stuckSinceMs: (c) => c.receiveStuckSinceMs,
      worse: (a, b) => a.receiveStuckSinceMs < b.receiveStuckSinceMs,
      error: (c, heldMs) => `held ${c.receiveHeld} bytes of unfinished messages for ${heldMs} ms while the endpoint's reassembly budget was full`,
    });
    if (closed !== null) this.drops.budgetClosed++;
  }

  /**
   * Closes the worst eligible client connection stuck for at least stuckMsMin with BACKPRESSURE; without
   * one, says when the first eligible one will have been stuck that long (Infinity: none).
   */
  private closeStuck(nowMs: number, all: Iterable<ConnectionCore>, rule: StuckRule): { closed: ConnectionCore | null; nextDueMs: number } {
    let victim: ConnectionCore | null = null;
    let nextDueMs = Infinity;
    for (const connection of all) {
      if (!this.isBudgeted(connection) || connection.isTerminated || !rule.eligible(connection)) continue;
      const dueMs = rule.stuckSinceMs(connection) + rule.stuckMsMin;
      if (nowMs < dueMs) {
        nextDueMs = Math.min(nextDueMs, dueMs);
        continue;
      }
      if (victim === null || rule.worse(connection, victim)) victim = connection;
    }
    if (victim === null) return { closed: null, nextDueMs };
    const heldMs = Math.round(nowMs - rule.stuckSinceMs(victim));
    victim.close(nowMs, new SkeinError('BACKPRESSURE', { message: rule.error(victim, heldMs) }));
    return { closed: victim, nextDueMs };
  }
}

/** What closeStuck takes back room by: who may be closed, since when each is stuck, and which is closed first. */
interface StuckRule {
  stuckMsMin: number;
  eligible(connection: ConnectionCore): boolean;
  stuckSinceMs(connection: ConnectionCore): number;
  /** Whether `a` is to be closed before `b`. */
  worse(a: ConnectionCore, b: ConnectionCore): boolean;
  error(connection: ConnectionCore, heldMs: number): string;
}
