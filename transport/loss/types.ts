/**
 * A fault injector for datagrams, applied on send and/or on receive.
 * Implementations are seeded and deterministic: given the same seed and the
 * same sequence of calls they make the same decisions, so a lossy experiment
 * or a simulation can be replayed.
 *
 * How an endpoint (or a simulated network) uses it: call `decide` for EVERY
 * datagram it sends (direction 'send') and EVERY datagram it receives
 * (direction 'receive'), then hand each copy over after its delay. The model
 * itself knows which side its faults cover and returns [0] unchanged, without
 * counting, for the other one; calling it on both sides is what lets one-way
 * blackholes and `side=receive` work.
 */
export interface LossModel {
  /**
   * Decides the fate of one datagram of `bytes` bytes exchanged with `peer`
   * ("host:port") at time `nowMs`. Returns the delay in ms after which each
   * copy is delivered: [] drops it, [0] delivers it now unchanged, [0, 3]
   * delivers it and a duplicate 3 ms later. Delays larger than their
   * neighbours' reorder datagrams. `direction` defaults to 'send'.
   * The returned array may be shared and frozen: never mutate it.
   */
  decide(nowMs: number, peer: string, bytes: number, direction?: LossDirection): readonly number[];
  /** Counters of what this model did; injected drops are never confused with socket-buffer drops. */
  readonly stats: LossStats;
}

/** Which way a datagram travels, seen from the endpoint that owns the model. */
export type LossDirection = 'send' | 'receive';
/** Where faults apply: datagrams sent, datagrams received, or both. */
export type LossSide = LossDirection | 'both';

export interface LossStats {
  /** Datagrams decided on in a direction the model's side covers. */
  datagrams: number;
  /** Dropped by Bernoulli or Gilbert-Elliott loss. */
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  /** Dropped because the bandwidth cap's bounded queue was full. */
  queueDropped: number;
  /** Dropped because the peer is blackholed (a partition). */
  blackholed: number;
}
