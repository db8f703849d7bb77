import { systemClock } from '../transport/clock.js';
import { SkeinError, isSkeinError } from '../transport/errors.js';
import { sdkLimits } from '../transport/limits.js';
import { abortable } from '../transport/abort.js';
import { hedged } from './hedge.js';
import { formatAddress, type BrokerAddress } from './address.js';
import { describeError } from './retry.js';

/** What happened at one bootstrap address (NO_BROKERS_REACHABLE's details list one per address). */
export interface BootstrapAttempt {
  address: string;
  code: string;
  message: string;
}

export interface FirstContactOptions {
  addresses: readonly BrokerAddress[];
  /** Dials and greets one broker, giving up after `timeoutMs` (the connection pool's get). */
  connect: (address: BrokerAddress, timeoutMs: number) => Promise<unknown>;
  timeoutMs: number;
}

/**
 * The client's first contact with the cluster. Until some broker has
 * answered, nothing says a cluster is there at all, and a wrong address or
 * a cluster that is not running would look like an election: retried in
 * silence until the delivery deadline. So until then every request first
 * waits for a contact that dials the bootstrap brokers and fails
 * with NO_BROKERS_REACHABLE, naming each address and what happened to it,
 * when none answers within the window; the next request tries again. Once
 * any broker has answered the client is in touch for good: a cluster that
 * later goes away (restarts, elections, a partition) is waited for with the
 * usual retries.
 */
export class FirstContact {
  /** Some broker has answered: from now on the cluster is waited for, never reported unreachable. */
  reached = false;
  private contact: Promise<void> | null = null;

  constructor(private readonly options: FirstContactOptions) {}

  /** Resolves once some broker has answered (at once after the first time); rejects with NO_BROKERS_REACHABLE, or the signal's reason. */
  ensure(signal?: AbortSignal): Promise<void> {
    if (this.reached) return Promise.resolve();
    if (this.contact === null) {
      const contact = this.attempt();
      this.contact = contact;
      const clear = (): void => {
        if (this.contact === contact) this.contact = null;
      };
      contact.then(clear, clear);
    }
    return abortable(this.contact, signal);
  }

  /**
   * Dials the bootstrap brokers in their order, the next one whenever a dial
   * fails or has gone unanswered for bootstrapHedgeMs, every dial ending at
   * the window's end: a live broker is found in one dial (no connection to
   * every address of a long list), a dead one costs a quarter second.
   */
  private attempt(): Promise<void> {
    const { addresses, timeoutMs } = this.options;
    const endMs = systemClock.nowMs() + timeoutMs;
    const outcomes: BootstrapAttempt[] = addresses.map((address) => ({ address: formatAddress(address), code: 'TIMEOUT', message: `not dialled: the ${timeoutMs} ms ran out first` }));
    // Whole milliseconds: the figure is said in messages. Read where a dial may start, and given to that dial.
    let leftMs = timeoutMs;
    return hedged({
      count: addresses.length,
      hedgeMs: sdkLimits.bootstrapHedgeMs,
      mayStart: () => (leftMs = Math.ceil(endMs - systemClock.nowMs())) > 0,
      attempt: (i) => {
        const waitedMs = leftMs;
        return this.options.connect(addresses[i]!, waitedMs).then(
          () => {
            this.reached = true;
          },
          (error: unknown) => {
            outcomes[i] = attemptOutcome(outcomes[i]!.address, error, waitedMs);
            throw error;
          },
        );
      },
      exhausted: () => noBrokersReachable(outcomes, timeoutMs),
    });
  }
}

function attemptOutcome(at: string, error: unknown, waitedMs: number): BootstrapAttempt {
  if (isSkeinError(error, 'TIMEOUT')) return { address: at, code: 'TIMEOUT', message: `no answer within ${waitedMs} ms` };
  if (isSkeinError(error)) return { address: at, code: error.code, message: error.message };
  return { address: at, code: 'INTERNAL', message: describeError(error) };
}

function noBrokersReachable(attempts: BootstrapAttempt[], timeoutMs: number): SkeinError {
  const named = attempts.slice(0, sdkLimits.bootstrapAddressesNamedMax).map((a) => `${a.address} (${a.code === 'TIMEOUT' ? a.message : `${a.code}: ${a.message}`})`);
  const more = attempts.length - named.length;
  const head = attempts.length === 1 ? 'the bootstrap broker did not answer' : `none of the ${attempts.length} bootstrap brokers answered`;
  const message = `${head}: ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}. Is the cluster running, and are these its addresses?`;
  return new SkeinError('NO_BROKERS_REACHABLE', { message, details: { brokers: attempts, timeoutMs } });
}
