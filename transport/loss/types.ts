/**
 * A fault injector for datagrams, applied on send and/or on receive.
 * Implementations are seeded and deterministic: given the same seed and the
 * same sequence of calls they make the same decisions, so a lossy experiment
 * or a simulation can be replayed.
 */
export interface LossModel {
  /**
   * Decides the fate of one datagram of `bytes` bytes exchanged with `peer`
   * ("host:port") at time `nowMs`. Returns the delay in ms after which each
   * copy is delivered: [] drops it, [0] delivers it now unchanged, [0, 3]
   * delivers it and a duplicate 3 ms later. Delays larger than their
   * neighbours' reorder datagrams.
   */
  decide(nowMs: number, peer: string, bytes: number): readonly number[];
  /** Counters of what this model did; injected drops are never confused with socket-buffer drops. */
  readonly stats: LossStats;
}

export interface LossStats {
  datagrams: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  /** Dropped because the bandwidth cap's bounded queue was full. */
  queueDropped: number;
  /** Dropped because the peer is blackholed (a partition). */
  blackholed: number;
}
