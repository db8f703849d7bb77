import type { SkeinError } from './errors.js';

/**
 * A reliable, ordered, exactly-once pipe of whole messages. A transport
 * Connection is one; tests use in-memory pairs. The RPC layer and everything
 * above it depend only on this interface.
 */
export interface MessageChannel {
  /**
   * Queues one whole message (0 bytes up to the configured maximum). Resolves
   * once the message fits the bounded send buffer, which is how backpressure
   * reaches the caller; rejects with a SkeinError (MESSAGE_TOO_LARGE,
   * CONNECTION_CLOSED, PEER_DEAD, ...) and then nothing was queued.
   */
  send(message: Uint8Array, options?: { reservedBytes?: number }): Promise<void>;
  /**
   * Optional, for channels that bound what a peer may make them hold (a
   * transport Connection): reserves room for a message still being prepared,
   * up to `wantedBytes` (0: none now); the grant is passed to `send` as
   * `reservedBytes` or released.
   */
  reserveSendBytes?(wantedBytes: number): number;
  releaseSendBytes?(bytes: number): void;
  /** Runs `callback` once, when room may have grown (or the channel closed). */
  whenSendRoom?(callback: () => void): void;
  /**
   * Sets the one receiver of messages: in order, exactly once, byte-identical.
   * Messages that arrive before a handler is set wait for it (bounded by the
   * receiver's flow-control window, so this never grows without bound).
   */
  setMessageHandler(handler: (message: Uint8Array) => void): void;
  /** Registers a callback run once when the channel closes; `reason` is undefined for a clean close. */
  onClose(handler: (reason: SkeinError | undefined) => void): void;
  /** Closes gracefully: data already queued is delivered first (bounded by the close timeout). */
  close(): Promise<void>;
  readonly isOpen: boolean;
}
