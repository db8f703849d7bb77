import { withTimeout } from '../../transport/abort.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { type RetryPolicy, type Verdict, retryLoop } from '../../transport/retry.js';
import type { ControllerOperation } from './controller-service.js';

/** How the broker retries its own metadata commands (transport/retry.ts runs the loop). */
export const ownCommandRetryPolicy: RetryPolicy = {
  retriesMax: brokerLimits.controllerCommandRetriesMax,
  redirectsMax: 0,
  backoffMsMin: brokerLimits.controllerCommandBackoffMsMin,
  backoffMsMax: brokerLimits.controllerCommandBackoffMsMax,
};

export type MetadataCommandOf = Extract<ControllerOperation, { op: 'command' }>['command'];

export interface OwnCommandsOptions {
  brokerId: number;
  /** Runs a metadata operation on the controller (here or forwarded). */
  run: (operation: ControllerOperation, signal: AbortSignal) => Promise<unknown>;
  /** Aborts when the broker stops: every retry ends at once. */
  lifetime: AbortSignal;
  counters: { controllerCommandFailures: number; controllerCommandsAbandoned: number };
}

/**
 * The metadata commands a broker sends on its own behalf (registering
 * itself, reporting a leadership it won): nobody else sends them, so they
 * are retried until done, whatever the failure; each failure is counted,
 * and a command given up is counted and said once.
 */
export class OwnCommands {
  constructor(private readonly options: OwnCommandsOptions) {}

  /** Runs `attempt` until it is done, the policy's retries run out or the broker stops. */
  async retried(what: string, policy: RetryPolicy, attempt: (attemptNumber: number) => Promise<void>): Promise<void> {
    const { counters, lifetime } = this.options;
    const onFailure = (): Verdict => {
      counters.controllerCommandFailures++;
      return 'retry';
    };
    try {
      // Without jitter: after a failover clients wait on the new leader's report, and a wait of up to twice the
      // backoff would be theirs; one broker's commands are few and not in step with other brokers' anyway.
      await retryLoop({ policy, signal: lifetime, onFailure, random: () => 0 }, attempt);
    } catch (error) {
      if (lifetime.aborted) return;
      counters.controllerCommandsAbandoned++;
      process.stderr.write(`skein broker ${this.options.brokerId}: gave up ${what} after ${policy.retriesMax} retries: ${(error as Error)?.message ?? String(error)}\n`);
    }
  }

  /** One command, given up after controllerCommandTimeoutMs or when the broker stops. */
  async run(command: MetadataCommandOf): Promise<void> {
    const bounded = withTimeout(this.options.lifetime, brokerLimits.controllerCommandTimeoutMs, () => new SkeinError('TIMEOUT', { message: 'the controller did not answer in time' }));
    try {
      await this.options.run({ op: 'command', command }, bounded.signal);
    } finally {
      bounded.dispose();
    }
  }
}
