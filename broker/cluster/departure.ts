import { withTimeout } from '../../transport/abort.js';
import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { clusterLimits } from '../../transport/limits.js';
import type { MetadataState } from './metadata-state.js';

/**
 * How a broker learns that the cluster decommissioned it for good (state
 * `gone`). Gone is final and committed: once the metadata says so, no
 * partition names the broker and none ever will (brokerGone is refused
 * while one does, and a gone id takes nothing again). So a broker that
 * learns it is gone deletes every replica it still holds, with no further
 * check, and refuses clients with BROKER_REMOVED, which sends them to
 * another broker.
 *
 * Its own copy of the metadata may never say so: the controller drops a
 * gone broker from the metadata group at once, so the entry (or the news
 * that it committed) may never reach it, and a broker that was down or
 * cut off throughout its decommission comes back with a copy that still
 * names it a replica. It then replays nothing new: its group has left it.
 * So it asks a peer, which answers from its own copy (a peer's "gone" is
 * as final as ours would be) over a link this broker already has: once at
 * start (a departureCheckEveryMs later when none is up yet), every departureCheckEveryMs
 * while its own copy says it is being decommissioned, and every
 * departureCheckIdleEveryMs otherwise.
 */
export interface DepartureOptions {
  brokerId: number;
  state: () => MetadataState;
  /** The brokers to ask, best first (the controller, then the others); repeats, nulls and this broker are passed over. */
  peers: () => Iterable<number | null>;
  /** Asks broker `to` for this broker's state in its copy of the metadata (the brokerState controller operation). */
  ask: (to: number, signal: AbortSignal) => Promise<unknown>;
  onGone: (reason: string) => void;
  /** Whether this broker's link to `id` is up: only those are asked, unless none has been up for a departureCheckEveryMs. */
  linked?: (id: number) => boolean;
}

export class Departure {
  /** Why this broker is gone, once it knows. */
  gone: string | null = null;
  /** Cancels the check's timer; null once closed. */
  private stopTimer: (() => void) | null = null;
  private asking = false;
  private nextAskAtMs = 0;
  private turn = 0;
  private failed = false;
  /** No link to any peer was up at the last tick. */
  private unlinkedTick = false;
  private readonly lifetime = new AbortController();

  constructor(private readonly options: DepartureOptions) {
    this.stopTimer = systemClock.every(clusterLimits.departureCheckEveryMs, () => void this.tick(), { keepAlive: false });
    void this.tick();
  }

  isGone(): boolean {
    return this.gone !== null;
  }

  /** Called on every metadata change: our own copy may say it. */
  metadataChanged(): void {
    if (this.options.state().lifecycle(this.options.brokerId)?.state === 'gone') this.leave('the metadata says it was decommissioned');
  }

  private async tick(): Promise<void> {
    this.metadataChanged();
    const now = systemClock.nowMs();
    if (this.gone !== null || this.asking || now < this.nextAskAtMs) return;
    const named = [...new Set(this.options.peers())].filter((id): id is number => id !== null && id !== this.options.brokerId);
    // Over links this broker has anyway: a check must not shape the peer links. Asked at start, a dial
    // to the first broker named came up before the metadata group's first election, which that broker
    // then won in one round, so its followers never campaigned and never dialled each other: a
    // three-broker cluster started with no link between its two followers. With no link up, the
    // check waits one departureCheckEveryMs for the broker's own traffic, then dials.
    const linked = named.filter((id) => this.options.linked?.(id) ?? true);
    const waited = this.unlinkedTick;
    this.unlinkedTick = linked.length === 0 && named.length > 0;
    if (this.unlinkedTick && !waited) return;
    const peers = linked.length > 0 ? linked : named;
    if (peers.length === 0) return;
    const leaving = this.options.state().lifecycle(this.options.brokerId)?.state === 'decommissioning';
    this.nextAskAtMs = now + (leaving ? clusterLimits.departureCheckEveryMs : clusterLimits.departureCheckIdleEveryMs) - clusterLimits.departureCheckEveryMs / 2;
    // The first broker (the controller, when known) while it answers: a link this broker has anyway, so
    // asking dials nothing; the others in turn after a failure.
    const to = this.failed ? peers[++this.turn % peers.length]! : peers[0]!;
    this.asking = true;
    const bounded = withTimeout(this.lifetime.signal, 2 * clusterLimits.departureCheckEveryMs, () => new SkeinError('TIMEOUT', { message: `broker ${to} did not answer` }));
    try {
      const answer = await this.options.ask(to, bounded.signal);
      this.failed = false;
      if (typeof answer === 'object' && answer !== null && (answer as { state?: unknown }).state === 'gone') this.leave(`broker ${to} says it was decommissioned`);
    } catch {
      // Unanswered: another peer is asked next time, sooner.
      this.failed = true;
      this.nextAskAtMs = 0;
    } finally {
      bounded.dispose();
      this.asking = false;
    }
  }

  private leave(reason: string): void {
    if (this.gone !== null || this.stopTimer === null) return;
    this.gone = reason;
    this.close();
    this.options.onGone(reason);
  }

  close(): void {
    this.stopTimer?.();
    this.stopTimer = null;
    this.lifetime.abort();
  }
}
